"""jit-friendly batching: fixed batch shapes, per-epoch shuffles that are pure in the step.

Because the batch at step `s` depends only on `(key, s)`, a run resumed from a
checkpoint at step `s` sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from genjax.typing import Array, ArrayTree, PRNGKey


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Full batches per epoch (the remainder of each shuffled epoch is dropped)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if batch_size > num_examples:
        raise ValueError(f"batch_size {batch_size} exceeds the dataset size {num_examples}")
    return num_examples // batch_size


def batch_indices(key: PRNGKey, step: int | Array, num_examples: int, batch_size: int) -> Array:
    """Indices [batch_size] of the batch at `step`: epoch e uses permutation(fold_in(key, e))."""
    per_epoch = steps_per_epoch(num_examples, batch_size)
    epoch, within = jnp.divmod(step, per_epoch)
    perm = jax.random.permutation(jax.random.fold_in(key, epoch), num_examples)
    return jax.lax.dynamic_slice_in_dim(perm, within * batch_size, batch_size)


def make_batch_fn(data: ArrayTree, batch_size: int, key: PRNGKey) -> Callable[[int], ArrayTree]:
    """Returns `batch_fn(step) -> batch`, slicing every leaf of `data` (same leading size).

    The data stay on the host (NumPy); indices are computed by a jitted function
    so each call costs one small dispatch plus a host gather.
    """
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        raise ValueError("data has no arrays")
    n = int(np.shape(leaves[0])[0])
    for leaf in leaves:
        if np.shape(leaf)[0] != n:
            raise ValueError(
                f"all arrays must share the leading (example) axis: got {np.shape(leaf)[0]} and {n}"
            )
    steps_per_epoch(n, batch_size)  # validates batch_size
    host_data = jax.tree_util.tree_map(np.asarray, data)
    indices = jax.jit(batch_indices, static_argnums=(2, 3))

    def batch_fn(step: int) -> Any:
        idx = np.asarray(indices(key, step, n, batch_size))
        return jax.tree_util.tree_map(lambda a: a[idx], host_data)

    return batch_fn
