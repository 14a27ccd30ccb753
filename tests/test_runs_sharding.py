"""The runs axis over devices and hosts: `shard_runs`, a meshed `make_multi_run_step`,
`gather_runs`, and the same numbers as the one-device run.

The device count is fixed when JAX starts, so the runs over 8 simulated CPU devices
and over two processes run in subprocesses that import this module's problem. The
runs agree with the one-device run to `RTOL`/`ATOL` (each run's arithmetic is the
same; only the order of the metric sums over devices may differ).
"""

import functools
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genjax import train
from genjax.train import TrainState

ROOT = Path(__file__).resolve().parents[1]
RTOL, ATOL = 1e-6, 1e-7
NUM_STEPS, LOG_EVERY = 12, 4
DIVERGING_RUN = 0  # scaled data: non-finite at its first step, like its padding copies


def _init(key, lr):
    params = {"w": jax.random.normal(key, (4, 3)), "b": jnp.zeros(3)}
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=lr)
    return TrainState(jnp.zeros((), jnp.int32), params, opt.init(params), key)


def _run_step(state, scale):
    """One run: Adam on a regression to sin(x), with x drawn from the run's key and step."""
    x = jax.random.normal(jax.random.fold_in(state.key, state.step), (16, 4)) * scale
    y = jnp.sin(x[:, :3])

    def loss(p):
        return jnp.mean((x @ p["w"] + p["b"][None] - y) ** 2)

    value, grads = jax.value_and_grad(loss)(state.params)
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=0.0)  # the state holds the rate
    updates, opt_state = opt.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return state._replace(params=params, opt_state=opt_state), {"loss": value}


@functools.cache
def _multi_step(num_runs, mesh, runs_axis):
    """The step of `_train_runs` (one object per setting: a second run reuses its compile)."""
    scales = jnp.ones(num_runs).at[DIVERGING_RUN].set(1e30)
    return train.make_multi_run_step(
        _run_step, run_args=scales, runs_axis=runs_axis, mesh=mesh, num_runs=num_runs
    )


def _train_runs(num_runs, mesh, runs_axis="vmap", num_steps=NUM_STEPS, workdir=None):
    """R runs with their own keys and learning rates, one of them diverging."""
    keys = jax.random.split(jax.random.PRNGKey(0), num_runs)
    lrs = jnp.linspace(0.01, 0.1, num_runs)
    state = train.shard_runs(train.stack_runs(_init, keys, lrs), mesh)
    step = _multi_step(num_runs, mesh, runs_axis)
    return train.train(
        state, step, lambda s: None, num_steps, log_every=LOG_EVERY, progress=False, workdir=workdir
    )


def _summary(result, num_runs):
    """What the parent compares: the real runs' params and flags, the logged metrics."""
    params = train.gather_runs(result.state.params, num_runs)
    diverged = train.gather_runs(result.state.opt_state.diverged, num_runs)
    records = [r for r in result.history if r["split"] == "train"]
    return {
        "w": params["w"].tolist(),
        "b": params["b"].tolist(),
        "diverged": diverged.tolist(),
        "loss": [r["loss"] for r in records],
        "num_diverged": [r["num_diverged"] for r in records],
        "steps": [r["step"] for r in records],
    }


def _strict_numerics():
    jax.config.update("jax_numpy_rank_promotion", "raise")
    jax.config.update("jax_default_matmul_precision", "highest")


def _placement(state):
    """Each leaf's spec and its shards' run counts, the step's replication."""
    w = state.params["w"]
    return {
        "spec": list(w.sharding.spec),
        "shard_runs": [s.data.shape[0] for s in w.addressable_shards],
        "total_runs": int(w.shape[0]),
        "key_spec": list(state.key.sharding.spec),
        "step_replicated": bool(state.step.sharding.is_fully_replicated),
    }


def eight_device_child() -> dict:
    """In a process with 8 CPU devices: R = 8 (vmap) and R = 5 (map, padded to 8), each
    trained on one device and split over the 8."""
    _strict_numerics()
    assert jax.device_count() == 8, jax.devices()
    mesh = train.runs_mesh()
    out = {}
    for num_runs, runs_axis in ((8, "vmap"), (5, "map")):
        single = _train_runs(num_runs, None, runs_axis)
        sharded = _train_runs(num_runs, mesh, runs_axis)
        out[f"{num_runs}_{runs_axis}"] = {
            "single": _summary(single, num_runs),
            "sharded": _summary(sharded, num_runs),
            "placement": _placement(sharded.state),
        }
    unplaced = train.stack_runs(_init, jax.random.split(jax.random.PRNGKey(0), 5), jnp.ones(5))
    step = train.make_multi_run_step(_run_step, run_args=jnp.ones(5), mesh=mesh, num_runs=5)
    try:
        step(unplaced, None)
    except ValueError as e:
        out["unplaced_error"] = str(e)
    return out


def gan_mixture_child(workdir: str) -> dict:
    """In a process with 8 CPU devices: the GAN experiment's 3 runs with mode snapshots,
    on one device (`--runs_devices=1`) and split over all 8 (the default)."""
    from experiments import common, gan_mixture
    from experiments.configs import gan_mixture as configs
    from genjax.data import mixtures
    from genjax.gan import variants

    _strict_numerics()
    config = configs.get_config("quick")
    config.num_steps, config.log_every, config.snapshot_every = 4, 2, 2
    config.gen_hidden = config.disc_hidden = (8,)
    modes, std = mixtures.load_mixture("ring")
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    variant = variants.get_variant("gan_nonsaturating")
    out = {}
    for devices in (1, 0):
        common._runs_devices = devices
        _, params, history = gan_mixture.train_runs(
            variant, modes, std, config, keys, Path(workdir) / str(devices),
            learning_rates=[1e-3, 2e-3, 3e-3], snapshot_key=jax.random.PRNGKey(4),
        )  # fmt: skip
        out[devices] = {
            "params": [np.asarray(x).tolist() for x in jax.tree.leaves(params)],
            "snapshots": [r for r in history if r["split"] == "eval"],
        }
    return out


def cpu_devices_child() -> dict:
    """In a fresh process: the experiments' `--cpu_devices=2` start, then the runs mesh."""
    from experiments import common

    common._start_devices(False, 0, {}, cpu_devices=2)
    mesh = common.runs_mesh()
    return {"devices": jax.device_count(), "mesh": dict(mesh.shape) if mesh else None}


def distributed_child(port: int, process_id: int, workdir: str) -> dict:
    """One of two processes with 2 CPU devices each: R = 5 runs over the 4 devices, trained
    for `LOG_EVERY` steps less than `NUM_STEPS` and resumed from the shared workdir's
    checkpoint to the end."""
    jax.config.update("jax_num_cpu_devices", 2)
    jax.distributed.initialize(
        coordinator_address=f"localhost:{port}", num_processes=2, process_id=process_id
    )
    _strict_numerics()
    mesh = train.runs_mesh()
    first = _train_runs(5, mesh, num_steps=NUM_STEPS - LOG_EVERY, workdir=workdir)
    result = _train_runs(5, mesh, workdir=workdir)
    out = _summary(result, 5)
    out.update(
        placement=_placement(result.state),
        devices=jax.device_count(),
        first_steps=int(first.state.step),
    )
    return out


def _child(code: str, env: dict) -> subprocess.Popen:
    """A Python process that evaluates `code` (`t` is this module) and prints it as JSON."""
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, "tests")
        import test_runs_sharding as t
        print("RESULT " + json.dumps({code}))
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _result(proc: subprocess.Popen, timeout: int = 240) -> dict:
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    line = [x for x in stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line.removeprefix("RESULT "))


def _assert_same_runs(got: dict, want: dict) -> None:
    for name in ("w", "b", "loss"):
        np.testing.assert_allclose(got[name], want[name], rtol=RTOL, atol=ATOL, err_msg=name)
    for name in ("diverged", "num_diverged", "steps"):
        assert got[name] == want[name], name


def _cpu_env(xla_flags: str = "") -> dict:
    flags = " ".join([os.environ.get("XLA_FLAGS", ""), xla_flags]).strip()
    return {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}


def test_runs_split_over_eight_devices_match_the_one_device_run():
    env = _cpu_env("--xla_force_host_platform_device_count=8")
    out = _result(_child("t.eight_device_child()", env))
    for name in ("8_vmap", "5_map"):
        case = out[name]
        _assert_same_runs(case["sharded"], case["single"])
        assert case["single"]["diverged"][DIVERGING_RUN] and sum(case["single"]["diverged"]) == 1
        assert case["single"]["num_diverged"][-1] == 1.0  # the padding copies are not counted
        placement = case["placement"]
        assert placement["spec"] == placement["key_spec"] == ["runs"], placement
        assert placement["shard_runs"] == [1] * 8 and placement["total_runs"] == 8, placement
        assert placement["step_replicated"]
    assert len(out["5_map"]["sharded"]["w"]) == 5  # gather_runs drops the 3 padding runs
    assert "do not divide over the mesh's 8 devices" in out["unplaced_error"]


def test_the_gan_experiment_splits_its_runs_over_eight_devices(tmp_path):
    env = _cpu_env("--xla_force_host_platform_device_count=8")
    out = _result(_child(f"t.gan_mixture_child({str(tmp_path)!r})", env))
    single, sharded = out["1"], out["0"]
    assert [np.shape(x)[0] for x in sharded["params"]] == [3] * len(single["params"])
    for got, want in zip(sharded["params"], single["params"], strict=True):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    assert len(sharded["snapshots"]) == 2 and "modes_r3" not in sharded["snapshots"][-1]
    for got, want in zip(sharded["snapshots"], single["snapshots"], strict=True):
        assert {k: v for k, v in got.items() if k.startswith(("modes_r", "hq_r", "covered_r"))} == {
            k: v for k, v in want.items() if k.startswith(("modes_r", "hq_r", "covered_r"))
        }


def test_cpu_devices_split_the_host_for_the_runs_mesh():
    out = _result(_child("t.cpu_devices_child()", _cpu_env()))
    assert out == {"devices": 2, "mesh": {"runs": 2}}


def test_the_gan_experiment_on_one_cpu_device_per_core_queues_no_deadlock(tmp_path):
    """300 steps logged once: with every step queued ahead of the host, XLA's CPU client
    stalls the runs' collective (aborting after 40 s) unless `train` bounds the queue."""
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.gan_mixture", f"--workdir={tmp_path / 'run'}",
         "--cpu_devices=2", "--config=experiments/configs/gan_mixture.py:quick",
         "--config.variants=('gan_nonsaturating',)", "--config.datasets=('ring',)",
         "--config.log_every=300"],
        cwd=ROOT, env=_cpu_env(), capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["ring_gan_nonsaturating_modes_mean"] >= 1


def test_use_cpu_devices_refuses_bad_counts_and_a_started_backend():
    jnp.zeros(1).block_until_ready()  # the backends have started
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="count must be an integer >= 1"):
            train.use_cpu_devices(bad)
    with pytest.raises(ValueError, match="must run before any JAX operation"):
        train.use_cpu_devices(2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_train_the_runs_of_one_process(tmp_path):
    port, workdir = _free_port(), str(tmp_path / "shared")
    env = _cpu_env()
    procs = [_child(f"t.distributed_child({port}, {i}, {workdir!r})", env) for i in range(2)]
    want = _summary(_train_runs(5, None), 5)
    outs = [_result(p) for p in procs]
    for out in outs:
        assert out["devices"] == 4 and out["first_steps"] == NUM_STEPS - LOG_EVERY
        # 5 runs padded to 8 over 4 devices: each process holds 2 devices' runs.
        assert out["placement"]["shard_runs"] == [2, 2] and out["placement"]["total_runs"] == 8
        assert out["placement"]["step_replicated"]
        assert out["diverged"] == want["diverged"]
        for name in ("w", "b"):
            np.testing.assert_allclose(out[name], want[name], rtol=RTOL, atol=ATOL)
    # Process 0 logs every step; process 1 keeps the records of its resumed call only.
    np.testing.assert_allclose(outs[0]["loss"], want["loss"], rtol=RTOL, atol=ATOL)
    assert outs[0]["steps"] == want["steps"] and outs[1]["steps"] == want["steps"][-1:]
    lines = (tmp_path / "shared" / "metrics.jsonl").read_text().splitlines()
    logged = [json.loads(x) for x in lines]
    assert [r["step"] for r in logged] == want["steps"]  # written once, by process 0
    assert not (tmp_path / "shared" / ".lock").exists()


def test_bad_runs_settings_are_named():
    state = train.stack_runs(_init, jax.random.split(jax.random.PRNGKey(0), 3), jnp.ones(3))
    mesh = train.data_mesh()  # a mesh without a runs axis
    with pytest.raises(ValueError, match="no axis 'runs'"):
        train.shard_runs(state, mesh)
    with pytest.raises(ValueError, match="no axis 'runs'"):
        train.make_multi_run_step(_run_step, run_args=jnp.ones(3), mesh=mesh)
    with pytest.raises(ValueError, match="num_runs must be a positive integer"):
        train.make_multi_run_step(_run_step, run_args=jnp.ones(3), num_runs=0)
    with pytest.raises(ValueError, match="num_runs=4 is more than the state's 3 runs"):
        train.make_multi_run_step(_run_step, run_args=jnp.ones(3), num_runs=4)(state, None)
    one_run = train.create_train_state({"w": jnp.ones(2)}, optax.sgd(0.1), jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="stack_runs state"):
        train.shard_runs(one_run, train.runs_mesh())
    assert train.shard_runs(state, None) is state
    devices = len(jax.devices())
    assert train.padded_runs(5, train.runs_mesh()) == -(-5 // devices) * devices
    assert train.padded_runs(5, None) == 5


@pytest.mark.parametrize(
    "args, message",
    [
        (["--runs_devices=9"], "--runs_devices must be in [0, 1] (0: all), got 9"),
        (["--cpu_devices=-1"], "--cpu_devices must be >= 0 (0: one per core), got -1"),
        (
            ["--process_id=1", "--num_processes=2"],
            "--num_processes, --process_id need --distributed",
        ),
    ],
)
def test_bad_device_flags_stop_an_experiment_before_any_work(tmp_path, args, message):
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.pca_vs_linear_ae", f"--workdir={tmp_path / 'run'}",
         *args],
        cwd=ROOT, env=_cpu_env(), capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"error: {message}" in proc.stderr
    assert not (tmp_path / "run").exists()
