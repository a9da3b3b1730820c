"""The README.md model card written next to every trained adapter (or full model).

It records what a user needs to trust and reproduce the folder: base model, data, steps, the
full config, the last training metrics, and the evaluation (`python -m benchmarks.accuracy`
output, added later with `python -m training card DIR --evaluation results.json`). The facts
behind the card are kept in `training_summary.json`, so the card can be re-rendered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from training.config import Config

SUMMARY_FILE = "training_summary.json"
CARD_FILE = "README.md"
_PAPER = (
    "Xie et al. 2025, Interleaved Reasoning for Large Language Models via Reinforcement "
    "Learning (arXiv 2505.19640)"
)
_LOG_KEYS = (
    "reward/total",
    "reward/format",
    "reward/final",
    "reward/intermediate",
    "format_rate",
    "accuracy",
    "intermediate_accuracy",
    "response_length",
    "kl",
    "entropy",
    "loss",
)


def write_model_card(
    folder: str | Path,
    cfg: Config,
    steps: int,
    final_metrics: dict[str, Any] | None = None,
    evaluation: dict[str, Any] | None = None,
) -> Path:
    folder = Path(folder)
    summary = {
        "config": cfg.to_dict(),
        "steps": steps,
        "final_metrics": {k: v for k, v in (final_metrics or {}).items() if k in _LOG_KEYS},
        "evaluation": evaluation,
        "warm_start": warm_start_of(cfg.to_dict()),
    }
    (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return render(folder)


def write_rft_card(folder: str | Path, cfg: Config, rounds: list[dict[str, Any]]) -> Path:
    """The card of a rejection-sampling run's adapter: its own config (not the SFT step's of its
    last round) and what each round sampled, kept and trained on."""
    folder = Path(folder)
    summary = {
        "config": cfg.to_dict(),
        "steps": sum(r["sft_steps"] for r in rounds),
        "final_metrics": {},
        "rounds": rounds,
        "evaluation": None,
        "warm_start": warm_start_of(cfg.to_dict()),
    }
    (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return render(folder)


def warm_start_of(cfg: dict[str, Any]) -> dict[str, Any] | None:
    """What the run started from was trained on and for how long (from its own summary), so a
    card states the whole training, not only the last stage: the initial adapter of an RL run,
    or the model folder of a further full fine-tuning stage (`python -m training extract
    --as-model` writes the earlier run's summary into that folder). Nested: an earlier stage
    that had a warm start of its own carries it under "warm_start", down to the first stage."""
    start = cfg.get("init_adapter") or cfg.get("model")
    if not start:
        return None
    try:
        summary = json.loads((Path(start) / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return {
        "steps": summary["steps"],
        "config": summary["config"],
        "final_metrics": summary.get("final_metrics", {}),
        "from": "adapter" if cfg.get("init_adapter") else "model",
        "warm_start": summary.get("warm_start"),
    }


def add_evaluation(folder: str | Path, evaluation: dict[str, Any], key: str = "evaluation") -> Path:
    """Put a `benchmarks.accuracy` result into an existing card (`key`: "evaluation", the
    held-out split in the training phrasing, or "evaluation_unseen", the held-out phrasing)."""
    if key not in ("evaluation", "evaluation_unseen"):
        raise ValueError(f"key must be evaluation or evaluation_unseen, got {key!r}")
    folder = Path(folder)
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    summary[key] = evaluation
    (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return render(folder)


def render(folder: str | Path) -> Path:
    folder = Path(folder)
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    cfg = summary["config"]
    warm = summary.get("warm_start")
    base = Path(cfg["model"]).name if cfg.get("model") else "SmolLM2-135M-Instruct"
    stage = warm
    while stage and stage.get("from") == "model":  # a further stage: name the original base
        first = stage["config"]
        base = Path(first["model"]).name if first.get("model") else "SmolLM2-135M-Instruct"
        stage = stage.get("warm_start")
    extraction = summary.get("extraction")
    is_lora = bool(cfg["lora"]) or extraction is not None
    style = "interleaved" if cfg["style"] == "interleaved" else "think-answer"
    if cfg["mode"] == "sft":
        method = f"supervised fine-tuning on {style} targets built from the generators' reasoning"
        if not cfg["lora"]:
            method += " (full fine-tuning" + (
                " of the decoder's linear layers, embeddings and norms frozen)"
                if cfg.get("freeze_embeddings")
                else ")"
            )
    elif cfg["mode"] == "rft":
        fallback = cfg["rft_reference_fallback"]
        method = (
            f"rejection-sampling fine-tuning: {cfg['n_samples']} samples per prompt at "
            f"temperature {cfg['temperature']}, scored by the paper's rewards (intermediate "
            f"reward `{cfg['intermediate']}`, `{cfg['gate']}` gate); per prompt the best correct, "
            "well-formed sample is kept"
            + (", the reference trace where none was right" if fallback else "")
            + ", and the adapter fine-tuned on what was kept, once per round"
        )
    else:
        method = (
            f"RL with advantage estimator `{cfg['estimator']}`, {cfg['n_samples']} samples "
            f"per prompt at temperature {cfg['temperature']}, KL {cfg['kl_coef']} "
            f"(low-variance estimator), intermediate reward `{cfg['intermediate']}` "
            f"with the `{cfg['gate']}` gate"
        )
    front = {
        "base_model": base,
        "library_name": "peft" if is_lora else "transformers",
        "tags": ["interleaved-reasoning", cfg["mode"], *(["lora"] if is_lora else [])],
        "license": "apache-2.0",
    }
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False).strip(),
        "---",
        "",
        f"# {_title(folder, cfg)}",
        "",
        f"{'LoRA adapter' if is_lora else 'Model'} for `{base}` that answers in the "
        f"{style} format (`<think>…</think>` / `<answer>…</answer>`), trained by this "
        f"project's `training` package after {_PAPER}.",
        "",
        "## Serving",
        "",
        "```",
        f"python -m server --adapter {folder}" if is_lora else f"python -m server --model {folder}",
        "```",
        "",
        "## Training",
        "",
        f"- Base model: `{base}`"
        + (f", starting from adapter `{cfg['init_adapter']}`" if cfg.get("init_adapter") else "")
        + (
            f", starting from the earlier stage's weights `{cfg['model']}`"
            if warm and warm.get("from") == "model"
            else ""
        ),
        f"- Method: {method}.",
        f"- Steps: {summary['steps']} (batch {cfg['batch_size']}, lr {cfg['lr']}).",
        f"- Data: {_data_text(cfg['data'])}.",
        *_round_lines(summary.get("rounds")),
        *_warm_start_lines(warm),
        *(
            [
                f"- Shipped as a rank-{extraction['rank']} LoRA adapter extracted from the full "
                f"fine-tune's weight change (`python -m training extract`), keeping "
                f"{extraction['energy_kept']:.1%} of the change's energy; the evaluation below "
                "is of this adapter."
            ]
            if extraction
            else []
        ),
        "",
    ]
    if summary["final_metrics"]:
        lines += ["Metrics of the last training step:", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in summary["final_metrics"].items()]
        lines.append("")
    lines += ["## Evaluation", ""]
    lines += _evaluation_lines(summary.get("evaluation"))
    if summary.get("evaluation_unseen"):
        lines += ["", "Held-out phrasing (question templates never used in training):", ""]
        lines += _evaluation_lines(summary["evaluation_unseen"])
    lines += [
        "",
        "## Config",
        "",
        "```yaml",
        yaml.safe_dump(cfg, sort_keys=False).strip(),
        "```",
        "",
    ]
    path = folder / CARD_FILE
    path.write_text("\n".join(lines))
    return path


def _round_lines(rounds: list[dict[str, Any]] | None) -> list[str]:
    return [
        f"- Round {r['round']}: {r['samples']} samples of {r['prompts']} prompts, "
        f"{r['sample_accuracy']:.1%} correct; {r['prompts_solved']} prompts solved, "
        f"{r['reference_fallback']} kept their reference trace; {r['sft_steps']} fine-tuning "
        "steps."
        for r in rounds or []
    ]


def _warm_start_lines(warm: dict[str, Any] | None) -> list[str]:
    """One line per earlier stage, the latest first."""
    lines = []
    while warm:
        c = warm["config"]
        how = f"LoRA r{c['lora_r']}" if c["lora"] else "full fine-tuning"
        lines.append(
            f"- Warm start (`{c['out_dir']}`, {c['mode']}): {warm['steps']} steps (batch "
            f"{c['batch_size']}, lr {c['lr']}, {how}) on {_data_text(c['data'])}."
        )
        warm = warm.get("warm_start")
    return lines


def _title(folder: Path, cfg: dict[str, Any]) -> str:
    # Runs write their output to <out_dir>/adapter: the run's name says more than "adapter".
    return Path(cfg["out_dir"]).name if folder.name == "adapter" else folder.name


def _data_text(sources: list[dict[str, Any]]) -> str:
    parts = []
    for s in sources:
        if "path" in s:
            parts.append(f"`{s['path']}`")
        else:
            options = ", ".join(f"{k}={v}" for k, v in s.items() if k not in ("dataset", "n"))
            parts.append(
                f"{s['n']} generated `{s['dataset']}`" + (f" ({options})" if options else "")
            )
    return "; ".join(parts)


def _evaluation_lines(evaluation: dict[str, Any] | None) -> list[str]:
    if not evaluation:
        return [
            "Not evaluated yet: run `python -m benchmarks.accuracy --launch "
            "'python -m server --adapter DIR' --output eval.json`, then "
            "`python -m training card DIR --evaluation eval.json`."
        ]
    lines = [
        "| dataset | n | Pass@1 | format rate | intermediate acc. | normalized TTFT |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in evaluation.get("by_dataset", {}).items():
        lines.append(
            f"| {name} | {row.get('n')} | {_fmt(row.get('pass_at_1'))} | "
            f"{_fmt(row.get('format_rate'))} | {_fmt(row.get('intermediate_accuracy'))} "
            f"| {_fmt(row.get('normalized_ttft'))} |"
        )
    settings = evaluation.get("settings", {})
    if settings:
        lines += ["", f"Settings: {json.dumps(settings, sort_keys=True)}"]
    return lines


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
