"""genjax.train across processes: the workdir lock and preemption by SIGTERM."""

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import chex
import pytest
from test_train import run

from genjax import train as T

ROOT = Path(__file__).resolve().parents[1]

HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from genjax.train.lock import WorkdirLock
    WorkdirLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    time.sleep(120)
    """
)


def _wait_for(predicate, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the child exited early: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the child")
        time.sleep(0.05)


def test_a_second_process_is_refused_and_a_stale_lock_taken_over(tmp_path, caplog):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "locked", proc.stderr.read()
        holder = json.loads((tmp_path / ".lock").read_text())
        assert holder["pid"] == proc.pid and {"host", "since"} <= set(holder)
        with pytest.raises(T.WorkdirLockedError) as err:
            T.WorkdirLock(tmp_path).acquire()
        message = str(err.value)
        assert isinstance(err.value, RuntimeError) and "\n" not in message
        assert f"pid {proc.pid} on {holder['host']} since" in message
        assert str(tmp_path / ".lock") in message
        with pytest.raises(T.WorkdirLockedError):  # train takes the lock before any work
            run(tmp_path, 10, log_every=5)
        assert not (tmp_path / "metrics.jsonl").exists()
    finally:
        proc.kill()
        proc.communicate()
    with caplog.at_level(logging.WARNING, logger="genjax"):
        with T.WorkdirLock(tmp_path):
            assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    assert "stale lock" in caplog.text and f"pid {proc.pid}" in caplog.text
    assert not (tmp_path / ".lock").exists()  # released


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    with T.WorkdirLock(tmp_path):
        run(tmp_path, 10, log_every=5)  # an experiment holds the lock around its training
        with T.WorkdirLock(tmp_path / "sub"), T.WorkdirLock(tmp_path):
            run(tmp_path / "sub", 10, log_every=5)
        assert (tmp_path / ".lock").exists()  # still held by the outermost
        assert not (tmp_path / "sub" / ".lock").exists()
    assert not (tmp_path / ".lock").exists()


TRAIN_SLOWLY = textwrap.dedent(
    """
    import sys, time
    import jax
    jax.config.update("jax_numpy_rank_promotion", "raise")
    jax.config.update("jax_default_matmul_precision", "highest")
    sys.path.insert(0, "tests")
    from test_train import regression_problem, noisy_loss, fresh_state
    from genjax import data, train as T
    import optax

    opt = optax.adam(0.05)
    batches = data.make_batch_fn(regression_problem(), 16, jax.random.PRNGKey(1))

    def batch_fn(step):
        time.sleep(0.05)
        return batches(step)

    T.train(fresh_state(opt), T.make_train_step(noisy_loss, opt), batch_fn, 400,
            workdir=sys.argv[1], log_every=10)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_checkpoints_exits_143_and_the_rerun_resumes_exactly(tmp_path):
    workdir = tmp_path / "cut"
    proc = subprocess.Popen(
        [sys.executable, "-c", TRAIN_SLOWLY, str(workdir)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: len(T.read_metrics(workdir)) >= 2, proc)  # 20 steps logged
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr[-3000:]
    # A plain script shows progress without configuring logging.
    assert "cut: step 10/400" in stderr and "steps/s" in stderr
    assert "terminated (SIGTERM)" in stderr
    saved = T.Checkpointer(workdir).latest_step()
    assert saved is not None and 20 <= saved < 400
    full = run(tmp_path / "full", 400, log_every=10, tensorboard=False)
    resumed = run(workdir, 400, log_every=10, tensorboard=False)
    chex.assert_trees_all_equal(resumed.state, full.state)
    strip = [{k: v for k, v in r.items() if k != "steps_per_sec"} for r in resumed.history]
    assert strip == [{k: v for k, v in r.items() if k != "steps_per_sec"} for r in full.history]
