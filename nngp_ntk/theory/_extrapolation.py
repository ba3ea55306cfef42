"""Prediction beyond the sample: L(D) for D up to several times the N points given, with intervals.

Within the sample the leave-one-out learning curve of ``theory.LeaveOneOut`` is right on data of
uneven leverage: the test MSE of kernel regression on n < N points,

    L(n) = T_N(lam) + (E0(n) - E0(N)) B(theta),    theta(lam) = kappa(n),

from the spectrum of K/N on the N points, the targets' projections on its eigenvectors and their
exact leave-one-out error (no held-out points, no refits). Beyond N no sample resolves the
operator's modes, and a spectrum extended by power-law tails (``power_law_tails.extend_spectrum``) carries the
homogeneous bias of the tails it reads. ``extrapolate_learning_curve`` instead reads how the
leave-one-out curve is still falling where the sample ends, L(n) = A n^-alpha_D by least squares
of log L on log n over n in [N/10, 0.9 N], and continues that power law to the requested sizes.

Its interval has two parts, added in quadrature on log L (and on alpha_D):

* the sampling of the N points: a delete-a-group jackknife, the fit repeated with each of G random
  groups of points left out (G eigendecompositions of (N - N/G) points),
  se_J^2 = (G - 1) / G sum_g (theta_g - mean theta)^2;
* the error of the extrapolation itself, measured inside the sample (a backtest): the largest size
  asked for is r = D_max / N times the sample (r at least 2); B = floor(r / 0.9) disjoint subsets
  of m = 0.9 N / r points each extrapolate, by the same method, over the same factor r to the sizes
  D m / N, up to 0.9 N, where the leave-one-out curve of all N points says what L is. Their errors
  e_b (in log L at each size, and in alpha_D) give se_B^2 = mean_b e_b^2: the bending of the curve
  beyond the window read and the noise of a smaller sample together.

The interval is theta +- t_nu sqrt(se_J^2 + se_B^2), nu from Welch-Satterthwaite
(nu = (se_J^2 + se_B^2)^2 / (se_J^4 / (G - 1) + se_B^4 / B)).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import scipy.special

from nngp_ntk import data
from nngp_ntk.spectrum import _fits as fits
from nngp_ntk._checks import (DENSE_LIMIT, ArgumentValueError, check_integer, check_kernel_name, check_points,
                              check_real, check_sizes)
from nngp_ntk.kernels._network import Network, check_network
from nngp_ntk.theory._samples import LeaveOneOut

#: The window of the leave-one-out curve that is read: n from N * READ[0] to N * READ[1].
READ = (0.1, 0.9)
#: Sizes read in that window (geometric).
READ_POINTS = 7
#: The fewest points a fit reads (the backtest's subsets included).
MIN_POINTS = 50
#: The least extrapolation factor the backtest checks.
MIN_FACTOR = 2.0


@dataclasses.dataclass(frozen=True)
class Extrapolation:
    """Predicted test MSE ``losses`` at ``sizes`` (which may exceed N = ``n_samples``) with
    ``intervals`` (rows (low, high)) at ``confidence``; ``alpha_D`` and its interval ``ci``;
    ``fit``, the power law through the leave-one-out curve ``read_losses`` at ``read_sizes``;
    ``local_alpha``, the slope on the upper half of that window; the standard errors of log L at
    ``sizes`` and of alpha_D from the jackknife (``jackknife_se_log``, ``jackknife_se_alpha``) and
    from the backtest (``backtest_se_log``, ``backtest_se_alpha``), and the backtest's signed errors
    (predicted minus leave-one-out; rows: subsets) ``backtest_log_errors`` and ``backtest_alpha_errors``."""

    sizes: np.ndarray
    losses: np.ndarray
    intervals: np.ndarray
    alpha_D: float
    ci: tuple[float, float]
    confidence: float
    fit: fits.PowerLawFit
    local_alpha: float
    read_sizes: np.ndarray
    read_losses: np.ndarray
    n_samples: int
    jackknife_se_log: np.ndarray
    jackknife_se_alpha: float
    backtest_se_log: np.ndarray
    backtest_se_alpha: float
    backtest_log_errors: np.ndarray
    backtest_alpha_errors: np.ndarray


def _eigensystem(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and unit eigenvectors of gram / N."""
    values, vectors = np.linalg.eigh(gram / len(gram))
    return values[::-1], vectors[:, ::-1]


def _theory(gram: np.ndarray, targets: np.ndarray | None) -> LeaveOneOut:
    """``theory.LeaveOneOut`` from the eigensystem of gram / N and the targets' projections."""
    values, vectors = _eigensystem(gram)
    return LeaveOneOut(values, vectors, None if targets is None else vectors.T @ targets)


def _read(theory: LeaveOneOut, sizes: np.ndarray) -> tuple[np.ndarray, fits.PowerLawFit, float, np.ndarray, np.ndarray]:
    """(log L at sizes by the power law of the window, that fit, the upper half's slope, read n, read L)."""
    n = theory.n_samples
    read = np.geomspace(READ[0] * n, READ[1] * n, READ_POINTS)
    losses = theory.curve(read).losses
    whole = fits.fit_loglog(read, losses, name="read sizes")
    upper = fits.fit_loglog(read[READ_POINTS // 2:], losses[READ_POINTS // 2:], name="read sizes")
    if not (whole.reliable and upper.reliable):
        raise ArgumentValueError(f"the leave-one-out curve on the {n} points is not a power law to extrapolate "
                                 f"({whole.reason or upper.reason})")
    return np.log(whole.amplitude) - whole.alpha * np.log(sizes), whole, upper.alpha, read, losses


def _backtest(gram: np.ndarray, targets: np.ndarray | None, whole: LeaveOneOut, sizes: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Signed errors (log L at each size, rows: subsets; alpha_D per subset) of the extrapolation from
    disjoint subsets of m = 0.9 N / r points over the factor r = max(D_max / N, 2), against the
    leave-one-out curve of all N points at the sizes D m / N."""
    n = len(gram)
    factor = max(sizes[-1] / n, MIN_FACTOR)
    subset = int(READ[1] * n / factor)
    scaled = sizes * subset / n
    truth = np.log(whole.curve(scaled).losses)
    truth_alpha = fits.fit_loglog(scaled, np.exp(truth), name="sizes").alpha
    order = rng.permutation(n)
    log_errors, alpha_errors = [], []
    for b in range(n // subset):
        keep = order[b * subset:(b + 1) * subset]
        part = _theory(gram[np.ix_(keep, keep)], None if targets is None else targets[keep])
        log_loss, fit, *_ = _read(part, scaled)
        log_errors.append(log_loss - truth)
        alpha_errors.append(fit.alpha - truth_alpha)
    return np.array(log_errors), np.array(alpha_errors)


def _interval(center: np.ndarray | float, jackknife_var: np.ndarray | float, backtest_var: np.ndarray | float,
              groups: int, subsets: int, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """center -+ t_nu sqrt(jackknife_var + backtest_var), nu by Welch-Satterthwaite."""
    total = np.asarray(jackknife_var + backtest_var, dtype=np.float64)
    tiny = np.finfo(np.float64).tiny
    nu = total**2 / np.maximum(jackknife_var**2 / (groups - 1) + backtest_var**2 / subsets, tiny)
    t = scipy.special.stdtrit(np.maximum(nu, 1.0), 0.5 + confidence / 2)
    return center - t * np.sqrt(total), center + t * np.sqrt(total)


def extrapolate_gram(gram: np.ndarray, targets: np.ndarray | None, sizes: np.ndarray, *, groups: int = 10,
                     confidence: float = 0.95, seed: int = 0) -> Extrapolation:
    """``extrapolate_learning_curve`` from the kernel matrix ``gram`` (N, N) of the points and their
    ``targets`` (N, k) or None, with ``sizes`` checked (sorted, float). Arguments as there."""
    n_points = len(gram)
    whole = _theory(gram, targets)
    log_loss, fit, local_alpha, read, read_losses = _read(whole, sizes)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(n_points) % groups
    jack_log, jack_alpha = [], []
    for g in range(groups):
        keep = np.flatnonzero(labels != g)
        part = _read(_theory(gram[np.ix_(keep, keep)], None if targets is None else targets[keep]), sizes)
        jack_log.append(part[0])
        jack_alpha.append(part[1].alpha)
    jack_log, jack_alpha = np.array(jack_log), np.array(jack_alpha)
    scale = (groups - 1) / groups
    jack_var_log = scale * np.sum((jack_log - jack_log.mean(axis=0)) ** 2, axis=0)
    jack_var_alpha = scale * float(np.sum((jack_alpha - jack_alpha.mean()) ** 2))
    back_log, back_alpha = _backtest(gram, targets, whole, sizes, rng)
    back_var_log, back_var_alpha = np.mean(back_log**2, axis=0), float(np.mean(back_alpha**2))
    low, high = _interval(log_loss, jack_var_log, back_var_log, groups, len(back_alpha), confidence)
    alpha_low, alpha_high = _interval(fit.alpha, jack_var_alpha, back_var_alpha, groups, len(back_alpha), confidence)
    return Extrapolation(sizes, np.exp(log_loss), np.exp(np.stack([low, high], axis=1)), fit.alpha,
                         (float(alpha_low), float(alpha_high)), confidence, fit, local_alpha, read, read_losses,
                         n_points, np.sqrt(jack_var_log), float(np.sqrt(jack_var_alpha)), np.sqrt(back_var_log),
                         float(np.sqrt(back_var_alpha)), back_log, back_alpha)


def extrapolate_learning_curve(net: Network, X: np.ndarray, y: np.ndarray | None = None, *,
                               sizes: list[int] | np.ndarray, kernel: str = "ntk", groups: int = 10,
                               confidence: float = 0.95, seed: int = 0) -> Extrapolation:
    """Predicted L(D) of kernel regression on D training points, for D within and beyond the N points X.

    L(D) = A D^-alpha_D, fitted to the leave-one-out learning curve of the N points
    (``theory.LeaveOneOut``) over n in [N/10, 0.9 N]; intervals from a delete-a-group jackknife over
    ``groups`` random groups of the points plus a backtest of the same extrapolation, over the same
    factor, from disjoint subsets of the points (module docstring).

    Args:
        net: the network whose kernel is used (any network: ``FullyConnected``, ``Sequential``).
        X: the N training points (N <= DENSE_LIMIT; the eigendecompositions are dense).
        y: their targets, shape (N,) or (N, outputs); None for targets from the GP of the kernel.
        sizes: the training-set sizes D to predict, any positive integers (at least 3 spanning a
            factor 2: alpha_D is read over them), the largest at most 0.9 N / 50 times N (the
            backtest's subsets need 50 points).
        kernel: "ntk" (the trained network) or "nngp" (a GP / trained readout).
        groups: the number G of jackknife groups (at least 3).
        confidence: the level of the intervals, in (0, 1).
        seed: the seed of the random groups and subsets.

    Returns:
        An ``Extrapolation``.

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: for bad arguments, fewer than 50 points, sizes too far beyond them, or a
            leave-one-out curve that is not a power law to extrapolate.

    Example:
        >>> import numpy as np, nngp_ntk as nk
        >>> from nngp_ntk.theory._extrapolation import extrapolate_learning_curve
        >>> X = nk.data.sphere(120, 3, seed=0)
        >>> net = nk.FullyConnected(depth=1, activation="relu")
        >>> result = extrapolate_learning_curve(net, X, sizes=[60, 120, 240], groups=4)
        >>> bool(np.all(result.intervals[:, 0] < result.losses)), bool(result.alpha_D > 0)
        (True, True)
    """
    check_network(net)
    check_kernel_name(kernel)
    X = check_points(X)
    n_points = len(X)
    if not MIN_POINTS <= n_points <= DENSE_LIMIT:
        raise ArgumentValueError(f"extrapolate_learning_curve needs {MIN_POINTS} <= N <= {DENSE_LIMIT} points, "
                                 f"got N = {n_points}")
    targets = None if y is None else data.check_targets(X, y).reshape(n_points, -1)
    reach = int(n_points * READ[1] * n_points / MIN_POINTS)
    sizes = check_sizes("sizes", sizes, reach, f"0.9 N / {MIN_POINTS} times the N = {n_points} points: the "
                        f"backtest's subsets need {MIN_POINTS} points").astype(np.float64)
    groups = check_integer("groups", groups, minimum=3, maximum=n_points // 20)
    confidence = check_real("confidence", confidence, positive=True)
    if not confidence < 1:
        raise ArgumentValueError(f"confidence must be in (0, 1), got {confidence!r}")
    with jax.enable_x64(True):
        gram = np.asarray(net.kernel(X, get=kernel), dtype=np.float64)
    return extrapolate_gram(gram, targets, sizes, groups=groups, confidence=confidence, seed=seed)
