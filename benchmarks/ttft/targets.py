"""Target specifications on the command line: `--target` / `--compare` and `--extra-body`.

    NAME=BASE_URL[,model=MODEL][,api_key=KEY][,format=interleaved|r1|none][,classify=auto|ours|fields]
                 [,style=interleaved|think_answer]

- BASE_URL is the server's root (`http://127.0.0.1:8101`); a trailing `/v1` is accepted and
  dropped. `NAME=` may be left out for a single target (the name is then "target").
- A bare NAME (no URL) refers to a server started with `--launch NAME="..."`, whose URL comes
  from the command's `--host`/`--port`.
- model: the `model` field sent; without it, the first id of the server's `GET /v1/models`.
- format: how `parsing` reads `content` from servers that do not split segments themselves.
- classify: force how the stream is read (see `classify`); "auto" detects our server.
- style: the system instruction this target's model was trained with, in place of --style's.
  Comparing an interleaved model with a think-answer one sends both the same questions, each
  under its own instruction.

`--extra-body` takes JSON merged into every request body (`'{"enforce_format": true}'`), or
`NAME=JSON` for one target only.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.ttft.classify import MODES
from benchmarks.ttft.client import Target
from benchmarks.ttft.prompts import STYLES
from parsing import FORMATS

OPTION_KEYS = ("model", "api_key", "format", "classify", "style")


def parse_target(spec: str, api_key: str | None = None) -> Target:
    head, *options = [part.strip() for part in spec.split(",")]
    name, url = "target", head
    before, sep, after = head.partition("=")
    if sep and "://" not in before:
        name, url = before.strip(), after.strip()
    elif "://" not in head:
        name, url = head, ""  # a bare name: its URL comes from --launch
    if not name:
        raise ValueError(f"target {spec!r}: empty name")
    values: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in OPTION_KEYS:
            raise ValueError(f"target {spec!r}: options are {', '.join(OPTION_KEYS)} as key=value")
        values[key] = value
    if values.get("format", "interleaved") not in FORMATS:
        raise ValueError(f"target {spec!r}: format must be one of {sorted(FORMATS)}")
    if values.get("classify", "auto") not in MODES:
        raise ValueError(f"target {spec!r}: classify must be one of {MODES}")
    if values.get("style", "interleaved") not in STYLES:
        raise ValueError(f"target {spec!r}: style must be one of {sorted(STYLES)}")
    if url and not url.startswith(("http://", "https://")):
        raise ValueError(f"target {spec!r}: the URL must start with http:// or https://")
    return Target(
        name=name,
        base_url=normalize_url(url) if url else "",
        model=values.get("model") or None,
        api_key=values.get("api_key") or api_key,
        format=values.get("format", "interleaved"),
        classify=values.get("classify", "auto"),
        system=STYLES[values["style"]] if "style" in values else None,
    )


def normalize_url(url: str) -> str:
    return url.rstrip("/").removesuffix("/v1")


def parse_extra_body(specs: list[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(for every target, {name: for that target only})."""
    common: dict[str, Any] = {}
    per_target: dict[str, dict[str, Any]] = {}
    for spec in specs:
        name, text = "", spec.strip()
        if not text.startswith("{"):
            name, _, text = text.partition("=")
        try:
            body = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"--extra-body {spec!r}: not JSON ({e})") from None
        if not isinstance(body, dict):
            raise ValueError(f"--extra-body {spec!r}: must be a JSON object")
        (per_target.setdefault(name.strip(), {}) if name else common).update(body)
    return common, per_target
