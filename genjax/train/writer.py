"""Scalar metric logging: `workdir/metrics.jsonl` plus TensorBoard event files."""

from __future__ import annotations

import json
import math
import shutil
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
      start_step: the step a run starts (or resumes) from: records after it are
        dropped from the JSONL file (the run logs those steps again) and TensorBoard
        hides its earlier events after it; at 0 the old `tensorboard/` folder is
        removed. `None` appends to whatever is there.
    """

    def __init__(
        self, workdir: str | Path, tensorboard: bool = True, start_step: int | None = None
    ):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.path = self.workdir / METRICS_FILE
        self._tb = None
        if start_step is not None:
            self.truncate_after(start_step)
        if tensorboard:
            from tensorboardX import SummaryWriter

            logdir = self.workdir / "tensorboard"
            purge, suffix = None, ""
            if start_step == 0:
                shutil.rmtree(logdir, ignore_errors=True)
            elif start_step is not None:
                purge = start_step + 1  # events at start_step itself stay valid
                # Event files are named by the second and host: a resume within the same
                # second as the earlier writer must not reopen (and overwrite) its file.
                suffix = f".from{start_step}"
            self._tb = SummaryWriter(logdir=str(logdir), purge_step=purge, filename_suffix=suffix)

    def truncate_after(self, step: int) -> None:
        """Drops records logged after `step` (a resumed run redoes those steps)."""
        if not self.path.exists():
            return
        records = [r for r in read_metrics(self.workdir) if r["step"] <= step]
        tmp = self.path.with_suffix(".jsonl.tmp")
        with open(tmp, "w") as f:
            for r in records:
                f.write(json.dumps(r, allow_nan=True) + "\n")
        tmp.replace(self.path)

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
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    records = []
    for i, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except ValueError:
            if i < len(lines) - 1:
                raise
            # A last line cut short by a killed process: the run logs that step again.
    return [r for r in records if split is None or r["split"] == split]
