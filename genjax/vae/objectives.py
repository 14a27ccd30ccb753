"""VAE objectives and likelihood estimators as pure functions (claims 1.4-1.9 in docs/claims.md).

Conventions: data are flattened vectors `x: [B, D]` (one example per row); latents
`z: [..., B, d]` may carry extra leading sample axes. Every log-density is exact
(constants included) and summed over the event axis, the last axis (two axes,
`[D, K]`, for the categorical likelihood).

Two function types connect the objectives to a model:

- `EncodeFn`: `encode_fn(x [B, D]) -> (mean [B, d], logvar [B, d])`, the diagonal
  Gaussian q(z|x) = N(mean, diag(exp(logvar))).
- `LogLikelihoodFn`: `log_likelihood_fn(x [B, D], z [..., B, d]) -> [..., B]`,
  log p(x|z) for every sample of z (e.g. a decoder followed by one of the
  `*_log_likelihood` functions below).

The prior is p(z) = N(0, I_d) throughout. Shapes are static, so every check here
raises its `ValueError` while tracing, before anything is compiled.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from genjax._checks import check_unit_interval
from genjax.typing import Array, PRNGKey

EncodeFn = Callable[[Array], tuple[Array, Array]]
LogLikelihoodFn = Callable[[Array, Array], Array]

_LOG_2PI = math.log(2.0 * math.pi)
DEFAULT_CHUNK_SIZE = 64


# --------------------------------------------------------------------------- checks


def _check_num_samples(name: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    return int(n)


def _check_same_shape(name_a: str, a, name_b: str, b) -> None:
    if np.shape(a) != np.shape(b):
        raise ValueError(
            f"{name_a} {np.shape(a)} and {name_b} {np.shape(b)} must have the same shape"
        )


def _check_data(x) -> tuple[int, int]:
    if np.ndim(x) != 2:
        raise ValueError(
            f"x must be a 2-D array [batch, dim] of flattened examples, got {np.shape(x)}"
        )
    return np.shape(x)


def _align_event(
    x_name: str, x: Array, p_name: str, p: Array, event_ndim: int
) -> tuple[Array, Array]:
    """Checks that x and the parameters p agree on the event axes and broadcasts them explicitly.

    x may lack p's leading sample axes (x: [B, D] against p: [S, B, D]); any other
    mismatch raises. Broadcasting is explicit, so it also works under
    `jax_numpy_rank_promotion='raise'`.
    """
    x, p = jnp.asarray(x), jnp.asarray(p)
    if x.ndim < event_ndim or p.ndim < event_ndim:
        raise ValueError(
            f"{x_name} {x.shape} and {p_name} {p.shape} need at least {event_ndim} event axes"
        )
    if x.shape[-event_ndim:] != p.shape[-event_ndim:]:
        raise ValueError(
            f"{x_name} {x.shape} and {p_name} {p.shape} must agree on the last {event_ndim} "
            f"axes (the event axes; e.g. a decoder output that does not match the data)"
        )
    try:
        shape = np.broadcast_shapes(x.shape, p.shape)
    except ValueError:
        raise ValueError(
            f"{x_name} {x.shape} and {p_name} {p.shape} do not broadcast: the decoder "
            f"output's batch axes do not match the data's"
        ) from None
    return jnp.broadcast_to(x, shape), jnp.broadcast_to(p, shape)


# --------------------------------------------------------------------------- 1.9, 1.7


def reparameterize(key: PRNGKey, mean: Array, logvar: Array) -> Array:
    """z = mean + exp(logvar / 2) * eps, eps ~ N(0, I) (Kingma & Welling 2014, eq. 10).

    The sample is a differentiable function of (mean, logvar), so gradients flow
    back into the encoder (claim 1.9 in docs/claims.md).

    Args:
      key: the noise key.
      mean, logvar: [..., d] parameters of a diagonal Gaussian.

    Returns:
      z: same shape as mean.
    """
    _check_same_shape("mean", mean, "logvar", logvar)
    eps = jax.random.normal(key, np.shape(mean), dtype=jnp.result_type(mean))
    return mean + jnp.exp(0.5 * logvar) * eps


def kl_to_standard_normal(mean: Array, logvar: Array) -> Array:
    """KL(N(mean, diag(exp(logvar))) || N(0, I)) in closed form (claim 1.7 in docs/claims.md).

    KL = 1/2 sum_i (-logvar_i - 1 + exp(logvar_i) + mean_i^2).

    Args:
      mean, logvar: [..., d].

    Returns:
      [...]: summed over the last axis.
    """
    _check_same_shape("mean", mean, "logvar", logvar)
    return 0.5 * jnp.sum(jnp.expm1(logvar) - logvar + jnp.square(mean), axis=-1)


def kl_diag_gaussians(mean_q: Array, logvar_q: Array, mean_p: Array, logvar_p: Array) -> Array:
    """KL(N(mean_q, diag e^logvar_q) || N(mean_p, diag e^logvar_p)) in closed form.

    KL = 1/2 sum_i (logvar_p - logvar_q - 1 + e^(logvar_q - logvar_p)
                     + (mean_q - mean_p)^2 e^(-logvar_p)).

    Args:
      mean_q, logvar_q, mean_p, logvar_p: [..., d], all the same shape.

    Returns:
      [...]: summed over the last axis.
    """
    _check_same_shape("mean_q", mean_q, "logvar_q", logvar_q)
    _check_same_shape("mean_q", mean_q, "mean_p", mean_p)
    _check_same_shape("mean_q", mean_q, "logvar_p", logvar_p)
    diff = logvar_q - logvar_p
    return 0.5 * jnp.sum(
        jnp.expm1(diff) - diff + jnp.square(mean_q - mean_p) * jnp.exp(-logvar_p), axis=-1
    )


def kl_full_gaussians(mean_q: Array, cov_q: Array, mean_p: Array, cov_p: Array) -> Array:
    """KL(N(mean_q, cov_q) || N(mean_p, cov_p)) for full covariances, by Cholesky factors.

    KL = 1/2 [tr(S_p^-1 S_q) + (m_p - m_q)^T S_p^-1 (m_p - m_q) - d + log|S_p| - log|S_q|].

    Args:
      mean_q, mean_p: [..., d].
      cov_q, cov_p: [d, d] or [..., d, d] symmetric positive definite.

    Returns:
      [...]: one KL per leading index of the means.
    """
    _check_same_shape("mean_q", mean_q, "mean_p", mean_p)
    d = np.shape(mean_q)[-1]
    for name, cov in (("cov_q", cov_q), ("cov_p", cov_p)):
        if np.ndim(cov) < 2 or np.shape(cov)[-2:] != (d, d):
            raise ValueError(f"{name} must be [..., {d}, {d}], got {np.shape(cov)}")
    chol_q = jnp.linalg.cholesky(cov_q)
    chol_p = jnp.linalg.cholesky(cov_p)
    batch = np.broadcast_shapes(np.shape(mean_q)[:-1], np.shape(cov_q)[:-2], np.shape(cov_p)[:-2])
    chol_q = jnp.broadcast_to(chol_q, batch + (d, d))
    chol_p = jnp.broadcast_to(chol_p, batch + (d, d))
    diff = jnp.broadcast_to(mean_p - mean_q, batch + (d,))
    solve = jax.scipy.linalg.solve_triangular
    a = solve(chol_p, chol_q, lower=True)  # L_p^-1 L_q: tr(S_p^-1 S_q) = ||a||_F^2
    u = solve(chol_p, diff[..., None], lower=True)[..., 0]
    logdet_p = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol_p, axis1=-2, axis2=-1)), axis=-1)
    logdet_q = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol_q, axis1=-2, axis2=-1)), axis=-1)
    trace = jnp.sum(jnp.square(a), axis=(-2, -1))
    return 0.5 * (trace + jnp.sum(jnp.square(u), axis=-1) - d + logdet_p - logdet_q)


# --------------------------------------------------------------------------- 1.8


def gaussian_log_likelihood(x: Array, mean: Array, logvar: Array | float = 0.0) -> Array:
    """log N(x; mean, diag(exp(logvar))), summed over the last axis (claim 1.8 in docs/claims.md).

    = -1/2 sum_i [ (x_i - mean_i)^2 e^(-logvar_i) + logvar_i + log 2 pi ];
    with logvar = 0 this is -1/2 ||x - mean||^2 - (D/2) log 2 pi.

    Args:
      x: [..., D] data; may lack mean's leading sample axes ([B, D] vs [S, B, D]).
      mean: [..., D] decoder output.
      logvar: a scalar, or an array of mean's shape (or [D]) of log variances.

    Returns:
      [...]: mean's leading shape.
    """
    x, mean = _align_event("x", x, "mean", mean, 1)
    if np.ndim(logvar) > 0:
        if np.shape(logvar)[-1] != mean.shape[-1] or np.ndim(logvar) > mean.ndim:
            raise ValueError(
                f"logvar {np.shape(logvar)} must be a scalar or match mean {mean.shape}"
            )
        logvar = jnp.broadcast_to(logvar, mean.shape)
    # A scalar logvar broadcasts (rank promotion allows scalars).
    per_dim = jnp.square(x - mean) * jnp.exp(-logvar) + logvar + _LOG_2PI
    return -0.5 * jnp.sum(per_dim, axis=-1)


def bernoulli_log_likelihood(x: Array, logits: Array) -> Array:
    """sum_i x_i log p_i + (1 - x_i) log(1 - p_i), p = sigmoid(logits) (claim 1.8).

    Computed from logits as `x * l - softplus(l)`, which is the same quantity
    (log sigmoid(l) = l - softplus(l), log(1 - sigmoid(l)) = -softplus(l)) and
    stays finite for any finite logits. For x in {0, 1} it is the exact
    log-probability. Concrete x outside [0, 1] raises; under `jit` or `grad` x is
    not checked (the data loader guarantees binary x).

    Args:
      x: [..., D] binary data; may lack the logits' leading sample axes.
      logits: [..., D].

    Returns:
      [...]: summed over the last axis.

    Raises:
      ValueError: the event axes differ, or concrete x has values outside [0, 1].
    """
    check_unit_interval("x", x)
    x, logits = _align_event("x", x, "logits", logits, 1)
    return jnp.sum(x * logits - jax.nn.softplus(logits), axis=-1)


def categorical_log_likelihood(x_onehot: Array, logits: Array) -> Array:
    """sum_d sum_k x_dk log softmax(logits_d)_k: per-dimension categorical (claim 1.8).

    For one-hot x (checked by the data pipeline, not here) this is the exact
    log-probability of the observed levels, i.e. minus the cross-entropy.

    Args:
      x_onehot: [..., D, K] one-hot data; may lack the logits' leading sample axes.
      logits: [..., D, K] unnormalised log-probabilities.

    Returns:
      [...]: summed over the last two axes (D and K).
    """
    x_onehot, logits = _align_event("x_onehot", x_onehot, "logits", logits, 2)
    return jnp.sum(x_onehot * jax.nn.log_softmax(logits, axis=-1), axis=(-2, -1))


def standard_normal_log_density(z: Array) -> Array:
    """log N(z; 0, I), summed over the last axis."""
    z = jnp.asarray(z)
    return -0.5 * jnp.sum(jnp.square(z) + _LOG_2PI, axis=-1)


def diag_gaussian_log_density(z: Array, mean: Array, logvar: Array) -> Array:
    """log N(z; mean, diag(exp(logvar))), summed over the last axis.

    Args:
      z: [..., d]; mean, logvar: [..., d] of the same shape as each other,
        broadcastable against z's leading axes (z may carry extra sample axes).
    """
    _check_same_shape("mean", mean, "logvar", logvar)
    z, mean = _align_event("z", z, "mean", mean, 1)
    return gaussian_log_likelihood(z, mean, jnp.broadcast_to(logvar, mean.shape))


# --------------------------------------------------------------------------- helpers


def _encode(encode_fn: EncodeFn, x: Array) -> tuple[Array, Array]:
    b, _ = _check_data(x)
    out = encode_fn(x)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ValueError("encode_fn(x) must return a pair (mean, logvar)")
    mean, logvar = out
    if np.ndim(mean) != 2 or np.shape(mean)[0] != b:
        raise ValueError(f"encode_fn(x) mean must be [batch={b}, latent_dim], got {np.shape(mean)}")
    _check_same_shape("encode_fn(x) mean", mean, "logvar", logvar)
    return mean, logvar


def _log_likelihood(log_likelihood_fn: LogLikelihoodFn, x: Array, z: Array) -> Array:
    out = log_likelihood_fn(x, z)
    if np.shape(out) != np.shape(z)[:-1]:
        raise ValueError(
            f"log_likelihood_fn(x, z) must return z's leading shape {np.shape(z)[:-1]} "
            f"(one log p(x|z) per sample and example), got {np.shape(out)}"
        )
    return out


def _log_weights_q(x, z, mean, logvar, log_likelihood_fn):
    """log p(x|z) + log p(z) - log q(z|x) for z: [S, B, d] (mean, logvar: [B, d])."""
    log_q = diag_gaussian_log_density(z, mean, logvar)
    return _log_likelihood(log_likelihood_fn, x, z) + standard_normal_log_density(z) - log_q


def _sample_noise(key: PRNGKey, indices: Array, shape: tuple[int, ...], dtype) -> Array:
    """eps_i ~ N(0, I) of `shape` for each sample index i: [S, *shape].

    Sample i depends only on (key, i), so chunked and unchunked estimates see the
    same samples.
    """
    return jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), shape, dtype))(indices)


def _check_sample_sizes(sample_sizes, chunk_size) -> tuple[tuple[int, ...], int]:
    """Validates increasing sample sizes against the chunking; returns (sizes, chunk_size)."""
    if isinstance(sample_sizes, (int, np.integer)) or not len(tuple(sample_sizes)):
        raise ValueError(f"sample_sizes must be a non-empty sequence, got {sample_sizes!r}")
    sizes = tuple(_check_num_samples("sample_sizes entries", n) for n in sample_sizes)
    if any(b <= a for a, b in zip(sizes[:-1], sizes[1:], strict=True)):
        raise ValueError(f"sample_sizes must be strictly increasing, got {sizes}")
    chunk = min(_check_num_samples("chunk_size", chunk_size), sizes[-1])
    for n in sizes[:-1]:
        if n > chunk and n % chunk:
            raise ValueError(
                f"sample_sizes entry {n} must be below chunk_size={chunk} or a multiple of it "
                "(the running estimate is read at chunk boundaries)"
            )
    return sizes, chunk


def _chunked_log_mean_exp(
    log_weight_fn: Callable[[Array], Array],
    sample_sizes: tuple[int, ...],
    chunk_size: int,
    batch: int,
    dtype,
) -> Array:
    """log (1/n) sum_{i<n} exp(log_weight_fn(i)) for each n in sample_sizes: [len(sizes), B].

    `log_weight_fn(indices [S]) -> [S, B]`. A running logsumexp is carried through
    `lax.scan` over chunks of sample indices, so only [chunk_size, B, ...]
    intermediates exist at once; one pass gives every prefix estimate. Sizes must
    be validated by `_check_sample_sizes`.
    """
    total = sample_sizes[-1]
    num_full, rest = divmod(total, chunk_size)
    small = [n for n in sample_sizes if n < chunk_size]  # read inside the first chunk

    def step(acc, start):
        log_w = log_weight_fn(start + jnp.arange(chunk_size))  # [c, B]
        # Prefix sums at the few small sizes (a cumulative op would cost O(c^2) on CPU).
        inside = jnp.stack(
            [jax.nn.logsumexp(log_w[:n], axis=0) for n in small]
            if small
            else [jnp.zeros((batch,), dtype)]
        )
        acc = jnp.logaddexp(acc, jax.nn.logsumexp(log_w, axis=0))
        return acc, (acc, inside)

    acc = jnp.full((batch,), -jnp.inf, dtype)
    acc, (ends, inside) = jax.lax.scan(step, acc, jnp.arange(num_full) * chunk_size)
    if rest:
        log_w = log_weight_fn(num_full * chunk_size + jnp.arange(rest))
        acc = jnp.logaddexp(acc, jax.nn.logsumexp(log_w, axis=0))
    rows = []
    for n in sample_sizes:
        if n < chunk_size:
            rows.append(inside[0, small.index(n)])
        elif n % chunk_size == 0:
            rows.append(ends[n // chunk_size - 1])
        else:  # the last size, with a partial chunk
            rows.append(acc)
    log_n = jnp.log(jnp.asarray(sample_sizes, dtype))
    return jnp.stack(rows) - log_n[:, None]


# --------------------------------------------------------------------------- 1.6


def elbo(
    key: PRNGKey,
    x: Array,
    encode_fn: EncodeFn,
    log_likelihood_fn: LogLikelihoodFn,
    num_samples: int = 1,
) -> Array:
    """The evidence lower bound E_q[log p(x|z)] - KL(q(z|x) || p(z)) (claim 1.6 in docs/claims.md).

    Kingma & Welling (2014), eq. 10: the reconstruction term is a Monte Carlo
    average over `num_samples` reparameterised draws from q (so its gradient
    flows into the encoder), the KL term the closed form of 1.7.

    Args:
      key: the noise key for z ~ q(z|x).
      x: [B, D] data.
      encode_fn: x -> (mean, logvar) of q(z|x), each [B, d].
      log_likelihood_fn: (x [B, D], z [S, B, d]) -> log p(x|z) [S, B].
      num_samples: S >= 1 draws per example.

    Returns:
      [B] one ELBO estimate per example, in nats.
    """
    num_samples = _check_num_samples("num_samples", num_samples)
    mean, logvar = _encode(encode_fn, x)
    eps = jax.random.normal(key, (num_samples,) + mean.shape, mean.dtype)
    z = mean[None] + jnp.exp(0.5 * logvar)[None] * eps  # [S, B, d]
    reconstruction = jnp.mean(_log_likelihood(log_likelihood_fn, x, z), axis=0)
    return reconstruction - kl_to_standard_normal(mean, logvar)


def iwae_bound(
    key: PRNGKey,
    x: Array,
    encode_fn: EncodeFn,
    log_likelihood_fn: LogLikelihoodFn,
    num_samples: int,
) -> Array:
    """The IWAE bound log (1/k) sum_j p(x, z_j) / q(z_j|x) (Burda et al. 2016, eq. 8).

    z_j ~ q(z|x) reparameterised; computed with logsumexp. Its expectation rises
    with k towards log p(x); for k = 1 it is the single-sample ELBO with a Monte
    Carlo KL, whose expectation equals `elbo`'s.

    Args:
      key: the noise key.
      x: [B, D] data.
      encode_fn, log_likelihood_fn: see the module docstring.
      num_samples: k >= 1.

    Returns:
      [B] one bound per example, in nats.
    """
    num_samples = _check_num_samples("num_samples", num_samples)
    mean, logvar = _encode(encode_fn, x)
    eps = jax.random.normal(key, (num_samples,) + mean.shape, mean.dtype)
    z = mean[None] + jnp.exp(0.5 * logvar)[None] * eps  # [k, B, d]
    log_w = _log_weights_q(x, z, mean, logvar, log_likelihood_fn)  # [k, B]
    return jax.nn.logsumexp(log_w, axis=0) - math.log(num_samples)


# --------------------------------------------------------------------------- 1.4, 1.5


def _prior_log_weight_fn(key, x, log_likelihood_fn, latent_dim):
    b, _ = _check_data(x)
    dtype = jnp.promote_types(jnp.result_type(x), jnp.float32)

    def log_weight_fn(indices):
        z = _sample_noise(key, indices, (b, latent_dim), dtype)  # [S, B, d]
        return _log_likelihood(log_likelihood_fn, x, z)

    return log_weight_fn, b, dtype


def _importance_log_weight_fn(key, x, encode_fn, log_likelihood_fn):
    mean, logvar = _encode(encode_fn, x)
    b, d = mean.shape

    def log_weight_fn(indices):
        eps = _sample_noise(key, indices, (b, d), mean.dtype)
        z = mean[None] + jnp.exp(0.5 * logvar)[None] * eps  # [S, B, d]
        return _log_weights_q(x, z, mean, logvar, log_likelihood_fn)

    return log_weight_fn, b, mean.dtype


def log_px_prior_mc(
    key: PRNGKey,
    x: Array,
    log_likelihood_fn: LogLikelihoodFn,
    latent_dim: int,
    num_samples: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Array:
    """The naive estimate log (1/N) sum_i p(x|z_i), z_i ~ N(0, I) (claim 1.4 in docs/claims.md).

    Unbiased for p(x), but log of it is biased low (Jensen) and extremely noisy
    unless N is huge, because almost no prior sample explains x. Samples are
    processed `chunk_size` at a time with a running logsumexp, so memory is
    O(chunk_size * B * D) whatever N is; sample i depends only on (key, i), so the
    result does not depend on chunk_size. Differentiable (maximum likelihood on
    this estimate is the naive training objective of 1.4).

    Args:
      key: the key for the prior samples.
      x: [B, D] data.
      log_likelihood_fn: (x [B, D], z [S, B, d]) -> [S, B].
      latent_dim: d >= 1.
      num_samples: N >= 1.
      chunk_size: samples per chunk (memory ~ chunk_size * B * D floats).

    Returns:
      [B] log p(x) estimates, in nats.
    """
    return log_px_prior_mc_curve(
        key, x, log_likelihood_fn, latent_dim, (_check_num_samples("num_samples", num_samples),),
        chunk_size,
    )[0]  # fmt: skip


def log_px_prior_mc_curve(
    key: PRNGKey,
    x: Array,
    log_likelihood_fn: LogLikelihoodFn,
    latent_dim: int,
    sample_sizes: tuple[int, ...],
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Array:
    """`log_px_prior_mc` with the first n samples, for every n in `sample_sizes`, in one pass.

    Row j equals `log_px_prior_mc(key, x, ..., num_samples=sample_sizes[j])`
    (same key, same samples): the estimates are nested, not independent.

    Args:
      sample_sizes: strictly increasing; each below `chunk_size` or a multiple of
        it, except the last.
      (others as `log_px_prior_mc`)

    Returns:
      [len(sample_sizes), B].
    """
    latent_dim = _check_num_samples("latent_dim", latent_dim)
    sizes, chunk = _check_sample_sizes(sample_sizes, chunk_size)
    log_weight_fn, b, dtype = _prior_log_weight_fn(key, x, log_likelihood_fn, latent_dim)
    return _chunked_log_mean_exp(log_weight_fn, sizes, chunk, b, dtype)


def log_px_importance(
    key: PRNGKey,
    x: Array,
    encode_fn: EncodeFn,
    log_likelihood_fn: LogLikelihoodFn,
    num_samples: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Array:
    """Importance sampling: log (1/N) sum_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q (claim 1.5).

    The same quantity as `iwae_bound` with k = N (Burda et al. 2016 use it with
    N = 5,000 as the test log-likelihood), computed in chunks with a running
    logsumexp so that thousands of samples per example fit in memory; sample i
    depends only on (key, i), so the result does not depend on chunk_size. Exact
    with one sample when q is the true posterior p(z|x).

    Args:
      key: the key for the samples from q.
      x: [B, D] data.
      encode_fn: x -> (mean, logvar) of q(z|x), each [B, d].
      log_likelihood_fn: (x [B, D], z [S, B, d]) -> [S, B].
      num_samples: N >= 1.
      chunk_size: samples per chunk (memory ~ chunk_size * B * D floats).

    Returns:
      [B] log p(x) estimates, in nats.
    """
    return log_px_importance_curve(
        key, x, encode_fn, log_likelihood_fn, (_check_num_samples("num_samples", num_samples),),
        chunk_size,
    )[0]  # fmt: skip


def log_px_importance_curve(
    key: PRNGKey,
    x: Array,
    encode_fn: EncodeFn,
    log_likelihood_fn: LogLikelihoodFn,
    sample_sizes: tuple[int, ...],
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Array:
    """`log_px_importance` with the first n samples, for every n in `sample_sizes`, in one pass.

    Row j equals `log_px_importance(key, x, ..., num_samples=sample_sizes[j])`.

    Args:
      sample_sizes: strictly increasing; each below `chunk_size` or a multiple of
        it, except the last.
      (others as `log_px_importance`)

    Returns:
      [len(sample_sizes), B].
    """
    sizes, chunk = _check_sample_sizes(sample_sizes, chunk_size)
    log_weight_fn, b, dtype = _importance_log_weight_fn(key, x, encode_fn, log_likelihood_fn)
    return _chunked_log_mean_exp(log_weight_fn, sizes, chunk, b, dtype)
