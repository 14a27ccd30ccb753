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


def assert_one_line_error(proc, *fragments):
    """Exit status 2 and a single `error: ...` line on stderr, naming `fragments`."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


QUICK_PCA = "--config=experiments/configs/pca_vs_linear_ae.py:quick"


@pytest.mark.parametrize(
    "args, fragments",
    [
        ([QUICK_PCA, "--config.nonexistent=3"], ["--config.nonexistent", "'nonexistent'"]),
        # Without --config the default file is loaded while the flags are defined.
        (["--config.num_step=3"], ["--config.num_step", "did you mean 'num_steps'"]),
    ],
)
def test_unknown_config_field_is_one_line_error(tmp_path, args, fragments):
    proc = run_cli("pca_vs_linear_ae", tmp_path / "run", *args)
    assert_one_line_error(proc, *fragments)
    assert not (tmp_path / "run").exists()


def test_missing_config_file_is_one_line_error(tmp_path):
    proc = run_cli("pca_vs_linear_ae", tmp_path / "run", "--config=nope.py:quick")
    assert_one_line_error(proc, "--config must be a readable config file", "nope.py")
    assert not (tmp_path / "run").exists()


def test_workdir_that_is_a_file_or_cannot_be_created_is_one_line_error(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("kept")
    proc = run_cli("pca_vs_linear_ae", a_file, QUICK_PCA)
    assert_one_line_error(proc, "--workdir must be a directory", str(a_file))
    proc = run_cli("pca_vs_linear_ae", a_file / "run", QUICK_PCA)
    assert_one_line_error(proc, "--workdir must be a writable directory", str(a_file / "run"))
    assert a_file.read_text() == "kept"


def test_batch_larger_than_the_data_is_one_line_error_before_training(tmp_path):
    proc = run_cli(
        "pca_vs_linear_ae", tmp_path / "run", QUICK_PCA, "--config.optimizer=adam",
        "--config.gram_batch=False", "--config.batch_size=5000",
    )  # fmt: skip
    assert_one_line_error(
        proc, "config.batch_size must be at most 4000", "MNIST's training set", "got 5000"
    )
    assert not (tmp_path / "run").exists()  # refused before the run directory was made


def test_a_workdir_held_by_another_process_is_refused_in_one_line(tmp_path):
    workdir = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from genjax.train.lock import WorkdirLock; "
         f"WorkdirLock({str(workdir)!r}).acquire(); print('held', flush=True); time.sleep(120)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = run_cli(
            "pca_vs_linear_ae", workdir, "--config=experiments/configs/pca_vs_linear_ae.py:quick"
        )
        assert proc.returncode == 2, proc.stderr[-2000:]
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and f"pid {holder.pid}" in errors[0], proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
        assert not (workdir / "config.json").exists()  # refused before writing anything
    finally:
        holder.kill()
        holder.wait()
