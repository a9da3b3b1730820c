"""Held-out evaluation without a server: greedy `model.generate` on the training machine.

    python -m training.evaluate_hf --adapter runs/sft-default/adapter --style interleaved \\
        --set kk:100:people=2,3,4,5 --set multihop:40:hops=2,3 --set arithmetic:40:phrasing=mixed \\
        --everyday tasks/data/everyday.jsonl --max-new-tokens 1024 --out eval.json

For a GPU machine without the serving engine (and for comparing training rounds quickly): the
questions, prompts and judging are exactly those of `benchmarks.accuracy` (`tasks`), decoding
is greedy, and each item records whether it is correct, well formed, cut at the limit, and where
its first answer starts (tokens before the first `<answer>` over all tokens, the paper's
normalized time to first token). Everyday prompts record the token F1 of the first answer with
the base model's answer (`tasks.everyday.agreement`). The published figures of a shipped model
come from `benchmarks.accuracy` through the server; this is the trainer's own yardstick.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from parsing import parse
from tasks import generate, read_jsonl
from tasks.everyday import agreement
from tasks.example import Example
from tasks.judging import judge_response
from training.model import load_base, load_tokenizer, pick_device
from training.rl.rollout import eos_ids
from training.templates import apply_template


def parse_set(spec: str) -> list[Example]:
    """`dataset:n[:key=v1,v2...]` -> the generator's test-split examples."""
    dataset, n, *options = spec.split(":")
    kwargs: dict[str, Any] = {}
    for option in options:
        key, _, raw = option.partition("=")
        values = [int(v) if v.isdigit() else v for v in raw.split(",")]
        kwargs[key] = (
            tuple(values) if len(values) > 1 or key in ("people", "hops", "steps") else values[0]
        )
    return generate(dataset, int(n), split="test", seed=0, **kwargs)


def first_answer_position(token_texts: list[str]) -> float | None:
    """Share of the response's tokens before the one that completes `<answer>`."""
    text = ""
    for i, piece in enumerate(token_texts):
        text += piece
        if "<answer>" in text:
            return i / max(1, len(token_texts))
    return None


@torch.no_grad()
def greedy(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int, batch: int):
    device = next(model.parameters()).device
    stop = sorted(eos_ids(tokenizer, model.config))
    pad = int(tokenizer.pad_token_id)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: dict[int, list[int]] = {}
    for lo in range(0, len(order), batch):
        chunk = order[lo : lo + batch]
        ids = [tokenizer(prompts[i], add_special_tokens=False).input_ids for i in chunk]
        width = max(len(x) for x in ids)
        input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids], device=device)
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=device)
        gen = model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            do_sample=False,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad,
            eos_token_id=stop,
        )
        for row, i in enumerate(chunk):
            seq = gen[row, width:].tolist()
            cut = next((k for k, t in enumerate(seq) if t in stop), None)
            out[i] = seq if cut is None else seq[:cut]
            out[i].append(-1 if cut is None else -2)  # marker: -1 cut at the limit
    return [out[i] for i in range(len(prompts))]


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    device = pick_device(args.device)
    tokenizer = load_tokenizer(args.base)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = load_base(args.base, dtype, device)
    if args.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, args.adapter).merge_and_unload()
    model.eval()
    examples = [ex for spec in args.set for ex in parse_set(spec)]
    if args.everyday:
        examples += [ex for ex in read_jsonl(args.everyday) if ex.split == "test"]
    prompts = [apply_template(tokenizer, ex, args.style) for ex in examples]
    started = time.perf_counter()
    outputs = greedy(model, tokenizer, prompts, args.max_new_tokens, args.batch)
    items = []
    for ex, seq in zip(examples, outputs, strict=True):
        truncated = seq[-1] == -1
        tokens = seq[:-1]
        text = tokenizer.decode(tokens, skip_special_tokens=True)
        transcript = parse(text)
        pieces = [tokenizer.decode([t]) for t in tokens]
        item: dict[str, Any] = {
            "id": ex.id,
            "dataset": ex.dataset,
            "difficulty": ex.difficulty,
            "tokens": len(tokens),
            "truncated": truncated,
            "format_ok": transcript.format_ok,
            "first_answer_position": first_answer_position(pieces),
            "answers": transcript.answers,
        }
        if ex.dataset == "everyday":
            first = transcript.answers[0] if transcript.answers else ""
            item["agreement"] = agreement(first, ex.final_answer)
        else:
            item["correct"] = (
                judge_response(transcript.answers, transcript.format_ok, ex) == "correct"
            )
        items.append(item)
    return {
        "adapter": args.adapter,
        "style": args.style,
        "seconds": time.perf_counter() - started,
        "summary": summarize(items),
        "items": items,
    }


def summarize(items: list[dict[str, Any]]) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        groups.setdefault(item["dataset"], []).append(item)
        if item["dataset"] == "kk":
            groups.setdefault(f"kk-{item['difficulty']}", []).append(item)
    out = {}
    for name, group in sorted(groups.items()):
        positions = [
            i["first_answer_position"] for i in group if i["first_answer_position"] is not None
        ]
        row: dict[str, Any] = {
            "n": len(group),
            "truncated": sum(i["truncated"] for i in group) / len(group),
            "format_ok": sum(i["format_ok"] for i in group) / len(group),
            "median_first_answer_position": statistics.median(positions) if positions else None,
        }
        if name == "everyday":
            row["agree_rate"] = sum(i["agreement"] >= 0.5 for i in group) / len(group)
            row["mean_agreement"] = statistics.mean(i["agreement"] for i in group)
        else:
            row["pass@1"] = sum(i["correct"] for i in group) / len(group)
        out[name] = row
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.evaluate_hf",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--base", required=True, help="the base model folder")
    parser.add_argument("--adapter", help="a LoRA adapter folder (none: the base model)")
    parser.add_argument("--style", default="interleaved", choices=("interleaved", "think_answer"))
    parser.add_argument("--set", action="append", default=[], metavar="DATASET:N[:K=V]")
    parser.add_argument("--everyday", help="everyday JSONL; its test split is added")
    parser.add_argument("--max-new-tokens", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    result = evaluate(args)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({"adapter": args.adapter, **result["summary"]}, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
