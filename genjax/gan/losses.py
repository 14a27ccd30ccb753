"""GAN losses from logits (claims 2.1, 2.2).

The discriminator is logistic regression (2.1): real samples carry label 1,
generated ones label 0, and its loss is the binary cross-entropy. Everything
here works from logits with `log_sigmoid`, never `log(sigmoid(.))`:
log D = log_sigmoid(l) and log(1 - D) = log_sigmoid(-l).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.nn import log_sigmoid

from genjax.typing import Array


def _check_logits(name: str, logits: Array) -> None:
    shape = np.shape(logits)
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1) or shape[0] < 1:
        raise ValueError(f"{name} must have shape [batch] or [batch, 1], got {shape}")


def discriminator_loss(real_logits: Array, fake_logits: Array) -> Array:
    """Binary cross-entropy of D, averaged over all real (label 1) and fake (label 0) samples.

    Equals scikit-learn's `log_loss` on the concatenated probabilities and
    labels; with equal batch sizes it is `-V(D, G) / 2` (see `gan_value`).

    Args:
      real_logits: [n_real] or [n_real, 1], D's logits on data samples.
      fake_logits: [n_fake] or [n_fake, 1], D's logits on generated samples.
    """
    _check_logits("real_logits", real_logits)
    _check_logits("fake_logits", fake_logits)
    real_terms = -log_sigmoid(jnp.ravel(real_logits))
    fake_terms = -log_sigmoid(-jnp.ravel(fake_logits))
    return (jnp.sum(real_terms) + jnp.sum(fake_terms)) / (real_terms.size + fake_terms.size)


def gan_value(real_logits: Array, fake_logits: Array) -> Array:
    """V(D, G) = E_data[log D(x)] + E_z[log(1 - D(G(z)))], the minimax value (Goodfellow 2014)."""
    _check_logits("real_logits", real_logits)
    _check_logits("fake_logits", fake_logits)
    return jnp.mean(log_sigmoid(real_logits)) + jnp.mean(log_sigmoid(-fake_logits))


def saturating_generator_loss(fake_logits: Array) -> Array:
    """The minimax generator loss E_z[log(1 - D(G(z)))], minimised by G (2.2).

    Its gradient w.r.t. the logit is -sigmoid(l) = -D(G(z)): it vanishes as
    D(G(z)) -> 0, exactly when D rejects the generator's samples.
    """
    _check_logits("fake_logits", fake_logits)
    return jnp.mean(log_sigmoid(-fake_logits))


def nonsaturating_generator_loss(fake_logits: Array) -> Array:
    """The non-saturating generator loss -E_z[log D(G(z))], minimised by G (2.2).

    Its gradient w.r.t. the logit is -(1 - D(G(z))): close to -1 when D(G(z)) -> 0.
    """
    _check_logits("fake_logits", fake_logits)
    return -jnp.mean(log_sigmoid(fake_logits))
