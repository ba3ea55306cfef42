"""The reference Gaussian integral of the activation tests, computed in NumPy independently of
the package: in polar coordinates (z1, z2) = r (cos t, sin t) of the standard normal pair,

    u = sqrt(K11) r cos t,   v = sqrt(K22) r cos(t - theta),   theta = arccos(K12 / sqrt(K11 K22)),
    E[f(u) g(v)] = (1/2pi) int_0^2pi dt int_0^inf dr r exp(-r^2/2) f(u) g(v),

with Gauss-Legendre rules on t-segments cut where u or v changes sign (so kinks of ReLU-like
functions and jumps of sign lie on segment ends) and on r in [0, 12]. It is exact to ~1e-14 for
the piecewise-smooth activations tested, kinks included, where Gauss-Hermite is not.
"""

from __future__ import annotations

import numpy as np

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
