"""A small MNIST digit classifier: the judge of decoded images in claim 1.2.

An image a competent classifier labels with high confidence looks like a digit;
a decoded latent point it is unsure of (low max-softmax) does not. The judge is
an MLP trained with softmax cross-entropy on the training split.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from genjax._checks import check_batch_dict
from genjax.nn import MLP, flatten_images
from genjax.train import LossFn
from genjax.typing import Array, Metrics, Params, PRNGKey

NUM_CLASSES = 10


class Classifier(nn.Module):
    """An MLP from images [B, H, W] to class logits [B, num_classes]."""

    hidden: Sequence[int]
    num_classes: int = NUM_CLASSES

    @nn.compact
    def __call__(self, images: Array) -> Array:
        return MLP(tuple(self.hidden), self.num_classes, name="mlp")(flatten_images(images))


def _check_labels(logits: Array, labels: Array) -> None:
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"need logits [B, K] and labels [B], got {logits.shape} and {labels.shape}"
        )


def cross_entropy(logits: Array, labels: Array) -> Array:
    """Mean softmax cross-entropy of logits [B, K] against integer labels [B]."""
    _check_labels(logits, labels)
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def accuracy(logits_or_probs: Array, labels: Array) -> Array:
    """Fraction of rows [B, K] whose argmax equals the label [B]."""
    _check_labels(logits_or_probs, labels)
    return jnp.mean(jnp.argmax(logits_or_probs, axis=-1) == labels)


def confidence(probs: Array) -> Array:
    """Mean over rows of the largest class probability (mean max-softmax) of probs [B, K]."""
    if probs.ndim != 2:
        raise ValueError(f"probs must be [B, K], got shape {probs.shape}")
    return jnp.mean(jnp.max(probs, axis=-1))


def predict_proba(model: Classifier, params: Params, images: Array) -> Array:
    """Class probabilities [B, K] of images [B, H, W]."""
    return jax.nn.softmax(model.apply(params, images), axis=-1)


def classifier_loss(model: Classifier) -> LossFn:
    """`loss_fn(params, batch, key) -> (cross-entropy, {"accuracy"})` for `make_train_step`.

    `batch` is {"image": [B, H, W], "label": int32 [B]}; the key is unused.
    """

    def loss_fn(params: Params, batch: dict, key: PRNGKey) -> tuple[Array, Metrics]:
        del key
        check_batch_dict(batch, ("image", "label"), "the classifier loss")
        logits = model.apply(params, batch["image"])
        return cross_entropy(logits, batch["label"]), {"accuracy": accuracy(logits, batch["label"])}

    return loss_fn
