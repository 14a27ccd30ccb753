"""The linear-Gaussian latent model, where p(x) and p(z|x) are exact.

Claims 1.3-1.6 in docs/claims.md.

    z ~ N(0, I_d),    x | z ~ N(W z + b, s^2 I_D)

(probabilistic PCA, Tipping & Bishop 1999). Marginally x ~ N(b, C) with
C = W W^T + s^2 I_D, and the posterior is p(z|x) = N(mu(x), Sigma) with

    Sigma = (I_d + W^T W / s^2)^-1,    mu(x) = Sigma W^T (x - b) / s^2.

Everything is computed through the d x d matrix P = I_d + W^T W / s^2 (its
Cholesky factor), never the D x D covariance: log|C| = 2 D log s + log|P| (the
matrix-determinant lemma) and (x - b)^T C^-1 (x - b) = ||x - b - W mu||^2 / s^2
+ ||mu||^2 (Woodbury, written as a sum of non-negative terms, so nothing cancels).

These exact quantities are the references the generic estimators and bounds of
`genjax.vae.objectives` are proved against. The exact posterior has a full
covariance; the `EncodeFn`s of the objectives are diagonal, so two honest
diagonal encoders are offered, and `diagonalize_posterior` rotates the latent
space (same p(x)) so that the exact posterior *is* diagonal.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from genjax.typing import Array, PRNGKey
from genjax.vae import objectives

_LOG_2PI = math.log(2.0 * math.pi)


class LinearGaussian(NamedTuple):
    """Parameters of z ~ N(0, I_d), x | z ~ N(W z + b, s^2 I_D).

    Attributes:
      weight: [D, d] the loading matrix W.
      bias: [D] the mean b of x.
      log_sigma: scalar log s, the log noise standard deviation.
    """

    weight: Array
    bias: Array
    log_sigma: Array


class Posterior(NamedTuple):
    """The exact posterior p(z|x) = N(mean, cov) for a batch (cov is shared by all x)."""

    mean: Array  # [B, d]
    cov: Array  # [d, d]


def _dims(model: LinearGaussian) -> tuple[int, int]:
    if np.ndim(model.weight) != 2:
        raise ValueError(f"model.weight must be [D, d], got {np.shape(model.weight)}")
    data_dim, latent_dim = np.shape(model.weight)
    if np.shape(model.bias) != (data_dim,):
        raise ValueError(f"model.bias must be [D={data_dim}], got {np.shape(model.bias)}")
    if np.ndim(model.log_sigma) != 0:
        raise ValueError(f"model.log_sigma must be a scalar, got {np.shape(model.log_sigma)}")
    return data_dim, latent_dim


def _check_x(model: LinearGaussian, x: Array) -> None:
    data_dim, _ = _dims(model)
    if np.ndim(x) != 2 or np.shape(x)[1] != data_dim:
        raise ValueError(f"x must be [batch, D={data_dim}], got {np.shape(x)}")


def random_model(
    key: PRNGKey, data_dim: int, latent_dim: int, sigma: float, weight_scale: float = 1.0
) -> LinearGaussian:
    """A random model: W_ij ~ N(0, weight_scale^2), b ~ N(0, I), noise std `sigma`.

    With these scales W^T W ~ D weight_scale^2 I, so the posterior standard
    deviation along each latent direction is about (1 + D weight_scale^2 / s^2)^-1/2:
    large D / s^2 makes the posterior concentrated.
    """
    for name, value in (("data_dim", data_dim), ("latent_dim", latent_dim)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma!r}")
    w_key, b_key = jax.random.split(key)
    weight = weight_scale * jax.random.normal(w_key, (data_dim, latent_dim))
    bias = jax.random.normal(b_key, (data_dim,))
    return LinearGaussian(weight, bias, jnp.log(jnp.asarray(sigma, weight.dtype)))


def sample_joint(key: PRNGKey, model: LinearGaussian, n: int) -> tuple[Array, Array]:
    """(z [n, d], x [n, D]) drawn from p(z) p(x|z)."""
    data_dim, latent_dim = _dims(model)
    objectives._check_num_samples("n", n)
    z_key, noise_key = jax.random.split(key)
    z = jax.random.normal(z_key, (n, latent_dim))
    noise = jax.random.normal(noise_key, (n, data_dim))
    x = z @ model.weight.T + model.bias[None, :] + jnp.exp(model.log_sigma) * noise
    return z, x


def sample(key: PRNGKey, model: LinearGaussian, n: int) -> Array:
    """x [n, D] drawn from the marginal p(x)."""
    return sample_joint(key, model, n)[1]


def marginal_covariance(model: LinearGaussian) -> Array:
    """C = W W^T + s^2 I_D [D, D] (for references; the functions here never form it)."""
    data_dim, _ = _dims(model)
    return model.weight @ model.weight.T + jnp.exp(2.0 * model.log_sigma) * jnp.eye(data_dim)


def _precision_cholesky(model: LinearGaussian) -> Array:
    """Lower Cholesky factor of the posterior precision P = I_d + W^T W / s^2."""
    _, latent_dim = _dims(model)
    w = model.weight * jnp.exp(-model.log_sigma)
    return jnp.linalg.cholesky(jnp.eye(latent_dim) + w.T @ w)


def posterior(model: LinearGaussian, x: Array) -> Posterior:
    """The exact posterior p(z|x) = N(Sigma W^T (x - b) / s^2, Sigma), Sigma = P^-1.

    Args:
      model: the model.
      x: [B, D] data.

    Returns:
      `Posterior(mean [B, d], cov [d, d])`.
    """
    _check_x(model, x)
    chol = _precision_cholesky(model)
    _, latent_dim = _dims(model)
    rhs = (x - model.bias[None, :]) @ model.weight * jnp.exp(-2.0 * model.log_sigma)  # [B, d]
    mean = jax.scipy.linalg.cho_solve((chol, True), rhs.T).T
    cov = jax.scipy.linalg.cho_solve((chol, True), jnp.eye(latent_dim))
    return Posterior(mean, 0.5 * (cov + cov.T))


def log_px(model: LinearGaussian, x: Array) -> Array:
    """Exact log p(x) = log N(x; b, W W^T + s^2 I), in O(B D d + d^3).

    Matrix-determinant lemma and Woodbury (see the module docstring):
    log p(x) = -1/2 [D log 2 pi + 2 D log s + log|P| + ||x - b - W mu||^2 / s^2 + ||mu||^2].

    Args:
      model: the model.
      x: [B, D] data.

    Returns:
      [B] log-densities in nats.
    """
    _check_x(model, x)
    data_dim, _ = _dims(model)
    chol = _precision_cholesky(model)
    mean = posterior(model, x).mean
    residual = x - model.bias[None, :] - mean @ model.weight.T
    quad = jnp.sum(jnp.square(residual), -1) * jnp.exp(-2.0 * model.log_sigma)
    quad = quad + jnp.sum(jnp.square(mean), -1)
    logdet = 2.0 * data_dim * model.log_sigma + 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
    return -0.5 * (data_dim * _LOG_2PI + logdet + quad)


def log_likelihood_fn(model: LinearGaussian) -> objectives.LogLikelihoodFn:
    """log p(x|z) = log N(x; W z + b, s^2 I) as a `LogLikelihoodFn` (x [B, D], z [..., B, d])."""
    data_dim, latent_dim = _dims(model)

    def fn(x: Array, z: Array) -> Array:
        if np.shape(z)[-1] != latent_dim:
            raise ValueError(f"z must be [..., batch, d={latent_dim}], got {np.shape(z)}")
        mean = jnp.einsum("...k,dk->...d", z, model.weight)
        mean = mean + jnp.reshape(model.bias, (1,) * (mean.ndim - 1) + (data_dim,))
        return objectives.gaussian_log_likelihood(x, mean, 2.0 * model.log_sigma)

    return fn


def exact_posterior_encode_fn(model: LinearGaussian) -> objectives.EncodeFn:
    """The exact posterior as a diagonal `EncodeFn`; raises unless Sigma is diagonal.

    Use it on a model from `diagonalize_posterior` (or with orthogonal columns of W).
    The check needs concrete weights, so call it outside `jit`.
    """
    cov = np.asarray(jnp.linalg.inv(jnp.eye(_dims(model)[1]) + _gram(model)))
    off = np.abs(cov - np.diag(np.diag(cov))).max(initial=0.0)
    if off > 1e-5 * np.abs(np.diag(cov)).max():
        raise ValueError(
            f"the exact posterior covariance is not diagonal (largest off-diagonal {off:.3g}); "
            "use diagonalize_posterior(model), or marginal_ / mean_field_encode_fn"
        )
    return marginal_encode_fn(model)


def _gram(model: LinearGaussian) -> Array:
    w = model.weight * jnp.exp(-model.log_sigma)
    return w.T @ w


def marginal_encode_fn(model: LinearGaussian) -> objectives.EncodeFn:
    """q(z|x) = N(mu(x), diag(Sigma)): exact mean and exact marginal variances of p(z|x).

    Equal to the exact posterior when Sigma is diagonal; otherwise it drops the
    posterior correlations (and is wider than `mean_field_encode_fn`).
    """

    def fn(x: Array) -> tuple[Array, Array]:
        post = posterior(model, x)
        logvar = jnp.log(jnp.diagonal(post.cov))
        return post.mean, jnp.broadcast_to(logvar[None, :], post.mean.shape)

    return fn


def mean_field_encode_fn(model: LinearGaussian) -> objectives.EncodeFn:
    """q(z|x) = N(mu(x), diag(1 / P_ii)): the diagonal Gaussian that maximises the ELBO.

    The minimiser of KL(q || p(z|x)) over diagonal Gaussians has the exact
    posterior mean and variances 1 / P_ii (Bishop 2006, sec. 10.1.2), so this is
    the encoder a VAE with a perfect diagonal encoder converges to on this model.
    """

    def fn(x: Array) -> tuple[Array, Array]:
        post = posterior(model, x)
        logvar = -jnp.log1p(jnp.diagonal(_gram(model)))
        return post.mean, jnp.broadcast_to(logvar[None, :], post.mean.shape)

    return fn


def diagonalize_posterior(model: LinearGaussian) -> LinearGaussian:
    """The same p(x) with the latent space rotated so that p(z|x) has a diagonal covariance.

    p(x) depends on W only through W W^T, so W V (V orthogonal, from the SVD
    W = U S V^T) gives the same model; its Gram matrix V^T W^T W V = S^2 is
    diagonal, hence so is the posterior covariance (I + S^2 / s^2)^-1.
    """
    _dims(model)
    _, _, vt = jnp.linalg.svd(model.weight, full_matrices=False)
    return model._replace(weight=model.weight @ vt.T)


def expected_log_likelihood(model: LinearGaussian, x: Array, q_mean: Array, q_cov: Array) -> Array:
    """E_{z ~ N(q_mean, q_cov)}[log p(x|z)] in closed form (no Monte Carlo).

    = -D/2 log(2 pi s^2) - (||x - b - W m||^2 + tr(W^T W S)) / (2 s^2).

    Args:
      model: the model.
      x: [B, D] data.
      q_mean: [B, d] mean of q(z|x).
      q_cov: [d, d] or [B, d, d] covariance of q(z|x).

    Returns:
      [B].
    """
    _check_x(model, x)
    data_dim, latent_dim = _dims(model)
    if np.shape(q_mean) != (np.shape(x)[0], latent_dim):
        raise ValueError(f"q_mean must be [B, d={latent_dim}], got {np.shape(q_mean)}")
    if np.shape(q_cov)[-2:] != (latent_dim, latent_dim) or np.ndim(q_cov) not in (2, 3):
        raise ValueError(f"q_cov must be [d, d] or [B, d, d], got {np.shape(q_cov)}")
    residual = x - model.bias[None, :] - q_mean @ model.weight.T
    gram = jnp.broadcast_to(_gram(model), np.shape(q_cov))
    trace = jnp.sum(gram * q_cov, axis=(-2, -1))  # tr(W^T W S) / s^2
    quad = jnp.sum(jnp.square(residual), -1) * jnp.exp(-2.0 * model.log_sigma)
    return -0.5 * (data_dim * (_LOG_2PI + 2.0 * model.log_sigma) + quad + trace)


def elbo_closed_form(model: LinearGaussian, x: Array, q_mean: Array, q_cov: Array) -> Array:
    """ELBO = E_q[log p(x|z)] - KL(q || N(0, I)) for a full-covariance Gaussian q, exactly.

    Args:
      model: the model.
      x: [B, D] data.
      q_mean: [B, d].
      q_cov: [d, d] or [B, d, d].

    Returns:
      [B]; equals `log_px(model, x) - KL(q || p(z|x))` (claim 1.6 in docs/claims.md).
    """
    _, latent_dim = _dims(model)
    kl = objectives.kl_full_gaussians(
        q_mean, q_cov, jnp.zeros_like(q_mean), jnp.eye(latent_dim, dtype=q_mean.dtype)
    )
    return expected_log_likelihood(model, x, q_mean, q_cov) - kl


def em_step(model: LinearGaussian, x: Array) -> LinearGaussian:
    """One EM step for probabilistic PCA (Tipping & Bishop 1999, eqs. 27-30; claim 1.5).

    The E-step uses the exact posterior p(z|x) (tractable here, unlike in a
    VAE); the M-step maximises the expected complete-data log-likelihood. The
    bias is the data mean, its maximum-likelihood value.

    Args:
      model: current parameters.
      x: [N, D] training data.

    Returns:
      The updated model; log p(x) never decreases.
    """
    _check_x(model, x)
    n, data_dim = np.shape(x)
    bias = jnp.mean(x, axis=0)
    model = model._replace(bias=bias)
    post = posterior(model, x)
    centred = x - bias[None, :]
    second_moment = n * post.cov + post.mean.T @ post.mean  # sum_n E[z z^T], [d, d]
    cross = centred.T @ post.mean  # sum_n (x_n - b) E[z_n]^T, [D, d]
    weight = jnp.linalg.solve(second_moment, cross.T).T
    sq = (
        jnp.sum(jnp.square(centred))
        - 2.0 * jnp.sum((post.mean @ weight.T) * centred)
        + jnp.sum((weight.T @ weight) * second_moment)
    )
    return LinearGaussian(weight, bias, 0.5 * jnp.log(sq / (n * data_dim)))
