"""Numbers as the ``nngp-ntk`` command prints them and its figures label them."""

from __future__ import annotations

import math
from collections.abc import Sequence

#: What an unreliable exponent (NaN: ``fits.PowerLawFit.reason`` says why) is shown as.
UNRELIABLE = "unreliable"


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
