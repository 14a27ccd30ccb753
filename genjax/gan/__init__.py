"""GANs: losses (2.1, 2.2), optimal D and divergences (2.3), minibatch discrimination and
unrolled GANs (2.4), Wasserstein GANs (2.5), one training step for them all, the variants
of the mode-collapse benchmarks and their mode statistics (`genjax.gan.metrics`)."""

from genjax.gan.divergences import (
    js_divergence,
    kl_divergence,
    optimal_discriminator,
    value_on_grid,
    wasserstein_1d,
    wasserstein_exact,
)
from genjax.gan.losses import (
    discriminator_loss,
    gan_value,
    nonsaturating_generator_loss,
    saturating_generator_loss,
)
from genjax.gan.metrics import class_histogram_kl, mode_statistics
from genjax.gan.minibatch import MinibatchDiscrimination, minibatch_features
from genjax.gan.models import Discriminator, Generator
from genjax.gan.training import GEN_BATCHES, UPDATES, init_gan_state, make_gan_train_step
from genjax.gan.unrolled import (
    discriminator_step,
    unrolled_discriminator,
    unrolled_generator_loss,
)
from genjax.gan.wgan import (
    clip_weights,
    estimate_w1_with_critic,
    gradient_penalty,
    safe_norm,
    weight_clipping,
    wgan_critic_loss,
    wgan_generator_loss,
)

__all__ = [
    "GEN_BATCHES",
    "UPDATES",
    "Discriminator",
    "Generator",
    "MinibatchDiscrimination",
    "class_histogram_kl",
    "clip_weights",
    "discriminator_loss",
    "discriminator_step",
    "estimate_w1_with_critic",
    "gan_value",
    "gradient_penalty",
    "init_gan_state",
    "js_divergence",
    "kl_divergence",
    "make_gan_train_step",
    "minibatch_features",
    "mode_statistics",
    "nonsaturating_generator_loss",
    "optimal_discriminator",
    "safe_norm",
    "saturating_generator_loss",
    "unrolled_discriminator",
    "unrolled_generator_loss",
    "value_on_grid",
    "wasserstein_1d",
    "wasserstein_exact",
    "weight_clipping",
    "wgan_critic_loss",
    "wgan_generator_loss",
]
