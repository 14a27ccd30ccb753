"""Many RNN training runs in one compiled step: seeds and clipping settings vmapped together.

Comparisons such as "with and without clipping, over several seeds" (claims 3.4-3.6
in docs/claims.md) train R small networks of the same shape. `make_multi_run_step` builds
one run's step from a loss and hands it to `genjax.train.make_multi_run_step`,
the engine every multi-run trainer shares: run r draws its batch at step s from
`batch_fn(fold_in(run_keys[r], s))`, clips its gradient to global norm
`max_norms[r]` (inf: no clipping; Pascanu et al. 2013), and applies `optimizer`;
a run whose loss or new params are not finite is frozen at its last finite
params and flagged in `MultiRunOptState.diverged` (3.4 counts such runs).
With a `mesh` (`genjax.train.runs_mesh()`) given to both functions, the runs are
split over its devices (`genjax.train.shard_runs`); read them back with
`genjax.train.gather_runs(tree, R)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from genjax.train import TrainState, multirun
from genjax.train.multirun import MultiRunOptState
from genjax.typing import Array, Params, PRNGKey

__all__ = ["MultiRunOptState", "evaluate_runs", "init_multi_run_state", "make_multi_run_step"]


def init_multi_run_state(
    init_fn: Callable[[PRNGKey], Params],
    optimizer: optax.GradientTransformation,
    run_keys: Array,
    mesh: Mesh | None = None,
) -> TrainState:
    """A TrainState whose params [R, ...] are `init_fn(run_keys[r])` for each run r.

    Args:
      init_fn: key -> params of one run.
      optimizer: the optimizer every run uses (clipping is separate, see module doc).
      run_keys: [R, 2] one PRNG key per run (initialisation here, batches in the step);
        the state keeps them as its keys.
      mesh: split the runs over this mesh's runs axis (`genjax.train.shard_runs`, which
        pads R to a multiple of its devices); None: one device.
    """

    def init_run(run_key: PRNGKey) -> TrainState:
        params = init_fn(run_key)
        return TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params), run_key)

    return multirun.shard_runs(multirun.stack_runs(init_run, run_keys), mesh)


def make_multi_run_step(
    loss_fn: Callable[[Params, Any], Array],
    optimizer: optax.GradientTransformation,
    batch_fn: Callable[[PRNGKey], Any],
    run_keys: Array,
    max_norms: Sequence[float] | Array,
    run_options: Any = None,
    mesh: Mesh | None = None,
) -> Callable[[TrainState, Any], tuple[TrainState, dict[str, Array]]]:
    """`train_step(state, _) -> (state, metrics)` updating all R runs at once.

    Args:
      loss_fn: (params of one run, batch) -> scalar loss.
      optimizer: applied after clipping.
      batch_fn: key -> batch, or (key, option) -> batch with `run_options` (pure).
      run_keys: [R, 2] the keys of `init_multi_run_state`; run r's batch at step s
        uses fold_in(run_keys[r], s).
      max_norms: [R] clipping thresholds by global norm (inf: no clipping).
      run_options: optional pytree with leading axis R; run r's batches come from
        batch_fn(key, option_r), so runs on different data distributions (e.g. a task
        variant chosen with `jnp.where`) share the compiled step.
      mesh: the mesh the state was placed on by `init_multi_run_state` (None: one device).

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

    def run_step(state: TrainState, run_arg: tuple[Array, Any]) -> tuple[TrainState, dict]:
        max_norm, option = run_arg
        key = jax.random.fold_in(state.key, state.step)
        batch = batch_fn(key) if run_options is None else batch_fn(key, option)
        loss, grads = jax.value_and_grad(loss_fn)(state.params, batch)
        grads, _ = optax.clip_by_global_norm(max_norm).update(grads, optax.EmptyState())
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(state.step + 1, params, opt_state, state.key), {"loss": loss}

    options = jnp.zeros(run_keys.shape[:1]) if run_options is None else run_options
    return multirun.make_multi_run_step(
        run_step, run_args=(max_norms, options), mesh=mesh, num_runs=run_keys.shape[0]
    )


def evaluate_runs(loss_fn: Callable[[Params, Any], Array], params: Params, batch: Any) -> Array:
    """[R] losses of the stacked runs' params [R, ...] on one shared batch."""
    return jax.jit(jax.vmap(loss_fn, in_axes=(0, None)))(params, batch)
