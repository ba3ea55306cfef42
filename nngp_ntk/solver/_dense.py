"""Gradient flow on a dense train kernel, in closed form through one eigendecomposition.

Let D = K + ridge I = V diag(lambda) V^T be the (N, N) kernel that drives training on the loss
0.5 * mean((f(X) - Y)^2) with n = Y.size entries (``nngp_ntk.solver``). Training acts through a
function g of the eigenvalues, g(D) = V diag(g(lambda)) V^T, which this module evaluates:

    flow:      g(lambda) = (1 - exp(-lambda tau)) / lambda,          tau = eta t / n
    descent:   g(lambda) = (1 - (1 - eta lambda / n)^s) / lambda
    t = None:  g(lambda) = 1 / lambda    (t -> infinity; a Cholesky solve)

``flow_coefficients`` and ``descent_coefficients`` are the first two, without cancellation at small
lambda (g(0) = tau and g(0) = s eta / n). ``DenseFlowKernel`` holds D and applies g(D) to blocks
of vectors: it is the dense ``krylov.FlowOperator``, beside the iterative
``krylov.IterativeFlowKernel`` for large N.

Numerics: D is factorized once in float64 (scipy.linalg.eigh for finite times, eigenvalues
clamped at 0; scipy.linalg.cho_factor for t = None) and serves every time and test set. A
numerically singular D (ridge = 0 and a train kernel of rank below N: duplicate training points, or a
kernel of low rank such as the linear kernel of a depth-0 network, of rank at most the number of
features + 1) gives, with a ``SingularKernelWarning`` that states the rank, the minimum-norm solution: the pseudo-inverse with eigenvalues below
max(N eps lambda_max, |most negative eigenvalue|) treated as zero, which is the t -> infinity limit
of the flow itself (it never moves along the null space of D).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.linalg
import scipy.special

from nngp_ntk.solver import _krylov as krylov
from nngp_ntk._checks import warn

#: A function g of the eigenvalues of D, applied elementwise: g(D) = V diag(g(lambda)) V^T.
Coefficients = Callable[[np.ndarray], np.ndarray]


class SingularKernelWarning(UserWarning):
    """The train kernel is numerically singular: a minimum-norm solution was returned."""


def flow_coefficients(eigenvalues: np.ndarray, tau: float) -> np.ndarray:
    """g(lambda) = (1 - exp(-lambda tau)) / lambda = tau exprel(-lambda tau); g(0) = tau, lambda < 0 as 0.

    Args:
        eigenvalues: eigenvalues lambda of the flow kernel D.
        tau: the scaled time eta t / n.

    Returns:
        g(lambda), the shape of ``eigenvalues``.

    Example:
        >>> np.round(flow_coefficients(np.array([0.0, 1.0, 100.0]), tau=1.0), 4)
        array([1.    , 0.6321, 0.01  ])
    """
    scaled = np.maximum(eigenvalues, 0.0) * tau
    return tau * scipy.special.exprel(-scaled)


def descent_coefficients(eigenvalues: np.ndarray, rate: float, steps: int) -> np.ndarray:
    """g(lambda) = (1 - (1 - rate lambda)^s) / lambda for s steps of size rate = eta / n; g(0) = rate s.

    Args:
        eigenvalues: eigenvalues lambda of the flow kernel D.
        rate: the step size eta / n.
        steps: the number of steps s.

    Returns:
        g(lambda), the shape of ``eigenvalues``.

    Example:
        >>> np.round(descent_coefficients(np.array([0.0, 1.0]), rate=0.5, steps=2), 4)
        array([1.  , 0.75])
    """
    x = np.maximum(eigenvalues, 0.0) * rate
    contracting = x < 1
    safe = np.where(contracting, x, 0.0)
    # 1 - (1 - x)^s without cancellation where (1 - x)^s is close to 1.
    decayed = -np.expm1(steps * np.log1p(-safe))
    decayed = np.where(contracting, decayed, 1.0 - (1.0 - x) ** steps)
    positive = x > 0
    return rate * np.where(positive, decayed / np.where(positive, x, 1.0), float(steps))


class DenseFlowKernel(krylov.FlowOperator):
    """D = K + ridge I held in float64, with its Cholesky factor and eigendecomposition.

    Both are computed on first use and cached: products D b, solves D^+ b, and matrix functions
    g(D) b.

    Args:
        kernel: the (N, N) symmetric train kernel.
        ridge: added to the diagonal.

    Example:
        >>> flow = DenseFlowKernel(np.array([[2.0, 1.0], [1.0, 2.0]]), ridge=1.0)
        >>> np.round(flow.solve(np.array([4.0, 4.0])), 6)
        array([1., 1.])
        >>> flow.max_eigenvalue()
        4.0
    """

    def __init__(self, kernel: np.ndarray, ridge: float) -> None:
        self.matrix = np.array(kernel, dtype=np.float64)
        self.matrix[np.diag_indices_from(self.matrix)] += ridge
        self.size = self.matrix.shape[0]
        self._cholesky: tuple[np.ndarray, bool] | None = None
        self._singular = False
        self._eigen: tuple[np.ndarray, np.ndarray, float] | None = None

    def matmul(self, b: np.ndarray) -> np.ndarray:
        """D b.

        Args:
            b: (N,) or (N, m) array.

        Returns:
            D b, float64.
        """
        return self.matrix @ b

    def eigen(self) -> tuple[np.ndarray, np.ndarray]:
        """The eigendecomposition of D, computed once.

        Returns:
            (eigenvalues clamped at 0, ascending; eigenvectors as columns).
        """
        if self._eigen is None:
            values, vectors = scipy.linalg.eigh(self.matrix, check_finite=False)
            noise = max(self.size * np.finfo(np.float64).eps * max(values[-1], 0.0), -values[0])
            self._eigen = (np.maximum(values, 0.0), vectors, noise)
        return self._eigen[:2]

    def max_eigenvalue(self) -> float:
        """lambda_max(D).

        Returns:
            The largest eigenvalue of D.
        """
        if self._eigen is not None:
            return float(self._eigen[0][-1])
        last = self.size - 1
        return float(scipy.linalg.eigh(self.matrix, eigvals_only=True, subset_by_index=[last, last],
                                       check_finite=False)[0])

    def apply(self, b: np.ndarray, functions: Sequence[Coefficients]) -> list[np.ndarray]:
        """[V diag(g(lambda)) V^T b for g in functions]: one eigendecomposition for all of them.

        Args:
            b: (N,) or (N, m) array.
            functions: functions g of the eigenvalues.

        Returns:
            One array of the shape of b per function.
        """
        values, vectors = self.eigen()
        projected = vectors.T @ b
        return [vectors @ (g(values)[:, None] * projected) for g in functions]

    def _factor(self) -> tuple[np.ndarray, bool] | None:
        """The Cholesky factor, or None (with a warning, once) if D is numerically singular."""
        if self._cholesky is None and not self._singular:
            diagonal = np.diag(self.matrix)
            try:
                factor = scipy.linalg.cho_factor(self.matrix, lower=True, check_finite=False)
                pivots = np.diag(factor[0]) ** 2
                self._singular = pivots.min() <= self.size * np.finfo(np.float64).eps * diagonal.max()
            except np.linalg.LinAlgError:
                self._singular = True
            if self._singular:
                values, _ = self.eigen()
                rank = int(np.sum(values > self._eigen[2]))
                warn(f"the {self.size} x {self.size} train kernel is singular, of numerical rank {rank}: its "
                     "rows are linearly dependent (duplicate training points, or a kernel of low rank, e.g. the "
                     "linear kernel of a depth-0 network, of rank at most the number of features + 1); with "
                     "t = None the prediction is the minimum-norm solution (pseudo-inverse, the t -> infinity "
                     "limit of gradient flow); set ridge > 0 to regularize instead", SingularKernelWarning)
            else:
                self._cholesky = factor
        return self._cholesky

    def solve(self, b: np.ndarray) -> np.ndarray:
        """D^+ b: a Cholesky solve, or the minimum-norm solution if D is numerically singular.

        Args:
            b: (N,) or (N, m) array.

        Returns:
            D^+ b, float64.

        Warns:
            SingularKernelWarning: D is numerically singular (once per kernel).
        """
        factor = self._factor()
        if factor is not None:
            return scipy.linalg.cho_solve(factor, b, check_finite=False)
        values, _ = self.eigen()
        cutoff = self._eigen[2]
        inverse = np.where(values > cutoff, 1.0 / np.where(values > cutoff, values, 1.0), 0.0)
        return self.apply(b, [lambda _: inverse])[0]
