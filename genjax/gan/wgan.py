"""Wasserstein GAN: critic and generator losses, weight clipping, gradient penalty (2.5).

The critic f approximates the Kantorovich-Rubinstein dual
W1 = sup_{||f||_L <= 1} E_data[f] - E_g[f]; the Lipschitz constraint is
enforced by clipping the critic's weights (Arjovsky et al. 2017) or by a
penalty on its input gradient norm (Gulrajani et al. 2017).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from genjax._checks import check_learning_rate
from genjax.typing import Array, Params, PRNGKey


def _check_scores(name: str, scores: Array) -> None:
    shape = np.shape(scores)
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1) or shape[0] < 1:
        raise ValueError(f"{name} must have shape [batch] or [batch, 1], got {shape}")


def wgan_critic_loss(real_scores: Array, fake_scores: Array) -> Array:
    """-(E_data[f(x)] - E_g[f(x)]): minimising it maximises the dual estimate of W1."""
    _check_scores("real_scores", real_scores)
    _check_scores("fake_scores", fake_scores)
    return jnp.mean(fake_scores) - jnp.mean(real_scores)


def wgan_generator_loss(fake_scores: Array) -> Array:
    """-E_g[f(G(z))], minimised by the generator."""
    _check_scores("fake_scores", fake_scores)
    return -jnp.mean(fake_scores)


def safe_norm(x: Array, axis: int | tuple[int, ...] = -1) -> Array:
    """The Euclidean norm with a zero (not NaN) gradient at x = 0 (the double-`where` trick)."""
    squared = jnp.sum(x * x, axis=axis)
    positive = squared > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)


def gradient_penalty(
    critic_fn: Callable[[Array], Array], real: Array, fake: Array, key: PRNGKey
) -> Array:
    """WGAN-GP's penalty E[(||grad f(x_hat)||_2 - 1)^2] (Gulrajani et al. 2017, eq. 3).

    x_hat = e * real + (1 - e) * fake with e ~ U[0, 1] per sample.

    Args:
      critic_fn: maps a batch [B, ...] to scores [B] or [B, 1]; each score must
        depend on its own input only (no batch statistics or minibatch
        features), so that the gradient of the summed scores is per-sample.
      real: [B, ...] data samples.
      fake: [B, ...] generated samples.
      key: draws one interpolation coefficient per sample.

    Returns:
      A scalar. Finite, with finite gradients, also where real == fake.
    """
    if np.shape(real) != np.shape(fake) or len(np.shape(real)) < 2:
        raise ValueError(
            f"real and fake must share a shape [batch, ...], got {np.shape(real)}, {np.shape(fake)}"
        )
    eps_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    eps = jax.random.uniform(key, eps_shape)
    x_hat = eps * real + (1.0 - eps) * fake
    grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(x_hat)
    norms = safe_norm(grads.reshape(grads.shape[0], -1), axis=1)
    return jnp.mean((norms - 1.0) ** 2)


def clip_weights(params: Params, clip_value: float) -> Params:
    """Every parameter clipped to [-clip_value, clip_value] (WGAN, Arjovsky et al. 2017, alg. 1)."""
    if clip_value <= 0:
        raise ValueError(f"clip_value must be positive, got {clip_value}")
    return jax.tree_util.tree_map(lambda p: jnp.clip(p, -clip_value, clip_value), params)


class WeightClippingState(NamedTuple):
    """Weight clipping keeps no state."""


def weight_clipping(clip_value: float) -> optax.GradientTransformation:
    """An optax transformation whose updates land the parameters inside [-c, c].

    Chain it last (`optax.chain(optax.rmsprop(5e-5), weight_clipping(0.01))`):
    it turns an update u into `clip(params + u) - params`, so that
    `optax.apply_updates` yields `clip_weights(params + u, c)`. Needs `params`.
    """
    if clip_value <= 0:
        raise ValueError(f"clip_value must be positive, got {clip_value}")

    def init_fn(params: Params) -> WeightClippingState:
        del params
        return WeightClippingState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("weight_clipping needs params: call update(updates, state, params)")
        new_params = clip_weights(optax.apply_updates(params, updates), clip_value)
        return jax.tree_util.tree_map(jnp.subtract, new_params, params), state

    return optax.GradientTransformation(init_fn, update_fn)


def estimate_w1_with_critic(
    key: PRNGKey,
    critic_apply: Callable[[Params, Array], Array],
    critic_params: Params,
    sample_p: Callable[[PRNGKey, int], Array],
    sample_q: Callable[[PRNGKey, int], Array],
    *,
    num_steps: int,
    batch_size: int,
    learning_rate: float = 1e-3,
    gp_weight: float = 10.0,
    eval_samples: int = 4096,
) -> Array:
    """Trains a WGAN-GP critic between two samplers and returns its dual estimate of W1(p, q).

    The whole fit is one `lax.scan`, so it jits once and vmaps over keys or over
    a family of samplers (e.g. the parallel lines for many theta).

    Args:
      key: drives sampling and the penalty's interpolation.
      critic_apply: `(params, x [B, dim]) -> scores [B]`.
      critic_params: the critic's initial parameters.
      sample_p, sample_q: `(key, n) -> [n, dim]` samplers of the two distributions.
      num_steps, batch_size, learning_rate: Adam on the critic loss plus penalty.
      gp_weight: lambda of the gradient penalty (10 in Gulrajani et al. 2017).
      eval_samples: fresh samples per distribution for the final estimate.

    Returns:
      E_p[f] - E_q[f] on fresh samples (a lower bound on W1 for a 1-Lipschitz f).

    Raises:
      ValueError: a size below 1, or a learning rate that is not a positive finite number.
    """
    if num_steps < 1 or batch_size < 1 or eval_samples < 1:
        raise ValueError("num_steps, batch_size and eval_samples must be >= 1")
    check_learning_rate(learning_rate)
    optimizer = optax.adam(learning_rate, b1=0.5, b2=0.9)

    def loss_fn(params: Params, step_key: PRNGKey) -> Array:
        p_key, q_key, gp_key = jax.random.split(step_key, 3)
        real, fake = sample_p(p_key, batch_size), sample_q(q_key, batch_size)
        critic = jax.tree_util.Partial(critic_apply, params)
        loss = wgan_critic_loss(critic(real), critic(fake))
        return loss + gp_weight * gradient_penalty(critic, real, fake, gp_key)

    def body(carry, step_key):
        params, opt_state = carry
        grads = jax.grad(loss_fn)(params, step_key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), None

    train_key, eval_key = jax.random.split(key)
    (params, _), _ = jax.lax.scan(
        body,
        (critic_params, optimizer.init(critic_params)),
        jax.random.split(train_key, num_steps),
    )
    p_key, q_key = jax.random.split(eval_key)
    return jnp.mean(critic_apply(params, sample_p(p_key, eval_samples))) - jnp.mean(
        critic_apply(params, sample_q(q_key, eval_samples))
    )
