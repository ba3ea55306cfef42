"""Tests of nngp_ntk.cli._tasks: atomic output files, the writable-folder check, data loading and
preprocessing from a config, label encoding."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from nngp_ntk.cli import _config as configs
from nngp_ntk import data
from nngp_ntk.cli import _tasks as tasks
from nngp_ntk.cli._config import ConfigError


def test_output_replaces_files_atomically(tmp_path):
    output = tasks.Output(tmp_path / "new" / "folder")
    path = output.json("result.json", {"value": np.float32(1.5), "array": np.arange(3)})
    assert json.loads(path.read_text()) == {"value": 1.5, "array": [0, 1, 2]}

    def crash(temporary):
        temporary.write_text("half")
        raise RuntimeError("interrupted while writing")

    with pytest.raises(RuntimeError):
        output.figure("result.json", crash)
    assert json.loads(path.read_text())["value"] == 1.5  # the old result is intact
    assert sorted(p.name for p in path.parent.iterdir()) == ["result.json"]  # no temporary left
    with pytest.raises(TypeError, match="cannot write object"):
        output.json("bad.json", {"x": object()})
    assert not (path.parent / "bad.json").exists()
    np.testing.assert_array_equal(np.load(output.npy("a.npy", np.eye(2))), np.eye(2))


def test_unwritable_folders_are_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="cannot create output folder"):
        tasks.check_writable_folder(tmp_path / "file" / "sub")
    if pathlib.Path("/proc/self").is_dir():     # exists, refuses new files: the message says so, not ENOENT alone
        with pytest.raises(ConfigError, match="cannot write into output folder '/proc': creating a file there failed"):
            tasks.check_writable_folder(pathlib.Path("/proc"))


def test_load_problem_preprocesses_and_encodes(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, size=(30, 4, 4))
    np.savez(tmp_path / "images.npz", X=images, y=np.arange(30) % 3)
    config = configs.validate({"data": {"source": "file", "path": str(tmp_path / "images.npz"), "pool": 2}})
    problem = tasks.load_problem(configs.typed(config))
    pooled = data.average_pool(images.reshape(30, 16), (4, 4), 2)
    np.testing.assert_allclose(problem.X, data.normalize_rows(pooled - pooled.mean(axis=0)))
    assert problem.classes and problem.Y.shape == (30, 3)
    subset = tasks.load_problem(configs.typed(configs.validate({**config, "data": {**config["data"], "n": 10}})))
    assert subset.X.shape == (10, 4)
    gp = tasks.load_problem(configs.typed(configs.validate({"task": "spectrum", "data": {"source": "sphere", "n": 50}})))
    assert gp.Y is None and np.allclose(np.linalg.norm(gp.X, axis=1), 2.0)


def test_load_problem_draws_gp_targets_without_labels(tmp_path):
    """No labels: one draw from the GP of the network's kernel, and a line that says so and how to give
    labels (with a hint when a column looks like them); targets = labels there is refused."""
    import nngp_ntk as nk

    rng = np.random.default_rng(0)
    np.savetxt(tmp_path / "t.csv", np.column_stack([rng.standard_normal((30, 3)), np.arange(30) % 3]), delimiter=",")
    config = configs.typed(configs.validate({"data": {"path": str(tmp_path / "t.csv")}}))
    net = nk.FullyConnected(depth=1)
    problem = tasks.load_problem(config, net, "nngp")
    assert problem.Y.shape == (30, 1) and not problem.classes
    np.testing.assert_array_equal(problem.Y, data.gp_targets(net, problem.X, kernel="nngp", seed=0))
    assert problem.note.startswith("targets: one draw from the GP of the NNGP at the points (teacher = student): "
                                   "t.csv has no labels (its last column holds only the whole numbers 0..2: "
                                   "labels? then add --label-column -1)")
    assert tasks.load_problem(config).Y is None
    labelled = configs.typed(configs.validate({"data": {"path": str(tmp_path / "t.csv"), "label_column": -1}}))
    problem = tasks.load_problem(labelled, net)
    assert problem.classes and problem.Y.shape == (30, 3) and problem.note == ""
    asked = configs.typed(configs.validate({"data": {"path": str(tmp_path / "t.csv"), "targets": "labels"}}))
    with pytest.raises(ConfigError, match="has no labels .*--label-column J"):
        tasks.load_problem(asked, net)
    sphere = configs.typed(configs.validate({"task": "spectrum", "data": {"source": "sphere", "n": 20}}))
    assert tasks.load_problem(sphere, net).note.endswith("sphere has no labels")


def test_encode_labels():
    onehot, classes = tasks.encode_labels(np.array([0, 2, 1]))
    assert classes and onehot.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    values, classes = tasks.encode_labels(np.array([0.5, -1.0]))
    assert not classes and values.shape == (2, 1)
    with pytest.raises(ConfigError, match="integer labels are classes 0, 1, 2, ...; got -1"):
        tasks.encode_labels(np.array([-1, 1]))
