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
* ``variance_limited_data`` / ``variance_limited_width`` (``scaling._regimes``): L at fixed P as D
  grows, at fixed D as P grows, fitted by L = L_inf + c x^-alpha (alpha = 1 expected).
* ``flow_curve`` (``scaling._flow``): L(D, t) after gradient flow for time t; ``sgd_curve``
  (``scaling._sgd``): L(P, n) of one-pass SGD on random features and its compute-optimal frontier.

The shared pieces (held-out splits, nested orders, GP targets, ``Curve``) live here.

Predicted by ``predict_exponents`` from the spectrum of K/N and the targets' projections on its
eigenvectors (``theory``). Losses are test mean squared errors, averaged over points and outputs.
Kernels are computed in float64 (JAX x64 on for the call): the losses span orders of magnitude
below the targets' variance, out of float32's reach.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from nngp_ntk import data
from nngp_ntk.spectrum import _fits as fits
from nngp_ntk.solver import _flow as solver
from nngp_ntk._checks import (ArgumentValueError, check_integer, check_kernel_name, check_points, check_ridge,
                              check_sizes)
from nngp_ntk.spectrum._fits import PowerLawFit
from nngp_ntk.kernels._network import Network, check_network
from nngp_ntk.finite._random_features import fit_readout, random_features

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
        raise ArgumentValueError(
            f"test must leave at least 3 training points of the {n_points}, got {len(array)} indices")
    return array.astype(np.int64)


def _held_out(X: np.ndarray, test: np.ndarray | list | None, test_size: int | None
              ) -> tuple[np.ndarray, np.ndarray | None, int, int]:
    """The checked points, the checked fixed test set (or None), the number of held-out points
    (``len(test)``, else ``data.held_out_count``) and the size of the training pool N - test_size."""
    X = check_points(X)
    test = None if test is None else _fixed_test(len(X), test)
    test_size = data.held_out_count(len(X), test_size) if test is None else len(test)
    return X, test, test_size, len(X) - test_size


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
    X, test, test_size, pool = _held_out(X, test, test_size)
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
        ridge: the readout's ridge, >= 0. Narrow deep ReLU layers can leave a unit active on a single
            training point, which least squares fits with an unbounded weight: the mean over draws of
            the ridgeless loss then has a heavy tail, which a small ridge (1e-4) removes
            (``theory.RandomFeatureLeaveOneOut``; ``predict_exponents(readout_ridge=)`` predicts it).
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
    X, test, test_size, pool = _held_out(X, test, test_size)
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
