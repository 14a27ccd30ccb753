"""Claim 2.4 in Metz et al.'s own 2-D mixture setting (`experiments/configs/gan_mixture_metz.py`).

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
