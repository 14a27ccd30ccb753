"""End-to-end run of experiments.likelihood_estimators on a shrunken config."""

import math

import pytest

from experiments import common, likelihood_estimators
from experiments.configs import likelihood_estimators as config_lib


def small_config():
    config = config_lib.get_config("quick")
    config.latent_dims = (2, 4)
    config.num_samples = (1, 10, 100)
    config.data_dim = 8
    config.num_examples = 4
    config.num_repeats = 2
    config.chunk_size = 10
    return config


def test_likelihood_estimators_end_to_end(tmp_path):
    metrics = likelihood_estimators.train_and_evaluate(small_config(), tmp_path)
    assert metrics == pytest.approx(common.read_metrics_json(tmp_path), nan_ok=True)
    for d in (2, 4):
        for n in (1, 10, 100):
            for estimator in ("naive", "importance"):
                assert math.isfinite(metrics[f"{estimator}_abs_error_d{d}_n{n}"])
        assert metrics[f"naive_samples_for_1nat_d{d}"] >= 1
    assert (tmp_path / "estimator_error.png").exists()
    assert (tmp_path / "config.json").exists()


def test_likelihood_estimators_rejects_bad_config(tmp_path):
    config = small_config()
    config.latent_dims = (2, 0)
    with pytest.raises(common.ConfigError):
        likelihood_estimators.train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
