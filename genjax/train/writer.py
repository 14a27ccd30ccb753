"""Scalar metric logging: `workdir/metrics.jsonl` plus TensorBoard event files."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"


def _to_float(value: Any) -> float:
    return float(value)


class MetricWriter:
    """Appends `{"step", "split", <name>: value}` records to `metrics.jsonl` and TensorBoard.

    Args:
      workdir: the run directory; the JSONL file and `tensorboard/` go under it.
      tensorboard: also write TensorBoard event files (via tensorboardX, which
        needs no TensorFlow).
    """

    def __init__(self, workdir: str | Path, tensorboard: bool = True):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.path = self.workdir / METRICS_FILE
        self._tb = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(logdir=str(self.workdir / "tensorboard"))

    def truncate_after(self, step: int) -> None:
        """Drops records logged after `step` (a resumed run redoes those steps)."""
        records = [r for r in read_metrics(self.workdir) if r["step"] <= step]
        with open(self.path, "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")

    def write_scalars(self, step: int, scalars: Mapping[str, Any], split: str = "train") -> None:
        """Appends one record to the JSONL file and each finite scalar to TensorBoard."""
        record = {"step": int(step), "split": split}
        record.update({k: _to_float(v) for k, v in scalars.items()})
        with open(self.path, "a") as f:
            f.write(json.dumps(record, allow_nan=True) + "\n")
        if self._tb is not None:
            for name, value in record.items():
                if name not in ("step", "split") and math.isfinite(value):
                    self._tb.add_scalar(f"{split}/{name}", value, global_step=int(step))

    def flush(self) -> None:
        """Pushes buffered TensorBoard events to disk."""
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        """Flushes and closes the TensorBoard writer."""
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def read_metrics(workdir: str | Path, split: str | None = None) -> list[dict[str, Any]]:
    """The records of `workdir/metrics.jsonl` (optionally one split), in file order."""
    path = Path(workdir) / METRICS_FILE
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if split is None or r["split"] == split]
