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
    plots.spectrum_figure(path, values, fit, title="test", operator=("0.410 [0.400, 0.420]", (100, 3200)))
    image = read_png(path)
    assert image.shape[0] == round(4.6 * plots.DPI) and image.shape[1] == round(6.4 * plots.DPI)
    assert image[..., :3].std() > 0.05  # something was drawn
    unreliable = spectrum.fit_power_law(values, window=(10, 30))     # too short: no line, the reason's label
    assert not unreliable.reliable
    plots.spectrum_figure(tmp_path / "short.png", values, unreliable)
    read_png(tmp_path / "short.png")


def shaded(axes):
    """{legend label: (first, last) x} of the shaded spans (axvspan) of ``axes``."""
    return {patch.get_label(): (patch.get_x(), patch.get_x() + patch.get_width()) for patch in axes.patches}


def test_spectrum_shades_only_windows_worth_reading():
    """The fit window is shaded only for a reliable fit; the operator's alpha_K is shaded where it is
    read (in another color), and not at all when it is unreliable."""
    from matplotlib.figure import Figure

    index = np.arange(1, 401, dtype=float)
    values = 0.3 * index ** -1.4
    good, short = spectrum.fit_power_law(values, window=(10, 100)), spectrum.fit_power_law(values, window=(10, 30))
    axes = Figure().add_subplot()
    plots.draw_spectrum(axes, values, good, operator=("0.410 [0.400, 0.420]", (37, 296)))
    assert shaded(axes) == {"fit window i = 10..100": (10, 100),
                            "operator $\\alpha_K$ = 0.410 [0.400, 0.420], read at i ~ 37..296": (37, 296)}
    axes = Figure().add_subplot()
    plots.draw_spectrum(axes, values, short, operator=(text.UNRELIABLE, (37, 296)))
    assert not short.reliable and shaded(axes) == {}
    labels = axes.get_legend_handles_labels()[1]
    assert any("sample}}$ = unreliable" in label for label in labels)
    assert "operator $\\alpha_K$ = unreliable, read at i ~ 37..296" in labels


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


@pytest.mark.parametrize("measured, ci, predicted, predicted_ci, expected", [
    (0.215, (0.184, 0.246), 1.0, None, True),              # the variance-limited L(P) of a --fast regimes run
    (1.721, (1.177, 2.265), 1.0, None, True),              # above the prediction
    (0.95, (0.80, 1.10), 1.0, None, False),                # the interval holds the predicted value
    (0.722, (0.450, 0.949), 0.983, (0.801, 1.164), False),  # the intervals overlap
    (0.534, (0.523, 0.544), 0.576, (0.561, 0.591), True),   # they do not
    (float("nan"), (float("nan"), float("nan")), 1.0, None, False),  # unreliable: nothing to compare
    (0.5, (0.4, 0.6), float("nan"), (float("nan"), float("nan")), False),
    (0.5, (0.4, 0.6), None, None, False),                  # no prediction
])
def test_disagreement_rule(measured, ci, predicted, predicted_ci, expected):
    assert text.disagrees(measured, ci, predicted, predicted_ci) is expected


def test_flags_and_their_legend():
    from nngp_ntk.spectrum._fits import PowerLawFit

    fit = PowerLawFit(alpha=0.215, ci=(0.184, 0.246), amplitude=1.0, window=(60.0, 480.0), n_points=4)
    assert text.flagged(fit, 1.0) == "0.215 [0.184, 0.246] (disagrees)" and text.flagged(fit, 0.2) == text.fit_interval(fit)
    lines = ["alpha_D   0.215 [0.184, 0.246] (disagrees)", "alpha_K_sample: unreliable, too few points"]
    (legend,) = text.legend(lines)
    assert legend.startswith("flags: unreliable = ") and "; disagrees = the measured interval and the predicted one" in legend
    assert "poor fit" not in legend and text.legend(["alpha_D   0.215 [0.184, 0.246]"]) == []
