"""The linear-Gaussian model: exact log p(x) and posterior, and the VAE identities proved on it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from genjax import linear
from genjax.vae import linear_gaussian as lg
from genjax.vae import objectives as ob

D, LATENT, B = 12, 3, 8


@pytest.fixture(scope="module")
def model_and_data():
    model = lg.random_model(jax.random.PRNGKey(0), D, LATENT, sigma=0.7)
    x = lg.sample(jax.random.PRNGKey(1), model, B)
    return model, x


def test_log_px_matches_scipy_multivariate_normal(model_and_data):
    model, x = model_and_data
    cov = np.asarray(lg.marginal_covariance(model), np.float64)
    ref = scipy.stats.multivariate_normal(np.asarray(model.bias, np.float64), cov).logpdf(
        np.asarray(x, np.float64)
    )
    got = lg.log_px(model, x)
    assert got.shape == (B,)
    np.testing.assert_allclose(got, ref, rtol=2e-5)


def test_posterior_matches_gaussian_conditioning(model_and_data):
    model, x = model_and_data
    w = np.asarray(model.weight, np.float64)
    c = np.asarray(lg.marginal_covariance(model), np.float64)
    gain = w.T @ np.linalg.inv(c)  # Cov(z, x) Cov(x)^-1
    ref_mean = (np.asarray(x, np.float64) - np.asarray(model.bias)[None]) @ gain.T
    ref_cov = np.eye(LATENT) - gain @ w
    post = lg.posterior(model, x)
    np.testing.assert_allclose(post.mean, ref_mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(post.cov, ref_cov, rtol=1e-4, atol=1e-6)


def test_elbo_identity_holds_exactly_for_an_arbitrary_gaussian_q(model_and_data):
    """1.6: ELBO(q) + KL(q || p(z|x)) = log p(x), to float tolerance, for any q."""
    model, x = model_and_data
    rng = np.random.default_rng(2)
    q_mean = jnp.asarray(rng.normal(size=(B, LATENT)), jnp.float32)
    a = rng.normal(size=(B, LATENT, LATENT))
    q_cov = jnp.asarray(a @ np.swapaxes(a, 1, 2) + 0.1 * np.eye(LATENT), jnp.float32)
    post = lg.posterior(model, x)
    elbo = lg.elbo_closed_form(model, x, q_mean, q_cov)
    kl_post = ob.kl_full_gaussians(q_mean, q_cov, post.mean, post.cov)
    log_px = lg.log_px(model, x)
    np.testing.assert_allclose(elbo + kl_post, log_px, rtol=1e-5)
    assert np.all(np.asarray(kl_post) > 1.0)  # a bad q: the bound is far from tight
    # ... and with q the exact posterior the bound is tight.
    np.testing.assert_allclose(lg.elbo_closed_form(model, x, post.mean, post.cov), log_px, 1e-5)


def test_closed_form_expected_log_likelihood_and_library_elbo_agree_with_monte_carlo(
    model_and_data,
):
    model, x = model_and_data
    encode_fn = lg.mean_field_encode_fn(model)
    mean, logvar = encode_fn(x)
    cov = jax.vmap(jnp.diag)(jnp.exp(logvar))
    closed = lg.elbo_closed_form(model, x, mean, cov)
    mc = jax.jit(lambda k: ob.elbo(k, x, encode_fn, lg.log_likelihood_fn(model), 20_000))(
        jax.random.PRNGKey(3)
    )
    np.testing.assert_allclose(mc, closed, atol=0.05)
    # The mean-field q is not the posterior here: its gap is KL(q || p(z|x)) > 0.
    assert np.all(np.asarray(lg.log_px(model, x) - closed) > 1e-3)


def test_exact_posterior_makes_elbo_iwae_and_importance_sampling_exact(model_and_data):
    model, x = model_and_data
    rotated = lg.diagonalize_posterior(model)
    np.testing.assert_allclose(lg.log_px(rotated, x), lg.log_px(model, x), rtol=1e-5)
    cov = np.asarray(lg.posterior(rotated, x).cov)
    np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0.0, atol=1e-5)
    with pytest.raises(ValueError, match="not diagonal"):
        lg.exact_posterior_encode_fn(model)
    encode_fn = lg.exact_posterior_encode_fn(rotated)
    ll = lg.log_likelihood_fn(rotated)
    log_px = lg.log_px(model, x)
    key = jax.random.PRNGKey(4)
    np.testing.assert_allclose(ob.iwae_bound(key, x, encode_fn, ll, 1), log_px, rtol=1e-5)
    np.testing.assert_allclose(ob.log_px_importance(key, x, encode_fn, ll, 1), log_px, rtol=1e-5)
    elbo = jax.jit(lambda k: ob.elbo(k, x, encode_fn, ll, 20_000))(key)
    np.testing.assert_allclose(elbo, log_px, atol=0.05)


def test_iwae_rises_with_k_towards_log_px_and_estimators_converge(model_and_data):
    model, x = model_and_data
    encode_fn = lg.mean_field_encode_fn(model)
    ll = lg.log_likelihood_fn(model)
    log_px = np.asarray(lg.log_px(model, x))
    ks = (1, 5, 50)

    @jax.jit
    def run(key):
        keys = jax.random.split(key, len(ks))
        return jnp.stack(
            [ob.iwae_bound(kk, x, encode_fn, ll, k) for kk, k in zip(keys, ks, strict=True)]
        )

    bounds = jax.lax.map(run, jax.random.split(jax.random.PRNGKey(5), 400))  # [R, k, B]
    gaps = np.asarray(log_px[None, None] - bounds).mean(axis=(0, 2))  # mean over keys, examples
    stderr = np.asarray(log_px[None, None] - bounds).mean(2).std(0) / np.sqrt(400)
    assert gaps[0] > gaps[1] + 3 * stderr[1] and gaps[1] > gaps[2] + 3 * stderr[2]
    assert gaps[2] > -3 * stderr[2]  # still a lower bound (in expectation)
    assert gaps[2] < 0.5 * gaps[0]  # and much closer to log p(x)

    @jax.jit
    def estimates(key):
        return (
            ob.log_px_prior_mc_curve(key, x, ll, LATENT, (200, 20_000), chunk_size=200),
            ob.log_px_importance(key, x, encode_fn, ll, 2_000, chunk_size=500),
        )

    naive, importance = estimates(jax.random.PRNGKey(6))
    naive_error = np.abs(np.asarray(naive) - log_px[None]).mean(1)
    assert naive_error[1] < 0.3 and naive_error[1] < 0.25 * naive_error[0]
    np.testing.assert_allclose(importance, log_px, atol=0.05)


def test_em_increases_log_px_and_converges_to_the_pca_subspace():
    model = lg.random_model(jax.random.PRNGKey(7), D, LATENT, sigma=0.5)
    x = lg.sample(jax.random.PRNGKey(8), model, 2_000)
    fit = lg.random_model(jax.random.PRNGKey(9), D, LATENT, sigma=1.0)
    step = jax.jit(lg.em_step)
    history = []
    for _ in range(200):
        fit = step(fit, x)
        history.append(float(jnp.mean(lg.log_px(fit, x))))
    assert all(b >= a - 1e-4 for a, b in zip(history, history[1:], strict=False))
    components = linear.pca(x, LATENT).components
    assert float(linear.max_principal_angle_deg(fit.weight.T, components)) < 1.0
    # The ML noise variance is the mean discarded eigenvalue (Tipping & Bishop 1999, eq. 8).
    eig = np.linalg.eigvalsh(np.cov(np.asarray(x, np.float64), rowvar=False, bias=True))[::-1]
    np.testing.assert_allclose(np.exp(2 * float(fit.log_sigma)), eig[LATENT:].mean(), rtol=1e-3)


def test_bad_input_is_a_value_error(model_and_data):
    model, x = model_and_data
    with pytest.raises(ValueError, match="x must be"):
        lg.log_px(model, x[:, :-1])
    with pytest.raises(ValueError, match="latent_dim"):
        lg.random_model(jax.random.PRNGKey(0), D, 0, 1.0)
    with pytest.raises(ValueError, match="sigma"):
        lg.random_model(jax.random.PRNGKey(0), D, 2, 0.0)
    with pytest.raises(ValueError, match="cov"):
        lg.elbo_closed_form(model, x, jnp.zeros((B, LATENT)), jnp.eye(LATENT + 1))
    with pytest.raises(ValueError, match="z must be"):
        lg.log_likelihood_fn(model)(x, jnp.zeros((B, LATENT + 1)))
