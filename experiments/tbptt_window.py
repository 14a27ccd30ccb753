"""Claim 3.5: truncated BPTT against the lag of the dependency, a sweep of the window K.

The adding problem of length T with both markers between `min_lag` and `max_lag` steps
before the last step, where the target is read (`tasks.adding_batch(min_lag, max_lag)`).
An LSTM reads the sequence; its gradient is truncated with window K for each K in
`config.windows`: chunks of K steps from step 0, the forward carry never cut, the
gradient cut at every chunk start (`genjax.rnn.tbptt`). Each K < T divides T, so the
loss at the last step sends gradient back over exactly its last K steps: a window
K <= min_lag never reaches a marker (no gradient ever flows from the loss to a marker,
tests/test_rnn_gradients.py), a window K > max_lag reaches both, and K = T is full BPTT.

All windows x seeds train as one compiled step (`genjax.rnn.training`): the truncation
is applied by `tbptt.gated_stacked` with `window_gates(T, K)`, the gradient of
`tbptt.truncated_stacked` with window K (tests/test_tbptt_window.py), so the window is a
per-run array. The run of window K and seed s starts from seed s's initialisation and
draws seed s's batches: every window sees the same starts and the same data. Adam,
clipping by global norm. Every `eval_every` steps each run's test MSE on one fixed test
batch is recorded (the `eval` records of metrics.jsonl): the learning curves.

Reference lines: predicting the mean scores 1/6 (knows neither addend); knowing one
addend exactly and not the other scores Var(U) = 1/12.

Metrics, for each window K: tbptt_K{K}_test_mse (median over seeds), _min and _max (its
best and worst seed), tbptt_K{K}_test_mse_half (median at half the steps),
tbptt_K{K}_diverged (runs frozen on a non-finite value), tbptt_K{K}_covers (1 when the
window reaches every marker). Over the runs of all windows that reach no marker
(short_...) and of all that reach every marker (covering_...): {short,covering}_test_mse
(median), _min, _max, and {short,covering}_marker_weight_change_{min,max}: how far the
weights from the marker input moved from their initialisation (largest absolute change
in a run; the smallest and largest run); short_over_covering_log10 =
log10(short_test_mse / covering_test_mse). baseline_mse, one_addend_mse, seconds.

    python -m experiments.tbptt_window --workdir runs/tbptt_window_quick \\
        --config=experiments/configs/tbptt_window.py:quick
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments import common
from genjax.rnn import architectures as arch
from genjax.rnn import tasks, tbptt, training
from genjax.rnn.cells import carry_output
from genjax.train import train
from genjax.train.writer import read_metrics

log = logging.getLogger("genjax")

EXTENDABLE = ("num_steps",)  # each run trains on from its checkpoint; batches come from keys
ONE_ADDEND_MSE = 1.0 / 12.0  # Var(U[0, 1]): the error of knowing exactly one of the addends


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises `common.ConfigError` naming the first field that cannot work."""
    common.require_positive(
        config, "length", "hidden_dim", "batch_size", "num_seeds", "learning_rate", "clip_norm",
        "num_steps", "eval_every", "test_size", "log_every",
    )  # fmt: skip
    length, lo, hi = config.length, config.min_lag, config.max_lag
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (length, lo, hi)):
        raise common.ConfigError("config.length, min_lag and max_lag must be integers")
    if not (length >= 3 and 0 <= lo < hi <= length - 1 and lo <= length - 2):
        raise common.ConfigError(
            f"config.min_lag, max_lag must satisfy 0 <= min_lag < max_lag <= length - 1, "
            f"got {lo}, {hi} for length {length}"
        )
    windows = config.windows
    if not windows or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in windows):
        raise common.ConfigError(f"config.windows must be positive integers, got {windows}")
    if len(set(windows)) != len(windows):
        raise common.ConfigError(f"config.windows must be distinct, got {windows}")
    bad = [k for k in windows if k < length and length % k]
    if bad:
        raise common.ConfigError(
            f"config.windows below config.length must divide it (the last chunk is then "
            f"exactly K steps), got {bad} for length {length}"
        )


def reaches(length: int, window: int, lag: int) -> bool:
    """Whether the loss at the last step sends gradient back to a marker `lag` steps before
    it under truncated BPTT with window K (chunks from step 0): the marker lies in the last
    chunk."""
    last_chunk_start = 0 if window >= length else window * ((length - 1) // window)
    return last_chunk_start <= length - 1 - lag


def covers(length: int, window: int, max_lag: int) -> bool:
    """Whether the window reaches every marker (all lags are <= max_lag)."""
    return reaches(length, window, max_lag)


def _loss(params, batch_and_window, length: int):
    """Adding-problem MSE of a many-to-one LSTM, its gradient truncated with the window."""
    batch, window = batch_and_window
    finals, _ = tbptt.gated_stacked(
        "lstm", params["rnn"], batch.inputs, tbptt.window_gates(length, window)
    )
    pred = arch.dense(params["readout"], carry_output(finals[-1]))[:, 0]
    return jnp.mean((pred - batch.targets) ** 2)


def _run_names(config) -> list[tuple[int, int]]:
    """(window, seed) of each run, in the order of the stacked runs."""
    return [(k, s) for k in config.windows for s in range(config.num_seeds)]


def _train_runs(config, workdir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Trains every (window, seed) run together, recording their test MSEs every
    `eval_every` steps; returns the runs' diverged flags [R] and how far each run's weights
    from the marker input moved from their initialisation (largest absolute change) [R]."""
    runs = _run_names(config)
    length = config.length

    def batch(key, size):
        return tasks.adding_batch(key, size, length, min_lag=config.min_lag, max_lag=config.max_lag)

    seed_keys = jax.random.split(jax.random.PRNGKey(config.seed), config.num_seeds)
    run_keys = jnp.stack([seed_keys[s] for _, s in runs])  # one seed: same init, same data
    windows = jnp.asarray([k for k, _ in runs], jnp.int32)
    optimizer = optax.adam(config.learning_rate)
    state = training.init_multi_run_state(
        lambda k: arch.init_many_to_one(
            k, "lstm", 2, config.hidden_dim, 1, forget_bias=config.forget_bias
        ),
        optimizer,
        run_keys,
    )
    marker_weights = lambda params: np.asarray(params["rnn"][0]["W_x"][:, :, 1])  # noqa: E731
    initial = marker_weights(state.params)  # [R, 4H], copied before training
    step = training.make_multi_run_step(
        lambda p, bw: _loss(p, bw, length), optimizer,
        lambda key, window: (batch(key, config.batch_size), window), run_keys,
        [config.clip_norm] * len(runs), windows,
    )  # fmt: skip
    test = batch(jax.random.PRNGKey(10**6 + config.seed), config.test_size)
    full = jnp.asarray(length, jnp.int32)  # the test loss: no truncation (the forward is equal)
    test_mse = jax.jit(jax.vmap(lambda p: _loss(p, (test, full), length)))

    def evaluate(state) -> dict[str, float]:
        values = np.asarray(test_mse(state.params))
        return {f"test_mse_K{k}_s{s}": float(v) for (k, s), v in zip(runs, values, strict=True)}

    result = train(
        state, step, lambda s: None, config.num_steps, workdir=workdir,
        log_every=config.log_every, checkpoint_every_secs=config.checkpoint_every_secs,
        eval_fn=evaluate, eval_every=config.eval_every, tensorboard=False,
    )  # fmt: skip
    moved = np.max(np.abs(marker_weights(result.state.params) - initial), axis=1)
    return np.asarray(result.state.opt_state.diverged), moved


def curves(config, workdir: Path) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """(steps [E], {K: test MSE [E, seeds]}) from the run's eval records (last per step)."""
    by_step = {r["step"]: r for r in read_metrics(workdir, "eval")}
    steps = np.array(sorted(by_step))
    out = {
        k: np.array(
            [
                [by_step[t].get(f"test_mse_K{k}_s{s}", np.nan) for s in range(config.num_seeds)]
                for t in steps
            ]
        )  # fmt: skip
        for k in config.windows
    }
    return steps, out


def _summarise(config, steps, per_window, diverged, moved) -> dict[str, float]:
    metrics = {"baseline_mse": tasks.ADDING_BASELINE_MSE, "one_addend_mse": ONE_ADDEND_MSE}
    half = int(np.argmin(np.abs(steps - config.num_steps / 2)))
    dead = dict(zip(_run_names(config), diverged, strict=True))
    moved = dict(zip(_run_names(config), moved, strict=True))
    for k, values in per_window.items():
        final = values[-1]
        metrics[f"tbptt_K{k}_test_mse"] = float(np.median(final))
        metrics[f"tbptt_K{k}_test_mse_min"] = float(np.min(final))
        metrics[f"tbptt_K{k}_test_mse_max"] = float(np.max(final))
        metrics[f"tbptt_K{k}_test_mse_half"] = float(np.median(values[half]))
        metrics[f"tbptt_K{k}_diverged"] = float(sum(dead[k, s] for s in range(config.num_seeds)))
        metrics[f"tbptt_K{k}_covers"] = float(covers(config.length, k, config.max_lag))
    # The runs of every window that reaches no marker, and of every window that reaches all.
    groups = {
        "short": [k for k in per_window if not reaches(config.length, k, config.min_lag)],
        "covering": [k for k in per_window if covers(config.length, k, config.max_lag)],
    }
    for name, ks in groups.items():
        if ks:
            final = np.concatenate([per_window[k][-1] for k in ks])
            metrics[f"{name}_test_mse"] = float(np.median(final))
            metrics[f"{name}_test_mse_min"] = float(np.min(final))
            metrics[f"{name}_test_mse_max"] = float(np.max(final))
            change = [moved[k, s] for k in ks for s in range(config.num_seeds)]
            metrics[f"{name}_marker_weight_change_min"] = float(np.min(change))
            metrics[f"{name}_marker_weight_change_max"] = float(np.max(change))
    if all(f"{name}_test_mse" in metrics for name in groups):
        ratio = metrics["short_test_mse"] / metrics["covering_test_mse"]
        metrics["short_over_covering_log10"] = float(np.log10(ratio))
    return metrics


def plot(config, steps, per_window, workdir: Path) -> Path:
    """`workdir/window_sweep.png`: test MSE vs step for each window (median over seeds,
    the band from the best to the worst seed), and the final test MSE vs the window."""
    from experiments import plotting

    fig, (left, right) = plotting.figure(1, 2, width=plotting.TEXT_WIDTH, height=2.8)
    lo, hi = config.min_lag, config.max_lag
    for k, values in per_window.items():
        what = "full BPTT" if k >= config.length else f"window {k}"
        line = left.plot(steps, np.median(values, axis=1), label=what)[0]
        left.fill_between(steps, values.min(1), values.max(1), color=line.get_color(), alpha=0.15)
        right.plot([k] * values.shape[1], values[-1], "o", color=line.get_color(), alpha=0.7)
    ks = list(per_window)
    right.plot(ks, [np.median(per_window[k][-1]) for k in ks], "k-", lw=0.8, label="median")
    right.axvspan(lo, hi, color="0.85", label=f"the markers' lags ({lo}-{hi} steps)")
    right.set_xscale("log", base=2)
    right.set_xticks(ks, [str(k) for k in ks])
    right.set_xlabel("truncation window K (steps)")
    left.set_xlabel("training step")
    plotting.set_title(left, f"Adding task, T = {config.length}: test error while training")
    plotting.set_title(right, f"After {config.num_steps:,} steps, each seed")
    for ax in (left, right):
        labelled = ax is right  # the reference lines' legend: the right panel's
        ax.axhline(tasks.ADDING_BASELINE_MSE, color="k", ls="--", lw=0.8,
                   label="predicts the mean (1/6)" if labelled else None)  # fmt: skip
        ax.axhline(ONE_ADDEND_MSE, color="k", ls=":", lw=0.8,
                   label="knows one addend (1/12)" if labelled else None)  # fmt: skip
        ax.set_yscale("log")
        ax.set_ylabel("test mean squared error")
        ax.legend(loc="lower left")
    return common.save_figure(fig, workdir, "window_sweep")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, float]:
    """Trains every run; writes metrics.json, config.json and window_sweep.png."""
    validate_config(config)
    workdir = common.prepare_workdir(workdir, config, EXTENDABLE)
    start = time.perf_counter()
    diverged, moved = _train_runs(config, workdir)
    steps, per_window = curves(config, workdir)
    metrics = _summarise(config, steps, per_window, diverged, moved)
    metrics["seconds"] = time.perf_counter() - start
    for k in config.windows:
        log.info("window %d: test MSE %s", k, np.round(per_window[k][-1], 4))
    plot(config, steps, per_window, workdir)
    return common.write_metrics(workdir, metrics)


if __name__ == "__main__":
    common.run_experiment(__name__, train_and_evaluate)
