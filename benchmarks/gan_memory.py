"""Memory of the unrolled-GAN generator step against k, from XLA's analysis of the executable.

    python -m benchmarks.gan_memory [--ks 0,1,2,5,10,20,40] [--loop-max-k 10]
        [--json PATH] [--quick]

The step is `benchmarks.gan_unrolled`'s unrolled generator step (G 256-128-128-2,
D 2-128-128-1, batch 512, float32: the gradient w.r.t. G through k simulated
Adam updates of D, then G's Adam update, G's state donated), compiled for each
k and four ways:

- `loop`: the k updates as a Python loop unrolled at trace time (`use_scan=False`,
  the default, which the experiments use);
- `scan`: the k updates as a `lax.scan` (`use_scan=True`);
- `loop_remat`, `scan_remat`: the same with `remat=True`, each simulated update
  wrapped in `jax.checkpoint` (`genjax.gan.unrolled_discriminator`).

Nothing runs: the sizes come from `jax.jit(step).lower(...).compile().memory_analysis()`:
`temp` (XLA's temporary buffers, among them what the backward pass keeps of
the forward pass), `arguments` and `outputs`; `total` is their sum, the bytes
the step needs at once (G's state is donated, so `aliased` bytes of the
outputs reuse the arguments' buffers: `total` counts them twice). The
arguments grow with k too: they hold the k data and noise batches.

For each way the least-squares line of `total` against k gives the figures
`<way>_bytes_per_k` (its slope: bytes per unrolled step) and `<way>_r2` (its
R^2: 1 when memory grows exactly linearly in k). The trace-time loop's compile
time grows faster than linearly in k, so the loop ways stop at `--loop-max-k`.

On a CPU it compiles with the XLA option `xla_backend_optimization_level=0`
(LLVM's lowest level, which compiles faster): the buffers are sized by XLA's
graph passes, which the LLVM level does not change; the script checks this at
the smallest k > 0 of the Python loop and records the comparison
(`raw.backend_level_check`).
`--json PATH` writes the figures, every size and compile time, and the
environment (`benchmarks.common`). `--quick`: `benchmarks.gan_unrolled`'s quick
sizes, k in 0,1,2.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax

from benchmarks import common
from benchmarks import gan_unrolled as G

WAYS = {  # name: (use_scan, remat)
    "loop": (False, False),
    "scan": (True, False),
    "loop_remat": (False, True),
    "scan_remat": (True, True),
}
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def compiler_options(fast: bool = True) -> dict | None:
    """`FAST_COMPILE` on a CPU when `fast`, else None (XLA's defaults)."""
    return FAST_COMPILE if fast and jax.default_backend() == "cpu" else None


def step_memory(k: int, use_scan: bool, remat: bool, sizes, fast: bool = True) -> dict:
    """{'temp', 'arguments', 'outputs', 'aliased', 'total': bytes; 'compile_s'} of the step."""
    options = compiler_options(fast)
    generate, discriminate, args = G.unrolled_step_args(k, sizes)
    step = G.make_unrolled_step(generate, discriminate, use_scan, remat)
    start = time.perf_counter()
    compiled = jax.jit(step, donate_argnums=(0, 1)).lower(*args).compile(options)
    seconds = time.perf_counter() - start
    stats = compiled.memory_analysis()
    out = {
        "temp": stats.temp_size_in_bytes,
        "arguments": stats.argument_size_in_bytes,
        "outputs": stats.output_size_in_bytes,
        "aliased": stats.alias_size_in_bytes,
    }
    out["total"] = out["temp"] + out["arguments"] + out["outputs"]
    out["compile_s"] = seconds
    return out


def backend_level_check(k: int, sizes) -> dict:
    """The loop step's sizes at k compiled at LLVM level 0 and at XLA's default level."""
    fast = step_memory(k, False, False, sizes)
    default = step_memory(k, False, False, sizes, fast=False)
    keys = ("temp", "arguments", "outputs", "aliased")
    return {
        "k": k,
        "level_0": {key: fast[key] for key in keys},
        "default": {key: default[key] for key in keys},
        "equal": all(fast[key] == default[key] for key in keys),
    }


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", default=None, help="comma-separated k (0,1,2,5,10,20,40; 0,1,2)")
    parser.add_argument(
        "--loop-max-k", type=int, default=None, help="the loop ways' largest k (10; quick: 2)"
    )
    common.add_common_args(parser)
    args = parser.parse_args(argv)
    ks = args.ks or ("0,1,2" if args.quick else "0,1,2,5,10,20,40")
    try:
        args.ks = sorted({int(k) for k in ks.split(",")})
    except ValueError:
        parser.error(f"--ks must be comma-separated integers, got {ks!r}")
    if args.loop_max_k is None:
        args.loop_max_k = 2 if args.quick else 10
    if args.ks[0] < 0:
        parser.error(f"--ks must be >= 0, got {args.ks}")
    if len([k for k in args.ks if k <= args.loop_max_k]) < 2:
        parser.error(f"--ks needs two values <= --loop-max-k {args.loop_max_k}, got {args.ks}")
    common.check_common_args(parser, args)
    return args


def main(argv: list[str] | None = None) -> dict:
    args = _parse_args(argv)
    sizes = G.QUICK if args.quick else G.FULL
    rec = common.Recorder("gan_memory", {
        **dataclasses.asdict(sizes), "ks": args.ks, "loop_max_k": args.loop_max_k,
        "compiler_options": compiler_options(), "quick": args.quick,
    })  # fmt: skip
    print(f"devices: {jax.devices()}")
    check_k = min(k for k in args.ks if k > 0)
    rec.raw["backend_level_check"] = check = backend_level_check(check_k, sizes)
    print(f"k={check_k}: sizes at LLVM level 0 equal the default level's: {check['equal']}")
    mib = 2.0**20
    print("| way | k | temp MiB | arguments MiB | outputs MiB | total MiB | compile (s) |")
    print("|---|---|---|---|---|---|---|")
    memory = {}
    for way, (use_scan, remat) in WAYS.items():
        ks = [k for k in args.ks if use_scan or k <= args.loop_max_k]
        memory[way] = {}
        for k in ks:
            m = memory[way][str(k)] = step_memory(k, use_scan, remat, sizes)
            sizes_mib = " | ".join(
                f"{m[key] / mib:.2f}" for key in ("temp", "arguments", "outputs", "total")
            )
            print(f"| {way} | {k} | {sizes_mib} | {m['compile_s']:.2f} |", flush=True)
        fit = common.line_fit(ks, [memory[way][str(k)]["total"] for k in ks])
        temp_fit = common.line_fit(ks, [memory[way][str(k)]["temp"] for k in ks])
        rec.raw.setdefault("fits", {})[way] = {"total": fit, "temp": temp_fit}
        rec.figure(f"{way}_bytes_per_k", fit["slope"],
                   f"bytes per unrolled step: the slope of the least-squares line of temp + "
                   f"arguments + outputs against k ({way}); lower is better")  # fmt: skip
        rec.figure(f"{way}_r2", fit["r2"],
                   f"R^2 of that line ({way}); 1: memory grows exactly linearly in k")  # fmt: skip
        print(f"{way}: {fit['slope'] / mib:.3f} MiB per k (R^2 {fit['r2']:.4f}); temp alone "
              f"{temp_fit['slope'] / mib:.3f} MiB per k", flush=True)  # fmt: skip
    rec.raw["memory"] = memory
    return rec.write(args.json)


if __name__ == "__main__":
    main()
