"""Tests of nngp_ntk.cli.experiments beyond the end-to-end runs of tests/test_cli.py: the default
train/test split and sizes, and the stage timer."""

from __future__ import annotations

import pytest

from nngp_ntk.cli import experiments
from nngp_ntk.cli.config import ConfigError


@pytest.mark.parametrize("n, test_size, sizes, expected", [
    (5000, None, None, (1000, [100, 200, 400, 800, 1600, 3200])),   # the main job: D = 100..3200
    (1797, None, None, (449, [100, 200, 400, 800])),
    (400, 80, None, (80, [40, 80, 160, 320])),
    (400, 100, [10, 20, 300], (100, [10, 20, 300])),
])
def test_default_split(n, test_size, sizes, expected):
    assert experiments.default_split(n, test_size, sizes) == expected


def test_default_split_refusals():
    with pytest.raises(ConfigError, match="largest training-set size 400 exceeds the 320 points"):
        experiments.default_split(400, 80, [100, 200, 400])
    with pytest.raises(ConfigError, match="leaves 1 training points"):
        experiments.default_split(10, 9, None)


def test_stages_record_every_stage_when_quiet():
    stages = experiments.Stages(["a", "b"], progress=False)
    stages.done()
    stages.done()
    assert list(stages.seconds) == ["a", "b"] and all(s >= 0 for s in stages.seconds.values())
