"""The experiment scripts' command lines: bad flags stop early with a clear message."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(module, workdir, *args):
    return subprocess.run(
        [sys.executable, "-m", f"experiments.{module}", f"--workdir={workdir}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "module, args, message",
    [
        ("pca_vs_linear_ae", ["--config.num_steps=-5"], "config.num_steps must be positive"),
        ("pca_vs_linear_ae", ["--config.ks=(2, 900)"], "config.ks entries must be integers"),
        ("pca_vs_linear_ae", ["--config.optimizer=rmsprop"], "config.optimizer='rmsprop'"),
        ("ae_latent_space", ["--config.ae_num_steps=0"], "config.ae_num_steps must be positive"),
        ("ae_latent_space", ["--config.latent_dims=(2, 0)"], "latent_dims must be integers >= 1"),
    ],
)
def test_bad_config_values_exit_before_any_work(tmp_path, module, args, message):
    proc = run_cli(module, tmp_path / "run", *args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written


def test_unknown_profile_and_missing_workdir_are_rejected(tmp_path):
    proc = run_cli(
        "pca_vs_linear_ae", tmp_path, "--config=experiments/configs/pca_vs_linear_ae.py:huge"
    )
    assert proc.returncode != 0 and "unknown config variant 'huge'" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.ae_latent_space"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "--workdir" in proc.stderr


def test_music_rejects_a_malformed_data_file_before_training(tmp_path):
    bad = tmp_path / "jsb.json"
    bad.write_text('{"train": [[[60, 64]]], "valid": [], "test": []}')
    proc = run_cli("music", tmp_path / "run", f"--config.data_path={bad}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "config.data_path" in proc.stderr and ">= 2 time steps" in proc.stderr
    assert not (tmp_path / "run").exists()
