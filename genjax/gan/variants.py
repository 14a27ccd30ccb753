"""The GAN variants of the mode-collapse benchmarks (2.4, 2.5): an objective plus options.

A variant is an objective (minimax, non-saturating, WGAN with clipping,
WGAN-GP) and its options: k unrolled D updates inside G's loss, the number of
minibatch-discrimination kernels in D and the D (critic) updates per G update.
`make_variant_step` hands them to the one GAN step, `genjax.gan.make_gan_train_step`.

The benchmarks' methods are presets (`VARIANTS`: `unrolled_k5` is the minimax
objective with k = 5, `minibatch_discrimination` the non-saturating one with 5
kernels). Other combinations have names that say their options
(`variant_name`): `unrolled_k3`, `unrolled_k3_nonsaturating`,
`gan_minimax_minibatch10`; `get_variant` reads both kinds, and
`GANVariant.with_options` turns a preset into another combination.
"""

from __future__ import annotations

import dataclasses
import re

from genjax.gan.training import OBJECTIVES, TrainStep, make_gan_train_step


@dataclasses.dataclass(frozen=True)
class GANVariant:
    """One method of the benchmark.

    Attributes:
      name: the variant's name in metrics and figures.
      objective: 'minimax' (G minimises log(1 - D(G(z)))), 'nonsaturating'
        (G maximises log D(G(z))), 'wgan_clip' or 'wgan_gp'.
      unroll_steps: k simulated D updates inside G's loss (0: the plain loss).
      minibatch_kernels: > 0 puts a minibatch-discrimination layer into D.
      disc_steps: D (critic) updates per G update.
    """

    name: str
    objective: str
    unroll_steps: int = 0
    minibatch_kernels: int = 0
    disc_steps: int = 1

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; known: {OBJECTIVES}")
        if self.unroll_steps < 0:
            raise ValueError(f"unroll_steps (k) must be >= 0, got {self.unroll_steps}")
        if self.unroll_steps and self.is_wgan:
            raise ValueError("unrolling is implemented for the GAN objectives, not WGAN")
        if self.minibatch_kernels < 0:
            raise ValueError(f"minibatch_kernels must be >= 0, got {self.minibatch_kernels}")
        if self.disc_steps < 1:
            raise ValueError(f"disc_steps must be >= 1, got {self.disc_steps}")

    @property
    def is_wgan(self) -> bool:
        return self.objective.startswith("wgan")

    def with_options(
        self, *, unroll_steps: int | None = None, minibatch_kernels: int | None = None
    ) -> GANVariant:
        """This variant with the options given (None: keep its own), renamed to say them.

        The options belong to the GAN objectives: a WGAN variant comes back unchanged.
        """
        if self.is_wgan:
            return self
        options = dataclasses.asdict(self)
        if unroll_steps is not None:
            options["unroll_steps"] = unroll_steps
        if minibatch_kernels is not None:
            options["minibatch_kernels"] = minibatch_kernels
        del options["name"]
        return GANVariant(variant_name(**options), **options)


VARIANTS: dict[str, GANVariant] = {
    v.name: v
    for v in (
        GANVariant("gan_minimax", "minimax"),
        GANVariant("gan_nonsaturating", "nonsaturating"),
        # Metz et al.'s objective: G minimises the GAN value after k updates of D.
        GANVariant("unrolled_k5", "minimax", unroll_steps=5),
        GANVariant("unrolled_k10", "minimax", unroll_steps=10),
        # The ablation: -log D_K(G(z)) alone (no real-data term through the unroll).
        GANVariant("unrolled_k5_nonsaturating", "nonsaturating", unroll_steps=5),
        GANVariant("minibatch_discrimination", "nonsaturating", minibatch_kernels=5),
        GANVariant("wgan_clip", "wgan_clip", disc_steps=5),
        GANVariant("wgan_gp", "wgan_gp", disc_steps=5),
    )
}

_GAN_NAME = re.compile(
    r"(?:gan_(?P<plain>minimax|nonsaturating)|unrolled_k(?P<k>\d+)(?P<ns>_nonsaturating)?)"
    r"(?:_minibatch(?P<mbd>\d+))?(?:_d(?P<d>\d+))?"
)


def variant_name(
    objective: str, unroll_steps: int = 0, minibatch_kernels: int = 0, disc_steps: int = 1
) -> str:
    """The name of a combination: a preset's where one matches, else one that says the options.

    `gan_{objective}` (k = 0) or `unrolled_k{k}` (minimax) / `unrolled_k{k}_nonsaturating`
    (WGAN: the objective), then `_minibatch{kernels}` and `_d{disc_steps}` where they are
    not 0 and 1.
    """
    options = (objective, unroll_steps, minibatch_kernels, disc_steps)
    for v in VARIANTS.values():
        if (v.objective, v.unroll_steps, v.minibatch_kernels, v.disc_steps) == options:
            return v.name
    name = objective if objective.startswith("wgan") else f"gan_{objective}"
    if unroll_steps:
        name = f"unrolled_k{unroll_steps}" + ("" if objective == "minimax" else f"_{objective}")
    if minibatch_kernels:
        name += f"_minibatch{minibatch_kernels}"
    if disc_steps != 1:
        name += f"_d{disc_steps}"
    return name


def get_variant(name: str) -> GANVariant:
    """The variant called `name`: a preset (`VARIANTS`) or a name `variant_name` writes."""
    if name in VARIANTS:
        return VARIANTS[name]
    match = _GAN_NAME.fullmatch(name)
    if match is None:
        raise ValueError(
            f"unknown GAN variant {name!r}; known: {sorted(VARIANTS)}, or unrolled_k<K>, "
            "unrolled_k<K>_nonsaturating, gan_<objective>, with _minibatch<B> / _d<N>"
        )
    objective = match["plain"] or ("nonsaturating" if match["ns"] else "minimax")
    options = dict(
        objective=objective,
        unroll_steps=int(match["k"] or 0),
        minibatch_kernels=int(match["mbd"] or 0),
        disc_steps=int(match["d"] or 1),
    )
    return GANVariant(variant_name(**options), **options)


def make_variant_step(variant: GANVariant, **kwargs) -> TrainStep:
    """`make_gan_train_step` with the variant's objective, unroll steps and D steps.

    Args:
      variant: the method; its `minibatch_kernels` belong to the discriminator
        the caller builds (`genjax.gan.Discriminator(minibatch_kernels=...)`).
      **kwargs: the rest of `make_gan_train_step`'s arguments (networks,
        optimizers, `sample_data`, `batch_size`, `noise_dim`, `gp_weight`, ...).
    """
    return make_gan_train_step(
        objective=variant.objective,
        unroll_steps=variant.unroll_steps,
        disc_steps=variant.disc_steps,
        **kwargs,
    )
