"""Learning curves beyond an N-point sample: the sample spectrum continued by power-law tails.

Eigenlearning (``eigenlearning``) needs more operator modes than training points, and an N-point
sample has N: ``extend_spectrum`` keeps the head of the sample spectrum, the top m eigenvalues
w_i of K/N and their target powers v_i^2, and continues it to infinity by power-law tails

    lambda_i = A i^-(1 + alpha),   v_i^2 = B i^-(1 + beta)   (i > m),

holding the eigenvalue mass and target power the sample leaves beyond the head (trace - sum_{i <= m} w_i,
mean(y^2) - sum_{i <= m} v_i^2), with exponents read where the sample ends (``tail_exponent`` of the
residual sums on the top of the eigenvalue fit window, or ``theory.Renormalized.tail_exponents`` at
n in [N/8, N/2] passed in as ``alpha`` / ``beta``). The tail is stored in blocks of indices [a, b) of
ratio about BIN_RATIO, each block's sum exact from the Hurwitz zeta function,

    sum_{a <= i < b} i^-s = zeta(s, a) - zeta(s, b),

up to index REACH N, and one aggregate block beyond it. Spectra of real kernels keep curving, so
extrapolations far beyond N carry that bias: the exponents read where the sample ends overestimate
alpha_D beyond it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.special

from nngp_ntk.spectrum import _fits as fits
from nngp_ntk._checks import ArgumentValueError, check_integer
from nngp_ntk.theory._eigenlearning import ModeSpectrum
from nngp_ntk.spectrum._fits import PowerLawFit
from nngp_ntk.spectrum._eigenvalues import fit_power_law, fit_window

#: Consecutive tail bins [a, b) have b / a about this ratio (the eigenvalues vary by < 2% in a bin).
BIN_RATIO = 1.01
#: The binned tail reaches index REACH * N; the rest is one aggregate mode (its lambda << kappa).
REACH = 1e7
#: The aggregate mode's multiplicity: large enough that its own lambda^2 terms vanish.
AGGREGATE_COUNT = 1e24


def _tail_blocks(start: int, end: float, exponent: float, mass: float) -> tuple[np.ndarray, np.ndarray]:
    """Modes i = start, start + 1, ... with values c i^-(1 + exponent) summing to ``mass``, grouped in
    blocks [a, b) of ratio about BIN_RATIO up to ``end`` and one aggregate block beyond it.

    Returns (per-mode value of each block, block multiplicity). Block sums come exactly from the
    Hurwitz zeta function: sum_{a <= i < b} i^-s = zeta(s, a) - zeta(s, b).
    """
    count = max(2, int(np.log(end / start) / np.log(BIN_RATIO)) + 1)
    edges = np.unique(np.round(np.geomspace(start, end, count)))
    hurwitz = scipy.special.zeta(1.0 + exponent, edges)
    block_mass = mass / hurwitz[0] * np.append(hurwitz[:-1] - hurwitz[1:], hurwitz[-1])
    counts = np.append(np.diff(edges), AGGREGATE_COUNT)
    return block_mass / counts, counts


def tail_exponent(residual: np.ndarray, window: tuple[int, int]) -> tuple[float, tuple[float, float]]:
    """a of R(i) ~ i^-a from the residual sums R(i) = sum_{j > i} w_j (R[i - 1] = R(i)).

    Weighted (1/i) least squares of log R(i) on log i over the 1-based ``window``, and the range of
    the slopes on its lower and upper halves (in log i). A sum of i^-(1 + a) falls as i^-a, and
    unlike the w_i themselves R(i) does not jump at the steps of a degenerate spectrum.

    Args:
        residual: R, with R[i - 1] = R(i).
        window: (i_min, i_max), 1-based.

    Returns:
        (a, (low, high)): the exponent and the range of the half-window slopes.

    Raises:
        ValueError: a residual sum that is not positive on the window.

    Example:
        >>> w = 1.0 / np.arange(1, 1001) ** 2
        >>> a, _ = tail_exponent(w.sum() - np.cumsum(w), (10, 100))
        >>> round(a, 2)
        1.02
    """
    i_min, i_max = window
    index = np.arange(i_min, i_max + 1, dtype=np.float64)
    values = np.asarray(residual, dtype=np.float64)[i_min - 1:i_max]
    if len(values) != len(index) or np.any(values <= 0):
        raise ArgumentValueError(f"the residual sums must be positive on the window {window}: the mass beyond "
                                 f"index {i_max} is zero (nothing for a power-law tail to carry)")

    def slope(mask: np.ndarray) -> float:
        return -fits.log_slope(index[mask], values[mask], weights=1 / index[mask])

    middle = np.sqrt(i_min * i_max)
    halves = (slope(index <= middle), slope(index >= middle))
    return slope(np.ones(len(index), dtype=bool)), (min(halves), max(halves))


@dataclasses.dataclass(frozen=True)
class ExtendedSpectrum:
    """The measured head (modes i <= m) and power-law tails beyond it: ``modes`` for
    ``eigenlearning``; ``fit`` the eigenvalue power law on its window [i_min, m]; ``alpha`` and
    ``beta`` the tail exponents (lambda_i ~ i^-(1 + alpha), v_i^2 ~ i^-(1 + beta)) read on
    ``tail_window`` = [sqrt(i_min m), m], with ``alpha_range`` / ``beta_range`` their slopes on
    its halves."""

    modes: ModeSpectrum
    fit: PowerLawFit
    alpha: float
    beta: float
    alpha_range: tuple[float, float]
    beta_range: tuple[float, float]
    tail_window: tuple[int, int]
    n_samples: int


def extend_spectrum(eigenvalues: np.ndarray, target_power: np.ndarray | None = None, *, n_samples: int,
                    trace: float, total_power: float | None = None, window: tuple[int, int] | None = None,
                    alpha: float | None = None, beta: float | None = None) -> ExtendedSpectrum:
    """Head plus power-law tails from the top eigenvalues of K/N on N = ``n_samples`` points.

    The head is the top m eigenvalues, m the end of ``spectrum.fit_power_law``'s window (N/10 by
    default; ``window`` overrides it), and their target powers v_i^2. Beyond m, to infinity::

        lambda_i = A i^-(1 + alpha),   v_i^2 = B i^-(1 + beta),

    alpha and beta from ``tail_exponent`` of the residual sums S(i) = trace - sum_{j <= i} lambda_j
    and T(i) = total_power - sum_{j <= i} v_j^2 on the upper half [sqrt(i_min m), m] of the window
    (the local slope where the sample ends: spectra curve, and the head's steeper decay must not set
    the tail's), A and B so that the tails hold S(m) and T(m): ``trace`` = mean_i K(x_i, x_i) = the
    sum of all eigenvalues and ``total_power`` = mean(y^2) are unbiased on N points whatever the tail
    looks like.

    Args:
        eigenvalues: the descending eigenvalues of K/N.
        target_power: v_i^2 on their eigenvectors, or None for targets from the GP of the kernel
            (E[v_i^2] = lambda_i).
        n_samples: N.
        trace: the sum of all eigenvalues of K/N.
        total_power: mean(y^2), with ``target_power``.
        window: the eigenvalue fit window (default ``spectrum.default_window``).
        alpha: overrides the eigenvalue tail exponent (to propagate its uncertainty).
        beta: overrides the target tail exponent.

    Returns:
        An ``ExtendedSpectrum`` (``modes`` for ``eigenlearning``).

    Raises:
        ValueError: a window too short to fit, no mass left beyond the head, or tails that do not
            decay.

    Example:
        >>> w = 1.0 / np.arange(1, 1001) ** 2
        >>> extended = extend_spectrum(w, n_samples=1000, trace=np.pi**2 / 6)
        >>> round(extended.alpha, 2), extended.tail_window
        (0.99, (32, 100))
    """
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    check_integer("n_samples", n_samples, minimum=len(eigenvalues))
    reason = fit_window(len(eigenvalues), window, n_samples)[1]
    if reason:
        raise ArgumentValueError(f"extending the spectrum of {n_samples} samples by a power-law tail, as sizes that "
                                 f"reach the sample need, fits a power law on its head; but {reason}")
    fit = fit_power_law(eigenvalues, window=window, n_samples=n_samples)
    i_min, m = fit.window
    tail_window = (int(np.ceil(np.sqrt(i_min * m))), m)
    residual = float(trace) - np.cumsum(eigenvalues[:m])
    if not residual[-1] > 0:
        raise ArgumentValueError(
            f"trace={trace!r} leaves no eigenvalue mass beyond the top {m} eigenvalues "
            f"(sum {np.sum(eigenvalues[:m]):.6g}): trace must be the sum of all eigenvalues of K/N")
    alpha_fit, alpha_range = tail_exponent(residual, tail_window)
    alpha = alpha_fit if alpha is None else float(alpha)
    if alpha <= 0:
        raise ArgumentValueError(f"the eigenvalue tail exponent alpha must be > 0 (lambda_i ~ i^-(1 + alpha) must be "
                                 f"summable), got {alpha:.4g} on the window {tail_window}")
    end = REACH * n_samples
    tail_values, tail_counts = _tail_blocks(m + 1, end, alpha, residual[-1])
    if target_power is None:
        power_head, power_tail, beta, beta_range = eigenvalues[:m], tail_values, alpha, alpha_range
    else:
        target_power = np.asarray(target_power, dtype=np.float64)
        if target_power.shape != eigenvalues.shape or np.any(target_power < 0):
            raise ArgumentValueError(
                f"target_power must be non-negative with the shape of eigenvalues {eigenvalues.shape}, "
                f"got {target_power.shape}")
        target_residual = (np.nan if total_power is None else float(total_power)) - np.cumsum(target_power[:m])
        if not target_residual[-1] > 0:
            raise ArgumentValueError(f"total_power (mean of y^2) must exceed the power on the top {m} modes "
                                     f"({np.sum(target_power[:m]):.6g}), got {total_power!r}")
        beta_fit, beta_range = tail_exponent(target_residual, tail_window)
        beta = beta_fit if beta is None else float(beta)
        if beta <= 0:
            raise ArgumentValueError(f"the residual target power T(i) ~ i^-beta does not decay on the window "
                                     f"{tail_window} (beta = {beta:.4g}): no power-law tail can carry it")
        power_head, power_tail = target_power[:m], _tail_blocks(m + 1, end, beta, target_residual[-1])[0]
    modes = ModeSpectrum(np.concatenate([eigenvalues[:m], tail_values]), np.concatenate([np.ones(m), tail_counts]),
                         np.concatenate([power_head, power_tail]))
    return ExtendedSpectrum(modes, fit, alpha, beta, alpha_range, beta_range, tail_window, int(n_samples))
