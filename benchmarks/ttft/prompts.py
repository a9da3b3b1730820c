"""Where the prompts come from: `--dataset NAME[:option=a,b...]|jsonl:PATH|builtin`.

- kk, multihop, arithmetic, chains, everyday: the project's own datasets (`tasks`), held-out
  `test` split, so no prompt was seen in training; chat messages built by
  `tasks.build_messages` (the interleaved or think-answer system instruction, then the question).
  Generator options follow the name as in `benchmarks.accuracy`: `kk:people=2,3,4`,
  `multihop:hops=2:phrasing=unseen`.
- jsonl:PATH: one chat request per line, `{"messages": [...]}`, optionally `"max_tokens"` and
  `"id"`. Lines are used in order and cycled when fewer than --num-prompts.
- builtin: a few multi-step questions with the system instruction, so the harness works with
  nothing else installed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks import GENERATORS, INSTRUCTIONS, build_messages, generate, generator_options

STYLES = INSTRUCTIONS  # style -> system instruction, the one map in `tasks.prompts`
GENERATED = tuple(GENERATORS)  # kk, multihop, arithmetic, chains, everyday

BUILTIN_QUESTIONS: tuple[str, ...] = (
    "A shop sells pens at 3 dollars each. Ann buys 4 pens and pays with a 20 dollar bill. "
    "How much does she pay, and how much change does she get?",
    "Tom is 3 years older than Sue. Sue is twice as old as Max, who is 6. How old are Sue and Tom?",
    "A train leaves at 9:40 and the trip takes 2 hours 35 minutes. When does it arrive? Then, "
    "if it is 15 minutes late, when does it arrive?",
    "There are 5 red, 3 blue and 4 green marbles in a bag. How many marbles are there in "
    "total, and what fraction of them are blue?",
    "Alice is a knight or a knave. Knights always tell the truth, knaves always lie. Alice "
    "says: 'Bob is a knave.' Bob says: 'Alice and I are both knights.' Who is what?",
    "The capital of the country where the Eiffel Tower stands is on which river, and which "
    "sea does that river flow into?",
    "A rectangle is 7 cm long and 4 cm wide. What is its perimeter, what is its area, and "
    "what is the area of a square with the same perimeter?",
    "Compute 17 * 6, then subtract 45, then divide the result by 3.",
)


@dataclass(frozen=True)
class Prompt:
    """One chat request's input. `max_tokens` overrides --max-tokens when set."""

    id: str
    messages: list[dict[str, Any]]
    max_tokens: int | None = None


class PromptError(ValueError):
    """A prompt source that cannot deliver (a bad file, an unknown source); the CLI prints it."""


def load_prompts(
    dataset: str, num_prompts: int, seed: int = 0, style: str = "interleaved"
) -> list[Prompt]:
    if num_prompts < 1:
        raise PromptError("--num-prompts must be at least 1")
    if style not in STYLES:
        raise PromptError(f"--style must be one of {sorted(STYLES)}, got {style!r}")
    name, *options = dataset.split(":")
    if name in GENERATED:
        try:
            return generated(name, num_prompts, seed, style, **generator_options(options))
        except ValueError as e:  # an option the generator does not take, or a bad value
            raise PromptError(f"--dataset {dataset!r}: {e}") from e
    if dataset.startswith("jsonl:"):
        return from_jsonl(Path(dataset.removeprefix("jsonl:")), num_prompts)
    if dataset == "builtin":
        return builtin(num_prompts, style)
    raise PromptError(
        f"--dataset must be one of {', '.join(GENERATED)}, jsonl:PATH or builtin, got {dataset!r}"
    )


def generated(
    dataset: str, num_prompts: int, seed: int, style: str, **options: Any
) -> list[Prompt]:
    examples = generate(dataset, num_prompts, split="test", seed=seed, **options)
    return [Prompt(id=ex.id, messages=build_messages(ex, style)) for ex in examples]


def from_jsonl(path: Path, num_prompts: int) -> list[Prompt]:
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise PromptError(f"cannot read prompts from {path}: {e}") from e
    records: list[Prompt] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise PromptError(f"{where}: not JSON ({e})") from e
        messages = record.get("messages") if isinstance(record, dict) else None
        if not isinstance(messages, list) or not messages:
            raise PromptError(f'{where}: expected {{"messages": [...]}} with at least one message')
        if not all(isinstance(m, dict) and "role" in m and "content" in m for m in messages):
            raise PromptError(f"{where}: every message needs a role and a content")
        max_tokens = record.get("max_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise PromptError(f"{where}: max_tokens must be a positive integer")
        records.append(Prompt(str(record.get("id", f"line-{number}")), messages, max_tokens))
    if not records:
        raise PromptError(f"{path} holds no prompts")
    return [records[i % len(records)] for i in range(num_prompts)]


def builtin(num_prompts: int, style: str) -> list[Prompt]:
    system = {"role": "system", "content": STYLES[style]}
    return [
        Prompt(
            id=f"builtin-{i % len(BUILTIN_QUESTIONS)}",
            messages=[
                system,
                {"role": "user", "content": BUILTIN_QUESTIONS[i % len(BUILTIN_QUESTIONS)]},
            ],
        )
        for i in range(num_prompts)
    ]
