"""The docs site covers the server: every flag, every HTTP endpoint, every metric is documented,
and the server command lines on its pages use only flags that exist.

The flags page is generated at build time from the settings declaration (docs/hooks/flags.py);
the other pages are written by hand, so these checks are what keeps them from drifting. The
build itself (`mkdocs build --strict`: broken links, missing images and anchors) runs in
scripts/test.sh.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from fakes import FakeBackend
from prometheus_client import Counter
from prometheus_client.metrics import MetricWrapperBase

from server import metrics
from server.api import create_app
from server.config import ENGINE_ARGS, build_parser, flag_name, parse_settings

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"


def _flags_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_flags_hook", DOCS / "hooks" / "flags.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FLAGS_PAGE = _flags_hook().render()
PAGES = {path.name: path.read_text() for path in sorted(DOCS.glob("*.md"))}
SITE = "\n".join([*PAGES.values(), FLAGS_PAGE])


def _nav_pages(nav: list) -> list[str]:
    pages: list[str] = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def _server_options() -> list[str]:
    """Every option string of the server's own command line (without vLLM's)."""
    parser = build_parser(engine=False)
    return [
        option
        for action in parser._actions
        for option in action.option_strings
        if option not in ("-h", "--help")
    ]


def test_the_flags_page_is_in_the_nav() -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    assert "flags.md" in _nav_pages(config["nav"])
    assert "flags.md" not in PAGES  # generated only: no hand-written copy to drift


@pytest.mark.parametrize("option", _server_options())
def test_every_flag_of_the_server_is_on_the_flags_page(option: str) -> None:
    assert f"`{option}`" in FLAGS_PAGE


@pytest.mark.parametrize("name", list(ENGINE_ARGS))
def test_every_engine_flag_is_on_the_flags_page(name: str) -> None:
    assert f"`{flag_name(name)}`" in FLAGS_PAGE


def _endpoints() -> list[str]:
    """`METHOD /path` of every route the app answers (with --docs, so the docs routes too)."""
    app = create_app(parse_settings(["--docs"]), FakeBackend())  # type: ignore[arg-type]
    found = []
    for route in app.routes:
        path = getattr(route, "path", "") or "/"  # the static page is mounted at ""
        methods = getattr(route, "methods", None) or {"GET"}
        found += [f"{method} {path}" for method in sorted(methods) if method != "HEAD"]
    return found


@pytest.mark.parametrize("endpoint", _endpoints())
def test_every_endpoint_is_documented(endpoint: str) -> None:
    # The endpoint as written in the docs, not followed by more of a path.
    assert re.search(re.escape(endpoint) + r"(?![\w/.-])", SITE), endpoint


def _metric_names() -> list[str]:
    names = []
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        for family in value.describe():
            if family.name.startswith("interleaved_"):
                suffix = "_total" if isinstance(value, Counter) else ""
                names.append(family.name + suffix)
    return sorted(set(names))


@pytest.mark.parametrize("name", _metric_names())
def test_every_metric_is_documented(name: str) -> None:
    assert re.search(re.escape(name) + r"(?!\w)", SITE), name


def test_the_metrics_were_found() -> None:
    assert "interleaved_requests_total" in _metric_names()
    assert "interleaved_time_to_first_answer_seconds" in _metric_names()


def _shell_blocks(text: str) -> list[str]:
    """The contents of the ```bash (or unlabelled) code blocks of a markdown page."""
    blocks, current, fence = [], [], None
    for line in text.splitlines():
        if fence is None and line.startswith("```"):
            fence = line[3:].strip()
            current = []
        elif fence is not None and line.startswith("```"):
            if fence in ("", "bash", "sh"):
                blocks.append("\n".join(current))
            fence = None
        elif fence is not None:
            current.append(line)
    return blocks


def _server_command_flags() -> list[tuple[str, str]]:
    """(page, flag) for each flag of each `python -m server` command line in a shell block."""
    found = []
    for page, text in PAGES.items():
        for block in _shell_blocks(text):
            for line in block.replace("\\\n", " ").splitlines():
                for command in re.findall(r"python -m server((?:\s+[^\s\"'|;&]+)*)", line):
                    for word in shlex.split(command):
                        if word.startswith("--"):
                            found.append((page, word.split("=", 1)[0]))
    return found


def test_server_command_lines_in_the_docs_use_existing_flags() -> None:
    known = set(_server_options()) | {flag_name(n) for n in ENGINE_ARGS}
    known |= {"--no-" + flag_name(n)[2:] for n in ENGINE_ARGS}
    used = _server_command_flags()
    assert len(used) > 20  # the pattern finds the command lines
    unknown = sorted({(page, flag) for page, flag in used if flag not in known})
    assert unknown == []
