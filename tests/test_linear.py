"""Tests for genjax.linear (claim 1.1): PCA, the linear AE losses, subspace angles."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.linalg
from sklearn.decomposition import PCA

from genjax import linear


@pytest.fixture(autouse=True)
def _strict_rank_promotion():
    with jax.numpy_rank_promotion("raise"):
        yield


def _low_rank_data(seed=0, n=300, d=12):
    """Centred data with a clear spectrum: variances 10, 6, 3, 1 then small."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    scales = np.array([10.0, 6.0, 3.0, 1.0] + [0.1] * (d - 4))
    x = (rng.normal(size=(n, d)) * np.sqrt(scales)) @ basis.T
    return (x - x.mean(0)).astype(np.float32)


def test_pca_matches_sklearn():
    x = _low_rank_data() + 3.0  # not centred: pca centres it
    result = linear.pca(x, 3)
    ref = PCA(n_components=3, svd_solver="full").fit(x)
    assert result.components.shape == (3, 12)
    signs = np.sign(np.sum(np.asarray(result.components) * ref.components_, axis=1))
    np.testing.assert_allclose(result.components, ref.components_ * signs[:, None], atol=1e-4)
    np.testing.assert_allclose(result.explained_variance, ref.explained_variance_, rtol=1e-4)
    np.testing.assert_allclose(result.mean, ref.mean_, atol=1e-5)
    gram = result.components @ result.components.T
    np.testing.assert_allclose(gram, np.eye(3), atol=1e-5)


@pytest.mark.parametrize(
    "x, k, match",
    [
        (np.zeros((10,)), 1, "x must be a 2-D"),
        (np.zeros((10, 4)), 5, "k must be an integer"),
        (np.zeros((3, 4)), 4, "k must be an integer"),
        (np.zeros((10, 4)), 0, "k must be an integer"),
    ],
)
def test_pca_bad_inputs(x, k, match):
    with pytest.raises(ValueError, match=match):
        linear.pca(x, k)


def test_principal_angles_match_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3, 9)), rng.normal(size=(5, 9))
    for u, v in [(a, b), (b, a), (a, a[:2] + 0.3 * b[:2])]:
        got = linear.principal_angles(u.astype(np.float32), v.astype(np.float32))
        want = scipy.linalg.subspace_angles(u.T, v.T)
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_principal_angles_tiny_angle_is_accurate():
    # A 2-D plane rotated by 1e-4 rad out of itself: arccos of the cosine would give ~3e-4.
    d, eps = 6, 1e-4
    a = np.eye(d)[:2]
    b = a.copy()
    b[1] = np.cos(eps) * np.eye(d)[1] + np.sin(eps) * np.eye(d)[4]
    got = np.asarray(linear.principal_angles(a.astype(np.float32), b.astype(np.float32)))
    want = scipy.linalg.subspace_angles(a.T, b.T)
    np.testing.assert_allclose(want, [eps, 0.0], atol=1e-12)
    np.testing.assert_allclose(got, [eps, 0.0], rtol=1e-3, atol=1e-7)
    assert float(linear.max_principal_angle_deg(a, b)) == pytest.approx(math.degrees(eps), 1e-3)


def test_principal_angles_bad_inputs():
    with pytest.raises(ValueError, match="same last dimension"):
        linear.principal_angles(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="a must be a 2-D"):
        linear.principal_angles(np.ones(3), np.ones((2, 3)))


def test_orthonormality_error_constructed():
    q = np.linalg.qr(np.random.default_rng(2).normal(size=(8, 3)))[0].T  # [3, 8] orthonormal
    assert float(linear.orthonormality_error(q)) == pytest.approx(0.0, abs=1e-6)
    scaled = q * np.array([[2.0], [1.0], [1.0]])  # one row of norm 2: E E^T - I = diag(3, 0, 0)
    assert float(linear.orthonormality_error(scaled)) == pytest.approx(3.0, rel=1e-5)


def test_min_axis_angle_constructed():
    axes = np.eye(4)[:2]
    theta = np.radians(10.0)
    rotated = np.stack(
        [np.cos(theta) * axes[0] + np.sin(theta) * axes[1],
         -np.sin(theta) * axes[0] + np.cos(theta) * axes[1]]
    )  # fmt: skip
    assert float(linear.min_axis_angle(rotated, axes)) == pytest.approx(10.0, rel=1e-4)
    assert float(linear.min_axis_angle(-3.0 * axes, axes)) == pytest.approx(0.0, abs=1e-4)
    tiny = np.stack([axes[0] + 1e-5 * np.eye(4)[3], axes[1] + 1.0 * np.eye(4)[2]])
    assert float(linear.min_axis_angle(tiny, axes)) == pytest.approx(math.degrees(1e-5), rel=1e-2)


def test_loss_at_pca_equals_pca_error_and_discarded_eigenvalues():
    x = _low_rank_data()
    result = linear.pca(x, 2)
    loss = linear.tied_reconstruction_loss(result.components, x)
    assert float(loss) == pytest.approx(
        float(linear.pca_reconstruction_error(x, result.components))
    )
    eigenvalues = np.linalg.eigvalsh(np.cov(x.T, bias=True).astype(np.float64))[::-1]
    assert float(loss) == pytest.approx(eigenvalues[2:].sum(), rel=1e-4)
    untied = {"E": result.components, "D": result.components.T}
    assert float(linear.untied_reconstruction_loss(untied, x)) == pytest.approx(float(loss))


def test_tied_gradient_matches_closed_form():
    # d/dW mean ||x - W^T W x||^2 = -(2/n) [W (x^T r + r^T x)] with r = x - x W^T W.
    x = _low_rank_data().astype(np.float32)
    w = np.asarray(linear.init_tied(jax.random.PRNGKey(0), 3, 12)["W"])
    r = x - x @ w.T @ w
    closed = -2.0 / x.shape[0] * (w @ (x.T @ r + r.T @ x))
    grad = jax.grad(linear.tied_reconstruction_loss)(jnp.asarray(w), jnp.asarray(x))
    np.testing.assert_allclose(grad, closed, rtol=1e-4, atol=1e-5)


def test_gram_equivalent_batch_gives_same_loss_and_grad():
    x = _low_rank_data()
    batch = linear.gram_equivalent_batch(x)
    assert batch.shape == (12, 12)
    params = linear.init_untied(jax.random.PRNGKey(1), 3, 12, scale=2.0)
    loss_fn = linear.make_loss_fn("untied")
    (l1, _), g1 = jax.value_and_grad(loss_fn, has_aux=True)(params, x, None)
    (l2, _), g2 = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, None)
    assert float(l1) == pytest.approx(float(l2), rel=1e-5)
    for name in ("E", "D"):
        np.testing.assert_allclose(g1[name], g2[name], rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("variant", ["tied", "untied"])
def test_trained_ae_reaches_pca_subspace(variant):
    x = jnp.asarray(_low_rank_data())
    k = 2
    components = linear.pca(x, k).components
    params = linear.init_params(jax.random.PRNGKey(3), variant, k, x.shape[1])
    optimizer = linear.make_optimizer("lbfgs", 0.0, 0)
    state = linear_state(params, optimizer)
    step = jax.jit(linear.make_lbfgs_train_step(linear.make_loss_fn(variant), optimizer))
    for _ in range(150):
        state, metrics = step(state, x)
    basis = linear.ae_basis(variant, state.params)
    assert float(linear.max_principal_angle_deg(basis, components)) < 0.1
    pca_error = float(linear.pca_reconstruction_error(x, components))
    assert float(metrics["loss"]) <= pca_error * 1.0001
    if variant == "tied":
        assert float(linear.orthonormality_error(basis)) < 1e-3


def linear_state(params, optimizer):
    from genjax.train import create_train_state

    return create_train_state(params, optimizer, jax.random.PRNGKey(0))


def test_make_optimizer_and_variant_errors():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        linear.make_optimizer("newton", 1e-3, 10)
    with pytest.raises(ValueError, match="variant must be one of"):
        linear.make_loss_fn("shared")
    assert isinstance(linear.make_optimizer("adam", 1e-3, 10), optax.GradientTransformation)


def _small_config():
    from experiments.configs import pca_vs_linear_ae as cfg

    config = cfg.get_config("quick")
    config.ks = (2,)
    config.figure_k = 2
    config.num_steps = 40
    config.num_steps_tied = 40
    config.log_every = 20
    config.eval_every = 20
    config.float64 = False
    return config


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("num_steps", -1, "num_steps must be positive"),
        ("ks", (0,), "ks entries"),
        ("ks", (785,), "ks entries"),
        ("optimizer", "newton", "optimizer"),
        ("batch_size", 64, "lbfgs"),
    ],
)
def test_validate_config_rejects(field, value, match):
    from experiments import common
    from experiments.pca_vs_linear_ae import validate_config

    config = _small_config()
    config[field] = value
    with pytest.raises(common.ConfigError, match=match):
        validate_config(config)


def test_train_and_evaluate_end_to_end(tmp_path):
    from experiments.pca_vs_linear_ae import train_and_evaluate

    metrics = train_and_evaluate(_small_config(), tmp_path)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    for v in ("tied", "untied"):
        for name in ("max_principal_angle_deg", "recon_mse_ratio", "orthonormality_error",
                     "min_axis_angle_deg"):  # fmt: skip
            key = f"{name}_{v}_k2"
            assert key in on_disk and math.isfinite(on_disk[key]), key
    assert metrics == on_disk
    assert (tmp_path / "components.png").stat().st_size > 0
    assert (tmp_path / "principal_angles.png").stat().st_size > 0
    assert (tmp_path / "config.json").exists()
    assert (tmp_path / "tied_k2" / "metrics.jsonl").exists()


@pytest.mark.parametrize("name", ["adam", "sgd"])
@pytest.mark.parametrize("learning_rate", [0.0, -1e-3, float("nan"), float("inf"), "1e-3", None])
def test_make_optimizer_rejects_a_bad_learning_rate(name, learning_rate):
    with pytest.raises(ValueError, match="learning_rate must be a positive finite number, got"):
        linear.make_optimizer(name, learning_rate, 10)


def test_make_optimizer_lbfgs_ignores_the_learning_rate():
    assert isinstance(linear.make_optimizer("lbfgs", 0.0, 0), optax.GradientTransformation)


@pytest.mark.parametrize("variant", linear.VARIANTS)
@pytest.mark.parametrize("k", [0, -1, 13, 2.0, True])
def test_init_rejects_k_outside_1_to_d(variant, k):
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, d = 12\], got"):
        linear.init_params(jax.random.PRNGKey(0), variant, k, 12)


def test_pca_rejects_k_outside_range():
    x = np.random.default_rng(0).normal(size=(20, 5))
    for k in (0, -2, 6):
        with pytest.raises(ValueError, match="k must be an integer in"):
            linear.pca(x, k)


def test_linear_losses_name_a_feature_mismatch():
    key = jax.random.PRNGKey(0)
    tied = linear.init_tied(key, 3, 12)["W"]
    untied = linear.init_untied(key, 3, 12)
    x = jnp.ones((5, 10))
    message = r"x must be \[n, 12\] \(the weights' feature dimension d = 12\), got shape \(5, 10\)"
    for fn, params in (
        (linear.tied_reconstruction_loss, tied),
        (linear.reconstruct_tied, tied),
        (linear.untied_reconstruction_loss, untied),
        (linear.reconstruct_untied, untied),
    ):
        with pytest.raises(ValueError, match=message):
            fn(params, x)
        with pytest.raises(ValueError, match=message):  # shapes are static: checked under jit too
            jax.jit(fn)(params, x)
    with pytest.raises(ValueError, match=r"params\['D'\] must be \[d, k\] = \(12, 3\)"):
        linear.untied_reconstruction_loss({"E": untied["E"], "D": untied["D"].T}, jnp.ones((5, 12)))
    # Matching shapes still work, jitted or not.
    good = jnp.ones((5, 12))
    np.testing.assert_allclose(
        jax.jit(linear.tied_reconstruction_loss)(tied, good),
        linear.tied_reconstruction_loss(tied, good),
        rtol=1e-6,
    )
