"""``nngp-ntk compute``: L(P, n) of one-pass SGD, predicted and measured, and its compute frontier."""

import json
import pathlib

import numpy as np

from nngp_ntk.cli import _command as cli
from nngp_ntk.cli import _config as configs
from nngp_ntk.theory import compute_frontier

CONFIG = pathlib.Path(__file__).resolve().parents[2] / "configs" / "mnist_sgd_compute.toml"


def test_fast_run_writes_the_grids_and_the_frontier(tmp_path, capsys):
    status = cli.main(["compute", "--dataset", "digits", "--depth", "1", "--w-std", "1.4142", "--b-std", "0.1",
                       "--fast", "--quiet", "--no-plots", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0 and "alpha_C (frontier)" in out and "P* measured" in out
    result = json.loads((tmp_path / "compute.json").read_text())
    assert result["widths"] == [10, 20, 40] and result["samples"] == [50, 100, 200]
    measured = np.array(result["measured"]["losses"])
    frontier = compute_frontier(result["widths"], result["samples"], measured)
    assert result["measured"]["frontier"]["losses"] == frontier.losses.tolist()
    predicted = np.array(result["predicted"]["losses"])
    assert np.all(np.abs(predicted / measured - 1) < 0.25)


def test_unstable_step_is_the_users_error(tmp_path, capsys):
    status = cli.main(["compute", "--dataset", "digits", "--fast", "--quiet", "--no-plots", "--eta0", "50",
                       "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2 and "eta0" in err and "internal error" not in err


def test_shipped_config_is_the_benchmark_setting():
    config = configs.load(CONFIG)
    assert config["task"] == "compute" and config["network"]["depth"] == 1
    assert config["compute"]["widths"][-1] == 1600 and config["compute"]["samples"][-1] == 4000
    assert config["compute"]["eta0"] == 0.5 and config["compute"]["test_size"] == 1000
