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

Several devices, one host or many: `shard_runs(state, runs_mesh())` splits the
run axis over the devices (`NamedSharding(mesh, PartitionSpec("runs"))`, the
scalar step replicated), and `make_multi_run_step(..., mesh=mesh, num_runs=R)`
steps it as a `shard_map`: each device trains its own runs and only the metric
sums cross devices. When R does not divide over the devices, `shard_runs` pads
the run axis with copies of run 0; the step trains them but leaves them out of
every metric, so the R real runs' numbers are those of the one-device run (up
to float rounding), and `gather_runs` reads back just those R runs, on every
host. `genjax.train.train` keeps the placement (pass no `mesh=` to it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from genjax.train import sharding as sharding_lib
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


def padded_runs(num_runs: int, mesh: Mesh | None) -> int:
    """`num_runs` rounded up to a multiple of `mesh`'s runs-axis size (itself without a mesh)."""
    if not isinstance(num_runs, (int, np.integer)) or isinstance(num_runs, bool) or num_runs < 1:
        raise ValueError(f"num_runs must be a positive integer, got {num_runs!r}")
    if mesh is None:
        return int(num_runs)
    devices = sharding_lib.runs_sharded(mesh).mesh.shape[sharding_lib.RUNS_AXIS]
    return -(-int(num_runs) // devices) * devices


def _run_leaves_size(state: TrainState) -> int:
    """R of a `stack_runs` state, after checking that every leaf but the step has it."""
    if not isinstance(state, TrainState) or not isinstance(state.opt_state, MultiRunOptState):
        raise ValueError("state must be a stack_runs state (opt_state a MultiRunOptState)")
    runs = int(np.shape(state.opt_state.diverged)[0])
    for x in jax.tree_util.tree_leaves((state.params, state.opt_state, state.key)):
        if np.shape(x)[:1] != (runs,):
            raise ValueError(f"state leaves need leading axis R = {runs}, got {np.shape(x)}")
    return runs


def _place(x: Any, sharding: jax.sharding.Sharding, rows: int | None) -> jax.Array:
    """`x` as one global array with `sharding`, its leading axis padded to `rows` with
    copies of row 0 (None: no padding); every process passes the same `x`."""
    typed = isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
    impl = jax.random.key_impl(x) if typed else None
    host = sharding_lib.to_host(x)
    if rows is not None and rows > host.shape[0]:
        host = np.concatenate([host, np.repeat(host[:1], rows - host.shape[0], axis=0)])
    out = jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])
    return jax.random.wrap_key_data(out, impl=impl) if typed else out


def shard_runs(state: TrainState, mesh: Mesh | None) -> TrainState:
    """A `stack_runs` state split over `mesh`'s runs axis (`None`: the state unchanged).

    Every leaf but the step gets `NamedSharding(mesh, PartitionSpec("runs"))`, its
    leading axis R padded to `padded_runs(R, mesh)` with copies of run 0 (give the
    step `num_runs=R`); the step is replicated. On several hosts every process
    builds the same state and calls this; each keeps only its own devices' runs.
    """
    runs = _run_leaves_size(state)
    if mesh is None:
        return state
    rows = padded_runs(runs, mesh)
    sharded = sharding_lib.runs_sharded(mesh)
    place = functools.partial(_place, sharding=sharded, rows=rows)
    step = _place(state.step, sharding_lib.replicated(mesh), None)
    params, opt_state, key = jax.tree_util.tree_map(
        place, (state.params, state.opt_state, state.key)
    )
    return TrainState(step, params, opt_state, key)


def gather_runs(tree: ArrayTree, num_runs: int) -> ArrayTree:
    """NumPy copies of the first `num_runs` runs of every leaf of `tree` (scalars whole),
    gathered from every host; on several hosts every process calls it together."""
    padded_runs(num_runs, None)  # checks num_runs

    def first(x: np.ndarray) -> np.ndarray:
        return x[:num_runs] if x.ndim else x

    return jax.tree_util.tree_map(first, sharding_lib.to_host(tree))


def _check_run_args(run_args: ArrayTree) -> tuple[ArrayTree, int | None]:
    """`run_args` as arrays and their common leading size R (None without run_args)."""
    if run_args is None:
        return None, None
    run_args = jax.tree_util.tree_map(jnp.asarray, run_args)
    sizes = {np.shape(x)[:1] for x in jax.tree_util.tree_leaves(run_args)}
    if len(sizes) != 1 or () in sizes:
        raise ValueError(f"run_args leaves need one leading axis R, got sizes {sizes}")
    return run_args, sizes.pop()[0]


def _pad_rows(tree: ArrayTree, rows: int) -> ArrayTree:
    """Every leaf's leading axis padded to `rows` with copies of its row 0."""

    def pad(x):
        extra = rows - x.shape[0]
        return jnp.concatenate([x, jnp.repeat(x[:1], extra, axis=0)]) if extra else x

    return jax.tree_util.tree_map(pad, tree)


def _runs_fn(run_step: RunStep, with_args: bool, runs_axis: str) -> Callable:
    """`(params, inner, dead, keys, args, step) -> (params, inner, dead, metrics)` of a
    block of runs: each run stepped, a run that turns non-finite frozen for good."""

    def one_run(params, inner, dead, key, arg, step):
        state = TrainState(step, params, inner, key)
        new, metrics = run_step(state, arg) if with_args else run_step(state)
        dead = dead | ~(all_finite(new.params) & all_finite(metrics))

        def keep(new_tree, old_tree):
            return jax.tree_util.tree_map(lambda a, b: jnp.where(dead, b, a), new_tree, old_tree)

        return keep(new.params, params), keep(new.opt_state, inner), dead, metrics

    def runs_fn(params, inner, dead, keys, args, step):
        runs = (params, inner, dead, keys, args)
        if runs_axis == "vmap":
            return jax.vmap(one_run, in_axes=(0, 0, 0, 0, 0, None))(*runs, step)
        return jax.lax.map(lambda r: one_run(*r, step), runs)

    return runs_fn


def _block_sums(runs_fn: Callable, axis: str | None, params, inner, dead, keys, args, real, step):
    """Steps a block of runs; sums each metric over the block's live real runs (over every
    device's block with `axis`) and counts those runs ('live') and the diverged ones."""
    params, inner, dead, metrics = runs_fn(params, inner, dead, keys, args, step)
    counted = real & ~dead

    def live_sum(v):
        return jnp.sum(jnp.where(counted, jnp.nan_to_num(v, posinf=0.0, neginf=0.0), 0.0))

    sums = {name: live_sum(v) for name, v in metrics.items()}
    counts = {"live": jnp.sum(counted), "diverged": jnp.sum(dead & real)}
    if axis is not None:
        sums, counts = jax.lax.psum((sums, counts), axis)
    return params, inner, dead, sums, counts


def make_multi_run_step(
    run_step: RunStep,
    *,
    run_args: ArrayTree = None,
    runs_axis: str = "vmap",
    mesh: Mesh | None = None,
    num_runs: int | None = None,
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
        With a mesh, it is how each device steps its own runs.
      mesh: a mesh with a runs axis (`runs_mesh`) that the state was placed on
        with `shard_runs`: each device steps its own runs (`shard_map`) and only
        the metric sums cross devices. None: the runs of one device.
      num_runs: R, the real runs, when the state's run axis is longer (padded by
        `shard_runs`): the runs from R on are stepped but left out of the metrics.
        Default: every run of the state.

    Returns:
      `step(state, batch) -> (state, metrics)` (the batch is ignored); the metrics
      are the runs' own, averaged over the live runs, and `num_diverged`.
    """
    if runs_axis not in RUNS_AXES:
        raise ValueError(f"runs_axis must be one of {RUNS_AXES}, got {runs_axis!r}")
    if num_runs is not None:
        padded_runs(num_runs, None)  # checks num_runs
    if mesh is not None:
        sharding_lib.runs_sharded(mesh)  # checks the mesh's axes
    run_args, args_size = _check_run_args(run_args)
    runs_fn = _runs_fn(run_step, run_args is not None, runs_axis)
    block = functools.partial(_block_sums, runs_fn, None)
    if mesh is not None:
        runs, rep = PartitionSpec(sharding_lib.RUNS_AXIS), PartitionSpec()
        block = jax.shard_map(
            functools.partial(_block_sums, runs_fn, sharding_lib.RUNS_AXIS), mesh=mesh,
            in_specs=(runs,) * 6 + (rep,), out_specs=(runs, runs, runs, rep, rep),
            check_vma=False,  # a run's loops may start from constants (e.g. a zero carry)
        )  # fmt: skip

    def multi_step(state: TrainState, batch: Any) -> tuple[TrainState, Metrics]:
        del batch  # every run draws its own data
        inner, dead = state.opt_state
        total = dead.shape[0]
        real_runs = total if num_runs is None else num_runs
        _check_step_runs(total, real_runs, args_size, mesh)
        args = jnp.zeros((total,)) if run_args is None else _pad_rows(run_args, total)
        real = jnp.arange(total) < real_runs
        params, inner, dead, sums, counts = block(
            state.params, inner, dead, state.key, args, real, state.step
        )
        live = jnp.maximum(counts["live"], 1)
        out = {name: v / live for name, v in sums.items()}
        out["num_diverged"] = counts["diverged"].astype(jnp.float32)
        new_opt = MultiRunOptState(inner, dead)
        return TrainState(state.step + 1, params, new_opt, state.key), out

    return multi_step


def _check_step_runs(total: int, real_runs: int, args_size: int | None, mesh: Mesh | None):
    """Raises ValueError unless a state of `total` runs fits the step's settings."""
    if real_runs > total:
        raise ValueError(f"num_runs={real_runs} is more than the state's {total} runs")
    if args_size is not None and args_size not in (real_runs, total):
        raise ValueError(f"run_args have {args_size} runs, the state {real_runs}")
    if mesh is not None and total % mesh.shape[sharding_lib.RUNS_AXIS]:
        raise ValueError(
            f"the state's {total} runs do not divide over the mesh's "
            f"{mesh.shape[sharding_lib.RUNS_AXIS]} devices; place it with shard_runs"
        )
