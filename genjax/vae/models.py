"""The VAE's networks: an MLP encoder q(z|x) and MLP decoders p(x|z) for four likelihoods.

`Encoder` maps data x [B, D] to the mean and log-variance [B, d] of a diagonal
Gaussian q(z|x) (claims 1.6 and 1.7 in docs/claims.md). `Decoder` maps latents z [..., d] (any
leading sample axes) to the parameters of p(x|z) (1.8), by name:

- 'bernoulli': per-pixel logits [..., D] (binary data);
- 'gaussian': per-pixel means [..., D] with a fixed log-variance (`decoder_logvar`,
  default 0, i.e. N(mu(z), I) as in 1.8);
- 'gaussian_learned': means and per-output log-variances [..., D] from the network;
- 'categorical': logits [..., D, levels] over the pixel levels (17 for the 8x8 digits'
  0..16), for data stored as level / (levels - 1) in [0, 1].

Every log-variance the networks emit goes through `soft_clip` into a fixed
range, so no parameter value can make a variance 0 or infinite: training
cannot produce NaN from exp(+-large). The ELBO, IWAE and log p(x) estimators
themselves live in `genjax.vae.objectives`; `model_fns` turns a `VAE` and its
parameters into the `encode_fn` / `log_likelihood_fn` closures they take.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax._checks import check_batch_dict, check_unit_interval
from genjax.data import dynamic_binarize
from genjax.nn import MLP, flatten_images
from genjax.train import LossFn
from genjax.typing import Array, Metrics, Params, PRNGKey
from genjax.vae import objectives

DECODERS = ("bernoulli", "gaussian", "gaussian_learned", "categorical")
ENCODER_LOGVAR_RANGE = (-12.0, 4.0)  # posterior std in [0.0025, 7.4]
DECODER_LOGVAR_RANGE = (-7.0, 2.0)  # decoder std in [0.03, 2.7]

EncodeFn = Callable[[Array], tuple[Array, Array]]
LogLikelihoodFn = Callable[[Array, Array], Array]


def check_decoder(likelihood: str) -> None:
    """Raises ValueError unless `likelihood` is one of `DECODERS`."""
    if likelihood not in DECODERS:
        raise ValueError(f"unknown decoder likelihood {likelihood!r}; choose one of {DECODERS}")


def soft_clip(x: Array, lo: float, hi: float) -> Array:
    """A smooth map of the real line onto (lo, hi): mid + half * tanh((x - mid) / half).

    mid = (lo + hi) / 2, half = (hi - lo) / 2; slope 1 at x = mid, never NaN.
    """
    if not hi > lo:
        raise ValueError(f"need hi > lo, got lo={lo}, hi={hi}")
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    return mid + half * jnp.tanh((x - mid) / half)


class Encoder(nn.Module):
    """q(z|x) = N(mean, diag(exp(logvar))): an MLP from x [B, D] to (mean, logvar) [B, d] each.

    Attributes:
      hidden: hidden widths.
      latent_dim: d.
      logvar_range: (lo, hi) that `soft_clip` maps the raw log-variance into.
    """

    hidden: Sequence[int]
    latent_dim: int
    logvar_range: tuple[float, float] = ENCODER_LOGVAR_RANGE

    @nn.compact
    def __call__(self, x: Array) -> tuple[Array, Array]:
        out = MLP(tuple(self.hidden), 2 * self.latent_dim, activation=nn.relu, name="mlp")(x)
        mean, raw_logvar = jnp.split(out, 2, axis=-1)
        return mean, soft_clip(raw_logvar, *self.logvar_range)


class Decoder(nn.Module):
    """p(x|z): an MLP from z [..., d] to a dict of the likelihood's parameters.

    Attributes:
      hidden: hidden widths.
      data_dim: D, the number of pixels (outputs).
      likelihood: one of `DECODERS`.
      levels: K, the number of categories per pixel ('categorical' only).
      logvar: the fixed log-variance of 'gaussian'.
      logvar_range: (lo, hi) of the learned log-variance of 'gaussian_learned'.

    Returns (by likelihood): {'logits': [..., D]}, {'mean': [..., D]},
    {'mean', 'logvar': [..., D]}, {'logits': [..., D, K]}.
    """

    hidden: Sequence[int]
    data_dim: int
    likelihood: str = "bernoulli"
    levels: int = 17
    logvar: float = 0.0
    logvar_range: tuple[float, float] = DECODER_LOGVAR_RANGE

    @nn.compact
    def __call__(self, z: Array) -> dict[str, Array]:
        check_decoder(self.likelihood)
        lead = z.shape[:-1]
        if self.likelihood == "bernoulli":
            return {"logits": MLP(tuple(self.hidden), self.data_dim, name="mlp")(z)}
        if self.likelihood == "gaussian":
            return {"mean": MLP(tuple(self.hidden), self.data_dim, name="mlp")(z)}
        if self.likelihood == "gaussian_learned":
            out = MLP(tuple(self.hidden), 2 * self.data_dim, name="mlp")(z)
            mean, raw_logvar = jnp.split(out, 2, axis=-1)
            return {"mean": mean, "logvar": soft_clip(raw_logvar, *self.logvar_range)}
        out = MLP(tuple(self.hidden), self.data_dim * self.levels, name="mlp")(z)
        return {"logits": jnp.reshape(out, (*lead, self.data_dim, self.levels))}


class VAE(nn.Module):
    """Encoder + decoder of data x [B, data_dim] (flattened images).

    Attributes:
      encoder_hidden: encoder hidden widths, e.g. (500,).
      decoder_hidden: decoder hidden widths, e.g. (500,).
      latent_dim: d.
      data_dim: D.
      likelihood: the decoder's likelihood, one of `DECODERS`.
      levels: categories per pixel for 'categorical'.
      decoder_logvar: the fixed log-variance of 'gaussian'.

    `init(key, x)` builds both networks; `apply(params, x, method=VAE.encode)`
    gives (mean, logvar) [B, d]; `apply(params, z, method=VAE.decode)` the
    decoder's parameter dict for z [..., d].
    """

    encoder_hidden: Sequence[int]
    decoder_hidden: Sequence[int]
    latent_dim: int
    data_dim: int
    likelihood: str = "bernoulli"
    levels: int = 17
    decoder_logvar: float = 0.0

    def setup(self):
        check_decoder(self.likelihood)
        self.encoder = Encoder(tuple(self.encoder_hidden), self.latent_dim)
        self.decoder = Decoder(
            tuple(self.decoder_hidden),
            self.data_dim,
            self.likelihood,
            levels=self.levels,
            logvar=self.decoder_logvar,
        )

    def encode(self, x: Array) -> tuple[Array, Array]:
        """(mean, logvar) [B, d] of q(z|x) for x [B, D]."""
        return self.encoder(x)

    def decode(self, z: Array) -> dict[str, Array]:
        """The parameters of p(x|z) for z [..., d] (see `Decoder`)."""
        return self.decoder(z)

    def __call__(self, x: Array) -> dict[str, Array]:
        """Decodes the posterior means of x [B, D] (used by `init` to build both networks)."""
        mean, _ = self.encode(x)
        return self.decode(mean)


def make_vae(
    likelihood: str,
    *,
    data_dim: int,
    latent_dim: int,
    encoder_hidden: Sequence[int],
    decoder_hidden: Sequence[int],
    levels: int = 17,
    decoder_logvar: float = 0.0,
) -> VAE:
    """A `VAE`, with its arguments checked here (ValueError) rather than at first trace."""
    check_decoder(likelihood)
    for name, value in (("data_dim", data_dim), ("latent_dim", latent_dim)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    for name, widths in (("encoder_hidden", encoder_hidden), ("decoder_hidden", decoder_hidden)):
        if any(not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"{name} must be positive integers, got {tuple(widths)}")
    if likelihood == "categorical" and levels < 2:
        raise ValueError(f"levels must be >= 2 for a categorical decoder, got {levels}")
    return VAE(
        tuple(encoder_hidden),
        tuple(decoder_hidden),
        latent_dim,
        data_dim,
        likelihood,
        levels=levels,
        decoder_logvar=decoder_logvar,
    )


def init_params(init_key: PRNGKey, model: VAE) -> Params:
    """Fresh parameters {'params': {'encoder': ..., 'decoder': ...}} of `model`."""
    return model.init(init_key, jnp.zeros((1, model.data_dim), jnp.float32))


def check_data(model: VAE, x: Array, name: str = "x") -> None:
    """Raises ValueError unless x is [B, model.data_dim]."""
    if x.ndim != 2 or x.shape[1] != model.data_dim:
        raise ValueError(
            f"{name} must be [batch, {model.data_dim}] (flattened data of the model), "
            f"got shape {x.shape}"
        )


def to_levels(x: Array, levels: int) -> Array:
    """Integer levels round(x * (levels - 1)) of data x stored in [0, 1] as level / (levels - 1)."""
    return jnp.round(x * (levels - 1)).astype(jnp.int32)


def decoder_log_likelihood(model: VAE, x: Array, out: dict[str, Array]) -> Array:
    """log p(x|z) [...] of data x [..., D] under the decoder output `out` (claim 1.8).

    x must broadcast explicitly: give it the same leading axes as `out` (see
    `model_fns`). Bernoulli data are binary (concrete values outside [0, 1] raise
    ValueError; traced ones are not checked); categorical data are
    level / (levels - 1), not checked here (the data loaders guarantee it).
    """
    if model.likelihood == "bernoulli":
        return objectives.bernoulli_log_likelihood(x, out["logits"])
    if model.likelihood == "gaussian":
        return objectives.gaussian_log_likelihood(x, out["mean"], model.decoder_logvar)
    if model.likelihood == "gaussian_learned":
        return objectives.gaussian_log_likelihood(x, out["mean"], out["logvar"])
    if model.likelihood == "categorical":
        onehot = jax.nn.one_hot(to_levels(x, model.levels), model.levels, dtype=jnp.float32)
        return objectives.categorical_log_likelihood(onehot, out["logits"])
    raise ValueError(f"unknown decoder likelihood {model.likelihood!r}")


def model_fns(model: VAE, params: Params) -> tuple[EncodeFn, LogLikelihoodFn]:
    """The closures `genjax.vae.objectives` takes: (encode_fn, log_likelihood_fn).

    encode_fn(x [B, D]) -> (mean, logvar) [B, d];
    log_likelihood_fn(x [B, D], z [..., B, d]) -> log p(x|z) [..., B].
    """

    def encode_fn(x: Array) -> tuple[Array, Array]:
        return model.apply(params, x, method=VAE.encode)

    def log_likelihood_fn(x: Array, z: Array) -> Array:
        out = model.apply(params, z, method=VAE.decode)
        x_b = jnp.broadcast_to(x, (*z.shape[:-1], x.shape[-1]))  # [..., B, D]
        return decoder_log_likelihood(model, x_b, out)

    return encode_fn, log_likelihood_fn


def decoder_mean(model: VAE, params: Params, z: Array) -> Array:
    """E[x|z] [..., D] for z [..., d]: the image a latent point decodes to, in [0, 1] units."""
    out = model.apply(params, z, method=VAE.decode)
    if model.likelihood == "bernoulli":
        return jax.nn.sigmoid(out["logits"])
    if model.likelihood in ("gaussian", "gaussian_learned"):
        return out["mean"]
    probs = jax.nn.softmax(out["logits"], axis=-1)  # [..., D, K]
    values = jnp.arange(model.levels, dtype=jnp.float32) / (model.levels - 1)
    return probs @ values


def pairwise_log_likelihood(model: VAE, params: Params, x: Array, z: Array) -> Array:
    """log p(x_b | z_n) [N, B] for every pair of data x [B, D] and latents z [N, d].

    Decodes each z once and contracts with the data by matrix products, so the
    cost is N decoder passes plus an N x B x D product, not N x B decoder passes:
    every likelihood here is an affine function of x (or of its one-hot / square)
    given z. Used by the shared-sample prior estimator `log_px_prior_shared`.
    """
    check_data(model, x)
    if z.ndim != 2 or z.shape[1] != model.latent_dim:
        raise ValueError(f"z must be [N, {model.latent_dim}], got shape {z.shape}")
    out = model.apply(params, z, method=VAE.decode)
    if model.likelihood == "bernoulli":
        check_unit_interval("x", x)
        # x l - softplus(l) = x log sigmoid(l) + (1 - x) log sigmoid(-l), summed over pixels.
        logits = out["logits"]  # [N, D]
        return logits @ x.T - jnp.sum(jax.nn.softplus(logits), axis=1)[:, None]
    if model.likelihood in ("gaussian", "gaussian_learned"):
        mean = out["mean"]  # [N, D]
        logvar = out.get("logvar", jnp.full_like(mean, model.decoder_logvar))
        prec = jnp.exp(-logvar)
        # -0.5 sum_d [(x - m)^2 / v + log v + log 2 pi], expanded in x.
        quad = prec @ jnp.square(x).T - 2.0 * (mean * prec) @ x.T  # [N, B]
        const = jnp.sum(jnp.square(mean) * prec + logvar, axis=1) + model.data_dim * math.log(
            2.0 * math.pi
        )
        return -0.5 * (quad + const[:, None])
    log_probs = jax.nn.log_softmax(out["logits"], axis=-1)  # [N, D, K]
    onehot = jax.nn.one_hot(to_levels(x, model.levels), model.levels, dtype=jnp.float32)
    n = z.shape[0]
    return jnp.reshape(log_probs, (n, -1)) @ jnp.reshape(onehot, (x.shape[0], -1)).T


def log_px_prior_shared(
    sample_key: PRNGKey, model: VAE, params: Params, x: Array, num_samples: int
) -> Array:
    """The naive estimate log (1/N) sum_n p(x_b | z_n), z_n ~ p(z) shared by the batch; [B].

    For each example this is exactly the estimator of claim 1.4 in docs/claims.md (N iid prior
    samples); sharing the samples across the batch only correlates the
    examples' estimates, and makes N = 1,000 affordable in training.
    """
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    z = jax.random.normal(sample_key, (num_samples, model.latent_dim))
    ll = pairwise_log_likelihood(model, params, x, z)  # [N, B]
    return jax.scipy.special.logsumexp(ll, axis=0) - math.log(num_samples)


def _prepare(model: VAE, batch: dict, binarize_key: PRNGKey, dynamic_binarization: bool) -> Array:
    check_batch_dict(batch, ("image",), "the VAE loss")
    x = flatten_images(batch["image"])
    check_data(model, x, "batch['image'] (flattened)")
    if dynamic_binarization:
        x = dynamic_binarize(binarize_key, x)
    return x


def _elbo_terms(
    model: VAE, params: Params, x: Array, sample_key: PRNGKey, num_samples: int
) -> tuple[Array, Metrics]:
    encode_fn, log_likelihood_fn = model_fns(model, params)
    elbo = objectives.elbo(sample_key, x, encode_fn, log_likelihood_fn, num_samples)  # [B]
    kl = objectives.kl_to_standard_normal(*encode_fn(x))  # [B]
    mean_elbo, mean_kl = jnp.mean(elbo), jnp.mean(kl)
    return -mean_elbo, {"elbo": mean_elbo, "kl": mean_kl, "recon": mean_elbo + mean_kl}


def make_elbo_loss(model: VAE, num_samples: int = 1, dynamic_binarization: bool = False) -> LossFn:
    """`loss_fn(params, batch, key) -> (-mean ELBO, metrics)` for `genjax.train.make_train_step`.

    The ELBO (claim 1.6 in docs/claims.md) with the closed-form KL (1.7) and a reparameterised
    (1.9) `num_samples`-sample estimate of E_q[log p(x|z)]. batch = {'image':
    [B, ...]} is flattened to [B, D]; with `dynamic_binarization` each pixel is
    resampled ~ Bernoulli(intensity) from the step key (Burda et al. 2016).
    Metrics: 'elbo', 'kl' and 'recon' (= elbo + kl, the expected log-likelihood), per example.
    """
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")

    def loss_fn(params: Params, batch: dict, key: PRNGKey) -> tuple[Array, Metrics]:
        binarize_key, sample_key = jax.random.split(key)
        x = _prepare(model, batch, binarize_key, dynamic_binarization)
        return _elbo_terms(model, params, x, sample_key, num_samples)

    return loss_fn


def split_params(params: Params) -> tuple[Params, Params]:
    """(encoder, decoder) parameter subtrees of a `VAE`'s parameters."""
    return params["params"]["encoder"], params["params"]["decoder"]


def merge_params(encoder_params: Params, decoder_params: Params) -> Params:
    """The inverse of `split_params`."""
    return {"params": {"encoder": encoder_params, "decoder": decoder_params}}


def make_encoder_elbo_loss(
    model: VAE, decoder_params: Params, num_samples: int = 1, dynamic_binarization: bool = False
) -> LossFn:
    """Like `make_elbo_loss`, but over the encoder's parameters only, the decoder frozen.

    `loss_fn(encoder_params, batch, key)`: fits q(z|x) to a trained decoder (e.g.
    one trained without an encoder) so that importance sampling has a proposal.
    """
    elbo_loss = make_elbo_loss(model, num_samples, dynamic_binarization)

    def loss_fn(encoder_params: Params, batch: dict, key: PRNGKey) -> tuple[Array, Metrics]:
        return elbo_loss(merge_params(encoder_params, decoder_params), batch, key)

    return loss_fn


def make_naive_ml_loss(model: VAE, num_samples: int, dynamic_binarization: bool = False) -> LossFn:
    """`loss_fn(params, batch, key) -> (-mean log p_hat(x), metrics)`: ML on the naive estimate.

    p_hat(x) = (1/N) sum_n p(x | z_n), z_n ~ p(z) (claim 1.4 in docs/claims.md), the N samples
    shared by the batch (`log_px_prior_shared`). Only the decoder gets
    gradients; the encoder's parameters are left as they are. Metric:
    'log_px_naive', the mean estimate per example.
    """
    if not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")

    def loss_fn(params: Params, batch: dict, key: PRNGKey) -> tuple[Array, Metrics]:
        binarize_key, sample_key = jax.random.split(key)
        x = _prepare(model, batch, binarize_key, dynamic_binarization)
        log_px = jnp.mean(log_px_prior_shared(sample_key, model, params, x, num_samples))
        return -log_px, {"log_px_naive": log_px}

    return loss_fn


def active_units(posterior_means: Array, threshold: float = 0.01) -> Array:
    """The number of active latent dims: those with Var_x[E_q z_j] > threshold.

    Burda et al. (2016), section 5.2. posterior_means: [N, d]; returns an int32 scalar.
    """
    if posterior_means.ndim != 2 or posterior_means.shape[0] < 2:
        raise ValueError(f"posterior_means must be [N >= 2, d], got {posterior_means.shape}")
    return jnp.sum(jnp.var(posterior_means, axis=0) > threshold).astype(jnp.int32)
