"""The workdir: a file or an unwritable directory is refused before any work, and its
checkpoints are resumed only under the config that saved them."""

import json
import os

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


def test_an_extendable_step_count_may_grow_and_nothing_else_may_change(tmp_path):
    steps = ("num_steps",)
    common.prepare_workdir(tmp_path, _config(num_steps=100), steps)
    (tmp_path / "checkpoints").mkdir()
    common.prepare_workdir(tmp_path, _config(num_steps=300), steps)  # trains on
    assert json.loads((tmp_path / "config.json").read_text())["num_steps"] == 300
    with pytest.raises(common.ConfigError, match="num_steps: 300 -> 200"):
        common.prepare_workdir(tmp_path, _config(num_steps=200), steps)  # past the checkpoints
    with pytest.raises(common.ConfigError, match="num_steps: 300 -> 400"):
        common.prepare_workdir(tmp_path, _config(num_steps=400))  # not extendable there
    with pytest.raises(common.ConfigError, match=r"seed: 0 -> 1"):
        common.prepare_workdir(tmp_path, _config(num_steps=400, seed=1), steps)
    with pytest.raises(common.ConfigError, match="num_steps: 300 -> 400.0"):
        common.prepare_workdir(tmp_path, _config(num_steps=400.0), steps)  # a count is an int


def test_unreadable_config_next_to_checkpoints_is_refused(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(common.ConfigError, match="cannot be read"):
        common.prepare_workdir(tmp_path, _config())
    (tmp_path / "config.json").unlink()
    with pytest.raises(common.ConfigError, match="cannot be read"):
        common.prepare_workdir(tmp_path, _config())


def test_check_workdir_creates_a_writable_directory_and_leaves_no_probe(tmp_path):
    workdir = common.check_workdir(str(tmp_path / "a" / "b"))
    assert workdir == tmp_path / "a" / "b" and workdir.is_dir()
    assert list(workdir.iterdir()) == []
    assert common.check_workdir(workdir) == workdir  # an existing directory is fine


def test_check_workdir_refuses_a_file_or_a_path_below_one(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("kept")
    with pytest.raises(common.ConfigError, match="--workdir must be a directory, got .*notes.txt"):
        common.check_workdir(a_file)
    with pytest.raises(common.ConfigError, match="--workdir must be a writable directory"):
        common.check_workdir(a_file / "run")
    with pytest.raises(common.ConfigError, match="--workdir must be a directory"):
        common.prepare_workdir(a_file, _config())
    assert a_file.read_text() == "kept"


def test_check_workdir_refuses_a_directory_it_cannot_write(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(common.tempfile, "mkstemp", denied)
    with pytest.raises(common.ConfigError, match=r"writable directory, got .*\(Permission denied"):
        common.prepare_workdir(tmp_path / "run", _config())
    assert not (tmp_path / "run" / "config.json").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_check_workdir_refuses_a_read_only_directory(tmp_path):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        with pytest.raises(common.ConfigError, match="--workdir must be a writable directory"):
            common.check_workdir(read_only)
        with pytest.raises(common.ConfigError, match="--workdir must be a writable directory"):
            common.check_workdir(read_only / "run")
    finally:
        read_only.chmod(0o755)


def test_require_batch_fits_names_the_field_and_the_data():
    common.require_batch_fits(4000, 4000, "MNIST's training set")
    common.require_batch_fits(0, 4000, "MNIST's training set")  # 0: full batch
    with pytest.raises(
        common.ConfigError,
        match=r"config.batch_size must be at most 4000 \(the examples in MNIST's training set\), "
        "got 4001",
    ):
        common.require_batch_fits(4001, 4000, "MNIST's training set")
    with pytest.raises(common.ConfigError, match="config.critic_batch_size must be at most 3"):
        common.require_batch_fits(8, 3, "the grid", field="critic_batch_size")


def test_every_experiment_checkpoints_on_a_time_interval_set_by_its_config(monkeypatch, tmp_path):
    from experiments import common, pca_vs_linear_ae

    for path in sorted((common.CONFIGS_DIR).glob("[a-z]*.py")):
        for profile in common.main_job_profiles(path.stem):
            config = common.get_config(path.stem, profile)
            assert config.checkpoint_every_secs == 300.0, path.stem
    assert "checkpoint_every_secs" in common.RESUME_SAFE_KEYS  # changes no number

    seen = {}

    class Stop(Exception):
        pass

    def fake_train(*args, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(pca_vs_linear_ae, "train", fake_train)
    config = common.get_config("pca_vs_linear_ae", "quick")
    config.checkpoint_every_secs = 12.5
    with pytest.raises(Stop):
        pca_vs_linear_ae.train_and_evaluate(config, tmp_path / "run")
    assert seen["checkpoint_every_secs"] == 12.5
    common.release_workdirs()
