"""Variational autoencoders and likelihood estimation (claims 1.3-1.9 in docs/claims.md).

- `genjax.vae.objectives`: reparameterisation, closed-form KLs, decoder
  log-likelihoods, the ELBO, the IWAE bound, and the naive and importance-sampled
  log p(x) estimators [1.4-1.9].
- `genjax.vae.linear_gaussian`: the linear-Gaussian model with exact log p(x) and
  posterior, the reference the estimators are proved against [1.3-1.6].
- `genjax.vae.models`: the flax encoder and decoders (Bernoulli, Gaussian, categorical),
  their losses for `genjax.train.make_train_step`, and the model-side estimators.

The constructors are also here: `make_vae`, `init_params`, `make_elbo_loss`,
`make_encoder_elbo_loss`, `make_naive_ml_loss`, and the closures `model_fns` that
plug a trained model into the estimators of `objectives`.
"""

from genjax.vae import linear_gaussian, models, objectives
from genjax.vae.models import (
    DECODERS,
    VAE,
    active_units,
    decoder_mean,
    init_params,
    make_elbo_loss,
    make_encoder_elbo_loss,
    make_naive_ml_loss,
    make_vae,
    merge_params,
    model_fns,
    split_params,
)
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

__all__ = [
    "DECODERS",
    "VAE",
    "EncodeFn",
    "LogLikelihoodFn",
    "active_units",
    "bernoulli_log_likelihood",
    "categorical_log_likelihood",
    "decoder_mean",
    "diag_gaussian_log_density",
    "elbo",
    "gaussian_log_likelihood",
    "init_params",
    "iwae_bound",
    "kl_diag_gaussians",
    "kl_full_gaussians",
    "kl_to_standard_normal",
    "linear_gaussian",
    "log_px_importance",
    "log_px_importance_curve",
    "log_px_prior_mc",
    "log_px_prior_mc_curve",
    "make_elbo_loss",
    "make_encoder_elbo_loss",
    "make_naive_ml_loss",
    "make_vae",
    "merge_params",
    "model_fns",
    "models",
    "objectives",
    "reparameterize",
    "split_params",
    "standard_normal_log_density",
]
