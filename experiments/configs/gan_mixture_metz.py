"""Claim 2.4 in its paper's setting: Metz et al.'s 2-D mixture experiment.

    python -m experiments.gan_mixture_metz --workdir runs/gan_mixture_metz
    python -m experiments.gan_mixture_metz --workdir runs/metz_ring_k10 \\
        --config.datasets="('ring',)" --config.variants="('unrolled_k10',)"

The experiment is `experiments.gan_mixture` under this config. Each value of
the full profile is read from the unrolled-GAN reference notebook (Metz, Poole,
Pfau and Sohl-Dickstein, "Unrolled Generative Adversarial Networks", ICLR 2017;
github.com/poolio/unrolled_gan, "Unrolled GAN demo.ipynb", its `params` dict
and network cells):

| field | value | notebook |
|---|---|---|
| batch_size | 512 | `batch_size=512` |
| noise_dim | 256 | `z_dim=256`, standard normal noise |
| gen_hidden | (128, 128) | `generator(n_hidden=128, n_layer=2)` |
| disc_hidden | (128, 128) | `discriminator(n_hidden=128, n_layer=2)` |
| activation | tanh | `activation_fn=tf.nn.tanh` in both |
| weight_init | orthogonal, gain 1.4 | `tf.orthogonal_initializer(gain=1.4)` |
| gen_learning_rate | 1e-3 | `gen_learning_rate=1e-3` |
| disc_learning_rate | 1e-4 | `disc_learning_rate=1e-4` |
| adam_beta1, adam_eps | 0.5, 1e-8 | `beta1=0.5`, `epsilon=1e-8` (beta2: Adam's 0.999) |
| num_steps | 25,000 | `max_iter=25000` |
| unroll_steps | 5 (and 10) | `unrolling_steps=5`; the paper also reports 10 |
| snapshot_every | 5,000 | `viz_every=5000` |

The unrolled generator ascends D's loss after k simulated Adam updates of D (the
minimax objective); D itself trains on its plain loss. The notebook builds one graph
on one data batch and one noise batch per step and runs both players' training ops
in one graph run: both gradients at the step's starting parameters
(`gan_update='simultaneous'`), and G's loss and every simulated D update on D's own
batch (`gen_batch='shared'`). This config does the same; genjax's defaults
(`alternating`, `fresh`) remain a flag away. The notebook's ring has radius 1
and std 0.01, as `genjax.data.mixtures.ring_modes` (its `linspace` over
[0, 2 pi] repeats the first mode; here the 8 modes are distinct).
Minibatch discrimination uses Salimans et al.'s (2016) 100 kernels of dimension 5
(github.com/openai/improved-gan, mnist_svhn_cifar10: `MinibatchLayer(num_kernels=100)`,
whose `dim_per_kernel` defaults to 5): the variant `gan_nonsaturating_minibatch100`.
Every variant trains 10 seeds, on the ring and on the grid.

Cost: about 4x the batch and 2.5x the steps of `gan_mixture`'s full profile, so
on 2 CPU cores roughly 10 hours for unrolled k = 10 per mixture; on one GPU,
with the seeds vmapped, much less. The main job runs it in the full profile
only. 'quick' is a tiny smoke version (tests).
"""

from __future__ import annotations

import ml_collections

from experiments import common
from experiments.configs import gan_mixture

MAIN_JOB_PROFILES = ("full",)
METZ_VARIANTS = (
    "gan_minimax", "gan_nonsaturating", "unrolled_k5", "unrolled_k10",
    "gan_nonsaturating_minibatch100",
)  # fmt: skip


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """The config for profile `arg` ('quick' or 'full', default 'full')."""
    config = gan_mixture.get_config(arg)
    quick = common.parse_profile(arg) == "quick"
    config.datasets = ("ring",) if quick else ("ring", "grid")
    config.variants = ("gan_minimax", "unrolled_k5") if quick else METZ_VARIANTS
    config.num_seeds = 2 if quick else 10
    config.num_steps = 40 if quick else 25_000
    config.batch_size = 64 if quick else 512
    config.noise_dim = 16 if quick else 256
    config.gen_hidden = (16, 16) if quick else (128, 128)
    config.disc_hidden = (16, 16) if quick else (128, 128)
    config.activation = "tanh"
    config.weight_init = "orthogonal"
    config.weight_init_gain = 1.4
    config.gen_learning_rate = 1e-3
    config.disc_learning_rate = 1e-4
    config.adam_beta1 = 0.5
    config.adam_beta2 = 0.999
    config.adam_eps = 1e-8
    config.gan_update = "simultaneous"
    config.gen_batch = "shared"
    config.minibatch_kernels = None  # each variant's own (the name says 100 kernels)
    config.minibatch_kernel_dim = 5
    config.snapshot_every = 20 if quick else 5_000
    config.log_every = 20 if quick else 500
    config.eval_samples = 500 if quick else 2500
    config.w1_samples = 100 if quick else 1000
    config.stability_sweep = False
    return config
