"""Measured L(D, t): the test loss of the infinitely wide network after gradient flow for time t.

``flow_curve`` trains by the solver's exact gradient flow (several times at once) on nested training
subsets of held-out splits, as ``learning_curve`` does at t = infinity.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.special

from nngp_ntk.spectrum import _fits as fits
from nngp_ntk.solver import _flow as solver
from nngp_ntk._checks import (check_counts, check_integer, check_kernel_name, check_positive_times, check_window)
from nngp_ntk.spectrum._fits import PowerLawFit
from nngp_ntk.kernels._network import Network, check_network
from nngp_ntk.scaling._curves import CONFIDENCE, N_BOOTSTRAP, _float64_kernel, _held_out, _orders, _targets



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
    X, test, test_size, pool = _held_out(X, test, test_size)
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
