"""Polyphonic music: many-to-many next-frame prediction and generation from a primer (3.1).

Each piece is a piano roll of 88 binary pitch units (MIDI 21..108), one frame per
quarter note (`genjax.data.music`). A tanh RNN, an LSTM and a GRU
(`genjax.rnn.polyphonic`) read frames 0, x_1, ..., x_{T-1} and predict every frame
x_t as 88 independent Bernoullis (Boulanger-Lewandowski et al. 2012's RNN), scored as
test negative log-likelihood in nats per time step, averaged over the frames of all
pieces. Scored frames: by default x_2..x_T, each from the frames before it, the
protocol of the code behind Bai et al. 2018's table (it reads x_1..x_{T-1} and scores
x_2..x_T); `--config.score_first_frame` also scores x_1, predicted from the zero
frame alone, and every run reports that score too (`..._all_frames`). Training always
fits every frame, x_1 included (generation from nothing needs it). Every
`eval_every` steps the valid NLL is measured and the best step's parameters kept;
the cell with the lowest valid NLL is the selected model (`..._selected`). The test
split is read once, at the end.

Datasets: the JSB-like set built from music21's Bach chorales (metrics prefixed
`chorales_`; `--config.chorales=False` skips it), and, with `--config.data_path`, a
standard benchmark file such as JSB Chorales (no prefix: `test_nll_per_step_{cell}`,
the numbers the papers report). Each dataset's random key depends on its name, not on
which others run, and each cell's on its name, so a run of one cell on one dataset
repeats that part of a run of all of them (`experiments.music_merge` joins such runs).
Baseline: every pitch an independent Bernoulli with its training frequency
(`..._marginal`).

Metrics: [chorales_]{test,valid,train}_nll_per_step_{cell}, ..._selected,
..._marginal (each also as ..._all_frames, x_1 scored), [chorales_]best_step_{cell},
dataset sizes, seconds.
Figures: [chorales_]valid_curves.png, [chorales_]piano_roll.png (a test primer, the
selected model's sampled continuation, and the real continuation).
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np

from experiments import common
from genjax.data import music
from genjax.random_keys import named_key
from genjax.rnn import architectures as arch
from genjax.rnn import polyphonic
from genjax.rnn.cells import CELL_NAMES

log = logging.getLogger("genjax")


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises `common.ConfigError` naming the first field that cannot work."""
    common.require_positive(
        config, "hidden_dim", "num_layers", "batch_size", "learning_rate", "clip_norm",
        "num_steps", "eval_every", "primer_frames", "generate_frames", "log_every",
    )  # fmt: skip
    if not config.cells or any(c not in CELL_NAMES for c in config.cells):
        raise common.ConfigError(f"config.cells must be a non-empty subset of {CELL_NAMES}")
    for name in ("input_dropout", "output_dropout", "ema_decay"):
        if not 0.0 <= config[name] < 1.0:
            raise common.ConfigError(f"config.{name} must be in [0, 1), got {config[name]}")
    if not isinstance(config.transpose_max, int) or not 0 <= config.transpose_max <= 12:
        raise common.ConfigError(
            f"config.transpose_max must be an integer in 0..12, got {config.transpose_max}"
        )
    if config.chorales_max_pieces != 0 and config.chorales_max_pieces < 15:
        raise common.ConfigError(
            "config.chorales_max_pieces must be 0 (all) or >= 15 (enough for three splits)"
        )
    if config.data_path and not Path(config.data_path).expanduser().is_file():
        raise common.ConfigError(f"config.data_path {config.data_path!r} is not a file")
    if not common.music_dataset_prefixes(config):
        raise common.ConfigError("nothing to train: config.chorales is False and no data_path")


def _load_datasets(config) -> dict[str, music.PolyphonicDataset]:
    """{metric prefix: dataset}; a malformed data_path file is a ConfigError."""
    prefixes = common.music_dataset_prefixes(config)
    datasets = {}
    if "" in prefixes:
        try:
            datasets[""] = music.load_polyphonic(config.data_path)
        except ValueError as e:
            raise common.ConfigError(f"config.data_path: {e}") from e
    if "chorales_" in prefixes:
        datasets["chorales_"] = music.load_bach_chorales(config.chorales_max_pieces or None)
    return datasets


# Each dataset's key is fold_in(seed, index): fixed per dataset, whichever others run.
DATASET_KEY_INDEX = {"": 0, "chorales_": 1}


def _skip_first(config) -> int:
    """Unscored leading frames per piece: 1 under the standard protocol, 0 with x_1 scored."""
    return 0 if config.score_first_frame else 1


def _scores(cell, skip_first, params, inputs, targets, lengths):
    """(NLL per step with the first `skip_first` frames unscored, with every frame scored)
    from one forward pass."""
    logits = polyphonic.logits(cell, params, inputs, lengths)
    return tuple(
        arch.sequence_bernoulli_nll(logits, targets, lengths, skip_first=k) for k in (skip_first, 0)
    )  # fmt: skip


def _train_cell(config, cell, arrays, key) -> polyphonic.FitResult:
    """`polyphonic.fit` of one cell with the config's settings."""
    return polyphonic.fit(
        key, cell, arrays, hidden_dim=config.hidden_dim, num_layers=config.num_layers,
        batch_size=config.batch_size, learning_rate=config.learning_rate,
        clip_norm=config.clip_norm, num_steps=config.num_steps, eval_every=config.eval_every,
        log_every=config.log_every, ema_decay=config.ema_decay,
        transpose_max=config.transpose_max, input_dropout=config.input_dropout,
        output_dropout=config.output_dropout, skip_first=_skip_first(config),
    )  # fmt: skip


def _plot_curves(curves: dict[str, list[dict]], marginal: float, label: str, workdir, name):
    """Each cell's validation NLL per time step against the training step (`label`: the data)."""
    from experiments import plotting

    fig, ax = plotting.figure(height=2.6)
    for cell, records in curves.items():
        ax.plot([r["step"] for r in records], [r["valid_nll"] for r in records],
                label=plotting.words(cell, plotting.RNN_CELLS))  # fmt: skip
    ax.axhline(marginal, color="gray", ls="--", label="independent pitches")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation negative log-likelihood\n(nats per time step)")
    plotting.set_title(ax, f"{plotting.words(label)}: validation loss")
    ax.legend()
    common.save_figure(fig, workdir, name)


def _plot_rolls(primer, sampled, truth, label: str, cell: str, workdir, name):
    """Primer | sampled continuation, beside primer | real continuation, for each piece
    (`label`: the data; `cell`: the sampling model)."""
    from experiments import plotting

    n = primer.shape[0]
    fig, axes = plotting.figure(n, 2, width=plotting.TEXT_WIDTH, height=1.7 * n + 0.6,
                                squeeze=False, sharex=True, sharey="row")  # fmt: skip
    for i in range(n):
        for j, (cont, kind) in enumerate(((sampled[i], "sampled"), (truth[i], "real"))):
            roll = np.concatenate([primer[i], cont])  # [T, 88]
            pitches = np.flatnonzero(np.concatenate([primer[i], sampled[i], truth[i]]).any(0))
            lo, hi = (pitches.min(), pitches.max()) if pitches.size else (0, 87)
            ax = axes[i, j]
            ax.imshow(roll[:, lo : hi + 1].T, origin="lower", aspect="auto", cmap="Greys",
                      extent=(0, len(roll), lo + music.LOWEST_PITCH - 0.5,
                              hi + music.LOWEST_PITCH + 0.5))  # fmt: skip
            ax.grid(False)
            ax.axvline(len(primer[i]), color="tab:red", lw=1)
            ax.set_title(f"test piece {i + 1}, {kind} continuation")
            if j == 0:
                ax.set_ylabel("MIDI pitch")
            if i == n - 1:
                ax.set_xlabel("time (quarter-note frames)")
    title = (f"{plotting.words(label)}: continuations sampled from the "
             f"{plotting.words(cell, plotting.RNN_CELLS)} (red line: end of the primer; "
             "black: the notes that sound)")  # fmt: skip
    plotting.suptitle(fig, title)
    common.save_figure(fig, workdir, name)


def _run_dataset(config, prefix, dataset, key, workdir) -> dict[str, float]:
    arrays = {s: music.pad_rolls(dataset.split(s)) for s in music.SPLITS}
    label = "standard file " + dataset.name if not prefix else "music21 chorales"
    metrics = {
        f"{prefix}num_{s}_pieces": float(len(dataset.split(s))) for s in music.SPLITS
    }  # fmt: skip
    metrics[f"{prefix}num_test_frames"] = float(dataset.num_frames("test"))
    skip = _skip_first(config)
    for suffix, skip_first in (("", skip), ("_all_frames", 0)):
        metrics[f"{prefix}test_nll_per_step_marginal{suffix}"] = polyphonic.marginal_nll_per_step(
            dataset.train, dataset.test, skip_first=skip_first
        )  # fmt: skip
    valid_marginal = polyphonic.marginal_nll_per_step(
        dataset.train, dataset.valid, skip_first=skip
    )  # fmt: skip
    curves, models = {}, {}
    for cell in config.cells:
        t0 = time.perf_counter()
        log.info("%s: training the %s (%d steps)", label, cell, config.num_steps)
        params, step, curves[cell], _ = _train_cell(
            config, cell, arrays, jax.random.fold_in(key, CELL_NAMES.index(cell))
        )
        models[cell] = params
        scores = jax.jit(functools.partial(_scores, cell, skip))
        for split in music.SPLITS:
            scored, all_frames = scores(params, *arrays[split])
            metrics[f"{prefix}{split}_nll_per_step_{cell}"] = float(scored)
            metrics[f"{prefix}{split}_nll_per_step_{cell}_all_frames"] = float(all_frames)
        metrics[f"{prefix}best_step_{cell}"] = float(step)
        metrics[f"{prefix}seconds_{cell}"] = time.perf_counter() - t0
        log.info("%s %s: valid %.3f, test %.3f nats/step (best step %d)", label, cell,
                 metrics[f"{prefix}valid_nll_per_step_{cell}"],
                 metrics[f"{prefix}test_nll_per_step_{cell}"], step)  # fmt: skip
    selected = common.select_music_cell(metrics, config.cells, prefix)
    _plot_curves(curves, valid_marginal, label, workdir, f"{prefix}valid_curves")
    # Generation: the first pieces of the test split long enough for primer + continuation.
    p, g = config.primer_frames, config.generate_frames
    pieces = [r for r in dataset.test if len(r) >= p + g][:3] or dataset.test[:1]
    g = min(g, len(pieces[0]) - p)  # shorter only when no test piece is long enough
    if g >= 1:
        primer = np.stack([r[:p] for r in pieces])
        truth = np.stack([r[p : p + g] for r in pieces])
        sample = jax.jit(
            lambda k, params, primer, n: polyphonic.continue_piece(k, selected, params, primer, n),
            static_argnums=3,
        )
        sampled = np.asarray(sample(named_key(key, "generate"), models[selected], primer, g))
        metrics[f"{prefix}generated_notes_per_frame"] = float(sampled.sum(-1).mean())
        metrics[f"{prefix}real_notes_per_frame"] = float(truth.sum(-1).mean())
        _plot_rolls(primer, sampled, truth, label, selected, workdir, f"{prefix}piano_roll")
    return metrics


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, float]:
    """Trains every cell on every dataset; writes metrics.json, config.json and figures."""
    validate_config(config)
    datasets = _load_datasets(config)
    for dataset in datasets.values():
        common.require_batch_fits(config.batch_size, len(dataset.train), f"{dataset.name} (train)")
    workdir = common.prepare_workdir(workdir, config)
    key = jax.random.PRNGKey(config.seed)
    metrics: dict[str, float] = {}
    for prefix, dataset in datasets.items():
        dataset_key = jax.random.fold_in(key, DATASET_KEY_INDEX[prefix])
        metrics.update(_run_dataset(config, prefix, dataset, dataset_key, workdir))
        common.write_json(workdir / "metrics_partial.json", metrics)  # what a cut run keeps
    return common.write_metrics(workdir, metrics)


if __name__ == "__main__":
    common.run_experiment(__name__, train_and_evaluate)
