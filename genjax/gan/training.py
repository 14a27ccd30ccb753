"""GAN training steps with the `train_step(state, batch) -> (state, metrics)` contract.

The state's params and optimizer state are dicts `{"gen": ..., "disc": ...}`;
each step draws its noise from `fold_in(state.key, state.step)`, updates D
(`disc_steps` times on the same real batch) and then G once.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from genjax.gan.losses import discriminator_loss, nonsaturating_generator_loss
from genjax.gan.unrolled import Discriminate, Generate
from genjax.train import TrainState
from genjax.train.state import update_norms
from genjax.typing import Array, Metrics, Params, PRNGKey

TrainStep = Callable[[TrainState, Array], tuple[TrainState, Metrics]]


def init_gan_state(
    gen_params: Params,
    disc_params: Params,
    gen_optimizer: optax.GradientTransformation,
    disc_optimizer: optax.GradientTransformation,
    key: PRNGKey,
) -> TrainState:
    """A `TrainState` holding both players: params and opt_state are `{"gen", "disc"}` dicts."""
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params={"gen": gen_params, "disc": disc_params},
        opt_state={"gen": gen_optimizer.init(gen_params), "disc": disc_optimizer.init(disc_params)},
        key=key,
    )


def make_gan_train_step(
    *,
    generate: Generate,
    discriminate: Discriminate,
    gen_optimizer: optax.GradientTransformation,
    disc_optimizer: optax.GradientTransformation,
    noise_dim: int,
    generator_loss: Callable[[Array], Array] = nonsaturating_generator_loss,
    disc_steps: int = 1,
    train_generator: bool = True,
) -> TrainStep:
    """The alternating GAN step: `disc_steps` D updates on `discriminator_loss`, then one G update.

    Args:
      generate: `(gen_params, noise [B, noise_dim]) -> samples [B, ...]`.
      discriminate: `(disc_params, x) -> logits [B]`.
      gen_optimizer, disc_optimizer: optax transformations of each player.
      noise_dim: the generator's input size; noise ~ N(0, I).
      generator_loss: `saturating_generator_loss` or `nonsaturating_generator_loss` (2.2).
      disc_steps: D updates per step.
      train_generator: False trains D alone (e.g. to pre-train a strong D).
    """
    if disc_steps < 0:
        raise ValueError(f"disc_steps must be >= 0, got {disc_steps}")
    if noise_dim < 1:
        raise ValueError(f"noise_dim must be >= 1, got {noise_dim}")

    def train_step(state: TrainState, real: Array) -> tuple[TrainState, Metrics]:
        step_key = jax.random.fold_in(state.key, state.step)
        disc_key, gen_key = jax.random.split(step_key)
        batch = real.shape[0]
        gen_params, disc_params = state.params["gen"], state.params["disc"]
        gen_opt, disc_opt = state.opt_state["gen"], state.opt_state["disc"]
        metrics: Metrics = {}

        def disc_loss_fn(dp: Params, noise: Array) -> Array:
            fake = generate(gen_params, noise)
            return discriminator_loss(discriminate(dp, real), discriminate(dp, fake))

        for i in range(disc_steps):
            noise = jax.random.normal(jax.random.fold_in(disc_key, i), (batch, noise_dim))
            d_loss, grads = jax.value_and_grad(disc_loss_fn)(disc_params, noise)
            updates, disc_opt = disc_optimizer.update(grads, disc_opt, disc_params)
            disc_params = optax.apply_updates(disc_params, updates)
            metrics["disc_loss"] = d_loss
            metrics["disc_grad_norm"] = optax.global_norm(grads)

        if train_generator:

            def gen_loss_fn(gp: Params) -> tuple[Array, Array]:
                logits = discriminate(disc_params, generate(gp, gen_noise))
                return generator_loss(logits), jax.nn.sigmoid(logits).mean()

            gen_noise = jax.random.normal(gen_key, (batch, noise_dim))
            (g_loss, d_fake), grads = jax.value_and_grad(gen_loss_fn, has_aux=True)(gen_params)
            updates, gen_opt = gen_optimizer.update(grads, gen_opt, gen_params)
            gen_params = optax.apply_updates(gen_params, updates)
            metrics.update(gen_loss=g_loss, d_of_fake=d_fake)
            metrics.update(
                {f"gen_{k}": v for k, v in update_norms(grads, updates, gen_params).items()}
            )

        metrics["loss"] = metrics.get("gen_loss", metrics.get("disc_loss"))
        new_state = TrainState(
            state.step + 1,
            {"gen": gen_params, "disc": disc_params},
            {"gen": gen_opt, "disc": disc_opt},
            state.key,
        )
        return new_state, metrics

    return train_step
