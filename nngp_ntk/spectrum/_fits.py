"""Power-law fits and their intervals: one result type, ``PowerLawFit``, for every exponent.

The model is

    y(x) = limit + amplitude * x^-(shift + alpha) * (1 + correction / x),

with ``alpha`` the exponent reported. Three fits produce it:

* ``fit_loglog``: limit = 0, weighted least squares of log y on log x. Its interval is the
  Student-t interval of the slope ("least-squares"), or the percentile interval over bootstrap
  resamples ("bootstrap") of the points (1-D y) or of the repeats (rows of a 2-D y, fitted
  through their mean). ``shift`` reads an exponent off a law in x^-(shift + alpha): eigenvalues
  lambda_i ~ i^-(1 + alpha_K) have shift = 1.
* ``fit_offset_power_law`` (``nngp_ntk.spectrum._offset_fits``): L_r(x) measured in paired repeats
  r (rows) approaching a limit, fitted on the differences from each repeat's own last point;
  delete-one "jackknife" interval over the repeats.

A fit that cannot be trusted is reported, not returned as a number: ``reason`` says why and
``alpha``, its interval and the amplitude are NaN (``reliable`` is False). Unreliable are fits on
fewer points than the model needs (with at least one degree of freedom left for the interval), on
a window spanning less than a factor ``MIN_SPAN``, through a non-positive value in log space, with
a degenerate optimum (the exponent at the edge of its search range, no approach fitted, a
non-finite amplitude), or whose interval is wide: a half-width above both |alpha| and ``RESOLUTION``.
A fit is judged by the quality of its interval, not by its sign: a tight interval around an exponent
near zero (0.002 in [-0.009, 0.010]) is a result, while 0.1 in [-0.3, 0.5] determines nothing.

A reliable fit can still be a poor one: a straight line through a log-log curve that bends. The
interval of ``alpha`` assumes the law holds, so it stays narrow however far the line misses. Every
``fit_loglog`` therefore also fits a parabola in u = log x - mean(log x) (same weights),

    log y = a + b u + c u^2,

and tests the curvature c: t = c / se(c), two-sided p = ``lack_of_fit_p``. se(c) is the delete-one
jackknife over the repeats (rows of a 2-D y, at least 3; t with R - 1 degrees of freedom), the
independent noise, as the points of one repeat may be correlated; otherwise it comes from the
parabola's residual variance (t with n - 3 degrees of freedom, at least 4 points). The fit is
``poor`` when p < ``LACK_OF_FIT_LEVEL`` and the line misses some point by more than ``MIN_MISS`` in
log y (``max_residual``). A poor fit keeps its numbers, as a bent curve is neither too short nor
degenerate; ``poor_reason`` says how the curve bends, through the parabola's local exponents
-(b + 2 c u) - shift at the two ends of the window (``local_alpha``).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import scipy.optimize
import scipy.special

from nngp_ntk._checks import ArgumentValueError, check_integer, check_real

#: A fit window must span at least this factor in x.
MIN_SPAN = 2.0
#: Exponents over which the paired offset fit's profile is searched; an optimum at an end is degenerate.
ALPHA_SEARCH = (1e-3, 20.0)
_GRID_POINTS = 400
#: An optimum this close (relative) to an end of ALPHA_SEARCH counts as at that end.
_EDGE = 1e-2
#: A curvature of log y in log x this significant (two-sided p below it) makes a fit poor ...
LACK_OF_FIT_LEVEL = 0.01
#: ... when the line also misses a point by more than this in log y (1%: below it the line looks exact).
MIN_MISS = 0.01
#: An interval of half-width up to this determines an exponent, even one near zero whose interval
#: holds 0; a wider one must not reach across zero (half-width at most |alpha|).
RESOLUTION = 0.05

Interval = Literal["least-squares", "bootstrap", "jackknife"]
INTERVALS: tuple[str, ...] = ("least-squares", "bootstrap", "jackknife")


def _json_number(value: float) -> float | None:
    """A float for JSON: NaN and inf as None."""
    return float(value) if np.isfinite(value) else None


@dataclasses.dataclass(frozen=True)
class PowerLawFit:
    """y(x) = limit + amplitude x^-(shift + alpha) (1 + correction / x) fitted on ``window``.

    Attributes:
        alpha: the exponent (NaN when unreliable).
        ci: its interval at ``confidence``.
        amplitude: the prefactor.
        window: the (first, last) x of the fit.
        n_points: the distinct x it used.
        interval: the interval's kind: "least-squares", "bootstrap" or "jackknife".
        confidence: the interval's level.
        shift: the part of the decay exponent not reported (1 for eigenvalues).
        limit: L_inf of an offset fit (0 otherwise).
        correction: b of an offset fit's next order (0 otherwise).
        reason: empty for a reliable fit, else why it is not (then alpha, ci, amplitude, limit and
            correction are NaN).
        curvature: c of the parabola log y = a + b u + c u^2, u = log x - mean(log x) (NaN when not
            fitted: offset fits, too few points).
        lack_of_fit_p: the two-sided p-value of c (module docstring; NaN when not tested).
        max_residual: the largest |log y - log fit| over the points (the line's worst miss).
        local_alpha: the parabola's local exponent -(b + 2 c u) - shift at the first and last x.

    Example:
        >>> fit = PowerLawFit(alpha=0.5, ci=(0.4, 0.6), amplitude=2.0, window=(10.0, 100.0), n_points=5)
        >>> fit(np.array([4.0, 16.0])), fit.reliable
        (array([1. , 0.5]), True)
        >>> fit.as_dict()["ci"]
        [0.4, 0.6]
    """

    alpha: float
    ci: tuple[float, float]
    amplitude: float
    window: tuple[float, float]
    n_points: int
    interval: str = "least-squares"
    confidence: float = 0.95
    shift: float = 0.0
    limit: float = 0.0
    correction: float = 0.0
    reason: str = ""
    curvature: float = float("nan")
    lack_of_fit_p: float = float("nan")
    max_residual: float = float("nan")
    local_alpha: tuple[float, float] = (float("nan"), float("nan"))

    @property
    def reliable(self) -> bool:
        """True when the fit is a number to report (``reason`` is empty)."""
        return not self.reason

    @property
    def poor(self) -> bool:
        """True for a reliable fit through a curve that bends: p < LACK_OF_FIT_LEVEL for the curvature
        and a miss above MIN_MISS (a number still, but not a law to draw or extrapolate)."""
        return (self.reliable and bool(self.lack_of_fit_p < LACK_OF_FIT_LEVEL)
                and bool(self.max_residual > MIN_MISS))

    @property
    def poor_reason(self) -> str:
        """How a poor fit's curve bends ('' when the fit is not poor)."""
        if not self.poor:
            return ""
        (first, last), (start, end) = self.window, self.local_alpha
        return (f"the log-log curve bends: the local exponent runs from {start:.3g} at {first:g} to {end:.3g} at "
                f"{last:g} (curvature {self.curvature:.3g}, p = {self.lack_of_fit_p:.2g}); the line misses a point "
                f"by {np.expm1(self.max_residual):.1%}")

    @property
    def alpha_K(self) -> float:
        """``alpha`` under the name of a spectrum's exponent (lambda_i ~ i^-(1 + alpha_K), shift = 1)."""
        return self.alpha

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        """The fitted law at x (also beyond the window); NaN for an unreliable fit."""
        x = np.asarray(x, dtype=np.float64)
        return self.limit + self.amplitude * x ** -(self.shift + self.alpha) * (1.0 + self.correction / x)

    def as_dict(self) -> dict[str, object]:
        """The fit as plain numbers for JSON (NaN as None).

        Returns:
            A dict with alpha, ci, confidence, interval, amplitude, limit, window, n_points, reliable,
            reason, and the lack of fit: poor, poor_reason, curvature, lack_of_fit_p, max_residual and
            local_alpha.
        """
        return {"alpha": _json_number(self.alpha), "ci": [_json_number(c) for c in self.ci],
                "confidence": self.confidence, "interval": self.interval,
                "amplitude": _json_number(self.amplitude), "limit": _json_number(self.limit),
                "window": [float(w) for w in self.window], "n_points": self.n_points, "reliable": self.reliable,
                "reason": self.reason or None, **self.lack_of_fit()}

    def lack_of_fit(self) -> dict[str, object]:
        """The lack-of-fit diagnostic as plain numbers for JSON (NaN as None).

        Returns:
            A dict with poor, poor_reason (None when not poor), curvature, lack_of_fit_p, max_residual
            and local_alpha.

        Example:
            >>> fit = PowerLawFit(alpha=0.5, ci=(0.4, 0.6), amplitude=2.0, window=(10.0, 100.0), n_points=5)
            >>> fit.lack_of_fit()["poor"], fit.lack_of_fit()["lack_of_fit_p"]
            (False, None)
        """
        return {"poor": self.poor, "poor_reason": self.poor_reason or None,
                "curvature": _json_number(self.curvature), "lack_of_fit_p": _json_number(self.lack_of_fit_p),
                "max_residual": _json_number(self.max_residual),
                "local_alpha": [_json_number(a) for a in self.local_alpha]}


def unreliable(fit: PowerLawFit, reason: str) -> PowerLawFit:
    """``fit`` marked unreliable: alpha, ci, amplitude, limit and correction NaN, ``reason`` recorded.

    Args:
        fit: a ``PowerLawFit``.
        reason: why it cannot be trusted.

    Returns:
        A new ``PowerLawFit`` with ``reliable`` False.

    Example:
        >>> fit = PowerLawFit(alpha=0.5, ci=(0.4, 0.6), amplitude=2.0, window=(10.0, 100.0), n_points=5)
        >>> marked = unreliable(fit, "too few points")
        >>> marked.reliable, marked.alpha, marked.reason
        (False, nan, 'too few points')
    """
    nan = float("nan")
    return dataclasses.replace(fit, alpha=nan, ci=(nan, nan), amplitude=nan, limit=nan, correction=nan, reason=reason)


def judge(fit: PowerLawFit) -> PowerLawFit:
    """``fit`` as it is, or marked unreliable when its optimum or interval says nothing: a non-finite
    exponent, interval or amplitude, or an interval of half-width above max(|alpha|, RESOLUTION).

    Example:
        >>> near_zero = PowerLawFit(alpha=0.002, ci=(-0.009, 0.010), amplitude=1.0, window=(10.0, 400.0), n_points=8)
        >>> judge(near_zero).reliable, judge(dataclasses.replace(near_zero, ci=(-0.3, 0.3))).reliable
        (True, False)
    """
    values = (fit.alpha, fit.ci[0], fit.ci[1])
    if not all(np.isfinite(values)):
        return unreliable(fit, f"the exponent or its interval is not finite ({fit.alpha}, {fit.ci})")
    if not np.isfinite(fit.amplitude):
        return unreliable(fit, f"the amplitude overflows ({fit.amplitude}): the optimum is degenerate")
    half = (fit.ci[1] - fit.ci[0]) / 2
    if half > max(abs(fit.alpha), RESOLUTION):
        return unreliable(fit, f"the interval [{fit.ci[0]:.4g}, {fit.ci[1]:.4g}] of alpha = {fit.alpha:.4g} is "
                               f"too wide: it reaches across zero and its half-width {half:.3g} exceeds "
                               f"{RESOLUTION:g}, so the exponent is not determined")
    return fit


def _points(name: str, x: np.ndarray | list, y: np.ndarray | list, what: str) -> tuple[np.ndarray, np.ndarray]:
    """x as a 1-D array of finite positive numbers and y with x's length as its last axis, sorted by x."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ArgumentValueError(f"{name} must be a non-empty 1-D sequence of finite numbers > 0, got {x.tolist()!r}")
    if y.ndim not in (1, 2) or y.shape[-1] != len(x) or not np.all(np.isfinite(y)):
        raise ArgumentValueError(f"{what} must be finite, of shape ({len(x)},) or (repeats, {len(x)}): one value per "
                                 f"entry of {name}, got shape {y.shape}")
    order = np.argsort(x, kind="stable")
    return x[order], y[..., order]


def _too_short(x: np.ndarray, needed: int) -> str:
    """Why x cannot carry a fit of ``needed`` points, or ''."""
    distinct = len(np.unique(x))
    if distinct < needed:
        return f"{distinct} distinct points: the fit needs at least {needed}"
    if x[-1] < MIN_SPAN * x[0]:
        return f"the points span a factor {x[-1] / x[0]:.3g} < {MIN_SPAN:g}: too short a window for an exponent"
    return ""


def _check_confidence(confidence: float) -> float:
    confidence = check_real("confidence", confidence)
    if not 0 < confidence < 1:
        raise ArgumentValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return confidence


def _line(log_x: np.ndarray, log_y: np.ndarray, weight: np.ndarray) -> tuple[float, float, float]:
    """(slope, intercept, standard error of the slope) of weighted least squares; the error from the
    weighted residuals with n - 2 degrees of freedom (0 when the points lie on a line)."""
    mean_x, mean_y = np.average(log_x, weights=weight), np.average(log_y, weights=weight)
    dx = log_x - mean_x
    spread = float(np.sum(weight * dx * dx))
    slope = float(np.sum(weight * dx * (log_y - mean_y)) / spread)
    intercept = float(mean_y - slope * mean_x)
    residual = log_y - intercept - slope * log_x
    dof = len(log_x) - 2
    error = float(np.sqrt(np.sum(weight * residual**2) / dof / spread)) if dof > 0 else float("inf")
    return slope, intercept, error


def _parabola(log_x: np.ndarray, log_y: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Weighted least squares log y = a + b u + c u^2, u = log x minus its weighted mean: the
    coefficients (a, b, c), the unscaled variance [(X^T W X)^-1]_cc of c, and the residuals."""
    u = log_x - np.average(log_x, weights=weight)
    design = np.stack([np.ones_like(u), u, u * u], axis=1)
    inverse = np.linalg.pinv(design.T @ (weight[:, None] * design))
    coefficients = inverse @ (design.T @ (weight * log_y))
    return coefficients, float(inverse[2, 2]), log_y - design @ coefficients


def _lack_of_fit(fit: PowerLawFit, log_x: np.ndarray, mean: np.ndarray, repeats: np.ndarray | None,
                 weight: np.ndarray, slope: float, intercept: float) -> PowerLawFit:
    """``fit`` with its curvature, lack_of_fit_p, max_residual and local_alpha (module docstring)."""
    log_y = np.log(mean)
    (_, b, c), variance, residual = _parabola(log_x, log_y, weight)
    rows = 0 if repeats is None else len(repeats)
    if rows >= 3:              # the curvature's error from the scatter of independent repeats
        others = np.array([_parabola(log_x, np.log(np.delete(repeats, r, axis=0).mean(axis=0)), weight)[0][2]
                           for r in range(rows)])
        error, dof = float(np.sqrt((rows - 1) / rows * np.sum((others - others.mean()) ** 2))), rows - 1
    elif len(log_x) >= 4:      # ... or from the parabola's residual variance
        dof = len(log_x) - 3
        error = float(np.sqrt(np.sum(weight * residual**2) / dof * max(variance, 0.0)))
    else:                      # three points and fewer than three repeats: nothing to test against
        error, dof = float("nan"), 0
    if not np.isfinite(error):
        p_value = float("nan")
    elif error > 0:
        p_value = float(2 * scipy.special.stdtr(dof, -abs(c) / error))
    else:
        p_value = 0.0 if c != 0 else 1.0
    local = -(b + 2 * c * (log_x[[0, -1]] - np.average(log_x, weights=weight))) - fit.shift
    miss = float(np.max(np.abs(log_y - intercept - slope * log_x)))
    return dataclasses.replace(fit, curvature=float(c), lack_of_fit_p=p_value, max_residual=miss,
                               local_alpha=(float(local[0]), float(local[1])))


def _slopes(log_x: np.ndarray, log_y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The weighted least-squares slopes of ``_line``, one per row of (rows, points) arrays."""
    total = weight.sum(axis=1, keepdims=True)
    dx = log_x - (weight * log_x).sum(axis=1, keepdims=True) / total
    dy = log_y - (weight * log_y).sum(axis=1, keepdims=True) / total
    return (weight * dx * dy).sum(axis=1) / (weight * dx * dx).sum(axis=1)


def log_slope(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The weighted least-squares slope of log y on log x: the local exponent of y ~ x^slope.

    slope = sum_k w_k dx_k dy_k / sum_k w_k dx_k^2 (dx, dy the deviations from the weighted
    means), without an interval or a verdict (``fit_loglog`` reports one).

    Args:
        x: positive abscissae, length >= 2.
        y: positive values of the same length.
        weights: a non-negative weight per point (default 1).

    Returns:
        The slope.

    Example:
        >>> round(log_slope(np.array([1.0, 2.0, 4.0]), np.array([8.0, 2.0, 0.5])), 6)
        -2.0
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    weights = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    return _line(np.log(x), np.log(y), weights)[0]


def fit_loglog(x: np.ndarray | list, y: np.ndarray | list, *, shift: float = 0.0,
                  weights: np.ndarray | list | None = None, interval: Interval = "least-squares",
                  confidence: float = 0.95, n_bootstrap: int = 1000, seed: int = 0,
                  name: str = "x", half_width: float | None = None) -> PowerLawFit:
    """Fit y = amplitude x^-(shift + alpha) by weighted least squares of log y on log x.

    With weights w_k (default 1) the slope is s = sum_k w_k dx_k dy_k / sum_k w_k dx_k^2 (dx, dy the
    deviations of log x, log y from their weighted means) and alpha = -s - shift. A 2-D ``y`` holds
    repeats (rows): the line goes through their mean.

    Args:
        x: the positive abscissae (sizes, widths, indices), one per column of ``y``.
        y: positive values, shape (len(x),) or (repeats, len(x)).
        shift: the part of the decay exponent not reported (1 for eigenvalues i^-(1 + alpha_K)).
        weights: a non-negative weight per point (e.g. 1/i so each octave of indices counts alike).
        interval: "least-squares" (Student-t of the slope, n - 2 degrees of freedom) or "bootstrap"
            (percentiles of alpha over ``n_bootstrap`` resamples of the points for 1-D y, of the
            repeats for 2-D y; with a single repeat, least squares), or "jackknife" with
            ``half_width``: an interval alpha -+ half_width computed by the caller (a jackknife over
            the data the curve was computed from).
        confidence: the level of the interval.
        n_bootstrap: resamples for "bootstrap".
        seed: seed of the resampling.
        name: what x is called in messages.
        half_width: the half-width of the "jackknife" interval (only with it).

    Returns:
        A ``PowerLawFit``; unreliable (NaN with a ``reason``) on fewer than 3 distinct x, a span below
        ``MIN_SPAN``, a non-positive y, or a wide interval (``judge``). Its lack of fit
        (``curvature``, ``lack_of_fit_p``, ``max_residual``, ``local_alpha``; module docstring) marks
        a line through a bending log-log curve as ``poor``, its numbers kept.

    Raises:
        ValueError: for x that are not finite and positive, y of the wrong shape or not finite, an
            unknown interval, or a confidence outside (0, 1).

    Example:
        >>> import numpy as np
        >>> x = np.array([10.0, 20.0, 40.0, 80.0])
        >>> fit = fit_loglog(x, 3.0 * x**-0.5)
        >>> round(fit.alpha, 6), round(fit.amplitude, 6), fit.reliable
        (0.5, 3.0, True)
        >>> fit_loglog(x[:2], x[:2] ** -0.5).reason
        '2 distinct points: the fit needs at least 3'
        >>> wide = 10.0 * 2.0 ** np.arange(6)
        >>> bent = fit_loglog(wide, wide**-0.5 + 0.3)
        >>> bent.poor, bent.reliable, [round(a, 2) for a in bent.local_alpha]
        (True, True, [0.25, 0.07])
    """
    x, y = _points(name, x, y, "y")
    weight = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    if weight.shape != x.shape or not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise ArgumentValueError(f"weights must be {len(x)} finite non-negative numbers, one per entry of {name}")
    if interval not in INTERVALS:
        raise ArgumentValueError(f"interval must be 'least-squares', 'bootstrap' or 'jackknife', got {interval!r}")
    if (interval == "jackknife") != (half_width is not None):
        raise ArgumentValueError("interval='jackknife' takes the interval's half_width, and half_width needs it")
    if half_width is not None:
        half_width = check_real("half_width", half_width, minimum=0.0)
    confidence = _check_confidence(confidence)
    n_bootstrap = check_integer("n_bootstrap", n_bootstrap, minimum=1)
    shift = check_real("shift", shift)
    repeats = y if y.ndim == 2 else None
    mean = y.mean(axis=0) if y.ndim == 2 else y
    nan = float("nan")
    fit = PowerLawFit(nan, (nan, nan), nan, (float(x[0]), float(x[-1])), len(np.unique(x)),
                      "least-squares" if repeats is not None and len(repeats) == 1 else interval,
                      confidence, shift)
    reason = _too_short(x, 3)
    if not reason and np.any(y <= 0):
        reason = "a value is not positive: a power law in log space needs positive values"
    if reason:
        return unreliable(fit, reason)
    log_x = np.log(x)
    slope, intercept, error = _line(log_x, np.log(mean), weight)
    alpha = -slope - shift
    if fit.interval == "jackknife":
        ci = (alpha - half_width, alpha + half_width)
    elif fit.interval == "least-squares":
        half = float(scipy.special.stdtrit(len(x) - 2, 0.5 + confidence / 2) * error) if error > 0 else 0.0
        ci = (alpha - half, alpha + half)
    else:
        rng = np.random.default_rng(seed)
        tail = 50 * (1 - confidence)
        if repeats is not None:
            draws = rng.integers(0, len(repeats), size=(n_bootstrap, len(repeats)))
            slopes = _slopes(np.broadcast_to(log_x, (n_bootstrap, len(x))),
                             np.log(repeats[draws].mean(axis=1)), np.broadcast_to(weight, (n_bootstrap, len(x))))
        else:
            draws = rng.integers(0, len(x), size=(n_bootstrap, len(x)))
            draws = draws[np.ptp(log_x[draws], axis=1) > 0]
            slopes = _slopes(log_x[draws], np.log(mean[draws]), weight[draws])
        low, high = np.percentile(-np.asarray(slopes) - shift, [tail, 100 - tail])
        ci = (float(low), float(high))
    fit = _lack_of_fit(fit, log_x, mean, repeats, weight, slope, intercept)
    return judge(dataclasses.replace(fit, alpha=alpha, ci=ci, amplitude=float(np.exp(intercept))))
