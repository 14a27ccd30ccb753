"""Unrolled GAN (Metz et al. 2016): G's loss after k simulated discriminator updates (2.4).

The k optax updates of the discriminator are an ordinary, differentiable
inner loop: `jax.grad` of the returned loss w.r.t. the generator's parameters
back-propagates through all of them (like BPTT through an RNN whose "cell" is
one optimizer step), so the generator sees how the discriminator would react.
The real discriminator is still updated one step at a time, outside.

Differentiating through Adam: Adam divides by sqrt(nu); where a gradient
entry is exactly 0, d sqrt(nu)/d nu = inf meets d nu = 0 and gives NaN. Give
the discriminator's optimizer `eps_root > 0` (e.g. `optax.adam(lr, b1=0.5,
eps_root=1e-8)`), which optax provides for exactly this (meta-learning).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np
import optax

from genjax.gan.losses import discriminator_loss, gan_value
from genjax.typing import Array, Params

Generate = Callable[[Params, Array], Array]  # (gen_params, noise [B, z]) -> samples [B, ...]
Discriminate = Callable[[Params, Array], Array]  # (disc_params, x [B, ...]) -> logits [B]


def discriminator_step(
    disc_params: Params,
    disc_opt_state: optax.OptState,
    gen_params: Params,
    real: Array,
    noise: Array,
    *,
    generate: Generate,
    discriminate: Discriminate,
    disc_optimizer: optax.GradientTransformation,
) -> tuple[Params, optax.OptState, Array]:
    """One optax update of D on `discriminator_loss`; differentiable w.r.t. `gen_params` too.

    Returns:
      (new disc params, new optimizer state, the loss before the update).
    """

    def loss_fn(dp: Params) -> Array:
        fake = generate(gen_params, noise)
        return discriminator_loss(discriminate(dp, real), discriminate(dp, fake))

    loss, grads = jax.value_and_grad(loss_fn)(disc_params)
    updates, disc_opt_state = disc_optimizer.update(grads, disc_opt_state, disc_params)
    return optax.apply_updates(disc_params, updates), disc_opt_state, loss


def unrolled_discriminator(
    gen_params: Params,
    disc_params: Params,
    disc_opt_state: optax.OptState,
    real_batches: Array,
    unroll_noise: Array,
    *,
    generate: Generate,
    discriminate: Discriminate,
    disc_optimizer: optax.GradientTransformation,
    use_scan: bool = False,
    remat: bool = False,
) -> Params:
    """D's parameters after k = len(real_batches) simulated updates, as a function of G's.

    Args:
      real_batches: [k, B, ...] the data batch of each simulated update.
      unroll_noise: [k, B, z] the generator noise of each simulated update.
      use_scan: `lax.scan` over the k updates (compile time flat in k) instead
        of a Python loop unrolled at trace time (faster to run for small k).
      remat: wrap each simulated update in `jax.checkpoint`: the backward pass
        recomputes an update's activations from its inputs instead of keeping
        them, at the cost of a second forward pass through each update. The value
        and the gradient are the same. With `use_scan=True` the temporary memory
        that grows with k is then about D's parameters and optimizer state per
        update; with the Python loop the compiled step keeps about as much as
        without remat (`benchmarks/gan_memory.py` measures both).
    """
    k = np.shape(real_batches)[0]
    if np.shape(unroll_noise)[0] != k:
        raise ValueError(
            f"real_batches and unroll_noise need the same number of unroll steps k, got "
            f"{k} and {np.shape(unroll_noise)[0]}"
        )
    step = jax.tree_util.Partial(
        discriminator_step,
        generate=generate,
        discriminate=discriminate,
        disc_optimizer=disc_optimizer,
    )
    if remat:
        step = jax.checkpoint(step)
    if use_scan:

        def body(carry, batch):
            dp, opt_state = carry
            real, noise = batch
            dp, opt_state, _ = step(dp, opt_state, gen_params, real, noise)
            return (dp, opt_state), None

        (disc_params, _), _ = jax.lax.scan(
            body, (disc_params, disc_opt_state), (real_batches, unroll_noise)
        )
        return disc_params
    for i in range(k):
        disc_params, disc_opt_state, _ = step(
            disc_params, disc_opt_state, gen_params, real_batches[i], unroll_noise[i]
        )
    return disc_params


def unrolled_generator_loss(
    gen_params: Params,
    disc_params: Params,
    disc_opt_state: optax.OptState,
    real_batches: Array,
    unroll_noise: Array,
    noise: Array,
    *,
    generate: Generate,
    discriminate: Discriminate,
    disc_optimizer: optax.GradientTransformation,
    value_real: Array | None = None,
    generator_loss: Callable[[Array], Array] | None = None,
    stop_unroll_gradient: bool = False,
    use_scan: bool = False,
    remat: bool = False,
) -> Array:
    """G's loss against D after k simulated updates: by default Metz et al.'s f_K (eq. 6-7).

    The default is the objective of Metz et al. (2016): G minimises the minimax
    value after k updates of D, V(theta_D^K, theta_G) =
    `gan_value(D_K(value_real), D_K(G(noise)))` (their code's `gen_loss =
    -unrolled_loss`, which is V / 2). Its real-data term depends on G through the k
    updates, which a loss of the fakes alone drops; with k = 0 it is the saturating
    (minimax) loss plus a constant. `jax.grad` w.r.t. `gen_params` flows through
    all k updates.

    `generator_loss` replaces it by a loss of D_K's logits on the fakes alone,
    e.g. `nonsaturating_generator_loss` (-log D_K(G(z)), the non-saturating
    variant); with k = 0 that is `generator_loss(discriminate(disc_params,
    generate(gen_params, noise)))`.

    Args:
      gen_params, disc_params, disc_opt_state: the current G, D and D's optimizer state.
      real_batches: [k, B, ...] data for the k simulated D updates.
      unroll_noise: [k, B, z] generator noise for the k simulated D updates.
      noise: [B, z] generator noise for the generator's loss itself.
      generate: `(gen_params, noise) -> samples`.
      discriminate: `(disc_params, x) -> logits [B]`.
      disc_optimizer: D's optax optimizer (use `eps_root > 0` for Adam; see module doc).
      value_real: [B, ...] the data batch of the value's real-data term; needed by
        the default objective, not allowed with `generator_loss`.
      generator_loss: None (the minimax value, above) or a loss of D_K's logits on fakes.
      stop_unroll_gradient: the ablation: G is scored against the unrolled D but
        no gradient flows through the k updates (only through G's own samples).
      use_scan, remat: see `unrolled_discriminator`.
    """
    if (generator_loss is None) == (value_real is None):
        raise ValueError(
            "unrolled_generator_loss: give value_real (a data batch) for the default minimax "
            "value V(D_K, G), or generator_loss (e.g. nonsaturating_generator_loss) instead"
        )
    unrolled = unrolled_discriminator(
        gen_params,
        disc_params,
        disc_opt_state,
        real_batches,
        unroll_noise,
        generate=generate,
        discriminate=discriminate,
        disc_optimizer=disc_optimizer,
        use_scan=use_scan,
        remat=remat,
    )
    if stop_unroll_gradient:
        unrolled = jax.lax.stop_gradient(unrolled)
    fake_logits = discriminate(unrolled, generate(gen_params, noise))
    if generator_loss is None:
        return gan_value(discriminate(unrolled, value_real), fake_logits)
    return generator_loss(fake_logits)
