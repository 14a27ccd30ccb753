"""Many runs (seeds, learning rates, clipping thresholds) trained as one compiled step.

Comparisons over seeds and settings train R small models of the same shape.
Compiling one step per run dominates on CPU, so `stack_runs` builds one
`TrainState` whose params, optimizer states and keys carry a leading run axis R,
and `make_multi_run_step` maps one run's step over that axis (`jax.vmap`, or
`lax.map`). The result follows `genjax.train`'s contract `step(state, batch) ->
(state, metrics)` (the loop's batch is ignored: each run draws its own data from
its key), so `genjax.train.train` jits, logs and checkpoints all R runs together.

Divergence, one rule: a run whose new params or metrics are not all finite
(`all_finite`) is marked in `MultiRunOptState.diverged` and frozen for good at
its last finite params and optimizer state. Metrics are means over the live
runs, plus `num_diverged`, so one exploding run neither poisons the others'
numbers nor stops the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from genjax.train.state import TrainState
from genjax.typing import Array, ArrayTree, Metrics

RunStep = Callable[..., tuple[TrainState, Metrics]]  # (state of one run[, run_arg]) -> ...
RUNS_AXES = ("vmap", "map")


class MultiRunOptState(NamedTuple):
    """A multi-run state's `opt_state`: inner: the runs' optimizer states [R, ...];
    diverged: bool [R], the runs frozen so far."""

    inner: Any
    diverged: Array


def all_finite(tree: ArrayTree) -> Array:
    """A scalar bool: every entry of every leaf of `tree` is finite (True for no leaves)."""
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        return jnp.array(True)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _num_runs(keys: Array) -> int:
    """R of a stack of keys: raw [R, 2] uint32 keys or typed [R] keys."""
    typed = jnp.issubdtype(keys.dtype, jax.dtypes.prng_key)
    if np.ndim(keys) != (1 if typed else 2) or np.shape(keys)[0] < 1:
        raise ValueError(f"keys must be R >= 1 PRNG keys ([R, 2] or typed [R]), got {keys.shape}")
    return int(np.shape(keys)[0])


def stack_runs(init_fn: Callable[..., TrainState], keys: Array, *init_args: Any) -> TrainState:
    """The `TrainState` of R runs: `init_fn(keys[r], *[a[r] for a in init_args])`, stacked.

    Args:
      init_fn: `(key, *args) -> TrainState` of one run; the run keeps the key it
        stores in its state (`state.key`) for its own data.
      keys: [R, 2] (or typed [R]) one key per run.
      *init_args: pytrees with leading axis R (e.g. per-run learning rates).

    Returns:
      A state with a scalar step, params and `MultiRunOptState(inner, diverged)`
      stacked over R, and the runs' keys [R].
    """
    runs = _num_runs(keys)
    for a in jax.tree_util.tree_leaves(init_args):
        if np.shape(a)[:1] != (runs,):
            raise ValueError(f"init_args need leading axis R = {runs}, got {np.shape(a)}")
    states = jax.vmap(init_fn)(keys, *init_args)
    opt_state = MultiRunOptState(states.opt_state, jnp.zeros((runs,), bool))
    return TrainState(jnp.zeros((), jnp.int32), states.params, opt_state, states.key)


def make_multi_run_step(
    run_step: RunStep, *, run_args: ArrayTree = None, runs_axis: str = "vmap"
) -> Callable[[TrainState, Any], tuple[TrainState, Metrics]]:
    """One step of every run of a `stack_runs` state; metrics are means over the live runs.

    Args:
      run_step: one run's `run_step(state) -> (state, metrics)`, or
        `run_step(state, run_arg)` with `run_args`; it draws its data from
        `state.key` and `state.step` (e.g. `fold_in(state.key, state.step)`).
      run_args: an optional pytree with leading axis R; run r's step gets its
        slice (e.g. a per-run clipping threshold), fixed for the whole run.
      runs_axis: 'vmap' batches the runs (batched matmuls); 'map' runs them one
        after another inside the one compiled step (`lax.map`): the same numbers,
        and on CPU, where small batched matmuls lower poorly, it can be faster.

    Returns:
      `step(state, batch) -> (state, metrics)` (the batch is ignored); the metrics
      are the runs' own, averaged over the live runs, and `num_diverged`.
    """
    if runs_axis not in RUNS_AXES:
        raise ValueError(f"runs_axis must be one of {RUNS_AXES}, got {runs_axis!r}")
    with_args = run_args is not None
    if with_args:
        run_args = jax.tree_util.tree_map(jnp.asarray, run_args)
        sizes = {np.shape(x)[:1] for x in jax.tree_util.tree_leaves(run_args)}
        if len(sizes) != 1 or () in sizes:
            raise ValueError(f"run_args leaves need one leading axis R, got sizes {sizes}")

    def one_run(params, inner, dead, key, arg, step):
        state = TrainState(step, params, inner, key)
        new, metrics = run_step(state, arg) if with_args else run_step(state)
        dead = dead | ~(all_finite(new.params) & all_finite(metrics))

        def keep(new_tree, old_tree):
            return jax.tree_util.tree_map(lambda a, b: jnp.where(dead, b, a), new_tree, old_tree)

        return keep(new.params, params), keep(new.opt_state, inner), dead, metrics

    def multi_step(state: TrainState, batch: Any) -> tuple[TrainState, Metrics]:
        del batch  # every run draws its own data
        inner, dead = state.opt_state
        args = run_args if with_args else jnp.zeros(dead.shape)
        runs = (state.params, inner, dead, state.key, args)
        if runs_axis == "vmap":
            params, inner, dead, metrics = jax.vmap(one_run, in_axes=(0, 0, 0, 0, 0, None))(
                *runs, state.step
            )
        else:
            params, inner, dead, metrics = jax.lax.map(lambda r: one_run(*r, state.step), runs)
        live = jnp.maximum(jnp.sum(~dead), 1)

        def live_mean(v):
            return jnp.sum(jnp.where(dead, 0.0, jnp.nan_to_num(v, posinf=0.0, neginf=0.0))) / live

        out = {name: live_mean(v) for name, v in metrics.items()}
        out["num_diverged"] = jnp.sum(dead).astype(jnp.float32)
        new_opt = MultiRunOptState(inner, dead)
        return TrainState(state.step + 1, params, new_opt, state.key), out

    return multi_step
