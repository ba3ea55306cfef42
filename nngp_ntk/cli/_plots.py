"""Figures of kernel spectra and scaling curves, saved as PNG (matplotlib, the ``plots`` extra).

Figures are drawn on matplotlib's Agg canvas through ``matplotlib.figure.Figure``, without pyplot,
so no global backend is switched and nothing needs a display. Power laws are straight lines on the
log-log axes used throughout:

    spectrum:        lambda_i = A i^-(1 + alpha_K_sample)    (eigenvalues of K/N against the index i)
    learning curve:  L(D) = c D^-alpha_D  (+ L_inf)           (test loss against training-set size D)
    model curve:     L(P) = c P^-alpha_P  (+ L_inf)           (test loss against model size P)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from nngp_ntk.cli._text import UNRELIABLE, fit_interval

DPI = 120


class Curve(NamedTuple):
    """Measured losses at ``x`` with error bars ``errors`` (or None), optionally a fitted or
    predicted curve ``fit_y`` at ``fit_x`` shown as a line labeled ``fit_label``, and optionally a
    fit window (first, last x) shaded and labeled ``window_label``."""

    x: np.ndarray
    losses: np.ndarray
    errors: np.ndarray | None
    label: str
    fit_x: np.ndarray | None = None
    fit_y: np.ndarray | None = None
    fit_label: str = ""
    window: tuple[float, float] | None = None
    window_label: str = ""


def _save(figure: Figure, path: str | os.PathLike) -> None:
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=DPI)


def spectrum_figure(path: str | os.PathLike, eigenvalues: np.ndarray, fit, title: str = "",
                    operator: tuple[str, tuple[float, float]] | None = None) -> None:
    """Eigenvalues lambda_i of K/N against i on log-log axes, with their fitted power law
    A i^-(1 + alpha_K_sample) (solid on the fit window, dashed beyond; no line when the fit is
    unreliable or poor, the legend saying why) and its window shaded, unless the fit is unreliable;
    ``operator`` = (alpha_K as printed, with its interval and flags; (i_low, i_high)) shades, in
    another color, the indices where the kernel operator's exponent is read (not when unreliable)
    and names it in the legend.

    ``fit`` is a ``nngp_ntk.spectrum._fits.PowerLawFit`` (alpha, ci, window, reliable, poor, callable at indices).
    """
    figure = Figure(figsize=(6.4, 4.6))
    draw_spectrum(figure.add_subplot(), eigenvalues, fit, title, operator)
    _save(figure, path)


def draw_spectrum(axes, eigenvalues: np.ndarray, fit, title: str = "",
                  operator: tuple[str, tuple[float, float]] | None = None) -> None:
    """``spectrum_figure``'s content on matplotlib ``axes``."""
    values = np.asarray(eigenvalues, dtype=np.float64)
    index = np.arange(1, len(values) + 1)
    positive = values > 0
    axes.loglog(index[positive], values[positive], ".", markersize=2.5, color="C0", label="eigenvalues of K/N")
    low, high = fit.window
    sample = f"$\\alpha_{{K,\\mathrm{{sample}}}}$ = {fit_interval(fit)}"
    if fit.poor:
        start, end = fit.local_alpha
        sample += f"\nno line: the curve bends, local exponent {start:.2f} to {end:.2f}"
    if fit.reliable and not fit.poor:
        axes.loglog(index, fit(index), "--", color="C3", linewidth=0.8, alpha=0.6)
        inside = np.arange(low, high + 1)
        axes.loglog(inside, fit(inside), "-", color="C3", linewidth=2,
                    label=f"fit $i^{{-(1+\\alpha)}}$, {sample}")
    else:
        axes.plot([], [], " ", label=sample)
    if fit.reliable:                    # an unreliable fit has no window worth marking
        axes.axvspan(low, high, color="C3", alpha=0.08, label=f"fit window i = {low}..{high}")
    if operator is not None:
        text, (first, last) = operator
        label = f"operator $\\alpha_K$ = {text}, read at i ~ {first:.0f}..{last:.0f}"
        if text.startswith(UNRELIABLE):
            axes.plot([], [], " ", label=label)
        else:
            axes.axvspan(first, last, color="C2", alpha=0.08, hatch="//", label=label)
    if positive.any():  # down to the smallest positive eigenvalue, at most 12 decades below the largest
        axes.set_ylim(max(values[positive].min() / 2, values[positive].max() * 1e-12), None)
    axes.set_xlabel("index i")
    axes.set_ylabel("eigenvalue $\\lambda_i$ of K/N")
    axes.set_title(title or "kernel spectrum")
    axes.legend(loc="lower left", fontsize="small")


def _draw_curves(axes, curves: Sequence[Curve], xlabel: str, ylabel: str, title: str) -> None:
    for number, curve in enumerate(curves):
        color = f"C{number}"
        axes.errorbar(curve.x, curve.losses, yerr=curve.errors, fmt="o", color=color, markersize=4,
                      capsize=3, label=curve.label)
        if curve.fit_x is not None:
            axes.plot(curve.fit_x, curve.fit_y, "-", color=color, alpha=0.8, label=curve.fit_label)
        if curve.window is not None:
            axes.axvspan(*curve.window, color=color, alpha=0.08, label=curve.window_label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    span = [value for curve in curves for value in np.asarray(curve.x, dtype=np.float64)]
    if max(span) >= 10 * min(span):  # a decade or more has major ticks enough; minor labels would collide
        axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize="medium")
    axes.legend(fontsize="small")


def curve_figure(path: str | os.PathLike, curves: Sequence[Curve], xlabel: str, ylabel: str = "test loss",
                 title: str = "") -> None:
    """Measured losses with error bars and their fitted / predicted curves on log-log axes."""
    figure = Figure(figsize=(6.4, 4.6))
    _draw_curves(figure.add_subplot(), curves, xlabel, ylabel, title)
    _save(figure, path)


def panels_figure(path: str | os.PathLike, panels: Sequence[tuple[str, str, Sequence[Curve]]],
                  ylabel: str = "test loss", title: str = "") -> None:
    """Several ``curve_figure`` panels side by side, two per row: (panel title, x label, curves) each."""
    rows = -(-len(panels) // 2)
    figure = Figure(figsize=(11, 4.2 * rows))
    for number, (panel_title, xlabel, curves) in enumerate(panels):
        _draw_curves(figure.add_subplot(rows, 2, number + 1), curves, xlabel, ylabel, panel_title)
    if title:
        figure.suptitle(title)
    _save(figure, path)
