"""Why the server could not start, as exceptions; `server.__main__` turns them into exit codes.

Library code (settings, backends) raises these and never exits the process itself:

- `UsageError`: a flag is malformed, unknown or contradicts another. `__main__` prints the usage
  line and the message, as argparse does, and exits 2.
- `ConfigError`: a setting has a bad value outside the command line (an `INTERLEAVED_*`
  environment variable, an expression that does not compile). `__main__` prints the message and
  exits 1.
- `StartupError`: the backend cannot start as configured (an adapter folder that is not one, an
  upstream that serves no models). Raised while the app starts, so the server never listens:
  the message is logged and the process exits 3.
"""

from __future__ import annotations


class StartupError(Exception):
    """The backend cannot start as configured; the message says what to change."""


class ConfigError(StartupError):
    """A setting has a bad value; the message names the setting (flag or variable)."""


class UsageError(ConfigError):
    """A command-line problem; `usage` is the parser's usage line, printed before the message."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage
