"""Small flax.linen building blocks shared by the models."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.typing import Array


class MLP(nn.Module):
    """A multilayer perceptron: Dense + activation for each hidden width, then a linear output.

    Attributes:
      hidden: widths of the hidden layers.
      out: width of the (linear) output layer.
      activation: the hidden nonlinearity.
      kernel_init: the weights' initializer (None: flax's default, LeCun normal);
        biases start at zero.
    """

    hidden: Sequence[int]
    out: int
    activation: Callable[[Array], Array] = nn.relu
    kernel_init: Callable | None = None

    @nn.compact
    def __call__(self, x: Array) -> Array:  # x: [..., in] -> [..., out]
        init = {} if self.kernel_init is None else {"kernel_init": self.kernel_init}
        for i, width in enumerate(self.hidden):
            x = self.activation(nn.Dense(width, name=f"hidden_{i}", **init)(x))
        return nn.Dense(self.out, name="out", **init)(x)


def flatten_images(x: Array) -> Array:
    """[B, H, W] or [B, H, W, C] -> [B, H * W * C]."""
    return jnp.reshape(x, (x.shape[0], -1))


def count_params(params) -> int:
    """The number of scalar parameters in a pytree."""
    return sum(int(p.size) for p in jax.tree_util.tree_leaves(params))
