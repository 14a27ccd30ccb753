"""Claim 3.1's JSB target: the grid that experiments.music_jsb selects from on the valid split.

    python -m experiments.music_jsb --workdir runs/music_jsb \\
        --config.data_path=/path/to/jsb_chorales_quarter.json
    python -m experiments.music_jsb --workdir runs/music_jsb_quick \\
        --config=experiments/configs/music_jsb.py:quick

Every (cell, hidden size, learning rate) of the grid is a candidate: `num_layers` layers,
Adam on the clipped gradient with a cosine decay, input and output dropout, random
transposition of the training pieces, `selection_steps` steps with early stopping
(`patience`), its best valid step kept. The lowest valid NLL chooses the candidate, which
is then trained again for `final_steps` steps with early stopping on the valid NLL (at
`num_seeds` seeds); the test split is read after that, once. The grid is fixed here,
before any run: changing it is a new experiment, not a retry.

'full': tanh RNN, GRU and LSTM at 128 and 256 units, 2 layers, one learning rate, the
training settings of `experiments.music`'s full profile; 1,500 steps per candidate, 7,000
for the chosen one. From the step times of each candidate on 2 CPU cores, the whole run
(selection, final run, test) takes about 75 min when the cores are free, and several
times that when other jobs share them. 'quick': the same code path on a tiny grid (two
cells, two widths, a few dozen steps): the protocol, not the number.

The JSB file (the standard train/valid/test split of Boulanger-Lewandowski et al.
2012 as JSON lists of chords, MIDI pitches) is the user's: `data_path` defaults to
the environment variable GENJAX_JSB_PATH, or pass --config.data_path.
"""

from __future__ import annotations

import os

import ml_collections

from experiments import common

JSB_PATH_VARIABLE = "GENJAX_JSB_PATH"
# The main job runs this experiment in the full profile only: a clean checkout (CI)
# has no JSB file, and claim 3.1's criterion on it is full-profile only.
MAIN_JOB_PROFILES = ("full",)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The config for profile `arg` ('quick' or 'full', default 'full')."""
    config, quick = common.new_config(arg)
    config.data_path = os.environ.get(JSB_PATH_VARIABLE, "")
    # The grid: every (cell, hidden_dim, learning_rate) is a candidate.
    config.cells = ("tanh", "lstm") if quick else ("tanh", "gru", "lstm")
    config.hidden_dims = (16, 32) if quick else (128, 256)
    config.learning_rates = (3e-3,) if quick else (2e-3,)
    config.num_layers = 1 if quick else 2
    # Each candidate trains up to `selection_steps` steps (the length of its cosine decay);
    # the chosen one trains again from the start for `final_steps` (0: its selection run
    # is the final model). Either stops once `patience` steps pass without a lower valid
    # NLL (0: never).
    config.selection_steps = 60 if quick else 1500
    config.final_steps = 120 if quick else 7000
    config.patience = 0 if quick else 1500
    config.eval_every = 20 if quick else 100  # valid NLL; the best step's params are kept
    config.num_seeds = 1  # final runs of the chosen candidate, at seed, seed + 1, ...
    # Scored frames: False = x_2..x_T (the protocol of the code behind Bai et al. 2018's
    # numbers); True also scores x_1, predicted from the zero frame. Both are reported.
    config.score_first_frame = False
    config.input_dropout = 0.0 if quick else 0.2
    config.output_dropout = 0.0 if quick else 0.5
    config.transpose_max = 0 if quick else 4  # semitones, training pieces only
    config.batch_size = 8 if quick else 16
    config.clip_norm = 1.0
    config.log_every = 20 if quick else 100
    return config
