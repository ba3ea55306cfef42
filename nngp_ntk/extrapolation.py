"""Prediction beyond the sample: L(D) for D up to several times the N points given, with intervals.

Within the sample the leave-one-out learning curve of ``theory.LeaveOneOut`` is right on data of
uneven leverage: the test MSE of kernel regression on n < N points,

    L(n) = T_N(lam) + (E0(n) - E0(N)) B(theta),    theta(lam) = kappa(n),

from the spectrum of K/N on the N points, the targets' projections on its eigenvectors and their
exact leave-one-out error (no held-out points, no refits). Beyond N no sample resolves the
operator's modes, and a spectrum extended by power-law tails (``theory.extend_spectrum``) carries the
homogeneous bias of the tails it reads. ``extrapolate_learning_curve`` instead reads how the
leave-one-out curve is still falling where the sample ends, L(n) = A n^-alpha_D by least squares
of log L on log n over n in [N/10, 0.9 N], and continues that power law to the requested sizes.

Its interval has two parts, added in quadrature on log L (and on alpha_D):

* the sampling of the N points: a delete-a-group jackknife, the fit repeated with each of G random
  groups of points left out (G eigendecompositions of (N - N/G) points),
  se^2 = (G - 1) / G sum_g (theta_g - mean theta)^2;
* the bending of the curve: real learning curves flatten or steepen slowly in log-log, so the
  slope read on the upper half of the window (the local slope where the sample ends) and the one
  read on the whole window are two readings of alpha_D; their difference, and that of the
  extrapolated log L, counts as one more standard error.

The interval is theta +- t_{G-1} sqrt(se_jackknife^2 + se_bending^2).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import scipy.stats

from nngp_ntk import data, fits
from nngp_ntk._checks import DENSE_LIMIT, check_integer, check_kernel_name, check_points, check_real, check_sizes
from nngp_ntk.kernels import FullyConnected
from nngp_ntk.spectrum import eigh
from nngp_ntk.theory import LeaveOneOut

#: The window of the leave-one-out curve that is read: n from N * READ[0] to N * READ[1].
READ = (0.1, 0.9)
#: Sizes read in that window (geometric).
READ_POINTS = 7


@dataclasses.dataclass(frozen=True)
class Extrapolation:
    """Predicted test MSE ``losses`` at ``sizes`` (which may exceed N = ``n_samples``) with
    ``intervals`` (rows (low, high)) at ``confidence``; ``alpha_D`` and its interval ``ci``;
    ``fit``, the power law through the leave-one-out curve ``read_losses`` at ``read_sizes``;
    ``local_alpha``, the slope on the upper half of that window."""

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


def _read(values: np.ndarray, vectors: np.ndarray, targets: np.ndarray | None,
          sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, fits.PowerLawFit, float, np.ndarray, np.ndarray]:
    """(log L at sizes from the whole window, from its upper half, the fit, the upper slope, read n, read L)."""
    n = len(values)
    read = np.geomspace(READ[0] * n, READ[1] * n, READ_POINTS)
    projections = None if targets is None else vectors.T @ targets
    losses = LeaveOneOut(values, vectors, projections).curve(read).losses
    whole = fits.fit_power_law(read, losses, name="read sizes")
    upper = fits.fit_power_law(read[READ_POINTS // 2:], losses[READ_POINTS // 2:], name="read sizes")
    if not (whole.reliable and upper.reliable):
        raise ValueError(f"the leave-one-out curve on the {n} points is not a power law to extrapolate "
                         f"({whole.reason or upper.reason})")

    def log_loss(fit: fits.PowerLawFit) -> np.ndarray:
        return np.log(fit.amplitude) - fit.alpha * np.log(sizes)

    return log_loss(whole), log_loss(upper), whole, upper.alpha, read, losses


def _eigensystem(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and unit eigenvectors of gram / N."""
    values, vectors = np.linalg.eigh(gram / len(gram))
    return values[::-1], vectors[:, ::-1]


def extrapolate_learning_curve(net: FullyConnected, X: np.ndarray, y: np.ndarray | None = None, *,
                               sizes: list[int] | np.ndarray, kernel: str = "ntk", groups: int = 10,
                               confidence: float = 0.95, seed: int = 0) -> Extrapolation:
    """Predicted L(D) of kernel regression on D training points, for D within and beyond the N points X.

    L(D) = A D^-alpha_D, fitted to the leave-one-out learning curve of the N points
    (``theory.LeaveOneOut``) over n in [N/10, 0.9 N]; intervals from a delete-a-group jackknife over
    ``groups`` random groups of the points plus the bending of the curve (module docstring).

    Args:
        net: the network whose kernel is used.
        X: the N training points (N <= DENSE_LIMIT; the G + 1 eigendecompositions are dense).
        y: their targets, shape (N,) or (N, outputs); None for targets from the GP of the kernel.
        sizes: the training-set sizes D to predict, any positive integers (at least 3 spanning a
            factor 2: alpha_D is read over them).
        kernel: "ntk" (the trained network) or "nngp" (a GP / trained readout).
        groups: the number G of jackknife groups (at least 3).
        confidence: the level of the intervals, in (0, 1).
        seed: the seed of the random groups.

    Returns:
        An ``Extrapolation``.

    Raises:
        ValueError: for bad arguments, fewer than 50 points, or a leave-one-out curve that is not a
            power law to extrapolate.

    Example:
        >>> import numpy as np, nngp_ntk as nk
        >>> from nngp_ntk.extrapolation import extrapolate_learning_curve
        >>> X = nk.data.sphere(120, 3, seed=0)
        >>> net = nk.FullyConnected(depth=1, activation="relu")
        >>> result = extrapolate_learning_curve(net, X, sizes=[60, 120, 240], groups=4)
        >>> bool(np.all(result.intervals[:, 0] < result.losses)), bool(result.alpha_D > 0)
        (True, True)
    """
    if not isinstance(net, FullyConnected):
        raise TypeError(f"net must be a nngp_ntk.FullyConnected, got {type(net).__name__}")
    check_kernel_name(kernel)
    X = check_points(X)
    n_points = len(X)
    if not 50 <= n_points <= DENSE_LIMIT:
        raise ValueError(f"extrapolate_learning_curve needs 50 <= N <= {DENSE_LIMIT} points, got N = {n_points}")
    targets = None if y is None else data.check_targets(X, y).reshape(n_points, -1)
    sizes = check_sizes("sizes", sizes).astype(np.float64)
    groups = check_integer("groups", groups, minimum=3, maximum=n_points // 20)
    confidence = check_real("confidence", confidence, positive=True)
    if not confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    with jax.enable_x64(True):
        gram = np.asarray(net.kernel(X, get=kernel), dtype=np.float64)
    values, vectors = _eigensystem(gram)
    log_whole, log_upper, fit, local_alpha, read, read_losses = _read(values, vectors, targets, sizes)
    labels = np.random.default_rng(seed).permutation(n_points) % groups
    jack_log, jack_alpha = [], []
    for g in range(groups):
        keep = np.flatnonzero(labels != g)
        part_values, part_vectors = _eigensystem(gram[np.ix_(keep, keep)])
        part = _read(part_values, part_vectors, None if targets is None else targets[keep], sizes)
        jack_log.append(part[0])
        jack_alpha.append(part[2].alpha)
    jack_log, jack_alpha = np.array(jack_log), np.array(jack_alpha)
    scale = (groups - 1) / groups
    se_log = np.sqrt(scale * np.sum((jack_log - jack_log.mean(axis=0)) ** 2, axis=0) + (log_upper - log_whole) ** 2)
    se_alpha = np.sqrt(scale * np.sum((jack_alpha - jack_alpha.mean()) ** 2) + (local_alpha - fit.alpha) ** 2)
    t = float(scipy.stats.t.ppf(0.5 + confidence / 2, groups - 1))
    intervals = np.exp(np.stack([log_whole - t * se_log, log_whole + t * se_log], axis=1))
    return Extrapolation(sizes, np.exp(log_whole), intervals, fit.alpha,
                         (fit.alpha - t * se_alpha, fit.alpha + t * se_alpha), confidence, fit, local_alpha,
                         read, read_losses, n_points)
