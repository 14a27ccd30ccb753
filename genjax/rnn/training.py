"""Many training runs in one compiled step: seeds and clipping settings vmapped together.

Comparisons such as "with and without clipping, over several seeds" (SEED_NOTES
3.4-3.6) train R small networks of the same shape. Compiling one step per run
dominates on CPU, so `make_multi_run_step` stacks the runs' params along a
leading axis and `vmap`s one update over them. Each run r draws its batch at
step s from `batch_fn(fold_in(run_keys[r], s))`, clips its gradient to global
norm `max_norms[r]` (inf: no clipping; Pascanu et al. 2013), and applies
`optimizer`. A run whose loss or new params are not finite is frozen at its last
finite params and flagged in `MultiRunOptState.diverged`, so one exploding run
neither poisons the others nor stops the loop (3.4 counts such runs).

The step follows `genjax.train`'s contract `train_step(state, batch) -> (state,
metrics)` (the loop's batch is ignored: each run makes its own), so
`genjax.train.train` jits, logs and checkpoints it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from genjax.train import TrainState
from genjax.typing import Array, Params, PRNGKey


class MultiRunOptState(NamedTuple):
    """inner: the optimizer state, stacked over runs; diverged: bool [R]."""

    inner: Any
    diverged: Array


def _all_finite(tree: Any) -> Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def init_multi_run_state(
    init_fn: Callable[[PRNGKey], Params],
    optimizer: optax.GradientTransformation,
    run_keys: Array,
    key: PRNGKey,
) -> TrainState:
    """A TrainState whose params [R, ...] are `init_fn(run_keys[r])` for each run r.

    Args:
      init_fn: key -> params of one run.
      optimizer: the optimizer every run uses (clipping is separate, see module doc).
      run_keys: [R, 2] one PRNG key per run (initialisation here, batches in the step).
      key: stored in the state (unused by the step).
    """
    if run_keys.ndim != 2 or run_keys.shape[0] < 1:
        raise ValueError(f"run_keys must be [R, 2] keys with R >= 1, got {run_keys.shape}")
    params = jax.vmap(init_fn)(run_keys)
    runs = run_keys.shape[0]
    opt_state = MultiRunOptState(jax.vmap(optimizer.init)(params), jnp.zeros((runs,), bool))
    return TrainState(jnp.zeros((), jnp.int32), params, opt_state, key)


def make_multi_run_step(
    loss_fn: Callable[[Params, Any], Array],
    optimizer: optax.GradientTransformation,
    batch_fn: Callable[[PRNGKey], Any],
    run_keys: Array,
    max_norms: Sequence[float] | Array,
    run_options: Any = None,
) -> Callable[[TrainState, Any], tuple[TrainState, dict[str, Array]]]:
    """`train_step(state, _) -> (state, metrics)` updating all R runs at once.

    Args:
      loss_fn: (params of one run, batch) -> scalar loss.
      optimizer: applied after clipping.
      batch_fn: key -> batch, or (key, option) -> batch with `run_options` (pure).
      run_keys: [R, 2] per-run keys; run r's batch at step s uses fold_in(run_keys[r], s).
      max_norms: [R] clipping thresholds by global norm (inf: no clipping).
      run_options: optional pytree with leading axis R; run r's batches come from
        batch_fn(key, option_r), so runs on different data distributions (e.g. a task
        variant chosen with `jnp.where`) share the compiled step.

    Returns:
      The step; metrics: 'loss' (mean over live runs) and 'num_diverged'.
    """
    max_norms = jnp.asarray(max_norms, jnp.float32)
    if max_norms.shape != run_keys.shape[:1]:
        raise ValueError(
            f"max_norms must have one entry per run ({run_keys.shape[0]}), got {max_norms.shape}"
        )
    if not bool(jnp.all(max_norms > 0)):
        raise ValueError(f"max_norms must be positive (inf: no clipping), got {max_norms}")

    if run_options is not None:
        run_options = jax.tree_util.tree_map(jnp.asarray, run_options)
        sizes = {x.shape[0] if x.ndim else None for x in jax.tree_util.tree_leaves(run_options)}
        if sizes != {run_keys.shape[0]}:
            raise ValueError(
                f"run_options leaves must have leading axis R = {run_keys.shape[0]}, got {sizes}"
            )
    options = jnp.zeros(run_keys.shape[:1]) if run_options is None else run_options

    def one_run(params, inner, dead, max_norm, run_key, option, step):
        key = jax.random.fold_in(run_key, step)
        batch = batch_fn(key) if run_options is None else batch_fn(key, option)
        loss, grads = jax.value_and_grad(loss_fn)(params, batch)
        grads, _ = optax.clip_by_global_norm(max_norm).update(grads, optax.EmptyState())
        updates, new_inner = optimizer.update(grads, inner, params)
        new_params = optax.apply_updates(params, updates)
        dead = dead | ~(jnp.isfinite(loss) & _all_finite(new_params))

        def keep(new, old):
            return jax.tree_util.tree_map(lambda a, b: jnp.where(dead, b, a), new, old)

        return keep(new_params, params), keep(new_inner, inner), dead, loss

    def train_step(state: TrainState, batch: Any) -> tuple[TrainState, dict[str, Array]]:
        del batch  # each run draws its own
        inner, dead = state.opt_state
        params, inner, dead, losses = jax.vmap(one_run, in_axes=(0, 0, 0, 0, 0, 0, None))(
            state.params, inner, dead, max_norms, run_keys, options, state.step
        )
        live = jnp.where(dead, 0.0, jnp.nan_to_num(losses, nan=0.0, posinf=0.0, neginf=0.0))
        metrics = {
            "loss": jnp.sum(live) / jnp.maximum(jnp.sum(~dead), 1),
            "num_diverged": jnp.sum(dead).astype(jnp.float32),
        }
        new_state = TrainState(state.step + 1, params, MultiRunOptState(inner, dead), state.key)
        return new_state, metrics

    return train_step


def evaluate_runs(loss_fn: Callable[[Params, Any], Array], params: Params, batch: Any) -> Array:
    """[R] losses of the stacked runs' params [R, ...] on one shared batch."""
    return jax.jit(jax.vmap(loss_fn, in_axes=(0, None)))(params, batch)
