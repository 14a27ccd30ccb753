"""Many GAN runs (seeds, learning rates) trained as one vmapped step; PacGAN's mode statistics.

`stack_states` builds one `TrainState` whose params, optimizer states and keys
carry a leading run axis R; `make_multiseed_step` turns a one-run step
`step(state) -> (state, metrics)` into `genjax.train`'s contract
`step(stacked, batch) -> (stacked, metrics)` by `jax.vmap`, so `genjax.train.train`
jits, logs and checkpoints all R runs together. A run whose parameters become
non-finite is frozen at its last finite state and counted (`num_diverged`), so
that one diverging run neither poisons the others' metrics nor stops the loop.

`mode_statistics` follows PacGAN (Lin et al. 2018) and VEEGAN (Srivastava et
al. 2017): a sample is high-quality if it lies within 3 standard deviations of
its nearest mode; a mode is captured if at least one high-quality sample is
nearest to it; reverse KL is KL(captured-mode histogram || uniform).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from genjax.train import TrainState
from genjax.typing import Array, Metrics


def stack_states(init_fn: Callable[..., TrainState], keys: Array, *run_args: Any) -> TrainState:
    """`TrainState` of R runs: `init_fn(keys[r], *[a[r] for a in run_args])` stacked.

    The step counter stays a scalar; `run_args` (e.g. per-run learning rates) have
    leading axis R.
    """
    if np.ndim(keys) != 2 or np.shape(keys)[0] < 1:
        raise ValueError(f"keys must be [R, 2] PRNG keys with R >= 1, got {np.shape(keys)}")
    for a in jax.tree_util.tree_leaves(run_args):
        if np.shape(a)[:1] != np.shape(keys)[:1]:
            raise ValueError(
                f"run_args need leading axis R = {np.shape(keys)[0]}, got {np.shape(a)}"
            )
    states = jax.vmap(init_fn)(keys, *run_args)
    return TrainState(jnp.zeros((), jnp.int32), states.params, states.opt_state, states.key)


def _finite(tree: Any) -> Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]))


def make_multiseed_step(
    step: Callable[[TrainState], tuple[TrainState, Metrics]],
    runs_axis: str = "vmap",
) -> Callable[[TrainState, Any], tuple[TrainState, Metrics]]:
    """One step of every run of a `stack_states` state; metrics are means over live runs.

    Args:
      step: one run's `step(state) -> (state, metrics)`.
      runs_axis: 'vmap' batches the runs (batched matmuls); 'map' runs them one
        after another inside the one compiled step (`lax.map`): the same numbers,
        and on CPU, where small batched matmuls lower poorly, it can be faster
        (benchmarks/gan_unrolled.py measures both).

    The metrics also hold `num_diverged`, the runs frozen so far (non-finite params).
    """
    if runs_axis not in ("vmap", "map"):
        raise ValueError(f"runs_axis must be 'vmap' or 'map', got {runs_axis!r}")

    def one_run(params, opt_state, key, step_count):
        new, metrics = step(TrainState(step_count, params, opt_state, key))
        ok = _finite(new.params) & _finite(metrics)
        keep = lambda a, b: jax.tree_util.tree_map(lambda x, y: jnp.where(ok, x, y), a, b)  # noqa: E731
        return keep(new.params, params), keep(new.opt_state, opt_state), metrics, ok

    def multi_step(state: TrainState, batch: Any) -> tuple[TrainState, Metrics]:
        del batch  # every run draws its own data
        if runs_axis == "vmap":
            params, opt_state, metrics, ok = jax.vmap(one_run, in_axes=(0, 0, 0, None))(
                state.params, state.opt_state, state.key, state.step
            )
        else:
            params, opt_state, metrics, ok = jax.lax.map(
                lambda run: one_run(*run, state.step), (state.params, state.opt_state, state.key)
            )
        live = jnp.maximum(jnp.sum(ok), 1)
        out = {
            name: jnp.sum(jnp.where(ok, jnp.nan_to_num(v), 0.0)) / live
            for name, v in metrics.items()
        }
        out["num_diverged"] = jnp.sum(~ok).astype(jnp.float32)
        return TrainState(state.step + 1, params, opt_state, state.key), out

    return multi_step


def mode_statistics(samples: Array, modes: Array, std: float, hq_stds: float = 3.0) -> Metrics:
    """PacGAN's mode-coverage numbers for one set of samples [n, dim] of a mixture.

    Returns:
      modes: the number of captured modes (a high-quality sample is nearest to it).
      hq: the fraction of high-quality samples (within `hq_stds` * std of the nearest mode).
      reverse_kl: KL(p || uniform) of the high-quality samples' histogram over modes,
        in nats; log(number of modes), its largest value, when no sample is high-quality.
      counts: [num_modes] high-quality samples per mode.
    """
    if np.ndim(samples) != 2 or np.ndim(modes) != 2 or np.shape(samples)[1] != np.shape(modes)[1]:
        raise ValueError(
            f"samples [n, dim] and modes [m, dim] need the same dim, got {np.shape(samples)} "
            f"and {np.shape(modes)}"
        )
    if np.shape(modes)[0] < 1:
        raise ValueError("a mixture needs at least one mode")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    num_modes = modes.shape[0]
    dist = jnp.sqrt(jnp.sum((samples[:, None, :] - modes[None, :, :]) ** 2, axis=-1))
    nearest = jnp.argmin(dist, axis=1)
    high_quality = jnp.min(dist, axis=1) <= hq_stds * std
    counts = jnp.zeros(num_modes).at[nearest].add(high_quality.astype(jnp.float32))
    total = jnp.sum(counts)
    p = counts / jnp.maximum(total, 1.0)
    kl = jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0) * num_modes), 0.0))
    return {
        "modes": jnp.sum(counts > 0).astype(jnp.float32),
        "hq": jnp.mean(high_quality.astype(jnp.float32)),
        "reverse_kl": jnp.where(total > 0, kl, jnp.log(float(num_modes))),
        "counts": counts,
    }
