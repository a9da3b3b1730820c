"""mkdocs hook: the flags page (`flags.md`), generated from the server's settings declaration.

The server's own flags are the fields of `server.config.ServerSettings` (name, type, default,
help text), spelled as pydantic-settings' CLI source spells them; vLLM's engine flags are the
names in `server.config.ENGINE_ARGS`. Reading them here, at
build time, keeps the page from drifting from the code. Importing `server.config` does not
import vLLM, so the build stays fast. `render()` is also what tests/test_docs.py checks.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parents[2]
PAGE = "flags.md"
TYPE_WORDS = {str: "text", int: "integer", float: "number"}

INTRO = """\
# Flags

`python -m server` (also `interleaved-server`, and `scripts/serve.sh`, which passes its
arguments on) takes the flags below. Every flag can also be set as an environment variable
`INTERLEAVED_<FLAG>` (`--max-model-len` is `INTERLEAVED_MAX_MODEL_LEN`); a flag on the command
line wins over the variable, which wins over the default. Boolean variables take
1/true/yes/on or 0/false/no/off, and `null` leaves a setting unset (its default applies). A
bad value stops the server before it starts, with a message that names the flag or variable
(exit code 2 for a flag, 1 for a variable); a valid flag wins over a bad variable.

This page is generated from the settings declaration (`server/config.py`) when the site is
built; `python -m server --help` prints the same list with vLLM's own help for the engine flags.

## The server's own flags

| flag | environment variable | values | default | meaning |
|---|---|---|---|---|
"""

ENGINE_INTRO = """
## vLLM's engine flags

Passed to vLLM unchanged: their types, choices and help are vLLM's own
(`AsyncEngineArgs`), so `--max-model-len 8k` works as it does with `vllm serve`. A flag that is
not given is not passed, and vLLM's default applies, except for the KV cache on CPU: there,
without `--gpu-memory-utilization` or `--kv-cache-memory-bytes`, the cache gets 2 GiB, because
vLLM's default (a share of 0.92 of host RAM) fails to start on most hosts.

| flag | environment variable | note |
|---|---|---|
"""

OUTRO = """
On CPU, `--enforce-eager` starts the engine in about 25 s instead of about 85 s
(`torch.compile`) but decodes more slowly. Greedy output can differ between a prompt's first
and later runs while prefix caching is on (vLLM behaviour); `--no-enable-prefix-caching` turns
it off.
"""


def _config() -> Any:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import server.config

    return server.config


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _values(annotation: Any) -> str:
    """`int | None` -> `int`; `Literal['a', 'b']` -> `a`, `b`."""
    if get_origin(annotation) is Literal:
        return ", ".join(f"`{choice}`" for choice in get_args(annotation))
    kinds = [a for a in get_args(annotation) if a is not type(None)]
    if kinds:
        return _values(kinds[0])
    if annotation is bool:
        return "switch"
    return TYPE_WORDS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"`{value}`"


def own_flags() -> list[tuple[str, str, str, str, str]]:
    """(flags, variable, values, default, help) for each of the server's own settings."""
    config = _config()
    # The option strings as pydantic-settings' CLI source made them (a switch's --no- form too).
    options = {a.dest: a.option_strings for a in config.build_parser(engine=False)._actions}
    rows = []
    for name, info in config.own_fields().items():
        flags = " / ".join(f"`{option}`" for option in options[name])
        values = _values(info.annotation)
        rows.append(
            (flags, config.env_name(name), values, _default(info.default), info.description or "")
        )
    return rows


def engine_flags() -> list[tuple[str, str, str]]:
    """(flag, variable, our note) for each of vLLM's engine flags the server exposes."""
    config = _config()
    return [
        (config.flag_name(name), config.env_name(name), note)
        for name, note in config.ENGINE_ARGS.items()
    ]


def render() -> str:
    """The flags page as markdown."""
    lines = [INTRO.rstrip("\n")]
    for flags, variable, values, default, help_text in own_flags():
        lines.append(f"| {flags} | `{variable}` | {values} | {default} | {_cell(help_text)} |")
    lines.append(ENGINE_INTRO.rstrip("\n"))
    for flag, variable, note in engine_flags():
        lines.append(f"| `{flag}` | `{variable}` | {_cell(note)} |")
    lines.append(OUTRO)
    return "\n".join(lines)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    existing = files.get_file_from_path(PAGE)
    if existing is not None:
        files.remove(existing)
    files.append(File.generated(config, PAGE, content=render()))
    return files
