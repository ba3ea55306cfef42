"""Tests of nngp_ntk.cli._experiments beyond the end-to-end runs of tests/cli/test_cli.py: the default
train/test split and sizes, the stage timer, and the measured curves' plots (no line through a poor fit)."""

from __future__ import annotations

import numpy as np
import pytest

from nngp_ntk.cli import _experiments as experiments
from nngp_ntk.cli._config import ConfigError


@pytest.mark.parametrize("n, test_size, sizes, expected", [
    (5000, None, None, (1000, [100, 200, 400, 800, 1600, 3200])),   # the main job: D = 100..3200
    (1797, None, None, (449, [100, 200, 400, 800])),
    (400, 80, None, (80, [39, 78, 156, 312])),                      # below the pool of 320
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


def test_a_poor_fit_draws_no_line_but_its_window():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from nngp_ntk import scaling
    from nngp_ntk.spectrum import _fits as fits
    from nngp_ntk.cli import _plots as plots

    widths = 10.0 * 2.0 ** np.arange(6)
    drawn = {}
    for name, losses in {"straight": 2.0 * widths**-0.5, "bent": widths**-0.5 + 0.3}.items():
        repeats = losses * np.array([[0.99], [1.0], [1.01]])
        curve = scaling.Curve(widths, losses, 0.01 * losses, repeats, fits.fit_loglog(widths, repeats))
        shown = experiments._measured_plot(curve, "P", "$P^{-\\alpha_P}$")
        axes = Figure().add_subplot()
        plots._draw_curves(axes, [shown], "P", "loss", name)
        drawn[name] = (shown, [line.get_label() for line in axes.get_lines()], axes.get_legend_handles_labels()[1])
        assert experiments._curve_json(curve)["poor"] is curve.fit.poor
    straight, lines, legend = drawn["straight"]
    assert straight.fit_x is not None and any(label.startswith("fit $P") for label in lines)
    assert "poor fit" not in straight.label
    bent, lines, legend = drawn["bent"]
    assert bent.fit_x is None and not any(label.startswith("fit") for label in lines)     # no fitted line
    assert bent.window == (10.0, 320.0) and "poor fit" in bent.label
    assert any("fit window P = 10..320" in label and "bends" in label for label in legend)


def test_a_measured_exponent_off_its_prediction_is_flagged_in_plot_and_json():
    from nngp_ntk import scaling
    from nngp_ntk.spectrum import _fits as fits

    widths = 10.0 * 2.0 ** np.arange(6)
    losses = 2.0 * widths**-0.5
    repeats = losses * np.array([[0.99], [1.0], [1.01]])
    curve = scaling.Curve(widths, losses, 0.01 * losses, repeats, fits.fit_loglog(widths, repeats))
    far = experiments._measured_plot(curve, "P", "$P^{-\\alpha_P}$", 1.0, (0.9, 1.1))
    near = experiments._measured_plot(curve, "P", "$P^{-\\alpha_P}$", 0.5, (0.45, 0.55))
    assert far.label.endswith("(disagrees)") and "disagrees" not in near.label
    assert experiments._curve_json(curve, 1.0, (0.9, 1.1))["disagrees"] is True
    assert experiments._curve_json(curve, 0.5)["disagrees"] is False and experiments._curve_json(curve)["disagrees"] is False
