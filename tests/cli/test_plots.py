"""Tests of nngp_ntk.cli._plots: every figure is written as a PNG of the expected size, with the fitted
exponents in its legend, and non-positive eigenvalues (the numerical floor) do not break the spectrum."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from matplotlib.image import imread  # noqa: E402

from nngp_ntk import spectrum  # noqa: E402
from nngp_ntk.cli import _plots as plots
from nngp_ntk.cli import _text as text

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_png(path):
    assert path.read_bytes()[:8] == PNG_MAGIC
    return imread(path)


def test_spectrum_figure(tmp_path):
    index = np.arange(1, 401, dtype=float)
    values = 0.3 * index ** -1.4
    values[-5:] = [1e-9, 0.0, 0.0, -1e-12, -1e-9]  # the floor of a float32 spectrum
    fit = spectrum.fit_power_law(values, window=(10, 100))
    path = tmp_path / "spectrum"  # no suffix: the format is PNG regardless of the name
    plots.spectrum_figure(path, values, fit, title="test", operator=(0.41, (0.40, 0.42), (100, 3200)))
    image = read_png(path)
    assert image.shape[0] == round(4.6 * plots.DPI) and image.shape[1] == round(6.4 * plots.DPI)
    assert image[..., :3].std() > 0.05  # something was drawn
    unreliable = spectrum.fit_power_law(values, window=(10, 30))     # too short: no line, the reason's label
    assert not unreliable.reliable
    plots.spectrum_figure(tmp_path / "short.png", values, unreliable)
    read_png(tmp_path / "short.png")


def test_curve_and_panel_figures(tmp_path):
    sizes = np.array([50, 100, 200, 400])
    losses = 2.0 * sizes ** -0.5
    curve = plots.Curve(sizes, losses, 0.1 * losses, "measured", sizes, losses, "fit D^-0.5")
    predicted = plots.Curve(sizes, 1.1 * losses, None, "predicted")
    bent = plots.Curve(sizes, losses + 0.1, None, "measured (poor fit)", window=(50, 400),
                       window_label="fit window D = 50..400\nno line: the curve bends")
    plots.curve_figure(tmp_path / "curve.png", [curve, predicted, bent], xlabel="training set size D", title="L(D)")
    assert read_png(tmp_path / "curve.png").shape[1] == round(6.4 * plots.DPI)
    panels = [(f"panel {k}", "D", [curve]) for k in range(3)]
    plots.panels_figure(tmp_path / "panels.png", panels, title="three panels")
    image = read_png(tmp_path / "panels.png")
    assert image.shape[0] == round(2 * 4.2 * plots.DPI) and image.shape[1] == round(11 * plots.DPI)


def test_interval_text():
    assert text.interval(0.12345, (0.1, 0.15)) == "0.123 [0.100, 0.150]"
    assert text.interval(1.0, None) == "1.000"
    assert text.interval(float("nan"), (float("nan"), float("nan"))) == text.UNRELIABLE
    assert text.interval(None) == "-"
