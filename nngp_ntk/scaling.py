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
  grows, fitted by L = L_inf + c x^-alpha (alpha = 1 expected).

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
                   repeats: int = 5, test_size: int | None = None, seed: int = 0) -> Curve:
    """Measured L(D) of kernel regression f = K(x, X_D) (K(X_D, X_D) + ridge I)^-1 y_D, the mean of
    the infinitely wide network trained to convergence (``solver.gradient_flow``, t = infinity).

    K is computed once on all N points and sliced. Each repeat draws a random split: ``test_size``
    held-out points (default N/4, at most 1000) and nested training sets, the first D of the
    rest, for each D in ``sizes`` (default: 6 sizes from (N - test)/32 to N - test). L is the test
    MSE, averaged over repeats; alpha from log L = log A - alpha log D. ``y=None``: one draw from
    the GP of ``kernel`` (teacher = student). ValueError for sizes beyond N - test_size, fewer
    than 3 of them, a span below a factor 2, or y with a row count other than X's.
    """
    _check_net(net)
    _check_kernel(kernel)
    ridge = _check_ridge(ridge)
    repeats = _check_count("repeats", repeats)
    X = float64_points(X)
    test_size = _split(len(X), test_size)
    pool = len(X) - test_size
    sizes = _check_counts("sizes", _geometric(pool / 32, pool, 6) if sizes is None else sizes, pool,
                          f"N = {len(X)} points minus test_size = {test_size}")
    targets = _targets(net, X, y, kernel, seed)
    gram = _float64_kernel(net, X, kernel)
    losses = np.empty((repeats, len(sizes)))
    for r, order in enumerate(_permutations(len(X), repeats, seed)):
        test, train_pool = order[:test_size], order[test_size:]
        for k, size in enumerate(sizes):
            train = train_pool[:size]
            mean = solver.gradient_flow(gram[np.ix_(train, train)], targets[train], gram[np.ix_(test, train)],
                                        t=None, ridge=ridge, method="dense")
            losses[r, k] = _mse(mean, targets[test])
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
                test_size: int | None = None, ridge: float = 0.0, repeats: int = 3, seed: int = 0) -> Curve:
    """Measured L(P) of random-feature models of width P (``random_features``), the readout fitted
    by ``fit_readout`` on ``train_size`` points (default: all but the test set), tested on
    ``test_size`` held-out points (default N/4, at most 1000).

    A fresh network per width and repeat, a fresh split per repeat. ``widths`` default to 6 from
    train_size/400 to train_size/12: P << D keeps the fit resolution-limited (the variance of
    fitting P weights to D points adds about a fraction P/D to L). ``y=None``: one draw from the
    GP of the NNGP, the kernel of these models. alpha from log L = log A - alpha log P.
    """
    _check_net(net)
    ridge = _check_ridge(ridge)
    repeats = _check_count("repeats", repeats)
    X = float64_points(X)
    test_size = _split(len(X), test_size)
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
    for r, order in enumerate(_permutations(len(X), repeats, seed)):
        test, train = order[:test_size], order[test_size:test_size + train_size]
        for k, (width, draw) in enumerate(zip(widths, _seeds(rng, len(widths)))):
            features = random_features(net, X, int(width), draw)
            readout = fit_readout(features[train], targets[train], ridge)
            losses[r, k] = _mse(features[test] @ readout, targets[test])
    return _power_curve(widths.astype(np.float64), losses, seed)


# ----------------------------------------------------------------------------- variance-limited regimes

@dataclasses.dataclass(frozen=True)
class OffsetFit:
    """L(x) = limit + amplitude x^-alpha, with the interval ``ci`` of alpha at ``confidence``."""

    limit: float
    amplitude: float
    alpha: float
    ci: tuple[float, float]
    confidence: float


def fit_offset_power_law(x: np.ndarray | list, losses: np.ndarray | list, errors: np.ndarray | list | None = None,
                         confidence: float = CONFIDENCE) -> OffsetFit:
    """Least squares of log L on log(L_inf + c x^-alpha) over (L_inf >= 0, c > 0, alpha > 0)
    (scipy.optimize.curve_fit, trust region), weighted by the relative ``errors`` when given; the
    interval of alpha is Student-t (n - 3 degrees of freedom) on the fit's covariance. Needs at
    least 4 points spanning a factor 2; ValueError otherwise, or for losses that are not positive.
    """
    x = theory.check_fit_points("x", x)
    losses = np.asarray(losses, dtype=np.float64).reshape(-1)
    if losses.shape != x.shape or not np.all(np.isfinite(losses)) or np.any(losses <= 0):
        raise ValueError(f"losses must be {len(x)} finite positive numbers, one per x, got {losses!r}")
    if len(x) < 4:
        raise ValueError(f"fitting L_inf + c x^-alpha needs at least 4 points (3 parameters), got {len(x)}: "
                         f"the window is too short")
    sigma = None
    if errors is not None:
        errors = np.asarray(errors, dtype=np.float64).reshape(-1)
        if errors.shape != x.shape or not np.all(np.isfinite(errors)) or np.any(errors < 0):
            raise ValueError(f"errors must be {len(x)} finite non-negative numbers, got {errors!r}")
        sigma = np.maximum(errors / losses, 1e-3 * np.max(errors / losses) + np.finfo(float).tiny)
    scale = float(x[0])

    def model(points: np.ndarray, limit: float, log_amplitude: float, alpha: float) -> np.ndarray:
        return np.log(limit + np.exp(log_amplitude) * (points / scale) ** -alpha)

    start = (0.5 * losses.min(), np.log(max(losses[np.argmin(x)] - 0.5 * losses.min(), 1e-300)), 1.0)
    bounds = ([0.0, -np.inf, 1e-6], [np.inf, np.inf, 20.0])
    params, cov = scipy.optimize.curve_fit(model, x, np.log(losses), p0=start, sigma=sigma, bounds=bounds,
                                           method="trf", maxfev=20000)
    limit, log_amplitude, alpha = (float(p) for p in params)
    if len(x) > 3 and np.isfinite(cov[2, 2]):
        half = float(scipy.stats.t.ppf(0.5 + confidence / 2, len(x) - 3) * np.sqrt(cov[2, 2]))
    else:
        half = np.inf
    return OffsetFit(limit, float(np.exp(log_amplitude) * scale**alpha), alpha, (alpha - half, alpha + half),
                     float(confidence))


@dataclasses.dataclass(frozen=True)
class OffsetCurve:
    """A measured curve approaching a limit: mean ``losses`` (with standard ``errors``) at ``x``,
    and ``fit`` = L_inf + c x^-alpha (alpha near 1 in the variance-limited regimes)."""

    x: np.ndarray
    losses: np.ndarray
    errors: np.ndarray
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
    losses = repeat_losses.mean(axis=0)
    errors = repeat_losses.std(axis=0, ddof=1) / np.sqrt(len(repeat_losses)) if len(repeat_losses) > 1 else None
    fit = fit_offset_power_law(x, losses, errors)
    return OffsetCurve(x, losses, np.full(len(x), np.nan) if errors is None else errors, repeat_losses, fit)


def variance_limited_data(net: FullyConnected, X: np.ndarray, y: np.ndarray | None = None, *, width: int,
                          sizes: list[int] | np.ndarray, test_size: int | None = None, ridge: float = 0.0,
                          repeats: int = 3, seed: int = 0) -> OffsetCurve:
    """L(D) of one random-feature model of fixed width P as the training set grows (D >> P):
    L(D) = L_inf(P) + c D^-alpha, alpha = 1 in theory (ordinary least squares on P features:
    L(D) ~ L_inf (1 + P / D)). One network per repeat, nested training sets, fitted by
    ``fit_offset_power_law``. ``y=None``: a draw from the GP of the NNGP."""
    _check_net(net)
    width = _check_count("width", width)
    ridge = _check_ridge(ridge)
    repeats = _check_count("repeats", repeats)
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
    the NNGP are O(1/sqrt(P)), their effect on the loss O(1/P)); L_inf(D) is NNGP regression on the
    D points. One split (the loss's limit depends on it); each repeat draws a fresh network per width
    and the losses are averaged over repeats: the first-order effect of the kernel's fluctuations,
    O(1/sqrt(P)) per draw, averages out and leaves the O(1/P) approach, so use many repeats.
    Fitted by ``fit_offset_power_law``."""
    _check_net(net)
    ridge = _check_ridge(ridge)
    repeats = _check_count("repeats", repeats)
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

