"""The GAN training step: `disc_steps` D (critic) updates, then one G update (2.1-2.5).

One step serves every objective and option: the minimax and non-saturating
GANs, WGAN with weight clipping (give D's optimizer `weight_clipping`) and
WGAN-GP; k unrolled D updates inside G's loss (`genjax.gan.unrolled`). The
state's params and optimizer states are `{"gen": ..., "disc": ...}` dicts
(`init_gan_state`). Step s draws everything from `fold_in(state.key, s)`:
D update i from `fold_in(disc_key, i)` (its data, noise and penalty keys), G's
update from `gen_key` (with `gen_batch='shared'`: D update 0's batch). Real data
come either from the training loop's batch (`step(state, real)`: every D update of
the step sees it) or, for infinite data such as the 2-D mixtures, from
`sample_data(key, batch_size)` (`step(state, None)`): then many seeds train at
once with `genjax.train.make_multi_run_step`.

The papers' optimizers are the caller's: Adam(1e-3..1e-4, b1=0.5) for GANs
(with `eps_root > 0` when unrolling; see `genjax.gan.unrolled`), RMSprop(5e-5)
with weight clipping at 0.01 for WGAN (Arjovsky et al. 2017, alg. 1) and
Adam(1e-4, b1=0.5, b2=0.9) with lambda = 10 for WGAN-GP (Gulrajani et al. 2017,
alg. 1).
"""

from __future__ import annotations

import functools
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
from genjax.train.state import update_norms
from genjax.typing import Array, Metrics, Params, PRNGKey

TrainStep = Callable[[TrainState, Array | None], tuple[TrainState, Metrics]]
Sampler = Callable[[PRNGKey, int], Array]  # (key, n) -> n data points

OBJECTIVES = ("minimax", "nonsaturating", "wgan_clip", "wgan_gp")
# How a step orders the players: 'alternating' (D's updates first, then G's gradient against
# the updated D) or 'simultaneous' (both gradients at the step's starting parameters, one joint
# gradient step, as Metz et al.'s reference notebook trains).
UPDATES = ("alternating", "simultaneous")
# Where G's loss gets its data and noise: 'fresh' (its own draws: the generator noise and, when
# unrolling, the k simulated D updates' batches) or 'shared' (the step's one D batch, reused by
# G's loss and by every simulated update, as Metz et al.'s reference notebook builds one graph
# on one data and one noise batch per step).
GEN_BATCHES = ("fresh", "shared")
# G's loss of D's logits on fakes, per GAN objective (2.2).
GENERATOR_LOSSES = {
    "minimax": saturating_generator_loss,
    "nonsaturating": nonsaturating_generator_loss,
}


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


def _check_options(objective, noise_dim, disc_steps, unroll_steps, gp_weight, generator_loss):
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; known: {OBJECTIVES}")
    if noise_dim < 1:
        raise ValueError(f"noise_dim must be >= 1, got {noise_dim}")
    if disc_steps < 0:
        raise ValueError(f"disc_steps must be >= 0, got {disc_steps}")
    if unroll_steps < 0:
        raise ValueError(f"unroll_steps (k) must be >= 0, got {unroll_steps}")
    if gp_weight < 0:
        raise ValueError(f"gp_weight must be >= 0, got {gp_weight}")
    wgan = objective.startswith("wgan")
    if wgan and (unroll_steps or generator_loss is not None):
        raise ValueError("unrolling and generator_loss are for the GAN objectives, not WGAN")
    if generator_loss is not None and unroll_steps:
        raise ValueError("generator_loss replaces the objective's loss without unrolling only")


def _update_gen(gen_loss_fn, gen_optimizer, gp, gen_opt, against, key, batch):
    """One G update against D's `against` = (params, optimizer state): (gp, gen_opt,
    metrics: the loss's aux, `gen_loss`, `loss` and G's gradient/update/param norms)."""
    (g_loss, aux), grads = jax.value_and_grad(gen_loss_fn, has_aux=True)(gp, *against, key, batch)
    updates, gen_opt = gen_optimizer.update(grads, gen_opt, gp)
    gp = optax.apply_updates(gp, updates)
    metrics = {**aux, "gen_loss": g_loss, "loss": g_loss}
    metrics.update({f"gen_{k}": v for k, v in update_norms(grads, updates, gp).items()})
    return gp, gen_opt, metrics


def _check_update(update, gen_batch, disc_steps):
    if update not in UPDATES:
        raise ValueError(f"update must be one of {UPDATES}, got {update!r}")
    if gen_batch not in GEN_BATCHES:
        raise ValueError(f"gen_batch must be one of {GEN_BATCHES}, got {gen_batch!r}")
    for name, value in (("update", update), ("gen_batch", gen_batch)):
        if value in ("simultaneous", "shared") and disc_steps != 1:
            raise ValueError(f"{name}={value!r} needs disc_steps=1, got {disc_steps}")


def _check_data(sample_data, batch_size, unroll_steps):
    if sample_data is not None and (batch_size is None or batch_size < 1):
        raise ValueError(f"sample_data needs batch_size >= 1, got {batch_size}")
    if unroll_steps and sample_data is None:
        raise ValueError("unroll_steps > 0 needs sample_data (fresh batches for the unroll)")


def _disc_loss(objective: str, generate: Generate, discriminate: Discriminate, gp_weight: float):
    """`(disc_params, gen_params, real, noise, penalty_key) -> D's loss` of an objective."""
    wgan = objective.startswith("wgan")

    def disc_loss_fn(dp: Params, gp: Params, real: Array, noise: Array, key: PRNGKey) -> Array:
        fake = generate(gp, noise)
        real_scores, fake_scores = discriminate(dp, real), discriminate(dp, fake)
        if not wgan:
            return discriminator_loss(real_scores, fake_scores)
        loss = wgan_critic_loss(real_scores, fake_scores)
        if objective == "wgan_gp":
            loss = loss + gp_weight * gradient_penalty(
                lambda x: discriminate(dp, x), real, jax.lax.stop_gradient(fake), key
            )
        return loss

    return disc_loss_fn


def _disc_batch(sample_data, noise_dim, disc_key, i, real, batch):
    """D update i's (data, noise, penalty key), all from `fold_in(disc_key, i)`."""
    real_key, noise_key, pen_key = jax.random.split(jax.random.fold_in(disc_key, i), 3)
    x = real if sample_data is None else sample_data(real_key, batch)
    return x, jax.random.normal(noise_key, (batch, noise_dim)), pen_key


def _disc_updates(disc_loss_fn, disc_optimizer, *, sample_data, noise_dim, disc_steps):
    """`(gen_params, disc_params, disc_opt_state, disc_key, real, batch) -> (disc_params,
    disc_opt_state, last loss, last gradient norm)`: `disc_steps` updates of D."""

    def update_disc(gp, dp, disc_opt, disc_key: PRNGKey, real: Array | None, batch: int):
        def disc_update(i, carry):
            dp, disc_opt, _, _ = carry
            x, noise, pen_key = _disc_batch(sample_data, noise_dim, disc_key, i, real, batch)
            loss, grads = jax.value_and_grad(disc_loss_fn)(dp, gp, x, noise, pen_key)
            updates, disc_opt = disc_optimizer.update(grads, disc_opt, dp)
            return optax.apply_updates(dp, updates), disc_opt, loss, optax.global_norm(grads)

        zero = jnp.zeros(())
        return jax.lax.fori_loop(0, disc_steps, disc_update, (dp, disc_opt, zero, zero))

    return update_disc


def _gen_batches(key, batch, unroll_steps, value_form, *, gen_batch, sample_data, noise_dim):
    """G's (noise [B, z], k (+ 1) data batches [k (+ 1), B, ...], k noise batches [k, B, z]).

    'fresh': all drawn from `key`; 'shared': `key` is the step's D key, and G reuses D
    update 0's data and noise for its loss and for every simulated update.
    """
    num_real = unroll_steps + 1 if value_form else unroll_steps
    if gen_batch == "shared":
        x, noise, _ = _disc_batch(sample_data, noise_dim, key, 0, None, batch)
        if not unroll_steps:
            return noise, None, None
        real = jnp.broadcast_to(x, (num_real, *x.shape))
        return noise, real, jnp.broadcast_to(noise, (unroll_steps, *noise.shape))
    noise_key, real_key, unroll_key = jax.random.split(key, 3)
    noise = jax.random.normal(noise_key, (batch, noise_dim))
    if not unroll_steps:
        return noise, None, None
    real = jax.vmap(lambda kk: sample_data(kk, batch))(jax.random.split(real_key, num_real))
    return noise, real, jax.random.normal(unroll_key, (unroll_steps, batch, noise_dim))


def _gen_loss(objective, generator_loss, unroll_steps, *, generate, discriminate,
              disc_optimizer, sample_data, noise_dim, use_scan, gen_batch):  # fmt: skip
    """`(gen_params, disc_params, disc_opt_state, key, batch) -> (G's loss, metrics)`.

    The key gives G's noise and, when unrolling, the k (+ 1) data batches and the
    noise of the k simulated D updates (`_gen_batches`).
    """
    wgan = objective.startswith("wgan")
    loss_of_logits = generator_loss or GENERATOR_LOSSES.get(objective)
    value_form = objective == "minimax"  # unrolled: V(D_K, G), on one more data batch

    def gen_loss_fn(gp, dp, disc_opt, key: PRNGKey, batch: int) -> tuple[Array, Metrics]:
        noise, real_batches, unroll_noise = _gen_batches(
            key, batch, unroll_steps, value_form,
            gen_batch=gen_batch, sample_data=sample_data, noise_dim=noise_dim,
        )  # fmt: skip
        if not unroll_steps:
            scores = discriminate(dp, generate(gp, noise))
            if wgan:
                return wgan_generator_loss(scores), {}
            return loss_of_logits(scores), {"d_of_fake": jax.nn.sigmoid(scores).mean()}
        loss = unrolled_generator_loss(
            gp, dp, disc_opt, real_batches[:unroll_steps], unroll_noise, noise,
            generate=generate, discriminate=discriminate, disc_optimizer=disc_optimizer,
            value_real=real_batches[unroll_steps] if value_form else None,
            generator_loss=None if value_form else loss_of_logits,
            use_scan=use_scan,
        )  # fmt: skip
        return loss, {}

    return gen_loss_fn


def make_gan_train_step(
    *,
    generate: Generate,
    discriminate: Discriminate,
    gen_optimizer: optax.GradientTransformation,
    disc_optimizer: optax.GradientTransformation,
    noise_dim: int,
    objective: str = "nonsaturating",
    generator_loss: Callable[[Array], Array] | None = None,
    disc_steps: int = 1,
    unroll_steps: int = 0,
    gp_weight: float = 10.0,
    sample_data: Sampler | None = None,
    batch_size: int | None = None,
    use_scan: bool = False,
    train_generator: bool = True,
    update: str = "alternating",
    gen_batch: str = "fresh",
) -> TrainStep:
    """`step(state, real) -> (state, metrics)`: `disc_steps` D updates and one G update.

    Args:
      generate: `(gen_params, noise [B, noise_dim]) -> samples [B, ...]`.
      discriminate: `(disc_params, x) -> logits (critic scores) [B]`.
      gen_optimizer, disc_optimizer: optax transformations of each player.
      noise_dim: the generator's input size; noise ~ N(0, I).
      objective: 'minimax' (G minimises log(1 - D(G(z)))), 'nonsaturating' (G
        maximises log D(G(z))), 'wgan_clip' or 'wgan_gp' (+ `gp_weight` x penalty).
      generator_loss: replaces a GAN objective's loss of D's logits on fakes.
      disc_steps: D updates per step.
      unroll_steps: k > 0 scores G against D after k simulated updates, differentiated
        through (`unrolled_generator_loss`): 'minimax' by the value V(D_K, G) on one more
        batch (Metz et al. 2016), 'nonsaturating' by -log D_K(G(z)). Needs `sample_data`.
      gp_weight: lambda of WGAN-GP.
      sample_data: `(key, n) -> [n, ...]` data; the step then ignores `real` and
        draws `batch_size` points per D update (otherwise the batch is `real`).
      use_scan: run the k unrolled updates as a `lax.scan` (see `unrolled_discriminator`).
      train_generator: False trains D alone (e.g. to pre-train a strong D).
      update: `UPDATES`: 'alternating' or 'simultaneous' (G against the step's starting D).
      gen_batch: `GEN_BATCHES`: 'fresh' or 'shared' (G's loss and the k simulated D
        updates reuse the step's D batch). 'simultaneous' and 'shared' need disc_steps=1.

    Returns:
      The step; metrics: `disc_loss`, `disc_grad_norm` and, when G trains, `gen_loss`, G's
      gradient / update / param norms and (GAN objectives) `d_of_fake`, the mean D(G(z));
      `loss` is `gen_loss` (or `disc_loss`).
    """
    _check_options(objective, noise_dim, disc_steps, unroll_steps, gp_weight, generator_loss)
    _check_data(sample_data, batch_size, unroll_steps)
    _check_update(update, gen_batch, disc_steps)
    update_disc = _disc_updates(
        _disc_loss(objective, generate, discriminate, gp_weight), disc_optimizer,
        sample_data=sample_data, noise_dim=noise_dim, disc_steps=disc_steps,
    )  # fmt: skip
    gen_loss_fn = _gen_loss(
        objective, generator_loss, unroll_steps, generate=generate, discriminate=discriminate,
        disc_optimizer=disc_optimizer, sample_data=sample_data, noise_dim=noise_dim,
        use_scan=use_scan, gen_batch=gen_batch,
    )  # fmt: skip
    update_gen = functools.partial(_update_gen, gen_loss_fn, gen_optimizer)

    def step(state: TrainState, real: Array | None) -> tuple[TrainState, Metrics]:
        if sample_data is None and real is None:
            raise ValueError("without sample_data the step needs a real batch")
        batch = batch_size if sample_data is not None else real.shape[0]
        disc_key, gen_key = jax.random.split(jax.random.fold_in(state.key, state.step))
        gp, dp = state.params["gen"], state.params["disc"]
        gen_opt, disc_opt = state.opt_state["gen"], state.opt_state["disc"]
        start_disc = (dp, disc_opt)  # G's opponent under update='simultaneous'
        dp, disc_opt, d_loss, d_norm = update_disc(gp, dp, disc_opt, disc_key, real, batch)
        metrics = {"disc_loss": d_loss, "disc_grad_norm": d_norm, "loss": d_loss}
        if train_generator:
            against = (dp, disc_opt) if update == "alternating" else start_disc
            key = disc_key if gen_batch == "shared" else gen_key
            gp, gen_opt, gen_metrics = update_gen(gp, gen_opt, against, key, batch)
            metrics.update(gen_metrics)
        params, opt_state = {"gen": gp, "disc": dp}, {"gen": gen_opt, "disc": disc_opt}
        return TrainState(state.step + 1, params, opt_state, state.key), metrics

    return step
