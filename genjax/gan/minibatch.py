"""Minibatch discrimination (Salimans et al. 2016, sec. 3.2) (claim 2.4)."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from genjax.typing import Array


def minibatch_features(projections: Array) -> Array:
    """o(x_i)_b = sum_{j != i} exp(-||M_i,b - M_j,b||_1) for projections M: [N, B, C] -> [N, B]."""
    if projections.ndim != 3:
        raise ValueError(f"projections must be [batch, kernels, dims], got {projections.shape}")
    distances = jnp.sum(jnp.abs(projections[:, None] - projections[None, :]), axis=-1)  # [N, N, B]
    similarity = jnp.exp(-distances)
    # The diagonal holds exp(0) = 1 for every kernel: each sample's similarity to itself.
    return jnp.sum(similarity, axis=1) - 1.0


class MinibatchDiscrimination(nn.Module):
    """Appends minibatch features to x: [N, F] -> [N, F + num_kernels].

    A tensor T [F, num_kernels * kernel_dim] projects each sample to
    M_i [num_kernels, kernel_dim]; feature b of sample i sums
    exp(-L1 distance) between M_i,b and the other samples' M_j,b. A batch of
    near-identical samples gets large features, which D can learn to reject.

    Attributes:
      num_kernels: B, the number of minibatch features.
      kernel_dim: C, the dimension each distance is measured in.
    """

    num_kernels: int = 50
    kernel_dim: int = 5

    @nn.compact
    def __call__(self, x: Array) -> Array:  # x: [N, F]
        if x.ndim != 2:
            raise ValueError(f"x must be [batch, features], got {x.shape}")
        t = self.param(
            "T",
            nn.initializers.normal(stddev=0.1),
            (x.shape[-1], self.num_kernels * self.kernel_dim),
        )
        projections = (x @ t).reshape(x.shape[0], self.num_kernels, self.kernel_dim)
        return jnp.concatenate([x, minibatch_features(projections)], axis=-1)
