"""User files: .npy, .npz, CSV, IDX (MNIST's format) and CIFAR-10 python batches, each as a ``Dataset``.

An array of shape (n, d) gives the rows of X; one of shape (n, H, W) or (n, H, W, C) gives images,
flattened row-major with their ``image_shape`` kept. ``load`` picks the loader by the file's kind.
"""

from __future__ import annotations

import gzip
import pickle
import warnings
from pathlib import Path

import numpy as np

from nngp_ntk._checks import ArgumentValueError, check_points
from nngp_ntk.data._datasets import Dataset

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_NPZ_FEATURE_KEYS = ("X", "x", "data", "images", "inputs", "features")
_NPZ_LABEL_KEYS = ("y", "Y", "labels", "targets", "label", "target")


def _existing(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {str(path)!r}")
    return path


def _images(array: np.ndarray, labels: np.ndarray | None, source: Path) -> Dataset:
    """(n, ...) array -> Dataset with rows flattened; a (n, H, W[, C]) array keeps its image shape."""
    array = np.asarray(array)
    if array.ndim < 2:
        raise ArgumentValueError(f"{str(source)!r} holds an array of shape {array.shape}; expected (n_points, ...) "
                                 f"with at least 2 dimensions")
    image_shape = tuple(array.shape[1:]) if array.ndim in (3, 4) else None
    X = check_points(array.reshape(len(array), -1))
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim == 0 or len(labels) != len(X):
            raise ArgumentValueError(f"{str(source)!r}: labels have shape {labels.shape} but the data has "
                                     f"{len(X)} rows")
    return Dataset(X, labels, image_shape)


def _split_labels(table: np.ndarray, label_column: int, source: Path) -> Dataset:
    """The columns of an (n, d) table but ``label_column`` as X, that column as the labels (int64 when
    every value is a whole number)."""
    if table.ndim != 2:
        raise ArgumentValueError(f"label_column needs a table of shape (n, d), but {str(source)!r} holds an array of "
                                 f"shape {table.shape}")
    if table.shape[1] < 2 or not -table.shape[1] <= label_column < table.shape[1]:
        raise ArgumentValueError(f"label_column={label_column} is out of range for {table.shape[1]} columns in "
                                 f"{str(source)!r}")
    labels = table[:, label_column]
    if np.all(np.mod(labels, 1) == 0):
        labels = labels.astype(np.int64)
    return Dataset(check_points(np.delete(table, label_column, axis=1)), labels, None)


def load_npy(path: str | Path, label_column: int | None = None) -> Dataset:
    """An .npy array of shape (n, d), or (n, H, W[, C]) images (then flattened, image_shape kept).

    Args:
        path: the .npy file.
        label_column: index of a column of an (n, d) array to split off as the labels (e.g. 0 or -1),
            or None: no labels.

    Returns:
        ``Dataset(X, y, image_shape)``: y None without ``label_column``; integer-valued labels come as int64.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an array with fewer than 2 dimensions, or not finite; a ``label_column`` out of
            range, or given for images.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "images.npy")
        >>> np.save(path, np.zeros((3, 4, 4)))
        >>> dataset = load_npy(path)
        >>> dataset.X.shape, dataset.image_shape
        ((3, 16), (4, 4))
        >>> np.save(path, np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 1.0]]))
        >>> load_npy(path, label_column=-1).y.tolist()
        [0, 1]
    """
    path = _existing(path)
    array = np.load(path, allow_pickle=False)
    if label_column is None:
        return _images(array, None, path)
    return _split_labels(np.asarray(array, dtype=np.float64), label_column, path)


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
            raise ArgumentValueError(f"{str(path)!r} has no array {x_key or ' / '.join(_NPZ_FEATURE_KEYS)!r}; "
                                     f"it holds {keys} (choose one with x_key=...)")
        y_name = y_key or next((k for k in _NPZ_LABEL_KEYS if k in keys), None)
        if y_key is not None and y_key not in keys:
            raise ArgumentValueError(f"{str(path)!r} has no array {y_key!r}; it holds {keys}")
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
        raise ArgumentValueError(f"{str(path)!r} is not a numeric CSV table: {error}") from None
    if table.size == 0:
        raise ArgumentValueError(f"{str(path)!r} holds no data rows")
    if label_column is None:
        return Dataset(check_points(table), None, None)
    return _split_labels(table, label_column, path)


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
        raise ArgumentValueError(f"{str(path)!r} is not an IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(s) for s in np.frombuffer(raw[4:header], dtype=">u4"))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ArgumentValueError(f"{str(path)!r}: the header says shape {shape} ({expected} bytes of data) "
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
            raise ArgumentValueError(f"{str(labels_path)!r} must hold a 1-D array of labels, got shape {labels.shape}")
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
        raise ArgumentValueError(f"{str(folder)!r} must be a folder holding CIFAR-10 python batches")
    names = batches if batches is not None else tuple(sorted(p.name for p in folder.glob("data_batch_*")))
    if not names:
        raise ArgumentValueError(f"{str(folder)!r} holds no data_batch_* files (name the batches to load with "
                                 "batches=...)")
    images, labels = [], []
    for name in names:
        with open(_existing(folder / name), "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
            raise ArgumentValueError(f"{str(folder / name)!r} is not a CIFAR-10 python batch (no data/labels entries)")
        data = np.asarray(batch[b"data"])
        if data.ndim != 2 or data.shape[1] != 3072 or len(batch[b"labels"]) != len(data):
            raise ArgumentValueError(f"{str(folder / name)!r}: expected data of shape (n, 3072) and n labels, "
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
    raise ArgumentValueError(f"cannot tell the format of {str(path)!r}: expected a folder, .npy, .npz, .csv, .txt "
                             f"or an IDX file (…-idx3-ubyte[.gz])")
