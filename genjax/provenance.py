"""Where a result comes from: versions, devices, CPU and ISA, XLA flags, git commit.

`environment()` returns a JSON-able record; `write_environment(workdir)` writes
it as `workdir/environment.json`. Every experiment and the main job write one,
so that a number in a results folder can be traced to the software and the
machine that made it.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

ENVIRONMENT_FILE = "environment.json"

# The distributions whose versions can change a number.
PACKAGES = (
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "chex",
    "orbax-checkpoint",
    "ml-collections",
    "absl-py",
    "numpy",
    "scipy",
    "scikit-learn",
    "mlxtend",
    "music21",
    "matplotlib",
    "torch",
)

# The x86 ISA extensions that decide which kernels XLA and oneDNN pick.
ISA_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
)

_ROOT = Path(__file__).resolve().parent.parent


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_info(cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, Any]:
    """The CPU model, logical core count and the ISA flags of `ISA_FLAGS` it has.

    Reads `/proc/cpuinfo` on Linux; elsewhere the model is `platform.processor()`
    and the flags are unknown (None).
    """
    model, flags = platform.processor() or platform.machine(), None
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "cpu model") and model in ("", platform.machine()):
            model = value.strip()
        elif key in ("flags", "Features") and flags is None:
            present = set(value.split())
            flags = [f for f in ISA_FLAGS if f in present]
    return {"model": model, "logical_cores": os.cpu_count(), "isa_flags": flags}


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_state() -> dict[str, Any]:
    """The checkout's commit and whether tracked files differ from it (None outside git)."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _devices() -> dict[str, Any]:
    import jax

    devices = jax.devices()
    return {
        "backend": jax.default_backend(),
        "device_kind": devices[0].device_kind if devices else None,
        "device_count": jax.device_count(),
        "local_device_count": jax.local_device_count(),
        "process_count": jax.process_count(),
    }


def environment() -> dict[str, Any]:
    """A JSON-able record of the software and machine this process runs on."""
    return {
        "time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": platform.node(),
        "packages": _versions(),
        "jax": _devices(),
        "cpu": cpu_info(),
        "env": {
            name: os.environ.get(name)
            for name in ("XLA_FLAGS", "JAX_PLATFORMS", "JAX_ENABLE_X64", "OMP_NUM_THREADS")
        },
        "git": git_state(),
    }


def write_environment(workdir: str | Path) -> dict[str, Any]:
    """Writes `workdir/environment.json` and returns the record."""
    record = environment()
    path = Path(workdir) / ENVIRONMENT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def summary(record: dict[str, Any], with_commit: bool = True) -> str:
    """One line for a report header: device, CPU and ISA, jax version, XLA_FLAGS, commit."""
    dev = record.get("jax", {})
    cpu = record.get("cpu", {})
    git = record.get("git", {})
    flags = cpu.get("isa_flags")
    isa = "unknown ISA" if flags is None else (" ".join(flags) or "no listed ISA extensions")
    commit = git.get("commit")
    commit = "not a git checkout" if commit is None else commit[:12]
    if git.get("dirty"):
        commit += " (with uncommitted changes)"
    xla = (record.get("env") or {}).get("XLA_FLAGS") or "unset"
    line = (
        f"{dev.get('device_count')} x {dev.get('device_kind')} ({dev.get('backend')}); "
        f"CPU {cpu.get('model')}, {cpu.get('logical_cores')} logical cores, {isa}; "
        f"Python {record.get('python')}, jax {record.get('packages', {}).get('jax')}; "
        f"XLA_FLAGS {xla}"
    )
    return f"{line}; commit {commit}" if with_commit else line
