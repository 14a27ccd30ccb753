"""The papers' own GAN settings (2.4: Metz et al.; 2.5: the powered stability sweep) and the
mode-coverage snapshots they are judged with."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import gan_mixture
from genjax import gan


def _tiny(config):
    config.num_seeds = 2
    config.num_steps = 4
    config.log_every = 2
    config.snapshot_every = 2
    config.gen_hidden = config.disc_hidden = (8,)
    config.eval_samples = config.snapshot_samples = 200
    config.w1_samples = 50
    return config


def test_metz_config_holds_the_reference_notebooks_values():
    from experiments.configs import gan_mixture_metz

    c = gan_mixture_metz.get_config("full")
    assert (c.batch_size, c.noise_dim, c.num_steps) == (512, 256, 25_000)
    assert tuple(c.gen_hidden) == tuple(c.disc_hidden) == (128, 128)
    assert (c.activation, c.weight_init, c.weight_init_gain) == ("tanh", "orthogonal", 1.4)
    assert (c.gen_learning_rate, c.disc_learning_rate) == (1e-3, 1e-4)
    assert (c.adam_beta1, c.adam_beta2, c.adam_eps) == (0.5, 0.999, 1e-8)
    assert c.num_seeds >= 10 and tuple(c.datasets) == ("ring", "grid")
    names = [v.name for v in gan_mixture.resolve_variants(c)]
    assert {"gan_minimax", "gan_nonsaturating", "unrolled_k5", "unrolled_k10"} <= set(names)
    mbd = [v for v in gan_mixture.resolve_variants(c) if v.minibatch_kernels]
    assert [(v.objective, v.minibatch_kernels) for v in mbd] == [("nonsaturating", 100)]
    gan_mixture.validate_config(c)


def test_stability_config_has_ten_seeds_per_cell_and_no_variant_table():
    from experiments.configs import gan_stability

    c = gan_stability.get_config("full")
    assert c.stability_sweep and c.stability_seeds >= 10 and tuple(c.datasets) == ()
    assert c.snapshot_every > 0 and c.num_steps % c.snapshot_every == 0
    gan_mixture.validate_config(c)


def test_orthogonal_weights_have_the_configured_gain():
    from experiments.configs import gan_mixture_metz

    config = gan_mixture_metz.get_config("quick")
    gen = gan.Generator(hidden=(16, 16), out_dim=2, kernel_init=gan_mixture.kernel_init(config))
    params = gen.init(jax.random.PRNGKey(0), jnp.zeros((1, 16)))
    w = np.asarray(params["params"]["mlp"]["hidden_1"]["kernel"])  # square 16 x 16
    np.testing.assert_allclose(w.T @ w, 1.4**2 * np.eye(16), atol=1e-5)
    default = gan.Generator(hidden=(16, 16), out_dim=2).init(
        jax.random.PRNGKey(0), jnp.zeros((1, 16))
    )
    w0 = np.asarray(default["params"]["mlp"]["hidden_1"]["kernel"])
    assert np.abs(w0.T @ w0 - 1.4**2 * np.eye(16)).max() > 0.1


def test_modes_visited_counts_the_union_of_covered_modes():
    covered = np.array([[0b0001, 0b0010, 0b0001], [0b0011, 0b0011, 0b0111], [0, 0, 0]])
    np.testing.assert_array_equal(gan_mixture.modes_visited(covered), [2.0, 3.0, 0.0])


def test_snapshots_through_training_end_at_the_final_score(tmp_path):
    from experiments.configs import gan_mixture_metz

    config = _tiny(gan_mixture_metz.get_config("quick"))
    config.variants = ("gan_minimax",)
    metrics = gan_mixture.train_and_evaluate(config, tmp_path)
    runs = json.loads((tmp_path / "per_run.json").read_text())["ring_gan_minimax"]
    assert runs["snapshot_steps"] == [2, 4]
    modes = np.array(runs["snapshot_modes"])
    assert modes.shape == (2, 2)
    # The last snapshot draws the same noise as the final score: the same numbers.
    np.testing.assert_array_equal(modes[:, -1], runs["modes"])
    np.testing.assert_allclose(np.array(runs["snapshot_hq"])[:, -1], runs["hq"], rtol=1e-6)
    assert np.all(np.array(runs["modes_visited"]) >= modes.max(axis=1))
    assert metrics["ring_gan_minimax_modes_visited_mean"] == np.mean(runs["modes_visited"])
    assert (tmp_path / "modes_over_training.png").exists()


def test_stability_sweep_alone_records_its_success_curves(tmp_path):
    from experiments.configs import gan_stability

    config = _tiny(gan_stability.get_config("quick"))
    config.stability_seeds = 1
    config.stability_methods = ("gan_minimax", "wgan_gp")
    config.stability_min_modes, config.stability_min_hq = 0, 0.0  # every run succeeds
    metrics = gan_mixture.train_and_evaluate(config, tmp_path)
    curves = json.loads((tmp_path / "stability_curves.json").read_text())
    assert set(curves) == {"gan_minimax", "wgan_gp"}
    for name, curve in curves.items():
        assert curve["steps"] == [2, 4] and curve["success_rate"] == [1.0, 1.0]
        assert metrics[f"ring_{name}_success_rate"] == 1.0
        assert metrics[f"ring_{name}_success_rate_half"] == 1.0
    assert (tmp_path / "stability_over_training.png").exists()
    assert not (tmp_path / "samples.png").exists()


@pytest.mark.parametrize(
    ("field", "value"), [("weight_init", "xavier"), ("snapshot_every", -1), ("weight_init_gain", 0)]
)
def test_bad_settings_fail_before_training(field, value):
    from experiments import common
    from experiments.configs import gan_mixture_metz

    config = gan_mixture_metz.get_config("quick")
    config[field] = value
    with pytest.raises(common.ConfigError, match=field):
        gan_mixture.validate_config(config)
