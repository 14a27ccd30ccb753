"""Claims 3.4-3.6: the adding problem and the copy task; tanh RNN vs LSTM vs GRU.

Each group of runs of one (task, T, cell) trains together in one compiled step
(`genjax.rnn.training`): seeds x {no clipping, clipping by global norm}, each
run drawing its own batches. A run whose loss or parameters become non-finite is
frozen and counted as diverged, as is a run whose final test loss exceeds
`divergence_factor` x the input-ignoring baseline. Test losses are medians over
the seeds that did not diverge (NaN if all did).

- 3.6: Adam on the standard adding problem (one marker in each half).
- 3.5: an adding problem whose markers all lie more than K = tbptt_window steps
  before the end (`tasks.adding_batch(min_lag=K)`): the LSTM trained with
  truncated BPTT of window K (`..._lstm_tbptt_...`) against the same LSTM with
  full BPTT on the same data (`..._lstm_far_full_...`, the control; it trains
  inside the LSTM's group, which needs the 'lstm' cell in config.cells).
- 3.5's diagnostic (`readout_only_seeds` > 0; off in both profiles): the same LSTM
  and data as the truncated runs with only the readout trained, the recurrence
  frozen at its initialisation (`..._lstm_readout_only_...`): what an untrained
  recurrence carries forward to the last step (an echo-state network).
- 3.4: plain SGD on the tanh RNN, where exploding gradients do damage (Adam
  rescales each coordinate and hides most of it): divergences over seeds with
  and without clipping.
- Copy task (full profile): memoryless baseline 10 log 8 / (T + 20).

Metrics: adding_T{T}_{cell}_test_mse[_clip], adding_T{T}_{cell}_diverged[_clip],
adding_T{T}_lstm_tbptt_test_mse, adding_T{T}_lstm_far_full_test_mse,
adding_T{T}_lstm_readout_only_test_mse (when run),
adding_T{T}_sgd_{cell}_diverged[_clip], copy_T{T}_{cell}_test_xent[_clip],
copy_T{T}_lstm_tbptt_test_xent, baselines, seconds per group.

    python -m experiments.long_range --workdir runs/long_range_quick \\
        --config=experiments/configs/long_range.py:quick
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Iterable
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments import common
from genjax.rnn import architectures as arch
from genjax.rnn import tasks, training
from genjax.rnn.cells import CELL_NAMES
from genjax.train import gather_runs, train
from genjax.train.writer import METRICS_FILE, read_metrics

log = logging.getLogger("genjax")

# Step counts that may grow on a rerun into the same workdir (common.check_resumable): each
# group trains at a constant rate from its checkpoints on, each step's batches drawn from
# the step's key alone.
EXTENDABLE = ("adding_steps", "sgd_steps", "copy_steps")


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises `common.ConfigError` naming the first field that cannot work."""
    common.require_positive(
        config, "hidden_dim", "batch_size", "num_seeds", "learning_rate", "clip_norm",
        "adding_steps", "tbptt_window", "sgd_learning_rate", "sgd_steps", "divergence_factor",
        "test_size", "log_every",
    )  # fmt: skip
    for name in ("tbptt_seeds", "sgd_seeds", "readout_only_seeds"):  # 0 skips the study
        value = config[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise common.ConfigError(f"config.{name} must be an integer >= 0, got {value!r}")
    if not config.lengths or any(not isinstance(t, int) or t < 2 for t in config.lengths):
        raise common.ConfigError(f"config.lengths must be integers >= 2, got {config.lengths}")
    far_runs = config.tbptt_seeds or config.readout_only_seeds  # markers > K before the end
    if far_runs and any(t < config.tbptt_window + 2 for t in config.lengths):
        raise common.ConfigError("config.lengths must all be >= config.tbptt_window + 2")
    if any(not isinstance(t, int) or t < 1 for t in config.copy_lengths):
        raise common.ConfigError(
            f"config.copy_lengths must be integers >= 1, got {config.copy_lengths}"
        )
    if config.copy_lengths:
        common.require_positive(config, "copy_steps", "copy_learning_rate")
    if not config.cells or any(c not in CELL_NAMES for c in config.cells):
        raise common.ConfigError(f"config.cells must be a subset of {CELL_NAMES}")
    if config.tbptt_seeds and "lstm" not in config.cells:
        raise common.ConfigError(
            "config.cells must include 'lstm' when config.tbptt_seeds > 0 (3.5's runs use it)"
        )
    common.require_choice(config, "sgd_cell", CELL_NAMES)


def _run_group(config, task, length, cell, max_norms, optimizer, steps, key, workdir, *,
               window=None, min_lags=None):  # fmt: skip
    """Trains len(max_norms) runs of one (task, T, cell) together; returns (test [R], dead [R]).

    min_lags: per-run `tasks.adding_batch` min_lag (default 0): runs on the task variants
    share the compiled step, each sampling (and tested on) its own variant.
    """
    runs = len(max_norms)
    if task == "adding":
        lags = [0] * runs if min_lags is None else list(min_lags)
        distinct = sorted(set(lags))

        def make(key, lag, size):  # the variant of each run, selected inside the step
            batches = [tasks.adding_batch(key, size, length, min_lag=m) for m in distinct]
            return jax.tree_util.tree_map(
                lambda *xs: jnp.select([lag == m for m in distinct], xs), *batches
            )

        loss, d_in, d_out, options = tasks.adding_loss, 2, 1, jnp.asarray(lags)
    else:
        make = lambda key, _, size: tasks.copy_batch(key, size, length)  # noqa: E731
        loss, d_in, d_out = tasks.copy_loss, tasks.COPY_INPUT_CLASSES, tasks.COPY_OUTPUT_CLASSES
        options = jnp.zeros((runs,), jnp.int32)
    run_keys = jax.random.split(key, runs)
    mesh = common.runs_mesh()  # the runs split over every device (None: one device)
    state = training.init_multi_run_state(
        lambda k: arch.init_many_to_one(k, cell, d_in, config.hidden_dim, d_out),
        optimizer, run_keys, mesh,
    )  # fmt: skip
    step = training.make_multi_run_step(
        functools.partial(loss, cell, window=window), optimizer,
        lambda k, option: make(k, option, config.batch_size), run_keys, max_norms, options, mesh,
    )  # fmt: skip
    result = train(
        state, step, lambda s: None, steps, workdir=workdir, log_every=config.log_every,
        checkpoint_every_secs=config.checkpoint_every_secs,
        tensorboard=False,
    )  # fmt: skip
    params, dead = result.state.params, result.state.opt_state.diverged
    if mesh is not None:  # the real runs, gathered from every device and host
        params, dead = gather_runs((params, dead), runs)
    test_key = jax.random.PRNGKey(10**6 + length)
    per_variant = {
        int(o): np.asarray(
            training.evaluate_runs(
                functools.partial(loss, cell, window=None),
                params,
                make(test_key, o, config.test_size),
            )  # fmt: skip
        )
        for o in np.unique(np.asarray(options))
    }
    test = np.array([per_variant[int(o)][r] for r, o in enumerate(np.asarray(options))])
    return test, np.asarray(dead)


def _summarise(metrics, prefix, test, dead, baseline, factor, suffix=""):
    diverged = dead | ~np.isfinite(test) | (test > factor * baseline)
    ok = test[~diverged]
    metrics[f"{prefix}{suffix}"] = float(np.median(ok)) if ok.size else float("nan")
    metrics[f"{prefix}{suffix}_worst"] = float(np.max(np.where(np.isfinite(test), test, np.inf)))
    base = prefix.rsplit("_test_", 1)[0]
    metrics[f"{base}_diverged{suffix}"] = float(diverged.sum())


def plot_training_curves(group_dirs: Iterable[str | Path], workdir: str | Path) -> Path | None:
    """`workdir/training_curves.png`: each group's training loss (the mean over its runs) vs
    step, one panel per task and length, log scale, with the input-ignoring baseline.

    group_dirs: the groups' workdirs (named like `adding_T600_lstm`, `copy_T50_lstm_tbptt`);
    they may come from several runs (e.g. one process per cell). Returns None if none
    holds a training record.
    """
    panels: dict[tuple[str, int], dict[str, tuple[list, list]]] = {}
    for d in map(Path, group_dirs):
        match = re.fullmatch(r"(adding|copy)_T(\d+)_(\w+)", d.name)
        records = read_metrics(d, "train")
        if match and records:
            steps = [r["step"] for r in records]
            losses = [common.finite_or_nan(r["loss"]) for r in records]
            panels.setdefault((match[1], int(match[2])), {})[match[3]] = (steps, losses)
    if not panels:
        return None
    from experiments import plotting

    width = plotting.TEXT_WIDTH if len(panels) > 1 else plotting.COLUMN_WIDTH
    fig, axes = plotting.figure(1, len(panels), width=width, height=2.8, squeeze=False)
    for ax, ((task, length), curves) in zip(axes[0], sorted(panels.items()), strict=True):
        for label, (steps, losses) in sorted(curves.items()):
            ax.plot(steps, losses, label=plotting.words(label, plotting.LONG_RANGE_GROUPS))
        base = tasks.ADDING_BASELINE_MSE if task == "adding" else tasks.copy_baseline_xent(length)
        ax.axhline(base, color="k", ls="--", lw=0.8, label="baseline that ignores the input")
        ax.set_yscale("log")
        plotting.set_title(
            ax, f"{plotting.words(task, plotting.LONG_RANGE_TASKS)}, length T = {length}"
        )
        ax.set_xlabel("training step")
        loss = "mean squared error" if task == "adding" else "cross-entropy, nats per step"
        ax.set_ylabel(f"training loss\n({loss})")
        ax.legend()
    return common.save_figure(fig, workdir, "training_curves")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, float]:
    """Trains every group; writes metrics.json and config.json."""
    validate_config(config)
    workdir = common.prepare_workdir(workdir, config, EXTENDABLE)
    key = jax.random.PRNGKey(config.seed)
    metrics: dict[str, float] = {}
    group = functools.partial(_timed_group, config, metrics, workdir)
    for length in config.lengths:
        _adding_groups(config, length, jax.random.fold_in(key, length), group, metrics)
    for length in config.copy_lengths:
        _copy_groups(config, length, jax.random.fold_in(key, 10**4 + length), group, metrics)
    plot_training_curves(
        sorted(p for p in workdir.iterdir() if (p / METRICS_FILE).exists()), workdir
    )
    return common.write_metrics(workdir, metrics)


def _timed_group(config, metrics, workdir: Path, tag: str, *args, **kwargs):
    """`_run_group` into `workdir/tag`, its seconds in `metrics`; metrics_partial.json updated."""
    t0 = time.perf_counter()
    out = _run_group(config, *args, workdir=workdir / tag, **kwargs)
    metrics[f"seconds_{tag}"] = time.perf_counter() - t0
    log.info("%s: test %s (%.0fs)", tag, np.round(out[0], 4), metrics[f"seconds_{tag}"])
    common.write_json(workdir / "metrics_partial.json", metrics)  # what a cut run keeps
    return out


def _summarise_both(metrics, config, tag, unit, test, dead, baseline):
    """`_summarise` of the first num_seeds runs (no clipping) and the next (`_clip`)."""
    n, factor = config.num_seeds, config.divergence_factor
    _summarise(metrics, f"{tag}_test_{unit}", test[:n], dead[:n], baseline, factor)
    _summarise(metrics, f"{tag}_test_{unit}", test[n:], dead[n:], baseline, factor, "_clip")


def _adding_groups(config, length: int, k_len, group, metrics) -> None:
    """The adding problem at T = `length`: 3.6's cells (and 3.5's far-marker control in the
    LSTM's group), 3.5's truncated BPTT and its readout-only diagnostic, 3.4's SGD runs."""
    inf, clip, n = float("inf"), config.clip_norm, config.num_seeds
    adam, base = optax.adam(config.learning_rate), tasks.ADDING_BASELINE_MSE
    metrics[f"adding_T{length}_baseline_mse"] = base
    # 3.6: the cells on the standard task, with and without clipping. 3.5: the LSTM's
    # group also trains, with full BPTT, the control runs on the variant whose markers
    # all lie more than K steps before the end; truncated BPTT (window K) on it follows.
    K, m = config.tbptt_window, config.tbptt_seeds
    for ci, cell in enumerate(config.cells):
        tag = f"adding_T{length}_{cell}"
        far = m if cell == "lstm" else 0
        test, dead = group(tag, "adding", length, cell, [inf] * n + [clip] * n + [clip] * far,
                           adam, config.adding_steps, jax.random.fold_in(k_len, ci),
                           min_lags=[0] * (2 * n) + [K] * far)  # fmt: skip
        _summarise_both(metrics, config, tag, "mse", test[: 2 * n], dead[: 2 * n], base)
        if far:
            _summarise(metrics, f"adding_T{length}_lstm_far_full_test_mse", test[2 * n :],
                       dead[2 * n :], base, inf)  # fmt: skip
    if m:
        tag = f"adding_T{length}_lstm_tbptt"
        test, dead = group(tag, "adding", length, "lstm", [clip] * m, adam,
                           config.adding_steps, jax.random.fold_in(k_len, 10), window=K,
                           min_lags=[K] * m)  # fmt: skip
        _summarise(metrics, f"{tag}_test_mse", test, dead, base, inf)
    if config.readout_only_seeds:  # 3.5's diagnostic: the tbptt runs, recurrence frozen
        tag, r = f"adding_T{length}_lstm_readout_only", config.readout_only_seeds
        test, dead = group(tag, "adding", length, "lstm", [clip] * r, arch.readout_only(adam),
                           config.adding_steps, jax.random.fold_in(k_len, 11), window=K,
                           min_lags=[K] * r)  # fmt: skip
        _summarise(metrics, f"{tag}_test_mse", test, dead, base, inf)
    # 3.4: plain SGD on the tanh RNN, with and without clipping.
    cell, s = config.sgd_cell, config.sgd_seeds
    if s:
        tag = f"adding_T{length}_sgd_{cell}"
        test, dead = group(tag, "adding", length, cell, [inf] * s + [clip] * s,
                           optax.sgd(config.sgd_learning_rate), config.sgd_steps,
                           jax.random.fold_in(k_len, 12))  # fmt: skip
        factor = config.divergence_factor
        _summarise(metrics, f"{tag}_test_mse", test[:s], dead[:s], base, factor)
        _summarise(metrics, f"{tag}_test_mse", test[s:], dead[s:], base, factor, "_clip")


def _copy_groups(config, length: int, k_len, group, metrics) -> None:
    """The copy task at T = `length`: every cell with and without clipping, and the LSTM
    with truncated BPTT."""
    base = tasks.copy_baseline_xent(length)
    metrics[f"copy_T{length}_baseline_xent"] = base
    copy_adam, clip, n = optax.adam(config.copy_learning_rate), config.clip_norm, config.num_seeds
    for ci, cell in enumerate(config.cells):
        tag = f"copy_T{length}_{cell}"
        test, dead = group(tag, "copy", length, cell, [float("inf")] * n + [clip] * n, copy_adam,
                           config.copy_steps, jax.random.fold_in(k_len, ci))  # fmt: skip
        _summarise_both(metrics, config, tag, "xent", test, dead, base)
    if config.tbptt_seeds:
        tag = f"copy_T{length}_lstm_tbptt"
        test, dead = group(tag, "copy", length, "lstm", [clip] * config.tbptt_seeds,
                           copy_adam, config.copy_steps, jax.random.fold_in(k_len, 10),
                           window=config.tbptt_window)  # fmt: skip
        _summarise(metrics, f"{tag}_test_xent", test, dead, base, float("inf"))


if __name__ == "__main__":
    common.run_experiment(__name__, train_and_evaluate)
