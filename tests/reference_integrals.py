"""The reference Gaussian integral of the activation tests, computed in NumPy independently of
the package: in polar coordinates (z1, z2) = r (cos t, sin t) of the standard normal pair,

    u = sqrt(K11) r cos t,   v = sqrt(K22) r cos(t - theta),   theta = arccos(K12 / sqrt(K11 K22)),
    E[f(u) g(v)] = (1/2pi) int_0^2pi dt int_0^inf dr r exp(-r^2/2) f(u) g(v),

with Gauss-Legendre rules on t-segments cut where u or v changes sign (so kinks of ReLU-like
functions and jumps of sign lie on segment ends) and on r in [0, 12]. It is exact to ~1e-14 for
the piecewise-smooth activations tested, kinks included, where Gauss-Hermite is not.

``adaptive_expectation`` is a second, independent reference for large variances (where features
of unit scale sit inside a wide Gaussian): nested adaptive quadrature (scipy.integrate.quad).
"""

from __future__ import annotations

import numpy as np
import scipy.integrate

_R_NODES, _R_WEIGHTS = np.polynomial.legendre.leggauss(160)
_T_NODES, _T_WEIGHTS = np.polynomial.legendre.leggauss(48)
_R_MAX = 12.0


def gaussian_expectation(k11: float, k12: float, k22: float, f, g) -> float:
    """E[f(u) g(v)] for (u, v) ~ N(0, [[k11, k12], [k12, k22]]) by polar Gauss-Legendre quadrature."""
    root = np.sqrt(k11 * k22)
    theta = np.arccos(np.clip(k12 / root, -1, 1)) if root > 0 else np.pi / 2
    cuts = np.unique(np.concatenate([[0, np.pi / 2, 1.5 * np.pi, 2 * np.pi],
                                     np.mod([theta + np.pi / 2, theta - np.pi / 2], 2 * np.pi)]))
    low, high = cuts[:-1, None], cuts[1:, None]
    t = ((high - low) * (_T_NODES + 1) / 2 + low).ravel()
    t_weights = ((high - low) * _T_WEIGHTS / 2).ravel()
    r = _R_MAX * (_R_NODES + 1) / 2
    r_weights = _R_MAX * _R_WEIGHTS / 2 * r * np.exp(-r * r / 2)
    u = np.sqrt(k11) * np.outer(np.cos(t), r)
    v = np.sqrt(k22) * np.outer(np.cos(t - theta), r)
    return float(t_weights @ (f(u) * g(v)) @ r_weights / (2 * np.pi))


def adaptive_expectation(k11: float, k12: float, k22: float, f, g, tol: float = 1e-13) -> float:
    """E[f(u) g(v)] by nested adaptive quadrature over u ~ N(0, K11) and v | u ~ N(K12 u / K11,
    K22 - K12^2 / K11), each cut at 0 (where tanh-like functions vary) and at 12 standard
    deviations; at |rho| = 1, v = K12 u / K11 and one integral remains. Needs K11 > 0."""
    root = np.sqrt(k11)
    slope = k12 / k11
    spread = np.sqrt(max(k22 - k12 * slope, 0.0))

    def quad(h, low, high):
        return scipy.integrate.quad(h, low, high, epsabs=tol, epsrel=tol, limit=200)[0]

    def inner(u):
        mean = slope * u
        if spread < 1e-12 * np.sqrt(k22):
            return g(mean)
        cuts = [mean - 12 * spread, *([0.0] if abs(mean) < 12 * spread else []), mean + 12 * spread]
        density = lambda v: g(v) * np.exp(-(v - mean) ** 2 / (2 * spread**2))  # noqa: E731
        return sum(quad(density, a, b) for a, b in zip(cuts[:-1], cuts[1:])) / (np.sqrt(2 * np.pi) * spread)

    outer = lambda u: f(u) * inner(u) * np.exp(-u * u / (2 * k11))  # noqa: E731
    return (quad(outer, -12 * root, 0.0) + quad(outer, 0.0, 12 * root)) / (np.sqrt(2 * np.pi) * root)
