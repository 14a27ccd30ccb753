"""Claims 2.1, 2.2, 2.3 and the theory half of 2.5: GAN losses, D*, JS and W1 on 1-D and 2-D toys.

    python -m experiments.gan_theory --workdir runs/gan_theory
    python -m experiments.gan_theory --workdir runs/gan_theory_quick \\
        --config=experiments/configs/gan_theory.py:quick
"""

from __future__ import annotations

import ml_collections

from experiments import common


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The config for profile `arg` ('quick' or 'full', default 'full')."""
    c, quick = common.new_config(arg)
    # 2.2: a 1-D Gaussian generator started far from the data, against a pre-trained D.
    c.data_mean, c.data_std = 2.0, 0.5
    c.gen_init_mean, c.gen_std = -2.0, 0.5  # G(z) = shift + 0.5 z, shift = -2 at the start
    c.disc_hidden = (32, 32)
    # D pre-trains until mean D(G(z)) <= the target, checked every `pretrain_check_every`
    # steps, at most `pretrain_steps` steps.
    c.pretrain_target_d_of_fake = 1e-3
    c.pretrain_check_every = 100
    c.pretrain_steps = 5000
    c.gan_steps = 600 if quick else 3000
    c.batch_size = 256
    c.gen_learning_rate = 1e-2  # Adam
    c.gen_sgd_learning_rate = 0.05  # SGD: the gradient's size is the step's size
    c.disc_learning_rate = 1e-3
    # 2.3: D trained by logistic regression on two known 1-D densities vs D*.
    # 5,000 in both profiles. Measured: at 1,500 steps the quick profile's max |D - D*|
    # is not reliably under the 0.05 criterion; at 5,000 it is, with room to spare.
    c.dstar_steps = 5000
    c.dstar_batch_size = 512
    c.dstar_learning_rate = 3e-3
    c.dstar_region_mass = 1e-2  # compare where p_data + p_g exceeds this (density)
    # 2.5: the parallel lines P = (0, U[0,1]), Q_theta = (theta, U[0,1]).
    c.num_thetas = 9 if quick else 21
    c.critic_hidden = (64, 64)
    c.critic_steps = 400 if quick else 2000
    c.critic_batch_size = 256
    c.critic_learning_rate = 1e-3
    c.line_points = 256  # points per line for the exact W1 by assignment
    c.log_every = 100 if quick else 500
    return c
