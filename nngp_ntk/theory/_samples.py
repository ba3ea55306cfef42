"""Learning-curve theory of kernel regression (eigenlearning), read off an N-point sample.

Eigenlearning (``theory._eigenlearning``) gives the test MSE of kernel ridge regression on
n points from the kernel operator's eigenvalues lambda_i and the target's powers v_i^2 on its
eigenfunctions: kappa from sum_i lambda_i / (lambda_i + kappa) + ridge / kappa = n, the
learnabilities L_i = lambda_i / (lambda_i + kappa), E0 = n / (n - sum_i L_i^2) and
MSE = E0 (sum_i (1 - L_i)^2 v_i^2 + sigma^2).

An N-point sample gives the eigenvalues w_j of K/N and the target powers t_j = (u_j . y)^2 / N on
its unit eigenvectors u_j (phi_i(X) ~ sqrt(N) u_i). Used in place of lambda_i and v_i^2 they fail
as n approaches N: sum_j w_j / (w_j + kappa) cannot exceed N, so kappa -> 0 and E0 -> infinity.
Remedies:

* within the sample (n < N), ``Renormalized``: the same deterministic equivalent that underlies
  eigenlearning relates the sample spectrum to the operator's, and inverting it gives the sums
  above at every kappa reached by n < N from the w_j and t_j alone, with no model of the tail
  (the renormalized-ridge / GCV view of Jacot et al. 2020 and Wei, Hu & Steinhardt 2022);
  ``LeaveOneOut`` corrects its anchor on the sample with the exact leave-one-out error, for data
  whose points differ in leverage (real images);
* beyond it, ``extend_spectrum`` (``theory._tails``): the head of the sample
  spectrum plus power-law tails lambda_i ~ i^-(1 + alpha), v_i^2 ~ i^-(1 + beta) to infinity,
  with exponents read where the sample ends (``Renormalized.tail_exponents`` at n in [N/8, N/2],
  or the top of the eigenvalue fit window).

``operator_exponent`` reads alpha_K off a curve's kappa(n); ``prediction.predict_exponents`` reads
alpha_D and alpha_P off these curves. The theory is a Gaussian approximation: on the sphere it is
close to measured losses in high dimension, but in low dimension the eigenfunctions are far from
Gaussian and ridgeless losses come out above it; the exponents still agree better than the levels
(``benchmarks/scaling_report.py`` measures both).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.optimize

from nngp_ntk.spectrum import _fits as fits
from nngp_ntk._checks import ArgumentValueError, check_positive_reals, check_ridge
from nngp_ntk.theory._eigenlearning import TheoryCurve
from nngp_ntk.spectrum._fits import PowerLawFit


# ----------------------------------------------------------------------------- within the sample: renormalization

class Renormalized:
    """Eigenlearning's sums over the operator's modes at every kappa >= kappa(N), from the whole N-point sample.

    From the spectrum of K/N, w_1..w_N, and the target powers t_j = (u_j . y)^2 / N (module
    docstring). For KRR on the N points with ridge N lam (predictor K(x, X) (K/N + lam)^-1 y / N),
    the deterministic equivalent links the sample to the operator through theta(lam) = kappa::

        theta = N / sum_j 1 / (w_j + lam),
        F(theta) = sum_i lambda_i / (lambda_i + theta)     = sum_j w_j / (w_j + lam),
        Q(theta) = sum_i lambda_i^2 / (lambda_i + theta)^2 = F + theta dF/dtheta,
        B(theta) = sum_i theta^2 / (lambda_i + theta)^2 v_i^2 + sigma^2
                 = (N - Q) / N sum_j theta^2 / (w_j + lam)^2 t_j,

    the last from the training error of that regression, sum_j (lam / (w_j + lam))^2 t_j =
    (lam / theta)^2 E0(N) B. As lam runs over (0, inf), theta covers (theta(0), inf), where
    theta(0) = N / sum_j 1 / w_j is kappa at n = N: every n < N is reached without extrapolation.

    Args:
        eigenvalues: w, the N eigenvalues of K/N.
        target_power: t, one per eigenvalue (for GP targets, t = w).

    Raises:
        ValueError: arrays of different shapes, fewer than 2 eigenvalues, non-finite entries or a
            negative target power.

    Example:
        >>> w = 1.0 / np.arange(1, 1001) ** 2
        >>> curve = Renormalized(w, w).curve([50, 100, 200])
        >>> round(operator_exponent(curve).alpha, 2)                # lambda_i ~ i^-2: alpha_K = 1
        0.97
    """

    def __init__(self, eigenvalues: np.ndarray, target_power: np.ndarray) -> None:
        eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
        target_power = np.asarray(target_power, dtype=np.float64)
        if eigenvalues.ndim != 1 or target_power.shape != eigenvalues.shape or len(eigenvalues) < 2:
            raise ArgumentValueError(
                f"eigenvalues and target_power must be 1-D arrays of one length N >= 2, got shapes "
                f"{eigenvalues.shape} and {target_power.shape}")
        if not (np.all(np.isfinite(eigenvalues)) and np.all(np.isfinite(target_power)) and np.all(target_power >= 0)):
            raise ArgumentValueError("eigenvalues and target_power must be finite, target_power non-negative")
        self.eigenvalues = np.maximum(eigenvalues, 0.0)
        self.target_power = target_power
        self.n_samples = len(eigenvalues)
        self.floor = np.finfo(np.float64).eps * float(np.max(self.eigenvalues))

    def sums(self, lam: float) -> tuple[float, float, float, float]:
        """(theta, F, Q, B) at the sample ridge lam > 0 (class docstring).

        Args:
            lam: the ridge of regression on the N points, > 0.

        Returns:
            (theta, F, Q, B).
        """
        n = self.n_samples
        inverse = 1.0 / (self.eigenvalues + lam)
        theta = n / float(np.sum(inverse))
        effective = float(np.sum(self.eigenvalues * inverse))
        slope = -float(np.sum(self.eigenvalues * inverse**2)) / (theta**2 * float(np.sum(inverse**2)) / n)
        squares = effective + theta * slope
        bias = (n - squares) / n * theta**2 * float(np.sum(inverse**2 * self.target_power))
        return theta, effective, squares, bias

    def _loss(self, lam: float, n: float) -> tuple[float, float, float]:
        """(kappa, E0, MSE) of ridgeless-equivalent regression on n samples at the sample ridge lam."""
        theta, _, squares, bias = self.sums(lam)
        factor = n / (n - squares)
        return theta, factor, factor * bias

    def curve(self, sizes: np.ndarray | list, ridge: float = 0.0) -> TheoryCurve:
        """Test MSE at each n in ``sizes``: kappa from F(kappa) + ridge / kappa = n, then E0 = n / (n - Q(kappa)) and MSE = E0 B(kappa).

        Args:
            sizes: training-set sizes n, below N when ridge = 0.
            ridge: the ridge, >= 0.

        Returns:
            A ``TheoryCurve``.

        Raises:
            ValueError: an n the sample cannot reach with ridge = 0: n >= N (the curve beyond needs the
                spectrum extended, ``extend_spectrum``), or n beyond the numerical rank of a kernel
                matrix of low rank (e.g. the linear kernel of a depth-0 network: rank <= d + 1).
        """
        sizes = check_positive_reals("sizes", sizes)
        ridge = check_ridge(ridge)
        low, high = np.log(self.floor), np.log(float(np.max(self.eigenvalues))) + np.log(4.0 * self.n_samples)

        def excess(log_lam: float, n: float) -> float:
            theta, effective = self.sums(np.exp(log_lam))[:2]
            return effective + ridge / theta - n

        kappas, factors, losses = (np.empty(len(sizes)) for _ in range(3))
        for k, n in enumerate(sizes):
            reach = excess(low, 0.0)
            if excess(low, n) < 0 and n >= self.n_samples:
                raise ArgumentValueError(f"sizes: n = {n:.6g} is not below the N = {self.n_samples} points of the "
                                         "spectrum; the curve at n >= N needs the spectrum extended by power-law "
                                         "tails (extend_spectrum)")
            if excess(low, n) < 0:      # full rank reaches every n < N (class docstring): this one has low rank
                raise ArgumentValueError(
                    f"sizes: n = {n:.6g} is beyond the numerical rank of the kernel matrix, whose {self.n_samples} "
                    f"eigenvalues count about {reach:.0f} above its rounding level (a kernel of low rank, e.g. "
                    "the linear kernel of a depth-0 network, has rank at most the number of features, +1 with a "
                    f"bias); without a ridge the theory places no training size beyond it: give sizes below "
                    f"{reach:.0f}, or ridge > 0")
            while excess(high, n) > 0:
                high += np.log(4.0)
            log_lam = scipy.optimize.brentq(excess, low, high, args=(float(n),), xtol=1e-12, rtol=1e-12)
            kappas[k], factors[k], losses[k] = self._loss(np.exp(log_lam), float(n))
        return TheoryCurve(sizes, losses, kappas, factors)

    def tail_exponents(self, low: float, high: float) -> TailExponents:
        """The operator's local power laws lambda_i ~ i^-(1 + alpha), v_i^2 ~ i^-(1 + beta) at the indices i ~ n that samples n in [low, high] (< N) resolve.

        From how the sums scale there::

            F(kappa) = n ~ kappa^(-1 / (1 + alpha)),    B(kappa) ~ kappa^(beta / (1 + alpha))

        (B = MSE / E0 at ridge 0; the second holds for beta < 2 (1 + alpha)), read between the ends of
        [low, high] and, for the ranges, between each end and the geometric middle.

        Args:
            low: the smallest size n.
            high: the largest size n, below N.

        Returns:
            ``TailExponents(alpha, beta, alpha_range, beta_range)``.

        Example:
            >>> w = 1.0 / np.arange(1, 1001) ** 2
            >>> round(float(Renormalized(w, w).tail_exponents(100, 400).alpha), 2)
            0.95
        """
        sizes = np.array([low, np.sqrt(low * high), high], dtype=np.float64)
        curve = self.curve(sizes)
        log_n, log_kappa, log_bias = np.log(sizes), np.log(curve.kappa), np.log(curve.losses / curve.E0)

        def exponents(i: int, j: int) -> tuple[float, float]:
            alpha = -(log_kappa[j] - log_kappa[i]) / (log_n[j] - log_n[i]) - 1.0
            return alpha, (log_bias[j] - log_bias[i]) / (log_kappa[j] - log_kappa[i]) * (1.0 + alpha)

        (alpha, beta), lower, upper = exponents(0, 2), exponents(0, 1), exponents(1, 2)
        return TailExponents(alpha, beta, (min(lower[0], upper[0]), max(lower[0], upper[0])),
                             (min(lower[1], upper[1]), max(lower[1], upper[1])))


class TailExponents(NamedTuple):
    """Local power-law exponents of the eigenvalues (alpha) and target power (beta), with ranges."""

    alpha: float
    beta: float
    alpha_range: tuple[float, float]
    beta_range: tuple[float, float]


class LeaveOneOut(Renormalized):
    """``Renormalized`` with its anchor on the sample corrected by the exact leave-one-out error.

    Renormalization reads the curve at n off ridge-lam regression on the N sample points, the ridge
    with the same effective regularization (theta(lam) = kappa(n)), whose test error the
    deterministic equivalent puts at E0(N) B(theta), E0(N) = N / (N - Q(theta)); B itself comes from
    the training error through the generalized cross-validation (GCV) identity, which treats every
    point alike: with A = K/N + lam and leverages d_i = (A^-1)_ii it divides the residuals
    r_i = (A^-1 y)_i by the mean of the d_i. Real data are not alike (clusters, outliers, uneven
    density: leverages that vary from point to point) and GCV then runs low, while the leave-one-out
    residuals r_i / d_i give that test error exactly,

        T_N(lam) = mean_i,k ((A^-1 y_k)_i / (A^-1)_ii)^2                       (N - 1 points).

    The curve keeps eigenlearning's growth of the variance from N points at ridge lam to n points at
    ridge 0, (E0(n) - E0(N)) B(theta), and takes its anchor from leave-one-out:

        MSE(n) = T_N(lam) + (n / (n - Q) - N / (N - Q)) B(theta),     theta(lam) = kappa(n),

    that is, the Gaussian curve E0(n) B plus the error T_N - E0(N) B of its anchor. It is the
    Gaussian curve far below N (large lam: leverages even out, T_N = E0(N) B) and the leave-one-out
    error itself as n -> N; it is at least T_N > 0. On real images, whose leverages are uneven,
    the GCV curve falls below held-out test errors as n approaches N and this one follows them
    (``benchmarks/scaling_report.py``, part ``mnist``, compares both with measured curves; the
    docs' results page quotes the numbers). With eigenvectors U (columns u_j) and projections C = U^T y:

        (A^-1 y)_i = sum_j U_ij C_jk / (w_j + lam),    (A^-1)_ii = sum_j U_ij^2 / (w_j + lam)

    (common factors cancel). ``projections=None``: targets from the GP of the kernel, whose
    expected squared residual is N sum_j U_ij^2 w_j / (w_j + lam)^2 / (sum_j U_ij^2 / (w_j + lam))^2.

    Args:
        eigenvalues: w, the N eigenvalues of K/N.
        vectors: U, their (N, N) unit eigenvectors as columns.
        projections: C = U^T y, shape (N,) or (N, k), or None for targets from the kernel's GP.

    Raises:
        ValueError: vectors of another shape than (N, N), or as ``Renormalized``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> U = np.linalg.qr(rng.standard_normal((50, 50)))[0]
        >>> w = 1.0 / np.arange(1, 51) ** 2
        >>> theory = LeaveOneOut(w, U)
        >>> round(theory.leave_one_out(0.01), 6), np.round(theory.curve([5, 10, 20]).losses, 6)
        (0.112599, array([0.417725, 0.234179, 0.127872]))
    """

    #: Rows of U per block when forming the leverages (bounds the temporary memory).
    ROW_BLOCK = 2048

    def __init__(self, eigenvalues: np.ndarray, vectors: np.ndarray, projections: np.ndarray | None = None) -> None:
        eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
        vectors = np.asarray(vectors, dtype=np.float64)
        n = len(eigenvalues)
        if vectors.shape != (n, n):
            raise ArgumentValueError(f"vectors must be the ({n}, {n}) eigenvectors (columns) of the {n} eigenvalues, "
                                     f"got shape {vectors.shape}")
        if projections is None:
            power = np.maximum(eigenvalues, 0.0)
        else:
            projections = np.asarray(projections, dtype=np.float64).reshape(n, -1)
            power = np.mean(projections**2, axis=1) / n
        super().__init__(eigenvalues, power)
        self.vectors = vectors
        self.projections = projections

    def leave_one_out(self, lam: float) -> float:
        """T_N(lam): the mean squared leave-one-out residual of ridge-lam regression on the N points.

        Per output; its expectation over the kernel's GP when ``projections`` is None.

        Args:
            lam: the ridge, > 0.

        Returns:
            T_N(lam).
        """
        inverse = 1.0 / (self.eigenvalues + lam)
        total = 0.0
        for start in range(0, self.n_samples, self.ROW_BLOCK):
            rows = self.vectors[start:start + self.ROW_BLOCK]
            squares = rows**2
            leverage = squares @ inverse
            if self.projections is None:
                residual_sq = self.n_samples * (squares @ (self.eigenvalues * inverse**2)) / leverage**2
            else:
                residual_sq = np.mean((rows @ (self.projections * inverse[:, None])) ** 2, axis=1) / leverage**2
            total += float(np.sum(residual_sq))
        return total / self.n_samples

    def _loss(self, lam: float, n: float) -> tuple[float, float, float]:
        theta, _, squares, bias = self.sums(lam)
        factor = n / (n - squares)
        own = self.n_samples / (self.n_samples - squares)
        return theta, factor, self.leave_one_out(lam) + (factor - own) * bias


# ----------------------------------------------------------------------------- reading an exponent off a curve

def operator_exponent(curve: TheoryCurve) -> PowerLawFit:
    """alpha_K of the kernel operator's lambda_i ~ i^-(1 + alpha_K) at the indices i ~ n that the curve's sizes n resolve.

    From the effective regularization: kappa(n) sits at the eigenvalue of index ~n, so
    kappa(n) ~ n^-(1 + alpha_K) (``fits.fit_loglog`` of kappa over the sizes with shift 1). Read off a
    ``Renormalized`` curve it is free of the flat floor that a finite sample's own eigenvalues of K/N
    reach at large indices.

    Args:
        curve: a ``TheoryCurve`` (from ``Renormalized.curve`` or ``LeaveOneOut.curve``).

    Returns:
        A ``fits.PowerLawFit`` whose ``alpha`` is alpha_K.

    Example:
        >>> w = 1.0 / np.arange(1, 1001) ** 2
        >>> round(operator_exponent(Renormalized(w, w).curve([50, 100, 200])).alpha, 2)
        0.97
    """
    return fits.fit_loglog(curve.sizes, curve.kappa, shift=1.0, name="sizes")
