"""genjax.train resumption: typed keys, corrupt checkpoints, logs across restarts,
stopping tolerances, the run's config, progress lines."""

import logging
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import optax
import pytest
from test_train import fresh_state, noisy_loss, regression_problem, run

from genjax import data
from genjax import train as T


def _batch_fn():
    return data.make_batch_fn(regression_problem(), 16, jax.random.PRNGKey(1))


class FailAt:
    """A batch_fn that raises RuntimeError (a crash, not an interrupt) when asked for `at`."""

    def __init__(self, at):
        self.batch_fn, self.at = _batch_fn(), at

    def __call__(self, step):
        if step == self.at:
            raise RuntimeError("crash")
        return self.batch_fn(step)


class InterruptAt(FailAt):
    def __call__(self, step):
        if step == self.at:
            raise KeyboardInterrupt
        return self.batch_fn(step)


def _without_rate(history):
    return [{k: v for k, v in r.items() if k != "steps_per_sec"} for r in history]


def _typed_key_state(opt):
    params = {"w": jnp.zeros((3,)), "b": jnp.zeros(())}
    return T.create_train_state(params, opt, jax.random.key(0))


# Typed PRNG keys.


@pytest.mark.parametrize("typed", [True, False], ids=["typed_key", "raw_key"])
def test_keys_round_trip_through_a_checkpoint(tmp_path, typed):
    opt = optax.adam(0.05)
    state = _typed_key_state(opt) if typed else fresh_state(opt)
    state = state._replace(step=jnp.asarray(3, jnp.int32))
    ckpt = T.Checkpointer(tmp_path)
    ckpt.save(state)
    ckpt.wait()
    like = _typed_key_state(opt) if typed else fresh_state(opt)
    restored = ckpt.restore(like._replace(key=jax.random.fold_in(like.key, 1)))
    ckpt.close()
    assert restored.key.dtype == state.key.dtype
    if typed:
        assert jax.random.key_impl(restored.key) == jax.random.key_impl(state.key)
        chex.assert_trees_all_equal(
            jax.random.key_data(restored.key), jax.random.key_data(state.key)
        )
        restored, state = restored._replace(key=None), state._replace(key=None)
    chex.assert_trees_all_equal(restored, state)


def test_resumed_run_with_a_typed_key_equals_an_uninterrupted_one(tmp_path):
    opt = optax.adam(0.05)
    step = T.make_train_step(noisy_loss, opt)

    def go(workdir, batch_fn, num_steps=30):
        return T.train(_typed_key_state(opt), step, batch_fn, num_steps, workdir=workdir,
                       log_every=10, progress=False, tensorboard=False)  # fmt: skip

    full = go(tmp_path / "full", _batch_fn())
    go(tmp_path / "cut", _batch_fn(), num_steps=20)  # a first job of 20 steps
    resumed = go(tmp_path / "cut", _batch_fn())
    chex.assert_trees_all_equal(resumed.state.params, full.state.params)
    chex.assert_trees_all_equal(resumed.state.opt_state, full.state.opt_state)
    assert resumed.state.key.dtype == full.state.key.dtype


# Corrupt checkpoints.


def _truncate_largest_file(step_dir: Path, pattern: str = "*") -> None:
    files = [p for p in step_dir.rglob(pattern) if p.is_file()]
    largest = max(files, key=lambda p: p.stat().st_size)
    largest.write_bytes(largest.read_bytes()[: largest.stat().st_size // 2])


def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, caplog):
    full = run(tmp_path / "full", 40, log_every=10, tensorboard=False)
    cut = tmp_path / "cut"
    with pytest.raises(RuntimeError, match="crash"):
        run(cut, 40, batch_fn=FailAt(25), log_every=10, checkpoint_every=10, tensorboard=False)
    assert sorted(int(p.name) for p in (cut / "checkpoints").glob("[0-9]*")) == [10, 20]
    _truncate_largest_file(cut / "checkpoints" / "20")
    with caplog.at_level(logging.WARNING, logger="genjax"):
        resumed = run(cut, 40, log_every=10, checkpoint_every=10, tensorboard=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("step 20" in m and "cannot be read" in m and str(cut) in m for m in warnings)
    assert (cut / "checkpoints" / "20.corrupt").is_dir()
    chex.assert_trees_all_equal(resumed.state, full.state)
    assert _without_rate(resumed.history) == _without_rate(full.history)
    assert T.Checkpointer(cut).latest_step() == 40  # the step saved again after the fallback


def test_a_single_corrupt_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="crash"):
        run(tmp_path, 40, batch_fn=FailAt(15), log_every=10, checkpoint_every=10)
    # Every array data file: which file holds which array varies with the writer's threads.
    for data_file in (tmp_path / "checkpoints" / "10").rglob("d/*"):
        data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])
    with pytest.raises(T.CheckpointCorruptError) as err:
        run(tmp_path, 40, log_every=10)
    message = str(err.value)
    assert "\n" not in message and f"delete {tmp_path / 'checkpoints'}" in message


# Logs across restarts.


def test_resumed_history_equals_an_uninterrupted_one(tmp_path):
    evals = {"eval_fn": lambda s: {"w0": s.params["w"][0]}, "eval_every": 20}
    full = run(tmp_path / "full", 60, log_every=10, **evals)
    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):  # between two log records
        run(cut, 60, batch_fn=InterruptAt(37), log_every=10, **evals)
    resumed = run(cut, 60, log_every=10, **evals)
    chex.assert_trees_all_equal(resumed.state, full.state)
    assert _without_rate(resumed.history) == _without_rate(full.history)
    assert _without_rate(T.read_metrics(cut)) == _without_rate(full.history)
    # A rerun of the finished run trains nothing and returns the whole record.
    again = run(cut, 60, log_every=10, **evals)
    assert again.history == resumed.history
    chex.assert_trees_all_equal(again.state, full.state)


def test_a_restart_without_a_checkpoint_logs_no_step_twice(tmp_path):
    with pytest.raises(RuntimeError, match="crash"):
        run(tmp_path, 30, batch_fn=FailAt(25), log_every=10, checkpoint_every_secs=None)
    assert T.Checkpointer(tmp_path).latest_step() is None
    assert [r["step"] for r in T.read_metrics(tmp_path)] == [10, 20]
    assert len(list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))) == 1
    (tmp_path / "tensorboard" / "marker").touch()
    result = run(tmp_path, 30, log_every=10)
    assert [r["step"] for r in T.read_metrics(tmp_path)] == [10, 20, 30]
    assert [r["step"] for r in result.history] == [10, 20, 30]
    # A fresh start replaces the old TensorBoard events; a resume adds to them.
    assert not (tmp_path / "tensorboard" / "marker").exists()
    assert len(list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))) == 1
    run(tmp_path, 40, log_every=10)
    assert len(list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))) == 2


def test_checkpoints_on_a_time_interval(tmp_path):
    with pytest.raises(RuntimeError, match="crash"):  # saves after every step, from step 1
        run(tmp_path / "a", 30, batch_fn=FailAt(7), log_every=10, checkpoint_every_secs=1e-9)
    assert T.Checkpointer(tmp_path / "a").latest_step() == 7
    with pytest.raises(RuntimeError, match="crash"):
        run(tmp_path / "b", 30, batch_fn=FailAt(7), log_every=10, checkpoint_every_secs=None)
    assert T.Checkpointer(tmp_path / "b").latest_step() is None
    with pytest.raises(ValueError, match="checkpoint_every_secs"):
        run(tmp_path / "c", 30, checkpoint_every_secs=0)


# Stopping on a tolerance.


def below(tolerance):
    return lambda step, means: means["loss"] < tolerance


def test_stop_fn_ends_the_run_at_the_first_record_that_meets_it(tmp_path):
    calls = []

    def stop_fn(step, means):
        calls.append((step, dict(means)))
        return means["loss"] < 1.0

    result = run(tmp_path, 300, log_every=10, stop_fn=stop_fn, eval_fn=lambda s: {"one": 1.0})
    assert result.converged is True
    stop = int(result.state.step)
    assert stop < 300 and stop % 10 == 0
    train_records = [r for r in result.history if r["split"] == "train"]
    assert [s for s, _ in calls] == [r["step"] for r in train_records]
    assert calls[-1][1] == {
        k: v for k, v in train_records[-1].items() if k not in ("step", "split")
    }
    assert calls[-1][1]["loss"] < 1.0 and all(m["loss"] >= 1.0 for _, m in calls[:-1])
    assert result.history[-1] == {"step": stop, "split": "eval", "one": 1.0}  # evaluated there
    assert T.Checkpointer(tmp_path).latest_step() == stop  # and saved


def test_a_rerun_of_a_run_stopped_on_its_tolerance_stays_stopped(tmp_path):
    first = run(tmp_path, 300, log_every=10, stop_fn=below(1.0))
    again = run(tmp_path, 500, log_every=10, stop_fn=below(1.0))
    assert again.converged is True
    chex.assert_trees_all_equal(again.state, first.state)
    assert again.history == first.history


def test_reaching_num_steps_without_the_tolerance_warns(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="genjax"):
        result = run(tmp_path, 20, log_every=10, stop_fn=below(0.0))
    assert result.converged is False and int(result.state.step) == 20
    assert f"{tmp_path} reached num_steps=20 without meeting its stopping tolerance" in caplog.text
    assert run(tmp_path / "plain", 10, log_every=10).converged is None


def test_a_finished_run_rerun_with_more_steps_goes_on(tmp_path):
    full = run(tmp_path / "full", 40, log_every=10)
    run(tmp_path / "cut", 20, log_every=10)
    longer = run(tmp_path / "cut", 40, log_every=10)
    chex.assert_trees_all_equal(longer.state, full.state)
    assert [r["step"] for r in longer.history if r["split"] == "train"] == [10, 20, 30, 40]


# The run's config.


def test_resuming_under_another_config_is_refused(tmp_path, caplog):
    config = {"lr": 0.05, "model": {"width": 3}, "num_steps": 20}
    with pytest.raises(RuntimeError, match="crash"):
        run(tmp_path, 20, batch_fn=FailAt(15), log_every=5, checkpoint_every=5, config=config)
    assert (tmp_path / "checkpoints" / "run_config.json").exists()
    changed = {"lr": 0.1, "model": {"width": 3, "depth": 2}, "num_steps": 20}
    with pytest.raises(T.ConfigMismatchError) as err:
        run(tmp_path, 20, log_every=5, config=changed)
    assert isinstance(err.value, ValueError)
    assert "lr: 0.05 -> 0.1" in str(err.value) and "model.depth: (absent) -> 2" in str(err.value)
    assert "width" not in str(err.value)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="genjax"):  # num_steps may change
        run(tmp_path, 30, log_every=5, config={**config, "num_steps": 30})
    assert "resuming" not in caplog.text


def test_resuming_without_a_config_warns(tmp_path, caplog):
    run(tmp_path, 10, log_every=5)
    with caplog.at_level(logging.WARNING, logger="genjax"):
        run(tmp_path, 20, log_every=5)
    assert f"resuming {tmp_path.absolute()} from step 10" in caplog.text


# Progress lines.


def _quiet_train(tmp_path, **kwargs):
    opt = optax.adam(0.05)
    step = T.make_train_step(noisy_loss, opt)
    workdir = tmp_path / "myrun"
    return T.train(fresh_state(opt), step, _batch_fn(), 20, workdir=workdir, log_every=10,
                   tensorboard=False, **kwargs)  # fmt: skip


def test_progress_is_printed_by_default_and_silenced_by_progress_false(tmp_path, capsys):
    genjax_logger = logging.getLogger("genjax")
    level = genjax_logger.level
    genjax_logger.setLevel(logging.WARNING)  # INFO not shown: the lines go to stderr
    try:
        _quiet_train(tmp_path)
        err = capsys.readouterr().err
        assert "myrun: step 10/20" in err and "myrun: step 20/20" in err and "loss" in err
        assert "steps/s" in err and "ETA" in err
        _quiet_train(tmp_path / "silent", progress=False)
        assert capsys.readouterr().err == ""
    finally:
        genjax_logger.setLevel(level)


def test_progress_goes_to_a_configured_logger(tmp_path, caplog, capsys):
    with caplog.at_level(logging.INFO, logger="genjax"):
        _quiet_train(tmp_path, name="named")
    assert "named: step 20/20" in caplog.text
    assert "step 20/20" not in capsys.readouterr().err
