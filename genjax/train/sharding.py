"""Data parallelism with JAX's own SPMD machinery: a `Mesh`, `NamedSharding`s, and jit.

The state is replicated over the mesh and each batch is split over its data
axis; XLA inserts the gradient all-reduce. On several hosts, call
`jax.distributed.initialize()` first and let each process feed its local slice.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from genjax.typing import ArrayTree

DATA_AXIS = "data"


def data_mesh(num_devices: int | None = None, axis_name: str = DATA_AXIS) -> Mesh:
    """A 1-D mesh over the first `num_devices` devices (default: all, across hosts)."""
    devices = jax.devices()
    n = len(devices) if num_devices is None else num_devices
    if not 1 <= n <= len(devices):
        raise ValueError(f"num_devices must be in [1, {len(devices)}], got {num_devices}")
    return Mesh(np.asarray(devices[:n]), (axis_name,))


def replicated(mesh: Mesh) -> NamedSharding:
    """The sharding that keeps a full copy on every device of `mesh` (the train state)."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh, axis_name: str = DATA_AXIS) -> NamedSharding:
    """The sharding that splits the leading (batch) axis over `axis_name`."""
    if axis_name not in mesh.axis_names:
        raise ValueError(f"mesh has no axis {axis_name!r}; its axes are {mesh.axis_names}")
    return NamedSharding(mesh, PartitionSpec(axis_name))


def shard_batch(batch: ArrayTree, mesh: Mesh, axis_name: str = DATA_AXIS) -> ArrayTree:
    """Places this process's slice of a batch as one global array sharded over `axis_name`.

    Raises:
      ValueError: when the global batch size does not divide over the data axis.
    """
    sharding = batch_sharded(mesh, axis_name)
    n_shards = mesh.shape[axis_name]

    def put(x: np.ndarray) -> jax.Array:
        x = np.asarray(x)
        global_size = x.shape[0] * jax.process_count()
        if x.ndim == 0 or global_size % n_shards:
            raise ValueError(
                f"batch leading size {global_size} (shape {x.shape}) must be a multiple of "
                f"the {n_shards} devices on mesh axis {axis_name!r}"
            )
        return jax.make_array_from_process_local_data(sharding, x)

    return jax.tree_util.tree_map(put, batch)
