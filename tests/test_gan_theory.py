"""genjax.gan losses and divergences against independent references (claims 2.1, 2.2, 2.3, 2.5)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import log_loss

from genjax import gan


def test_discriminator_loss_is_logistic_regression_log_loss():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(1.0, 2.0, 37), rng.normal(-1.0, 2.0, 23)  # unequal sizes
    probs = 1 / (1 + np.exp(-np.concatenate([real, fake])))
    labels = np.concatenate([np.ones(37), np.zeros(23)])
    expected = log_loss(labels, probs)
    np.testing.assert_allclose(gan.discriminator_loss(real, fake), expected, rtol=1e-5)
    np.testing.assert_allclose(
        gan.discriminator_loss(real[:, None], fake[:, None]), expected, rtol=1e-5
    )


def test_value_is_minus_twice_the_loss_for_equal_batches():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=50), rng.normal(size=50)
    v = np.mean(np.log(1 / (1 + np.exp(-real)))) + np.mean(np.log(1 - 1 / (1 + np.exp(-fake))))
    np.testing.assert_allclose(gan.gan_value(real, fake), v, rtol=1e-5)
    np.testing.assert_allclose(gan.gan_value(real, fake), -2 * gan.discriminator_loss(real, fake))


def test_losses_are_stable_at_extreme_logits():
    big = jnp.array([-200.0, 200.0])
    for value in (
        gan.discriminator_loss(big, big),
        gan.saturating_generator_loss(big),
        gan.nonsaturating_generator_loss(big),
    ):
        assert np.isfinite(value)
    np.testing.assert_allclose(gan.nonsaturating_generator_loss(jnp.array([-200.0])), 200.0)


def test_saturating_gradient_vanishes_where_nonsaturating_does_not():
    """At D(G(z)) -> 0 (logit -> -inf): d/dl log(1 - sigmoid(l)) = -sigmoid(l) -> 0 (2.2)."""
    logits = jnp.array([-12.0, -6.0, 0.0, 6.0])
    d = jax.nn.sigmoid(logits)
    sat = jax.vmap(jax.grad(lambda logit: gan.saturating_generator_loss(logit[None])))(logits)
    nonsat = jax.vmap(jax.grad(lambda logit: gan.nonsaturating_generator_loss(logit[None])))(logits)
    np.testing.assert_allclose(sat, -d, rtol=1e-5)  # closed forms
    np.testing.assert_allclose(nonsat, -jax.nn.sigmoid(-logits), rtol=1e-5)  # = -(1 - D)
    assert abs(sat[0]) < 1e-5 and abs(nonsat[0]) > 0.99999


def test_bad_logit_shapes_raise():
    with pytest.raises(ValueError, match="real_logits must have shape"):
        gan.discriminator_loss(jnp.zeros((4, 2)), jnp.zeros(4))
    with pytest.raises(ValueError, match="fake_logits must have shape"):
        gan.nonsaturating_generator_loss(jnp.zeros(()))


def grid_densities():
    x = np.linspace(-6, 6, 2001)
    p_data = scipy.stats.norm.pdf(x, -1.0, 1.0)
    p_g = 0.5 * scipy.stats.norm.pdf(x, 1.5, 0.7) + 0.5 * scipy.stats.norm.pdf(x, -2, 0.5)
    return x, p_data, p_g


def test_optimal_discriminator_maximises_v_pointwise_and_gives_2js_minus_log4():
    # float64: in float32, D* rounds to exactly 1 in the far tails where p_g is
    # tiny but non-zero, and p_g * log(1 - D*) becomes -inf.
    with jax.enable_x64(True):
        _check_optimal_discriminator()


def _check_optimal_discriminator():
    _, p_data, p_g = grid_densities()
    d_star = gan.optimal_discriminator(p_data, p_g)
    v_star = gan.value_on_grid(d_star, p_data, p_g)
    js = gan.js_divergence(p_data, p_g)
    np.testing.assert_allclose(v_star, 2 * js - np.log(4), rtol=1e-5, atol=1e-6)
    # Pointwise maximisation: any perturbation of D lowers V.
    rng = np.random.default_rng(0)
    for _ in range(20):
        noise = rng.normal(0, 0.05, d_star.shape)
        d = np.clip(np.asarray(d_star) + noise, 1e-6, 1 - 1e-6)
        assert gan.value_on_grid(d, p_data, p_g) < v_star
    # And scalar maximisation of a log y + b log(1 - y) at y = a / (a + b), per point.
    a, b = 0.3, 0.9
    ys = np.linspace(0.001, 0.999, 9999)
    np.testing.assert_allclose(
        ys[np.argmax(a * np.log(ys) + b * np.log(1 - ys))], a / (a + b), atol=2e-4
    )


def test_minimum_minus_log4_at_p_g_equal_p_data():
    _, p_data, p_g = grid_densities()
    v = gan.value_on_grid(gan.optimal_discriminator(p_data, p_data), p_data, p_data)
    np.testing.assert_allclose(v, -np.log(4), rtol=1e-6)
    # Every other p_g scores higher: C(G) = 2 JS - log 4 >= -log 4.
    for mix in (0.01, 0.3, 1.0):
        q = (1 - mix) * p_data + mix * p_g
        assert 2 * gan.js_divergence(p_data, q) - np.log(4) > -np.log(4)
    np.testing.assert_allclose(gan.js_divergence(p_data, p_data), 0.0, atol=1e-7)


def test_js_and_kl_match_scipy():
    _, p, q = grid_densities()
    pm, qm = p / p.sum(), q / q.sum()
    np.testing.assert_allclose(gan.kl_divergence(p, q), scipy.stats.entropy(pm, qm), rtol=1e-5)
    # scipy's jensenshannon is the square root of JS (natural log).
    np.testing.assert_allclose(
        gan.js_divergence(p, q),
        scipy.spatial.distance.jensenshannon(pm, qm) ** 2,
        rtol=1e-4,
    )


def test_parallel_lines_js_log2_kl_inf_w1_theta():
    """P = (0, U[0,1]), Q_theta = (theta, U[0,1]) on a grid over the first coordinate (2.5)."""
    xs = np.round(np.linspace(-1, 1, 201), 6)
    u = np.linspace(0, 1, 50)
    for theta in (-0.7, -0.05, 0.01, 0.3, 1.0):
        p = (xs == 0).astype(float)
        q = (xs == np.round(theta, 6)).astype(float)
        assert q.sum() == 1
        np.testing.assert_allclose(gan.js_divergence(p, q), np.log(2), rtol=1e-6)
        assert gan.kl_divergence(p, q) == np.inf
        points_p = np.stack([np.zeros(50), u], 1)
        points_q = np.stack([np.full(50, theta), u], 1)
        np.testing.assert_allclose(gan.wasserstein_exact(points_p, points_q), abs(theta), rtol=1e-6)
        np.testing.assert_allclose(gan.wasserstein_1d(points_p[:, 0], points_q[:, 0]), abs(theta))
    np.testing.assert_allclose(gan.js_divergence(p, p), 0.0, atol=1e-9)


def test_wasserstein_1d_matches_scipy_for_any_sizes():
    rng = np.random.default_rng(2)
    for n, m in ((100, 100), (37, 91), (1, 5)):
        x, y = rng.normal(size=n), rng.exponential(size=m)
        np.testing.assert_allclose(
            gan.wasserstein_1d(x, y), scipy.stats.wasserstein_distance(x, y), rtol=1e-5
        )


def test_wasserstein_exact_matches_brute_force_and_1d():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(6, 2)) + 1
    import itertools

    cost = np.linalg.norm(x[:, None] - y[None], axis=-1)
    brute = min(cost[range(6), list(p)].mean() for p in itertools.permutations(range(6)))
    np.testing.assert_allclose(gan.wasserstein_exact(x, y), brute, rtol=1e-12)
    a, b = rng.normal(size=(40, 1)), rng.normal(size=(40, 1))
    np.testing.assert_allclose(
        gan.wasserstein_exact(a, b), scipy.stats.wasserstein_distance(a[:, 0], b[:, 0])
    )
    with pytest.raises(ValueError, match="equal shape"):
        gan.wasserstein_exact(x, y[:5])


@pytest.mark.parametrize(
    "fn, names", [
        (gan.js_divergence, ("p", "q")),
        (gan.kl_divergence, ("p", "q")),
        (gan.optimal_discriminator, ("p_data", "p_g")),
    ],
)  # fmt: skip
def test_divergences_reject_values_that_are_not_masses(fn, names):
    good = np.array([0.2, 0.3, 0.5])
    for bad, message in (
        (np.array([0.5, -0.1, 0.6]), "must be non-negative"),
        (np.array([0.5, np.nan, 0.5]), "must be finite"),
        (np.zeros(3), "must have a positive total mass"),
    ):
        with pytest.raises(ValueError, match=f"{names[0]} {message}"):
            fn(bad, good)
        with pytest.raises(ValueError, match=f"{names[1]} {message}"):
            fn(good, bad)
    # Densities on a grid need not sum to 1: a common factor (the grid spacing) cancels.
    other = np.array([0.6, 0.3, 0.1])
    np.testing.assert_allclose(fn(40 * good, 40 * other), fn(good, other), rtol=1e-6)


def test_divergence_checks_are_skipped_under_jit():
    p, q = jnp.array([0.2, 0.3, 0.5]), jnp.array([0.4, 0.4, 0.2])
    for fn in (gan.js_divergence, gan.kl_divergence, gan.optimal_discriminator):
        np.testing.assert_allclose(jax.jit(fn)(p, q), fn(p, q), rtol=1e-6)
    # Traced values are not checked: a negative mass gives NaN instead of raising.
    assert np.isnan(jax.jit(gan.js_divergence)(jnp.array([0.5, -0.1, 0.6]), q))
    grad = jax.grad(lambda p: gan.js_divergence(p, q))(p)
    assert np.isfinite(grad).all()
