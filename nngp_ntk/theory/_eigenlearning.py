"""Eigenlearning: the learning curve of kernel regression from the kernel operator's modes.

Kernel (ridge) regression f = K(x, X) (K(X, X) + ridge I)^-1 y on n points drawn from a distribution
whose kernel operator has eigenvalues lambda_i and eigenfunctions phi_i, with target
y(x) = sum_i v_i phi_i(x) (+ noise of variance sigma^2), has the test mean squared error
(Bordelon, Canatar & Pehlevan 2020; Simon, Dickens, Karkada & DeWeese 2021, "eigenlearning")

    kappa > 0 solves   sum_i lambda_i / (lambda_i + kappa) + ridge / kappa = n,
    L_i = lambda_i / (lambda_i + kappa)              (the learnability of mode i),
    E0  = n / (n - sum_i L_i^2),
    MSE = E0 (sum_i (1 - L_i)^2 v_i^2 + sigma^2).

* ``ModeSpectrum``: the modes (lambda_i, v_i^2) in blocks of equal eigenvalue, and sigma^2.
* ``solve_kappa``: the effective regularization kappa.
* ``eigenlearning``: the MSE, kappa and E0 at each n, as a ``TheoryCurve``.

From an N-point sample, ``theory._samples`` relates the sample spectrum to these sums for n < N and
``theory._tails`` continues the spectrum beyond the sample into a ``ModeSpectrum``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.optimize

from nngp_ntk._checks import ArgumentValueError, check_positive_reals, check_real, check_ridge


@dataclasses.dataclass(frozen=True)
class ModeSpectrum:
    """Kernel-operator modes grouped in blocks, the input of ``eigenlearning``.

    Block j holds ``multiplicities[j]`` modes with eigenvalue ``eigenvalues[j]`` and target power
    v^2 = ``target_power[j]`` each (per output, mean over outputs); ``noise`` is the variance of the
    target that no mode carries.

    Args:
        eigenvalues: lambda per block, finite and non-negative.
        multiplicities: modes per block, finite and non-negative.
        target_power: v^2 per mode of each block, finite and non-negative.
        noise: sigma^2 >= 0.

    Raises:
        ValueError: arrays of different lengths or not 1-D, negative or non-finite entries.

    Example:
        >>> modes = ModeSpectrum(np.array([1.0, 0.1, 0.01]), np.array([1.0, 10.0, 100.0]), np.array([1.0, 0.1, 0.01]))
        >>> modes.mode_count
        111.0
    """

    eigenvalues: np.ndarray
    multiplicities: np.ndarray
    target_power: np.ndarray
    noise: float = 0.0

    def __post_init__(self) -> None:
        shapes = {np.shape(self.eigenvalues), np.shape(self.multiplicities), np.shape(self.target_power)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1:
            raise ArgumentValueError(f"eigenvalues, multiplicities and target_power must be 1-D arrays of one length, "
                                     f"got shapes {sorted(shapes)}")
        for name in ("eigenvalues", "multiplicities", "target_power"):
            values = np.asarray(getattr(self, name), dtype=np.float64)
            if not np.all(np.isfinite(values)) or np.any(values < 0):
                raise ArgumentValueError(f"{name} must be finite and non-negative")
            object.__setattr__(self, name, values)
        object.__setattr__(self, "noise", check_real("noise", self.noise, minimum=0.0))

    @property
    def mode_count(self) -> float:
        """The number of modes sum_j multiplicities[j] (modes of zero eigenvalue included)."""
        return float(np.sum(self.multiplicities))


def solve_kappa(modes: ModeSpectrum, n: float, ridge: float = 0.0) -> float:
    """The kappa > 0 with sum_i lambda_i / (lambda_i + kappa) + ridge / kappa = n.

    The left side falls monotonically from (number of modes with lambda > 0) (+ infinity if
    ridge > 0) at kappa -> 0 to 0 at kappa -> infinity; the root is bracketed by doubling and found
    by Brent's method in log kappa.

    Args:
        modes: the ``ModeSpectrum``.
        n: the number of training samples, > 0.
        ridge: the ridge, >= 0.

    Returns:
        kappa, the effective regularization.

    Raises:
        ValueError: ridge = 0 and n at least the number of modes with positive eigenvalue (the data
            interpolate every mode: no kappa > 0).

    Example:
        >>> modes = ModeSpectrum(np.array([1.0, 0.1, 0.01]), np.array([1.0, 10.0, 100.0]), np.array([1.0, 0.1, 0.01]))
        >>> round(solve_kappa(modes, 5.0), 6), round(solve_kappa(modes, 5.0, ridge=0.1), 6)
        (0.415143, 0.439551)
    """
    n = check_real("n", n, positive=True)
    ridge = check_ridge(ridge)
    lam, count = modes.eigenvalues, modes.multiplicities
    learnable = float(np.sum(count[lam > 0]))
    if ridge == 0 and n >= learnable:
        raise ArgumentValueError(f"n={n} is at least the {learnable:.6g} modes of positive eigenvalue: ridgeless "
                                 f"eigenlearning needs more modes than samples (extend the spectrum or add a ridge)")

    def excess(log_kappa: float) -> float:
        kappa = np.exp(log_kappa)
        return float(np.sum(count * lam / (lam + kappa)) + ridge / kappa - n)

    top = float(np.max(lam * np.where(count > 0, 1.0, 0.0)))
    high = np.log(max(top, ridge / n if ridge > 0 else 0.0, np.finfo(float).tiny)) + np.log(2 * learnable / n + 2)
    while excess(high) > 0:
        high += np.log(4.0)
    low = high - np.log(4.0)
    while excess(low) <= 0:
        low -= np.log(4.0)
        if low < np.log(np.finfo(float).tiny):
            raise ArgumentValueError(f"no kappa > 0 solves the eigenlearning equation for n={n} (spectrum too short)")
    return float(np.exp(scipy.optimize.brentq(excess, low, high, xtol=1e-12, rtol=1e-12)))


@dataclasses.dataclass(frozen=True)
class TheoryCurve:
    """Predicted test MSE ``losses`` at training-set ``sizes``, with each size's ``kappa`` and overfitting coefficient ``E0``."""

    sizes: np.ndarray
    losses: np.ndarray
    kappa: np.ndarray
    E0: np.ndarray


def eigenlearning(modes: ModeSpectrum, sizes: np.ndarray | list, ridge: float = 0.0) -> TheoryCurve:
    """Test MSE of kernel ridge regression on n samples, for each n in ``sizes``:

        MSE(n) = E0 (sum_i (1 - L_i)^2 v_i^2 + sigma^2),   E0 = n / (n - sum_i L_i^2),
        L_i = lambda_i / (lambda_i + kappa),   sum_i L_i + ridge / kappa = n   (``solve_kappa``).

    Args:
        modes: the ``ModeSpectrum`` of the kernel operator and the target.
        sizes: training-set sizes n > 0.
        ridge: the ridge, >= 0.

    Returns:
        A ``TheoryCurve``.

    Raises:
        ValueError: sizes that are not positive, or as ``solve_kappa``.

    Example:
        >>> modes = ModeSpectrum(np.array([1.0, 0.1, 0.01]), np.array([1.0, 10.0, 100.0]), np.array([1.0, 0.1, 0.01]))
        >>> np.round(eigenlearning(modes, [2, 5, 20]).losses, 6)
        array([2.469579, 2.075715, 1.331498])
    """
    sizes = check_positive_reals("sizes", sizes)
    lam, count, power = modes.eigenvalues, modes.multiplicities, modes.target_power
    kappas, factors, losses = (np.empty(len(sizes)) for _ in range(3))
    for k, n in enumerate(sizes):
        kappa = solve_kappa(modes, float(n), ridge)
        learnability = lam / (lam + kappa)
        factors[k] = n / (n - float(np.sum(count * learnability**2)))
        kappas[k] = kappa
        losses[k] = factors[k] * (float(np.sum(count * (1 - learnability) ** 2 * power)) + modes.noise)
    return TheoryCurve(sizes, losses, kappas, factors)
