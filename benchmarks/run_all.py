"""Runs every benchmark, at the machine's default ISA and/or capped at AVX2, with JSON records.

    python -m benchmarks.run_all --out DIR [--isa default|avx2|both] [--quick]
        [--benchmarks vae_step,gan_unrolled,...] [--repeats N] [--torch-threads N]

Each benchmark runs in its own Python process, once per ISA setting, and writes
`DIR/<isa>/<benchmark>.json` (its `--json` record: figures, medians,
environment) and `DIR/<isa>/<benchmark>.txt` (its printed report). The ISA
settings:

- `default`: XLA, ATen, oneDNN and MKL pick the widest instruction set the CPU
  has (any cap in the environment is removed: `--xla_cpu_max_isa` from
  `XLA_FLAGS`, and `ATEN_CPU_CAPABILITY`, `ONEDNN_MAX_CPU_ISA`,
  `DNNL_MAX_CPU_ISA`, `MKL_ENABLE_INSTRUCTIONS`);
- `avx2`: JAX with `XLA_FLAGS=--xla_cpu_max_isa=AVX2` and PyTorch with
  `ATEN_CPU_CAPABILITY=avx2`, `ONEDNN_MAX_CPU_ISA=AVX2`,
  `MKL_ENABLE_INSTRUCTIONS=AVX2`.

With `--isa both` the two settings of a benchmark run one after the other
before the next benchmark starts, so that both meet about the same load on a
shared machine. `DIR/summary.json` gathers every record's figures, meanings,
wall time and load average, the machine (CPU model and ISA flags) and the
settings; the exit status is 1 when a benchmark fails (the others still run).
`--repeats` passes through to every benchmark that times something (all but
`gan_memory`), `--torch-threads` to every one; `--quick` runs each at tiny sizes
(a smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from genjax import provenance

BENCHMARKS = ("train_loop_overhead", "vae_step", "gan_unrolled", "gan_memory", "lstm_step")
TIMED = ("train_loop_overhead", "vae_step", "gan_unrolled", "lstm_step")  # take --repeats
# Fixed arguments: gan_unrolled also times its seeds with one CPU device per core.
EXTRA_ARGS = {"gan_unrolled": ["--cpu_devices", "0"]}
ISAS = {"default": ("default",), "avx2": ("avx2",), "both": ("default", "avx2")}
AVX2_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
}
_ISA_CAPS = (*AVX2_ENV, "DNNL_MAX_CPU_ISA")
_XLA_ISA_RE = re.compile(r"--xla_cpu_max_isa=\S*")
_ROOT = Path(__file__).resolve().parent.parent


def isa_environment(isa: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a benchmark runs in at ISA setting `isa` ('default' or 'avx2')."""
    if isa not in ("default", "avx2"):
        raise ValueError(f"isa must be 'default' or 'avx2', got {isa!r}")
    env = dict(os.environ if base is None else base)
    for name in _ISA_CAPS:
        env.pop(name, None)
    flags = _XLA_ISA_RE.sub("", env.get("XLA_FLAGS", "")).split()
    if isa == "avx2":
        flags.append("--xla_cpu_max_isa=AVX2")
        env.update(AVX2_ENV)
    if flags:
        env["XLA_FLAGS"] = " ".join(flags)
    else:
        env.pop("XLA_FLAGS", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the output folder")
    parser.add_argument("--isa", choices=tuple(ISAS), default="default")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repeats")
    parser.add_argument(
        "--benchmarks", default=",".join(BENCHMARKS), help="comma-separated subset, in order"
    )
    parser.add_argument("--repeats", type=int, default=None, help="passed to the timed ones")
    parser.add_argument("--torch-threads", type=int, default=None, help="passed to each")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out must be a folder, got the file {args.out}")
    args.benchmarks = [b for b in args.benchmarks.split(",") if b]
    unknown = [b for b in args.benchmarks if b not in BENCHMARKS]
    if unknown or not args.benchmarks:
        parser.error(f"--benchmarks must name some of {', '.join(BENCHMARKS)}; got {unknown}")
    for name in ("repeats", "torch_threads"):
        value = getattr(args, name)
        if value is not None and value < (1 if name == "repeats" else 0):
            parser.error(f"--{name.replace('_', '-')} is out of range: {value}")
    return args


def run_one(bench: str, isa: str, args: argparse.Namespace) -> dict:
    """Runs one benchmark in a subprocess; returns its summary entry."""
    folder = args.out / isa
    folder.mkdir(parents=True, exist_ok=True)
    path, log = folder / f"{bench}.json", folder / f"{bench}.txt"
    path.unlink(missing_ok=True)
    command = [sys.executable, "-m", f"benchmarks.{bench}", "--json", str(path)]
    command += ["--quick"] if args.quick else []
    command += EXTRA_ARGS.get(bench, [])
    if args.repeats is not None and bench in TIMED:
        command += ["--repeats", str(args.repeats)]
    if args.torch_threads is not None:
        command += ["--torch-threads", str(args.torch_threads)]
    print(f"[{isa}] {bench} ...", flush=True)
    start = time.perf_counter()
    with log.open("w") as out:
        rc = subprocess.run(
            command, cwd=_ROOT, env=isa_environment(isa), stdout=out, stderr=subprocess.STDOUT
        ).returncode
    wall = time.perf_counter() - start
    entry = {"rc": rc, "wall_s": wall, "json": path.name, "log": log.name}
    if rc == 0 and path.exists():
        record = json.loads(path.read_text())
        entry.update({key: record[key] for key in ("figures", "meaning", "load_average")})
        print(f"[{isa}] {bench}: {wall:.0f} s, {json.dumps(record['figures'])}", flush=True)
    else:
        print(f"[{isa}] {bench} failed (exit status {rc}); see {log}", flush=True)
    return entry


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    isas = ISAS[args.isa]
    start, load_start = time.perf_counter(), list(os.getloadavg())
    results = {bench: {isa: run_one(bench, isa, args) for isa in isas} for bench in args.benchmarks}
    summary = {
        "isa_settings": list(isas),
        "quick": args.quick,
        "repeats": args.repeats,
        "torch_threads": args.torch_threads,
        "machine": provenance.cpu_info(),
        "git": provenance.git_state(),
        "benchmarks": results,
        "load_average": {"start": load_start, "end": list(os.getloadavg())},
        "wall_s": time.perf_counter() - start,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    failed = [f"{b} ({isa})" for b, per in results.items() for isa, e in per.items() if e["rc"]]
    print(f"wrote {args.out / 'summary.json'} in {summary['wall_s']:.0f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""))  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
