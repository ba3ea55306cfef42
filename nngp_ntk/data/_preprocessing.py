"""Preprocessing: maps of points (n, d) to points (n, d'), and of labels to targets:

    average_pool:     x[h, w, c] -> mean of x over each (p_h, p_w) window (VALID: remainders dropped)
    center_features:  x_i -> x_i - mean_j x_j                  (per feature)
    normalize_rows:   x_i -> sqrt(d) x_i / |x_i|               (so x_i . x_i = d, the sphere of radius sqrt(d))
    one_hot:          label c -> e_c in R^{n_classes}

``prepare`` chains them on a ``Dataset`` into the (X, Y) of an experiment.
"""

from __future__ import annotations

import numpy as np

from nngp_ntk._checks import ArgumentValueError, check_integer, check_points
from nngp_ntk.data._datasets import Dataset, check_targets


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
        raise ArgumentValueError(f"image_shape must be (H, W) or (H, W, C) of positive sizes, got {image_shape!r}")
    if int(np.prod(shape)) != X.shape[1]:
        raise ArgumentValueError(f"image_shape {shape} has {int(np.prod(shape))} pixels but X has {X.shape[1]} "
                                 "features")
    pool = tuple(window) if isinstance(window, (tuple, list)) else (window, window)
    if len(pool) != 2:
        raise ArgumentValueError(f"window must be a positive integer or a pair of them, got {window!r}")
    pool = tuple(check_integer("window", p, minimum=1) for p in pool)
    (height, width), channels = shape[:2], shape[2] if len(shape) == 3 else 1
    if pool[0] > height or pool[1] > width:
        raise ArgumentValueError(f"window {pool} is larger than the image ({height}, {width})")
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
        raise ArgumentValueError(f"mean must have shape ({X.shape[1]},), got {mean.shape}")
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
        raise ArgumentValueError(f"cannot normalize rows of zero norm (rows {zero[:5].tolist()}"
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
        raise ArgumentValueError(f"y must be a non-empty 1-D array of integer labels, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.number) or np.iscomplexobj(y) or np.any(np.mod(y, 1) != 0) or y.min() < 0:
        raise ArgumentValueError("y must hold non-negative integer class labels")
    labels = y.astype(np.int64)
    count = int(labels.max()) + 1
    check_integer("n_classes", n_classes, minimum=1, allow_none=True)
    if n_classes is not None and n_classes < count:
        raise ArgumentValueError(f"n_classes={n_classes} but y holds label {count - 1}")
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
        >>> from nngp_ntk.data import digits
        >>> X, Y = prepare(digits(20, seed=0), pool=2)
        >>> X.shape, Y.shape, np.allclose(np.sum(X**2, axis=1), 16.0)
        ((20, 16), (20, 10), True)
    """
    X = dataset.X
    if pool is not None:
        if dataset.image_shape is None:
            raise ArgumentValueError("pool needs a dataset with an image_shape")
        X = average_pool(X, dataset.image_shape, pool)
    if center:
        X = center_features(X)
    if normalize:
        X = normalize_rows(X)
    y = dataset.y
    if y is not None:
        y = check_targets(X, one_hot(y) if one_hot_labels else y)
    return check_points(X), y
