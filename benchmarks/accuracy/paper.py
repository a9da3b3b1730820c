"""The paper's own numbers, for reference beside ours (never mixed into our measurements).

Xie et al., *Interleaved Reasoning for Large Language Models via Reinforcement Learning*,
arXiv 2505.19640v2: Table 2 (PPO) and Table 3 (GRPO, REINFORCE++), Qwen2.5-1.5B-Instruct.
Each cell is (Pass@1, TTFT) where TTFT is "the relative position of the first answer token in
the complete response" (0 for the non-reasoning baselines). K&K and MuSiQue are in-domain;
GPQA, MMLU and MATH out-of-domain.
"""

from __future__ import annotations

SOURCE = "Xie et al. 2025 (arXiv 2505.19640v2), Qwen2.5-1.5B-Instruct, Tables 2 and 3"
DATASETS = ("K&K", "MuSiQue", "GPQA", "MMLU", "MATH", "Avg.")

# (method, algorithm) -> one (Pass@1, TTFT) per DATASETS entry, as printed.
ROWS: dict[tuple[str, str], tuple[tuple[float, float], ...]] = {
    ("Direct Inference", "-"): (
        (0.060, 0.0),
        (0.115, 0.0),
        (0.051, 0.0),
        (0.081, 0.0),
        (0.278, 0.0),
        (0.117, 0.0),
    ),
    ("CoT", "-"): (
        (0.097, 0.0),
        (0.195, 0.0),
        (0.066, 0.0),
        (0.167, 0.0),
        (0.308, 0.0),
        (0.167, 0.0),
    ),
    ("SFT", "-"): (
        (0.223, 0.0),
        (0.290, 0.0),
        (0.046, 0.0),
        (0.112, 0.0),
        (0.263, 0.0),
        (0.187, 0.0),
    ),
    ("Think-answer", "PPO"): (
        (0.342, 0.819),
        (0.675, 0.763),
        (0.328, 0.929),
        (0.434, 0.913),
        (0.323, 0.952),
        (0.420, 0.875),
    ),
    ("Interleave", "PPO"): (
        (0.357, 0.118),
        (0.700, 0.210),
        (0.308, 0.181),
        (0.429, 0.189),
        (0.288, 0.163),
        (0.416, 0.172),
    ),
    ("Interleave + IR", "PPO"): (
        (0.533, 0.132),
        (0.710, 0.155),
        (0.489, 0.192),
        (0.460, 0.211),
        (0.313, 0.157),
        (0.501, 0.169),
    ),
    ("Think-answer", "GRPO"): (
        (0.387, 0.878),
        (0.690, 0.755),
        (0.333, 0.805),
        (0.419, 0.795),
        (0.374, 0.897),
        (0.441, 0.826),
    ),
    ("Interleave", "GRPO"): (
        (0.383, 0.221),
        (0.650, 0.205),
        (0.409, 0.151),
        (0.424, 0.123),
        (0.313, 0.244),
        (0.436, 0.189),
    ),
    ("Interleave + IR", "GRPO"): (
        (0.473, 0.164),
        (0.690, 0.132),
        (0.465, 0.133),
        (0.455, 0.230),
        (0.323, 0.198),
        (0.481, 0.171),
    ),
}


def markdown() -> str:
    """The reference rows as a markdown table (Pass@1 / TTFT per dataset)."""
    head = "| method | algorithm | " + " | ".join(DATASETS) + " |"
    rule = "|---|---|" + "---|" * len(DATASETS)
    body = [
        f"| {method} | {algo} | " + " | ".join(f"{p:.3f} / {t:.3f}" for p, t in cells) + " |"
        for (method, algo), cells in ROWS.items()
    ]
    return "\n".join([head, rule, *body])
