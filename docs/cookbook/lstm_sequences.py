"""An LSTM over variable-length sequences: masking, bidirectional and stacked layers.

    python docs/cookbook/lstm_sequences.py

Sequences of 4 to 20 values, padded to 20; the target is the sum of the first
and the last real value. `lengths` masks the padding: a padded step keeps
the carry and emits zeros, and the reversed direction of a bidirectional
layer starts at each sequence's own last real step. The model is two
bidirectional LSTM layers and a linear readout (`genjax.rnn.many_to_one`).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from genjax import rnn, train

MAX_LEN, BATCH, NUM_STEPS = 20, 64, 200


def make_batch(key):
    k_x, k_len = jax.random.split(key)
    xs = jax.random.uniform(k_x, (BATCH, MAX_LEN, 1))
    lengths = jax.random.randint(k_len, (BATCH,), 4, MAX_LEN + 1)
    last = jnp.take_along_axis(xs[:, :, 0], (lengths - 1)[:, None], axis=1)[:, 0]
    return {"xs": xs, "lengths": lengths, "y": xs[:, 0, 0] + last}


params = rnn.init_many_to_one(
    jax.random.PRNGKey(0), "lstm", input_dim=1, hidden_dim=32, output_dim=1,
    num_layers=2, bidirectional=True,
)  # fmt: skip

# 1. Masking: what lies past a sequence's length changes nothing.
batch = make_batch(jax.random.PRNGKey(1))
garbage = jnp.where(
    jnp.arange(MAX_LEN)[None, :, None] < batch["lengths"][:, None, None], batch["xs"], 99.0
)
model = jax.jit(rnn.many_to_one, static_argnums=0)
out_clean = model("lstm", params, batch["xs"], batch["lengths"])
out_garbage = model("lstm", params, garbage, batch["lengths"])
np.testing.assert_allclose(out_clean, out_garbage, atol=1e-6)

# The layer outputs themselves: [B, T, 2H] per step, zeros at the padded steps.
layers = jax.jit(rnn.stacked, static_argnums=0)
_, ys = layers("lstm", params["rnn"], batch["xs"], lengths=batch["lengths"])
padded = jnp.arange(MAX_LEN)[None, :] >= batch["lengths"][:, None]
assert ys.shape == (BATCH, MAX_LEN, 64) and float(jnp.abs(ys[padded]).max()) == 0.0


# 2. Training with genjax.train: a loss `(params, batch, key) -> (loss, metrics)`.
def loss_fn(params, batch, key):
    pred = rnn.many_to_one("lstm", params, batch["xs"], batch["lengths"])[:, 0]
    return jnp.mean((pred - batch["y"]) ** 2), {}


data_key = jax.random.PRNGKey(2)
opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(3e-3))
state = train.create_train_state(params, opt, jax.random.PRNGKey(3))
result = train.train(
    state,
    train.make_train_step(loss_fn, opt),
    lambda step: make_batch(jax.random.fold_in(data_key, step)),  # a pure function of step
    NUM_STEPS,
    log_every=100,
    progress=False,
)
test = make_batch(jax.random.PRNGKey(4))
mse = float(jax.jit(loss_fn)(result.state.params, test, None)[0])
baseline = float(jnp.var(test["y"]))  # predicting the mean
print(f"test MSE {mse:.4f} against {baseline:.4f} for the mean predictor")
assert mse < 0.5 * baseline
