"""What every benchmark shares: the `--json`/`--quick` flags, interleaved timing, the record.

A benchmark's `--json PATH` record (`write_record`) holds:

- `benchmark`: its name; `settings`: the sizes, repeats and steps it ran with;
- `figures`: its named figures (finite numbers) and `meaning`: one sentence per
  figure saying what it divides by what and which way is better;
- `raw`: the medians and other measurements the figures come from;
- `environment`: `genjax.provenance.environment()` (versions, devices, the CPU
  model and its ISA flags, git commit) plus PyTorch's version, thread counts and
  the ISA it dispatches to, and the thread and ISA environment variables in force
  (`THREAD_ENV`, `ISA_ENV`);
- `load_average`: `os.getloadavg()` when the benchmark started and when it ended
  (the machine may be shared: a load above the core count means the timings
  competed for the CPU), and `wall_s`, the benchmark's own wall time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genjax import provenance

# The variables that cap the instruction set: XLA's (in XLA_FLAGS: --xla_cpu_max_isa),
# ATen's kernel dispatch, oneDNN's and MKL's.
ISA_ENV = (
    "XLA_FLAGS",
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
    "MKL_ENABLE_INSTRUCTIONS",
)
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Adds `--json PATH`, `--quick` and `--torch-threads N` to a benchmark's parser."""
    parser.add_argument("--json", type=Path, default=None, help="write the record to this file")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes and few repeats (a smoke test)"
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch.set_num_threads (0: torch's default; the default is 0, and 1 with --quick)",
    )


def fill(args: argparse.Namespace, name: str, quick: int, full: int) -> None:
    """Sets `args.<name>` to `quick` or `full` (by `args.quick`) when it was not given."""
    if getattr(args, name) is None:
        setattr(args, name, quick if args.quick else full)


def check_common_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Rejects a `--json` folder and negative counts (before any work); fills `--torch-threads`."""
    if args.torch_threads is None:
        args.torch_threads = 1 if args.quick else 0
    if args.json is not None and args.json.is_dir():
        parser.error(f"--json must name a file, got the folder {args.json}")
    if args.torch_threads < 0:
        parser.error(f"--torch-threads must be >= 0, got {args.torch_threads}")
    for name in ("repeats", "steps"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            parser.error(f"--{name} must be >= 1, got {value}")


def import_torch(threads: int = 0):
    """The torch module with `threads` intra-op threads (0: torch's default), or None."""
    try:
        import torch
    except ImportError:
        return None
    if threads:
        torch.set_num_threads(threads)
    return torch


def torch_environment() -> dict[str, Any] | None:
    """PyTorch's version, threads and the CPU capability ATen dispatches to (None without it)."""
    try:
        import torch
    except ImportError:
        return None
    return {
        "version": torch.__version__,
        "num_threads": torch.get_num_threads(),
        "num_interop_threads": torch.get_num_interop_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def environment() -> dict[str, Any]:
    """`genjax.provenance.environment()` plus torch's threads and ISA and the ISA/thread env."""
    record = provenance.environment()
    record["torch"] = torch_environment()
    record["isa_env"] = {name: os.environ.get(name) for name in ISA_ENV}
    record["thread_env"] = {name: os.environ.get(name) for name in THREAD_ENV}
    return record


def timed(fn: Callable, *args) -> float:
    """Wall seconds of `fn(*args)`."""
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def interleaved(
    runners: dict[str, Callable[[int], None]], repeats: int, steps: int, warmup: int = 2
) -> dict[str, float]:
    """{name: median seconds per step}: `warmup` steps each, then `repeats` rounds in
    which every runner runs `steps` steps in turn (A, B, C, A, B, C, ...)."""
    for run in runners.values():
        run(warmup)
    times = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            times[name].append(timed(run, steps) / steps)
    return {name: statistics.median(ts) for name, ts in times.items()}


def line_fit(xs, ys) -> dict[str, float]:
    """The least-squares line through (x, y): {'slope', 'intercept', 'r2'}."""
    n = len(xs)
    if n < 2 or len(set(xs)) < 2:
        raise ValueError(f"a line needs at least two distinct x values, got {list(xs)}")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    return {"slope": slope, "intercept": intercept, "r2": 1.0 - ss_res / ss_tot if ss_tot else 1.0}


class Recorder:
    """Collects a benchmark's figures and writes its record; start it before the work."""

    def __init__(self, benchmark: str, settings: dict[str, Any]):
        self.benchmark, self.settings = benchmark, dict(settings)
        self.figures: dict[str, float] = {}
        self.meaning: dict[str, str] = {}
        self.raw: dict[str, Any] = {}
        self.load_start = list(os.getloadavg())
        self.start = time.perf_counter()

    def figure(self, name: str, value: float, meaning: str) -> None:
        """Adds a named figure (a finite number) and what it means."""
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{self.benchmark}: figure {name} is not finite: {value}")
        self.figures[name] = value
        self.meaning[name] = meaning

    def record(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "settings": self.settings,
            "figures": self.figures,
            "meaning": self.meaning,
            "raw": self.raw,
            "environment": environment(),
            "load_average": {"start": self.load_start, "end": list(os.getloadavg())},
            "wall_s": time.perf_counter() - self.start,
        }

    def write(self, path: str | Path | None) -> dict[str, Any]:
        """Writes the record to `path` as JSON (nothing when `path` is None); returns it."""
        record = self.record()
        if path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record, indent=2) + "\n")
            print(f"wrote {path}")
        return record
