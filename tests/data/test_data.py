"""Tests of nngp_ntk.data: bundled sets, the sphere, GP targets, user files written here, preprocessing."""

from __future__ import annotations

import gzip
import pickle
import warnings

import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk import data


# ----------------------------------------------------------------------------- bundled and synthetic

@pytest.mark.slow
def test_mnist_is_a_shuffled_prefix_of_the_5000_images():
    full = data.mnist()
    assert full.X.shape == (5000, 784) and full.X.dtype == np.float64 and full.image_shape == (28, 28)
    assert np.bincount(full.y).tolist() == [500] * 10
    assert 0 <= full.X.min() and full.X.max() == 255
    part = data.mnist(100, seed=3)
    np.testing.assert_array_equal(part.X, data.mnist(seed=3).X[:100])
    assert len(np.unique(part.y)) > 5  # the stored order is by class; a prefix of the shuffle is mixed
    with pytest.raises(ValueError, match="at most 5000"):
        data.mnist(5001)


def test_digits():
    ds = data.digits(50, seed=1)
    assert ds.X.shape == (50, 64) and ds.y.shape == (50,) and ds.image_shape == (8, 8)
    assert ds.X.max() <= 16


def test_sphere_points_have_norm_sqrt_dim_and_are_uniform():
    X = data.sphere(4000, 5, seed=2)
    np.testing.assert_allclose(np.sum(X**2, axis=1), 5.0, rtol=1e-12)
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=0.1)  # E x = 0
    np.testing.assert_allclose(X.T @ X / 4000, np.eye(5), atol=0.1)  # E x x^T = I
    assert not np.array_equal(X, data.sphere(4000, 5, seed=3))
    with pytest.raises(ValueError, match="dim"):
        data.sphere(10, 0)


def test_gp_targets_have_the_kernel_as_covariance():
    net = nk.FullyConnected(depth=2, activation="relu", W_std=1.3, b_std=0.2)
    X = data.sphere(6, 3, seed=0)
    Y = data.gp_targets(net, X, kernel="nngp", n_outputs=20000, seed=1)
    assert Y.shape == (6, 20000)
    np.testing.assert_allclose(Y @ Y.T / 20000, net.kernel(X, get="nngp"), atol=0.04)
    np.testing.assert_array_equal(Y, data.gp_targets(net, X, kernel="nngp", n_outputs=20000, seed=1))
    with pytest.raises(ValueError, match="kernel"):
        data.gp_targets(net, X, kernel="rbf")


def test_resolve_targets():
    net = nk.FullyConnected(depth=1)
    X = data.sphere(30, 4)
    drawn = data.resolve_targets(net, X, None, kernel="ntk", seed=5)
    np.testing.assert_array_equal(drawn, data.gp_targets(net, X, kernel="ntk", seed=5))
    assert data.resolve_targets(net, X, np.arange(30)).shape == (30, 1)
    with pytest.raises(ValueError, match="29 rows but X has 30"):
        data.resolve_targets(net, X, np.zeros(29))
    with pytest.raises(ValueError, match="NaN"):
        data.check_targets(X, np.full(30, np.nan))


# ----------------------------------------------------------------------------- preprocessing

def test_average_pool_means_over_windows():
    images = np.arange(2 * 4 * 6 * 3, dtype=float).reshape(2, 4, 6, 3)
    pooled = data.average_pool(images.reshape(2, -1), (4, 6, 3), (2, 3))
    expected = images.reshape(2, 2, 2, 2, 3, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(pooled, expected.reshape(2, -1))
    # VALID pooling: a 5 x 5 image with window 2 keeps the top-left 4 x 4
    square = np.arange(25.0).reshape(1, 25)
    np.testing.assert_allclose(data.average_pool(square, (5, 5), 2), [[3.0, 5.0, 13.0, 15.0]])
    with pytest.raises(ValueError, match="pixels"):
        data.average_pool(square, (4, 4), 2)
    with pytest.raises(ValueError, match="window"):
        data.average_pool(square, (5, 5), 0)


def test_center_and_normalize():
    X = np.random.default_rng(0).standard_normal((20, 7)) + 3.0
    centered = data.center_features(X)
    np.testing.assert_allclose(centered.mean(axis=0), 0.0, atol=1e-12)
    normalized = data.normalize_rows(centered)
    np.testing.assert_allclose(np.linalg.norm(normalized, axis=1), np.sqrt(7))
    with pytest.raises(ValueError, match="zero norm"):
        data.normalize_rows(np.vstack([X, np.zeros(7)]))
    with pytest.raises(ValueError, match="mean must have shape"):
        data.center_features(X, mean=np.zeros(3))
    with pytest.raises(ValueError, match="2-D"):
        data.normalize_rows(np.ones(4))


def test_one_hot():
    np.testing.assert_array_equal(data.one_hot(np.array([2, 0, 1, 2])),
                                  [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert data.one_hot(np.array([0, 1]), n_classes=10).shape == (2, 10)
    for bad in (np.array([0.5, 1.0]), np.array([-1, 0]), np.zeros((2, 2))):
        with pytest.raises(ValueError):
            data.one_hot(bad)
    with pytest.raises(ValueError, match="n_classes"):
        data.one_hot(np.array([0, 5]), n_classes=3)


@pytest.mark.slow
def test_prepare_mnist_like_the_scaling_target():
    X, Y = data.prepare(data.mnist(200), pool=2)
    assert X.shape == (200, 196) and Y.shape == (200, 10)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), np.sqrt(196))
    np.testing.assert_array_equal(Y.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="rows"):
        data.prepare(data.Dataset(np.ones((3, 2)) + np.eye(3, 2), np.array([0, 1]), None))
    with pytest.raises(ValueError, match="image_shape"):
        data.prepare(data.Dataset(np.eye(3), None, None), pool=2)


# ----------------------------------------------------------------------------- user files

def _idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("compress", [False, True])
def test_load_idx_images_and_labels(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    suffix = ".gz" if compress else ""
    write = gzip.compress if compress else (lambda b: b)
    (tmp_path / f"images-idx3-ubyte{suffix}").write_bytes(write(_idx_bytes(images, 0x08)))
    (tmp_path / f"labels-idx1-ubyte{suffix}").write_bytes(write(_idx_bytes(labels, 0x08)))
    ds = data.load(tmp_path / f"images-idx3-ubyte{suffix}", labels_path=tmp_path / f"labels-idx1-ubyte{suffix}")
    np.testing.assert_array_equal(ds.X, images.reshape(5, 12))
    np.testing.assert_array_equal(ds.y, labels)
    assert ds.image_shape == (4, 3)
    floats = np.linspace(-1, 1, 6).reshape(2, 3)
    (tmp_path / "f.idx").write_bytes(_idx_bytes(floats.astype(np.float32), 0x0D))
    np.testing.assert_allclose(data.read_idx(tmp_path / "f.idx"), floats, rtol=1e-7)


def test_idx_errors(tmp_path):
    (tmp_path / "bad-idx").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(tmp_path / "bad-idx")
    truncated = _idx_bytes(np.zeros((3, 2), np.uint8), 0x08)[:-1]
    (tmp_path / "short-idx").write_bytes(truncated)
    with pytest.raises(ValueError, match="bytes"):
        data.read_idx(tmp_path / "short-idx")
    (tmp_path / "img-idx3-ubyte").write_bytes(_idx_bytes(np.zeros((3, 2, 2), np.uint8), 0x08))
    (tmp_path / "lab-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(4, np.uint8), 0x08))
    with pytest.raises(ValueError, match="labels"):
        data.load_idx(tmp_path / "img-idx3-ubyte", tmp_path / "lab-idx1-ubyte")


def test_load_npy_and_npz(tmp_path):
    X = np.random.default_rng(1).standard_normal((6, 3))
    np.save(tmp_path / "x.npy", X)
    ds = data.load(tmp_path / "x.npy")
    np.testing.assert_array_equal(ds.X, X)
    assert ds.y is None and ds.image_shape is None
    images = np.zeros((4, 2, 3, 3))
    np.save(tmp_path / "img.npy", images)
    assert data.load(tmp_path / "img.npy").image_shape == (2, 3, 3)
    np.savez(tmp_path / "named.npz", inputs=X, labels=np.arange(6))
    ds = data.load(tmp_path / "named.npz")
    np.testing.assert_array_equal(ds.y, np.arange(6))
    np.savez(tmp_path / "custom.npz", a=X, b=np.ones(6))
    with pytest.raises(ValueError, match="x_key"):
        data.load(tmp_path / "custom.npz")
    np.testing.assert_array_equal(data.load(tmp_path / "custom.npz", x_key="a", y_key="b").y, np.ones(6))
    np.savez(tmp_path / "mismatch.npz", X=X, y=np.arange(5))
    with pytest.raises(ValueError, match="labels"):
        data.load(tmp_path / "mismatch.npz")


def test_load_csv_with_header_and_label_column(tmp_path):
    rows = np.array([[0.5, 1.0, 2.0], [1.5, -1.0, 0.0], [2.5, 3.0, 1.0]])
    (tmp_path / "t.csv").write_text("a,b,label\n" + "\n".join(",".join(map(str, r)) for r in rows))
    ds = data.load(tmp_path / "t.csv", label_column=-1)
    np.testing.assert_array_equal(ds.X, rows[:, :2])
    assert ds.y.dtype == np.int64 and ds.y.tolist() == [2, 0, 1]
    plain = data.load(tmp_path / "t.csv")
    assert plain.X.shape == (3, 3) and plain.y is None
    with pytest.raises(ValueError, match="label_column"):
        data.load(tmp_path / "t.csv", label_column=5)
    (tmp_path / "text.csv").write_text("a,b\n1,x\n")
    with pytest.raises(ValueError, match="numeric"):
        data.load(tmp_path / "text.csv")


def test_load_npy_table_with_a_label_column(tmp_path):
    """An .npy table's labels are a column, as a CSV's: split off by label_column, whole numbers as int64."""
    rows = np.array([[0.5, 1.0, 2.0], [1.5, -1.0, 0.0], [2.5, 3.0, 1.0]])
    np.save(tmp_path / "t.npy", rows)
    ds = data.load(tmp_path / "t.npy", label_column=-1)
    np.testing.assert_array_equal(ds.X, rows[:, :2])
    assert ds.y.dtype == np.int64 and ds.y.tolist() == [2, 0, 1]
    np.testing.assert_array_equal(data.load(tmp_path / "t.npy", label_column=0).y, rows[:, 0])  # real labels
    assert data.load(tmp_path / "t.npy").y is None
    with pytest.raises(ValueError, match="label_column=3 is out of range for 3 columns"):
        data.load(tmp_path / "t.npy", label_column=3)
    np.save(tmp_path / "images.npy", np.zeros((4, 2, 2)))
    with pytest.raises(ValueError, match="label_column needs a table of shape \\(n, d\\)"):
        data.load(tmp_path / "images.npy", label_column=-1)


def test_data_errors_are_argument_errors(tmp_path):
    """Bad data and arguments raise the checks' InvalidArgumentError (a ValueError)."""
    from nngp_ntk._checks import InvalidArgumentError

    np.save(tmp_path / "t.npy", np.ones((3, 2)))
    for call in (lambda: data.load(tmp_path / "t.npy", label_column=7), lambda: data.one_hot(np.array([-1, 0])),
                 lambda: data.normalize_rows(np.zeros((2, 3))), lambda: data.digits(5000)):
        with pytest.raises(InvalidArgumentError):
            call()


def test_load_cifar10_batches(tmp_path):
    rng = np.random.default_rng(2)
    batches = []
    for name in ("data_batch_1", "data_batch_2", "test_batch"):
        batch = {b"data": rng.integers(0, 256, size=(3, 3072), dtype=np.uint8), b"labels": [1, 2, 3]}
        batches.append(batch)
        with open(tmp_path / name, "wb") as handle:
            pickle.dump(batch, handle)
    ds = data.load(tmp_path)
    assert ds.X.shape == (6, 3072) and ds.image_shape == (32, 32, 3) and ds.y.tolist() == [1, 2, 3] * 2
    # rows are H x W x C: the red channel of pixel (0, 1) is byte 1 of the channel-first row
    np.testing.assert_array_equal(ds.X[0].reshape(32, 32, 3)[0, 1], batches[0][b"data"][0, [1, 1025, 2049]])
    test = data.load_cifar10(tmp_path, batches=("test_batch",))
    np.testing.assert_array_equal(test.X[2].reshape(32, 32, 3)[:, :, 0].ravel(), batches[2][b"data"][2, :1024])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no data_batch"):
        data.load_cifar10(tmp_path / "empty")
    with open(tmp_path / "empty" / "data_batch_1", "wb") as handle:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, handle)
    with pytest.raises(ValueError, match="3072"):
        data.load_cifar10(tmp_path / "empty")


def test_missing_and_unknown_files_name_the_path(tmp_path):
    missing = tmp_path / "nothere.npy"
    with pytest.raises(FileNotFoundError, match="nothere.npy"):
        data.load(missing)
    with pytest.raises(FileNotFoundError, match="nope"):
        data.load_cifar10(tmp_path / "nope")
    (tmp_path / "x.bin").write_bytes(b"123")
    with pytest.raises(ValueError, match="x.bin"):
        data.load(tmp_path / "x.bin")


@pytest.mark.parametrize("content", ["", "a,b,c\n"])
def test_an_empty_csv_is_refused_without_a_numpy_warning(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_text(content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="holds no data rows"):
            data.load_csv(path)
