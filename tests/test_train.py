"""genjax.train: the step, the loop, checkpoints and exact resumption, the NaN guard, sharding."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import data
from genjax import train as T

ROOT = Path(__file__).resolve().parents[1]


def regression_problem(n=64, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ np.arange(1, d + 1, dtype=np.float32) + 0.5).astype(np.float32)
    return {"x": x, "y": y}


def noisy_loss(params, batch, key):
    """Squared error with a key-dependent perturbation, so the per-step keys matter."""
    pred = batch["x"] @ params["w"] + params["b"]
    noise = 0.01 * jax.random.normal(key, pred.shape)
    mse = jnp.mean((pred + noise - batch["y"]) ** 2)
    return mse, {"mse": mse}


def fresh_state(optimizer, d=3):
    params = {"w": jnp.zeros((d,)), "b": jnp.zeros(())}
    return T.create_train_state(params, optimizer, jax.random.PRNGKey(0))


def test_train_step_updates_every_parameter_and_keeps_key():
    opt = optax.sgd(0.1)
    state = fresh_state(opt)
    batch = regression_problem(16)
    new, metrics = jax.jit(T.make_train_step(noisy_loss, opt))(state, batch)
    assert int(new.step) == 1
    np.testing.assert_array_equal(new.key, state.key)
    for before, after in zip(
        jax.tree.leaves(state.params), jax.tree.leaves(new.params), strict=True
    ):
        assert np.all(np.asarray(before) != np.asarray(after))
    assert {"loss", "mse", "grad_norm", "update_norm", "param_norm"} <= set(metrics)
    # SGD: the update is -lr * grad, checked against jax.grad directly.
    grads = jax.grad(lambda p: noisy_loss(p, batch, jax.random.fold_in(state.key, 0))[0])(
        state.params
    )
    chex.assert_trees_all_close(new.params, jax.tree.map(lambda g: -0.1 * g, grads), rtol=1e-5)


def test_eval_step_matches_loss():
    opt = optax.sgd(0.1)
    state = fresh_state(opt)
    batch = regression_problem(16)
    key = jax.random.PRNGKey(5)
    metrics = T.make_eval_step(noisy_loss)(state.params, batch, key)
    np.testing.assert_allclose(metrics["loss"], noisy_loss(state.params, batch, key)[0])


def run(workdir, num_steps, opt=None, batch_fn=None, **kwargs):
    opt = opt or optax.adam(0.05)
    problem = regression_problem()
    batch_fn = batch_fn or data.make_batch_fn(problem, 16, jax.random.PRNGKey(1))
    return T.train(
        fresh_state(opt),
        T.make_train_step(noisy_loss, opt),
        batch_fn,
        num_steps,
        workdir=workdir,
        progress=False,
        **kwargs,
    )


def test_loop_learns_and_writes_metrics_and_tensorboard(tmp_path):
    result = run(tmp_path, 200, log_every=50, eval_fn=lambda s: {"w0": s.params["w"][0]})
    np.testing.assert_allclose(result.state.params["w"], [1, 2, 3], atol=0.05)
    records = T.read_metrics(tmp_path)
    train_steps = [r["step"] for r in records if r["split"] == "train"]
    assert train_steps == [50, 100, 150, 200]
    assert records[-1]["split"] == "eval" and abs(records[-1]["w0"] - 1) < 0.05
    assert records[0]["loss"] > records[3]["loss"]
    assert all(r["steps_per_sec"] > 0 for r in records if r["split"] == "train")
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert T.Checkpointer(tmp_path).latest_step() == 200


def test_step_is_traced_once(tmp_path):
    opt = optax.adam(0.05)
    step = chex.assert_max_traces(T.make_train_step(noisy_loss, opt), n=1)
    problem = regression_problem()
    T.train(
        fresh_state(opt),
        step,
        data.make_batch_fn(problem, 16, jax.random.PRNGKey(1)),
        30,
        log_every=7,
        progress=False,
    )


class Interrupt:
    """A batch_fn that raises KeyboardInterrupt (as Ctrl-C would) when asked for `at`."""

    def __init__(self, batch_fn, at):
        self.batch_fn, self.at = batch_fn, at

    def __call__(self, step):
        if step == self.at:
            raise KeyboardInterrupt
        return self.batch_fn(step)


def test_interrupted_then_resumed_run_equals_uninterrupted(tmp_path):
    full = run(tmp_path / "full", 60, log_every=10, checkpoint_every=25)
    batch_fn = data.make_batch_fn(regression_problem(), 16, jax.random.PRNGKey(1))
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut", 60, batch_fn=Interrupt(batch_fn, 37), log_every=10)
    assert T.Checkpointer(tmp_path / "cut").latest_step() == 37  # saved on interrupt
    resumed = run(tmp_path / "cut", 60, log_every=10, checkpoint_every=25)
    chex.assert_trees_all_equal(resumed.state, full.state)
    # The resumed log has no duplicate steps.
    steps = [r["step"] for r in T.read_metrics(tmp_path / "cut", "train")]
    assert steps == sorted(set(steps)) and steps[-1] == 60


class SendInterrupt:
    """A batch_fn that delivers SIGINT (a real Ctrl-C) to this process when asked for `at`."""

    def __init__(self, batch_fn, at):
        self.batch_fn, self.at = batch_fn, at

    def __call__(self, step):
        if step == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        return self.batch_fn(step)


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers are installed from the main thread only",
)
def test_ctrl_c_finishes_the_step_saves_and_resumes_exactly(tmp_path):
    # The step donates its input state: a Ctrl-C delivered while it runs must not leave
    # the loop holding deleted buffers. It is held until the step returns, then saved.
    full = run(tmp_path / "full", 60, log_every=10)
    batch_fn = data.make_batch_fn(regression_problem(), 16, jax.random.PRNGKey(1))
    # Python's own handler, as in a terminal (a background job may inherit SIGINT ignored).
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run(tmp_path / "cut", 60, batch_fn=SendInterrupt(batch_fn, 37), log_every=10)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, outer)
    assert T.Checkpointer(tmp_path / "cut").latest_step() == 38  # step 37 completed
    resumed = run(tmp_path / "cut", 60, log_every=10)
    chex.assert_trees_all_equal(resumed.state, full.state)


def test_resuming_from_a_periodic_checkpoint(tmp_path):
    full = run(tmp_path / "full", 40, log_every=10)
    run(tmp_path / "cut", 20, log_every=10)  # a first job that ran 20 of the steps
    resumed = run(tmp_path / "cut", 40, log_every=10)
    chex.assert_trees_all_equal(resumed.state, full.state)


def test_nan_guard_names_metric_and_step_and_keeps_last_good_checkpoint(tmp_path):
    good = data.make_batch_fn(regression_problem(), 16, jax.random.PRNGKey(1))

    def poisoned(step):
        batch = good(step)
        if step == 13:  # the 14th update sees a NaN target
            batch = {**batch, "y": np.full_like(batch["y"], np.nan)}
        return batch

    with pytest.raises(T.NonFiniteError, match=r"'loss' became nan at step 14") as err:
        run(tmp_path, 40, batch_fn=poisoned, log_every=8, checkpoint_every=5)
    assert err.value.metric == "loss" and err.value.step == 14
    assert "last good checkpoint is kept: step 10" in str(err.value)
    ckpt = T.Checkpointer(tmp_path)
    assert ckpt.latest_step() == 10
    restored = ckpt.restore(fresh_state(optax.adam(0.05)))
    chex.assert_tree_all_finite(restored.params)
    assert int(restored.step) == 10


def test_resuming_with_a_different_model_is_a_clear_error(tmp_path):
    run(tmp_path, 10, log_every=5)
    opt = optax.adam(0.05)
    bigger = fresh_state(opt, d=4)
    problem = {"x": np.ones((32, 4), np.float32), "y": np.ones((32,), np.float32)}
    with pytest.raises(
        T.CheckpointMismatchError, match="does not fit this run's state|other shapes"
    ):
        T.train(
            bigger,
            T.make_train_step(noisy_loss, opt),
            data.make_batch_fn(problem, 8, jax.random.PRNGKey(0)),
            20,
            workdir=tmp_path,
            progress=False,
        )


def test_bad_arguments_fail_before_compiling(tmp_path):
    with pytest.raises(ValueError, match="num_steps must be a positive integer"):
        run(tmp_path, 0)
    with pytest.raises(ValueError, match="log_every must be a positive integer"):
        run(tmp_path, 5, log_every=-1)
    run(tmp_path, 10, log_every=5)
    with pytest.raises(ValueError, match="past num_steps"):
        run(tmp_path, 5, log_every=5)


SHARDED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, jax.numpy as jnp, numpy as np, optax
    sys.path.insert(0, "tests")
    from test_train import regression_problem, noisy_loss, fresh_state
    from genjax import data, train as T

    assert jax.device_count() == 8, jax.devices()
    opt = optax.adam(0.05)
    problem = regression_problem(n=256)
    batch_fn = data.make_batch_fn(problem, 32, jax.random.PRNGKey(1))
    step = T.make_train_step(noisy_loss, opt)
    single = T.train(fresh_state(opt), step, batch_fn, 50, progress=False).state
    mesh = T.data_mesh()
    sharded = T.train(fresh_state(opt), step, batch_fn, 50, mesh=mesh, progress=False).state
    out = {
        "mesh_devices": int(mesh.devices.size),
        "param_sharding_replicated": bool(sharded.params["w"].sharding.is_fully_replicated),
        "max_abs_diff": max(
            jax.tree.leaves(jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))),
                                         single.params, sharded.params))
        ),
        "w": np.asarray(sharded.params["w"]).tolist(),
    }
    placed = T.shard_batch(batch_fn(0), mesh)
    out["batch_shards"] = len(placed["x"].addressable_shards)
    out["shard_rows"] = placed["x"].addressable_shards[0].data.shape[0]
    try:
        T.shard_batch({"x": np.zeros((12, 2))}, mesh)
    except ValueError as e:
        out["indivisible_error"] = str(e)
    print(json.dumps(out))
    """
)


def test_sharded_run_on_eight_cpu_devices_matches_single_device():
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
        "JAX_PLATFORMS": "cpu",  # 8 simulated CPU devices, also on a machine with a GPU
    }
    proc = subprocess.run(
        [sys.executable, "-c", SHARDED_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["mesh_devices"] == 8
    assert out["param_sharding_replicated"]
    assert out["batch_shards"] == 8 and out["shard_rows"] == 4
    assert out["max_abs_diff"] < 1e-5, out
    assert "multiple of the 8 devices" in out["indivisible_error"]


def test_param_ema_tracks_the_average_of_the_iterates_and_leaves_updates_alone():
    decay = 0.9
    params = {"w": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}
    sgd = optax.sgd(0.1)
    averaged = optax.chain(optax.sgd(0.1), T.param_ema(decay))
    s_plain, s_avg = sgd.init(params), averaged.init(params)
    p_plain = p_avg = params
    ema_ref = {k: np.asarray(v, np.float64) for k, v in params.items()}
    rng = np.random.default_rng(0)
    for _ in range(7):
        grads = {
            k: jnp.asarray(rng.normal(size=np.shape(v)), jnp.float32) for k, v in params.items()
        }
        u_plain, s_plain = sgd.update(grads, s_plain, p_plain)
        u_avg, s_avg = averaged.update(grads, s_avg, p_avg)
        p_plain = optax.apply_updates(p_plain, u_plain)
        p_avg = optax.apply_updates(p_avg, u_avg)
        ema_ref = {k: decay * ema_ref[k] + (1 - decay) * np.asarray(p_avg[k]) for k in ema_ref}
    chex.assert_trees_all_equal(p_avg, p_plain)  # the updates pass through unchanged
    chex.assert_trees_all_close(T.averaged_params(s_avg), ema_ref, rtol=1e-6, atol=1e-6)
    assert not np.allclose(ema_ref["w"], np.asarray(p_avg["w"]))  # the average lags the iterate


def test_param_ema_rejects_bad_decay_and_a_state_without_it():
    with pytest.raises(ValueError, match="decay"):
        T.param_ema(1.0)
    with pytest.raises(ValueError, match="param_ema"):
        T.averaged_params(optax.adam(1e-3).init({"w": jnp.zeros(2)}))
    with pytest.raises(ValueError, match="parameters"):
        T.param_ema(0.5).update({"w": jnp.zeros(2)}, T.param_ema(0.5).init({"w": jnp.zeros(2)}))
