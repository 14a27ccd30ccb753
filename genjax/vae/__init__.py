"""Variational autoencoders and likelihood estimation (SEED_NOTES 1.3-1.9).

- `genjax.vae.objectives`: reparameterisation, closed-form KLs, decoder
  log-likelihoods, the ELBO, the IWAE bound, and the naive and importance-sampled
  log p(x) estimators [1.4-1.9].
- `genjax.vae.linear_gaussian`: the linear-Gaussian model with exact log p(x) and
  posterior, the reference the estimators are proved against [1.3-1.6].
"""

from genjax.vae import linear_gaussian, models, objectives
from genjax.vae.objectives import (
    EncodeFn,
    LogLikelihoodFn,
    bernoulli_log_likelihood,
    categorical_log_likelihood,
    diag_gaussian_log_density,
    elbo,
    gaussian_log_likelihood,
    iwae_bound,
    kl_diag_gaussians,
    kl_full_gaussians,
    kl_to_standard_normal,
    log_px_importance,
    log_px_importance_curve,
    log_px_prior_mc,
    log_px_prior_mc_curve,
    reparameterize,
    standard_normal_log_density,
)

# models: genjax.vae.models (flax encoder/decoders)

__all__ = [
    "EncodeFn",
    "LogLikelihoodFn",
    "bernoulli_log_likelihood",
    "categorical_log_likelihood",
    "diag_gaussian_log_density",
    "elbo",
    "gaussian_log_likelihood",
    "iwae_bound",
    "kl_diag_gaussians",
    "kl_full_gaussians",
    "kl_to_standard_normal",
    "linear_gaussian",
    "log_px_importance",
    "log_px_importance_curve",
    "log_px_prior_mc",
    "log_px_prior_mc_curve",
    "models",
    "objectives",
    "reparameterize",
    "standard_normal_log_density",
]
