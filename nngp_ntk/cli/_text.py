"""Numbers as the ``nngp-ntk`` command prints them and its figures label them, with their flags.

A printed or plotted exponent carries a flag when it should not be read as it stands:

    unreliable   the fit determines nothing (too few points, a degenerate optimum, an interval across
                 zero): no number is shown, and a note gives ``fits.PowerLawFit.reason``
    poor fit     a line through a log-log curve that bends (``fits.PowerLawFit.poor``): the number is
                 shown, a note says how the curve bends
    disagrees    a measured exponent whose interval and its prediction's do not overlap (a prediction
                 without an interval is its point): both numbers are shown (``disagrees``)

``legend`` is the line that explains the flags an output uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: What an unreliable exponent (NaN: ``fits.PowerLawFit.reason`` says why) is shown as.
UNRELIABLE = "unreliable"
#: What marks an exponent of a poor fit (a line through a bending curve: ``fits.PowerLawFit.poor_reason``).
POOR = "poor fit"
#: What marks a measured exponent whose interval misses its prediction's (``disagrees``).
DISAGREES = "disagrees"
#: What each flag means, for ``legend``.
MEANINGS = {UNRELIABLE: "the fit determines nothing (the note says why)",
            POOR: "a line through a log-log curve that bends (the note says how)",
            DISAGREES: "the measured interval and the predicted one (or the predicted value) do not overlap"}


def interval(value: float | None, ci: Sequence[float] | None = None) -> str:
    """'0.123 [0.100, 0.150]' (the interval left out when None), '-' for None, UNRELIABLE for NaN.

    Example:
        >>> interval(0.12345, (0.1, 0.15)), interval(1.0), interval(float("nan"), (0.0, 1.0))
        ('0.123 [0.100, 0.150]', '1.000', 'unreliable')
    """
    if value is None:
        return "-"
    if not math.isfinite(value):
        return UNRELIABLE
    return f"{value:.3f}" + ("" if ci is None else f" [{ci[0]:.3f}, {ci[1]:.3f}]")


def fit_interval(fit) -> str:
    """``interval`` of a ``fits.PowerLawFit``'s alpha and ci, with '(poor fit)' after a poor fit's.

    Example:
        >>> from nngp_ntk.spectrum._fits import PowerLawFit
        >>> fit_interval(PowerLawFit(alpha=0.5, ci=(0.4, 0.6), amplitude=1.0, window=(1.0, 10.0), n_points=4))
        '0.500 [0.400, 0.600]'
    """
    return interval(fit.alpha, fit.ci) + (f" ({POOR})" if fit.poor else "")


def disagrees(value: float | None, ci: Sequence[float] | None, predicted: float | None,
              predicted_ci: Sequence[float] | None = None) -> bool:
    """True when a measured exponent and its prediction are both numbers and their intervals do not
    overlap: ci[1] < low or ci[0] > high, [low, high] the predicted interval (the predicted value
    itself when it has none). An unreliable side (None or NaN) disagrees with nothing.

    Example:
        >>> disagrees(0.215, (0.184, 0.246), 1.0), disagrees(0.9, (0.8, 1.1), 1.0)
        (True, False)
        >>> disagrees(0.722, (0.45, 0.949), 0.983, (0.801, 1.164)), disagrees(float("nan"), None, 1.0)
        (False, False)
    """
    numbers = [value, predicted, *(ci or (float("nan"),)), *(predicted_ci or ())]
    if any(v is None or not math.isfinite(v) for v in numbers):
        return False
    low, high = predicted_ci if predicted_ci is not None else (predicted, predicted)
    return ci[1] < low or ci[0] > high


def flagged(fit, predicted: float | None = None, predicted_ci: Sequence[float] | None = None) -> str:
    """``fit_interval`` of a measured ``fits.PowerLawFit``, with '(disagrees)' after it when its
    interval misses its prediction's (``disagrees``).

    Example:
        >>> from nngp_ntk.spectrum._fits import PowerLawFit
        >>> flagged(PowerLawFit(alpha=0.215, ci=(0.184, 0.246), amplitude=1.0, window=(1.0, 10.0), n_points=4), 1.0)
        '0.215 [0.184, 0.246] (disagrees)'
    """
    text = fit_interval(fit)
    return text + (f" ({DISAGREES})" if disagrees(fit.alpha, fit.ci, predicted, predicted_ci) else "")


def legend(lines: Sequence[str]) -> list[str]:
    """The line that explains the flags the ``lines`` use ([] when they use none).

    Example:
        >>> legend(["alpha_D  0.215 [0.184, 0.246] (disagrees)"])
        ['flags: disagrees = the measured interval and the predicted one (or the predicted value) do not overlap']
    """
    text = "\n".join(lines)
    used = [f"{flag} = {meaning}" for flag, meaning in MEANINGS.items() if flag in text]
    return [f"flags: {'; '.join(used)}"] if used else []
