"""The variance-limited regimes, measured: L at fixed P as D grows, and at fixed D as P grows.

Both approach their limit as L = L_inf + c x^-alpha with alpha = 1 to leading order in P/D and D/P,
fitted on curves paired within each repeat (``spectrum.fit_offset_power_law``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.linalg

from nngp_ntk import data
from nngp_ntk._checks import (ArgumentTypeError, ArgumentValueError, check_integer, check_points, check_ridge,
                              check_sizes)
from nngp_ntk.spectrum._fits import PowerLawFit
from nngp_ntk.spectrum._offset_fits import fit_offset_power_law
from nngp_ntk.kernels._network import Network, check_network
from nngp_ntk.finite._controls import FirstOrderControl, has_control
from nngp_ntk.finite._random_features import fit_readout, random_features
from nngp_ntk.scaling._curves import CONFIDENCE, _mse, _permutations, _seeds, _targets



@dataclasses.dataclass(frozen=True)
class OffsetCurve:
    """A measured curve approaching a limit: mean ``losses`` at ``x`` with their standard ``errors``
    (over repeats; they include the spread of each repeat's level), ``difference_errors``, the
    standard errors of the paired differences L(x) - L(x_max) that the fit uses (0 at x_max), the
    per-repeat losses, and ``fit`` = L_inf + c x^-alpha (``spectrum.fit_offset_power_law``; alpha near
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
                       fit_offset_power_law(x, repeat_losses, confidence=CONFIDENCE), controls)


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
    (``spectrum.fit_offset_power_law``) cancels; its interval comes from the scatter over repeats
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
    it the mean over many repeats (20 or more) must carry the law. Fitted by ``spectrum.fit_offset_power_law`` (each repeat against
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
        raise ArgumentValueError(
            f"size must be at most {len(X) - test_size} (N = {len(X)} minus test_size = {test_size}), "
            f"got {size}")
    widths = check_sizes("widths", widths)
    if control_variate is None:
        control_variate = has_control(net)
    elif not isinstance(control_variate, (bool, np.bool_)):
        raise ArgumentTypeError(f"control_variate must be True, False or None, got {control_variate!r}")
    elif control_variate and not has_control(net):
        raise ArgumentValueError(
            "control_variate=True needs a stack of NTK-parameterized Dense layers, each followed by "
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
