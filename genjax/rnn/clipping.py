"""Gradient clipping by global norm (claim 3.4 in docs/claims.md; Pascanu et al. 2013).

If ||g|| > c then g <- c g / ||g||, with ||g|| the Euclidean norm of all leaves
together. Training uses `optax.clip_by_global_norm(c)` chained before the
optimizer; this pure function is the same rule, for analysis and for tests.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from genjax.typing import ArrayTree


def global_norm(tree: ArrayTree) -> jax.Array:
    """sqrt(sum of squares of every leaf)."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree_util.tree_leaves(tree)))


def clip_by_global_norm(grads: ArrayTree, max_norm: float) -> ArrayTree:
    """grads unchanged if ||grads|| <= max_norm, else rescaled to norm exactly max_norm."""
    if not max_norm > 0:
        raise ValueError(f"max_norm must be positive, got {max_norm!r}")
    norm = global_norm(grads)
    # Divide only when clipping so that small gradients come back bit-for-bit.
    scale = jnp.where(norm > max_norm, max_norm / jnp.where(norm > max_norm, norm, 1.0), 1.0)
    return jax.tree_util.tree_map(lambda g: jnp.where(norm > max_norm, g * scale, g), grads)


def clipped_optimizer(
    optimizer: optax.GradientTransformation, max_norm: float | None
) -> optax.GradientTransformation:
    """`optimizer` preceded by `optax.clip_by_global_norm(max_norm)` (None: no clipping)."""
    if max_norm is None:
        return optimizer
    if not max_norm > 0:
        raise ValueError(f"max_norm must be positive or None, got {max_norm!r}")
    return optax.chain(optax.clip_by_global_norm(max_norm), optimizer)
