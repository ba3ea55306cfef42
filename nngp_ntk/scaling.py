"""Scaling laws of the test loss: measured L(D) and L(P), and their exponents predicted from the kernel.

Bahri, Dyer, Kaplan, Lee & Sharma, "Explaining Neural Scaling Laws": if the kernel's eigenvalues fall
as lambda_i ~ i^-(1 + alpha_K), the test loss falls as D^-alpha_D with D training points (at
infinite width) and as P^-alpha_P with P features (at infinite data), alpha_D = alpha_P = alpha_K
for targets drawn from the kernel's own GP (resolution-limited regimes). When the other resource
is the bottleneck the loss approaches its limit as 1/D at fixed P << D and as 1/P at fixed D << P
(variance-limited regimes). Measured here:

* ``learning_curve``: kernel regression (the infinitely wide network trained to convergence) on
  nested training subsets of held-out splits; L(D) and its exponent.
* ``model_curve``: random-feature models f(x) = Phi(x) . a, Phi the readout features of a network
  of width P drawn at random (``finite.readout_features``), the readout a fitted by least squares
  on D >> P points; L(P) and its exponent. They train the readout only: their kernel is the NNGP.
* ``variance_limited_data`` / ``variance_limited_width``: L at fixed P as D grows, at fixed D as P
  grows, fitted by L = L_inf + c x^-alpha (alpha = 1 expected, to leading order in P/D and D/P),
  paired within each repeat (``fit_paired_offset_power_law``).

Predicted by ``predict_exponents`` from the spectrum of K/N and the targets' projections on its
eigenvectors (``theory``). Losses are test mean squared errors, averaged over points and outputs.
Kernels are computed in float64 (JAX x64 on for the call): the losses span orders of magnitude
below the targets' variance, out of float32's reach.
"""

from __future__ import annotations

import dataclasses
import numbers

import jax
import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.stats

from nngp_ntk import data, finite, solver, theory
from nngp_ntk.kernels import KERNEL_NAMES, FullyConnected, check_inputs

CONFIDENCE = 0.95
N_BOOTSTRAP = 2000
MAX_TEST = 1000  # default test set: a quarter of the points, at most this many


# ----------------------------------------------------------------------------- checks and shared pieces

def _check_net(net: FullyConnected) -> FullyConnected:
    if not isinstance(net, FullyConnected):
        raise TypeError(f"net must be a nngp_ntk.FullyConnected, got {type(net).__name__}")
    return net


def _check_kernel(kernel: str) -> str:
    if kernel not in KERNEL_NAMES:
        raise ValueError(f"kernel must be one of {KERNEL_NAMES}, got {kernel!r}")
    return kernel


def _check_count(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_ridge(ridge: float) -> float:
    if isinstance(ridge, bool) or not isinstance(ridge, numbers.Real) or not np.isfinite(ridge) or ridge < 0:
        raise ValueError(f"ridge must be a finite non-negative number, got {ridge!r}")
    return float(ridge)


def _check_counts(name: str, values: list | np.ndarray, limit: int | None, what: str) -> np.ndarray:
    """Sorted distinct positive integers, at least 3 spanning a factor >= 2, none above ``limit``."""
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.number) \
            or np.any(array != np.round(array)) or np.any(array < 1):
        raise ValueError(f"{name} must be a 1-D sequence of positive integers, got {values!r}")
    array = np.unique(array.astype(np.int64))
    if limit is not None and array[-1] > limit:
        raise ValueError(f"{name} must be at most {limit} ({what}), got {int(array[-1])}")
    theory.check_fit_points(name, array)
    return array


def _geometric(low: float, high: float, count: int) -> np.ndarray:
    return np.unique(np.round(np.geomspace(max(low, 1.0), high, count)).astype(np.int64))


def _split(n_points: int, test_size: int | None) -> int:
    """The test-set size: ``test_size`` checked, or a quarter of the points (at most MAX_TEST)."""
    if test_size is None:
        return max(1, min(n_points // 4, MAX_TEST))
    test_size = _check_count("test_size", test_size)
    if test_size >= n_points - 2:
        raise ValueError(f"test_size must leave at least 3 training points of the {n_points}, got {test_size}")
    return test_size


def _permutations(n_points: int, repeats: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.permutation(n_points) for _ in range(repeats)]


def holdout_split(n_points: int, test_size: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(test, pool): the indices of a fixed random test set of ``test_size`` points (default N/4, at
    most MAX_TEST) and of the training pool, the other points, both sorted.

    A prediction that is compared with a measured curve must see the pool only: pass ``test`` to
    ``learning_curve`` / ``model_curve`` and ``X[pool]`` to ``predict_exponents``.

    Example:
        >>> test, pool = holdout_split(10, test_size=3, seed=0)
        >>> len(test), len(pool), sorted(set(test) | set(pool)) == list(range(10))
        (3, 7, True)
    """
    n_points = _check_count("n_points", n_points, 4)
    order = np.random.default_rng(seed).permutation(n_points)
    size = _split(n_points, test_size)
    return np.sort(order[:size]), np.sort(order[size:])


def _fixed_test(n_points: int, test: np.ndarray | list) -> np.ndarray:
    """``test`` checked: distinct integer indices into N points, leaving at least 3 others."""
    array = np.asarray(test)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer) \
            or np.any(array < 0) or np.any(array >= n_points) or len(np.unique(array)) != len(array):
        raise ValueError(f"test must be a 1-D sequence of distinct integer indices into the {n_points} points, "
                         f"got {test!r}")
    if len(array) > n_points - 3:
        raise ValueError(f"test must leave at least 3 training points of the {n_points}, got {len(array)} indices")
    return array.astype(np.int64)


def _orders(n_points: int, repeats: int, seed: int, test: np.ndarray | None) -> list[np.ndarray]:
    """One order of the N points per repeat, its test set first: a fresh random split per repeat, or,
    with ``test``, that fixed test set followed by a fresh permutation of the other points."""
    if test is None:
        return _permutations(n_points, repeats, seed)
    pool = np.setdiff1d(np.arange(n_points), test)
    rng = np.random.default_rng(seed)
    return [np.concatenate([test, rng.permutation(pool)]) for _ in range(repeats)]


def float64_points(X: np.ndarray) -> np.ndarray:
    """X checked by ``kernels.check_inputs`` (2-D, real, finite) and returned as float64, unrounded."""
    check_inputs(X)
    return np.asarray(X, dtype=np.float64)


def _float64_kernel(net: FullyConnected, X: np.ndarray, kernel: str) -> np.ndarray:
    """K(X, X) computed in float64 (JAX x64 switched on for the call)."""
    with jax.enable_x64(True):
        return np.asarray(net.kernel(X, get=kernel), dtype=np.float64)


def _targets(net: FullyConnected, X: np.ndarray, y: np.ndarray | None, kernel: str, seed: int) -> np.ndarray:
    """``data.resolve_targets`` in float64: y checked against X, or one draw from the kernel's GP."""
    with jax.enable_x64(True):
        return data.resolve_targets(net, X, y, kernel=kernel, seed=seed)


def _mse(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((np.reshape(prediction, target.shape) - target) ** 2))


def _curve_ci(x: np.ndarray, repeat_losses: np.ndarray, seed: int) -> tuple[float, float]:
    """Percentile interval of alpha over bootstrap resamples of the repeats (rows of
    ``repeat_losses``); with one repeat, the Student-t interval of the slope."""
    if len(repeat_losses) == 1:
        return theory.fit_exponent(x, repeat_losses[0], CONFIDENCE).ci
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(repeat_losses), size=(N_BOOTSTRAP, len(repeat_losses)))
    logs = np.log(x)
    centered = logs - logs.mean()
    means = np.log(repeat_losses[draws].mean(axis=1))                       # (draw, size)
    alphas = -(means @ centered) / (centered @ centered)
    tail = 50 * (1 - CONFIDENCE)
    low, high = np.percentile(alphas, [tail, 100 - tail])
    return float(low), float(high)


@dataclasses.dataclass(frozen=True)
class Curve:
    """A measured loss curve: mean test MSE ``losses`` over repeats at ``x`` (training sizes D or
    widths P), their standard errors ``errors``, the per-repeat losses, and the fitted exponent
    L ~ amplitude x^-alpha with its interval ``ci`` (bootstrap over repeats)."""

    x: np.ndarray
    losses: np.ndarray
    errors: np.ndarray
    repeat_losses: np.ndarray
    alpha: float
    amplitude: float
    ci: tuple[float, float]

    @property
    def sizes(self) -> np.ndarray:
        """The training-set sizes D (``x`` of a learning curve)."""
        return self.x

    @property
    def widths(self) -> np.ndarray:
        """The widths P (``x`` of a model curve)."""
        return self.x


def _power_curve(x: np.ndarray, repeat_losses: np.ndarray, seed: int) -> Curve:
    losses = repeat_losses.mean(axis=0)
    errors = repeat_losses.std(axis=0, ddof=1) / np.sqrt(len(repeat_losses)) if len(repeat_losses) > 1 \
        else np.full(len(x), np.nan)
    fit = theory.fit_exponent(x, losses, CONFIDENCE)
    return Curve(x, losses, errors, repeat_losses, fit.alpha, fit.amplitude, _curve_ci(x, repeat_losses, seed))


# ----------------------------------------------------------------------------- L(D): kernel regression

def learning_curve(net: FullyConnected, X: np.ndarray, y: np.ndarray | None = None,
                   sizes: list[int] | np.ndarray | None = None, kernel: str = "ntk", ridge: float = 0.0,
                   repeats: int = 5, test_size: int | None = None, seed: int = 0,
                   test: np.ndarray | list | None = None) -> Curve:
    """Measured L(D) of kernel regression f = K(x, X_D) (K(X_D, X_D) + ridge I)^-1 y_D, the mean of
    the infinitely wide network trained to convergence (``solver.gradient_flow``, t = infinity).

    K is computed once on all N points and sliced. Each repeat draws a random split: ``test_size``
    held-out points (default N/4, at most 1000) and nested training sets, the first D of the
    rest, for each D in ``sizes`` (default: 6 sizes from (N - test)/32 to N - test). L is the test
    MSE, averaged over repeats; alpha from log L = log A - alpha log D. ``y=None``: one draw from
    the GP of ``kernel`` (teacher = student). ``test``: indices of a fixed test set (``holdout_split``;
    it overrides ``test_size``), every repeat then draws its training sets from the other points only,
    the pool a prediction may see. ValueError for sizes beyond N - test_size, fewer than 3 of them, a
    span below a factor 2, or y with a row count other than X's.
    """
    _check_net(net)
    _check_kernel(kernel)
    ridge = _check_ridge(ridge)
    repeats = _check_count("repeats", repeats)
    X = float64_points(X)
    test = None if test is None else _fixed_test(len(X), test)
    test_size = _split(len(X), test_size) if test is None else len(test)
    pool = len(X) - test_size
    sizes = _check_counts("sizes", _geometric(pool / 32, pool, 6) if sizes is None else sizes, pool,
                          f"N = {len(X)} points minus test_size = {test_size}")
    targets = _targets(net, X, y, kernel, seed)
    gram = _float64_kernel(net, X, kernel)
    losses = np.empty((repeats, len(sizes)))
    for r, order in enumerate(_orders(len(X), repeats, seed, test)):
        held_out, train_pool = order[:test_size], order[test_size:]
        for k, size in enumerate(sizes):
            train = train_pool[:size]
            mean = solver.gradient_flow(gram[np.ix_(train, train)], targets[train], gram[np.ix_(held_out, train)],
                                        t=None, ridge=ridge, method="dense")
            losses[r, k] = _mse(mean, targets[held_out])
    return _power_curve(sizes.astype(np.float64), losses, seed)


# ----------------------------------------------------------------------------- L(P): random features

def random_features(net: FullyConnected, X: np.ndarray, width: int, seed: int = 0) -> np.ndarray:
    """Phi(X) of shape (N, P [+ 1]) for one draw of ``net`` at width P (``finite.init_params``):

        Phi(x) = [W_std_L F(x) / sqrt(P), b_std_L],    Phi(x) . Phi(x') = K_P(x, x'),

    F the readout's inputs (``finite.readout_features``), W_std_L, b_std_L the readout's
    (the bias column only when b_std_L > 0): ridge regression on Phi is kernel ridge regression
    with the random-feature kernel K_P, which tends to the NNGP as P grows. Computed in float64.
    """
    _check_net(net)
    width = _check_count("width", width)
    X = float64_points(X)
    spec = net.spec()
    with jax.enable_x64(True):
        params = finite.init_params(net, int(seed), X.shape[1], width, dtype=np.float64)
        features = np.asarray(finite.readout_features(net, params, jax.numpy.asarray(X)))
    columns = [spec.W_std[-1] * features / np.sqrt(features.shape[1])]
    if spec.b_std[-1] > 0:
        columns.append(np.full((len(X), 1), spec.b_std[-1]))
    return np.hstack(columns)


def fit_readout(features: np.ndarray, targets: np.ndarray, ridge: float = 0.0) -> np.ndarray:
    """a = argmin |Phi a - y|^2 + ridge |a|^2: the minimum-norm least-squares solution for
    ridge = 0 (scipy.linalg.lstsq), else (Phi^T Phi + ridge I)^-1 Phi^T y when P <= D and
    Phi^T (Phi Phi^T + ridge I)^-1 y when P > D (the same, by the push-through identity)."""
    if ridge == 0:
        return scipy.linalg.lstsq(features, targets, check_finite=False)[0]
    count, width = features.shape
    if width <= count:
        gram = features.T @ features + ridge * np.eye(width)
        return scipy.linalg.solve(gram, features.T @ targets, assume_a="pos", check_finite=False)
    gram = features @ features.T + ridge * np.eye(count)
    return features.T @ scipy.linalg.solve(gram, targets, assume_a="pos", check_finite=False)


def _seeds(rng: np.random.Generator, count: int) -> list[int]:
    return [int(s) for s in rng.integers(0, 2**31 - 1, size=count)]


def model_curve(net: FullyConnected, X: np.ndarray, y: np.ndarray | None = None,
                widths: list[int] | np.ndarray | None = None, train_size: int | None = None,
                test_size: int | None = None, ridge: float = 0.0, repeats: int = 3, seed: int = 0,
                test: np.ndarray | list | None = None) -> Curve:
    """Measured L(P) of random-feature models of width P (``random_features``), the readout fitted
    by ``fit_readout`` on ``train_size`` points (default: all but the test set), tested on
    ``test_size`` held-out points (default N/4, at most 1000), or on the fixed test set ``test``
    (indices, as in ``learning_curve``).

    A fresh network per width and repeat, a fresh split per repeat. ``widths`` default to 6 from
    train_size/400 to train_size/12: P << D keeps the fit resolution-limited (the variance of
    fitting P weights to D points adds about a fraction P/D to L). ``y=None``: one draw from the
    GP of the NNGP, the kernel of these models. alpha from log L = log A - alpha log P.
    """
    _check_net(net)
    ridge = _check_ridge(ridge)
    repeats = _check_count("repeats", repeats)
    X = float64_points(X)
    test = None if test is None else _fixed_test(len(X), test)
    test_size = _split(len(X), test_size) if test is None else len(test)
    pool = len(X) - test_size
    train_size = pool if train_size is None else _check_count("train_size", train_size)
    if train_size > pool:
        raise ValueError(f"train_size must be at most {pool} (N = {len(X)} minus test_size = {test_size}), "
                         f"got {train_size}")
    widths = _check_counts("widths", _geometric(train_size / 400, train_size / 12, 6) if widths is None else widths,
                           None, "")
    targets = _targets(net, X, y, "nngp", seed)
    rng = np.random.default_rng(seed)
    losses = np.empty((repeats, len(widths)))
    for r, order in enumerate(_orders(len(X), repeats, seed, test)):
        held_out, train = order[:test_size], order[test_size:test_size + train_size]
        for k, (width, draw) in enumerate(zip(widths, _seeds(rng, len(widths)))):
            features = random_features(net, X, int(width), draw)
            readout = fit_readout(features[train], targets[train], ridge)
            losses[r, k] = _mse(features[held_out] @ readout, targets[held_out])
    return _power_curve(widths.astype(np.float64), losses, seed)


# ----------------------------------------------------------------------------- variance-limited regimes

@dataclasses.dataclass(frozen=True)
class OffsetFit:
    """L(x) = limit + amplitude x^-alpha (1 + correction / x), with the interval ``ci`` of alpha at
    ``confidence``; ``correction`` is 0 unless the next order was fitted."""

    limit: float
    amplitude: float
    alpha: float
    ci: tuple[float, float]
    confidence: float
    correction: float = 0.0


ALPHA_SEARCH = (1e-3, 20.0)  # exponents over which the paired fit's profile is searched
_GRID_POINTS = 400


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


def fit_paired_offset_power_law(x: np.ndarray | list, repeat_losses: np.ndarray | list,
                                confidence: float = CONFIDENCE, next_order: bool = False) -> OffsetFit:
    """Fit of E[L(x)] = L_inf + c x^-alpha to curves L_r(x) measured in R paired repeats (rows of
    ``repeat_losses``; each repeat's points share its network and test set, so each curve carries
    its own level, common to its points, while its x-dependence is much better determined).

    The level cancels in the differences from the repeat's own last point x_K (the largest x),

        Delta_r(x_k) = L_r(x_k) - L_r(x_K),    E[Delta(x_k)] = c (x_k^-alpha - x_K^-alpha),  k < K,

    fitted to their mean over repeats by weighted least squares, weights 1/s_k^2 with s_k the
    standard error of that mean (scatter over repeats / sqrt(R)), subject to c >= 0 and
    L_inf = mean_r L_r(x_K) - c x_K^-alpha >= 0 (``_fit_excess``). ``next_order=True`` fits
    L_inf + c x^-alpha (1 + b/x) instead (c, b free): the variance-limited laws are the leading
    order of expansions in 1/x, and the next term biases the exponent of the one-term law read over
    a finite window by about b / x_typical; alpha and b trade off, so this needs many repeats and
    points (at R = 200 on 5 points it returned a meaningless b < 0 and an interval missing 1).
    The interval of alpha is the delete-one jackknife over repeats (the weights held fixed),
    alpha +- t_{R-1} se_jack: repeats are independent, so it
    accounts for the correlation of one repeat's points (nested training sets, shared test set) that
    a per-point error would miss (checked by simulation: 91% coverage at R = 20, 88% at R = 10 for a
    nominal 95%). Needs R >= 2 repeats and 4 points (5 with ``next_order``) spanning a factor 2;
    ValueError otherwise, for non-finite losses, or when the mean loss never exceeds its value at the
    largest x (no approach to a limit to fit).
    """
    x = theory.check_fit_points("x", x)
    repeat_losses = np.asarray(repeat_losses, dtype=np.float64)
    if repeat_losses.ndim != 2 or repeat_losses.shape[1] != len(x) or not np.all(np.isfinite(repeat_losses)):
        raise ValueError(f"repeat_losses must be a finite array of shape (repeats, {len(x)}), one column per x, "
                         f"got shape {repeat_losses.shape}")
    if len(repeat_losses) < 2:
        raise ValueError(f"a paired fit needs at least 2 repeats (its interval comes from their scatter), "
                         f"got {len(repeat_losses)}")
    needed = 5 if next_order else 4
    if len(np.unique(x)) < needed:
        raise ValueError(f"fitting L_inf + c x^-alpha{' (1 + b/x)' if next_order else ''} needs at least {needed} "
                         f"distinct x ({needed - 1} parameters), got {len(np.unique(x))}: the window is too short")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    order = np.argsort(x)
    x, repeat_losses = x[order], repeat_losses[:, order]
    repeats = len(repeat_losses)
    differences = repeat_losses[:, :-1] - repeat_losses[:, -1:]
    if not np.any(differences.mean(axis=0) > 0):
        raise ValueError(f"the mean loss never exceeds its value at the largest x = {x[-1]:g}: no approach to a "
                         f"limit to fit (losses {repeat_losses.mean(axis=0).tolist()})")
    errors = differences.std(axis=0, ddof=1) / np.sqrt(repeats)
    weights = np.maximum(errors, 1e-3 * errors.max() + np.finfo(float).tiny) ** -2

    def fit(rows: np.ndarray) -> tuple[float, np.ndarray]:
        return _fit_excess(x, differences[rows].mean(axis=0), weights, float(repeat_losses[rows, -1].mean()),
                           next_order)

    alpha, coefficients = fit(np.arange(repeats))
    leave_one_out = np.array([fit(np.delete(np.arange(repeats), r))[0] for r in range(repeats)])
    spread = np.sqrt((repeats - 1) / repeats * np.sum((leave_one_out - leave_one_out.mean()) ** 2))
    half = float(scipy.stats.t.ppf(0.5 + confidence / 2, repeats - 1) * spread)
    last = float(x[-1])
    amplitude = float(coefficients[0]) * last**alpha
    correction = float(coefficients[1] / coefficients[0]) * last if next_order else 0.0
    return OffsetFit(float(repeat_losses[:, -1].mean() - coefficients.sum()), amplitude, alpha,
                     (alpha - half, alpha + half), float(confidence), correction)


@dataclasses.dataclass(frozen=True)
class OffsetCurve:
    """A measured curve approaching a limit: mean ``losses`` at ``x`` with their standard ``errors``
    (over repeats; they include the spread of each repeat's level), ``difference_errors``, the
    standard errors of the paired differences L(x) - L(x_max) that the fit uses (0 at x_max), the
    per-repeat losses, and ``fit`` = L_inf + c x^-alpha (``fit_paired_offset_power_law``; alpha near
    1 in the variance-limited regimes)."""

    x: np.ndarray
    losses: np.ndarray
    errors: np.ndarray
    difference_errors: np.ndarray
    repeat_losses: np.ndarray
    fit: OffsetFit

    @property
    def alpha(self) -> float:
        """The fitted exponent of the approach to the limit."""
        return self.fit.alpha

    @property
    def limit(self) -> float:
        """The fitted limit L_inf."""
        return self.fit.limit

    @property
    def ci(self) -> tuple[float, float]:
        """The interval of alpha."""
        return self.fit.ci


def _offset_curve(x: np.ndarray, repeat_losses: np.ndarray) -> OffsetCurve:
    repeats = len(repeat_losses)
    differences = repeat_losses - repeat_losses[:, -1:]
    return OffsetCurve(x, repeat_losses.mean(axis=0), repeat_losses.std(axis=0, ddof=1) / np.sqrt(repeats),
                       differences.std(axis=0, ddof=1) / np.sqrt(repeats), repeat_losses,
                       fit_paired_offset_power_law(x, repeat_losses))


def variance_limited_data(net: FullyConnected, X: np.ndarray, y: np.ndarray | None = None, *, width: int,
                          sizes: list[int] | np.ndarray, test_size: int | None = None, ridge: float = 0.0,
                          repeats: int = 20, seed: int = 0) -> OffsetCurve:
    """L(D) of one random-feature model of fixed width P as the training set grows (D >> P):
    L(D) = L_inf(P) + c D^-alpha, alpha = 1 in theory. Least squares on p readout features
    (p = P, plus 1 for a readout bias) has excess loss (1/D) tr(Sigma^-1 S) + O(p^2 / D^2),
    Sigma = E[phi phi^T], S = E[eps^2 phi phi^T], eps = y - phi . a_inf the residual of the best
    readout; for Gaussian features and independent residuals it is exactly
    L_inf (D - 1) / (D - p - 1) - L_inf = L_inf (p/D + p(p+1)/D^2 + ...). The law is the leading
    order: its correction is a fraction ~p/D of the excess, so read the exponent over D >~ 20 p
    (at D = 10 p it steepens the local slope by ~0.1).

    One network and one split per repeat, nested training sets (the first D of the rest): one
    repeat's losses share its level L_inf (its network and test set), which the paired fit
    (``fit_paired_offset_power_law``) cancels; its interval comes from the scatter over repeats
    (at least 2, cheap: one network of width P per repeat). A large test set lowers the noise of
    L at large D. ``y=None``: a draw from the GP of the NNGP."""
    _check_net(net)
    width = _check_count("width", width)
    ridge = _check_ridge(ridge)
    repeats = _check_count("repeats", repeats, 2)
    X = float64_points(X)
    test_size = _split(len(X), test_size)
    sizes = _check_counts("sizes", sizes, len(X) - test_size, f"N = {len(X)} points minus test_size = {test_size}")
    targets = _targets(net, X, y, "nngp", seed)
    rng = np.random.default_rng(seed)
    losses = np.empty((repeats, len(sizes)))
    for r, (order, draw) in enumerate(zip(_permutations(len(X), repeats, seed), _seeds(rng, repeats))):
        features = random_features(net, X, width, draw)
        test, train_pool = order[:test_size], order[test_size:]
        for k, size in enumerate(sizes):
            readout = fit_readout(features[train_pool[:size]], targets[train_pool[:size]], ridge)
            losses[r, k] = _mse(features[test] @ readout, targets[test])
    return _offset_curve(sizes.astype(np.float64), losses)


def variance_limited_width(net: FullyConnected, X: np.ndarray, y: np.ndarray | None = None, *, size: int,
                           widths: list[int] | np.ndarray, test_size: int | None = None, ridge: float = 0.0,
                           repeats: int = 20, seed: int = 0) -> OffsetCurve:
    """L(P) of random-feature models on a fixed training set of D points as the width grows (P >> D):
    L(P) = L_inf(D) + c P^-alpha, alpha = 1 in theory (the random-feature kernel's fluctuations about
    the NNGP are O(1/sqrt(P)), their effect on the mean loss O(1/P)); L_inf(D) is NNGP regression on
    the D points. The law is the leading order in D/P (for Gaussian features the inverse of the
    D x D kernel has mean K^-1 P/(P - D - 1)), so read the exponent over P >~ 20 D.

    One split (the loss's limit depends on it); each repeat draws a fresh network per width. One
    draw's loss fluctuates by O(1/sqrt(P)), more than the O(1/P) approach: the mean over many
    repeats (20 or more) carries the law. Fitted by ``fit_paired_offset_power_law`` (each repeat
    against its own draw at the largest width; the interval from the scatter over repeats)."""
    _check_net(net)
    ridge = _check_ridge(ridge)
    repeats = _check_count("repeats", repeats, 2)
    X = float64_points(X)
    test_size = _split(len(X), test_size)
    size = _check_count("size", size, 2)
    if size > len(X) - test_size:
        raise ValueError(f"size must be at most {len(X) - test_size} (N = {len(X)} minus test_size = {test_size}), "
                         f"got {size}")
    widths = _check_counts("widths", widths, None, "")
    targets = _targets(net, X, y, "nngp", seed)
    rng = np.random.default_rng(seed)
    losses = np.empty((repeats, len(widths)))
    order = _permutations(len(X), 1, seed)[0]
    test, train = order[:test_size], order[test_size:test_size + size]
    for r in range(repeats):
        for k, (width, draw) in enumerate(zip(widths, _seeds(rng, len(widths)))):
            features = random_features(net, X[np.concatenate([train, test])], int(width), draw)
            readout = fit_readout(features[:size], targets[train], ridge)
            losses[r, k] = _mse(features[size:] @ readout, targets[test])
    return _offset_curve(widths.astype(np.float64), losses)

