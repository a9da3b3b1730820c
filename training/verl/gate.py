"""The lagged per-sample batch gate veRL's per-response reward calls get, and its state on disk.

veRL 0.9 scores one response at a time, so the current batch's accuracy is unknown until its
last response is scored: batch t is paid when accuracy(t-1) >= accuracy(t-2) - epsilon.
Finished batches' accuracies are written to `<state_dir>/interleaved_gate.json` as they finish.
When a process starts, the file is read back and cut to the number of steps veRL's latest
checkpoint holds (`latest_checkpointed_iteration.txt` in the same folder, veRL's
`trainer.default_local_dir`), so a resumed run continues with the gate it had at that step;
without a checkpoint the gate starts fresh, as veRL does.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from training.rewards import batch_gate_open

DEFAULT_BATCH_SIZE = 128  # the paper's 16 prompts x 8 samples
STATE_FILE = "interleaved_gate.json"
VERL_TRACKER = "latest_checkpointed_iteration.txt"


@dataclass
class GateState:
    """Accuracies of finished training batches, and the counts of the one being scored."""

    batch_size: int = DEFAULT_BATCH_SIZE
    accuracies: list[float] = field(default_factory=list)
    seen: int = 0
    correct: int = 0
    state_dir: Path | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def batch_open(self, epsilon: float) -> bool:
        """Lagged gate for the batch being scored (open until two batches have finished)."""
        if len(self.accuracies) < 2:
            return True
        return batch_gate_open(self.accuracies[-1], self.accuracies[-2], epsilon)

    def record(self, correct: bool) -> None:
        self.seen += 1
        self.correct += int(correct)
        if self.seen >= self.batch_size:
            self.accuracies.append(self.correct / self.seen)
            self.seen = self.correct = 0
            self.save()

    def reset(self, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        with self.lock:
            self.batch_size, self.accuracies, self.seen, self.correct = batch_size, [], 0, 0
            self.state_dir = None

    def attach(self, state_dir: str | os.PathLike[str]) -> None:
        """Use `state_dir` for saving; restore the gate as of veRL's latest checkpoint there."""
        path = Path(state_dir)
        if self.state_dir == path:
            return
        self.state_dir = path
        self.accuracies, self.seen, self.correct = [], 0, 0
        saved = path / STATE_FILE
        tracker = path / VERL_TRACKER
        if saved.is_file() and tracker.is_file():
            steps = int(tracker.read_text().strip())
            self.accuracies = [float(a) for a in json.loads(saved.read_text())["accuracies"]][
                :steps
            ]

    def save(self) -> None:
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps({"batch_size": self.batch_size, "accuracies": self.accuracies}))
        os.replace(tmp, self.state_dir / STATE_FILE)
