"""genjax.data: real images, cache robustness, mixtures, and jit-friendly batching."""

import jax
import numpy as np
import pytest

from genjax import data
from genjax.data import images as images_lib


@pytest.fixture(scope="module")
def mnist():
    return data.load_mnist("train"), data.load_mnist("test")


def test_mnist_split_shapes_range_and_balance(mnist):
    train, test = mnist
    assert train.images.shape == (4000, 28, 28) and test.images.shape == (1000, 28, 28)
    assert train.images.dtype == np.float32 and train.labels.dtype == np.int32
    assert 0.0 <= train.images.min() and train.images.max() <= 1.0 and train.images.max() > 0.99
    np.testing.assert_array_equal(np.bincount(train.labels, minlength=10), np.full(10, 400))
    np.testing.assert_array_equal(np.bincount(test.labels, minlength=10), np.full(10, 100))
    # Shuffled: the source file is sorted by label.
    assert len(np.unique(train.labels[:50])) > 5
    assert train.flat().shape == (4000, 784)


def test_mnist_train_and_test_are_disjoint(mnist):
    train, test = mnist
    train_rows = {row.tobytes() for row in train.flat()}
    assert not any(row.tobytes() in train_rows for row in test.flat())


def test_mnist_cache_is_rebuilt_when_corrupt(tmp_path, monkeypatch, mnist):
    monkeypatch.setenv(data.CACHE_ENV_VAR, str(tmp_path))
    assert data.cache_dir() == tmp_path
    # Count builds instead of re-parsing the CSV each time (the fixture parsed it).
    train, test = mnist
    arrays = {
        "train_images": train.images,
        "train_labels": train.labels,
        "test_images": test.images,
        "test_labels": test.labels,
        "version": np.asarray(images_lib._CACHE_VERSION),
    }
    builds = []

    def counting_build():
        builds.append(1)
        return arrays

    monkeypatch.setattr(images_lib, "_build_mnist_arrays", counting_build)
    first = data.load_mnist("train")
    cache_file = tmp_path / "mnist5k.npz"
    assert cache_file.exists() and len(builds) == 1
    good = cache_file.read_bytes()
    data.load_mnist("train")
    assert len(builds) == 1  # a valid cache is read, not rebuilt
    for corrupt in (b"not a zip file", good[:1000]):  # garbage; a half-written file
        cache_file.write_bytes(corrupt)
        np.testing.assert_array_equal(data.load_mnist("test").labels, test.labels)
    np.savez(cache_file, train_images=np.zeros((3, 2)))  # well-formed, wrong content
    np.testing.assert_array_equal(data.load_mnist("train").labels, first.labels)
    assert len(builds) == 4
    data.load_mnist("train")
    assert len(builds) == 4  # the rebuilt file is valid
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no debris


def test_digits():
    train, test = data.load_digits("train"), data.load_digits("test")
    assert train.num_examples + test.num_examples == 1797
    assert train.image_shape == (8, 8) and train.levels == 17
    raw = train.images * 16
    np.testing.assert_allclose(raw, np.round(raw), atol=1e-5)
    assert raw.max() == 16


def test_bad_names_and_splits():
    with pytest.raises(ValueError, match="unknown image dataset 'cifar'"):
        data.load_images("cifar")
    with pytest.raises(ValueError, match="split must be"):
        data.load_mnist("valid")
    with pytest.raises(ValueError, match="unknown mixture"):
        data.load_mixture("spiral")


def test_binarisation():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(data.binarize(x)), (x > 0.5).astype(np.float32))
    images = np.full((200, 28, 28), 0.3, np.float32)
    b1 = np.asarray(data.dynamic_binarize(jax.random.PRNGKey(0), images))
    b2 = np.asarray(data.dynamic_binarize(jax.random.PRNGKey(1), images))
    assert set(np.unique(b1)) == {0.0, 1.0}
    assert abs(b1.mean() - 0.3) < 0.01  # 156,800 Bernoulli(0.3) draws
    assert (b1 != b2).mean() > 0.3  # fresh per key


def test_ring_has_eight_distinct_modes():
    modes = data.ring_modes()
    assert modes.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(modes, axis=1), 1.0, rtol=1e-6)
    dists = np.linalg.norm(modes[:, None] - modes[None], axis=-1) + np.eye(8) * 10
    np.testing.assert_allclose(dists.min(), 2 * np.sin(np.pi / 8), rtol=1e-5)


def test_grid_modes_and_samples():
    modes = data.grid_modes()
    assert modes.shape == (25, 2)
    np.testing.assert_allclose(np.unique(modes[:, 0]), [-4, -2, 0, 2, 4])
    x = np.asarray(data.grid_of_gaussians(jax.random.PRNGKey(0), 20000))
    nearest = np.linalg.norm(x[:, None] - modes[None], axis=-1).argmin(1)
    residual = x - modes[nearest]
    np.testing.assert_allclose(residual.std(0), 0.05, rtol=0.05)
    counts = np.bincount(nearest, minlength=25)
    assert counts.min() > 0.8 * 20000 / 25
    ring = np.asarray(data.ring_of_gaussians(jax.random.PRNGKey(1), 5000))
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1).mean(), 1.0, atol=0.01)


def test_batches_cover_each_epoch_once_and_reshuffle():
    key = jax.random.PRNGKey(3)
    n, bs = 103, 10
    per_epoch = data.steps_per_epoch(n, bs)
    assert per_epoch == 10
    epoch0 = np.concatenate([np.asarray(data.batch_indices(key, s, n, bs)) for s in range(10)])
    epoch1 = np.concatenate([np.asarray(data.batch_indices(key, s, n, bs)) for s in range(10, 20)])
    assert len(np.unique(epoch0)) == 100 and len(np.unique(epoch1)) == 100
    assert not np.array_equal(epoch0, epoch1)
    np.testing.assert_array_equal(data.batch_indices(key, 13, n, bs), epoch1[30:40])


def test_make_batch_fn_is_pure_in_step_and_checks_input():
    x = np.arange(50, dtype=np.float32).reshape(25, 2)
    y = np.arange(25)
    fn = data.make_batch_fn({"x": x, "y": y}, 5, jax.random.PRNGKey(0))
    b = fn(7)
    assert b["x"].shape == (5, 2)
    np.testing.assert_array_equal(b["x"][:, 0], 2 * b["y"])  # rows stay aligned
    np.testing.assert_array_equal(fn(7)["y"], b["y"])
    with pytest.raises(ValueError, match="leading"):
        data.make_batch_fn({"x": x, "y": y[:3]}, 5, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="exceeds the dataset size"):
        data.make_batch_fn(x, 26, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        data.make_batch_fn(x, 0, jax.random.PRNGKey(0))
