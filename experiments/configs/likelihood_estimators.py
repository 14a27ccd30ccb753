"""Claims 1.3-1.5: naive prior sampling vs importance sampling for log p(x), exact reference.

    python -m experiments.likelihood_estimators --workdir runs/likelihood_estimators
    python -m experiments.likelihood_estimators --workdir runs/likelihood_quick \\
        --config=experiments/configs/likelihood_estimators.py:quick
    python -m experiments.likelihood_estimators --workdir runs/likelihood_q_marginal \\
        --config=experiments/configs/likelihood_estimators.py:quick --config.proposal=marginal

'quick' (the main job's profile) uses fewer examples and repeats, the same d and
N grids; 'full' (the default) uses more of both.
"""

from __future__ import annotations

import ml_collections

from experiments import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The config for profile `arg` ('quick' or 'full', default 'full')."""
    config, quick = common.new_config(arg)
    config.latent_dims = (2, 8, 32)
    config.num_samples = (1, 10, 100, 1_000, 10_000, 100_000)  # N
    # D = 64 observed dimensions with W_ij ~ N(0, 1) and noise std 2.5: the
    # posterior precision is about 1 + D / sigma^2 ~ 11 per latent direction
    # (posterior std ~ 0.3 of the prior's), i.e. KL(p(z|x) || p(z)) ~ 1.2 nats
    # per latent dimension, which is what makes prior samples miss.
    config.data_dim = 64
    config.sigma = 2.5
    config.weight_scale = 1.0
    # q(z|x) for importance sampling: 'mean_field' is the ELBO-optimal diagonal
    # Gaussian (exact posterior mean, variances 1 / P_ii), what a perfect VAE
    # encoder would learn; 'marginal' keeps the exact marginal variances;
    # 'exact' rotates the model so the exact posterior is diagonal (zero error).
    config.proposal = "mean_field"
    config.num_examples = 20 if quick else 200  # data points x per model
    config.num_repeats = 3 if quick else 10  # independent estimates per x
    # Samples per chunk of the running logsumexp; every N in the grid must be
    # below it or a multiple of it (the estimates for all N come from one pass).
    config.chunk_size = 1000
    config.target_error_nats = 1.0  # for *_samples_for_1nat
    return config
