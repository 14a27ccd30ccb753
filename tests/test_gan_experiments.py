"""End-to-end runs of the GAN experiments on shrunken configs."""

import math

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
    for key in (
        "disc_loss_vs_sklearn_abs_diff", "saturating_final_w1", "nonsaturating_final_w1",
        "adam_saturating_final_w1", "dstar_max_abs_error", "v_dstar_minus_2js_plus_log4",
        "js_parallel_max_abs_dev_from_log2", "w1_parallel_max_abs_error", "critic_w1_corr",
    ):  # fmt: skip
        assert math.isfinite(metrics[key]), key
    for figure in ("generator_gradients", "saturation_runs", "optimal_discriminator",
                   "parallel_lines"):  # fmt: skip
        assert (tmp_path / f"{figure}.png").exists()
