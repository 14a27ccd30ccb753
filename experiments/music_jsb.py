"""Claim 3.1's target on the standard JSB Chorales split: `experiments.music` with the
best recurrent model chosen on the valid split (a 2-layer LSTM, 12,000 steps).

    python -m experiments.music_jsb --workdir runs/music_jsb

The config (experiments/configs/music_jsb.py) says on what grounds the model is chosen. The
metrics are music's: test_nll_per_step_selected (nats per time step, x_2..x_T
scored), ..._all_frames (x_1 scored too), the valid and train NLL, the independent
pitch baseline, valid_curves.png and piano_roll.png.
"""

from __future__ import annotations

from pathlib import Path

import ml_collections

from experiments import common


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, float]:
    """`experiments.music`'s run on this experiment's config."""
    return common.experiment_fn("music")(config, workdir)


if __name__ == "__main__":
    common.run_experiment(__name__, train_and_evaluate)
