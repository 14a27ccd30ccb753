"""Small flax.linen generator and discriminator/critic MLPs for 2-D and 1-D GAN experiments."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn

from genjax.gan.minibatch import MinibatchDiscrimination
from genjax.nn import MLP
from genjax.typing import Array


class Generator(nn.Module):
    """noise [B, z] -> samples [B, out_dim]; with `hidden=()` an affine map (a Gaussian's G)."""

    hidden: Sequence[int]
    out_dim: int
    activation: Callable[[Array], Array] = nn.relu
    kernel_init: Callable | None = None  # None: flax's default (LeCun normal)

    @nn.compact
    def __call__(self, noise: Array) -> Array:
        mlp = MLP(tuple(self.hidden), self.out_dim, self.activation, self.kernel_init, name="mlp")
        return mlp(noise)


class Discriminator(nn.Module):
    """x [B, dim] -> logits (or critic scores) [B].

    Attributes:
      hidden: widths of the hidden layers.
      activation: hidden nonlinearity.
      minibatch_kernels: if > 0, a `MinibatchDiscrimination` layer with this many
        kernels sits before the output layer (Salimans et al. 2016).
      kernel_dim: C, the dimension of each minibatch kernel.
      kernel_init: the Dense layers' weight initializer (None: flax's default).
    """

    hidden: Sequence[int]
    activation: Callable[[Array], Array] = nn.relu
    minibatch_kernels: int = 0
    kernel_dim: int = 5
    kernel_init: Callable | None = None

    @nn.compact
    def __call__(self, x: Array) -> Array:
        init = {} if self.kernel_init is None else {"kernel_init": self.kernel_init}
        for i, width in enumerate(self.hidden):
            x = self.activation(nn.Dense(width, name=f"hidden_{i}", **init)(x))
        if self.minibatch_kernels > 0:
            x = MinibatchDiscrimination(self.minibatch_kernels, self.kernel_dim, name="mbd")(x)
        return nn.Dense(1, name="out", **init)(x)[:, 0]
