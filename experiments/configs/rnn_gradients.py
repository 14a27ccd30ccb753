"""Claims 3.2, 3.3, 3.6: gradient norms vs lag for tanh RNNs and an LSTM; hand BPTT check.

    python -m experiments.rnn_gradients --workdir runs/rnn_gradients
    python -m experiments.rnn_gradients --workdir runs/rnn_gradients_quick \\
        --config=experiments/configs/rnn_gradients.py:quick
"""

from __future__ import annotations

import ml_collections

from experiments import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The config for profile `arg` ('quick' or 'full', default 'full')."""
    config, quick = common.new_config(arg)
    config.hidden_dim = 32
    config.input_dim = 8
    config.length = 100 if quick else 300  # T; lags 1..T
    config.rhos = (0.5, 0.9, 1.0, 1.1, 1.5)
    config.input_scale = 0.1  # small inputs keep tanh near its linear regime
    config.slope_lags = 30  # slope fitted over lags 1..slope_lags
    config.lstm_forget_bias = 3.0
    config.lstm_input_scale = 1.0
    config.ratio_lag = 50
    config.ratio_rho = 1.0  # the tanh RNN the LSTM is compared with
    config.product_dim = 32
    config.product_depth = 100
    config.product_rho = 1.0
    return config
