"""Numbers as the ``nngp-ntk`` command prints them and its figures label them."""

from __future__ import annotations

import math
from collections.abc import Sequence

#: What an unreliable exponent (NaN: ``fits.PowerLawFit.reason`` says why) is shown as.
UNRELIABLE = "unreliable"
#: What marks an exponent of a poor fit (a line through a bending curve: ``fits.PowerLawFit.poor_reason``).
POOR = "poor fit"


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
