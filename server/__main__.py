"""`python -m server` (or `interleaved-server`): parse settings, build the app, serve it.

SIGTERM (or Ctrl-C) starts a graceful shutdown: the port closes, /health answers 503, running
streams get up to --shutdown-grace-seconds to finish, then the engine stops and the process
exits 0. Send the signal to this process only; vLLM's worker processes stop with it.

If the engine dies (its process killed, an error in its loop), requests get 503, running
streams end with an error chunk, and the process exits with EXIT_ENGINE_DEAD a moment later,
for a supervisor (systemd, Kubernetes) to restart it.

Exit codes are decided here only; library code raises `server.startup` exceptions instead:
0 clean shutdown; 1 a bad setting value (`ConfigError`: an environment variable, the
--enforce-format-regex expression) or a failure while serving; 2 a command-line problem
(`UsageError`, printed with the usage line, as argparse does); 3 the server never started
listening (the backend failed to start, e.g. a `StartupError`; the log says why);
EXIT_ENGINE_DEAD (4) the engine died.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

import uvicorn

from server.api import create_app
from server.backends.base import Backend
from server.config import PROG, Settings, parse_settings
from server.generation.prompting import check_regex
from server.http.connections import uvicorn_config
from server.startup import ConfigError, UsageError
from server.state import AppState

EXIT_BAD_VALUE = 1
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_STARTED = 3
EXIT_ENGINE_DEAD = 4


class _DrainingServer(uvicorn.Server):
    """Uvicorn's server, plus: a shutdown signal marks the app as draining for /health."""

    def __init__(self, config: uvicorn.Config, state: AppState) -> None:
        super().__init__(config)
        self._state = state

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._state.draining = True
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM:
            # Uvicorn re-raises captured signals after shutting down, so the process would die
            # of SIGTERM (exit -15); a drained SIGTERM is a clean shutdown and exits 0.
            self._captured_signals = [s for s in self._captured_signals if s != signal.SIGTERM]


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The access log is one JSON object per line, nothing around it, for log shippers.
    access = logging.getLogger("server.access")
    access.propagate = False
    access_handler = logging.StreamHandler(sys.stderr)
    access_handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(access_handler)
    access.setLevel(logging.INFO)


def make_backend(settings: Settings) -> Backend:
    if settings.upstream:
        from server.backends.upstream import UpstreamBackend

        return UpstreamBackend(settings)
    from server.backends.engine import EngineBackend

    return EngineBackend(settings)


def load_settings(argv: Sequence[str] | None = None) -> Settings:
    """The settings, checked; a `ConfigError` (or `UsageError`) says what is wrong."""
    settings = parse_settings(argv)
    if settings.enforce_format_regex:
        try:
            check_regex(settings.enforce_format_regex)
        except Exception as exc:
            raise ConfigError(f"--enforce-format-regex: not a valid expression: {exc}") from exc
    return settings


def main(argv: Sequence[str] | None = None) -> None:
    try:
        settings = load_settings(argv)
    except UsageError as exc:
        sys.stderr.write(exc.usage)
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        raise SystemExit(EXIT_USAGE) from None
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        raise SystemExit(EXIT_BAD_VALUE) from None
    configure_logging(settings.log_level)
    app = create_app(settings, make_backend(settings))
    state: AppState = app.state.server
    server = _DrainingServer(uvicorn_config(app, settings), state)

    def stop_serving() -> None:
        server.should_exit = True

    state.on_backend_dead = stop_serving
    try:
        server.run()
    except Exception as exc:  # e.g. the model could not be prepared
        logging.getLogger("server").error("%s: %s", type(exc).__name__, exc)
        raise SystemExit(EXIT_FAILED) from exc
    if not server.started:
        raise SystemExit(EXIT_NOT_STARTED)
    if state.engine_dead:
        logging.getLogger("server").error("exiting %d: the engine died", EXIT_ENGINE_DEAD)
        raise SystemExit(EXIT_ENGINE_DEAD)


if __name__ == "__main__":
    main()
