"""Polyphonic music (3.1's many-to-many and generation): next-frame NLL on Bach chorales.

    python -m experiments.music --workdir runs/music \\
        --config.data_path=/path/to/jsb_chorales_quarter.json
    python -m experiments.music --workdir runs/music_quick \\
        --config=experiments/configs/music.py:quick

Trains on the JSB-like set built from music21's Bach chorales (unless chorales=False); with
`data_path` (the standard JSB Chorales file, or any file of that format) also on
it, whose test split is the one the published numbers use. 'quick' (the main job's
profile, about a minute on 2 cores): the first 80 chorale files, small cells, a few
hundred steps. 'full': every chorale, 256 units, input/output dropout and
transposition, thousands of steps with the best step chosen on the valid split.
"""

from __future__ import annotations

import ml_collections

from experiments import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The config for profile `arg` ('quick' or 'full', default 'full')."""
    config, quick = common.new_config(arg)
    config.data_path = ""  # a standard polyphonic benchmark file (.json/.pkl); '' = none
    config.chorales = True  # also train on the JSB-like set built from music21's chorales
    config.chorales_max_pieces = 80 if quick else 0  # music21 chorale files parsed; 0 = all
    config.cells = ("tanh", "lstm", "gru")
    # Scored frames: False = x_2..x_T (the protocol of the code behind Bai et al. 2018's
    # numbers: it reads x_1..x_{T-1} and scores x_2..x_T); True also scores x_1, predicted
    # from the zero frame. Both are reported (..._all_frames is the latter).
    config.score_first_frame = False
    config.hidden_dim = 48 if quick else 256
    config.num_layers = 1
    config.input_dropout = 0.0 if quick else 0.2
    config.output_dropout = 0.0 if quick else 0.5
    config.transpose_max = 0 if quick else 4  # semitones, training pieces only
    config.batch_size = 8 if quick else 16
    config.learning_rate = 3e-3 if quick else 2e-3  # Adam (clipped), cosine decay to 5%
    config.clip_norm = 1.0
    # > 0: evaluate, select and report the moving average of the parameters
    # (genjax.train.param_ema) instead of the last iterate; 0 = off.
    config.ema_decay = 0.0
    # quick: 600 steps. Measured: at 300 the chorale LSTM/GRU are still improving and
    # whether their margin over independent pitches clears the criterion's -0.5 nats
    # depends on the seed; at 600 it clears it by about half a nat.
    config.num_steps = 600 if quick else 6000
    config.eval_every = 50 if quick else 100  # valid NLL; the best step's params are kept
    config.primer_frames = 16
    config.generate_frames = 48
    config.log_every = 50 if quick else 200
    return config
