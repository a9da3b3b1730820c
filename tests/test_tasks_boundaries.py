"""`tasks` is a leaf: standard library and `parsing` only, no torch; and nothing that talks to a
server over HTTP (benchmarks) or is the server imports `training`."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "numpy", "vllm", "peft", "safetensors", "yaml")
PROJECT = ("training", "server", "benchmarks", "modelprep")


def _imports(path: Path) -> list[tuple[str, int]]:
    """(top-level module, line) of every absolute import in `path`, nested ones included."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name.split(".")[0], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], node.lineno))
    return found


def _sources(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no sources under {package}/"
    return files


def test_importing_tasks_loads_no_torch_and_nothing_of_the_other_packages() -> None:
    # Every module of the package, in a fresh interpreter: which modules appeared?
    code = """
import json, pkgutil, sys
before = set(sys.modules)
import tasks
for info in pkgutil.walk_packages(tasks.__path__, "tasks."):
    __import__(info.name)
print(json.dumps(sorted(set(sys.modules) - before)))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    assert "tasks.judging" in loaded and "tasks.prompts" in loaded and "tasks.__main__" in loaded
    tops = {name.split(".")[0] for name in loaded}
    assert not tops & set(HEAVY), sorted(tops & set(HEAVY))
    assert not tops & set(PROJECT), sorted(tops & set(PROJECT))
    outside = sorted(t for t in tops - {"tasks", "parsing"} if t not in sys.stdlib_module_names)
    assert outside == [], f"importing tasks loaded non-stdlib modules: {outside}"


def test_tasks_imports_only_the_standard_library_and_parsing() -> None:
    allowed = {"tasks", "parsing"}
    bad = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in _sources("tasks")
        for name, line in _imports(path)
        if name not in allowed and name not in sys.stdlib_module_names
    ]
    assert bad == []


@pytest.mark.parametrize("package", ["benchmarks", "server"])
def test_benchmarks_and_server_never_import_training(package: str) -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in _sources(package)
        for name, line in _imports(path)
        if name == "training"
    ]
    assert bad == []


def test_parsing_imports_none_of_the_project_packages() -> None:
    # tasks builds on parsing, never the other way round (no cycle).
    bad = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in _sources("parsing")
        for name, line in _imports(path)
        if name in {"tasks", *PROJECT}
    ]
    assert bad == []


def test_one_style_to_instruction_map() -> None:
    from benchmarks.ttft import prompts
    from parsing.instructions import INTERLEAVED_INSTRUCTION, THINK_ANSWER_INSTRUCTION
    from server import prompting
    from tasks.prompts import INSTRUCTIONS, STYLES

    assert INSTRUCTIONS == {
        "interleaved": INTERLEAVED_INSTRUCTION,
        "think_answer": THINK_ANSWER_INSTRUCTION,
    }
    assert tuple(INSTRUCTIONS) == STYLES
    assert prompts.STYLES is INSTRUCTIONS
    assert prompting.INSTRUCTIONS is INSTRUCTIONS
