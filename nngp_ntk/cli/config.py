"""Experiment configs: the TOML files under configs/ and the options of the ``nngp-ntk`` command.

A config is one TOML table. Top-level keys say what to run; sections describe the data, the
network and the task:

    task = "exponents"          # exponents | regimes | spectrum | kernel | regress
    seed = 0
    out = "results/exponents"   # default: results/<task>, or results/<task>-<data> on other data

    [data]       source, path, n, dim, pool, center, normalize, targets, label_column
    [network]    depth, activation, W_std, b_std, parameterization, width
    [exponents]  kernel, sizes, repeats, test_size, ridge, widths, window     (one section per task)

Every key has a declared type, range and default (``SCHEMA``; ``nngp-ntk run --help`` lists
them). ``validate`` refuses, before any work, an unknown section or key (listing the valid ones),
a value of the wrong type and a value out of range, with a ``ConfigError`` naming the key; the
command line options of each subcommand build the same table, so both paths are checked alike.
"""

from __future__ import annotations

import copy
import dataclasses
import numbers
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from nngp_ntk._checks import KERNEL_NAMES
from nngp_ntk.activations import ACTIVATIONS

TASKS = ("exponents", "regimes", "spectrum", "kernel", "regress")
SOURCES = ("mnist", "digits", "sphere", "file")
TARGETS = ("auto", "labels", "gp")
EIGEN_METHODS = ("auto", "dense", "randomized")


class ConfigError(ValueError):
    """A config (file or command line options) that cannot be run, with the offending key named."""


@dataclasses.dataclass(frozen=True)
class Key:
    """One config entry: its type (``kind``), default (None: absent unless given), allowed range
    [minimum, maximum] or ``choices``, and a one-line help text.

    kinds: "int", "float", "bool", "str", "ints" (list of ints), "floats" (number or list of
    numbers), "pair" (two ints).
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
        "targets": Key("str", "auto", "one-hot labels, or a draw from the GP of the kernel (teacher = student); "
                                      "auto: labels when the data has them", choices=TARGETS),
        "label_column": Key("int", None, "CSV column holding the labels (e.g. 0 or -1)", -(2**31)),
    },
    "network": {
        "depth": Key("int", 3, "hidden layers", 0, 1000),
        "activation": Key("str", "relu", "nonlinearity", choices=tuple(sorted(ACTIVATIONS))),
        "W_std": Key("floats", 1.0, "weight standard deviation (a number or one per layer, depth + 1)", 0.0),
        "b_std": Key("floats", 0.0, "bias standard deviation (a number or one per layer, depth + 1)", 0.0),
        "parameterization": Key("str", "ntk", "ntk or standard", choices=("ntk", "standard")),
        "width": Key("int", None, "hidden width of the standard parameterization's NTK", 1),
    },
    "exponents": {
        "kernel": Key("str", "ntk", "kernel of the infinitely wide network", choices=KERNEL_NAMES),
        "sizes": Key("ints", None, "training-set sizes D of L(D) (default: 100, 200, 400, ... up to n - test_size)",
                     2),
        "widths": Key("ints", None, "random-feature widths P of L(P), fitted on all n - test_size points "
                                    "(default: 6 from D/400 to D/12; [] skips L(P))", 1),
        "repeats": Key("int", 5, "random splits (and networks) per point of a curve", 1),
        "test_size": Key("int", None, "held-out test points (default: n / 5, at most 1000)", 1),
        "ridge": Key("float", 0.0, "ridge added to the train kernel's (and features') diagonal", 0.0),
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
        "ridge": Key("float", 0.0, "ridge added to the train kernel's (and features') diagonal", 0.0),
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
    """[network]: the keyword arguments of ``nngp_ntk.FullyConnected``."""

    depth: int
    activation: str
    W_std: float | list[float]
    b_std: float | list[float]
    parameterization: str
    width: int | None


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


SECTION_TYPES: dict[str, type] = {"data": DataConfig, "network": NetworkConfig, "exponents": ExponentsConfig,
                                  "regimes": RegimesConfig, "spectrum": SpectrumConfig, "kernel": KernelConfig,
                                  "regress": RegressConfig}


@dataclasses.dataclass(frozen=True)
class Config:
    """A validated config in typed form (``typed``): the top-level keys, [data], [network] and the
    task's own section (the other task sections are None)."""

    task: str
    seed: int
    out: str
    data: DataConfig
    network: NetworkConfig
    exponents: ExponentsConfig | None = None
    regimes: RegimesConfig | None = None
    spectrum: SpectrumConfig | None = None
    kernel: KernelConfig | None = None
    regress: RegressConfig | None = None

    @property
    def section(self) -> ExponentsConfig | RegimesConfig | SpectrumConfig | KernelConfig | RegressConfig:
        """The task's own section."""
        return getattr(self, self.task)

    def as_dict(self) -> dict[str, Any]:
        """The config table again (what ``validate`` returned), e.g. to record beside results."""
        table = {"task": self.task, "seed": self.seed, "out": self.out}
        table.update({name: dataclasses.asdict(getattr(self, name)) for name in TASK_SECTIONS[self.task]})
        return table


def typed(config: Mapping[str, Any]) -> Config:
    """The ``Config`` of a validated config table (``validate``, ``load`` or ``fast``)."""
    sections = {name: SECTION_TYPES[name](**config[name]) for name in TASK_SECTIONS[config["task"]]}
    return Config(task=config["task"], seed=config["seed"], out=config["out"], **sections)


def _where(section: str, name: str) -> str:
    return f"{section}.{name}" if section else name


def _check_value(section: str, name: str, key: Key, value: Any) -> Any:
    """The value converted to its kind (ints stay ints, numbers become floats), range-checked."""
    where = _where(section, name)

    def number(v: Any, integer: bool) -> float | int:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral if integer else numbers.Real):
            raise ConfigError(f"{where} must be {'an integer' if integer else 'a number'}, got {v!r}")
        v = int(v) if integer else float(v)
        if v != v or v in (float("inf"), float("-inf")):
            raise ConfigError(f"{where} must be finite, got {v!r}")
        if key.minimum is not None and v < key.minimum or key.maximum is not None and v > key.maximum:
            bounds = (f">= {key.minimum:g}" if key.maximum is None else
                      f"in [{key.minimum:g}, {key.maximum:g}]")
            raise ConfigError(f"{where} must be {bounds}, got {v!r}")
        return v

    if key.kind in ("int", "float"):
        return number(value, key.kind == "int")
    if key.kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if key.kind == "str":
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where} must be a non-empty string, got {value!r}")
        if key.choices and value not in key.choices:
            raise ConfigError(f"{where} must be one of {', '.join(key.choices)}; got {value!r}")
        return value
    if key.kind == "floats" and not isinstance(value, list):
        return number(value, integer=False)
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be a list, got {value!r}")
    values = [number(v, integer=key.kind != "floats") for v in value]
    if key.kind == "floats" and not values:
        raise ConfigError(f"{where} must be a number or a non-empty list of numbers")
    if key.kind == "pair" and (len(values) != 2 or values[0] >= values[1]):
        raise ConfigError(f"{where} must be two increasing integers [low, high], got {value!r}")
    if key.kind == "ints" and any(b <= a for a, b in zip(values, values[1:])):
        raise ConfigError(f"{where} must be strictly increasing, got {value!r}")
    return values


def _check_table(section: str, table: Any, keys: Mapping[str, Key]) -> dict[str, Any]:
    """Defaults for absent keys (None, which TOML cannot write, counts as absent, so a validated
    config validates again to itself), checked values for present ones; unknown keys refused."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"[{section}] must be a table of keys, got {table!r}")
    unknown = sorted(set(table) - set(keys))
    if unknown:
        place = f"section [{section}]" if section else "the top level"
        raise ConfigError(f"unknown key {_where(section, unknown[0])!r} in {place}; valid keys: {', '.join(keys)}")
    return {name: copy.deepcopy(key.default) if table.get(name) is None
            else _check_value(section, name, key, table[name]) for name, key in keys.items()}


def _check_consistency(config: dict[str, Any]) -> None:
    """Cross-key rules: the data source and its keys, targets, the network's per-layer values."""
    data, network, task = config["data"], config["network"], config["task"]
    if data["source"] == "file" and data["path"] is None:
        raise ConfigError("data.source = \"file\" needs data.path (a data file or CIFAR-10 folder)")
    if data["source"] != "file" and data["path"] is not None:
        raise ConfigError(f"data.path is only read with data.source = \"file\" (got source {data['source']!r})")
    if data["source"] == "sphere":
        if data["targets"] == "labels":
            raise ConfigError("data.targets = \"labels\": points on the sphere have no labels (use \"gp\")")
        if data["pool"] is not None:
            raise ConfigError("data.pool applies to images, not to points on the sphere")
    if task == "regress" and data["targets"] == "gp":
        raise ConfigError("regress fits the data's own labels: data.targets must be \"auto\" or \"labels\"")
    if task == "regimes" and data["targets"] == "labels":
        raise ConfigError("regimes is a teacher-student experiment: data.targets must be \"auto\" or \"gp\"")
    depth = network["depth"]
    for name in ("W_std", "b_std"):
        value = network[name]
        if isinstance(value, list) and len(value) != depth + 1:
            raise ConfigError(f"network.{name} has {len(value)} values; a per-layer list needs depth + 1 = "
                              f"{depth + 1}")
    if network["parameterization"] == "standard" and network["width"] is None:
        raise ConfigError("network.parameterization = \"standard\" needs network.width")
    if task == "kernel" and config["kernel"]["get"] == "both" and str(config["out"] or "").endswith(".npy"):
        raise ConfigError("out is a single .npy file but kernel.get = \"both\": give a folder")
    if task == "regimes":
        regimes = config["regimes"]
        if not regimes["fixed_width"] < regimes["variance_sizes"][0]:
            raise ConfigError("regimes.fixed_width must be below the smallest of regimes.variance_sizes (P << D)")
        if not regimes["fixed_size"] < regimes["variance_widths"][0]:
            raise ConfigError("regimes.fixed_size must be below the smallest of regimes.variance_widths (D << P)")


def default_out(task: str, source: str, path: str | None = None) -> str:
    """The output folder when none is given: results/<task> on the task's own data (MNIST; the sphere
    for regimes), else results/<task>-<data> (the dataset, or the data file's name), so that runs on
    other data never write into the main job's folder.

    Example:
        >>> default_out("exponents", "mnist"), default_out("exponents", "digits"), default_out("kernel", "file", "x.npy")
        ('results/exponents', 'results/exponents-digits', 'results/kernel-x')
    """
    own = "sphere" if task == "regimes" else "mnist"
    if source == own:
        return f"results/{task}"
    return f"results/{task}-{Path(path).stem if source == 'file' and path else source}"


def validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A complete config (every key of the task's sections present, defaults filled in) from a
    partial one, or ConfigError naming the first bad section, key or value."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"a config must be a table, got {type(raw).__name__}")
    for name, value in raw.items():
        if name in SCHEMA and name and not isinstance(value, Mapping):
            raise ConfigError(f"{name} must be a section [{name}] of keys, got {value!r}")
    top = {k: v for k, v in raw.items() if not isinstance(v, Mapping)}
    config = _check_table("", top, SCHEMA[""])
    sections = TASK_SECTIONS[config["task"]]
    for name in raw:
        if isinstance(raw[name], Mapping) and name not in sections:
            raise ConfigError(f"unknown section [{name}] for task {config['task']!r}; valid sections: "
                              f"{', '.join(sections)}")
    for section in sections:
        config[section] = _check_table(section, raw.get(section, {}), SCHEMA[section])
    data = config["data"]
    default_source = "sphere" if config["task"] == "regimes" else "mnist"
    if data["source"] is None:
        data["source"] = "file" if data["path"] else default_source
    if config["out"] is None:
        config["out"] = default_out(config["task"], data["source"], data["path"])
    if data["n"] is None and data["source"] == "sphere":
        data["n"] = 2000
    as_given = data["source"] == "sphere" or config["task"] == "kernel"
    for name in ("center", "normalize"):
        if data[name] is None:
            data[name] = not as_given
    _check_consistency(config)
    return config


def _set(raw: dict[str, Any], key: str, value: Any) -> None:
    """raw[section][name] = value for key = "section.name" (raw[name] for a top-level key)."""
    *sections, name = key.split(".")
    table = raw
    for section in sections:
        table = table.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"cannot set {key!r}: {section!r} is not a section")
    table[name] = value


def load(path: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read a TOML config file (tomllib), apply ``overrides`` ({"network.depth": 5, "out": ...}),
    and ``validate`` it. A relative data path that exists beside the config file (and not in the
    working folder) is taken from beside the config file."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {str(path)!r} is a folder") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {str(path)!r}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {error}") from None
    for key, value in (overrides or {}).items():
        _set(raw, key, value)
    config = validate(raw)
    for section, name in (("data", "path"), ("regress", "test_path")):
        value = config.get(section, {}).get(name)
        if value is not None and not Path(value).expanduser().is_absolute():
            beside = path.parent / value
            if beside.exists() and not Path(value).exists():
                config[section][name] = str(beside)
    return config


def _shrink(values: list[int], keep: int) -> list[int]:
    """``keep`` entries spread over ``values`` (first and last included)."""
    if len(values) <= keep:
        return values
    step = (len(values) - 1) / (keep - 1)
    return sorted({values[round(i * step)] for i in range(keep)})


def _small(values: list[int] | None, limit: int, keep: int) -> list[int] | None:
    """Up to ``keep`` of the ``values`` <= limit (spread out, ends included); None (the defaults) when
    fewer than ``keep`` fit or ``values`` is None."""
    if values is None:
        return None
    fitting = [v for v in values if v <= limit]
    return _shrink(fitting, keep) if len(fitting) >= keep else None


def fast(config: dict[str, Any], explicit: Collection[str] = ()) -> dict[str, Any]:
    """A smaller version of a validated config for a quick check (``--fast``): at most 400 points,
    80 of them for testing, the small end of the sizes and widths, two repeats; the same code paths.

    Keys in ``explicit`` ("section.key", or "key" at the top level: what the command line gave) keep
    their values: an explicit argument always wins, and one the smaller run cannot honour is refused
    where it would be without ``--fast``."""
    config = copy.deepcopy(config)
    task = config["task"]
    changes: dict[str, Any] = {"data.n": min(config["data"]["n"] or 400, 400)}
    n = changes["data.n"] if "data.n" not in explicit else config["data"]["n"]
    section = config.get(task, {})
    if task == "exponents":
        test_size = section["test_size"] if "exponents.test_size" in explicit else min(section["test_size"] or 80, 80)
        changes.update({"exponents.test_size": test_size, "exponents.repeats": min(section["repeats"], 2),
                        "exponents.window": None})
        if n is not None:
            changes["exponents.sizes"] = _small(section["sizes"], n - test_size, 4)
        if section["widths"] != []:
            changes["exponents.widths"] = _small(section["widths"], 40, 3) or [10, 20, 40]
    elif task == "regimes":
        changes.update({"regimes.test_size": min(section["test_size"], 100), "regimes.sizes": [40, 80, 160, 280],
                        "regimes.widths": [10, 20, 40], "regimes.fixed_width": min(section["fixed_width"], 10),
                        "regimes.variance_sizes": [40, 80, 160, 280],
                        "regimes.fixed_size": min(section["fixed_size"], 20),
                        "regimes.variance_widths": [60, 120, 240, 480], "regimes.repeats": min(section["repeats"], 2),
                        "regimes.variance_repeats": min(section["variance_repeats"], 2)})
    elif task == "spectrum":
        changes["spectrum.window"] = None
        if section["top_k"] is not None and n is not None:
            changes["spectrum.top_k"] = min(section["top_k"], n)
    elif task == "regress":
        changes["regress.test_size"] = min(section["test_size"], 100)
    for key, value in changes.items():
        if key not in explicit:
            _set(config, key, value)
    return config


def describe() -> str:
    """Every section and key with its type, default and help (for ``nngp-ntk run --help``)."""
    lines = []
    for section, keys in SCHEMA.items():
        lines.append("top-level keys:" if not section else f"[{section}]")
        for name, key in keys.items():
            kind = "|".join(key.choices) if key.choices else key.kind
            default = "" if key.default is None else f" = {key.default!r}".replace("'", '"').replace("True", "true") \
                .replace("False", "false")
            lines.append(f"  {name} ({kind}){default}: {key.help}")
    return "\n".join(lines)
