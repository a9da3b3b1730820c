"""One JSON object per training step in `log.jsonl`, and a tqdm bar showing the same numbers.

On resume the log is cut back to the checkpoint's step (steps after it are trained again), so
the file always reads as one run: steps 1, 2, 3, ... each exactly once.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

LOG_FILE = "log.jsonl"


def read_log(path: str | Path) -> list[dict[str, Any]]:
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line half-written when the run was killed ends the log
    return records


class StepLog:
    def __init__(
        self,
        path: str | Path,
        total_steps: int,
        resume_step: int = 0,
        progress: bool = True,
        show: tuple[str, ...] = (),
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = (
            [r for r in read_log(self.path) if r.get("step", 0) <= resume_step]
            if self.path.exists()
            else []
        )
        with self.path.open("w", encoding="utf-8") as f:
            for record in kept:
                f.write(json.dumps(record) + "\n")
        self.show = show
        self.bar = tqdm(
            total=total_steps,
            initial=resume_step,
            disable=not progress,
            file=sys.stderr,
            dynamic_ncols=True,
            desc="train",
        )

    def write(self, record: dict[str, Any]) -> None:
        clean = {k: _jsonable(v) for k, v in record.items()}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(clean) + "\n")
        self.bar.update(1)
        self.bar.set_postfix({k: _short(clean[k]) for k in self.show if k in clean}, refresh=False)

    def close(self) -> None:
        self.bar.close()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN; keep it visible rather than crash the run
    return value


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
