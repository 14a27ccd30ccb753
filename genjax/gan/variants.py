"""The GAN variants of the mode-collapse benchmarks (2.4, 2.5) behind one training step.

A variant fixes the objective (minimax, non-saturating, WGAN with clipping,
WGAN-GP), the number of unrolled discriminator updates in G's loss, the
minibatch-discrimination kernels and the critic updates per generator update.
`make_variant_step` builds the `step(state) -> (state, metrics)` that draws its
own data from a sampler (the 2-D mixtures are infinite data), so that many
seeds are trained at once with `jax.vmap(step)` and many steps per call with
`lax.scan` (see `genjax.gan.multiseed`).

The optimizers are the caller's: the papers' choices are Adam(1e-3..1e-4,
b1=0.5) for GANs (with `eps_root > 0` when unrolling; see `genjax.gan.unrolled`),
RMSprop(5e-5) with weight clipping at 0.01 for WGAN (Arjovsky et al. 2017, alg. 1)
and Adam(1e-4, b1=0.5, b2=0.9) with lambda = 10 for WGAN-GP (Gulrajani et al.
2017, alg. 1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from genjax.gan.losses import (
    discriminator_loss,
    nonsaturating_generator_loss,
    saturating_generator_loss,
)
from genjax.gan.unrolled import Discriminate, Generate, unrolled_generator_loss
from genjax.gan.wgan import gradient_penalty, wgan_critic_loss, wgan_generator_loss
from genjax.train import TrainState
from genjax.typing import Array, Metrics, Params, PRNGKey

Sampler = Callable[[PRNGKey, int], Array]  # (key, n) -> n data points

OBJECTIVES = ("minimax", "nonsaturating", "wgan_clip", "wgan_gp")


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
        if self.unroll_steps and self.objective.startswith("wgan"):
            raise ValueError("unrolling is implemented for the GAN objectives, not WGAN")
        if self.minibatch_kernels < 0:
            raise ValueError(f"minibatch_kernels must be >= 0, got {self.minibatch_kernels}")
        if self.disc_steps < 1:
            raise ValueError(f"disc_steps must be >= 1, got {self.disc_steps}")

    @property
    def is_wgan(self) -> bool:
        return self.objective.startswith("wgan")


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


def get_variant(name: str) -> GANVariant:
    """The registered variant called `name` (a clear error for unknown names)."""
    if name not in VARIANTS:
        raise ValueError(f"unknown GAN variant {name!r}; known: {sorted(VARIANTS)}")
    return VARIANTS[name]


def make_variant_step(
    variant: GANVariant,
    *,
    generate: Generate,
    discriminate: Discriminate,
    gen_optimizer: optax.GradientTransformation,
    disc_optimizer: optax.GradientTransformation,
    sample_data: Sampler,
    noise_dim: int,
    batch_size: int,
    gp_weight: float = 10.0,
    use_scan: bool = False,
) -> Callable[[TrainState], tuple[TrainState, Metrics]]:
    """`step(state) -> (state, metrics)`: `disc_steps` D updates, then one G update.

    The state is `genjax.gan.init_gan_state`'s ({"gen", "disc"} params and
    optimizer states); step s draws everything from `fold_in(state.key, s)`.
    For WGAN-clip, give the critic's optimizer `weight_clipping` (chained last).
    For unrolled variants, G's loss is `unrolled_generator_loss` against D after
    `unroll_steps` simulated updates on fresh batches, differentiated through them;
    with the 'minimax' objective it is the GAN value V(D_K, G) on a fresh data
    batch (Metz et al. 2017), with 'nonsaturating' -log D_K(G(z)).
    """
    if noise_dim < 1 or batch_size < 1:
        raise ValueError(f"noise_dim and batch_size must be >= 1, got {noise_dim}, {batch_size}")
    if gp_weight < 0:
        raise ValueError(f"gp_weight must be >= 0, got {gp_weight}")
    k = variant.unroll_steps
    gen_objective = (
        saturating_generator_loss
        if variant.objective == "minimax"
        else nonsaturating_generator_loss
    )

    def disc_loss_fn(dp: Params, gp: Params, real: Array, noise: Array, key: PRNGKey) -> Array:
        fake = generate(gp, noise)
        real_scores, fake_scores = discriminate(dp, real), discriminate(dp, fake)
        if not variant.is_wgan:
            return discriminator_loss(real_scores, fake_scores)
        loss = wgan_critic_loss(real_scores, fake_scores)
        if variant.objective == "wgan_gp":
            loss = loss + gp_weight * gradient_penalty(
                lambda x: discriminate(dp, x), real, jax.lax.stop_gradient(fake), key
            )
        return loss

    def gen_loss_fn(gp: Params, dp: Params, disc_opt: optax.OptState, key: PRNGKey) -> Array:
        noise_key, real_key, unroll_key = jax.random.split(key, 3)
        noise = jax.random.normal(noise_key, (batch_size, noise_dim))
        if variant.is_wgan:
            return wgan_generator_loss(discriminate(dp, generate(gp, noise)))
        if k == 0:
            return gen_objective(discriminate(dp, generate(gp, noise)))
        value_form = variant.objective == "minimax"  # G's loss is V(D_K, G): one more batch
        real_batches = jax.vmap(lambda kk: sample_data(kk, batch_size))(
            jax.random.split(real_key, k + 1 if value_form else k)
        )
        unroll_noise = jax.random.normal(unroll_key, (k, batch_size, noise_dim))
        return unrolled_generator_loss(
            gp, dp, disc_opt, real_batches[:k], unroll_noise, noise,
            generate=generate, discriminate=discriminate, disc_optimizer=disc_optimizer,
            generator_loss=gen_objective, use_scan=use_scan,
            value_real=real_batches[k] if value_form else None,
        )  # fmt: skip

    def step(state: TrainState) -> tuple[TrainState, Metrics]:
        step_key = jax.random.fold_in(state.key, state.step)
        disc_key, gen_key = jax.random.split(step_key)
        gp, dp = state.params["gen"], state.params["disc"]
        gen_opt, disc_opt = state.opt_state["gen"], state.opt_state["disc"]

        def disc_update(i, carry):
            dp, disc_opt, _ = carry
            real_key, noise_key, pen_key = jax.random.split(jax.random.fold_in(disc_key, i), 3)
            real = sample_data(real_key, batch_size)
            noise = jax.random.normal(noise_key, (batch_size, noise_dim))
            loss, grads = jax.value_and_grad(disc_loss_fn)(dp, gp, real, noise, pen_key)
            updates, disc_opt = disc_optimizer.update(grads, disc_opt, dp)
            return optax.apply_updates(dp, updates), disc_opt, loss

        dp, disc_opt, d_loss = jax.lax.fori_loop(
            0, variant.disc_steps, disc_update, (dp, disc_opt, jnp.zeros(()))
        )
        g_loss, grads = jax.value_and_grad(gen_loss_fn)(gp, dp, disc_opt, gen_key)
        updates, gen_opt = gen_optimizer.update(grads, gen_opt, gp)
        gp = optax.apply_updates(gp, updates)
        metrics = {
            "loss": g_loss,  # what genjax.train's progress line shows
            "disc_loss": d_loss,
            "gen_loss": g_loss,
            "gen_grad_norm": optax.global_norm(grads),
        }
        new_state = TrainState(
            state.step + 1, {"gen": gp, "disc": dp}, {"gen": gen_opt, "disc": disc_opt}, state.key
        )
        return new_state, metrics

    return step
