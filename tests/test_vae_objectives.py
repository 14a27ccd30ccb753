"""genjax.vae.objectives against independent references (SciPy, NumPy, Monte Carlo)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats
from jax.test_util import check_grads

from genjax.vae import objectives as ob

B, D, LATENT = 6, 5, 3


def _rng(seed=0):
    return np.random.default_rng(seed)


def _toy_model(seed=0):
    """A fixed nonlinear decoder and diagonal encoder on [B, D] data."""
    rng = _rng(seed)
    w_dec = jnp.asarray(rng.normal(size=(LATENT, D)), jnp.float32)
    w_enc = jnp.asarray(0.3 * rng.normal(size=(D, LATENT)), jnp.float32)
    x = jnp.asarray(rng.normal(size=(B, D)), jnp.float32)

    def encode_fn(x):
        return x @ w_enc, jnp.full((x.shape[0], LATENT), -1.0)

    def log_likelihood_fn(x, z):
        return ob.gaussian_log_likelihood(x, jnp.tanh(z @ w_dec), 0.0)

    return x, encode_fn, log_likelihood_fn


# ---------------------------------------------------------------- KL (1.7)


def test_kl_to_standard_normal_matches_monte_carlo_and_general_kl():
    rng = _rng(1)
    mean = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
    logvar = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
    kl = ob.kl_to_standard_normal(mean, logvar)
    assert kl.shape == (4,)
    zeros = jnp.zeros_like(mean)
    np.testing.assert_allclose(kl, ob.kl_diag_gaussians(mean, logvar, zeros, zeros), rtol=1e-6)
    # Monte Carlo: E_q[log q(z) - log p(z)] with z from scipy's own sampler.
    z = mean[None] + np.exp(0.5 * logvar)[None] * rng.normal(size=(200_000, 4, 3))
    log_q = scipy.stats.norm.logpdf(z, mean[None], np.exp(0.5 * logvar)[None]).sum(-1)
    log_p = scipy.stats.norm.logpdf(z).sum(-1)
    samples = log_q - log_p
    stderr = samples.std(0) / np.sqrt(samples.shape[0])
    assert np.all(np.abs(samples.mean(0) - np.asarray(kl)) < 5 * stderr + 1e-4)
    assert np.all(np.asarray(kl) > 0)
    np.testing.assert_allclose(ob.kl_to_standard_normal(zeros, zeros), 0.0, atol=1e-7)


def test_kl_diag_and_full_gaussians_match_numpy_closed_form():
    rng = _rng(2)
    mq, mp = rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    lq, lp = rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    diag = ob.kl_diag_gaussians(*(jnp.asarray(a, jnp.float32) for a in (mq, lq, mp, lp)))
    full = ob.kl_full_gaussians(
        jnp.asarray(mq), jax.vmap(jnp.diag)(jnp.exp(lq)), jnp.asarray(mp),
        jax.vmap(jnp.diag)(jnp.exp(lp)),
    )  # fmt: skip
    for i in range(2):
        sq, sp = np.diag(np.exp(lq[i])), np.diag(np.exp(lp[i]))
        spi = np.linalg.inv(sp)
        diff = mp[i] - mq[i]
        ref = 0.5 * (
            np.trace(spi @ sq) + diff @ spi @ diff - 4
            + np.linalg.slogdet(sp)[1] - np.linalg.slogdet(sq)[1]
        )  # fmt: skip
        np.testing.assert_allclose(diag[i], ref, rtol=1e-5)
        np.testing.assert_allclose(full[i], ref, rtol=1e-5)
    # A full covariance against NumPy's inverse / slogdet.
    a = rng.normal(size=(4, 4))
    cq = a @ a.T + 0.5 * np.eye(4)
    got = ob.kl_full_gaussians(jnp.asarray(mq[0]), jnp.asarray(cq), jnp.zeros(4), jnp.eye(4))
    ref = 0.5 * (np.trace(cq) + mq[0] @ mq[0] - 4 - np.linalg.slogdet(cq)[1])
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_kl_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match="logvar"):
        ob.kl_to_standard_normal(jnp.zeros((2, 3)), jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match="mean_p"):
        ob.kl_diag_gaussians(jnp.zeros(3), jnp.zeros(3), jnp.zeros(2), jnp.zeros(3))


# ---------------------------------------------------------------- likelihoods (1.8)


def test_gaussian_log_likelihood_matches_scipy():
    rng = _rng(3)
    x, mean = rng.normal(size=(4, 7)), rng.normal(size=(4, 7))
    logvar = rng.normal(size=(4, 7))
    got = ob.gaussian_log_likelihood(jnp.asarray(x), jnp.asarray(mean), jnp.asarray(logvar))
    ref = scipy.stats.norm.logpdf(x, mean, np.exp(0.5 * logvar)).sum(-1)
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    got = ob.gaussian_log_likelihood(jnp.asarray(x), jnp.asarray(mean))  # logvar = 0
    np.testing.assert_allclose(got, scipy.stats.norm.logpdf(x, mean).sum(-1), rtol=1e-5)
    # 1.8: -1/2 ||x - mu||^2 - (D/2) log 2 pi.
    np.testing.assert_allclose(
        got, -0.5 * ((x - mean) ** 2).sum(-1) - 3.5 * np.log(2 * np.pi), rtol=1e-5
    )
    # Leading sample axes on the decoder output: x [B, D] against mean [S, B, D].
    means = rng.normal(size=(3, 4, 7))
    got = ob.gaussian_log_likelihood(jnp.asarray(x), jnp.asarray(means), 0.5)
    ref = scipy.stats.norm.logpdf(x[None], means, np.exp(0.25)).sum(-1)
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_bernoulli_log_likelihood_matches_scipy_and_is_stable():
    rng = _rng(4)
    x = (rng.uniform(size=(4, 9)) < 0.5).astype(np.float32)
    logits = 3 * rng.normal(size=(4, 9)).astype(np.float32)
    got = ob.bernoulli_log_likelihood(jnp.asarray(x), jnp.asarray(logits))
    ref = scipy.stats.bernoulli.logpmf(x, scipy.special.expit(logits.astype(np.float64))).sum(-1)
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    # Saturated logits: log(sigmoid(.)) would give -inf / nan; the exact values are -/+ logits.
    x = jnp.asarray([[1.0, 0.0, 1.0, 0.0]])
    logits = jnp.asarray([[-200.0, 200.0, 200.0, -200.0]])
    np.testing.assert_allclose(ob.bernoulli_log_likelihood(x, logits), [-400.0], rtol=1e-6)
    grad = jax.grad(lambda lg: ob.bernoulli_log_likelihood(x, lg).sum())(logits)
    assert np.all(np.isfinite(grad))


def test_categorical_log_likelihood_matches_scipy_multinomial():
    rng = _rng(5)
    levels = rng.integers(0, 17, size=(3, 6))
    x = np.eye(17, dtype=np.float32)[levels]  # [3, 6, 17]
    logits = 2 * rng.normal(size=(3, 6, 17)).astype(np.float32)
    got = ob.categorical_log_likelihood(jnp.asarray(x), jnp.asarray(logits))
    probs = scipy.special.softmax(logits.astype(np.float64), axis=-1)
    ref = scipy.stats.multinomial.logpmf(x, n=1, p=probs).sum(-1)
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_decoder_output_that_does_not_match_the_data_is_a_value_error():
    with pytest.raises(ValueError, match="event"):
        ob.gaussian_log_likelihood(jnp.zeros((4, 7)), jnp.zeros((4, 8)))
    with pytest.raises(ValueError, match="do not broadcast"):
        ob.bernoulli_log_likelihood(jnp.zeros((4, 7)), jnp.zeros((3, 5, 7)))
    with pytest.raises(ValueError, match="event"):
        ob.categorical_log_likelihood(jnp.zeros((4, 7, 3)), jnp.zeros((4, 7, 4)))
    x, encode_fn, _ = _toy_model()

    def bad_log_likelihood_fn(x, z):  # decodes to D + 1 pixels
        return ob.gaussian_log_likelihood(x, jnp.zeros(z.shape[:-1] + (D + 1,)))

    with pytest.raises(ValueError, match="event"):
        jax.jit(lambda k: ob.elbo(k, x, encode_fn, bad_log_likelihood_fn))(jax.random.PRNGKey(0))


# ---------------------------------------------------------------- reparameterisation (1.9)


def test_reparameterize_moments_and_gradients_match_finite_differences():
    mean = jnp.asarray([[0.5, -1.0, 2.0]])
    logvar = jnp.asarray([[0.3, -0.7, 0.0]])
    z = ob.reparameterize(jax.random.PRNGKey(0), jnp.broadcast_to(mean, (50_000, 3)),
                          jnp.broadcast_to(logvar, (50_000, 3)))  # fmt: skip
    assert z.shape == (50_000, 3)
    np.testing.assert_allclose(z.mean(0), mean[0], atol=0.03)
    np.testing.assert_allclose(z.var(0), np.exp(logvar[0]), rtol=0.03)

    def loss(mean, logvar):  # a smooth function of a fixed-key sample
        z = ob.reparameterize(jax.random.PRNGKey(1), mean, logvar)
        return jnp.sum(jnp.sin(z) + z**2)

    check_grads(loss, (mean, logvar), order=1, modes=("rev",), atol=1e-2, rtol=1e-2)
    g_mean, g_logvar = jax.grad(loss, argnums=(0, 1))(mean, logvar)
    assert np.all(np.abs(g_mean) > 0) and np.all(np.abs(g_logvar) > 0)


# ---------------------------------------------------------------- ELBO / IWAE (1.6)


def test_iwae_with_one_sample_has_the_elbo_expectation_and_rises_with_k():
    x, encode_fn, log_likelihood_fn = _toy_model()
    ks = (1, 5, 50)

    @jax.jit
    def estimates(key):
        keys = jax.random.split(key, len(ks) + 1)
        bounds = [
            ob.iwae_bound(kk, x, encode_fn, log_likelihood_fn, k)
            for kk, k in zip(keys, ks, strict=False)
        ]
        return ob.elbo(keys[-1], x, encode_fn, log_likelihood_fn), jnp.stack(bounds)

    elbo, bounds = jax.lax.map(estimates, jax.random.split(jax.random.PRNGKey(3), 2000))
    assert elbo.shape == (2000, B) and bounds.shape == (2000, len(ks), B)
    n = elbo.shape[0]
    means = np.asarray(bounds.mean(0))  # [k, B]
    stderrs = np.asarray(bounds.std(0)) / np.sqrt(n)
    stderr = np.hypot(np.asarray(elbo.std(0)) / np.sqrt(n), stderrs[0])
    assert np.all(np.abs(np.asarray(elbo.mean(0)) - means[0]) < 5 * stderr)
    assert np.all(means[1] > means[0] + 3 * stderrs[0])
    assert np.all(means[2] > means[1] + 3 * stderrs[1])


def test_chunked_estimators_equal_unchunked_and_curves_equal_single_calls():
    x, encode_fn, log_likelihood_fn = _toy_model()
    key = jax.random.PRNGKey(4)

    @jax.jit
    def run(key):
        return {
            "whole": ob.log_px_importance(key, x, encode_fn, log_likelihood_fn, 300, 300),
            "chunked": ob.log_px_importance(key, x, encode_fn, log_likelihood_fn, 300, 7),
            "single10": ob.log_px_importance(key, x, encode_fn, log_likelihood_fn, 10, 10),
            "curve": ob.log_px_importance_curve(
                key, x, encode_fn, log_likelihood_fn, (1, 10, 100, 300), 50
            ),
            "naive": ob.log_px_prior_mc(key, x, log_likelihood_fn, LATENT, 250, chunk_size=16),
        }

    out = run(key)
    np.testing.assert_allclose(out["chunked"], out["whole"], rtol=1e-5)
    # Unchunked reference written out directly: the same samples, one logsumexp.
    eps = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), (B, LATENT)))(
        jnp.arange(250)
    )
    ref = jax.nn.logsumexp(log_likelihood_fn(x, eps), axis=0) - np.log(250)
    np.testing.assert_allclose(out["naive"], ref, rtol=1e-5)
    curve = out["curve"]
    assert curve.shape == (4, B)
    np.testing.assert_allclose(curve[-1], out["whole"], rtol=1e-5)
    np.testing.assert_allclose(curve[1], out["single10"], rtol=1e-5)
    assert not np.allclose(curve[0], curve[1])  # the rows really differ


def test_estimators_are_jit_and_grad_safe():
    x, encode_fn, log_likelihood_fn = _toy_model()

    @jax.jit
    def objective(scale):
        def ll(x, z):
            return log_likelihood_fn(x, scale * z)

        key = jax.random.PRNGKey(0)
        return jnp.mean(ob.log_px_prior_mc(key, x, ll, LATENT, 100, chunk_size=32))

    grad = jax.jit(jax.grad(objective))(1.0)
    h = 1e-2
    finite_difference = (objective(1.0 + h) - objective(1.0 - h)) / (2 * h)
    assert np.isfinite(grad) and abs(grad) > 1e-3
    np.testing.assert_allclose(grad, finite_difference, rtol=2e-2)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x, e, ll, k: ob.elbo(k, x, e, ll, num_samples=0), "num_samples"),
        (lambda x, e, ll, k: ob.iwae_bound(k, x, e, ll, num_samples=-1), "num_samples"),
        (lambda x, e, ll, k: ob.log_px_importance(k, x, e, ll, 0), "num_samples"),
        (lambda x, e, ll, k: ob.log_px_prior_mc(k, x, ll, 0, 10), "latent_dim"),
        (lambda x, e, ll, k: ob.log_px_prior_mc(k, x, ll, LATENT, 10, chunk_size=0), "chunk_size"),
        (lambda x, e, ll, k: ob.log_px_prior_mc(k, x[0], ll, LATENT, 10), "x must be a 2-D"),
        (lambda x, e, ll, k: ob.log_px_importance_curve(k, x, e, ll, (10, 5)), "increasing"),
        (lambda x, e, ll, k: ob.log_px_importance_curve(k, x, e, ll, (70, 100), 64), "multiple"),
        (lambda x, e, ll, k: ob.elbo(k, x, lambda x: (x[:, :2], x[:, :3]), ll), "logvar"),
        (lambda x, e, ll, k: ob.iwae_bound(k, x, e, lambda x, z: z.sum(), 2), "leading shape"),
    ],
)
def test_bad_input_raises_before_compilation(call, message):
    x, encode_fn, log_likelihood_fn = _toy_model()
    with pytest.raises(ValueError, match=message):
        call(x, encode_fn, log_likelihood_fn, jax.random.PRNGKey(0))


def test_bernoulli_log_likelihood_rejects_data_outside_0_1():
    logits = jnp.zeros((2, 3))
    for bad in (2.0, -0.5, np.nan):
        x = jnp.array([[0.0, 1.0, 0.5], [0.0, bad, 1.0]])
        with pytest.raises(ValueError, match=r"x must lie in \[0, 1\] \(Bernoulli data\), got 1"):
            ob.bernoulli_log_likelihood(x, logits)
    # Grey levels in [0, 1] are accepted; under jit the values are tracers and pass unchecked.
    x = jnp.array([[0.0, 1.0, 0.5], [0.25, 0.0, 1.0]])
    np.testing.assert_allclose(
        jax.jit(ob.bernoulli_log_likelihood)(x, logits), ob.bernoulli_log_likelihood(x, logits)
    )
    assert np.isfinite(jax.jit(ob.bernoulli_log_likelihood)(2.0 * x, logits)).all()
    grad = jax.grad(lambda x: ob.bernoulli_log_likelihood(x, logits).sum())(x)
    np.testing.assert_allclose(grad, logits)
