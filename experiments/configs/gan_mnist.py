"""GANs on MNIST (2.4, 2.5): a non-saturating GAN and a WGAN-GP, judged by a digit classifier.

    python -m experiments.gan_mnist --workdir runs/gan_mnist
    python -m experiments.gan_mnist --workdir runs/gan_mnist_quick \\
        --config=experiments/configs/gan_mnist.py:quick

'quick' (the main job's profile, about a minute on 2 cores): a few hundred steps,
which proves the code path, not the samples. 'full': MLP GANs for thousands of
steps (tens of minutes on 2 cores).
"""

from __future__ import annotations

import ml_collections

from experiments import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The config for profile `arg` ('quick' or 'full', default 'full')."""
    config, quick = common.new_config(arg)
    config.variants = ("gan_nonsaturating", "wgan_gp")
    config.num_steps = 300 if quick else 10000  # generator updates
    config.batch_size = 64
    config.noise_dim = 64
    config.gen_hidden = (128, 256) if quick else (256, 512)
    config.disc_hidden = (256, 128) if quick else (512, 256)
    config.leaky_slope = 0.2
    # The papers' optimizers: Adam(2e-4, b1 = 0.5) for the GAN (Radford et al. 2016),
    # Adam(1e-4, b1 = 0.5, b2 = 0.9), 5 critic steps, lambda = 10 for WGAN-GP.
    config.gan_learning_rate = 2e-4
    config.wgan_gp_learning_rate = 1e-4
    config.gp_weight = 10.0
    # The judge: the library's MLP digit classifier on the training split.
    config.classifier_hidden = (256,)
    config.classifier_num_steps = 300 if quick else 2000
    config.classifier_learning_rate = 1e-3
    config.num_samples = 2000 if quick else 10000  # generated digits judged per variant
    config.log_every = 100 if quick else 500
    return config
