"""Experiment configs: the TOML files under configs/ and the options of the ``nngp-ntk`` command.

A config is one TOML table. Top-level keys say what to run; sections describe the data, the
network and the task:

    task = "exponents"          # exponents | regimes | spectrum | kernel | regress | compute
    seed = 0
    out = "results/exponents"   # default: results/<task>, or results/<task>-<data> on other data

    [data]       source, path, n, dim, pool, center, normalize, targets, label_column
    [network]    depth, activation, W_std, b_std, parameterization, width; or layers (any network)
    [exponents]  kernel, sizes, repeats, test_size, ridge, widths, window     (one section per task)

Every key has a declared type, range and default (``SCHEMA``, declared with the typed form
``Config`` in ``nngp_ntk.cli._schema``; ``nngp-ntk run --help`` lists them).
This module reads and checks config tables. ``validate`` refuses, before any work, an unknown
section or key (listing the valid ones), a value of the wrong type and a value out of range, with a
``ConfigError`` naming the key; the command line options of each subcommand build the same table,
so both paths are checked alike. ``load`` reads a TOML file with overrides, ``fast`` shrinks a
config for a quick check, and ``typed`` turns a checked table into a ``Config``.
"""

from __future__ import annotations

import copy
import numbers
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from nngp_ntk._checks import ArgumentValueError
from nngp_ntk.cli._schema import SCHEMA, SECTION_TYPES, TASK_SECTIONS, Config, Key
from nngp_ntk.kernels import Sequential
from nngp_ntk.kernels import from_spec


class ConfigError(ArgumentValueError):
    """A config (file or command line options) that cannot be run, with the offending key named: an
    ``ArgumentValueError`` (a ``ValueError``), the user's error to the ``nngp-ntk`` command."""


def typed(config: Mapping[str, Any]) -> Config:
    """The ``Config`` of a validated config table (``validate``, ``load`` or ``fast``).

    Args:
        config: a validated config table.

    Returns:
        The typed ``Config``.

    Example:
        >>> config = typed(validate({"task": "spectrum", "data": {"source": "digits"}}))
        >>> config.task, config.data.source, config.network.depth
        ('spectrum', 'digits', 3)
    """
    sections = {name: SECTION_TYPES[name](**config[name]) for name in TASK_SECTIONS[config["task"]]}
    return Config(task=config["task"], seed=config["seed"], out=config["out"], fast=config["fast"], **sections)


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
    if key.kind == "layers":
        try:
            Sequential(*from_spec(value, where))
        except (TypeError, ValueError) as error:
            raise ConfigError(str(error)) from None
        return copy.deepcopy(list(value))
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
    if data["source"] != "file" and data["label_column"] is not None:
        raise ConfigError(f"data.label_column names a column of a data file; the {data['source']} dataset "
                          "brings its own labels" if data["source"] != "sphere" else
                          "data.label_column names a column of a data file; points on the sphere have no labels")
    if data["source"] == "sphere":
        if data["targets"] == "labels":
            raise ConfigError("data.targets = \"labels\": points on the sphere have no labels (use \"gp\")")
        if data["pool"] is not None:
            raise ConfigError("data.pool applies to images, not to points on the sphere")
    if task == "regimes" and data["targets"] == "labels":
        raise ConfigError("regimes is a teacher-student experiment: data.targets must be \"auto\" or \"gp\"")
    if network["layers"] is not None:
        given = [name for name, key in SCHEMA["network"].items() if name != "layers" and network[name] != key.default]
        if given:
            raise ConfigError(f"network.layers describes the whole network; network.{given[0]} cannot be given "
                              "with it (put it in the layer tables)")
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
    """A complete config from a partial one: every key of the task's sections present, defaults filled in.

    Args:
        raw: a config table (as read from TOML): top-level keys and sections.

    Returns:
        The complete config table.

    Raises:
        ConfigError: naming the first bad section, key or value.

    Example:
        >>> config = validate({"task": "exponents", "network": {"depth": 2}})
        >>> config["out"], config["data"]["source"], config["network"]["depth"]
        ('results/exponents', 'mnist', 2)
        >>> validate({"task": "exponents", "network": {"depht": 2}})
        Traceback (most recent call last):
        ...
        nngp_ntk.cli._config.ConfigError: unknown key 'network.depht' in section [network]; valid keys: ...
    """
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
    """Read a TOML config file (tomllib), apply ``overrides``, and ``validate`` it.

    A relative data path that exists beside the config file (and not in the working folder) is taken
    from beside the config file.

    Args:
        path: the TOML file.
        overrides: {"section.key": value} (or {"key": value} at the top level), e.g.
            {"network.depth": 5, "out": "results/deep"}.

    Returns:
        The validated config table.

    Raises:
        ConfigError: a missing or unreadable file, invalid TOML, or as ``validate``.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "run.toml")
        >>> with open(path, "w") as file:
        ...     _ = file.write('task = "regimes"\\n[network]\\ndepth = 2\\n')
        >>> load(path, {"network.depth": 4})["network"]["depth"]
        4
    """
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


def fast_points(task: str) -> int:
    """The most points a fast run of ``task`` takes: 500 for ``exponents`` and ``regimes`` (whose
    predictions see only the points beside the test set), 400 for the others.

    Example:
        >>> fast_points("exponents"), fast_points("spectrum")
        (500, 400)
    """
    return 500 if task in ("exponents", "regimes") else 400


def fast(config: dict[str, Any], explicit: Collection[str] = ()) -> dict[str, Any]:
    """A smaller version of a validated config for a quick check (``--fast``; ``fast`` = true).

    At most ``fast_points`` points (a data file's rows, when fewer: its data.n stays unset and the
    file's rows bound it), 80 of them for testing, the small end of the sizes and widths, two
    repeats; the same code paths. Keys in ``explicit`` ("section.key", or "key" at the top level:
    what the command line gave) keep their values: an explicit argument always wins, and one the
    smaller run cannot honour is refused where it would be without ``--fast``.

    Args:
        config: a validated config table.
        explicit: keys the command line gave.

    Returns:
        The smaller config table (a copy).

    Example:
        >>> config = validate({"task": "exponents"})
        >>> fast(config)["data"]["n"], fast(config, explicit={"data.n"})["data"]["n"] == config["data"]["n"]
        (500, True)
    """
    config = copy.deepcopy(config)
    task = config["task"]
    most = fast_points(task)
    on_file = config["data"]["source"] == "file"
    changes: dict[str, Any] = {"fast": True}
    if not on_file or config["data"]["n"] is not None:
        changes["data.n"] = min(config["data"]["n"] or most, most)
    n = changes.get("data.n") if "data.n" not in explicit else config["data"]["n"]
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
    elif task == "compute":
        changes.update({"compute.test_size": min(section["test_size"], 100), "compute.widths": [10, 20, 40],
                        "compute.samples": [50, 100, 200], "compute.draws": min(section["draws"], 2)})
    for key, value in changes.items():
        if key not in explicit:
            _set(config, key, value)
    return config
