"""Our examples as veRL's RL parquet: one row per prompt.

Columns (what veRL's `RLHFDataset` and reward managers read):
- data_source: "interleaved/<dataset>" (veRL passes it to `compute_score`).
- prompt: the chat messages (system instruction + question), exactly what our trainer prompts
  with; veRL applies the model's chat template.
- ability: "logic" (K&K), "multihop_qa", "math".
- reward_model: {"style": "rule", "ground_truth": JSON of the fields judging needs} — the final
  answer alone is not enough (intermediate truths, K&K people, answer type, aliases).
- extra_info: {"split", "index", "id", "dataset", "difficulty", "style"}.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tasks.example import Example
from tasks.prompts import build_messages

ABILITY = {
    "kk": "logic",
    "multihop": "multihop_qa",
    "musique": "multihop_qa",
    "arithmetic": "math",
    "math": "math",
}
JUDGE_FIELDS = (
    "id",
    "dataset",
    "final_answer",
    "intermediate_answers",
    "answer_type",
    "difficulty",
    "split",
    "meta",
)


def ground_truth(ex: Example) -> str:
    return json.dumps({k: getattr(ex, k) for k in JUDGE_FIELDS}, ensure_ascii=False)


def example_from_ground_truth(text: str) -> Example:
    """The Example `training.rewards` judges with (question and context are not needed)."""
    record = json.loads(text)
    return Example(question="", **record)


def record(ex: Example, index: int, style: str) -> dict[str, Any]:
    return {
        "data_source": f"interleaved/{ex.dataset}",
        "prompt": build_messages(ex, style),
        "ability": ABILITY.get(ex.dataset, "reasoning"),
        "reward_model": {"style": "rule", "ground_truth": ground_truth(ex)},
        "extra_info": {
            "split": ex.split,
            "index": index,
            "id": ex.id,
            "dataset": ex.dataset,
            "difficulty": ex.difficulty,
            "style": style,
        },
    }


def write_parquet(examples: Sequence[Example], path: str | Path, style: str) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [record(ex, i, style) for i, ex in enumerate(examples)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return len(rows)


def read_parquet(path: str | Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()
