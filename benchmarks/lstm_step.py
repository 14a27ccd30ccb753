"""The LSTM training step: genjax's scan unroll vs flax nn.RNN vs torch.nn.LSTM; remat memory.

    python -m benchmarks.lstm_step [--repeats 7] [--steps 30] [--no-torch] [--torch-threads N]
        [--json PATH] [--quick]

The setting: a 1-layer LSTM, batch 32,
length 100, input 32, hidden 128, float32, CPU; the loss is the MSE of a linear
readout (hidden -> 1) of every step's output against fixed random targets; one
training step is forward + backward + Adam(1e-3), jitted once with the params
and optimizer state donated. All candidates start from the same weights (the
script prints their initial losses, which must agree):

- genjax: `genjax.rnn.cells.init_lstm` + `genjax.rnn.unroll('lstm', ...)`
  (a vmapped per-example step inside `lax.scan`), with `unroll` = 1, 4 and 8;
- genjax + remat: the same with the cell step wrapped in `jax.checkpoint`;
- hoisted: the input projection x @ W_x^T + b for all steps as one matmul before
  the scan, only h @ W_h^T inside it (unroll 1 and 8);
- concat: one matmul of concat([x, h]) with [W_x, W_h] inside the scan;
- genjax fused: `genjax.rnn.fused.lstm`, the same layer with a hand-written backward
  pass (one product per step in each loop, the weight gradients after the loop);
- flax: `nn.RNN(nn.OptimizedLSTMCell(128))`;
- torch (optional: `pip install genjax[bench]`): `torch.nn.LSTM` + `nn.Linear`
  (on the GPU when JAX runs on one: cuDNN);
- on a GPU, genjax's cuDNN path (`genjax.rnn.cudnn.stacked_lstm`).

Runs alternate between the candidates after a warm-up and the medians and their
ratios to the genjax step are printed: quote the ratios, not the milliseconds,
on a shared machine (where torch's OpenMP threads can stall each other: pass
`--torch-threads 1` there and say so). Also printed: the compile time
(lower + compile) of each JAX step; the memory (`memory_analysis()` of the
compiled step: temporaries, arguments, outputs) of a length-1,000 sequence's
step with and without rematerialisation, and that step's time; and where the time
goes: the forward pass alone, and the per-iteration cost of a 32x128 @ 128x512
matmul inside `lax.scan` against the same loop in torch.

`--json PATH` writes the figures `torch_over_default` (torch step time / the
step time of genjax's default, `genjax.rnn.unroll` with `unroll='auto'`: 1 on a
CPU, 8 on a GPU) and `torch_over_best` (torch step time / the fastest JAX
candidate's), both above 1 when JAX is faster, the medians and the environment
(`benchmarks.common`). `--quick`: batch 4, length 8, input 4, hidden 8, a
length-32 memory step, three candidates, 2 x 3 steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import statistics
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import common
from benchmarks.common import timed as _timed
from genjax.rnn import cells, cudnn, fused, unrolling

BATCH, LENGTH, INPUT, HIDDEN, OUT, LONG = 32, 100, 32, 128, 1, 1000
LR = 1e-3


@dataclasses.dataclass(frozen=True)
class Sizes:
    batch: int = BATCH
    length: int = LENGTH
    input: int = INPUT
    hidden: int = HIDDEN
    long: int = LONG  # the length of the memory report's step


FULL, QUICK = Sizes(), Sizes(batch=4, length=8, input=4, hidden=8, long=32)

REMAT_LSTM = cells.Cell(
    "lstm", cells.init_lstm, jax.checkpoint(cells.lstm_step), cells.lstm_initial_carry
)


# ----------------------------------------------------------------------------- models


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def init_params(key, input_dim: int = INPUT, hidden: int = HIDDEN, out: int = OUT):
    """{'lstm': genjax LSTM params (W_x [4H, D], W_h [4H, H], b [4H]), 'readout': {W, b}}."""
    k_lstm, k_out = jax.random.split(key)
    return {
        "lstm": cells.init_lstm(k_lstm, input_dim, hidden),
        "readout": {
            "W": jax.random.normal(k_out, (hidden, out)) / jnp.sqrt(hidden),
            "b": jnp.zeros((out,)),
        },
    }


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def make_data(key, batch: int = BATCH, length: int = LENGTH, input_dim: int = INPUT):
    """(xs [B, T, D], targets [B, T, OUT]), standard normal."""
    x_key, y_key = jax.random.split(key)
    return (
        jax.random.normal(x_key, (batch, length, input_dim)),
        jax.random.normal(y_key, (batch, length, OUT)),
    )


def mse(ys, readout, targets):
    pred = ys @ readout["W"] + readout["b"][None, None, :]  # explicit rank (no promotion)
    return jnp.mean((pred - targets) ** 2)


def genjax_loss(cell: cells.Cell | str = "lstm", unroll: int = 1):
    def loss(params, xs, targets):
        _, ys = unrolling.unroll(cell, params["lstm"], xs, unroll=unroll)
        return mse(ys, params["readout"], targets)

    return loss


def _gates_to_carry(pre, c):
    i, f, g, o = jnp.split(pre, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return h, c


def hoisted_loss(unroll: int = 1):
    """The input projection of all T steps as one matmul outside the scan."""

    def loss(params, xs, targets):
        p = params["lstm"]
        projected = jnp.einsum("btd,gd->tbg", xs, p["W_x"]) + p["b"][None, None, :]  # [T, B, 4H]
        zeros = jnp.zeros((xs.shape[0], p["W_h"].shape[1]), xs.dtype)

        def body(carry, xg):
            h, c = _gates_to_carry(xg + carry[0] @ p["W_h"].T, carry[1])
            return (h, c), h

        _, ys = jax.lax.scan(body, (zeros, zeros), projected, unroll=unroll)
        return mse(jnp.swapaxes(ys, 0, 1), params["readout"], targets)

    return loss


def fused_loss(params, xs, targets):
    """`genjax.rnn.fused.lstm`: the hand-written backward pass."""
    _, ys = fused.lstm(params["lstm"], xs)
    return mse(ys, params["readout"], targets)


def concat_loss(unroll: int = 1):
    """One matmul of concat([x_t, h]) with [W_x, W_h] inside the scan."""

    def loss(params, xs, targets):
        p = params["lstm"]
        w = jnp.concatenate([p["W_x"], p["W_h"]], axis=1).T  # [D + H, 4H]
        zeros = jnp.zeros((xs.shape[0], p["W_h"].shape[1]), xs.dtype)

        def body(carry, x):
            h, c = _gates_to_carry(
                jnp.concatenate([x, carry[0]], -1) @ w + p["b"][None, :], carry[1]
            )
            return (h, c), h

        _, ys = jax.lax.scan(body, (zeros, zeros), jnp.swapaxes(xs, 0, 1), unroll=unroll)
        return mse(jnp.swapaxes(ys, 0, 1), params["readout"], targets)

    return loss


def to_flax(lstm_params):
    """genjax LSTM params -> flax `LSTMCell`/`OptimizedLSTMCell` params (gates i, f, g, o)."""
    wx, wh, b = (np.split(np.asarray(lstm_params[k]), 4) for k in ("W_x", "W_h", "b"))
    out = {}
    for j, gate in enumerate("ifgo"):
        out[f"i{gate}"] = {"kernel": jnp.asarray(wx[j].T)}
        out[f"h{gate}"] = {"kernel": jnp.asarray(wh[j].T), "bias": jnp.asarray(b[j])}
    return {"cell": out}


def from_flax(flax_params):
    """The inverse of `to_flax` (e.g. for flax gradients)."""
    cell = flax_params["cell"]
    return {
        "W_x": jnp.concatenate([cell[f"i{g}"]["kernel"].T for g in "ifgo"], axis=0),
        "W_h": jnp.concatenate([cell[f"h{g}"]["kernel"].T for g in "ifgo"], axis=0),
        "b": jnp.concatenate([cell[f"h{g}"]["bias"] for g in "ifgo"], axis=0),
    }


def flax_loss(hidden: int = HIDDEN):
    model = nn.RNN(nn.OptimizedLSTMCell(hidden))

    def loss(params, xs, targets):
        ys = model.apply({"params": params["lstm"]}, xs)
        return mse(ys, params["readout"], targets)

    return loss


BASE = "genjax (unroll=1)"
FUSED = "genjax fused backward (genjax.rnn.fused)"


def default_name() -> str:
    """The candidate that is genjax's default: `unroll='auto'` on this backend."""
    return f"genjax (unroll={unrolling.resolve_unroll('auto')})"


def jax_variants(params, hidden: int = HIDDEN, names=None) -> dict:
    """{name: (loss(params, xs, targets), params)}: every JAX candidate from the same weights
    (only those in `names` when given)."""
    flax_params = {"lstm": to_flax(params["lstm"]), "readout": params["readout"]}
    every = {
        "genjax (unroll=1)": (genjax_loss(), params),
        "genjax (unroll=4)": (genjax_loss(unroll=4), params),
        "genjax (unroll=8)": (genjax_loss(unroll=8), params),
        "genjax + remat": (genjax_loss(REMAT_LSTM), params),
        "hoisted input proj (unroll=1)": (hoisted_loss(1), params),
        "hoisted input proj (unroll=8)": (hoisted_loss(8), params),
        "concat [x, h] matmul": (concat_loss(1), params),
        FUSED: (fused_loss, params),
        "flax nn.RNN(OptimizedLSTMCell)": (flax_loss(hidden), flax_params),
        **({"genjax cuDNN (jax.experimental.rnn)": (cudnn_loss, params)}
           if cudnn.available() else {}),
    }  # fmt: skip
    return every if names is None else {n: v for n, v in every.items() if n in names}


def cudnn_loss(params, xs, targets):
    """The GPU fast path, `genjax.rnn.cudnn.stacked_lstm` (GPU only)."""
    _, ys = cudnn.stacked_lstm([params["lstm"]], xs)
    return mse(ys, params["readout"], targets)


def make_step(loss_fn):
    opt = optax.adam(LR)

    def step(params, opt_state, xs, targets):
        loss, grads = jax.value_and_grad(loss_fn)(params, xs, targets)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step, opt


def compile_step(loss_fn, params, xs, targets):
    """(compiled donated step, its arguments, compile seconds)."""
    step, opt = make_step(loss_fn)
    params = jax.tree.map(jnp.copy, params)  # donated
    args = (params, opt.init(params), xs, targets)
    start = time.perf_counter()
    compiled = jax.jit(step, donate_argnums=(0, 1)).lower(*args).compile()
    return compiled, args, time.perf_counter() - start


def make_jax_runner(loss_fn, params, xs, targets):
    """(run(n), compile seconds, the loss at the initial params (from a first step))."""
    compiled, args, compile_s = compile_step(loss_fn, params, xs, targets)
    p, o, initial = compiled(*args)
    holder = [p, o]

    def run(n: int) -> None:
        p, o = holder
        for _ in range(n):
            p, o, loss = compiled(p, o, xs, targets)
        jax.block_until_ready(loss)
        holder[:] = [p, o]

    return run, compile_s, float(initial)


def make_torch_runner(torch, params, xs, targets):
    """(run(n), initial loss) of torch.nn.LSTM with the same weights (`torch`: the module, or
    None: returns None)."""
    if torch is None:
        return None
    p = {k: torch.from_numpy(np.array(v)) for k, v in params["lstm"].items()}
    lstm = torch.nn.LSTM(p["W_x"].shape[1], p["W_h"].shape[1], batch_first=True)
    readout = torch.nn.Linear(p["W_h"].shape[1], OUT)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(p["W_x"])  # torch's gate order is genjax's: i, f, g, o
        lstm.weight_hh_l0.copy_(p["W_h"])
        lstm.bias_ih_l0.copy_(p["b"])
        lstm.bias_hh_l0.zero_()
        readout.weight.copy_(torch.from_numpy(np.array(params["readout"]["W"]).T))
        readout.bias.copy_(torch.from_numpy(np.array(params["readout"]["b"])))
    device = "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"
    lstm, readout = lstm.to(device), readout.to(device)
    opt = torch.optim.Adam([*lstm.parameters(), *readout.parameters()], lr=LR)
    x = torch.from_numpy(np.array(xs)).to(device)
    y = torch.from_numpy(np.array(targets)).to(device)

    def loss():
        ys, _ = lstm(x)
        return ((readout(ys) - y) ** 2).mean()

    with torch.no_grad():
        initial = float(loss())

    def run(n: int) -> None:
        for _ in range(n):
            opt.zero_grad(set_to_none=True)
            value = loss()
            value.backward()
            opt.step()
        float(value.detach())

    return run, initial


# ----------------------------------------------------------------------------- extras


def memory_report(sizes: Sizes = FULL, repeats: int = 3) -> dict[str, dict[str, float]]:
    """{'no remat' | 'remat': bytes of the compiled step at T = `sizes.long`, and its ms}."""
    params = init_params(jax.random.PRNGKey(0), sizes.input, sizes.hidden)
    xs, targets = make_data(jax.random.PRNGKey(1), sizes.batch, sizes.long, sizes.input)
    out = {}
    for name, loss_fn in (("no remat", genjax_loss()), ("remat", genjax_loss(REMAT_LSTM))):
        compiled, args, compile_s = compile_step(loss_fn, params, xs, targets)
        stats = compiled.memory_analysis()
        p, o = args[:2]
        p, o, loss = compiled(p, o, xs, targets)  # warm-up
        jax.block_until_ready(loss)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            p, o, loss = compiled(p, o, xs, targets)
            jax.block_until_ready(loss)
            times.append(time.perf_counter() - start)
        out[name] = {
            "temp": stats.temp_size_in_bytes,
            "arguments": stats.argument_size_in_bytes,
            "outputs": stats.output_size_in_bytes,
            "aliased": stats.alias_size_in_bytes,
            "ms": 1e3 * statistics.median(times),
            "compile_s": compile_s,
        }
    return out


def scan_matmul_us(sizes: Sizes = FULL, repeats: int = 7) -> dict[str, float]:
    """Microseconds per iteration: a [B,H] @ [H,4H] matmul (+ tanh) in lax.scan, and
    an elementwise-only scan body (the loop's own cost)."""
    hidden, length = sizes.hidden, sizes.length
    w = jax.random.normal(jax.random.PRNGKey(0), (hidden, 4 * hidden)) / jnp.sqrt(hidden)
    h0 = jax.random.normal(jax.random.PRNGKey(1), (sizes.batch, hidden))

    @jax.jit
    def matmul_scan(h, w):
        return jax.lax.scan(lambda h, _: (jnp.tanh((h @ w)[:, :hidden]), None), h, None, length)[0]

    @jax.jit
    def elementwise_scan(h):
        return jax.lax.scan(lambda h, _: (jnp.tanh(h), None), h, None, length)[0]

    out = {}
    for name, fn in (
        ("matmul", lambda: matmul_scan(h0, w)),
        ("elementwise", lambda: elementwise_scan(h0)),
    ):
        fn().block_until_ready()
        times = [_timed(lambda f=fn: f().block_until_ready()) for _ in range(repeats)]
        out[name] = 1e6 * statistics.median(times) / length
    return out


def torch_matmul_us(torch, sizes: Sizes = FULL, repeats: int = 7) -> float:
    """Microseconds per iteration of the same matmul + tanh in a torch loop (no autograd)."""
    hidden = sizes.hidden
    w = torch.randn(hidden, 4 * hidden) / hidden**0.5
    h0 = torch.randn(sizes.batch, hidden)

    def loop():
        h = h0
        with torch.no_grad():
            for _ in range(sizes.length):
                h = torch.tanh((h @ w)[:, :hidden])
        return h

    loop()
    return 1e6 * statistics.median(_timed(loop) for _ in range(repeats)) / sizes.length


# ----------------------------------------------------------------------------- main

TORCH = "torch.nn.LSTM"
QUICK_CANDIDATES = (BASE, FUSED)


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="default 7 (quick: 2)")
    parser.add_argument("--steps", type=int, default=None, help="steps per timed run (30; 3)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch peer")
    common.add_common_args(parser)
    args = parser.parse_args(argv)
    common.fill(args, "repeats", 2, 7)
    common.fill(args, "steps", 3, 30)
    common.check_common_args(parser, args)
    return args


def measure_steps(args, sizes: Sizes, torch):
    """({name: ms per step}, {name: compile s}, {name: initial loss}) of every candidate,
    timed in interleaved rounds, and the (loss, params) of the base candidate."""
    params = init_params(jax.random.PRNGKey(0), sizes.input, sizes.hidden)
    xs, targets = make_data(jax.random.PRNGKey(1), sizes.batch, sizes.length, sizes.input)
    names = {*QUICK_CANDIDATES, default_name()} if args.quick else None
    variants = jax_variants(params, sizes.hidden, names)
    runners, compile_s, initial = {}, {}, {}
    for name, (fn, p) in variants.items():
        runners[name], compile_s[name], initial[name] = make_jax_runner(fn, p, xs, targets)
        print(f"  compiled {name}: {compile_s[name]:.2f} s", flush=True)
    peer = make_torch_runner(torch, params, xs, targets)
    if peer is not None:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
        runners[TORCH], initial[TORCH] = peer
    seconds = common.interleaved(runners, args.repeats, args.steps)
    ms = {name: 1e3 * value for name, value in seconds.items()}
    return ms, compile_s, initial, variants[BASE], (xs, targets)


def _step_lines(args, sizes: Sizes, ms, compile_s, initial) -> list[str]:
    spread = max(abs(v - initial[BASE]) for v in initial.values())
    lines = [f"initial losses: {initial[BASE]:.6f} (max difference between candidates "
             f"{spread:.1e})"]  # fmt: skip
    lines += ["", f"## LSTM training step (B={sizes.batch}, T={sizes.length}, D={sizes.input}, "
              f"H={sizes.hidden}, float32)"]  # fmt: skip
    lines += ["", f"median of {args.repeats} interleaved runs x {args.steps} steps", ""]
    lines += [f"| candidate | ms per step | ratio to {BASE} | compile (s) |",
              "|---|---|---|---|"]  # fmt: skip
    for name, value in ms.items():
        comp = f"{compile_s[name]:.2f}" if name in compile_s else "-"
        lines.append(f"| {name} | {value:.2f} | {value / ms[BASE]:.2f} | {comp} |")
    return lines


def _extra_lines(sizes: Sizes, forward_ms, base_ms, micro, torch_us, memory) -> list[str]:
    h = sizes.hidden
    lines = ["", "## Where the time goes", ""]
    lines += [f"- genjax forward pass alone: {forward_ms:.2f} ms "
              f"({forward_ms / base_ms:.0%} of the training step)"]  # fmt: skip
    lines += [f"- lax.scan of {sizes.length} x ([{sizes.batch},{h}] @ [{h},{4 * h}] + tanh): "
              f"{micro['matmul']:.1f} us per iteration; elementwise-only body: "
              f"{micro['elementwise']:.1f} us"]  # fmt: skip
    if torch_us is not None:
        lines.append(f"- the same matmul + tanh in a torch loop: {torch_us:.1f} us per iteration")
    lines += ["", f"## Length-{sizes.long} step, genjax, with and without jax.checkpoint on the "
              "cell", ""]  # fmt: skip
    lines += ["| | temp MiB | arguments MiB | outputs MiB | ms per step | compile (s) |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    mib = 2.0**20
    for name, m in memory.items():
        sizes_mib = " | ".join(f"{m[key] / mib:.2f}" for key in ("temp", "arguments", "outputs"))
        lines.append(f"| {name} | {sizes_mib} | {m['ms']:.1f} | {m['compile_s']:.2f} |")
    saved = memory["no remat"]["temp"] / max(memory["remat"]["temp"], 1)
    cost = memory["remat"]["ms"] / memory["no remat"]["ms"]
    lines += ["", f"remat: {saved:.2f}x less temporary memory for {cost:.2f}x the step time"]
    return lines


def _add_figures(rec: common.Recorder, ms: dict[str, float]) -> None:
    default = default_name()
    best = min((n for n in ms if n != TORCH), key=ms.get)
    rec.raw.update(default_candidate=default, best_candidate=best)
    if TORCH not in ms:
        return
    rec.figure("torch_over_default", ms[TORCH] / ms[default],
               f"torch.nn.LSTM step time / the step time of genjax's default ({default}: "
               "genjax.rnn.unroll with unroll='auto'); > 1: JAX is faster")  # fmt: skip
    rec.figure("torch_over_best", ms[TORCH] / ms[best],
               f"torch.nn.LSTM step time / the fastest JAX candidate's ({best}); > 1: JAX is "
               "faster")  # fmt: skip
    print(f"\ntorch / {default}: {ms[TORCH] / ms[default]:.2f}; torch / best JAX ({best}): "
          f"{ms[TORCH] / ms[best]:.2f} (> 1: JAX faster)")  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    args = _parse_args(argv)
    sizes = QUICK if args.quick else FULL
    rec = common.Recorder("lstm_step", {
        **dataclasses.asdict(sizes), "repeats": args.repeats, "steps": args.steps,
        "torch": not args.no_torch, "quick": args.quick,
    })  # fmt: skip
    torch = None if args.no_torch else common.import_torch(args.torch_threads)
    if torch is None and not args.no_torch:
        print("PyTorch not installed (pip install genjax[bench]): no comparison")
    print(f"devices: {jax.devices()}")
    ms, compile_s, initial, (base_loss, base_params), (xs, targets) = measure_steps(
        args, sizes, torch
    )
    forward = jax.jit(base_loss)
    forward(base_params, xs, targets).block_until_ready()
    fwd_times = [
        _timed(lambda: forward(base_params, xs, targets).block_until_ready())
        for _ in range(args.repeats * 3)
    ]
    forward_ms = 1e3 * statistics.median(fwd_times)
    micro = scan_matmul_us(sizes, repeats=args.repeats)
    torch_us = None if TORCH not in ms else torch_matmul_us(torch, sizes, args.repeats)
    memory = memory_report(sizes, repeats=max(1, min(args.repeats, 3)))
    lines = _step_lines(args, sizes, ms, compile_s, initial)
    print("\n".join(lines + _extra_lines(sizes, forward_ms, ms[BASE], micro, torch_us, memory)))
    rec.raw.update(ms=ms, compile_s=compile_s, initial_loss=initial, forward_ms=forward_ms,
                   scan_us_per_iteration=micro, torch_matmul_us=torch_us,
                   memory_long=memory)  # fmt: skip
    _add_figures(rec, ms)
    return rec.write(args.json)


if __name__ == "__main__":
    main()
