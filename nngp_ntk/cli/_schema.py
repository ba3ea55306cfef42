"""The declared form of an experiment config: every section's keys (``SCHEMA``) and the typed form.

``SCHEMA`` gives each key of the top level and of the sections ([data], [network] and one per
task) its kind, default, range or choices and help text (``Key``; ``describe`` lists them for
``nngp-ntk run --help``). A validated config table (``nngp_ntk.cli._config.validate``) becomes a
``Config``: the top-level keys and one frozen dataclass per section (``SECTION_TYPES``).

Reading, checking and shrinking config tables against this schema is ``nngp_ntk.cli._config``'s
job.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from nngp_ntk._checks import KERNEL_NAMES
from nngp_ntk.activations import ACTIVATIONS

TASKS = ("exponents", "regimes", "spectrum", "kernel", "regress", "compute")
SOURCES = ("mnist", "digits", "sphere", "file")
TARGETS = ("auto", "labels", "gp")
EIGEN_METHODS = ("auto", "dense", "randomized")


@dataclasses.dataclass(frozen=True)
class Key:
    """One config entry: its type (``kind``), default (None: absent unless given), allowed range
    [minimum, maximum] or ``choices``, and a one-line help text.

    kinds: "int", "float", "bool", "str", "ints" (list of ints), "floats" (number or list of
    numbers), "pair" (two ints), "layers" (a list of layer tables, ``nngp_ntk.kernels.from_spec``).
    """

    kind: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()


_COMMON_SECTIONS = ("data", "network")
SCHEMA: dict[str, dict[str, Key]] = {
    "": {
        "task": Key("str", "exponents", "what to run", choices=TASKS),
        "seed": Key("int", 0, "seed of every random choice (subsets, GP targets, random features)", 0),
        "out": Key("str", None, "output folder (a .npy file name for a single kernel); default results/<task>/ "
                                "on the task's own data, results/<task>-<data>/ on other data"),
        "fast": Key("bool", False, "a quick, smaller run, as the command's --fast: fewer points, sizes, widths "
                                   "and repeats; a data file's rows then bound the points"),
    },
    "data": {
        "source": Key("str", None, "dataset: the bundled mnist / digits, uniform points on a sphere, or a file "
                                   "(default: file when path is given, else mnist; sphere for the regimes task)", choices=SOURCES),
        "path": Key("str", None, "data file (.npy/.npz/.csv/IDX) or CIFAR-10 python-batch folder (source = file)"),
        "n": Key("int", None, "number of points (a seeded random subset; default all, 2000 on the sphere)", 1),
        "dim": Key("int", 4, "dimension of the sphere's ambient space (source = sphere)", 2),
        "pool": Key("int", None, "average-pool images over p x p windows", 1),
        "center": Key("bool", None, "subtract the per-feature mean (default: true, false on the sphere "
                                    "and for the kernel task)"),
        "normalize": Key("bool", None, "scale every row to norm sqrt(d) (default: as center)"),
        "targets": Key("str", "auto", "the data's labels (one-hot for integer ones), or one draw from the GP of "
                                      "the kernel (teacher = student); auto: the labels when the data has them, "
                                      "else the GP draw", choices=TARGETS),
        "label_column": Key("int", None, "the column of a CSV or .npy table that holds the labels (e.g. 0, or -1 "
                                         "for the last); without it every column is a feature and the table has "
                                         "no labels", -(2**31)),
    },
    "network": {
        "depth": Key("int", 3, "hidden layers", 0, 1000),
        "activation": Key("str", "relu", "nonlinearity", choices=tuple(sorted(ACTIVATIONS))),
        "W_std": Key("floats", 1.0, "weight standard deviation (a number or one per layer, depth + 1)", 0.0),
        "b_std": Key("floats", 0.0, "bias standard deviation (a number or one per layer, depth + 1)", 0.0),
        "parameterization": Key("str", "ntk", "ntk or standard", choices=("ntk", "standard")),
        "width": Key("int", None, "hidden width of the standard parameterization's NTK", 1),
        "layers": Key("layers", None, "any network instead of depth/activation/...: a list of layer tables, "
                                      "e.g. [{layer = \"dense\", W_std = 1.5}, {layer = \"relu\"}, {layer = "
                                      "\"dense\"}] (nngp_ntk.kernels.from_spec)"),
    },
    "exponents": {
        "kernel": Key("str", "ntk", "kernel of the infinitely wide network", choices=KERNEL_NAMES),
        "sizes": Key("ints", None, "training-set sizes D of L(D) (default: 100, 200, 400, ... below n - test_size)",
                     2),
        "widths": Key("ints", None, "random-feature widths P of L(P), fitted on all n - test_size points "
                                    "(default: 6 from D/400 to D/12; [] skips L(P))", 1),
        "repeats": Key("int", 5, "random splits (and networks) per point of a curve", 1),
        "test_size": Key("int", None, "held-out test points (default: n / 4, at most 1000)", 1),
        "ridge": Key("float", 0.0, "ridge added to the train kernel's (and features') diagonal; also the "
                      "random-feature readout's in the predicted L(P)", 0.0),
        "window": Key("pair", None, "eigenvalue indices [i_min, i_max] of the power-law fit (default automatic)", 1),
    },
    "regimes": {
        "kernel": Key("str", "ntk", "kernel of the teacher and of the infinitely wide student of L(D)",
                      choices=KERNEL_NAMES),
        "sizes": Key("ints", [50, 100, 200, 400, 800, 1600], "training-set sizes D of L(D) at infinite width "
                     "(resolution-limited)", 2),
        "widths": Key("ints", [10, 20, 40, 80, 160, 320], "random-feature widths P of L(P) on all training "
                      "points (resolution-limited)", 1),
        "fixed_width": Key("int", 10, "the P << D of the variance-limited L(D)", 1),
        "variance_sizes": Key("ints", [200, 400, 800, 1600, 3200], "training-set sizes D of the variance-limited "
                              "L(D), all above fixed_width (the 1/D law is the leading order: D >~ 20 P)", 2),
        "fixed_size": Key("int", 20, "the D << P of the variance-limited L(P)", 2),
        "variance_widths": Key("ints", [400, 800, 1600, 3200, 6400], "random-feature widths P of the "
                               "variance-limited L(P), all above fixed_size (P >~ 20 D)", 1),
        "variance_repeats": Key("int", 100, "networks (and splits) per point of the variance-limited curves, "
                                "fitted paired within each one", 2),
        "repeats": Key("int", 3, "random splits (and networks) per point of a curve", 1),
        "test_size": Key("int", 400, "held-out test points", 1),
        "ridge": Key("float", 0.0, "ridge added to the train kernel's (and features') diagonal; also the "
                      "random-feature readout's in the predicted L(P)", 0.0),
    },
    "spectrum": {
        "kernel": Key("str", "ntk", "kernel whose spectrum is computed", choices=KERNEL_NAMES),
        "top_k": Key("int", None, "eigenvalues to compute (default all; needed past 20,000 points)", 1),
        "method": Key("str", "auto", "dense LAPACK or randomized block Krylov", choices=EIGEN_METHODS),
        "window": Key("pair", None, "eigenvalue indices [i_min, i_max] of the power-law fit (default automatic)", 1),
    },
    "kernel": {
        "get": Key("str", "ntk", "which kernel to write: nngp, ntk or both", choices=("nngp", "ntk", "both")),
        "out_of_core": Key("bool", False, "write tile by tile to .npy memory maps in the out folder "
                                          "(bounded memory, resumable)"),
    },
    "regress": {
        "test_path": Key("str", None, "test data file (default: hold out test_size points of the data)"),
        "test_size": Key("int", 200, "held-out points when there is no test file", 1),
        "kernel": Key("str", "ntk", "ntk: all layers trained; nngp: only the readout", choices=KERNEL_NAMES),
        "t": Key("float", None, "training time (default infinity)", 0.0),
        "ridge": Key("float", 0.0, "ridge added to the train kernel's diagonal", 0.0),
        "method": Key("str", "auto", "solver: auto, dense, iterative, or nystrom (kernel ridge regression on "
                      "`centers` of the training points: ridge > 0, t infinite; for N past the N x N kernel)",
                      choices=("auto", "dense", "iterative", "nystrom")),
        "centers": Key("int", None, "M, the centers of method nystrom", 1),
        "center_selection": Key("str", "uniform", "centers of method nystrom: uniform, or by approximate ridge "
                                "leverage scores", choices=("uniform", "leverage")),
        "store": Key("str", None, "folder of out-of-core kernel stores and the solver's saved state: an "
                     "interrupted run resumes from it (methods auto, iterative and nystrom)"),
    },
    "compute": {
        "widths": Key("ints", [25, 50, 100, 200, 400, 800, 1600], "random-feature widths P of the grid L(P, n)", 1),
        "samples": Key("ints", [125, 250, 500, 1000, 2000, 4000], "pass lengths n of one-pass SGD (each its own "
                       "pass)", 1),
        "eta0": Key("float", 0.5, "the first SGD step size (in the stable range: about eta0 mean |phi|^2 / P < 2)",
                    0.0),
        "schedule": Key("str", "geometric", "eta_t = eta0 / 2^floor(t / K), K = ceil(n / log2 n), or constant",
                        choices=("geometric", "constant")),
        "draws": Key("int", 3, "draws of features and order of the measured grid", 1),
        "predicted_draws": Key("int", 1, "draws of features per width of the prediction", 1),
        "test_size": Key("int", 1000, "held-out test points of the measured grid", 1),
    },
}
#: The sections each task reads, beside the top-level keys.
TASK_SECTIONS = {task: _COMMON_SECTIONS + (task,) for task in TASKS}


# ----------------------------------------------------------------------------- the typed form

@dataclasses.dataclass(frozen=True)
class DataConfig:
    """[data] (``SCHEMA["data"]``): where the points come from and how they are preprocessed."""

    source: str
    path: str | None
    n: int | None
    dim: int
    pool: int | None
    center: bool
    normalize: bool
    targets: str
    label_column: int | None


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """[network]: the keyword arguments of ``nngp_ntk.FullyConnected``, or ``layers`` (any network)."""

    depth: int
    activation: str
    W_std: float | list[float]
    b_std: float | list[float]
    parameterization: str
    width: int | None
    layers: list[dict] | None


@dataclasses.dataclass(frozen=True)
class ExponentsConfig:
    """[exponents]: the main job (predicted and measured alpha_D, alpha_P)."""

    kernel: str
    sizes: list[int] | None
    widths: list[int] | None
    repeats: int
    test_size: int | None
    ridge: float
    window: list[int] | None


@dataclasses.dataclass(frozen=True)
class RegimesConfig:
    """[regimes]: the four scaling regimes, teacher = student."""

    kernel: str
    sizes: list[int]
    widths: list[int]
    fixed_width: int
    variance_sizes: list[int]
    fixed_size: int
    variance_widths: list[int]
    variance_repeats: int
    repeats: int
    test_size: int
    ridge: float


@dataclasses.dataclass(frozen=True)
class SpectrumConfig:
    """[spectrum]: eigenvalues of K/N and their power law."""

    kernel: str
    top_k: int | None
    method: str
    window: list[int] | None


@dataclasses.dataclass(frozen=True)
class KernelConfig:
    """[kernel]: which kernel to write, in memory or tile by tile."""

    get: str
    out_of_core: bool


@dataclasses.dataclass(frozen=True)
class RegressConfig:
    """[regress]: the trained infinite network's predictions on test points."""

    test_path: str | None
    test_size: int
    kernel: str
    t: float | None
    ridge: float
    method: str
    centers: int | None
    center_selection: str
    store: str | None


@dataclasses.dataclass(frozen=True)
class ComputeConfig:
    """[compute]: L(P, n) of one-pass SGD on random features and its compute-optimal frontier."""

    widths: list[int]
    samples: list[int]
    eta0: float
    schedule: str
    draws: int
    predicted_draws: int
    test_size: int


SECTION_TYPES: dict[str, type] = {"data": DataConfig, "network": NetworkConfig, "exponents": ExponentsConfig,
                                  "regimes": RegimesConfig, "spectrum": SpectrumConfig, "kernel": KernelConfig,
                                  "regress": RegressConfig, "compute": ComputeConfig}


@dataclasses.dataclass(frozen=True)
class Config:
    """A validated config in typed form (``typed``): the top-level keys, [data], [network] and the
    task's own section (the other task sections are None)."""

    task: str
    seed: int
    out: str
    data: DataConfig
    network: NetworkConfig
    fast: bool = False
    exponents: ExponentsConfig | None = None
    regimes: RegimesConfig | None = None
    spectrum: SpectrumConfig | None = None
    kernel: KernelConfig | None = None
    regress: RegressConfig | None = None
    compute: ComputeConfig | None = None

    @property
    def section(self) -> (ExponentsConfig | RegimesConfig | SpectrumConfig | KernelConfig | RegressConfig
                          | ComputeConfig):
        """The task's own section."""
        return getattr(self, self.task)

    def as_dict(self) -> dict[str, Any]:
        """The config table again (what ``validate`` returned), e.g. to record beside results."""
        table = {"task": self.task, "seed": self.seed, "out": self.out, "fast": self.fast}
        table.update({name: dataclasses.asdict(getattr(self, name)) for name in TASK_SECTIONS[self.task]})
        return table


def describe() -> str:
    """Every section and key with its type, default and help (for ``nngp-ntk run --help``).

    Returns:
        The text, one line per key.

    Example:
        >>> describe().splitlines()[0]
        'top-level keys:'
    """
    lines = []
    for section, keys in SCHEMA.items():
        lines.append("top-level keys:" if not section else f"[{section}]")
        for name, key in keys.items():
            kind = "|".join(key.choices) if key.choices else key.kind
            default = "" if key.default is None else f" = {key.default!r}".replace("'", '"').replace("True", "true") \
                .replace("False", "false")
            lines.append(f"  {name} ({kind}){default}: {key.help}")
    return "\n".join(lines)
