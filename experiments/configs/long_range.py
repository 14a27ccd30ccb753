"""Claims 3.4-3.6 on long-range tasks: adding problem and copy task; tanh RNN vs LSTM vs GRU.

    python -m experiments.long_range --workdir runs/long_range
    python -m experiments.long_range --workdir runs/long_range_quick \\
        --config=experiments/configs/long_range.py:quick

The step counts in `experiments.long_range.EXTENDABLE` (adding_steps, sgd_steps,
copy_steps) may grow on a rerun into the same workdir: every group trains on from its
checkpoints (`--config.adding_steps=800` after the quick run above).

'quick' (the main job's profile, about a minute on 2 cores): the adding problem at
T = 50 only. 'full' (about two hours on 2 cores): adding at T in {50, 100} and the copy
task at T = 50, hidden 64, 3,000 steps per group. Bai et al. 2018's length, T = 600
(hidden 128), needs an accelerator; one process per cell, the 3.5 and 3.4 studies
skipped (tbptt_seeds = sgd_seeds = 0); `results/full/long_range_T600/` comes from
(6,000 steps, 2-5.5 min per cell on an H100, side by side):

    for cell in tanh lstm gru; do
      python -m experiments.long_range --workdir runs/long_range_T600/$cell \\
          --config.lengths='(600,)' --config.hidden_dim=128 --config.adding_steps=6000 \\
          --config.copy_lengths='()' --config.tbptt_seeds=0 --config.sgd_seeds=0 \\
          --config.cells="('$cell',)" &
    done; wait

3.5's echo-state diagnostic (`results/full/long_range_echo_state/`, 2 CPU cores): the
truncated runs beside the same setting with the recurrence frozen, the LSTM alone:

    python -m experiments.long_range --workdir runs/long_range_echo_state \\
        --config.cells='("lstm",)' --config.num_seeds=1 --config.readout_only_seeds=5 \\
        --config.sgd_seeds=0 --config.copy_lengths='()'
"""

from __future__ import annotations

import ml_collections

from experiments import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The config for profile `arg` ('quick' or 'full', default 'full')."""
    config, quick = common.new_config(arg)
    config.lengths = (50,) if quick else (50, 100)
    config.cells = ("tanh", "lstm", "gru")
    config.hidden_dim = 32 if quick else 64
    config.batch_size = 64
    config.num_seeds = 2 if quick else 5  # per (cell, clip setting); all runs vmapped together
    # Main comparison: Adam, with and without clipping by global norm.
    config.learning_rate = 1e-2 if quick else 2e-3
    config.clip_norm = 1.0
    config.adding_steps = 400 if quick else 3000
    # 3.5: markers more than K steps before the end; truncated (window K) vs full BPTT.
    config.tbptt_window = 10
    # quick: 3, so that the median survives one run that has not learnt yet at 400 steps
    # (with 2 the median is the mean of both runs, and one slow run spoils it).
    config.tbptt_seeds = 3 if quick else 5
    # 3.5's diagnostic, off in both profiles: the truncated runs' setting with the
    # recurrence frozen at initialisation and only the readout trained.
    config.readout_only_seeds = 0
    # Clipping study: plain SGD on the tanh RNN, where exploding gradients do damage.
    config.sgd_cell = "tanh"
    config.sgd_learning_rate = 0.5
    config.sgd_seeds = 8
    config.sgd_steps = 200 if quick else 2000
    # Copy task (full profile only).
    config.copy_lengths = () if quick else (50,)
    config.copy_steps = 3000
    config.copy_learning_rate = 1e-3
    config.divergence_factor = 2.0  # diverged: non-finite, or test loss > factor * baseline
    config.test_size = 1000
    config.log_every = 100
    return config
