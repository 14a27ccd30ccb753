"""A workdir's checkpoints are resumed only under the config that saved them."""

import json

import ml_collections
import pytest

from experiments import common


def _config(**overrides):
    config = ml_collections.ConfigDict({"seed": 0, "learning_rate": 1e-3, "log_every": 10})
    config.update(overrides)
    return config


def test_without_checkpoints_a_changed_config_just_overwrites(tmp_path):
    common.prepare_workdir(tmp_path, _config())
    common.prepare_workdir(tmp_path, _config(seed=3))
    assert json.loads((tmp_path / "config.json").read_text())["seed"] == 3


def test_checkpoints_resume_only_under_the_same_config(tmp_path):
    common.prepare_workdir(tmp_path, _config())
    (tmp_path / "runs" / "a" / "checkpoints").mkdir(parents=True)
    common.prepare_workdir(tmp_path, _config())  # the same run: resumes
    common.prepare_workdir(tmp_path, _config(log_every=500))  # changes no number
    with pytest.raises(common.ConfigError, match=r"seed: 0 -> 1.*fresh --workdir"):
        common.prepare_workdir(tmp_path, _config(seed=1))
    with pytest.raises(common.ConfigError, match="extra: '\\(absent\\)' -> 2"):
        common.prepare_workdir(tmp_path, _config(extra=2))
    # Refused before writing: the config.json still describes the checkpoints.
    assert json.loads((tmp_path / "config.json").read_text())["seed"] == 0


def test_unreadable_config_next_to_checkpoints_is_refused(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(common.ConfigError, match="cannot be read"):
        common.prepare_workdir(tmp_path, _config())
    (tmp_path / "config.json").unlink()
    with pytest.raises(common.ConfigError, match="cannot be read"):
        common.prepare_workdir(tmp_path, _config())
