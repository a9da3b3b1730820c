"""`tasks` is a leaf: importing it loads the standard library and `parsing` only, no torch; and
the one map from style to instruction is shared, not copied.

Which package may import which is checked statically by import-linter (the contracts in
pyproject.toml, `lint-imports` in scripts/test.sh); this checks what importing actually loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "numpy", "vllm", "peft", "safetensors", "yaml")
PROJECT = ("training", "server", "benchmarks", "modelprep")


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


def test_one_style_to_instruction_map() -> None:
    from benchmarks.ttft import prompts
    from parsing.instructions import INTERLEAVED_INSTRUCTION, THINK_ANSWER_INSTRUCTION
    from server.generation import prompting
    from tasks.prompts import INSTRUCTIONS, STYLES

    assert INSTRUCTIONS == {
        "interleaved": INTERLEAVED_INSTRUCTION,
        "think_answer": THINK_ANSWER_INSTRUCTION,
    }
    assert tuple(INSTRUCTIONS) == STYLES
    assert prompts.STYLES is INSTRUCTIONS
    assert prompting.INSTRUCTIONS is INSTRUCTIONS
