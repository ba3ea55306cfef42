"""Conjugate gradients on the columns of a block at once, with a state that is saved to disk and resumed.

For a symmetric positive semi-definite operator A, right-hand sides B (N x m) and a symmetric
positive-definite preconditioner P (the identity when there is none), every column b runs

    x_0 = 0,  r_0 = b,  z_0 = P^-1 r_0,  p_0 = z_0
    alpha_k = (r_k . z_k) / (p_k . A p_k),   x_{k+1} = x_k + alpha_k p_k,   r_{k+1} = r_k - alpha_k A p_k
    z_{k+1} = P^-1 r_{k+1},                  p_{k+1} = z_{k+1} + (r_{k+1} . z_{k+1}) / (r_k . z_k) p_k

until |r_k| <= tol |b|; a converged column is no longer multiplied. The products A p of all the
active columns are one call, so a solver that reads a stored matrix once per product reads it once
per iteration for all of them. The exact solver (``_krylov.IterativeFlowKernel.solve``: A = K + ridge I,
P the pivoted-Cholesky preconditioner) and the Nystrom solver (``_nystrom.fit``: A = B^T H B, no P)
both run ``solve``.

The state after iteration k, (x_k, r_k, p_k, r_k . z_k, |b|, k), determines the rest of the run: a
run that resumes from it computes what the uninterrupted run computes. ``checkpoint`` keeps it in
a file (``STATE_FILE`` of an out folder; ``_checkpoint.Checkpoint``) under a key that identifies
the problem (the operator, the preconditioner, B, tol).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import numpy as np

from nngp_ntk.solver._checkpoint import Checkpoint, explained

#: The conjugate-gradient state in an out folder.
STATE_FILE = "cg_state.npz"


@dataclasses.dataclass
class State:
    """The conjugate-gradient state after ``iteration`` iterations (module docstring), float64 arrays.

    Attributes:
        x: the iterates, shape (N, m).
        r: the residuals b - A x, shape (N, m).
        p: the search directions, shape (N, m).
        rz: r . P^-1 r per column, shape (m,).
        norms: |b| per column, shape (m,).
        iteration: the iterations run (resumed ones included).
    """

    x: np.ndarray
    r: np.ndarray
    p: np.ndarray
    rz: np.ndarray
    norms: np.ndarray
    iteration: int

    def residuals(self) -> np.ndarray:
        """|r| / |b| per column (0 for a zero column)."""
        return np.linalg.norm(self.r, axis=0) / np.where(self.norms > 0, self.norms, 1.0)


#: The arrays of a saved state.
FIELDS = tuple(field.name for field in dataclasses.fields(State))


def checkpoint(path: str | os.PathLike, key: str, distributed: bool = False) -> Checkpoint:
    """The ``Checkpoint`` of a conjugate-gradient run: its ``State`` in ``path`` under ``key``.

    Args:
        path: the file (``STATE_FILE`` of an out folder).
        key: identifies the problem: the operator, the preconditioner, the right-hand sides and tol.
        distributed: every JAX process runs the same iterations (``Checkpoint``).

    Returns:
        The checkpoint.

    Example:
        >>> import tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), STATE_FILE)
        >>> state = solve(lambda v: 2.0 * v, np.ones((3, 1)), tol=1e-12, maxiter=10,
        ...               checkpoint=checkpoint(path, "demo"))
        >>> state.x.ravel().tolist(), int(checkpoint(path, "demo").load()["iteration"])
        ([0.5, 0.5, 0.5], 1)
    """
    return Checkpoint(path, key, FIELDS, "conjugate-gradient", distributed)


def start(b: np.ndarray, precondition: Callable[[np.ndarray], np.ndarray] | None = None) -> State:
    """The state before the first iteration: x = 0, r = b, p = P^-1 b.

    Args:
        b: the right-hand sides, shape (N, m).
        precondition: v -> P^-1 v for blocks of columns (None: P = I).

    Returns:
        The state at iteration 0.
    """
    r = np.array(b, dtype=np.float64)
    z = r.copy() if precondition is None else precondition(r)
    return State(x=np.zeros_like(r), r=r, p=z, rz=np.einsum("nm,nm->m", r, z), norms=np.linalg.norm(r, axis=0),
                 iteration=0)


def step(state: State, matmul: Callable[[np.ndarray], np.ndarray], tol: float,
         precondition: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
    """One iteration on the columns whose relative residual is above ``tol``, in place (module docstring)."""
    active = np.flatnonzero(state.residuals() > tol)
    p = state.p[:, active]
    q = matmul(p)
    alpha = state.rz[active] / np.einsum("nm,nm->m", p, q)
    state.x[:, active] += alpha * p
    r = state.r[:, active] - alpha * q
    state.r[:, active] = r
    keep = np.linalg.norm(r, axis=0) / np.where(state.norms[active] > 0, state.norms[active], 1.0) > tol
    if keep.any():
        columns, r = active[keep], r[:, keep]
        z = r if precondition is None else precondition(r)
        rz = np.einsum("nm,nm->m", r, z)
        state.p[:, columns] = z + (rz / state.rz[columns]) * p[:, keep]
        state.rz[columns] = rz
    state.iteration += 1


def solve(matmul: Callable[[np.ndarray], np.ndarray], b: np.ndarray | Callable[[], np.ndarray], tol: float,
          maxiter: int, precondition: Callable[[np.ndarray], np.ndarray] | None = None,
          checkpoint: Checkpoint | None = None, callback: Callable[[State], None] | None = None) -> State:
    """A^-1 B by (preconditioned) conjugate gradients on all columns at once, resumed from ``checkpoint``.

    Runs ``step`` until every column's relative residual |r| / |b| is at most ``tol`` or the
    iterations (resumed ones included) reach ``maxiter``. With a checkpoint, starts from its state
    when it holds one for its key and saves the state as it goes (``Checkpoint.save``) and at the end.

    Args:
        matmul: v -> A v for blocks of columns (float64).
        b: the right-hand sides, shape (N, m), or a function that computes them (called only when
            no saved state is resumed).
        tol: the relative residual at which a column stops.
        maxiter: the iteration limit, counting resumed iterations.
        precondition: v -> P^-1 v for blocks of columns (None: P = I).
        checkpoint: where the state is kept (``checkpoint``), or None.
        callback: called with the state after every iteration.

    Returns:
        The last state: ``x`` holds A^-1 B; a column whose ``residuals()`` entry is above ``tol``
        did not converge.

    Raises:
        ProcessLostError: under ``jax.distributed``, another process died during an exchange
            (``matmul``); the message says where the state is kept and that a rerun resumes from it.

    Example:
        >>> state = solve(lambda v: np.array([[4.0, 1.0], [1.0, 3.0]]) @ v, np.array([[1.0], [2.0]]),
        ...               tol=1e-12, maxiter=10)
        >>> np.round(state.x.ravel(), 6).tolist(), state.iteration
        ([0.090909, 0.636364], 2)
    """
    saved = None if checkpoint is None else checkpoint.load()
    if saved is None:
        state = start(b() if callable(b) else b, precondition)
    else:
        state = State(*(np.array(saved[name], dtype=np.float64) for name in FIELDS[:-1]),
                      iteration=int(saved["iteration"]))
    with explained(checkpoint):
        while state.iteration < maxiter and (state.residuals() > tol).any():
            step(state, matmul, tol, precondition)
            if checkpoint is not None:
                checkpoint.save(vars(state))
            if callback is not None:
                callback(state)
    if checkpoint is not None and checkpoint.saved != state.iteration:
        checkpoint.save(vars(state), force=True)
    return state
