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
  of width P drawn at random (``random_features``), the readout a fitted by least squares
  on D >> P points; L(P) and its exponent. They train the readout only: their kernel is the NNGP.
* ``variance_limited_data`` / ``variance_limited_width``: L at fixed P as D grows, at fixed D as P
  grows, fitted by L = L_inf + c x^-alpha (alpha = 1 expected, to leading order in P/D and D/P),
  paired within each repeat (``fits.fit_offset_power_law``).

Predicted by ``predict_exponents`` from the spectrum of K/N and the targets' projections on its
eigenvectors (``theory``). Losses are test mean squared errors, averaged over points and outputs.
Kernels are computed in float64 (JAX x64 on for the call): the losses span orders of magnitude
below the targets' variance, out of float32's reach.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.special

from nngp_ntk import data
from nngp_ntk.spectrum import _fits as fits
from nngp_ntk.solver import _flow as solver
from nngp_ntk._checks import (ArgumentTypeError, ArgumentValueError, check_choice, check_counts, check_integer,
                              check_kernel_name, check_points, check_positive_times, check_real, check_ridge, check_sizes,
                              check_window)
from nngp_ntk.spectrum._fits import PowerLawFit
from nngp_ntk.kernels._network import Network, check_network
from nngp_ntk.finite._controls import FirstOrderControl, has_control
from nngp_ntk.finite._random_features import fit_readout, random_features
from nngp_ntk.theory._sgd import (SCHEDULES, ComputeFrontier, check_step, compute_frontier, grid_fits, sgd_features,
                                  sgd_schedule)

CONFIDENCE = 0.95
N_BOOTSTRAP = 2000


# ----------------------------------------------------------------------------- checks and shared pieces

def _geometric(low: float, high: float, count: int) -> np.ndarray:
    return np.unique(np.round(np.geomspace(max(low, 1.0), high, count)).astype(np.int64))


def _permutations(n_points: int, repeats: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.permutation(n_points) for _ in range(repeats)]


def holdout_split(n_points: int, test_size: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(test, pool): the indices of a fixed random test set of ``test_size`` points (default
    ``data.held_out_count``: N/4, at most 1000) and of the training pool, the other points, both sorted.

    A prediction that is compared with a measured curve must see the pool only: pass ``test`` to
    ``learning_curve`` / ``model_curve`` and ``X[pool]`` to ``predict_exponents``.

    Example:
        >>> test, pool = holdout_split(10, test_size=3, seed=0)
        >>> len(test), len(pool), sorted(set(test) | set(pool)) == list(range(10))
        (3, 7, True)
    """
    size = data.held_out_count(n_points, test_size)
    order = np.random.default_rng(seed).permutation(n_points)
    return np.sort(order[:size]), np.sort(order[size:])


def _fixed_test(n_points: int, test: np.ndarray | list) -> np.ndarray:
    """``test`` checked: distinct integer indices into N points, leaving at least 3 others."""
    array = np.asarray(test)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer) \
            or np.any(array < 0) or np.any(array >= n_points) or len(np.unique(array)) != len(array):
        raise ArgumentValueError(f"test must be a 1-D sequence of distinct integer indices into the {n_points} points, "
                         f"got {test!r}")
    if len(array) > n_points - 3:
        raise ArgumentValueError(f"test must leave at least 3 training points of the {n_points}, got {len(array)} indices")
    return array.astype(np.int64)


def _orders(n_points: int, repeats: int, seed: int, test: np.ndarray | None) -> list[np.ndarray]:
    """One order of the N points per repeat, its test set first: a fresh random split per repeat, or,
    with ``test``, that fixed test set followed by a fresh permutation of the other points."""
    if test is None:
        return _permutations(n_points, repeats, seed)
    pool = np.setdiff1d(np.arange(n_points), test)
    rng = np.random.default_rng(seed)
    return [np.concatenate([test, rng.permutation(pool)]) for _ in range(repeats)]


def _float64_kernel(net: Network, X: np.ndarray, kernel: str) -> np.ndarray:
    """K(X, X) computed in float64 (JAX x64 switched on for the call)."""
    with jax.enable_x64(True):
        return np.asarray(net.kernel(X, get=kernel), dtype=np.float64)


def _targets(net: Network, X: np.ndarray, y: np.ndarray | None, kernel: str, seed: int) -> np.ndarray:
    """``data.resolve_targets`` in float64: y checked against X, or one draw from the kernel's GP."""
    with jax.enable_x64(True):
        return data.resolve_targets(net, X, y, kernel=kernel, seed=seed)


def _mse(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((np.reshape(prediction, target.shape) - target) ** 2))


@dataclasses.dataclass(frozen=True)
class Curve:
    """A measured loss curve: mean test MSE ``losses`` over repeats at ``x`` (training sizes D or
    widths P), their standard errors ``errors``, the per-repeat losses, and ``fit``, the power law
    L ~ amplitude x^-alpha (``fits.fit_loglog`` through the mean; interval bootstrap over
    repeats)."""

    x: np.ndarray
    losses: np.ndarray
    errors: np.ndarray
    repeat_losses: np.ndarray
    fit: PowerLawFit

    @property
    def alpha(self) -> float:
        """The fitted exponent (NaN when the fit is unreliable: ``fit.reason``)."""
        return self.fit.alpha

    @property
    def ci(self) -> tuple[float, float]:
        """The interval of alpha."""
        return self.fit.ci

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
    fit = fits.fit_loglog(x, repeat_losses, interval="bootstrap", confidence=CONFIDENCE,
                             n_bootstrap=N_BOOTSTRAP, seed=seed)
    return Curve(x, losses, errors, repeat_losses, fit)


# ----------------------------------------------------------------------------- L(D): kernel regression

def learning_curve(net: Network, X: np.ndarray, y: np.ndarray | None = None,
                   sizes: list[int] | np.ndarray | None = None, kernel: str = "ntk", ridge: float = 0.0,
                   repeats: int = 5, test_size: int | None = None, seed: int = 0,
                   test: np.ndarray | list | None = None) -> Curve:
    """Measured L(D) of kernel regression f = K(x, X_D) (K(X_D, X_D) + ridge I)^-1 y_D, the mean of
    the infinitely wide network trained to convergence (``solver.gradient_flow``, t = infinity).

    K is computed once on all N points and sliced. Each repeat draws a random split: ``test_size``
    held-out points (default ``data.held_out_count``: N/4, at most 1000) and nested training sets, the
    first D of the rest, for each D in ``sizes`` (default ``data.default_sizes`` of the N - test
    training points: doubling from 100 up to them). L is the test
    MSE, averaged over repeats; alpha from log L = log A - alpha log D. ``y=None``: one draw from
    the GP of ``kernel`` (teacher = student). ``test``: indices of a fixed test set (``holdout_split``;
    it overrides ``test_size``), every repeat then draws its training sets from the other points only,
    the pool a prediction may see. ValueError for sizes beyond N - test_size, fewer than 3 of them, a
    span below a factor 2, or y with a row count other than X's.

    Args:
        net: the network whose kernel is used.
        X: the N points, shape (N, d).
        y: their targets, shape (N,) or (N, k); None for one draw from the GP of ``kernel``.
        sizes: training-set sizes D (at least 3, spanning a factor 2, at most N - test_size).
        kernel: "ntk" (the trained network) or "nngp".
        ridge: the ridge, >= 0.
        repeats: random splits to average over.
        test_size: held-out points per split.
        seed: seed of the splits (and of the GP targets).
        test: indices of a fixed test set, or None.

    Returns:
        A ``Curve`` (``sizes``, ``losses``, ``errors``, ``alpha``, ``ci``).

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: as above.

    Example:
        >>> import nngp_ntk as nk
        >>> X = nk.data.sphere(80, dim=3, seed=0)
        >>> curve = learning_curve(nk.FullyConnected(depth=1), X, sizes=[10, 20, 40], repeats=2, test_size=20)
        >>> curve.sizes.tolist(), curve.repeat_losses.shape
        ([10.0, 20.0, 40.0], (2, 3))
    """
    check_network(net)
    check_kernel_name(kernel)
    ridge = check_ridge(ridge)
    repeats = check_integer("repeats", repeats, minimum=1)
    X = check_points(X)
    test = None if test is None else _fixed_test(len(X), test)
    test_size = data.held_out_count(len(X), test_size) if test is None else len(test)
    pool = len(X) - test_size
    sizes = check_sizes("sizes", data.default_sizes(pool) if sizes is None else sizes, pool,
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


# ----------------------------------------------------------------------------- L(D, t): gradient flow

@dataclasses.dataclass(frozen=True)
class TimeCurve:
    """Measured test MSE of gradient flow for time t on D points: the mean ``losses`` over repeats
    (len(sizes), len(times)), their standard ``errors`` and ``intervals`` (Student-t over repeats,
    last axis (low, high)), the per-repeat losses (repeats, len(sizes), len(times)), and ``fits``,
    one ``PowerLawFit`` of L ~ t^-alpha_T per size over the times in ``window`` (through the mean,
    interval bootstrap over repeats); ``alpha_T`` is that of the largest size."""

    sizes: np.ndarray
    times: np.ndarray
    losses: np.ndarray
    errors: np.ndarray
    intervals: np.ndarray
    repeat_losses: np.ndarray
    fits: tuple[PowerLawFit, ...]
    window: tuple[float, float]

    @property
    def alpha_T(self) -> PowerLawFit:
        """The fit of L ~ t^-alpha_T at the largest size."""
        return self.fits[-1]


def flow_curve(net: Network, X: np.ndarray, y: np.ndarray | None = None, *, sizes: list[int] | np.ndarray,
               times: list[float] | np.ndarray, kernel: str = "ntk", window: tuple[float, float] | None = None,
               repeats: int = 5, test_size: int | None = None, seed: int = 0,
               test: np.ndarray | list | None = None) -> TimeCurve:
    """Measured L(D, t): the test MSE of the infinitely wide network after gradient flow for time t on D points.

    The solver's exact mean prediction (``solver.gradient_flow``: f_t = Theta(x, X) Theta^-1
    (I - exp(-Theta t / n)) Y, n = D k entries, learning rate 1), all times from one factorization,
    on held-out points; the squared error averaged over test points and outputs, then over repeats.
    Splits as ``learning_curve``: ``test_size`` held-out points (default ``data.held_out_count``) and
    nested training sets, the first D of the rest, a fresh split per repeat; with ``test``, a fixed
    test set and training sets drawn from the other points only (the pool a prediction may see:
    compare with ``theory.predict_flow_curve`` on them). ``y=None``: one draw from the GP of ``kernel``.

    Args:
        net: the network whose kernel is used.
        X: the N points, shape (N, d).
        y: their targets, shape (N,) or (N, k); None for one draw from the GP of ``kernel``.
        sizes: training-set sizes D, positive integers, at most N - test_size.
        times: training times t > 0 (inf allowed: the converged network).
        kernel: "ntk" (the trained network) or "nngp" (only the readout trained).
        window: (low, high), the times over which alpha_T is fitted (default: all finite times).
        repeats: random splits to average over.
        test_size: held-out points per split.
        seed: seed of the splits (and of the GP targets).
        test: indices of a fixed test set, or None.

    Returns:
        A ``TimeCurve``.

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: times <= 0, sizes beyond the training points, a window holding no time.

    Example:
        >>> import nngp_ntk as nk
        >>> X = nk.data.sphere(80, dim=3, seed=0)
        >>> curve = flow_curve(nk.FullyConnected(depth=1), X, sizes=[10, 40], times=[1.0, 10.0, 100.0], repeats=2,
        ...                    test_size=20)
        >>> curve.losses.shape, curve.repeat_losses.shape
        ((2, 3), (2, 2, 3))
    """
    check_network(net)
    check_kernel_name(kernel)
    repeats = check_integer("repeats", repeats, minimum=1)
    X = check_points(X)
    test = None if test is None else _fixed_test(len(X), test)
    test_size = data.held_out_count(len(X), test_size) if test is None else len(test)
    pool = len(X) - test_size
    sizes = check_counts("sizes", sizes, pool, f"N = {len(X)} points minus test_size = {test_size}")
    times = check_positive_times("times", times)
    inside, window = check_window("window", window, times)
    targets = _targets(net, X, y, kernel, seed)
    gram = _float64_kernel(net, X, kernel)
    losses = np.empty((repeats, len(sizes), len(times)))
    for r, order in enumerate(_orders(len(X), repeats, seed, test)):
        held_out, train_pool = order[:test_size], order[test_size:]
        for k, size in enumerate(sizes):
            train = train_pool[:size]
            means = solver.gradient_flow(gram[np.ix_(train, train)], targets[train], gram[np.ix_(held_out, train)],
                                         t=times, method="dense")
            expected = targets[held_out].reshape(1, len(held_out), -1)
            losses[r, k] = np.mean((means.reshape(len(times), len(held_out), -1) - expected) ** 2, axis=(1, 2))
    mean = losses.mean(axis=0)
    errors = losses.std(axis=0, ddof=1) / np.sqrt(repeats) if repeats > 1 else np.full(mean.shape, np.nan)
    half = scipy.special.stdtrit(max(repeats - 1, 1), 0.5 + CONFIDENCE / 2) * errors
    curve_fits = tuple(fits.fit_loglog(times[inside], losses[:, k][:, inside], interval="bootstrap",
                                       confidence=CONFIDENCE, n_bootstrap=N_BOOTSTRAP, seed=seed, name="times")
                       for k in range(len(sizes)))
    return TimeCurve(sizes.astype(np.float64), times, mean, errors, np.stack([mean - half, mean + half], axis=-1),
                     losses, curve_fits, window)


# ----------------------------------------------------------------------------- L(P): random features

def _seeds(rng: np.random.Generator, count: int) -> list[int]:
    return [int(s) for s in rng.integers(0, 2**31 - 1, size=count)]


def model_curve(net: Network, X: np.ndarray, y: np.ndarray | None = None,
                widths: list[int] | np.ndarray | None = None, train_size: int | None = None,
                test_size: int | None = None, ridge: float = 0.0, repeats: int = 3, seed: int = 0,
                test: np.ndarray | list | None = None) -> Curve:
    """Measured L(P) of random-feature models of width P (``random_features``), the readout fitted
    by ``fit_readout`` on ``train_size`` points (default: all but the test set), tested on
    ``test_size`` held-out points (default ``data.held_out_count``: N/4, at most 1000), or on the
    fixed test set ``test`` (indices, as in ``learning_curve``).

    A fresh network per width and repeat, a fresh split per repeat. ``widths`` default to 6 from
    train_size/400 to train_size/12: P << D keeps the fit resolution-limited (the variance of
    fitting P weights to D points adds about a fraction P/D to L). ``y=None``: one draw from the
    GP of the NNGP, the kernel of these models. alpha from log L = log A - alpha log P.

    Args:
        net: the network whose random features are drawn.
        X: the N points, shape (N, d).
        y: their targets; None for one draw from the GP of the NNGP.
        widths: widths P (at least 3, spanning a factor 2).
        train_size: D, the points the readout is fitted on.
        test_size: held-out points per split.
        ridge: the readout's ridge, >= 0.
        repeats: random splits and networks to average over.
        seed: seed of the splits, networks and GP targets.
        test: indices of a fixed test set, or None.

    Returns:
        A ``Curve`` (``widths``, ``losses``, ``errors``, ``alpha``, ``ci``).

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: a train_size beyond the points left beside the test set, or bad widths.

    Example:
        >>> import nngp_ntk as nk
        >>> X = nk.data.sphere(80, dim=3, seed=0)
        >>> curve = model_curve(nk.FullyConnected(depth=1), X, widths=[4, 8, 16], repeats=2, test_size=20)
        >>> curve.widths.tolist(), curve.repeat_losses.shape
        ([4.0, 8.0, 16.0], (2, 3))
    """
    check_network(net)
    ridge = check_ridge(ridge)
    repeats = check_integer("repeats", repeats, minimum=1)
    X = check_points(X)
    test = None if test is None else _fixed_test(len(X), test)
    test_size = data.held_out_count(len(X), test_size) if test is None else len(test)
    pool = len(X) - test_size
    train_size = pool if train_size is None else check_integer("train_size", train_size, minimum=1)
    if train_size > pool:
        raise ArgumentValueError(f"train_size must be at most {pool} (N = {len(X)} minus test_size = {test_size}), "
                         f"got {train_size}")
    widths = check_sizes("widths", _geometric(train_size / 400, train_size / 12, 6) if widths is None else widths)
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
class OffsetCurve:
    """A measured curve approaching a limit: mean ``losses`` at ``x`` with their standard ``errors``
    (over repeats; they include the spread of each repeat's level), ``difference_errors``, the
    standard errors of the paired differences L(x) - L(x_max) that the fit uses (0 at x_max), the
    per-repeat losses, and ``fit`` = L_inf + c x^-alpha (``fits.fit_offset_power_law``; alpha near
    1 in the variance-limited regimes). ``controls``: the control variates subtracted from each
    repeat's raw losses (``variance_limited_width``), None where none were; the raw losses are
    ``repeat_losses + controls``."""

    x: np.ndarray
    losses: np.ndarray
    errors: np.ndarray
    difference_errors: np.ndarray
    repeat_losses: np.ndarray
    fit: PowerLawFit
    controls: np.ndarray | None = None

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


def _offset_curve(x: np.ndarray, repeat_losses: np.ndarray, controls: np.ndarray | None = None) -> OffsetCurve:
    repeats = len(repeat_losses)
    differences = repeat_losses - repeat_losses[:, -1:]
    return OffsetCurve(x, repeat_losses.mean(axis=0), repeat_losses.std(axis=0, ddof=1) / np.sqrt(repeats),
                       differences.std(axis=0, ddof=1) / np.sqrt(repeats), repeat_losses,
                       fits.fit_offset_power_law(x, repeat_losses, confidence=CONFIDENCE), controls)


def variance_limited_data(net: Network, X: np.ndarray, y: np.ndarray | None = None, *, width: int,
                          sizes: list[int] | np.ndarray, test_size: int | None = None, ridge: float = 0.0,
                          repeats: int = 20, seed: int = 0) -> OffsetCurve:
    """L(D) of one random-feature model of fixed width P as the training set grows (D >> P):
    L(D) = L_inf(P) + c D^-alpha, alpha = 1 in theory. Least squares on p readout features
    (p = P, plus 1 for a readout bias) has excess loss (1/D) tr(Sigma^-1 S) + O(p^2 / D^2),
    Sigma = E[phi phi^T], S = E[eps^2 phi phi^T], eps = y - phi . a_inf the residual of the best
    readout; for Gaussian features and independent residuals it is exactly
    L_inf (D - 1) / (D - p - 1) - L_inf = L_inf (p/D + p(p+1)/D^2 + ...). The law is the leading
    order: its correction is a fraction ~p/D of the excess, so read the exponent over D >~ 20 p
    (closer to P it steepens the local slope).

    One network and one split per repeat, nested training sets (the first D of the rest): one
    repeat's losses share its level L_inf (its network and test set), which the paired fit
    (``fits.fit_offset_power_law``) cancels; its interval comes from the scatter over repeats
    (at least 2, cheap: one network of width P per repeat). A large test set lowers the noise of
    L at large D. ``y=None``: a draw from the GP of the NNGP.

    Args:
        net: the network whose random features are drawn.
        X: the N points, shape (N, d).
        y: their targets; None for one draw from the GP of the NNGP.
        width: P, the fixed width.
        sizes: training-set sizes D >> P (at least 4).
        test_size: held-out points per split.
        ridge: the readout's ridge, >= 0.
        repeats: networks and splits (at least 2).
        seed: seed of the splits, networks and GP targets.

    Returns:
        An ``OffsetCurve`` (``x``, ``losses``, ``limit``, ``alpha``, ``ci``).

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: sizes beyond the points left beside the test set, or fewer than 2 repeats.

    Example:
        >>> import nngp_ntk as nk
        >>> X = nk.data.sphere(200, dim=3, seed=0)
        >>> curve = variance_limited_data(nk.FullyConnected(depth=1), X, width=2, sizes=[20, 40, 80, 140],
        ...                               repeats=3)
        >>> curve.x.tolist(), curve.repeat_losses.shape
        ([20.0, 40.0, 80.0, 140.0], (3, 4))
    """
    check_network(net)
    width = check_integer("width", width, minimum=1)
    ridge = check_ridge(ridge)
    repeats = check_integer("repeats", repeats, minimum=2)
    X = check_points(X)
    test_size = data.held_out_count(len(X), test_size)
    sizes = check_sizes("sizes", sizes, len(X) - test_size, f"N = {len(X)} points minus test_size = {test_size}")
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


def variance_limited_width(net: Network, X: np.ndarray, y: np.ndarray | None = None, *, size: int,
                           widths: list[int] | np.ndarray, test_size: int | None = None, ridge: float = 0.0,
                           repeats: int = 20, seed: int = 0, control_variate: bool | None = None) -> OffsetCurve:
    """L(P) of random-feature models on a fixed training set of D points as the width grows (P >> D):
    L(P) = L_inf(D) + c P^-alpha, alpha = 1 in theory (the random-feature kernel's fluctuations about
    the NNGP are O(1/sqrt(P)), their effect on the mean loss O(1/P)); L_inf(D) is NNGP regression on
    the D points. The law is the leading order in D/P (for Gaussian features the inverse of the
    D x D kernel has mean K^-1 P/(P - D - 1)), so read the exponent over P >~ 20 D.

    One split (the loss's limit depends on it); each repeat draws a fresh network per width. One
    draw's loss fluctuates by O(1/sqrt(P)), more than the O(1/P) approach. That fluctuation is, to
    first order, linear in each hidden layer's empirical kernel less its mean given the layers
    before, and that linear term C has mean exactly zero at every width and depth
    (``random_feature_controls.FirstOrderControl``). The control variate subtracts it from each
    draw's loss: L - C has the same mean as L, its fluctuation is of second order, O(1/P). Without
    it the mean over many repeats (20 or more) must carry the law. Fitted by ``fits.fit_offset_power_law`` (each repeat against
    its own draw at the largest width; the interval from the scatter over repeats).

    Args:
        net: the network whose random features are drawn.
        X: the N points, shape (N, d).
        y: their targets; None for one draw from the GP of the NNGP.
        size: D, the fixed training-set size.
        widths: widths P >> D (at least 4).
        test_size: held-out points.
        ridge: the readout's ridge, >= 0.
        repeats: networks per width (at least 2).
        seed: seed of the split, networks and GP targets.
        control_variate: subtract the first-order term C from each loss (above); it needs a stack
            of Dense layers, each followed by activations only (``random_feature_controls.has_control``).
            None: where the network allows it.

    Returns:
        An ``OffsetCurve`` (the control variates in ``controls``).

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: a size beyond the points left beside the test set, bad widths, fewer than 2
            repeats, or ``control_variate=True`` for a network that does not end so.

    Example:
        >>> import nngp_ntk as nk
        >>> X = nk.data.sphere(60, dim=3, seed=0)
        >>> curve = variance_limited_width(nk.FullyConnected(depth=1), X, size=4, widths=[40, 80, 160, 320],
        ...                                repeats=2)
        >>> curve.x.tolist()
        [40.0, 80.0, 160.0, 320.0]
    """
    check_network(net)
    ridge = check_ridge(ridge)
    repeats = check_integer("repeats", repeats, minimum=2)
    X = check_points(X)
    test_size = data.held_out_count(len(X), test_size)
    size = check_integer("size", size, minimum=2)
    if size > len(X) - test_size:
        raise ArgumentValueError(f"size must be at most {len(X) - test_size} (N = {len(X)} minus test_size = {test_size}), "
                         f"got {size}")
    widths = check_sizes("widths", widths)
    if control_variate is None:
        control_variate = has_control(net)
    elif not isinstance(control_variate, (bool, np.bool_)):
        raise ArgumentTypeError(f"control_variate must be True, False or None, got {control_variate!r}")
    elif control_variate and not has_control(net):
        raise ArgumentValueError("control_variate=True needs a stack of NTK-parameterized Dense layers, each followed by "
                         "activations only, with a Dense readout (random_feature_controls.has_control)")
    targets = _targets(net, X, y, "nngp", seed)
    rng = np.random.default_rng(seed)
    losses = np.empty((repeats, len(widths)))
    order = _permutations(len(X), 1, seed)[0]
    test, train = order[:test_size], order[test_size:test_size + size]
    points = X[np.concatenate([train, test])]
    split_targets = targets[np.concatenate([train, test])].reshape(len(points), -1)
    controls = np.zeros((repeats, len(widths)))
    control = FirstOrderControl(net, points, size, split_targets, ridge) if control_variate else None
    for r in range(repeats):
        for k, (width, draw) in enumerate(zip(widths, _seeds(rng, len(widths)))):
            if control is not None:
                features, controls[r, k] = control.draw(int(width), draw)
            else:
                features = random_features(net, points, int(width), draw)
            if features.shape[1] >= size:    # the fit in kernel form: K_P,TD (K_P,DD + ridge I)^-1 y_D
                gram = features @ features[:size].T               # K_P on (train, test) x train
                weights = scipy.linalg.solve(gram[:size] + ridge * np.eye(size), split_targets[:size],
                                             assume_a="pos", check_finite=False)
                prediction = gram[size:] @ weights
            else:
                prediction = features[size:] @ fit_readout(features[:size], split_targets[:size], ridge)
            losses[r, k] = _mse(prediction, split_targets[size:])
    return _offset_curve(widths.astype(np.float64), losses - controls, controls if control_variate else None)



# ----------------------------------------------------------------------------- L(P, n): one-pass SGD

@dataclasses.dataclass(frozen=True)
class SgdCurve:
    """Measured test MSE of one-pass SGD on width-P random features: the mean ``losses`` over draws
    (len(widths), len(samples)), their standard ``errors`` and ``intervals`` (Student-t over draws,
    last axis (low, high)), the per-draw losses (draws, len(widths), len(samples)); ``fits_N``, one
    ``PowerLawFit`` of L ~ n^-alpha per width, ``fits_P`` one of L ~ P^-alpha per n (through the mean,
    interval bootstrap over draws); ``alpha_N`` at the largest width, ``alpha_P`` at the largest n;
    ``frontier``: the ``theory.ComputeFrontier`` of the mean losses."""

    widths: np.ndarray
    samples: np.ndarray
    losses: np.ndarray
    errors: np.ndarray
    intervals: np.ndarray
    repeat_losses: np.ndarray
    eta0: float
    schedule: str
    fits_N: tuple[PowerLawFit, ...]
    fits_P: tuple[PowerLawFit, ...]
    frontier: ComputeFrontier

    @property
    def alpha_N(self) -> PowerLawFit:
        """The fit of L ~ n^-alpha_N at the largest width."""
        return self.fits_N[-1]

    @property
    def alpha_P(self) -> PowerLawFit:
        """The fit of L ~ P^-alpha_P at the largest n."""
        return self.fits_P[-1]


@jax.jit
def _sgd_passes(features: jax.Array, targets: jax.Array, orders: jax.Array, etas: jax.Array,
                test: jax.Array) -> jax.Array:
    """Test MSE (draws, passes) of one-pass SGD: features (draws, N, P), targets (N, k), orders
    (draws, steps) point indices, etas (passes, steps) (0 after a pass's end), test indices (T,)."""
    draws, passes = orders.shape[0], etas.shape[0]
    weights = jnp.zeros((draws, passes) + (features.shape[2], targets.shape[1]), features.dtype)

    def step(w: jax.Array, inputs: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, None]:
        index, eta = inputs                                              # (draws,), (passes,)
        z = features[jnp.arange(draws), index]                           # (draws, P)
        error = jnp.einsum("dp,dspk->dsk", z, w) - targets[index][:, None, :]
        return w - eta[None, :, None, None] * z[:, None, :, None] * error[:, :, None, :], None

    weights, _ = jax.lax.scan(step, weights, (orders.T, etas.T))
    predictions = jnp.einsum("dtp,dspk->dstk", features[:, test], weights)
    return jnp.mean((predictions - targets[test][None, None]) ** 2, axis=(2, 3))


def sgd_curve(net: Network, X: np.ndarray, y: np.ndarray | None = None, *, widths: list[int] | np.ndarray,
              samples: list[int] | np.ndarray, eta0: float, schedule: str = "geometric", draws: int = 3,
              test_size: int | None = None, seed: int = 0, test: np.ndarray | list | None = None) -> SgdCurve:
    """Measured L(P, n): the test MSE of one-pass SGD with n steps on the readout of width-P random features.

    f(x) = phi(x) . w / sqrt(P), phi the P units of ``net``'s random hidden layer
    (``finite.readout_features``), w = 0 at the start; one pass over n training points in random
    order, batch 1, loss 0.5 |f(x) - y|^2 summed over outputs:

        w <- w - eta_t z (z . w - y),  z = phi / sqrt(P),  eta_t = eta0 / 2^floor(t / K), K = ceil(n / log2 n)

    ("geometric"; "constant": eta_t = eta0). Each n is its own pass (its schedule set by its own
    length n), over the first n points of the draw's random order of the pool; the last iterate's
    squared error averaged over the test points and outputs, then over ``draws`` draws of the
    features and the order. All passes of a width run in one ``lax.scan`` over the steps, vectorized
    over draws and pass lengths; the features are computed once per draw. Splits as ``flow_curve``:
    ``test_size`` held-out points (or the fixed ``test``), the pool the rest. ``y=None``: one draw
    from the GP of the NNGP. ``theory.predict_sgd_curve`` predicts the same grid.

    Args:
        net: a network ending with a Dense readout.
        X: the N points, shape (N, d).
        y: their targets, shape (N,) or (N, k); None for one draw from the GP of the NNGP.
        widths: widths P (at least 3, spanning a factor 2), at most the pool.
        samples: pass lengths n (at least 3, spanning a factor 2), at most the pool.
        eta0: the first step size, in the stable range on the drawn features (about
            eta0 mean |phi|^2 / P < 2: ``theory.predict_sgd_curve``).
        schedule: "geometric" or "constant".
        draws: draws of the features and the order to average over.
        test_size: held-out points (default ``data.held_out_count``).
        seed: seed of the split, the draws and the GP targets.
        test: indices of a fixed test set, or None.

    Returns:
        An ``SgdCurve`` (``losses``, ``alpha_N``, ``alpha_P``, ``frontier``).

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: widths or samples beyond the pool or not positive, eta0 outside the stable range,
            an unknown schedule.

    Example:
        >>> import nngp_ntk as nk
        >>> X = nk.data.sphere(150, dim=3, seed=0)
        >>> curve = sgd_curve(nk.FullyConnected(depth=1), X, widths=[8, 16, 32], samples=[25, 50, 100], eta0=0.5,
        ...                   draws=2, test_size=30)
        >>> curve.losses.shape, curve.repeat_losses.shape
        ((3, 3), (2, 3, 3))
    """
    check_network(net)
    draws = check_integer("draws", draws, minimum=1)
    X = check_points(X)
    test = None if test is None else _fixed_test(len(X), test)
    test_size = data.held_out_count(len(X), test_size) if test is None else len(test)
    pool = len(X) - test_size
    what = f"the pool: N = {len(X)} points minus test_size = {test_size}"
    widths = check_sizes("widths", widths, pool, what)
    samples = check_sizes("samples", samples, pool, what)
    schedule = check_choice("schedule", schedule, SCHEDULES)
    check_real("eta0", eta0, positive=True)
    targets = _targets(net, X, y, "nngp", seed)
    order = _orders(len(X), 1, seed, test)[0]
    held_out, train_pool = order[:test_size], order[test_size:]
    rng = np.random.default_rng(seed)
    steps = int(samples[-1])
    etas = np.zeros((len(samples), steps))
    for j, n in enumerate(samples):
        etas[j, :n] = sgd_schedule(int(n), eta0, schedule)
    orders = np.stack([rng.permutation(train_pool)[:steps] for _ in range(draws)])
    losses = np.empty((draws, len(widths), len(samples)))
    for i, width in enumerate(widths):
        features = np.stack([sgd_features(net, X, int(width), seed) for seed in _seeds(rng, draws)])
        for draw in features:
            check_step(eta0, draw[train_pool], "the drawn features")
        with jax.enable_x64(True):
            losses[:, i] = np.asarray(_sgd_passes(jnp.asarray(features), jnp.asarray(targets), jnp.asarray(orders),
                                                  jnp.asarray(etas), jnp.asarray(held_out)))
    mean = losses.mean(axis=0)
    errors = losses.std(axis=0, ddof=1) / np.sqrt(draws) if draws > 1 else np.full(mean.shape, np.nan)
    half = scipy.special.stdtrit(max(draws - 1, 1), 0.5 + CONFIDENCE / 2) * errors
    over_n, over_p = grid_fits(widths, samples, losses, interval="bootstrap", confidence=CONFIDENCE,
                               n_bootstrap=N_BOOTSTRAP, seed=seed)
    return SgdCurve(widths, samples, mean, errors, np.stack([mean - half, mean + half], axis=-1), losses,
                    float(eta0), schedule, over_n, over_p, compute_frontier(widths, samples, mean))
