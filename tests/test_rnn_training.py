"""Vmapped multi-run training (genjax.rnn.training) and the long-range experiments end to end."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import common, long_range, rnn_gradients
from experiments.configs import long_range as long_range_config
from experiments.configs import rnn_gradients as rnn_gradients_config
from genjax.rnn import tasks, training
from genjax.train import train

KEY = jax.random.PRNGKey(0)


def _loss(params, batch):
    return jnp.mean((batch @ params["w"] - 1.0) ** 2)


def _batch(key):
    return jax.random.normal(key, (8, 3))


def test_multi_run_step_equals_separate_runs_and_clips():
    """Each vmapped run matches a plain optax loop with its own clipping and batches."""
    run_keys = jax.random.split(KEY, 3)
    max_norms = [float("inf"), 0.1, 1.0]
    opt = optax.adam(0.05)

    def init(k):
        return {"w": jax.random.normal(k, (3,))}

    state = training.init_multi_run_state(init, opt, run_keys)
    step = jax.jit(training.make_multi_run_step(_loss, opt, _batch, run_keys, max_norms))
    for _ in range(5):
        state, metrics = step(state, None)
    assert float(metrics["num_diverged"]) == 0.0
    for r in range(3):
        ref_opt = optax.chain(optax.clip_by_global_norm(max_norms[r]), opt)
        params = init(run_keys[r])
        opt_state = ref_opt.init(params)
        for s in range(5):
            grads = jax.grad(_loss)(params, _batch(jax.random.fold_in(run_keys[r], s)))
            updates, opt_state = ref_opt.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
        np.testing.assert_allclose(state.params["w"][r], params["w"], rtol=1e-5, atol=1e-6)
    # The clipped runs really moved differently from the unclipped one.
    assert not np.allclose(state.params["w"][0], state.params["w"][1], atol=1e-3)
    losses = training.evaluate_runs(_loss, state.params, _batch(KEY))
    assert losses.shape == (3,)


def test_divergent_run_is_frozen_and_counted():
    """SGD with a huge step blows one run up; it stops at its last finite params."""
    run_keys = jax.random.split(KEY, 2)
    opt = optax.sgd(1e3)

    def loss(params, batch):
        return jnp.sum(jnp.exp(params["w"] * batch[0]))

    def init(k):
        return {"w": jnp.full((3,), 1.0)}

    state = training.init_multi_run_state(init, opt, run_keys)
    step = training.make_multi_run_step(loss, opt, _batch, run_keys, [float("inf"), 1e-3])
    result = train(state, step, lambda s: None, 30, workdir=None, log_every=10)
    dead = np.asarray(result.state.opt_state.diverged)
    np.testing.assert_array_equal(dead, [True, False])
    assert np.all(np.isfinite(result.state.params["w"]))
    with pytest.raises(ValueError, match="max_norms"):
        training.make_multi_run_step(loss, opt, _batch, run_keys, [1.0])
    with pytest.raises(ValueError, match="max_norms"):
        training.make_multi_run_step(loss, opt, _batch, run_keys, [1.0, 0.0])


def test_adding_min_lag_puts_markers_far_from_the_end():
    batch = tasks.adding_batch(KEY, 2000, 50, min_lag=10)
    markers = np.asarray(batch.inputs[..., 1])
    np.testing.assert_array_equal(markers[:, 40:], 0.0)  # more than 10 steps before the end
    np.testing.assert_array_equal(markers[:, :20].sum(1), 1)
    np.testing.assert_array_equal(markers[:, 20:40].sum(1), 1)
    assert markers[:, 39].sum() > 0 and markers[:, 0].sum() > 0  # the whole range is used
    np.testing.assert_allclose(batch.targets, (batch.inputs[..., 0] * markers).sum(1), rtol=1e-6)
    assert abs(float(jnp.var(batch.targets)) - 1 / 6) < 0.02
    for bad in (-1, 49, 1.5):
        with pytest.raises(ValueError, match="min_lag"):
            tasks.adding_batch(KEY, 2, 50, min_lag=bad)


def test_long_range_end_to_end(tmp_path):
    config = long_range_config.get_config("quick")
    config.lengths = (14,)
    config.cells = ("lstm",)
    config.hidden_dim = 4
    config.batch_size = 8
    config.num_seeds = 1
    config.tbptt_seeds = 1
    config.adding_steps = 4
    config.sgd_cell = "lstm"
    config.sgd_seeds = 2
    config.sgd_steps = 4
    config.test_size = 16
    config.log_every = 2
    metrics = long_range.train_and_evaluate(config, tmp_path)
    np.testing.assert_equal(metrics, common.read_metrics_json(tmp_path))
    for key in ("adding_T14_lstm_test_mse", "adding_T14_lstm_test_mse_clip",
                "adding_T14_lstm_tbptt_test_mse", "adding_T14_lstm_far_full_test_mse",
                "adding_T14_sgd_lstm_diverged", "adding_T14_sgd_lstm_diverged_clip"):  # fmt: skip
        assert key in metrics, key
        if key.endswith("_diverged") or key.endswith("_diverged_clip"):
            assert math.isfinite(metrics[key]) and metrics[key] >= 0, key
            continue
        # A median over the runs that did not diverge: NaN only when every run diverged
        # (at 4 steps a run may end above the divergence line), never by accident.
        base, _, suffix = key.partition("_test_mse")
        diverged = metrics[f"{base}_diverged{suffix}"]
        assert math.isfinite(metrics[f"{key}_worst"]), key
        assert math.isfinite(metrics[key]) or diverged >= 1, (key, metrics[key], diverged)
    assert (tmp_path / "training_curves.png").exists()
    config.tbptt_window = 13
    with pytest.raises(common.ConfigError, match="tbptt_window"):
        long_range.validate_config(config)
    config.tbptt_window = 10
    config.cells = ("gru",)
    with pytest.raises(common.ConfigError, match="lstm"):
        long_range.validate_config(config)


def test_long_range_skips_the_studies_set_to_zero_seeds(tmp_path, monkeypatch):
    """tbptt_seeds = sgd_seeds = 0 (one process per cell, as at T = 600): only the cells'
    groups train, and neither 'lstm' in cells nor T >= window + 2 is required."""
    calls = []

    def fake_group(config, task, length, cell, max_norms, *args, **kwargs):
        calls.append((task, length, cell, len(max_norms)))
        return np.full(len(max_norms), 0.01), np.zeros(len(max_norms), bool)

    monkeypatch.setattr(long_range, "_run_group", fake_group)
    config = long_range_config.get_config("quick")
    config.update(lengths=(8,), cells=("gru",), tbptt_seeds=0, sgd_seeds=0, copy_lengths=(5,))
    metrics = long_range.train_and_evaluate(config, tmp_path)
    assert calls == [("adding", 8, "gru", 4), ("copy", 5, "gru", 4)]
    assert metrics["adding_T8_gru_test_mse"] == metrics["copy_T5_gru_test_xent_clip"] == 0.01
    assert not [k for k in metrics if "tbptt" in k or "sgd" in k or "far_full" in k]
    for name in ("tbptt_seeds", "sgd_seeds"):
        bad = config.copy_and_resolve_references()
        bad[name] = -1
        with pytest.raises(common.ConfigError, match=name):
            long_range.validate_config(bad)


def test_long_range_readout_only_runs_the_truncated_setting_with_the_recurrence_frozen(
    tmp_path, monkeypatch
):
    calls = []

    def fake_group(config, task, length, cell, max_norms, optimizer, *args, **kwargs):
        calls.append((task, length, cell, len(max_norms), kwargs))
        return np.full(len(max_norms), 0.05), np.zeros(len(max_norms), bool)

    monkeypatch.setattr(long_range, "_run_group", fake_group)
    config = long_range_config.get_config("quick")
    config.update(lengths=(12,), cells=("gru",), tbptt_seeds=0, sgd_seeds=0, copy_lengths=(),
                  readout_only_seeds=3)  # fmt: skip
    metrics = long_range.train_and_evaluate(config, tmp_path)
    assert [c[:4] for c in calls] == [("adding", 12, "gru", 4), ("adding", 12, "lstm", 3)]
    assert calls[1][4]["window"] == config.tbptt_window
    assert calls[1][4]["min_lags"] == [config.tbptt_window] * 3
    assert metrics["adding_T12_lstm_readout_only_test_mse"] == 0.05
    config.lengths = (config.tbptt_window + 1,)  # the far variant needs T >= K + 2
    with pytest.raises(common.ConfigError, match="tbptt_window"):
        long_range.validate_config(config)


def test_readout_only_moves_the_readout_alone():
    from genjax.rnn import architectures as arch

    params = arch.init_many_to_one(KEY, "lstm", 2, 8, 1)
    grads = jax.tree_util.tree_map(jnp.ones_like, params)
    adam = optax.adam(0.1)
    updates, _ = arch.readout_only(adam).update(grads, arch.readout_only(adam).init(params), params)
    expected, _ = adam.update(grads["readout"], adam.init(params["readout"]))
    for got, want in zip(jax.tree_util.tree_leaves(updates["readout"]),
                         jax.tree_util.tree_leaves(expected), strict=True):  # fmt: skip
        np.testing.assert_allclose(got, want)
    assert all(not np.any(u) for u in jax.tree_util.tree_leaves(updates["rnn"]))
    assert jax.tree_util.tree_leaves(updates["rnn"])


def test_rnn_gradients_end_to_end(tmp_path):
    config = rnn_gradients_config.get_config("quick")
    config.hidden_dim = 8
    config.length = 60
    config.rhos = (0.5, 1.5)
    config.product_dim = 8
    config.product_depth = 20
    metrics = rnn_gradients.train_and_evaluate(config, tmp_path)
    np.testing.assert_equal(metrics, common.read_metrics_json(tmp_path))
    assert metrics["bptt_max_abs_diff"] < 1e-4
    assert metrics["tanh_rho0p5_max_log_excess"] <= 1e-4
    assert metrics["lstm_grad_ratio_lag50"] > 1.0
    assert (tmp_path / "grad_norms_vs_lag.png").exists()
