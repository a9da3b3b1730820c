"""The examples a config's `data` sources name: generated ones (deterministic by seed) or
Example JSONL files."""

from __future__ import annotations

from typing import Any

from tasks.example import Example


def load_examples(sources: list[dict[str, Any]]) -> list[Example]:
    """The examples the `data` sources name, in order: generated ones (deterministic by seed)
    or Example JSONL files."""
    from tasks import generate, read_jsonl

    examples: list[Example] = []
    for source in sources:
        spec = dict(source)
        if "path" in spec:
            loaded = read_jsonl(spec.pop("path"))
            if "split" in spec:  # e.g. the everyday set holds every split in one file
                wanted = spec.pop("split")
                loaded = [ex for ex in loaded if ex.split == wanted]
            examples.extend(loaded[: spec.pop("n", None)])
            if spec:
                raise ValueError(f"unknown keys for a path source: {sorted(spec)}")
            continue
        if "dataset" not in spec or "n" not in spec:
            raise ValueError(f"a data source needs dataset and n (or path): {source}")
        dataset, n = spec.pop("dataset"), int(spec.pop("n"))
        split, seed = spec.pop("split", "train"), int(spec.pop("seed", 0))
        # hint: false sends the question as a user would type it, without the answer-form hint.
        hint = bool(spec.pop("hint", True))
        # YAML lists become the generators' tuples (e.g. people: [3, 4, 5]).
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}
        generated = generate(dataset, n, split=split, seed=seed, **options)
        if not hint:
            for ex in generated:
                ex.meta["hint"] = False
        examples.extend(generated)
    return examples
