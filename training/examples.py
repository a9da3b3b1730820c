"""The examples a config's `data` sources name: generated ones (deterministic by seed) or
Example JSONL files."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from tasks.example import Example

# Below this many generated examples one process is quicker than starting workers.
PARALLEL_FROM = 10_000


def load_examples(sources: list[dict[str, Any]]) -> list[Example]:
    """The examples the `data` sources name, in order: generated ones (deterministic by seed)
    or Example JSONL files. Large mixes generate their sources in parallel processes (a GPU
    run's 100k puzzles take a minute on one core); the result is the same either way."""
    from tasks import read_jsonl

    jobs: list[tuple[str, int, dict[str, Any], bool]] = []
    slots: list[list[Example] | int] = []  # loaded examples, or the index of a generation job
    for source in sources:
        spec = dict(source)
        if "path" in spec:
            loaded = read_jsonl(spec.pop("path"))
            if "split" in spec:  # e.g. the everyday set holds every split in one file
                wanted = spec.pop("split")
                loaded = [ex for ex in loaded if ex.split == wanted]
            # repeat: k copies, to weigh a small hand-made set up in a large generated mix.
            slots.append(loaded[: spec.pop("n", None)] * int(spec.pop("repeat", 1)))
            if spec:
                raise ValueError(f"unknown keys for a path source: {sorted(spec)}")
            continue
        if "dataset" not in spec or "n" not in spec:
            raise ValueError(f"a data source needs dataset and n (or path): {source}")
        dataset, n = spec.pop("dataset"), int(spec.pop("n"))
        # hint: false sends the question as a user would type it, without the answer-form hint.
        hint = bool(spec.pop("hint", True))
        # YAML lists become the generators' tuples (e.g. people: [3, 4, 5]).
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}
        slots.append(len(jobs))
        jobs.append((dataset, n, options, hint))
    generated = _generate_all(jobs)
    examples: list[Example] = []
    for slot in slots:
        examples.extend(generated[slot] if isinstance(slot, int) else slot)
    return examples


def _generate_all(jobs: list[tuple[str, int, dict[str, Any], bool]]) -> list[list[Example]]:
    workers = min(len(jobs), os.cpu_count() or 1)
    small = sum(n for _, n, _, _ in jobs) < PARALLEL_FROM
    # fork: the workers run only the torch-free generators, and a script without a __main__
    # guard still works (spawn would re-run it in every worker).
    if workers < 2 or small or "fork" not in multiprocessing.get_all_start_methods():
        return [_generate(*job) for job in jobs]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(_generate, *zip(*jobs, strict=True)))


def _generate(dataset: str, n: int, options: dict[str, Any], hint: bool) -> list[Example]:
    from tasks import generate

    options = dict(options)
    split, seed = options.pop("split", "train"), int(options.pop("seed", 0))
    examples = generate(dataset, n, split=split, seed=seed, **options)
    if not hint:
        for ex in examples:
            ex.meta["hint"] = False
    return examples
