"""What the genjax training loop costs over a bare loop around the same jitted step.

    python -m benchmarks.train_loop_overhead [--repeats 7] [--steps 300] [--json PATH] [--quick]

Both sides train the same MLP classifier on MNIST batches from the same
`batch_fn`; the peer is the minimal loop a user would write by hand
(`state, m = step(state, batch)` with no logging, no NaN checks, no
checkpoints). Runs are interleaved (A, B, A, B, ...) after a warm-up, and the
medians and their ratio are printed: quote the ratio, not the seconds, on a
shared machine. A third candidate runs the loop with checkpoints and
TensorBoard/JSONL logging switched on.

`--json PATH` writes the figures `genjax_over_bare` and `logged_over_bare`
(the genjax loop's time, without and with logs and checkpoints, / the bare
loop's time: 1 means no overhead, above 1 the genjax loop is slower), the
medians and the environment (`benchmarks.common`). `--quick`: MLP 784-16-10,
batch 16, 2 x 20 steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import tempfile

import jax
import jax.numpy as jnp
import optax

from benchmarks import common
from genjax import data, nn
from genjax import train as T


@dataclasses.dataclass(frozen=True)
class Sizes:
    hidden: tuple[int, ...] = (256, 256)
    batch: int = 128


FULL, QUICK = Sizes(), Sizes(hidden=(16,), batch=16)
BARE, PLAIN, LOGGED = "bare jitted loop", "genjax.train (no workdir)", "genjax.train (logs + ckpt)"


def setup(sizes: Sizes = FULL):
    mnist = data.load_mnist("train")
    model = nn.MLP(hidden=sizes.hidden, out=10)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 784)))

    def loss_fn(params, batch, key):
        del key
        logits = model.apply(params, batch["x"])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
        return loss, {"accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["y"])}

    opt = optax.adam(1e-3)
    batch_fn = data.make_batch_fn(
        {"x": mnist.flat(), "y": mnist.labels}, sizes.batch, jax.random.PRNGKey(1)
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


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="default 7 (quick: 2)")
    parser.add_argument("--steps", type=int, default=None, help="steps per run (300; 20)")
    common.add_common_args(parser)
    args = parser.parse_args(argv)
    common.fill(args, "repeats", 2, 7)
    common.fill(args, "steps", 20, 300)
    common.check_common_args(parser, args)
    return args


def main(argv: list[str] | None = None) -> dict:
    args = _parse_args(argv)
    sizes = QUICK if args.quick else FULL
    rec = common.Recorder("train_loop_overhead", {
        **dataclasses.asdict(sizes), "repeats": args.repeats, "steps": args.steps,
        "quick": args.quick,
    })  # fmt: skip
    logging.getLogger("absl").setLevel(logging.WARNING)
    params, opt, step, batch_fn = setup(sizes)
    n = args.steps
    candidates = {
        BARE: lambda: bare_loop(params, opt, step, batch_fn, n),
        PLAIN: lambda: genjax_loop(params, opt, step, batch_fn, n),
        LOGGED: lambda: genjax_loop(params, opt, step, batch_fn, n, tempfile.mkdtemp()),
    }
    for fn in candidates.values():  # warm-up: compile and fill caches
        fn()
    times = {name: [] for name in candidates}
    for _ in range(args.repeats):
        for name, fn in candidates.items():  # interleaved
            times[name].append(common.timed(fn))
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    base = medians[BARE]
    hidden = "-".join(str(h) for h in sizes.hidden)
    print(f"{n} steps, batch {sizes.batch}, MLP 784-{hidden}-10, {args.repeats} interleaved "
          "repeats")  # fmt: skip
    print(f"{'loop':<28} {'median s':>9} {'steps/s':>8} {'ratio':>6}")
    for name, med in medians.items():
        print(f"{name:<28} {med:9.3f} {n / med:8.0f} {med / base:6.2f}")
    rec.raw["median_s"] = medians
    rec.figure("genjax_over_bare", medians[PLAIN] / base,
               "genjax.train time (no workdir) / the bare jitted loop's time; 1: no overhead, "
               "> 1: the genjax loop is slower")  # fmt: skip
    rec.figure("logged_over_bare", medians[LOGGED] / base,
               "genjax.train time with JSONL + TensorBoard logs and a checkpoint every 100 "
               "steps / the bare jitted loop's time; > 1: the genjax loop is slower")  # fmt: skip
    return rec.write(args.json)


if __name__ == "__main__":
    main()
