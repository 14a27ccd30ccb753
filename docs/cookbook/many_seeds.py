"""Many seeds (and settings) in one vmapped, compiled run.

    python docs/cookbook/many_seeds.py

Eight LSTMs learn the adding problem at once: four seeds without gradient
clipping and the same four seeds with clipping at global norm 1. A run is an
ordinary `TrainState` and an ordinary step function; `train.stack_runs` stacks
the runs' states along a leading axis and `train.make_multi_run_step` maps one
run's step over it (`jax.vmap`), so the step compiles once, not eight times.
Each run draws its own batches from its own key, and a run whose loss or
parameters stop being finite is frozen and counted, without stopping the others.
"""

import jax
import jax.numpy as jnp
import optax

from genjax import rnn, train

SEEDS, LENGTH, NUM_STEPS = 4, 20, 300
run_keys = jnp.concatenate([jax.random.split(jax.random.PRNGKey(0), SEEDS)] * 2)  # [8, 2]
max_norms = jnp.array([jnp.inf] * SEEDS + [1.0] * SEEDS)  # one setting per run; inf: no clipping
opt = optax.adam(3e-3)


def loss_fn(params, batch):  # one run's loss on one batch
    pred = rnn.many_to_one("lstm", params, batch.inputs)[:, 0]
    return jnp.mean((pred - batch.targets) ** 2)


def init_run(key):  # one run's state; it keeps its key for its own data
    init_key, data_key = jax.random.split(key)
    params = rnn.init_many_to_one(init_key, "lstm", 2, 16, 1)
    return train.create_train_state(params, opt, data_key)


def run_step(state, max_norm):  # one run's step, with its own setting
    batch = rnn.tasks.adding_batch(jax.random.fold_in(state.key, state.step), 32, LENGTH)
    loss, grads = jax.value_and_grad(loss_fn)(state.params, batch)
    grads, _ = optax.clip_by_global_norm(max_norm).update(grads, optax.EmptyState())
    updates, opt_state = opt.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return train.TrainState(state.step + 1, params, opt_state, state.key), {"loss": loss}


state = train.stack_runs(init_run, run_keys)
step = train.make_multi_run_step(run_step, run_args=max_norms)
# The step draws its own batches, so the loop's batch_fn returns nothing.
result = train.train(state, step, lambda s: None, NUM_STEPS, log_every=100, progress=False)

test = rnn.tasks.adding_batch(jax.random.PRNGKey(2), 1000, LENGTH)
mse = jax.jit(jax.vmap(loss_fn, in_axes=(0, None)))(result.state.params, test)  # [8]
diverged = result.state.opt_state.diverged  # [8] bool
for r in range(2 * SEEDS):
    clip = "none" if jnp.isinf(max_norms[r]) else f"{float(max_norms[r]):g}"
    print(
        f"run {r}: seed {r % SEEDS}, clip {clip:>4}: test MSE {float(mse[r]):.4f}"
        f"{' (diverged)' if diverged[r] else ''}"
    )
print("baseline (predict 1.0):", f"{float(jnp.mean((test.targets - 1.0) ** 2)):.4f}")
assert mse.shape == (2 * SEEDS,) and bool(jnp.all(jnp.isfinite(mse)))
assert float(jnp.median(mse)) < 0.1  # the runs learn
