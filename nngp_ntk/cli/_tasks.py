"""The experiments the ``nngp-ntk`` command runs, each from a validated config (``nngp_ntk.cli._config``).

A task loads its data (``load_data``: a bundled dataset, points on the sphere or a user file,
then pooling, centering and row normalization), builds the ``FullyConnected`` network of
``[network]``, computes, and writes its results into the output folder through ``Output``, which
checks before any work that the folder can be written and replaces every file atomically (written
under a temporary name, then ``os.replace``), so a result is never left half-written. The tasks::

    kernel     K(X, X) to .npy (in memory), or tile by tile into a folder (out of core, resumable)
    regress    the mean prediction of the trained infinite network on test points, MSE, accuracy
    spectrum   eigenvalues of K/N and the power-law fit lambda_i ~ A i^-(1 + alpha_K_sample) of them, and
               with the whole spectrum the kernel operator's alpha_K (``theory.operator_exponent``)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pickle
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from nngp_ntk import data as datasets
from nngp_ntk import solver, spectrum, theory
from nngp_ntk.cli import _config as configs
from nngp_ntk.cli._config import ConfigError
from nngp_ntk.cli._schema import Config
from nngp_ntk.cli._text import POOR, UNRELIABLE, fit_interval, legend
from nngp_ntk.kernels import FullyConnected, Network, Sequential
from nngp_ntk.kernels import from_spec


class Problem(NamedTuple):
    """Preprocessed points X (n, d), targets Y (n, k) or None, whether Y one-hot encodes classes, and
    a line saying where GP targets came from and why ('' for the data's labels; ``targets_note``)."""

    X: np.ndarray
    Y: np.ndarray | None
    classes: bool
    note: str = ""


class Output:
    """The output folder of a task: created and checked for writing up front; files replaced atomically."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder).expanduser()
        check_writable_folder(self.folder)

    @contextlib.contextmanager
    def _atomic(self, name: str) -> Iterator[Path]:
        """A temporary path beside ``name``; renamed onto it when the block succeeds, removed otherwise."""
        final = self.folder / name
        temporary = self.folder / f".{name}.{os.getpid()}.tmp"
        try:
            yield temporary
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)

    def json(self, name: str, content: dict[str, Any]) -> Path:
        """Write ``content`` as indented JSON (NumPy scalars and arrays converted)."""
        with self._atomic(name) as path:
            path.write_text(json.dumps(_finite(content), indent=2, default=_plain, allow_nan=False) + "\n",
                            encoding="utf-8")
        return self.folder / name

    def npy(self, name: str, array: np.ndarray) -> Path:
        """Write ``array`` as .npy."""
        with self._atomic(name) as path, open(path, "wb") as handle:
            np.save(handle, np.asarray(array))
        return self.folder / name

    def figure(self, name: str, draw: Callable[[Path], None]) -> Path:
        """Write a PNG: ``draw(path)`` saves a figure to the temporary path given."""
        with self._atomic(name) as path:
            draw(path)
        return self.folder / name


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float (also inside arrays) replaced by None: JSON has no NaN."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return _finite(value.tolist())
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        return None
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def check_writable_folder(folder: Path) -> None:
    """Create ``folder`` if needed and check that files can be created in it.

    Args:
        folder: the output folder.

    Raises:
        ConfigError: the path is a file, or the folder cannot be created or written into.

    Example:
        >>> import tempfile
        >>> check_writable_folder(Path(tempfile.mkdtemp()) / "new")
        >>> check_writable_folder(Path("/proc/nngp-ntk"))
        Traceback (most recent call last):
        ...
        nngp_ntk.cli._config.ConfigError: cannot create output folder '/proc/nngp-ntk': ...
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"output folder {str(folder)!r} exists and is not a folder") from None
    except OSError as error:
        raise ConfigError(f"cannot create output folder {str(folder)!r}: {error.strerror}") from None
    probe = folder / f".write-test.{os.getpid()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as error:        # the folder exists: the error is about the file it refused
        raise ConfigError(f"cannot write into output folder {str(folder)!r}: creating a file there failed "
                          f"({error.strerror})") from None


# ----------------------------------------------------------------------------- data and network

def build_network(config: Config) -> Network:
    """The network of ``[network]``: the ``Sequential`` of its ``layers``, else a ``FullyConnected``."""
    arguments = dataclasses.asdict(config.network)
    layers = arguments.pop("layers")
    if layers is not None:
        return Sequential(*from_spec(layers, "network.layers"))
    return FullyConnected(**arguments)


def _subset(dataset: datasets.Dataset, n: int | None, seed: int, at_most: int | None = None) -> datasets.Dataset:
    """A seeded random subset of n rows of a file, kept in file order (all rows when n is None; with
    n None and ``at_most`` given, at most that many, as ``--fast`` takes)."""
    if n is None and at_most is not None and at_most < len(dataset.X):
        n = at_most
    if n is None:
        return dataset
    if n > len(dataset.X):
        raise ConfigError(f"data.n = {n} but the data holds only {len(dataset.X)} points")
    rows = np.sort(np.random.default_rng(seed).permutation(len(dataset.X))[:n])
    return datasets.Dataset(dataset.X[rows], None if dataset.y is None else dataset.y[rows], dataset.image_shape)


#: Files whose labels, if any, are a column named by data.label_column (--label-column).
TABLES = (".csv", ".txt", ".npy")
#: How labels are given, for messages about missing ones.
HOW_TO_LABEL = ("--label-column J (data.label_column) reads the labels from column J of a CSV or .npy table "
                "(e.g. -1, the last); an .npz holds them as y")


def read_file(path: str, label_column: int | None = None, key: str = "data.path") -> datasets.Dataset:
    """A user data file or CIFAR-10 folder through ``nngp_ntk.data.load``; a missing file or one
    that cannot be parsed is a ConfigError naming it and the config ``key`` that gave it."""
    options = {}
    if label_column is not None:
        if not path.lower().endswith(TABLES):
            raise ConfigError(f"data.label_column (--label-column) names a column of a CSV or .npy table, not of "
                              f"{path!r} (an .npz holds its labels as y; IDX and CIFAR-10 files carry their own)")
        options["label_column"] = label_column
    try:
        return datasets.load(path, **options)
    except (ValueError, OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as error:
        text = " ".join(str(error).split())
        raise ConfigError(f"{key}: {text}" if path in text else f"{key}: cannot read {path!r}: {text}") from None


def load_dataset(config: Config) -> datasets.Dataset:
    """The raw points of ``[data]``: mnist / digits (a seeded random subset of n), n points on the
    sphere of radius sqrt(dim), or a file (a seeded random subset of n rows, in file order; in a
    fast run with n not given, at most ``configs.fast_points`` of them)."""
    data, seed = config.data, config.seed
    if data.source == "mnist":
        return datasets.mnist(data.n, seed)
    if data.source == "digits":
        return datasets.digits(data.n, seed)
    if data.source == "sphere":
        return datasets.Dataset(datasets.sphere(data.n, data.dim, seed), None, None)
    at_most = configs.fast_points(config.task) if config.fast else None
    return _subset(read_file(data.path, data.label_column), data.n, seed, at_most)


def data_name(config: Config) -> str:
    """The data as the messages name it: the file's name, or the dataset."""
    return Path(config.data.path).name if config.data.source == "file" else config.data.source


def _label_hint(config: Config, dataset: datasets.Dataset) -> str:
    """' (its last column holds only the whole numbers 0..9: labels? then add --label-column -1)' when
    the first or last column of a CSV or .npy table without labels looks like class labels (whole
    numbers, 2 to 100 distinct values, fewer than half the rows); '' otherwise."""
    X = dataset.X
    if config.data.source != "file" or not config.data.path.lower().endswith(TABLES) or \
            dataset.image_shape is not None or X.shape[1] < 2:
        return ""
    for index, name in ((-1, "last"), (0, "first")):
        column = X[:, index]
        distinct = np.unique(column)
        if np.all(np.mod(column, 1) == 0) and 2 <= len(distinct) <= min(100, len(column) // 2):
            return (f" (its {name} column holds only the whole numbers {distinct[0]:.0f}..{distinct[-1]:.0f}: "
                    f"labels? then add --label-column {index})")
    return ""


def check_labels(config: Config, dataset: datasets.Dataset) -> None:
    """Refuse data.targets = "labels" on data without labels, saying how to give them.

    Raises:
        ConfigError: naming --label-column (data.label_column) for a file.
    """
    if config.data.targets == "labels" and dataset.y is None:
        how = f": {HOW_TO_LABEL}" if config.data.source == "file" else ""
        raise ConfigError(f"data.targets = \"labels\" (--targets labels) but {data_name(config)} has no "
                          f"labels{_label_hint(config, dataset)}{how}")


def targets_note(config: Config, dataset: datasets.Dataset, kernel: str, points: str = "the points") -> str:
    """The line that says the targets are a GP draw, and why ('' when they are the data's labels).

    Args:
        config: a typed config.
        dataset: the raw data (its labels, and for a hint its columns).
        kernel: the kernel whose GP draws the targets.
        points: what the draw covers, in words.

    Returns:
        The line, or ''.
    """
    draw = f"targets: one draw from the GP of the {kernel.upper()} at {points} (teacher = student)"
    if dataset.y is not None and config.data.targets == "gp":
        return f"{draw}, not the labels of {data_name(config)} (--targets gp)"
    if dataset.y is not None:
        return ""
    if config.data.source != "file":
        return f"{draw}: {data_name(config)} has no labels"
    return f"{draw}: {data_name(config)} has no labels{_label_hint(config, dataset)}; {HOW_TO_LABEL}"


def pooled(config: Config, dataset: datasets.Dataset) -> np.ndarray:
    """The points of ``dataset``, average-pooled over data.pool x data.pool windows when set (images only)."""
    if config.data.pool is None:
        return dataset.X
    if dataset.image_shape is None:
        raise ConfigError("data.pool needs images: give an (n, H, W[, C]) array or a CIFAR-10 folder")
    return datasets.average_pool(dataset.X, dataset.image_shape, config.data.pool)


def standardize(config: Config, X: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
    """x - mean (data.center; default mean: X's own, per feature), then sqrt(d) x / |x| (data.normalize)."""
    if config.data.center:
        X = datasets.center_features(X, mean)
    if config.data.normalize:
        X = datasets.normalize_rows(X)
    return X


def encode_labels(labels: np.ndarray, n_classes: int | None = None) -> tuple[np.ndarray, bool]:
    """Integer labels one-hot (classes) or real labels as an (n, k) regression target.

    Args:
        labels: the labels, shape (n,) or (n, k).
        n_classes: columns of the one-hot encoding (default max + 1).

    Returns:
        (targets (n, k) float64, whether they are classes).

    Raises:
        ConfigError: integer labels below 0 (classes are 0, 1, 2, ...).

    Example:
        >>> encode_labels(np.array([0, 2]))
        (array([[1., 0., 0.],
               [0., 0., 1.]]), True)
        >>> encode_labels(np.array([0.5, 1.5]))[0].shape
        (2, 1)
    """
    labels = np.asarray(labels)
    if np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool:
        if labels.size and labels.min() < 0:
            raise ConfigError(f"integer labels are classes 0, 1, 2, ...; got {labels.min()}: write them as real "
                              "numbers (e.g. -1.0) to regress on their values")
        return datasets.one_hot(labels.astype(np.int64), n_classes), True
    return labels.reshape(len(labels), -1).astype(np.float64), False


def load_problem(config: Config, net: Network | None = None, kernel: str = "ntk") -> Problem:
    """Preprocessed points and targets of ``[data]``: labels (one-hot for integer labels) when
    targets = labels (or auto and labels exist), else one draw from the GP of ``net``'s kernel (Y
    None without ``net``), with the line that says so (``targets_note``).

    Raises:
        ConfigError: targets = labels on data without labels (``check_labels``), or bad labels.
    """
    dataset = load_dataset(config)
    check_labels(config, dataset)
    X = standardize(config, pooled(config, dataset))
    if dataset.y is not None and config.data.targets != "gp":
        Y, classes = encode_labels(dataset.y)
        return Problem(X, Y, classes)
    if net is None:
        return Problem(X, None, False)
    return Problem(X, datasets.gp_targets(net, X, kernel=kernel, seed=config.seed), False,
                   targets_note(config, dataset, kernel))


# ----------------------------------------------------------------------------- kernel, regress, spectrum

def run_kernel(config: Config, progress: bool | None) -> list[str]:
    """K(X, X) of the preprocessed data.

    ``out`` ending in .npy is one file; otherwise a folder with nngp.npy and/or ntk.npy
    (``out_of_core``: written tile by tile as memory maps).

    Args:
        config: a typed config of task "kernel".
        progress: show progress bars (None: when stderr is a terminal).

    Returns:
        The lines to print.
    """
    net = build_network(config)
    names = ("nngp", "ntk") if config.kernel.get == "both" else (config.kernel.get,)
    out = Path(config.out).expanduser()
    single = out.suffix == ".npy"
    if single and config.kernel.out_of_core:
        raise ConfigError("kernel.out_of_core writes a folder: give out as a folder, not a .npy file")
    output = Output(out.parent if single else out)
    X = standardize(config, pooled(config, load_dataset(config)))
    if config.kernel.out_of_core:
        net.kernel(X, get=names, out=out, progress=progress)
        return [f"wrote {', '.join(f'{n}.npy' for n in names)} ({len(X)} x {len(X)}) to {out}/ tile by tile"]
    kernels = net.kernel(X, get=names, progress=progress)
    paths = [output.npy(out.name if single else f"{name}.npy", getattr(kernels, name)) for name in names]
    return [f"wrote {path} ({len(X)} x {len(X)}, {getattr(kernels, names[0]).dtype})" for path in paths]


def run_regress(config: Config, progress: bool | None) -> list[str]:
    """Train on [data] and predict the test file (or test_size held-out points).

    Writes predictions.npy, and metrics.json with MSE = mean((f - Y)^2) and, for integer labels, the
    accuracy of the argmax.

    Args:
        config: a typed config of task "regress".
        progress: show progress bars (None: when stderr is a terminal).

    Returns:
        The lines to print.

    Without labels in the training data (or with targets = gp), the targets of the training and
    test points are one joint draw from the GP of the kernel (teacher = student), and the MSE is
    measured against the test points' draw.

    Raises:
        ConfigError: targets = labels on training data without labels, test data with another
            feature count, or a test_size that leaves no training points.
    """
    section = config.regress
    net = build_network(config)
    output = Output(config.out)
    train = load_dataset(config)
    check_labels(config, train)
    labelled = train.y is not None and config.data.targets != "gp"
    if section.test_path is not None:
        test = read_file(section.test_path, config.data.label_column if labelled else None, key="regress.test_path")
        if test.X.shape[1] != train.X.shape[1]:
            raise ConfigError(f"the test data has {test.X.shape[1]} features but the training data "
                              f"{train.X.shape[1]}")
    else:
        if section.test_size >= len(train.X):
            raise ConfigError(f"regress.test_size = {section.test_size} leaves no training points "
                              f"out of {len(train.X)}")
        order = np.random.default_rng(config.seed + 1).permutation(len(train.X))
        held, kept = order[:section.test_size], order[section.test_size:]
        test = datasets.Dataset(train.X[held], None if train.y is None else train.y[held], train.image_shape)
        train = datasets.Dataset(train.X[kept], None if train.y is None else train.y[kept], train.image_shape)
    X_train = pooled(config, train)
    mean = X_train.mean(axis=0)
    X_train, X_test = standardize(config, X_train, mean), standardize(config, pooled(config, test), mean)
    lines = []
    n_classes = None
    if labelled:
        if np.issubdtype(np.asarray(train.y).dtype, np.integer) and test.y is not None:
            n_classes = int(max(np.max(train.y), np.max(test.y))) + 1
        Y, classes = encode_labels(train.y, n_classes)
        Y_test = None if test.y is None else encode_labels(test.y, n_classes)[0]
    else:
        draw = datasets.gp_targets(net, np.concatenate([X_train, X_test]), kernel=section.kernel, seed=config.seed)
        Y, Y_test, classes = draw[:len(X_train)], draw[len(X_train):], False
        lines.append(targets_note(config, train, section.kernel, points="the training and test points"))
    prediction = np.asarray(solver.predict(net, X_train, Y, X_test, t=section.t, kernel=section.kernel,
                                           ridge=section.ridge, method=section.method, centers=section.centers,
                                           center_selection=section.center_selection, seed=config.seed,
                                           out=section.store, progress=progress), dtype=np.float64)
    output.npy("predictions.npy", prediction)
    metrics: dict[str, Any] = {"n_train": len(X_train), "n_test": len(X_test), "kernel": section.kernel,
                               "targets": "labels" if labelled else "gp"}
    lines.append(f"trained on {len(X_train)} points, predicted {len(X_test)}: {output.folder / 'predictions.npy'}")
    if classes:
        output.npy("labels.npy", np.argmax(prediction, axis=1))
    if Y_test is not None:
        metrics["mse"] = float(np.mean((prediction - Y_test) ** 2))
        lines.append(f"test MSE {metrics['mse']:.4g}")
        if classes:
            metrics["accuracy"] = float(np.mean(np.argmax(prediction, axis=1) == np.asarray(test.y)))
            lines[-1] += f", accuracy {metrics['accuracy']:.4f}"
    metrics["config"] = config.as_dict()
    output.json("metrics.json", metrics)
    return lines


def run_spectrum(config: Config, progress: bool | None, plots: bool) -> list[str]:
    """Eigenvalues of K/N (eigenvalues.npy), the power-law fit (spectrum.json) and spectrum.png.

    Args:
        config: a typed config of task "spectrum".
        progress: show progress bars (None: when stderr is a terminal).
        plots: write spectrum.png.

    Returns:
        The lines to print.
    """
    section = config.spectrum
    net = build_network(config)
    output = Output(config.out)
    problem = load_problem(config)
    values = spectrum.eigenvalues(net, problem.X, kernel=section.kernel, top_k=section.top_k,
                                  method=section.method, seed=config.seed, progress=bool(progress))
    fit = spectrum.fit_power_law(values, window=section.window, n_samples=len(problem.X), seed=config.seed)
    output.npy("eigenvalues.npy", values)
    summary = {"alpha_K": None, "alpha_K_ci": None, "alpha_K_reason": None, "alpha_K_poor_reason": None,
               "alpha_K_indices": None, "alpha_K_sample": fit.alpha,
               "alpha_K_sample_ci": list(fit.ci), "alpha_K_sample_reason": fit.reason or None,
               "alpha_K_sample_poor_reason": fit.poor_reason or None,
               "confidence": fit.confidence, "window": list(fit.window), "amplitude": fit.amplitude,
               "n_points": len(problem.X), "n_eigenvalues": len(values), "config": config.as_dict()}
    lines = []
    operator = None
    if len(values) == len(problem.X):       # the whole spectrum: the kernel operator's exponent
        sizes = datasets.default_sizes(len(values) - datasets.held_out_count(len(values)))
        operator = theory.operator_exponent(theory.Renormalized(values, values).curve(sizes))
        summary.update(alpha_K=operator.alpha, alpha_K_ci=list(operator.ci), alpha_K_reason=operator.reason or None,
                       alpha_K_poor_reason=operator.poor_reason or None,
                       alpha_K_indices=[float(sizes[0]), float(sizes[-1])])
        lines.append(f"alpha_K        = {fit_interval(operator)}  (the kernel operator's "
                     f"lambda_i ~ i^-(1 + alpha_K), renormalized, at i ~ {sizes[0]:.0f}..{sizes[-1]:.0f})")
    else:
        lines.append(f"alpha_K: needs all {len(problem.X)} eigenvalues (top_k = {len(values)}): only alpha_K_sample")
    lines.append(f"alpha_K_sample = {fit_interval(fit)}  (power law of the sample eigenvalues of K/N "
                 f"on i = {fit.window[0]}..{fit.window[1]} of {len(values)})")
    for name, each in (("alpha_K", operator), ("alpha_K_sample", fit)):
        if each is not None and each.reason:
            lines.append(f"{name}: {UNRELIABLE}, {each.reason}")
        elif each is not None and each.poor:
            lines.append(f"{name}: {POOR}, {each.poor_reason}")
    lines += legend(lines)
    output.json("spectrum.json", summary)
    if plots:
        from nngp_ntk.cli import _plots as figures

        mark = None if operator is None else (fit_interval(operator), tuple(summary["alpha_K_indices"]))
        output.figure("spectrum.png", lambda path: figures.spectrum_figure(path, values, fit, operator=mark,
                                                                           title=describe_run(config)))
    return lines + [f"wrote {output.folder}/"]


def describe_run(config: Config) -> str:
    """A short title: data, network and kernel of a config.

    Args:
        config: a typed config.

    Returns:
        The title.
    """
    data, network = config.data, config.network
    source = Path(data.path).name if data.source == "file" else data.source
    if data.source == "sphere":
        source = f"sphere S^{data.dim - 1}"
    kernel = getattr(config.section, "kernel", "")
    shape = (f"{len(network.layers)} layers" if network.layers is not None
             else f"{network.activation} depth {network.depth}")
    return f"{source}, {shape} {kernel.upper()}".strip()
