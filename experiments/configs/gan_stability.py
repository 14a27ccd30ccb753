"""Claim 2.5's stability sweep with power: 10 seeds per cell, trained until it settles.

    python -m experiments.gan_stability --workdir runs/gan_stability
    python -m experiments.gan_stability --workdir runs/gan_stability_depth12 \\
        --config.stability_disc_depths="(1, 2)"

The experiment is `experiments.gan_mixture`'s stability sweep alone (no variant
table): the minimax and non-saturating GANs and WGAN-GP on the ring, over learning
rates {1e-4, 3e-4, 1e-3} x discriminator depths 1-4, 10 seeds per cell (120 runs
per method), 50,000 steps with success measured every 5,000 (the curves in
`stability_over_training.png` show whether the rates have settled; WGAN-GP's
authors train their toy problems for 100,000 iterations). Success: >= 7 of 8
modes and >= 50% high-quality samples at the end. Other settings are
`gan_mixture`'s full profile (tanh networks 128-128, batch 128, noise 16,
WGAN-GP lambda 0.1, Adam(0.5, 0.9); GANs Adam(0.5, 0.999)).

Cost: 3 x 4 trainings of 30 vmapped runs x 50,000 steps (WGAN-GP: 5 critic
steps each), many hours on 2 CPU cores; on one GPU the runs axis is the fast
path. The main job runs it in the full profile only; 'quick' is a tiny smoke
version (tests).
"""

from __future__ import annotations

import ml_collections

from experiments import common
from experiments.configs import gan_mixture

MAIN_JOB_PROFILES = ("full",)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The config for profile `arg` ('quick' or 'full', default 'full')."""
    config = gan_mixture.get_config(arg)
    quick = common.parse_profile(arg) == "quick"
    config.datasets = ()
    config.stability_sweep = True
    config.stability_seeds = 2 if quick else 10
    config.stability_disc_depths = (1,) if quick else (1, 2, 3, 4)
    config.stability_learning_rates = (1e-3,) if quick else (1e-4, 3e-4, 1e-3)
    config.num_steps = 40 if quick else 50_000
    config.snapshot_every = 20 if quick else 5_000
    config.log_every = 20 if quick else 500
    config.eval_samples = 500 if quick else 2500
    config.w1_samples = 100 if quick else 1000
    return config
