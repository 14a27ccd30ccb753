"""Data parallelism over several devices: the same training run on 1 and on 8 devices.

    python docs/cookbook/devices.py

On a machine with one CPU, XLA can pretend to have several: the flag below
must be set before JAX is imported. On GPUs or a TPU slice leave it out and
`train.data_mesh()` takes every device there is. With `mesh=`, `train.train`
replicates the state on every device and splits each batch along the mesh's
`data` axis; XLA adds the gradient all-reduce. The result is the
single-device run's, up to float rounding.
"""

import os

os.environ["XLA_FLAGS"] = " ".join(
    [os.environ.get("XLA_FLAGS", ""), "--xla_force_host_platform_device_count=8"]
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")  # simulated CPU devices even where a GPU is

import jax  # noqa: E402  (after the flag)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from genjax import data, train  # noqa: E402

# A linear regression problem; the global batch (64) must divide over the devices.
x = np.random.default_rng(0).normal(size=(1024, 16)).astype(np.float32)
y = x @ np.linspace(-1, 1, 16).astype(np.float32) + 0.1
batch_fn = data.make_batch_fn({"x": x, "y": y}, 64, jax.random.PRNGKey(0))


def loss_fn(params, batch, key):
    pred = batch["x"] @ params["w"] + params["b"]
    return jnp.mean((pred - batch["y"]) ** 2), {}


opt = optax.sgd(0.05)
step = train.make_train_step(loss_fn, opt)
params = {"w": jnp.zeros(16), "b": jnp.zeros(())}


def fresh_state():
    return train.create_train_state(params, opt, jax.random.PRNGKey(1))


mesh = train.data_mesh()  # all devices, along one axis named "data"
print(f"{len(jax.devices())} devices; mesh {dict(mesh.shape)}")
single = train.train(fresh_state(), step, batch_fn, 200, progress=False).state
sharded = train.train(fresh_state(), step, batch_fn, 200, mesh=mesh, progress=False).state

w = sharded.params["w"]
print("parameters replicated on every device:", w.sharding.is_fully_replicated)
print("a batch split over the devices:",
      [s.data.shape for s in train.shard_batch(batch_fn(0), mesh)["x"].addressable_shards][:2],
      "...")  # fmt: skip
diff = float(jnp.max(jnp.abs(w - single.params["w"])))
print(f"largest difference to the single-device run: {diff:.1e}")
assert len(jax.devices()) == 8 and w.sharding.is_fully_replicated and diff < 1e-5
