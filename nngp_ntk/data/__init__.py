"""Datasets: bundled real images, points on the sphere, teacher-student targets, user files, preprocessing.

Every loader returns a ``Dataset(X, y, image_shape)``: ``X`` of shape (n, d) as float64 (an image
flattened row-major from ``image_shape`` = (H, W) or (H, W, C)), ``y`` the integer labels of shape
(n,) or None. Preprocessing maps (n, d) arrays to (n, d') arrays (pooling, centering, rows put on
the sphere of radius sqrt(d)) and labels to one-hot targets.

Teacher-student targets are one draw y ~ N(0, K(X, X)) from the GP of a network's kernel.
This package imports nothing from the rest of the library but its argument checks: networks are
used only through ``net.kernel(X, get=kernel)``.

The parts live in submodules, and every public name is re-exported here:

    datasets:       the Dataset type, bundled MNIST and digits, the sphere, GP targets, target checks
    splits:         the held-out test set and the default training sizes of an experiment
    preprocessing:  average_pool, center_features, normalize_rows, one_hot, prepare
    files:          user files: .npy, .npz, CSV, IDX, CIFAR-10 python batches, and ``load``
"""

from nngp_ntk.data._datasets import Dataset, check_targets, digits, gp_targets, mnist, resolve_targets, sphere
from nngp_ntk.data._files import load, load_cifar10, load_csv, load_idx, load_npy, load_npz, read_idx
from nngp_ntk.data._preprocessing import average_pool, center_features, normalize_rows, one_hot, prepare
from nngp_ntk.data._splits import FIRST_SIZE, MAX_TEST, TEST_FRACTION, default_sizes, held_out_count

__all__ = [
    "Dataset", "mnist", "digits", "sphere", "gp_targets", "check_targets", "resolve_targets",
    "TEST_FRACTION", "MAX_TEST", "FIRST_SIZE", "held_out_count", "default_sizes",
    "average_pool", "center_features", "normalize_rows", "one_hot", "prepare",
    "load_npy", "load_npz", "load_csv", "read_idx", "load_idx", "load_cifar10", "load",
]
