"""End-to-end runs of the GAN experiments on shrunken configs."""

import logging
import math

import numpy as np

from experiments import common, gan_theory
from experiments.configs import gan_theory as gan_theory_config


def test_gan_theory_end_to_end(tmp_path):
    config = gan_theory_config.get_config("quick")
    config.pretrain_steps = 20
    config.gan_steps = 20
    config.dstar_steps = 20
    config.num_thetas = 4
    config.critic_steps = 10
    config.line_points = 16
    config.log_every = 10
    metrics = gan_theory.train_and_evaluate(config, tmp_path)
    assert metrics == common.read_metrics_json(tmp_path)
    assert metrics["pretrain_steps_taken"] <= config.pretrain_steps
    for key in (
        "disc_loss_vs_sklearn_abs_diff", "saturating_final_w1", "nonsaturating_final_w1",
        "adam_saturating_final_w1", "dstar_max_abs_error", "v_dstar_minus_2js_plus_log4",
        "js_parallel_max_abs_dev_from_log2", "w1_parallel_max_abs_error", "critic_w1_corr",
    ):  # fmt: skip
        assert math.isfinite(metrics[key]), key
    for figure in ("generator_gradients", "saturation_runs", "optimal_discriminator",
                   "parallel_lines"):  # fmt: skip
        assert (tmp_path / f"{figure}.png").exists()


def test_class_histogram_kl_matches_scipy():
    from scipy import stats

    from genjax.gan.metrics import class_histogram_kl

    rng = np.random.default_rng(0)
    labels = rng.choice(10, size=5000, p=np.r_[np.full(8, 0.1), 0.15, 0.05])
    p = np.bincount(labels, minlength=10) / labels.size
    np.testing.assert_allclose(class_histogram_kl(labels), stats.entropy(p, np.full(10, 0.1)))
    np.testing.assert_allclose(class_histogram_kl(np.full(100, 3)), np.log(10))  # one digit
    np.testing.assert_allclose(class_histogram_kl(np.arange(100) % 10), 0.0, atol=1e-12)


def test_gan_mnist_config_errors_name_the_field(tmp_path):
    import pytest

    from experiments import gan_mnist
    from experiments.configs import gan_mnist as gan_mnist_config

    for field, value, message in (
        ("variants", ("wgan_clip",), "config.variants must be"),
        ("num_steps", 0, "config.num_steps must be positive"),
        ("gen_hidden", (64, 0), "config.gen_hidden must be positive"),
    ):
        config = gan_mnist_config.get_config("quick")
        config[field] = value
        with pytest.raises(common.ConfigError, match=message):
            gan_mnist.train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_pretrain_until_stops_at_the_target_or_at_the_cap(caplog):
    import jax.numpy as jnp

    from genjax.train import TrainState

    def halve(state, batch):  # w = 0.5 ** step
        del batch
        return state._replace(step=state.step + 1, params={"w": state.params["w"] * 0.5}), {
            "loss": state.params["w"]
        }

    start = TrainState(jnp.zeros((), jnp.int32), {"w": jnp.ones(())}, (), None)

    def run(target, max_steps):
        out = gan_theory.pretrain_until(
            start, halve, lambda step: np.zeros(1), lambda s: float(s.params["w"]), target,
            max_steps=max_steps, check_every=3, workdir=None, log_every=1,
        )  # fmt: skip
        return int(out.step)

    assert run(2.0, 100) == 0  # already there: no step
    assert run(0.01, 100) == 9  # 0.5 ** 7 < 0.01, first seen at the check after step 9
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert run(1e-9, 10) == 10  # capped, with a warning
    assert "above the target" in caplog.text


def test_pretrain_until_rerun_into_its_workdir_stops_where_the_first_run_did(tmp_path):
    import jax
    import jax.numpy as jnp

    from genjax.train import TrainState

    def halve(state, batch):  # w = 0.5 ** step
        del batch
        return state._replace(step=state.step + 1, params={"w": state.params["w"] * 0.5}), {
            "loss": state.params["w"]
        }

    start = TrainState(jnp.zeros((), jnp.int32), {"w": jnp.ones(())}, {}, jax.random.key(0))
    runs = [
        gan_theory.pretrain_until(
            start,
            halve,
            lambda step: np.zeros(1),
            lambda s: float(s.params["w"]),
            0.01,
            max_steps=100,
            check_every=3,
            workdir=tmp_path,
            log_every=1,
        )  # fmt: skip
        for _ in range(2)
    ]
    assert [int(r.step) for r in runs] == [9, 9]
    assert float(runs[1].params["w"]) == float(runs[0].params["w"]) == 0.5**9
