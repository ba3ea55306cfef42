"""Power laws that approach a limit: L_r(x) = L_inf + c x^-alpha measured in paired repeats.

``fit_offset_power_law`` fits the repeats' curves (rows) on their differences from each repeat's
own last point, in which the common limit cancels, and gives alpha a delete-one jackknife interval
over the repeats; the result is a ``PowerLawFit`` (``nngp_ntk.spectrum._fits``) with ``limit`` set.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.optimize
import scipy.special

from nngp_ntk._checks import ArgumentValueError
from nngp_ntk.spectrum._fits import (_EDGE, _GRID_POINTS, ALPHA_SEARCH, PowerLawFit, _check_confidence, _points,
                                     _too_short, judge, unreliable)


def _fit_excess(x: np.ndarray, excess: np.ndarray, weights: np.ndarray, ceiling: float,
                next_order: bool) -> tuple[float, np.ndarray]:
    """(alpha, coefficients) minimizing sum_k w_k (excess_k - sum_j a_j g_jk(alpha))^2 over alpha in
    ALPHA_SEARCH, with g_0k = (x_k/x_K)^-alpha - 1 and, for ``next_order``, g_1k = (x_k/x_K)^-(alpha+1) - 1
    (x_K = x[-1], excess_k at x[:-1]). For fixed alpha the objective is quadratic in a: its weighted
    least-squares solution, for a single term clipped to 0 <= a_0 <= ceiling (the objective is a
    parabola in a_0), so the profile in alpha is one-dimensional; it is scanned on a geometric grid
    and refined around its minimum (bounded Brent)."""
    ratios = x[:-1] / x[-1]

    def profile(alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        alpha = np.asarray(alpha, dtype=np.float64).reshape(-1, 1, 1)
        powers = alpha + (np.arange(2) if next_order else np.arange(1))[None, None, :]
        basis = ratios[None, :, None] ** -powers - 1.0                                   # (alpha, k, term)
        normal = np.einsum("akj,k,aki->aji", basis, weights, basis)
        coefficients = np.linalg.solve(normal, np.einsum("akj,k,k->aj", basis, weights, excess)[..., None])[..., 0]
        if not next_order:
            coefficients = np.clip(coefficients, 0.0, ceiling)
        residuals = excess - np.einsum("akj,aj->ak", basis, coefficients)
        return residuals**2 @ weights, coefficients

    grid = np.geomspace(*ALPHA_SEARCH, _GRID_POINTS)
    best = int(np.argmin(profile(grid)[0]))
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    alpha = float(scipy.optimize.minimize_scalar(lambda a: float(profile(a)[0][0]), bounds=(low, high),
                                                 method="bounded", options={"xatol": 1e-7}).x)
    return alpha, profile(alpha)[1][0]


def fit_offset_power_law(x: np.ndarray | list, repeat_losses: np.ndarray | list, *, next_order: bool = False,
                         confidence: float = 0.95, name: str = "x") -> PowerLawFit:
    """Fit E[L(x)] = L_inf + c x^-alpha (1 + b/x) to curves L_r(x) of R paired repeats (rows).

    Each repeat's points share its network and test set, so each curve carries its own level; the
    level cancels in the differences from the repeat's own last point x_K (the largest x),

        Delta_r(x_k) = L_r(x_k) - L_r(x_K),    E[Delta(x_k)] = c (x_k^-alpha - x_K^-alpha),  k < K,

    fitted to their mean over repeats by weighted least squares, weights 1/s_k^2 with s_k the
    standard error of that mean, subject to c >= 0 and L_inf = mean_r L_r(x_K) - c x_K^-alpha >= 0.
    ``next_order=True`` fits the next order b of the expansion in 1/x too (c, b free; alpha and b
    trade off, so it needs many repeats and points). The interval is the delete-one jackknife over
    repeats (weights held fixed), alpha +- t_{R-1} se_jack: repeats are independent, so it accounts
    for the correlation of one repeat's points that a per-point error would miss.

    Args:
        x: the positive abscissae, one per column of ``repeat_losses``.
        repeat_losses: finite losses of shape (repeats, len(x)), R >= 2 repeats.
        next_order: fit the 1/x correction b as well.
        confidence: the level of the jackknife interval.
        name: what x is called in messages.

    Returns:
        A ``PowerLawFit`` with ``limit`` = L_inf, ``correction`` = b and interval "jackknife";
        unreliable on fewer than 4 distinct x (5 with ``next_order``), a span below ``MIN_SPAN``, a
        mean loss that never exceeds its last value, c = 0, alpha at an end of ``ALPHA_SEARCH``, or
        a wide interval (``judge``).

    Raises:
        ValueError: for bad x, losses not of shape (repeats, len(x)) or not finite, fewer than 2
            repeats, or a confidence outside (0, 1).

    Example:
        >>> import numpy as np
        >>> x = np.array([10.0, 20.0, 40.0, 80.0, 160.0])
        >>> levels = np.array([[0.0], [0.1], [-0.1]])
        >>> fit = fit_offset_power_law(x, 1.0 + levels + 2.0 / x)
        >>> round(fit.alpha, 3), round(fit.limit, 3)
        (1.0, 1.0)
    """
    x, repeat_losses = _points(name, x, repeat_losses, "repeat_losses")
    if repeat_losses.ndim != 2 or len(repeat_losses) < 2:
        raise ArgumentValueError(f"repeat_losses must have shape (repeats, {len(x)}) with at least 2 repeats (the "
                                 f"interval comes from their scatter), got shape {repeat_losses.shape}")
    confidence = _check_confidence(confidence)
    repeats = len(repeat_losses)
    nan = float("nan")
    fit = PowerLawFit(nan, (nan, nan), nan, (float(x[0]), float(x[-1])), len(np.unique(x)), "jackknife",
                      confidence, limit=nan)
    needed = 5 if next_order else 4
    reason = _too_short(x, needed)
    differences = repeat_losses[:, :-1] - repeat_losses[:, -1:]
    if not reason and not np.any(differences.mean(axis=0) > 0):
        reason = (f"the mean loss never exceeds its value at the largest {name} = {x[-1]:g}: no approach to a "
                  f"limit to fit")
    if reason:
        return unreliable(fit, reason)
    errors = differences.std(axis=0, ddof=1) / np.sqrt(repeats)
    weights = np.maximum(errors, 1e-3 * errors.max() + np.finfo(float).tiny) ** -2

    def solve(rows: np.ndarray) -> tuple[float, np.ndarray]:
        return _fit_excess(x, differences[rows].mean(axis=0), weights, float(repeat_losses[rows, -1].mean()),
                           next_order)

    alpha, coefficients = solve(np.arange(repeats))
    leave_one_out = np.array([solve(np.delete(np.arange(repeats), r))[0] for r in range(repeats)])
    spread = np.sqrt((repeats - 1) / repeats * np.sum((leave_one_out - leave_one_out.mean()) ** 2))
    half = float(scipy.special.stdtrit(repeats - 1, 0.5 + confidence / 2) * spread)
    last = float(x[-1])
    with np.errstate(over="ignore"):
        amplitude = float(coefficients[0]) * last**alpha
    correction = float(coefficients[1] / coefficients[0]) * last if next_order and coefficients[0] != 0 else 0.0
    fit = dataclasses.replace(fit, alpha=alpha, ci=(alpha - half, alpha + half), amplitude=amplitude,
                              limit=float(repeat_losses[:, -1].mean() - coefficients.sum()), correction=correction)
    if coefficients[0] <= 0:
        return unreliable(fit, "the fitted approach c is 0: the losses show no decay to a limit")
    low, high = ALPHA_SEARCH
    if alpha <= low * (1 + _EDGE) or alpha >= high * (1 - _EDGE):
        return unreliable(fit, f"the exponent {alpha:.4g} is at an end of its search range {ALPHA_SEARCH}: "
                               f"the optimum is degenerate (too few points or repeats for the law)")
    return judge(fit)
