"""Several devices with JAX's own SPMD machinery: a `Mesh`, `NamedSharding`s, and jit.

Data parallelism: the state is replicated over the mesh and each batch is split
over its data axis; XLA inserts the gradient all-reduce. Many runs
(`genjax.train.multirun`): the runs' leading axis is split over a `runs_mesh`,
each device trains its own runs, and only the metric sums cross devices. On
several hosts, call `jax.distributed.initialize()` first: every mesh here spans
every host's devices, each process feeds its local slice of a batch, `to_host`
reads a sharded result on every process, and only process 0 writes a run's
records (`is_primary_process`).

One CPU: XLA steps one device's batched program on about one core, so a
multi-run step on a 2-core host leaves a core idle. `use_cpu_devices()`, called
before any JAX operation, splits the host into one JAX device per core; a
`runs_mesh` then spans them and each core trains its own share of the runs.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from genjax.typing import ArrayTree

DATA_AXIS = "data"
RUNS_AXIS = "runs"


def data_mesh(num_devices: int | None = None, axis_name: str = DATA_AXIS) -> Mesh:
    """A 1-D mesh over the first `num_devices` devices (default: all, across hosts)."""
    devices = jax.devices()
    n = len(devices) if num_devices is None else num_devices
    if not 1 <= n <= len(devices):
        raise ValueError(f"num_devices must be in [1, {len(devices)}], got {num_devices}")
    return Mesh(np.asarray(devices[:n]), (axis_name,))


def is_primary_process() -> bool:
    """Whether this process writes a run's files (metrics, checkpoint side files, lock):
    always, except after `jax.distributed.initialize()`, where process 0 alone does."""
    return not jax.distributed.is_initialized() or jax.process_index() == 0


def runs_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh named `RUNS_AXIS` over the first `num_devices` devices (default: all,
    across hosts): the devices a multi-run state's runs are split over."""
    return data_mesh(num_devices, RUNS_AXIS)


def use_cpu_devices(count: int | None = None) -> int:
    """Splits the host's CPU into `count` JAX devices (default: one per core); returns it.

    Multi-run training (`runs_mesh`, `make_multi_run_step(mesh=...)`) then spreads its
    runs over every core. Each run's numbers are those of the one-device run up to
    float rounding. Call it right after importing jax, before any JAX operation.

    Raises:
      ValueError: `count` is below 1, or JAX has already started its backends.
    """
    count = (os.cpu_count() or 1) if count is None else count
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an integer >= 1 (or None: one per core), got {count!r}")
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:
        raise ValueError(
            "use_cpu_devices must run before any JAX operation (JAX's backends have started)"
        ) from None
    return count


def replicated(mesh: Mesh) -> NamedSharding:
    """The sharding that keeps a full copy on every device of `mesh` (the train state)."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh, axis_name: str = DATA_AXIS) -> NamedSharding:
    """The sharding that splits the leading (batch) axis over `axis_name`."""
    if axis_name not in mesh.axis_names:
        raise ValueError(f"mesh has no axis {axis_name!r}; its axes are {mesh.axis_names}")
    return NamedSharding(mesh, PartitionSpec(axis_name))


def runs_sharded(mesh: Mesh) -> NamedSharding:
    """The sharding that splits a multi-run state's leading run axis over `RUNS_AXIS`."""
    return batch_sharded(mesh, RUNS_AXIS)


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


def to_host(tree: ArrayTree) -> ArrayTree:
    """NumPy copies of every leaf of `tree`, each the whole global array, on every process.

    A leaf whose shards live on other hosts' devices is gathered from them
    (`multihost_utils.process_allgather`, so every process must call this
    together); typed PRNG keys come back as their raw key data.
    """

    def get(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        if isinstance(x, jax.Array) and not (x.is_fully_addressable or x.is_fully_replicated):
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree_util.tree_map(get, tree)
