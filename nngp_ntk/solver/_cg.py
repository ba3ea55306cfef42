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
run that resumes from it computes what the uninterrupted run computes. A ``Checkpoint`` keeps it in
a file (``STATE_FILE`` of an out folder) under a key that identifies the problem (the operator, the
preconditioner, B, tol), replaced atomically (written to a temporary name, flushed to disk, then
renamed) so that a run killed at any point (SIGKILL included) leaves the last state saved, or the
one before. A state saved for another problem is ignored, and replaced by the next save.
"""

from __future__ import annotations

import dataclasses
import os
import time
import zipfile
from collections.abc import Callable

import jax
import numpy as np

from nngp_ntk._checks import warn
from nngp_ntk.kernels._tile_store import ProcessLostError, fingerprint, same_in_all_processes

#: The conjugate-gradient state in an out folder.
STATE_FILE = "cg_state.npz"
#: A run with a ``Checkpoint`` saves its state after an iteration once this many seconds have passed
#: since its last save (and after its last iteration)...
SAVE_SECONDS = 1.0
#: ... and once saving has taken at most this fraction of the time since then: a large state (many
#: right-hand sides) is saved less often, so that saving never costs more than this share of the run.
SAVE_SHARE = 0.05
#: Part of every checkpoint's key: a file of another layout is ignored.
_FORMAT = "conjugate-gradient state 1"
#: The arrays of a saved state, besides its key.
_FIELDS = ("x", "r", "p", "rz", "norms", "iteration")


def write_npz(path: str, **arrays: object) -> None:
    """``np.savez`` to a temporary file, flushed to disk, then renamed over ``path``: a run killed at any
    point leaves the old file or the new one, whole."""
    temporary = path + ".tmp.npz"
    with open(temporary, "wb") as file:
        np.savez(file, **arrays)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def read_npz(path: str, key: str) -> dict[str, np.ndarray] | None:
    """The arrays of ``path`` when it exists, is readable and was written for ``key`` (its ``key`` array); else None."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path) as data:
            if "key" not in data.files or str(data["key"]) != key:
                return None
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None


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


class Checkpoint:
    """A file that keeps the ``State`` of one conjugate-gradient run, under a key naming its problem.

    Args:
        path: the file (``STATE_FILE`` of an out folder).
        key: identifies the problem: the operator, the preconditioner, the right-hand sides and tol
            (``fingerprint`` of them). A state saved under another key is ignored, and replaced.
        distributed: every JAX process runs the same iterations (under ``jax.distributed``) and
            calls ``load`` and ``save``: all of them read the file, only process 0 writes it, and
            they resume from the state only if all of them read the same one.

    Example:
        >>> import tempfile
        >>> checkpoint = Checkpoint(os.path.join(tempfile.mkdtemp(), STATE_FILE), key="demo")
        >>> state = solve(lambda v: 2.0 * v, np.ones((3, 1)), tol=1e-12, maxiter=10, checkpoint=checkpoint)
        >>> state.x.ravel().tolist(), Checkpoint(checkpoint.path, key="demo").load().iteration
        ([0.5, 0.5, 0.5], 1)
    """

    def __init__(self, path: str | os.PathLike, key: str, distributed: bool = False) -> None:
        self.path = os.fspath(path)
        self.key = fingerprint(_FORMAT, key)
        self.distributed = bool(distributed)
        #: The iteration of the state in the file (read or written by this process), None when unknown.
        self.saved: int | None = None
        self._next_save = time.monotonic() + SAVE_SECONDS

    def load(self) -> State | None:
        """The state saved for this key, or None (no file, another key, or processes that read different states).

        Warns:
            UserWarning: under ``jax.distributed``, the processes read different states (the
                folder is not shared alike): all of them start afresh.
        """
        arrays = read_npz(self.path, self.key)
        state = None
        if arrays is not None and all(name in arrays for name in _FIELDS):
            state = State(*(np.array(arrays[name], dtype=np.float64) for name in _FIELDS[:-1]),
                          iteration=int(arrays["iteration"]))
        if self.distributed and jax.process_count() > 1:
            parts = ("none",) if state is None else [getattr(state, name) for name in _FIELDS]
            same = same_in_all_processes(*parts, what="compare the saved conjugate-gradient state")
            if not same.all():
                warn(f"the JAX processes read different conjugate-gradient states from {self.path!r} (process(es) "
                     f"{np.flatnonzero(~same).tolist()} differ from process 0; is the folder on a filesystem they "
                     "all share?): every process starts conjugate gradients afresh")
                state = None
        self.saved = None if state is None else state.iteration
        self._next_save = time.monotonic() + SAVE_SECONDS
        return state

    def save(self, state: State, force: bool = False) -> None:
        """Save ``state`` (process 0 alone when ``distributed``) once ``SAVE_SECONDS`` have passed since
        the last save and saving has taken at most ``SAVE_SHARE`` of the time, or at once with ``force``;
        nothing when the file already holds this iteration."""
        if state.iteration == self.saved or not (force or time.monotonic() >= self._next_save):
            return
        started = time.monotonic()
        if not self.distributed or jax.process_index() == 0:
            write_npz(self.path, key=self.key, **dataclasses.asdict(state))
        finished = time.monotonic()
        self.saved = state.iteration
        self._next_save = finished + max(SAVE_SECONDS, (finished - started) / SAVE_SHARE)

    def describe(self) -> str:
        """Where the saved state is and what a rerun does with it (for error messages)."""
        if self.distributed and jax.process_index() != 0:
            return (f"{self.path!r} keeps the conjugate-gradient state that JAX process 0 saved last (at most "
                    f"{SAVE_SECONDS:g} s before it stopped): the rerun continues conjugate gradients from it")
        if self.saved is None:
            return f"no conjugate-gradient iteration was saved in {self.path!r} yet: the rerun starts them afresh"
        return (f"{self.path!r} keeps the conjugate-gradient state after iteration {self.saved}: the rerun "
                "continues from it")


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
          maxiter: int,
          precondition: Callable[[np.ndarray], np.ndarray] | None = None, checkpoint: Checkpoint | None = None,
          callback: Callable[[State], None] | None = None) -> State:
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
        checkpoint: where the state is kept, or None.
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
    state = None if checkpoint is None else checkpoint.load()
    if state is None:
        state = start(b() if callable(b) else b, precondition)
    try:
        while state.iteration < maxiter and (state.residuals() > tol).any():
            step(state, matmul, tol, precondition)
            if checkpoint is not None:
                checkpoint.save(state)
            if callback is not None:
                callback(state)
    except ProcessLostError as error:
        if checkpoint is None:
            raise
        raise ProcessLostError(f"{error} {checkpoint.describe()}.") from error.__cause__
    if checkpoint is not None:
        checkpoint.save(state, force=True)
    return state
