"""Iterative solvers for the flow kernel D = K + ridge I at large N, through products D B only.

The kernel K is an (N, N) array in memory or a ``np.memmap`` on disk (read in blocks of rows), in
its own dtype (float32 halves the memory traffic); vectors and recurrences are float64.

* ``solve``: D^-1 B by conjugate gradients on the columns of B at once (``nngp_ntk.solver._cg``),
  preconditioned by a rank-r pivoted Cholesky factor K ~ L L^T (Harbrecht, Peters, Schneider 2012;
  Gardner et al. 2018):

      P = L L^T + s I,   P^-1 v = (v - L (s I + L^T L)^-1 L^T v) / s,   s = ridge + tr(K - L L^T) / N

  (s at least 1e-10 tr K, which keeps the Woodbury form accurate when L captures all of K)

  so the top of the spectrum, which dominates kernel matrices, is mapped to ~1.
* ``apply``: g(D) b for functions g of the eigenvalues (the gradient-flow coefficients at finite
  times) by the Lanczos approximation g(D) b ~ |b| Q_k g(T_k) e_1, with Q_k the orthonormal Krylov
  basis (fully reorthogonalized) and T_k the tridiagonal projection, one basis for all g.
  Its iterations grow like sqrt(tau lambda_max) for g_tau = (1 - exp(-lambda tau)) / lambda.
* ``max_eigenvalue``: lambda_max(D) by Lanczos (scipy.sparse.linalg.eigsh).

With a ``checkpoint`` folder (``predict``'s out folder), ``solve`` and ``apply`` keep their state
there as they go (``_checkpoint.Checkpoint``), and a call on the same problem resumes from it:
the conjugate-gradient state (``_cg.STATE_FILE``: iterates, residuals, search directions), and the
Lanczos state (``LANCZOS_FILE``: the Krylov basis so far, the tridiagonal coefficients, which
columns are done, and the results of the finished batches of columns). The Krylov basis grows by a
vector per column at every iteration and every save writes it whole, so its saves are spaced by
the time they take (``_checkpoint.SAVE_SHARE``): they cost at most that share of the run.

``FlowOperator`` is the interface of D that gradient flow uses, implemented here by
``IterativeFlowKernel`` and by ``dense_flow.DenseFlowKernel`` (eigendecomposition and Cholesky).

Unconverged iterations end with a ``NotConvergedWarning`` stating the residual reached.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable, Sequence

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from nngp_ntk._checks import ArgumentValueError, NotConvergedWarning, check_integer, check_real, warn
from nngp_ntk.kernels import _row_blocks as row_blocks
from nngp_ntk.kernels._row_blocks import BLOCK_ROWS
from nngp_ntk.kernels._tile_store import fingerprint
from nngp_ntk.solver import _cg
from nngp_ntk.solver._checkpoint import Checkpoint, explained

#: Memory (bytes) that the stored Lanczos bases of one batch of columns may take.
LANCZOS_MEMORY = 2**30
#: The Lanczos state in a checkpoint folder.
LANCZOS_FILE = "lanczos_state.npz"
#: The arrays of a saved Lanczos state: the first column of the current batch, the results of the
#: columns before it, the iterations run (of all batches), those of the current batch, its basis,
#: tridiagonal coefficients, Krylov dimensions, active columns and last relative changes.
LANCZOS_FIELDS = ("first", "results", "iteration", "steps", "basis", "alphas", "betas", "lengths", "active",
                  "changes")
#: The default rank of the pivoted-Cholesky preconditioner (at most N).
PRECONDITIONER_RANK = 512


def pivoted_cholesky(matrix: np.ndarray, rank: int, rtol: float = 1e-10,
                     diagonal: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy pivoted Cholesky K ~ L L^T of rank at most ``rank``.

    Step k takes the pivot i of largest residual diagonal d_i and sets
    l_k = (K[i, :] - sum_{j<k} l_j l_j[i]) / sqrt(d_i), d <- d - l_k^2; it stops early once
    max d <= rtol * max diag K. Reads one row of K per step (K symmetric).

    Args:
        matrix: the symmetric positive semi-definite (N, N) K, in memory or a np.memmap.
        rank: the largest rank r.
        rtol: stop when the residual diagonal falls below this fraction of max diag K.
        diagonal: diag K when already known (default: read from ``matrix``).

    Returns:
        (L^T of shape (r, N), the residual diagonal d of shape (N,)).

    Example:
        >>> factor, residual = pivoted_cholesky(np.array([[4.0, 2.0], [2.0, 2.0]]), rank=2)
        >>> np.allclose(factor.T @ factor, [[4.0, 2.0], [2.0, 2.0]]), float(residual.max())
        (True, 0.0)
    """
    n = matrix.shape[0]
    residual = np.array(np.diagonal(matrix) if diagonal is None else diagonal, dtype=np.float64)
    stop = rtol * residual.max()
    factor = np.zeros((min(rank, n), n))
    for k in range(factor.shape[0]):
        pivot = int(np.argmax(residual))
        if residual[pivot] <= stop:
            factor = factor[:k]
            break
        row = np.asarray(matrix[pivot], dtype=np.float64) - factor[:k, pivot] @ factor[:k]
        factor[k] = row / np.sqrt(residual[pivot])
        residual = np.maximum(residual - factor[k] ** 2, 0.0)
        residual[pivot] = 0.0
    return factor, residual


class FlowOperator(abc.ABC):
    """The flow kernel D = K + ridge I (N x N, symmetric positive semi-definite) as gradient flow uses
    it: products, solves and matrix functions of D applied to blocks of vectors (float64)."""

    #: N, the number of training points.
    size: int

    @abc.abstractmethod
    def matmul(self, b: np.ndarray) -> np.ndarray:
        """D b for b of shape (N,) or (N, k)."""

    @abc.abstractmethod
    def solve(self, b: np.ndarray) -> np.ndarray:
        """D^-1 b (the minimum-norm solution D^+ b where D is singular)."""

    @abc.abstractmethod
    def apply(self, b: np.ndarray, functions: Sequence[Callable[[np.ndarray], np.ndarray]]) -> list[np.ndarray]:
        """[g(D) b for g in functions], each g acting elementwise on eigenvalues."""

    @abc.abstractmethod
    def max_eigenvalue(self) -> float:
        """lambda_max(D)."""


class IterativeFlowKernel(FlowOperator):
    """D = K + ridge I for large N, used only through blocked products D B.

    Args:
        kernel: the (N, N) symmetric train kernel, in memory or a np.memmap.
        ridge: added to the diagonal.
        rank: rank of the pivoted-Cholesky preconditioner (default min(N, ``PRECONDITIONER_RANK``)).
        tol: relative residual |D x - b| / |b| at which CG stops, and the relative change of the
            Lanczos approximation at which it stops (default 1e-5 for float32 kernels, 1e-9 else).
        maxiter: iteration limit of CG and Lanczos (default 1000).
        block_rows: rows of a np.memmap read at a time.
        distributed: under ``jax.distributed``, each process multiplies by its own block of rows
            and the products are allgathered (``nngp_ntk.kernels._row_blocks.matmul``); every
            process must make the same calls, and returns the same results.
        checkpoint: a folder (an out folder) that keeps the state of the conjugate gradients of
            ``solve`` and of the Lanczos iterations of ``apply`` (module docstring; saved every
            ``_checkpoint.SAVE_SECONDS`` at most, and at the end, by process 0 alone with
            ``distributed``), so that a call on the same problem (``kernel_key``, ridge, tol, the
            right-hand sides; the rank for ``solve``; maxiter and the functions, by their repr,
            for ``apply``) continues where an interrupted one stopped; another problem's state
            is ignored and replaced.
        kernel_key: identifies the kernel in the checkpoints' keys (the key of its out-of-core
            store); needed with ``checkpoint``.

    Raises:
        ValueError: ``rank``, ``maxiter`` or ``block_rows`` not a positive integer, ``tol``
            outside (0, 1), or ``checkpoint`` without ``kernel_key``.

    Example:
        >>> K = np.array([[2.0, 1.0], [1.0, 2.0]])
        >>> flow = IterativeFlowKernel(K, ridge=1.0)
        >>> np.round(flow.solve(np.array([4.0, 4.0])), 6)
        array([1., 1.])
        >>> round(flow.max_eigenvalue(), 6)
        4.0
    """

    def __init__(self, kernel: np.ndarray, ridge: float, *, rank: int | None = None, tol: float | None = None,
                 maxiter: int = 1000, block_rows: int = BLOCK_ROWS, distributed: bool = False,
                 checkpoint: str | os.PathLike | None = None, kernel_key: str | None = None) -> None:
        for name, value in (("rank", rank), ("maxiter", maxiter), ("block_rows", block_rows)):
            check_integer(name, value, minimum=1, allow_none=name == "rank")
        if tol is not None and not check_real("tol", tol, positive=True) < 1:
            raise ArgumentValueError(f"tol must be a number in (0, 1), got {tol!r}")
        if checkpoint is not None and kernel_key is None:
            raise ArgumentValueError("checkpoint needs kernel_key, which identifies the kernel in the checkpoint's key")
        self.kernel = kernel
        self.ridge = float(ridge)
        self.size = kernel.shape[0]
        self.rank = min(self.size, PRECONDITIONER_RANK if rank is None else int(rank))
        single = kernel.dtype == np.float32
        self.tol = (1e-5 if single else 1e-9) if tol is None else float(tol)
        self.maxiter = int(maxiter)
        self.block_rows = int(block_rows)
        self.distributed = bool(distributed)
        self.checkpoint = None if checkpoint is None else os.fspath(checkpoint)
        self.kernel_key = kernel_key
        self._preconditioner: tuple[np.ndarray, tuple[np.ndarray, bool], float] | None = None
        self.iterations: list[int] = []

    def matmul(self, b: np.ndarray) -> np.ndarray:
        """D b = K b + ridge b in float64.

        Args:
            b: (N,) or (N, m) array.

        Returns:
            D b, float64, the shape of b.
        """
        return row_blocks.matmul(self.kernel, b, self.distributed, self.block_rows) + self.ridge * b

    def _precondition(self, r: np.ndarray) -> np.ndarray:
        """P^-1 r with P = L L^T + s I (Woodbury)."""
        if self._preconditioner is None:
            diagonal = row_blocks.diagonal(self.kernel, self.distributed)
            factor, residual = pivoted_cholesky(self.kernel, self.rank, diagonal=diagonal)
            # A shift far below lambda_max makes the Woodbury form lose digits: keep cond(P) <~ 1e10.
            shift = self.ridge + max(residual.mean(), 1e-10 * diagonal.sum())
            inner = scipy.linalg.cho_factor(shift * np.eye(factor.shape[0]) + factor @ factor.T, lower=True)
            self._preconditioner = (factor, inner, shift)
        factor, inner, shift = self._preconditioner
        return (r - factor.T @ scipy.linalg.cho_solve(inner, factor @ r)) / shift

    def solve(self, b: np.ndarray) -> np.ndarray:
        """D^-1 b by preconditioned conjugate gradients on every column of b at once (``_cg.solve``).

        From x = 0, or, with ``checkpoint``, from the state saved there for this problem.

        Args:
            b: (N,) or (N, m) array.

        Returns:
            D^-1 b, float64, the shape of b.

        Raises:
            ProcessLostError: with ``distributed``, another JAX process died during the solve
                (the message says where the state is kept; a rerun resumes from it).

        Warns:
            NotConvergedWarning: a column's relative residual is still above ``tol`` after ``maxiter``
                iterations.
        """
        b2 = b.reshape(self.size, -1).astype(np.float64)
        checkpoint = None if self.checkpoint is None else _cg.checkpoint(
            os.path.join(self.checkpoint, _cg.STATE_FILE),
            fingerprint("IterativeFlowKernel.solve", self.kernel_key, self.ridge, self.rank, self.tol, b2),
            self.distributed)
        state = _cg.solve(self.matmul, b2, self.tol, self.maxiter, self._precondition, checkpoint)
        self.iterations.append(state.iteration)
        residuals = state.residuals()
        if (residuals > self.tol).any():
            warn(f"conjugate gradients stopped at maxiter={self.maxiter} with relative residual "
                 f"{residuals.max():.3g} > tol={self.tol:g} (is the train kernel singular? set "
                 "ridge > 0, or raise maxiter / the preconditioner rank)", NotConvergedWarning)
        return state.x.reshape(b.shape)

    def apply(self, b: np.ndarray, functions: Sequence[Callable[[np.ndarray], np.ndarray]]) -> list[np.ndarray]:
        """[g(D) b for g in functions] by Lanczos: g(D) b ~ |b| Q_k g(T_k) e_1, one Krylov basis per column.

        The columns run in batches whose bases take at most ``LANCZOS_MEMORY``. With
        ``checkpoint``, from the state saved there for this problem.

        Args:
            b: (N,) or (N, m) array.
            functions: functions g of the eigenvalues, each mapping an array to an array of its shape.

        Returns:
            One array of the shape of b per function, float64.

        Raises:
            ProcessLostError: with ``distributed``, another JAX process died during the iterations
                (the message says where the state is kept; a rerun resumes from it).

        Warns:
            NotConvergedWarning: the approximation still changed by more than ``tol`` after
                ``maxiter`` iterations.

        Example:
            >>> flow = IterativeFlowKernel(np.diag([1.0, 4.0]), ridge=0.0)
            >>> [inverse] = flow.apply(np.ones(2), [lambda values: 1.0 / values])
            >>> np.round(inverse, 6)
            array([1.  , 0.25])
        """
        b2 = b.reshape(self.size, -1).astype(np.float64)
        batch = max(1, int(LANCZOS_MEMORY // (8 * self.size * (self.maxiter + 1))))
        checkpoint = None if self.checkpoint is None else Checkpoint(
            os.path.join(self.checkpoint, LANCZOS_FILE),
            fingerprint("IterativeFlowKernel.apply", self.kernel_key, self.ridge, self.tol, self.maxiter, b2,
                        [repr(g) for g in functions]), LANCZOS_FIELDS, "Lanczos", self.distributed)
        saved = None if checkpoint is None else checkpoint.load()
        results = np.zeros((len(functions),) + b2.shape)
        first = iteration = 0
        if saved is not None:
            first, iteration = int(saved["first"]), int(saved["iteration"]) - int(saved["steps"])
            results[:, :, :first] = saved["results"]
        with explained(checkpoint):
            for start in range(first, b2.shape[1], batch):
                columns = slice(start, start + batch)
                results[:, :, columns], steps = self._lanczos(b2[:, columns], functions, checkpoint, start,
                                                              results[:, :, :start], iteration,
                                                              saved if start == first else None)
                iteration += steps
                if checkpoint is not None:         # the batch's results, without its basis
                    stop = min(b2.shape[1], start + batch)
                    checkpoint.save(dict(first=stop, results=results[:, :, :stop], iteration=iteration, steps=0,
                                         basis=np.zeros((1, self.size, 0)), alphas=np.zeros((0, 0)),
                                         betas=np.zeros((0, 0)), lengths=np.zeros(0, int),
                                         active=np.zeros(0, int), changes=np.zeros(0)), force=True)
        return [r.reshape(b.shape) for r in results]

    def _lanczos(self, b: np.ndarray, functions: Sequence[Callable[[np.ndarray], np.ndarray]],
                 checkpoint: Checkpoint | None = None, first: int = 0, finished: np.ndarray | None = None,
                 offset: int = 0, saved: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, int]:
        """One batch of columns: (the results, shape (len(functions), n, m); the iterations run).

        With ``checkpoint``, the state is saved after iterations (``LANCZOS_FIELDS``: ``first``, the
        batch's first column, ``finished``, the results of the columns before it, and ``offset``, the
        iterations of the batches before it, come along), and resumed from ``saved`` when it
        holds this batch's iterations."""
        n, m = b.shape
        norms = np.linalg.norm(b, axis=0)
        basis = np.zeros((self.maxiter + 1, n, m))
        alphas = np.zeros((self.maxiter, m))
        betas = np.zeros((self.maxiter, m))
        steps = 0 if saved is None else int(saved["steps"])
        if steps:
            basis[:steps + 1], alphas[:steps], betas[:steps] = saved["basis"], saved["alphas"], saved["betas"]
            lengths, active, changes = (np.array(saved[name]) for name in ("lengths", "active", "changes"))
        else:
            basis[0] = b / np.where(norms > 0, norms, 1.0)
            lengths = np.where(norms > 0, self.maxiter, 0)          # Krylov dimension per column
            active = np.flatnonzero(norms > 0)
            changes = np.zeros(m)
        previous = [None] * m
        checked = steps // 5 * 5               # the approximation of the last check, every 5 iterations
        for column in active if checked else ():
            previous[column] = self._coefficients(alphas[:checked, column], betas[:checked - 1, column], functions)
        for k in range(steps, self.maxiter):
            if not active.size:
                break
            w = self.matmul(basis[k][:, active])
            alphas[k, active] = np.einsum("nm,nm->m", w, basis[k][:, active])
            for _ in range(2):      # full reorthogonalization, twice is enough
                w -= np.einsum("knm,km->nm", basis[:k + 1][:, :, active],
                               np.einsum("knm,nm->km", basis[:k + 1][:, :, active], w))
            betas[k, active] = np.linalg.norm(w, axis=0)
            exhausted = betas[k, active] <= 1e-12 * np.maximum(np.abs(alphas[:k + 1, active]).max(axis=0), 1e-300)
            basis[k + 1][:, active] = w / np.where(exhausted, 1.0, betas[k, active])
            done = exhausted.copy()
            if (k + 1) % 5 == 0 or k + 1 == self.maxiter:
                for index, column in enumerate(active):
                    current = self._coefficients(alphas[:k + 1, column], betas[:k, column], functions)
                    if previous[column] is not None:
                        old = np.zeros_like(current)
                        old[:, :previous[column].shape[1]] = previous[column]
                        changes[column] = np.max(np.linalg.norm(current - old, axis=1)
                                                 / np.maximum(np.linalg.norm(current, axis=1), 1e-300))
                        done[index] |= changes[column] <= self.tol
                    previous[column] = current
            lengths[active[done]] = k + 1
            active = active[~done]
            if checkpoint is not None:
                checkpoint.save(dict(first=first, results=finished, iteration=offset + k + 1, steps=k + 1,
                                     basis=basis[:k + 2], alphas=alphas[:k + 1], betas=betas[:k + 1],
                                     lengths=lengths, active=active, changes=changes))
        self.iterations.append(int(lengths.max()) if m else 0)
        if active.size:
            warn(f"Lanczos stopped at maxiter={self.maxiter} with relative change {changes.max():.3g} > "
                          f"tol={self.tol:g} (a long time t needs ~sqrt(eta t lambda_max / n) iterations; raise "
                          "maxiter or use t=None)", NotConvergedWarning)
        outputs = np.zeros((len(functions), n, m))
        for column in range(m):
            k = lengths[column]
            if k == 0:
                continue
            coefficients = self._coefficients(alphas[:k, column], betas[:k - 1, column], functions)
            for output, c in zip(outputs, coefficients):
                output[:, column] = norms[column] * (basis[:k, :, column].T @ c)
        return outputs, self.iterations[-1]

    @staticmethod
    def _coefficients(alphas: np.ndarray, betas: np.ndarray,
                      functions: Sequence[Callable[[np.ndarray], np.ndarray]]) -> np.ndarray:
        """g(T) e_1 for each g, T the tridiagonal (alphas, betas): shape (len(functions), k)."""
        values, vectors = scipy.linalg.eigh_tridiagonal(alphas, betas)
        return np.stack([vectors @ (g(values) * vectors[0]) for g in functions])

    def max_eigenvalue(self) -> float:
        """lambda_max(D) by Lanczos (scipy.sparse.linalg.eigsh).

        Returns:
            The largest eigenvalue of D.
        """
        operator = scipy.sparse.linalg.LinearOperator((self.size, self.size), dtype=np.float64,
                                                      matvec=lambda v: self.matmul(v.reshape(-1, 1)).ravel())
        # A fixed start vector: the same iterations in every process (``distributed``) and every call.
        start = np.random.default_rng(0).standard_normal(self.size)
        return float(scipy.sparse.linalg.eigsh(operator, k=1, which="LA", tol=1e-8, v0=start,
                                               return_eigenvectors=False)[0])
