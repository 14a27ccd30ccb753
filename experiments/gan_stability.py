"""Claim 2.5's stability sweep with 10 seeds per cell (`experiments/configs/gan_stability.py`).

The training and scoring are `experiments.gan_mixture`'s; this module only names
the experiment, so that its config, outputs and judging stand apart from the
CPU-budget setting of `gan_mixture`.
"""

from __future__ import annotations

from experiments import common
from experiments.gan_mixture import train_and_evaluate

__all__ = ["train_and_evaluate"]

if __name__ == "__main__":
    common.run_experiment(__name__, train_and_evaluate)
