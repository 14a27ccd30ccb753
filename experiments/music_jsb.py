"""Claim 3.1's JSB target, pre-registered: the model is chosen on the valid split alone and the
test split is read once, at the end, for the chosen model only.

    python -m experiments.music_jsb --workdir runs/music_jsb \\
        --config.data_path=/path/to/jsb_chorales_quarter.json

The protocol, in the order the code runs it (the grid is in experiments/configs/music_jsb.py):

1. `select` (given the train and valid splits, nothing else): every candidate of the grid,
   a cell x a hidden size x a learning rate (`num_layers` layers each), is trained by
   `polyphonic.fit` for `selection_steps` steps with early stopping (`patience`; the best
   valid step's parameters are kept), and the candidate with the lowest valid NLL is
   chosen. selection.json (every candidate's valid NLL, best step, steps trained,
   parameter count and seconds, and the chosen one) is written then.
2. `train_final` (train and valid only): the chosen candidate is trained again from the
   start for `final_steps` steps, with early stopping on the valid NLL, which so chooses
   the step count; at the seeds seed, ..., seed + num_seeds - 1. With final_steps = 0 its
   selection run is the final model.
3. `evaluate_on_test`: the test split is loaded from the file now, one split of it
   (`genjax.data.music.load_polyphonic_split`), and only the final runs are scored.

The data file is read one split at a time: `select` and `train_final` never hold the test
split, so no test number can enter a choice (tests/test_music_jsb.py runs them on a file
whose test split cannot even be read and gets the same table). The model is
`experiments.music`'s: 88 independent Bernoulli outputs per frame (no joint model of the
notes of a frame), NLL in nats per time step over x_2..x_T (`..._all_frames`: x_1 scored
too). config.json records the data file's name, not its path.

Metrics: {test,valid,train}_nll_per_step_selected and ..._all_frames (the final run at the
seed), best_step_selected, steps_trained_selected, num_params_selected,
selected_{candidate_index,cell_index,hidden_dim,learning_rate}, num_candidates,
valid_nll_per_step_candidate{i} (the selection table's column, in the grid's order),
{test,valid}_nll_per_step_seed{k} and ..._seeds_{mean,max} (k < num_seeds),
test_nll_per_step_marginal (independent pitches at their training frequencies), dataset
sizes, seconds_selection, seconds.
Figures: valid_curves.png (every candidate's valid NLL against the step, and the final run).
"""

from __future__ import annotations

import functools
import itertools
import logging
import time
from pathlib import Path
from typing import NamedTuple

import jax
import ml_collections
import numpy as np

from experiments import common
from genjax.data import music
from genjax.nn import count_params
from genjax.random_keys import named_key
from genjax.rnn import architectures as arch
from genjax.rnn import polyphonic
from genjax.rnn.cells import CELL_NAMES

log = logging.getLogger("genjax")

SELECTION_FILE = "selection.json"
SELECTION_SPLITS = ("train", "valid")  # all that `select` and `train_final` are given


class Candidate(NamedTuple):
    """One point of the grid."""

    cell: str
    hidden_dim: int
    learning_rate: float

    @property
    def name(self) -> str:
        return f"{self.cell}_{self.hidden_dim}_lr{self.learning_rate:g}"


class Trained(NamedTuple):
    """A trained candidate: its parameters at the best valid step and its selection-table row."""

    params: dict
    row: dict


def candidates(config: ml_collections.ConfigDict) -> list[Candidate]:
    """The grid, in a fixed order: cells, then hidden sizes, then learning rates."""
    return [Candidate(c, int(h), float(lr)) for c, h, lr in itertools.product(
        config.cells, config.hidden_dims, config.learning_rates)]  # fmt: skip


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises `common.ConfigError` naming the first field that cannot work."""
    common.require_positive(
        config, "num_layers", "batch_size", "clip_norm", "selection_steps", "eval_every",
        "num_seeds", "log_every",
    )  # fmt: skip
    if not config.cells or any(c not in CELL_NAMES for c in config.cells):
        raise common.ConfigError(f"config.cells must be a non-empty subset of {CELL_NAMES}")
    for name in ("hidden_dims", "learning_rates"):
        values = tuple(config[name])
        if not values or any(isinstance(v, bool) or v <= 0 for v in values):
            raise common.ConfigError(f"config.{name} must be non-empty and positive, got {values}")
        if len(set(values)) != len(values):
            raise common.ConfigError(f"config.{name} repeats a value: {values}")
    for name in ("patience", "final_steps"):
        if not isinstance(config[name], int) or config[name] < 0:
            raise common.ConfigError(f"config.{name} must be an integer >= 0, got {config[name]}")
    for name in ("input_dropout", "output_dropout"):
        if not 0.0 <= config[name] < 1.0:
            raise common.ConfigError(f"config.{name} must be in [0, 1), got {config[name]}")
    if not isinstance(config.transpose_max, int) or not 0 <= config.transpose_max <= 12:
        raise common.ConfigError(
            f"config.transpose_max must be an integer in 0..12, got {config.transpose_max}"
        )
    if not config.data_path:
        raise common.ConfigError(
            "config.data_path is empty: pass --config.data_path or set GENJAX_JSB_PATH "
            "to the standard JSB Chorales file"
        )
    if not Path(config.data_path).expanduser().is_file():
        raise common.ConfigError(f"config.data_path {config.data_path!r} is not a file")


def load_split(config: ml_collections.ConfigDict, split: str) -> list[np.ndarray]:
    """One split of the data file; a malformed split is a ConfigError naming the field."""
    try:
        return music.load_polyphonic_split(config.data_path, split)
    except ValueError as e:
        raise common.ConfigError(f"config.data_path: {e}") from e


def _skip_first(config) -> int:
    """Unscored leading frames per piece: 1 under the standard protocol, 0 with x_1 scored."""
    return 0 if config.score_first_frame else 1


@functools.partial(jax.jit, static_argnums=(0, 1))
def _scores(cell, skip_first, params, inputs, targets, lengths):
    """(NLL per step with the first `skip_first` frames unscored, with every frame scored)."""
    logits = polyphonic.logits(cell, params, inputs, lengths)
    return tuple(
        arch.sequence_bernoulli_nll(logits, targets, lengths, skip_first=k) for k in (skip_first, 0)
    )  # fmt: skip


def _train(config, candidate: Candidate, arrays, key, num_steps: int) -> Trained:
    """`polyphonic.fit` of one candidate for up to `num_steps` steps (its cosine decay's
    length) with early stopping; its row of the selection table."""
    t0 = time.perf_counter()
    log.info("candidate %s: up to %d steps", candidate.name, num_steps)
    fit = polyphonic.fit(
        key, candidate.cell, arrays, hidden_dim=candidate.hidden_dim,
        num_layers=config.num_layers, batch_size=config.batch_size,
        learning_rate=candidate.learning_rate, clip_norm=config.clip_norm,
        num_steps=num_steps, eval_every=config.eval_every, log_every=config.log_every,
        transpose_max=config.transpose_max, input_dropout=config.input_dropout,
        output_dropout=config.output_dropout, skip_first=_skip_first(config),
        patience=config.patience,
    )  # fmt: skip
    row = {**candidate._asdict(), "num_layers": config.num_layers,
           "valid_nll": min(r["valid_nll"] for r in fit.evals), "best_step": fit.best_step,
           "steps_trained": max(r["step"] for r in fit.evals),
           "num_params": count_params(fit.params), "seconds": time.perf_counter() - t0,
           "curve": [[r["step"], r["valid_nll"]] for r in fit.evals]}  # fmt: skip
    log.info("candidate %s: valid %.3f nats/step (best step %d of %d)", candidate.name,
             row["valid_nll"], row["best_step"], row["steps_trained"])  # fmt: skip
    return Trained(fit.params, row)


def select(config, arrays, key) -> tuple[int, list[Trained]]:
    """(the chosen candidate's index, every candidate trained): the lowest valid NLL wins.

    Args:
      arrays: {'train', 'valid'} -> (inputs, targets, lengths): the only data it sees.
      key: the seed's key; each candidate's key is named after it, so a candidate trains
        the same whichever others are in the grid.
    """
    if set(arrays) != set(SELECTION_SPLITS):
        raise ValueError(f"select takes the splits {SELECTION_SPLITS}, got {sorted(arrays)}")
    trained = [
        _train(config, c, arrays, named_key(key, c.name), config.selection_steps)
        for c in candidates(config)
    ]
    chosen = min(range(len(trained)), key=lambda i: trained[i].row["valid_nll"])
    return chosen, trained


def train_final(config, candidate: Candidate, arrays, selected: Trained) -> list[Trained]:
    """The chosen candidate's final runs, at seeds seed, ..., seed + num_seeds - 1 (train and
    valid only): trained again from the start for `final_steps` (its selection run's key at
    its seed), or with `final_steps = 0` the selection run itself and further seeds as long."""
    steps = config.final_steps or config.selection_steps
    runs = [] if config.final_steps else [selected]
    for k in range(len(runs), config.num_seeds):
        key = named_key(jax.random.PRNGKey(config.seed + k), candidate.name)
        runs.append(_train(config, candidate, arrays, key, steps))
    return runs


def evaluate_on_test(config, candidate: Candidate, runs: list[Trained], train_rolls):
    """Loads the test split, now, and scores the chosen candidate's runs on it; the test metrics."""
    test = load_split(config, "test")
    arrays = music.pad_rolls(test)
    skip = _skip_first(config)
    metrics = {"num_test_pieces": float(len(test)), "num_test_frames": float(sum(map(len, test)))}
    for suffix, skip_first in (("", skip), ("_all_frames", 0)):
        metrics[f"test_nll_per_step_marginal{suffix}"] = polyphonic.marginal_nll_per_step(
            train_rolls, test, skip_first=skip_first
        )  # fmt: skip
    for k, run in enumerate(runs):
        scored, all_frames = _scores(candidate.cell, skip, run.params, *arrays)
        metrics[f"test_nll_per_step_seed{k}"] = float(scored)
        metrics[f"valid_nll_per_step_seed{k}"] = run.row["valid_nll"]
        if k == 0:  # the selected run
            metrics["test_nll_per_step_selected"] = float(scored)
            metrics["test_nll_per_step_selected_all_frames"] = float(all_frames)
    for split in ("test", "valid"):
        values = [metrics[f"{split}_nll_per_step_seed{k}"] for k in range(len(runs))]
        metrics[f"{split}_nll_per_step_seeds_mean"] = float(np.mean(values))
        metrics[f"{split}_nll_per_step_seeds_max"] = float(np.max(values))
    return metrics


def _selection_metrics(chosen: int, trained: list[Trained]) -> dict[str, float]:
    """The grid's outcome: which candidate, and every candidate's valid NLL."""
    row = trained[chosen].row
    return {
        "num_candidates": float(len(trained)),
        "selected_candidate_index": float(chosen),
        "selected_cell_index": float(CELL_NAMES.index(row["cell"])),
        "selected_hidden_dim": float(row["hidden_dim"]),
        "selected_learning_rate": row["learning_rate"],
        **{f"valid_nll_per_step_candidate{i}": t.row["valid_nll"] for i, t in enumerate(trained)},
    }


def _final_metrics(config, final: Trained, arrays) -> dict[str, float]:
    """The chosen model's (its final run at the seed) train and valid scores, step and size."""
    metrics = {
        "best_step_selected": float(final.row["best_step"]),
        "steps_trained_selected": float(final.row["steps_trained"]),
        "num_params_selected": float(final.row["num_params"]),
    }
    for split in SELECTION_SPLITS:
        scored, all_frames = _scores(final.row["cell"], _skip_first(config), final.params,
                                     *arrays[split])  # fmt: skip
        metrics[f"{split}_nll_per_step_selected"] = float(scored)
        metrics[f"{split}_nll_per_step_selected_all_frames"] = float(all_frames)
    return metrics


def _plot_curves(trained: list[Trained], chosen: int, final: Trained, workdir) -> None:
    """Every candidate's valid NLL against the training step, the chosen one drawn thick, and
    the chosen model's final run dashed."""
    from experiments import plotting

    fig, ax = plotting.figure(width=plotting.TEXT_WIDTH, height=3.2)
    lasts = []
    for i, t in enumerate(trained):
        steps, nll = zip(*t.row["curve"], strict=True)
        lasts.append(nll[-1])
        label = (f"{plotting.words(t.row['cell'], plotting.RNN_CELLS)}, {t.row['hidden_dim']} "
                 f"units, rate {t.row['learning_rate']:g}")  # fmt: skip
        ax.plot(steps, nll, lw=2.2 if i == chosen else 0.9,
                label=label + (" (chosen)" if i == chosen else ""))  # fmt: skip
    if final is not trained[chosen]:
        steps, nll = zip(*final.row["curve"], strict=True)
        lasts.append(min(nll))
        ax.plot(steps, nll, "k--", lw=1.2, label="the chosen candidate's final run")
    ax.set_ylim(min(lasts) - 0.3, max(lasts) + 1.5)  # the early steps' NLL is far higher
    ax.set_xlabel("training step")
    ax.set_ylabel("validation negative log-likelihood\n(nats per time step)")
    plotting.set_title(ax, "JSB Chorales: the candidates' validation loss")
    ax.legend(fontsize="small", loc="upper right")
    common.save_figure(fig, workdir, "valid_curves")


def _recorded_config(config) -> ml_collections.ConfigDict:
    """The config as config.json records it: the data file's name instead of its path."""
    recorded = ml_collections.ConfigDict(config.to_dict())
    recorded.data_path = Path(config.data_path).name
    return recorded


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, float]:
    """Selection on train/valid, then the test split, once; writes selection.json, metrics.json."""
    t0 = time.perf_counter()
    validate_config(config)
    rolls = {split: load_split(config, split) for split in SELECTION_SPLITS}
    common.require_batch_fits(config.batch_size, len(rolls["train"]), "the JSB train split")
    workdir = common.prepare_workdir(workdir, _recorded_config(config))
    arrays = {split: music.pad_rolls(r) for split, r in rolls.items()}
    chosen, trained = select(config, arrays, jax.random.PRNGKey(config.seed))
    winner = candidates(config)[chosen]
    selection = {"criterion": "lowest valid NLL per step", "chosen": chosen,
                 "candidates": [t.row for t in trained]}  # fmt: skip
    common.write_json(workdir / SELECTION_FILE, selection)  # before the test split is read
    metrics = _selection_metrics(chosen, trained)
    metrics["seconds_selection"] = time.perf_counter() - t0
    runs = train_final(config, winner, arrays, trained[chosen])
    selection["final"] = [t.row for t in runs]  # at seed, seed + 1, ...
    common.write_json(workdir / SELECTION_FILE, selection)
    _plot_curves(trained, chosen, runs[0], workdir)
    metrics.update(_final_metrics(config, runs[0], arrays))
    metrics.update({f"num_{s}_pieces": float(len(r)) for s, r in rolls.items()})
    metrics.update(evaluate_on_test(config, winner, runs, rolls["train"]))
    metrics["seconds"] = time.perf_counter() - t0
    return common.write_metrics(workdir, metrics)


if __name__ == "__main__":
    common.run_experiment(__name__, train_and_evaluate)
