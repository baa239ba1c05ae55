"""Training metrics to ``metrics.jsonl`` (one JSON object per logged step) and TensorBoard.

TensorBoard event files are written through `torch.utils.tensorboard` when the `tensorboard`
package is importable (a worldsmith dependency); without it the logger says so once and keeps the
JSONL file, which holds the same numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from worldsmith import fs
from worldsmith.console import console


class MetricsLogger:
    """Appends ``{"step": n, ...}`` records; `truncate_after(step)` drops records a resume will redo."""

    def __init__(self, out: Path, *, enabled: bool = True, tensorboard: bool = True):
        self.path = Path(out) / "metrics.jsonl"
        self.enabled = enabled
        self._tb = None
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                console.print("[yellow]tensorboard is not installed: metrics go to metrics.jsonl only[/]")
            else:
                self._tb = SummaryWriter(log_dir=str(Path(out) / "tensorboard"))

    def log(self, step: int, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record = {"step": step, **values}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._tb.add_scalar(key, value, step)

    def truncate_after(self, step: int) -> None:
        """Keep only records up to `step` (a resumed run logs the later steps again)."""
        if not self.enabled or not self.path.is_file():
            return
        lines = [ln for ln in self.path.read_text().splitlines() if ln.strip()]
        kept = [ln for ln in lines if json.loads(ln).get("step", 0) <= step]
        if len(kept) != len(lines):
            fs.write_text(self.path, "".join(ln + "\n" for ln in kept))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file (or of ``<run>/metrics.jsonl``)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
