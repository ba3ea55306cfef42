"""Tests of nngp_ntk.cli._config: defaults, every kind of refusal, TOML loading with overrides, fast mode."""

from __future__ import annotations

import dataclasses
import pathlib

import pytest

from nngp_ntk._checks import InvalidArgumentError
from nngp_ntk.cli import _config as configs
from nngp_ntk.cli import _schema as schema
from nngp_ntk.cli._config import ConfigError

CONFIGS = pathlib.Path(__file__).parents[2] / "configs"


def test_defaults_are_the_main_job():
    config = configs.validate({})
    assert config["task"] == "exponents"
    assert config["out"] == "results/exponents"
    assert config["data"]["source"] == "mnist" and config["data"]["center"] and config["data"]["normalize"]
    assert config["network"] == {"depth": 3, "activation": "relu", "W_std": 1.0, "b_std": 0.0,
                                 "parameterization": "ntk", "width": None, "layers": None}
    assert config["exponents"]["kernel"] == "ntk"
    assert set(config) == {"task", "seed", "out", "fast", "data", "network", "exponents"} and not config["fast"]


def test_context_dependent_defaults():
    sphere = configs.validate({"task": "spectrum", "data": {"source": "sphere"}})
    assert sphere["data"]["n"] == 2000 and not sphere["data"]["center"] and not sphere["data"]["normalize"]
    kernel = configs.validate({"task": "kernel", "data": {"path": "x.npy"}})
    assert kernel["data"]["source"] == "file"
    assert configs.validate({"task": "regimes"})["data"]["source"] == "sphere"
    assert not kernel["data"]["center"] and kernel["out"] == "results/kernel-x"
    explicit = configs.validate({"task": "kernel", "data": {"source": "digits", "center": True}})
    assert explicit["data"]["center"] and not explicit["data"]["normalize"]


def test_values_are_converted_and_kept():
    config = configs.validate({"seed": 3, "network": {"W_std": 2, "b_std": [0, 0.1, 0.1, 0.2], "depth": 3},
                               "exponents": {"sizes": [10, 20, 40], "ridge": 1, "window": [5, 50]}})
    assert config["network"]["W_std"] == 2.0 and isinstance(config["network"]["W_std"], float)
    assert config["network"]["b_std"] == [0.0, 0.1, 0.1, 0.2]
    assert config["exponents"]["sizes"] == [10, 20, 40] and config["exponents"]["ridge"] == 1.0
    assert config["exponents"]["window"] == [5, 50] and config["seed"] == 3


@pytest.mark.parametrize("raw, message", [
    ({"network": {"depth": -1}}, "network.depth must be in [0, 1000], got -1"),
    ({"network": {"depth": 2.5}}, "network.depth must be an integer"),
    ({"network": {"depth": True}}, "network.depth must be an integer"),
    ({"network": {"depht": 3}}, "unknown key 'network.depht' in section [network]; valid keys: depth, activation"),
    ({"network": {"activation": "swish"}}, "network.activation must be one of abs, cos, erf"),
    ({"network": {"W_std": -1.0}}, "network.W_std must be >= 0"),
    ({"network": {"W_std": [1.0, 1.0]}}, "network.W_std has 2 values; a per-layer list needs depth + 1 = 4"),
    ({"network": {"parameterization": "standard"}}, "needs network.width"),
    ({"network": 3}, "network must be a section [network] of keys, got 3"),
    ({"data": {"source": "cifar"}}, "data.source must be one of mnist, digits, sphere, file; got 'cifar'"),
    ({"data": {"source": "file"}}, "needs data.path"),
    ({"data": {"source": "mnist", "path": "x.npy"}}, "data.path is only read with data.source = \"file\""),
    ({"data": {"source": "sphere", "targets": "labels"}}, "points on the sphere have no labels"),
    ({"data": {"n": 0}}, "data.n must be >= 1, got 0"),
    ({"data": {"center": "yes"}}, "data.center must be true or false"),
    ({"exponents": {"sizes": [100, 50, 200]}}, "exponents.sizes must be strictly increasing"),
    ({"exponents": {"sizes": 100}}, "exponents.sizes must be a list"),
    ({"exponents": {"window": [50, 5]}}, "exponents.window must be two increasing integers"),
    ({"exponents": {"ridge": float("nan")}}, "exponents.ridge must be finite"),
    ({"task": "train"}, "task must be one of exponents, regimes, spectrum, kernel, regress, compute; got 'train'"),
    ({"colour": "blue"}, "unknown key 'colour' in the top level; valid keys: task, seed, out"),
    ({"task": "spectrum", "exponents": {}}, "unknown section [exponents] for task 'spectrum'"),
    ({"task": "regimes", "data": {"source": "sphere"}, "regimes": {"fixed_width": 500}},
     "regimes.fixed_width must be below the smallest of regimes.variance_sizes"),
    ({"task": "regimes", "data": {"source": "sphere"}, "regimes": {"fixed_size": 5000}},
     "regimes.fixed_size must be below the smallest of regimes.variance_widths"),
    ({"task": "regimes", "data": {"source": "digits", "targets": "labels"}}, "teacher-student experiment"),
    ({"data": {"source": "digits", "label_column": -1}}, "the digits dataset brings its own labels"),
    ({"data": {"source": "sphere", "label_column": 0}}, "points on the sphere have no labels"),
    ({"task": "kernel", "out": "k.npy", "data": {"source": "digits"}, "kernel": {"get": "both"}},
     "give a folder"),
])
def test_refusals_name_the_key(raw, message):
    with pytest.raises(ConfigError) as error:
        configs.validate(raw)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
    assert isinstance(error.value, InvalidArgumentError)     # the user's error to the command


def test_every_shipped_config_validates():
    files = sorted(CONFIGS.glob("*.toml"))
    assert {f.name for f in files} >= {"mnist_relu_ntk.toml", "digits_erf_nngp.toml",
                                       "sphere_teacher_student.toml", "cifar10_pooled.toml"}
    for path in files:
        config = configs.load(path)
        assert config["task"] in schema.TASKS
        small = configs.fast(config)
        assert small["data"]["n"] <= (500 if config["task"] in ("exponents", "regimes") else 400)


def test_main_job_config_equals_the_defaults():
    assert configs.load(CONFIGS / "mnist_relu_ntk.toml") == configs.validate({})


def test_load_applies_overrides_and_resolves_paths(tmp_path):
    (tmp_path / "points.npy").write_bytes(b"")
    path = tmp_path / "c.toml"
    path.write_text('task = "spectrum"\n[data]\nsource = "file"\npath = "points.npy"\n[network]\ndepth = -1\n')
    config = configs.load(path, {"network.depth": 2, "out": "elsewhere", "spectrum.kernel": "nngp"})
    assert config["network"]["depth"] == 2 and config["out"] == "elsewhere"
    assert config["spectrum"]["kernel"] == "nngp"
    assert config["data"]["path"] == str(tmp_path / "points.npy")
    with pytest.raises(ConfigError, match="network.depth must be in"):
        configs.load(path)
    with pytest.raises(ConfigError, match="not a section"):
        configs.load(path, {"task.x": 1})


@pytest.mark.parametrize("text, message", [
    (None, "does not exist"),
    ("depth = = 3", "is not valid TOML"),
])
def test_load_refuses_unreadable_files(tmp_path, text, message):
    path = tmp_path / "c.toml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        configs.load(path)


def test_fast_shrinks_without_changing_the_experiment():
    config = configs.validate({"exponents": {"sizes": [25, 50, 100, 200, 400, 800, 1600], "repeats": 5}})
    small = configs.fast(config)
    assert small["data"]["n"] == 500 and small["exponents"]["repeats"] == 2 and small["fast"]
    assert small["exponents"]["sizes"] == [25, 50, 200, 400]
    assert small["exponents"]["test_size"] == 80
    assert small["exponents"]["widths"] == [10, 20, 40]
    assert small["network"] == config["network"]
    assert config["exponents"]["repeats"] == 5  # the original is left alone
    assert configs.validate(small) == small
    assert configs.fast(configs.validate({"exponents": {"sizes": [1000, 2000, 4000]}}))["exponents"]["sizes"] is None
    assert configs.fast(configs.validate({"exponents": {"widths": []}}))["exponents"]["widths"] == []
    regimes = configs.fast(configs.load(CONFIGS / "sphere_teacher_student.toml"))
    assert regimes["data"]["n"] == 500 and configs.validate(regimes) == regimes


def test_describe_lists_every_key():
    text = schema.describe()
    for section, keys in configs.SCHEMA.items():
        for name in keys:
            assert f"  {name} (" in text


def test_typed_config_has_every_schema_key_and_round_trips():
    for section, kind in configs.SECTION_TYPES.items():
        assert [field.name for field in dataclasses.fields(kind)] == list(configs.SCHEMA[section]), section
    for task in schema.TASKS:
        raw = {"task": task, "data": {"path": "x.npy"}} if task in ("kernel", "regress") else {"task": task}
        table = configs.validate(raw)
        config = configs.typed(table)
        assert config.as_dict() == table and config.section is getattr(config, task)
        assert all(getattr(config, other) is None for other in schema.TASKS if other != task)
    main = configs.typed(configs.validate({}))
    assert main.exponents.repeats == 5 and main.network.activation == "relu" and main.data.source == "mnist"


def test_fast_on_a_file_is_bounded_by_its_rows():
    """A file's size is unknown before it is read: --fast leaves data.n unset there (the task takes at
    most fast_points rows, all of a smaller file); an explicit n is kept, and refused when too large."""
    config = configs.validate({"task": "spectrum", "data": {"path": "x.npy"}})
    small = configs.fast(config)
    assert small["fast"] and small["data"]["n"] is None and configs.fast_points("spectrum") == 400
    assert configs.fast(config, explicit={"data.n"})["data"]["n"] is None
    given = configs.validate({"task": "spectrum", "data": {"path": "x.npy", "n": 1000}})
    assert configs.fast(given)["data"]["n"] == 400 and configs.fast(given, explicit={"data.n"})["data"]["n"] == 1000


def test_regress_and_exponents_take_gp_targets():
    for task in ("regress", "exponents"):
        assert configs.validate({"task": task, "data": {"path": "x.npy", "targets": "gp"}})["data"]["targets"] == "gp"


def test_fast_keeps_explicit_keys():
    config = configs.validate({"data": {"source": "digits", "n": 1000}, "exponents": {"sizes": [100, 200, 5000]}})
    assert configs.fast(config)["exponents"]["sizes"] is None              # shrunk: none fit, the defaults
    kept = configs.fast(config, explicit={"exponents.sizes", "data.n"})
    assert kept["exponents"]["sizes"] == [100, 200, 5000] and kept["data"]["n"] == 1000
    assert kept["exponents"]["repeats"] == 2 and kept["exponents"]["test_size"] == 80   # the rest is still fast


def test_runs_on_other_data_get_their_own_output_folder():
    assert configs.validate({})["out"] == "results/exponents"                    # the main job's folder
    assert configs.validate({"data": {"source": "digits"}})["out"] == "results/exponents-digits"
    assert configs.validate({"task": "regimes"})["out"] == "results/regimes"
    assert configs.validate({"task": "regimes", "data": {"source": "mnist"}})["out"] == "results/regimes-mnist"
    assert configs.validate({"task": "spectrum", "data": {"path": "d/table.csv"}})["out"] == "results/spectrum-table"
    assert configs.validate({"data": {"source": "digits"}, "out": "mine"})["out"] == "mine"


def test_network_layers_describe_any_network(tmp_path):
    """[network] layers: a list of layer tables, validated before any work, built by the tasks;
    the other network keys cannot be given beside it."""
    import nngp_ntk as nk
    from nngp_ntk.cli import _tasks as tasks

    path = tmp_path / "c.toml"
    path.write_text('task = "spectrum"\n[data]\nsource = "digits"\n[network]\nlayers = [\n'
                    '  {layer = "dense", W_std = 1.5, b_std = 0.1}, {layer = "relu"},\n'
                    '  {layer = "residual", block = [{layer = "dense", W_std = 1.4}, {layer = "erf"}]},\n'
                    '  {layer = "dense", bias = false},\n]\n')
    config = configs.load(path)
    assert configs.validate(config) == config
    net = tasks.build_network(configs.typed(config))
    assert net == nk.Sequential(nk.Dense(W_std=1.5, b_std=0.1), nk.activations.ReLU(),
                                nk.Residual(nk.Dense(W_std=1.4), nk.activations.Erf()), nk.Dense(b_std=None))
    with pytest.raises(ConfigError, match="network.depth cannot be given"):
        configs.load(path, {"network.depth": 2})
    with pytest.raises(ConfigError, match=r"network.layers\[0\]: unknown layer 'conv'"):
        configs.load(path, {"network.layers": [{"layer": "conv"}]})
    with pytest.raises(ConfigError, match="layer 0 \\(ReLU\\)"):
        configs.load(path, {"network.layers": [{"layer": "relu"}, {"layer": "dense"}]})
