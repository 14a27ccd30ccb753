"""What the genjax training loop costs over a bare loop around the same jitted step.

    python -m benchmarks.train_loop_overhead [--repeats 7] [--steps 300]

Both sides train the same MLP classifier on MNIST batches from the same
`batch_fn`; the peer is the minimal loop a user would write by hand
(`state, m = step(state, batch)` with no logging, no NaN checks, no
checkpoints). Runs are interleaved (A, B, A, B, ...) after a warm-up, and the
medians and their ratio are printed: quote the ratio, not the seconds, on a
shared machine. A second pair measures the loop with checkpoints and
TensorBoard/JSONL logging switched on.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp
import optax

from genjax import data, nn
from genjax import train as T


def setup():
    mnist = data.load_mnist("train")
    model = nn.MLP(hidden=(256, 256), out=10)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 784)))

    def loss_fn(params, batch, key):
        del key
        logits = model.apply(params, batch["x"])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
        return loss, {"accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["y"])}

    opt = optax.adam(1e-3)
    batch_fn = data.make_batch_fn(
        {"x": mnist.flat(), "y": mnist.labels}, 128, jax.random.PRNGKey(1)
    )
    step = T.make_train_step(loss_fn, opt)
    return params, opt, step, batch_fn


def bare_loop(params, opt, step, batch_fn, num_steps):
    jitted = jax.jit(step, donate_argnums=(0,))
    params = jax.tree.map(jnp.copy, params)  # the step donates the state it is given
    state = T.create_train_state(params, opt, jax.random.PRNGKey(2))
    for s in range(num_steps):
        state, _ = jitted(state, batch_fn(s))
    jax.block_until_ready(state)


def genjax_loop(params, opt, step, batch_fn, num_steps, workdir=None):
    state = T.create_train_state(params, opt, jax.random.PRNGKey(2))
    result = T.train(
        state,
        step,
        batch_fn,
        num_steps,
        workdir=workdir,
        log_every=50,
        checkpoint_every=100 if workdir else None,
        progress=False,
    )
    jax.block_until_ready(result.state)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    logging.getLogger("absl").setLevel(logging.WARNING)
    params, opt, step, batch_fn = setup()
    n = args.steps
    candidates = {
        "bare jitted loop": lambda: bare_loop(params, opt, step, batch_fn, n),
        "genjax.train (no workdir)": lambda: genjax_loop(params, opt, step, batch_fn, n),
        "genjax.train (logs + ckpt)": lambda: genjax_loop(
            params, opt, step, batch_fn, n, tempfile.mkdtemp()
        ),
    }
    for fn in candidates.values():  # warm-up: compile and fill caches
        fn()
    times = {name: [] for name in candidates}
    for _ in range(args.repeats):
        for name, fn in candidates.items():  # interleaved
            times[name].append(timed(fn))
    base = statistics.median(times["bare jitted loop"])
    print(f"{n} steps, batch 128, MLP 784-256-256-10, {args.repeats} interleaved repeats")
    print(f"{'loop':<28} {'median s':>9} {'steps/s':>8} {'ratio':>6}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<28} {med:9.3f} {n / med:8.0f} {med / base:6.2f}")


if __name__ == "__main__":
    main()
