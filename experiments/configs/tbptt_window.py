"""Claim 3.5: a sweep of the truncation window K at a fixed lag on the adding problem.

    python -m experiments.tbptt_window --workdir runs/tbptt_window
    python -m experiments.tbptt_window --workdir runs/tbptt_window_quick \\
        --config=experiments/configs/tbptt_window.py:quick

`num_steps` may grow on a rerun into the same workdir (every run trains on from its
checkpoint). Both profiles: T = 40, both markers in the first 10 steps, 30-39 steps
before the last step; windows 5, 10, 20 (shorter than every lag: 6, 3 and 1.5 windows
at least) and 40 = T (full BPTT). 'quick' (the main job's profile): hidden 32, 3 seeds,
400 steps. 'full': hidden 64, 6 seeds, 2,000 steps (about 40 minutes on 2 shared CPU
cores).
"""

from __future__ import annotations

import ml_collections

from experiments import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The config for profile `arg` ('quick' or 'full', default 'full')."""
    config, quick = common.new_config(arg)
    config.length = 40  # T
    config.min_lag = 30  # every marker lies 30-39 steps before the last step
    config.max_lag = 39
    # Chunks start at step 0; each K < T divides T, so the loss at the last step sees
    # exactly its last K steps. 5, 10, 20 < 30 <= every lag; 40 = T: full BPTT.
    config.windows = (5, 10, 20, 40)
    config.hidden_dim = 32 if quick else 64
    # sigma(3) = 0.95: the cell keeps a value over tens of steps from the start, so full
    # BPTT leaves the loss plateau within the budget; every window starts from it.
    config.forget_bias = 3.0
    config.batch_size = 64
    config.num_seeds = 3 if quick else 6  # every window trains from the same seeds' inits/data
    config.learning_rate = 1e-2 if quick else 3e-3
    config.clip_norm = 1.0
    config.num_steps = 400 if quick else 2000
    config.eval_every = 50 if quick else 100  # test MSE of every run: the learning curves
    config.test_size = 500 if quick else 1000
    config.log_every = 50 if quick else 100
    return config
