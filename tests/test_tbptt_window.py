"""Claim 3.5's window sweep: gated truncation equals chunked truncation, no gradient reaches
a marker before the window, the adding problem's lag band, the experiment end to end."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import common, tbptt_window
from experiments.configs import tbptt_window as tbptt_window_config
from genjax.rnn import architectures as arch
from genjax.rnn import tasks, tbptt

KEY = jax.random.PRNGKey(0)


def _max_diff(a, b) -> float:
    diffs = jax.tree_util.tree_map(lambda x, y: float(jnp.max(jnp.abs(x - y))), a, b)
    return max(jax.tree_util.tree_leaves(diffs))


def test_window_gates():
    np.testing.assert_array_equal(tbptt.window_gates(9, 4), [0, 1, 1, 1, 0, 1, 1, 1, 0])
    np.testing.assert_array_equal(tbptt.window_gates(9, 9), np.ones(9))  # K >= T: full BPTT
    np.testing.assert_array_equal(tbptt.window_gates(9, 20), np.ones(9))
    traced = jax.jit(lambda k: tbptt.window_gates(6, k))(jnp.asarray(3))
    np.testing.assert_array_equal(traced, [0, 1, 1, 0, 1, 1])


@pytest.mark.parametrize("window", [1, 3, 4, 9, 12])
def test_gated_stacked_has_the_outputs_and_gradient_of_truncated_stacked(window):
    """Two layers, T = 9 (not a multiple of 4): same forward, same truncated gradient."""
    params = arch.init_many_to_many(KEY, "lstm", 3, 4, 2, num_layers=2)
    xs = jax.random.normal(jax.random.PRNGKey(1), (2, 9, 3))

    def loss(params, gated):
        if gated:
            _, ys = tbptt.gated_stacked("lstm", params["rnn"], xs, tbptt.window_gates(9, window))
        else:
            _, ys = tbptt.truncated_stacked("lstm", params["rnn"], xs, window)
        return jnp.sum(ys[:, -1] ** 2) + 0.1 * jnp.sum(ys**2)

    _, ys_gated = tbptt.gated_stacked("lstm", params["rnn"], xs, tbptt.window_gates(9, window))
    np.testing.assert_array_equal(
        ys_gated, tbptt.truncated_stacked("lstm", params["rnn"], xs, 9)[1]
    )
    assert _max_diff(jax.grad(loss)(params, True), jax.grad(loss)(params, False)) < 1e-6


def test_gated_stacked_checks_its_gates():
    params = arch.init_many_to_many(KEY, "lstm", 3, 4, 2)
    with pytest.raises(ValueError, match="gates"):
        tbptt.gated_stacked("lstm", params["rnn"], jnp.zeros((2, 9, 3)), jnp.ones(8))


def _batch():
    return tasks.adding_batch(KEY, 16, 40, min_lag=30, max_lag=39)  # the configs' task


@pytest.mark.parametrize("window", [5, 10, 20])
def test_no_gradient_reaches_the_markers_before_the_window(window):
    """The mechanism of 3.5: with every marker more than K steps back, the truncated loss's
    gradient is exactly zero at every step before the window (the markers' included), and
    the marker input's weights get exactly zero gradient; full BPTT's is not zero."""
    params = arch.init_many_to_one(KEY, "lstm", 2, 8, 1)
    batch = _batch()

    def loss(inputs, params, window):
        return tasks.adding_loss("lstm", params, batch._replace(inputs=inputs), window=window)

    for w, exact_zero in ((window, True), (None, False)):
        by_step = np.abs(np.asarray(jax.grad(loss)(batch.inputs, params, w))).sum(axis=(0, 2))
        marker_weights = jax.grad(loss, argnums=1)(batch.inputs, params, w)["rnn"][0]["W_x"][:, 1]
        if exact_zero:
            np.testing.assert_array_equal(by_step[: 40 - window], 0.0)
            assert np.all(by_step[40 - window :] > 0)
            np.testing.assert_array_equal(marker_weights, 0.0)
        else:
            assert np.all(by_step[:10] > 1e-9)  # every step where a marker may lie
            assert float(jnp.max(jnp.abs(marker_weights))) > 1e-6
    # The experiment's loss (gated, the window an array) has the same zero gradient.
    gated = jax.grad(tbptt_window._loss)(params, (batch, jnp.asarray(window)), 40)
    np.testing.assert_array_equal(gated["rnn"][0]["W_x"][:, 1], 0.0)
    chunked = jax.grad(functools.partial(tasks.adding_loss, "lstm", window=window))(params, batch)
    assert _max_diff(gated, chunked) < 1e-6


def test_adding_max_lag_keeps_every_marker_in_the_lag_band():
    batch = tasks.adding_batch(KEY, 2000, 80, min_lag=30, max_lag=39)
    markers = np.asarray(batch.inputs[..., 1])
    np.testing.assert_array_equal(markers[:, :40], 0.0)  # lag T - 1 - p in [30, 39]
    np.testing.assert_array_equal(markers[:, 50:], 0.0)
    np.testing.assert_array_equal(markers[:, 40:45].sum(1), 1)  # one in each half
    np.testing.assert_array_equal(markers[:, 45:50].sum(1), 1)
    assert np.all(markers[:, 40:50].sum(0) > 0)  # the whole band is used
    np.testing.assert_allclose(batch.targets, (batch.inputs[..., 0] * markers).sum(1), rtol=1e-6)
    # max_lag = T - 1 is the default: the same batch as min_lag alone.
    default = tasks.adding_batch(KEY, 8, 50, min_lag=10)
    explicit = tasks.adding_batch(KEY, 8, 50, min_lag=10, max_lag=49)
    np.testing.assert_array_equal(default.inputs, explicit.inputs)
    for bad in (30, 80, 2.5, True):
        with pytest.raises(ValueError, match="max_lag"):
            tasks.adding_batch(KEY, 2, 80, min_lag=30, max_lag=bad)


def test_reaches_and_covers():
    assert [tbptt_window.covers(80, k, 39) for k in (5, 10, 20, 40, 80)] == [0, 0, 0, 1, 1]
    assert not tbptt_window.covers(80, 40, 40)  # a marker at step 39 lies in the first chunk
    assert tbptt_window.covers(80, 100, 79)
    # T = 9, K = 4: chunks [0-3], [4-7], [8]: the loss reaches lag 0 only.
    assert [tbptt_window.reaches(9, 4, lag) for lag in (0, 1)] == [True, False]


def test_the_configs_sweep_windows_on_both_sides_of_the_lags():
    for profile in common.PROFILES:
        config = tbptt_window_config.get_config(profile)
        tbptt_window.validate_config(config)
        short = [
            k for k in config.windows if not tbptt_window.reaches(config.length, k, config.min_lag)
        ]
        assert short == [k for k in config.windows if k < config.length]  # reach no marker
        assert all(3 * k <= config.min_lag for k in short[:2])  # 3 windows back, at least
        assert config.length in config.windows  # and full BPTT, the control


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("windows", (5, 7), "divide"),
        ("windows", (5, 5), "distinct"),
        ("windows", (0,), "positive"),
        ("max_lag", 80, "max_lag"),
        ("min_lag", 39, "max_lag"),
        ("num_seeds", 0, "num_seeds"),
    ],
)
def test_validate_config(field, value, match):
    config = tbptt_window_config.get_config("quick")
    config[field] = value
    with pytest.raises(common.ConfigError, match=match):
        tbptt_window.validate_config(config)


def test_tbptt_window_end_to_end(tmp_path):
    """Tiny run: every metric and the figure; windows 8 and 16 at T = 8 are both full BPTT,
    so the same seed gives the same curve (same initialisation, same batches)."""
    config = tbptt_window_config.get_config("quick")
    config.update(length=8, min_lag=3, max_lag=5, windows=(2, 4, 8, 16), hidden_dim=4,
                  batch_size=8, num_seeds=2, num_steps=6, eval_every=3, test_size=16,
                  log_every=3)  # fmt: skip
    metrics = tbptt_window.train_and_evaluate(config, tmp_path)
    for k, covered in ((2, 0), (4, 0), (8, 1), (16, 1)):  # K = 4 reaches lag 3 only
        assert metrics[f"tbptt_K{k}_covers"] == covered
        for suffix in ("", "_min", "_max", "_half"):
            assert np.isfinite(metrics[f"tbptt_K{k}_test_mse{suffix}"])
        assert metrics[f"tbptt_K{k}_diverged"] == 0
    assert metrics["one_addend_mse"] == pytest.approx(metrics["baseline_mse"] / 2)
    assert metrics["short_test_mse_min"] == metrics["tbptt_K2_test_mse_min"]  # K = 2 alone
    assert metrics["short_marker_weight_change_max"] == 0.0  # no gradient ever reached them
    assert metrics["covering_marker_weight_change_min"] > 0.0
    assert np.isfinite(metrics["short_over_covering_log10"])
    assert metrics["covering_test_mse_max"] == max(
        metrics[f"tbptt_K{k}_test_mse_max"] for k in (8, 16)
    )
    steps, per_window = tbptt_window.curves(config, tmp_path)
    np.testing.assert_array_equal(steps, [3, 6])
    np.testing.assert_array_equal(per_window[8], per_window[16])
    assert not np.array_equal(per_window[8][:, 0], per_window[8][:, 1])  # seeds differ
    assert (tmp_path / "window_sweep.png").exists()
