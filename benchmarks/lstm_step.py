"""The LSTM training step: genjax's scan unroll vs flax nn.RNN vs torch.nn.LSTM; remat memory.

    python -m benchmarks.lstm_step [--repeats 7] [--steps 30] [--no-torch] [--torch-threads N]

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
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from genjax.rnn import cells, cudnn, fused, unrolling

BATCH, LENGTH, INPUT, HIDDEN, OUT, LONG = 32, 100, 32, 128, 1, 1000
LR = 1e-3

REMAT_LSTM = cells.Cell(
    "lstm", cells.init_lstm, jax.checkpoint(cells.lstm_step), cells.lstm_initial_carry
)


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


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


def jax_variants(params, hidden: int = HIDDEN) -> dict:
    """{name: (loss(params, xs, targets), params)}: every JAX candidate from the same weights."""
    flax_params = {"lstm": to_flax(params["lstm"]), "readout": params["readout"]}
    return {
        "genjax (unroll=1)": (genjax_loss(), params),
        "genjax (unroll=4)": (genjax_loss(unroll=4), params),
        "genjax (unroll=8)": (genjax_loss(unroll=8), params),
        "genjax + remat": (genjax_loss(REMAT_LSTM), params),
        "hoisted input proj (unroll=1)": (hoisted_loss(1), params),
        "hoisted input proj (unroll=8)": (hoisted_loss(8), params),
        "concat [x, h] matmul": (concat_loss(1), params),
        "genjax fused backward (genjax.rnn.fused)": (fused_loss, params),
        "flax nn.RNN(OptimizedLSTMCell)": (flax_loss(hidden), flax_params),
        **({"genjax cuDNN (jax.experimental.rnn)": (cudnn_loss, params)}
           if cudnn.available() else {}),
    }  # fmt: skip


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


def make_torch_runner(params, xs, targets):
    """(run(n), initial loss) of torch.nn.LSTM with the same weights, or None without torch."""
    try:
        import torch
    except ImportError:
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


def memory_report(length: int = LONG, repeats: int = 3) -> dict[str, dict[str, float]]:
    """{'no remat' | 'remat': bytes of the compiled step at T = `length`, and its ms}."""
    params = init_params(jax.random.PRNGKey(0))
    xs, targets = make_data(jax.random.PRNGKey(1), length=length)
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


def scan_matmul_us(length: int = LENGTH, repeats: int = 7) -> dict[str, float]:
    """Microseconds per iteration: a [32,128] @ [128,512] matmul (+ tanh) in lax.scan, and
    an elementwise-only scan body (the loop's own cost)."""
    w = jax.random.normal(jax.random.PRNGKey(0), (HIDDEN, 4 * HIDDEN)) / jnp.sqrt(HIDDEN)
    h0 = jax.random.normal(jax.random.PRNGKey(1), (BATCH, HIDDEN))

    @jax.jit
    def matmul_scan(h, w):
        return jax.lax.scan(lambda h, _: (jnp.tanh((h @ w)[:, :HIDDEN]), None), h, None, length)[0]

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


def torch_matmul_us(length: int = LENGTH, repeats: int = 7) -> float | None:
    """Microseconds per iteration of the same matmul + tanh in a torch loop (no autograd)."""
    try:
        import torch
    except ImportError:
        return None
    w = torch.randn(HIDDEN, 4 * HIDDEN) / HIDDEN**0.5
    h0 = torch.randn(BATCH, HIDDEN)

    def loop():
        h = h0
        with torch.no_grad():
            for _ in range(length):
                h = torch.tanh((h @ w)[:, :HIDDEN])
        return h

    loop()
    return 1e6 * statistics.median(_timed(loop) for _ in range(repeats)) / length


# ----------------------------------------------------------------------------- main


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30, help="steps per timed run")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch peer")
    parser.add_argument(
        "--torch-threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)"
    )
    return parser.parse_args(argv)


def main():
    args = _parse_args()
    print(f"devices: {jax.devices()}")
    params = init_params(jax.random.PRNGKey(0))
    xs, targets = make_data(jax.random.PRNGKey(1))
    variants = jax_variants(params)
    base_name = "genjax (unroll=1)"
    runners, compile_s, initial = {}, {}, {}
    for name, (fn, p) in variants.items():
        runners[name], compile_s[name], initial[name] = make_jax_runner(fn, p, xs, targets)
        print(f"  compiled {name}: {compile_s[name]:.2f} s", flush=True)
    torch_name = "torch.nn.LSTM"
    if not args.no_torch:
        peer = make_torch_runner(params, xs, targets)
        if peer is None:
            print("PyTorch not installed (pip install genjax[bench]): no comparison")
        else:
            import torch

            if args.torch_threads:
                torch.set_num_threads(args.torch_threads)
            print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
            runners[torch_name], initial[torch_name] = peer
    spread = max(abs(v - initial[base_name]) for v in initial.values())
    print(f"initial losses: {initial[base_name]:.6f} (max difference between candidates "
          f"{spread:.1e})")  # fmt: skip

    for run in runners.values():
        run(2)  # warm-up
    times = {name: [] for name in runners}
    for _ in range(args.repeats):
        for name, run in runners.items():  # interleaved
            times[name].append(_timed(run, args.steps))
    ms = {name: 1e3 * statistics.median(ts) / args.steps for name, ts in times.items()}

    base_loss, base_params = variants[base_name]
    forward = jax.jit(base_loss)
    forward(base_params, xs, targets).block_until_ready()
    fwd_times = [
        _timed(lambda: forward(base_params, xs, targets).block_until_ready())
        for _ in range(args.repeats * 3)
    ]
    forward_ms = 1e3 * statistics.median(fwd_times)
    micro = scan_matmul_us(repeats=args.repeats)
    torch_us = None if torch_name not in runners else torch_matmul_us(repeats=args.repeats)
    memory = memory_report(repeats=max(1, min(args.repeats, 3)))

    lines = ["", f"## LSTM training step (B={BATCH}, T={LENGTH}, D={INPUT}, H={HIDDEN}, float32)"]
    lines += ["", f"median of {args.repeats} interleaved runs x {args.steps} steps", ""]
    lines += ["| candidate | ms per step | ratio to genjax (unroll=1) | compile (s) |",
              "|---|---|---|---|"]  # fmt: skip
    for name, value in ms.items():
        comp = f"{compile_s[name]:.2f}" if name in compile_s else "-"
        lines.append(f"| {name} | {value:.2f} | {value / ms[base_name]:.2f} | {comp} |")
    if torch_name in ms:
        best = min((n for n in ms if n != torch_name), key=ms.get)
        lines += ["", f"torch / genjax (unroll=1): {ms[torch_name] / ms[base_name]:.2f}; "
                  f"torch / best JAX ({best}): {ms[torch_name] / ms[best]:.2f} "
                  "(> 1: JAX faster)"]  # fmt: skip
    lines += ["", "## Where the time goes", ""]
    lines += [f"- genjax forward pass alone: {forward_ms:.2f} ms "
              f"({forward_ms / ms[base_name]:.0%} of the training step)"]  # fmt: skip
    lines += [f"- lax.scan of {LENGTH} x ([32,128] @ [128,512] + tanh): {micro['matmul']:.1f} us "
              f"per iteration; elementwise-only body: {micro['elementwise']:.1f} us"]  # fmt: skip
    if torch_us is not None:
        lines.append(f"- the same matmul + tanh in a torch loop: {torch_us:.1f} us per iteration")
    lines += ["", f"## Length-{LONG} step, genjax, with and without jax.checkpoint on the cell", ""]
    lines += ["| | temp MiB | arguments MiB | outputs MiB | ms per step | compile (s) |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    mib = 2.0**20
    for name, m in memory.items():
        sizes = " | ".join(f"{m[key] / mib:.2f}" for key in ("temp", "arguments", "outputs"))
        lines.append(f"| {name} | {sizes} | {m['ms']:.1f} | {m['compile_s']:.2f} |")
    saved = memory["no remat"]["temp"] / max(memory["remat"]["temp"], 1)
    cost = memory["remat"]["ms"] / memory["no remat"]["ms"]
    lines += ["", f"remat: {saved:.2f}x less temporary memory for {cost:.2f}x the step time"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
