"""Nystrom kernel ridge regression at large N by Falkon's preconditioned conjugate gradients.

The exact solver predicts f(x) = K(x, X) (K + ridge I)^-1 Y with the N x N train kernel K. Here the
prediction is restricted to the span of M centers C (rows of X): f(x) = K(x, C) alpha with

    (K_nm^T K_nm + ridge K_mm) alpha = K_nm^T Y,        K_nm = K(X, C),  K_mm = K(C, C),

the minimizer of |K_nm alpha - Y|^2 + ridge alpha^T K_mm alpha (Nystrom KRR; Falkon's lambda is
ridge / N). With all N points as centers, K_nm = K_mm = K and alpha = (K + ridge I)^-1 Y: the exact
solver's t = None prediction. The system is solved by conjugate gradients on
B^T H B beta = B^T K_nm^T Y, alpha = B beta, H = K_nm^T K_nm + ridge K_mm, with Falkon's
preconditioner (Rudi, Carratino & Rosasco 2017; Meanti et al. 2020)

    B = (1/sqrt(N)) T^-1 A^-1,   T = chol(K_mm),   A = chol(T T^T / M + (ridge / N) I)

(chol: the upper factor, T^T T = K_mm), for which B B^T = ((N/M) K_mm^2 + ridge K_mm)^-1 ~ H^-1
because K_nm^T K_nm ~ (N/M) K_mm^2 for centers drawn uniformly. For centers drawn with
probabilities q_j the same holds with the weights w_j = 1/min(1, M q_j) (w_j = N/M uniformly):

    B = D T^-1 A^-1,   D = diag(sqrt(w)),   T = chol(D K_mm D),   A = chol(T T^T + ridge I).

T is computed with a jitter of M * eps * mean(diag) (eps of the kernel's dtype; tenfold more until the Cholesky
factorization succeeds); it only shapes the preconditioner, H keeps the exact K_mm.

Costs: each iteration multiplies by K_nm^T K_nm + ridge K_mm (4 N M k + 2 M^2 k flops for k outputs, in
the kernel's dtype: a float32 kernel is multiplied in single precision by cache-sized row slices whose
M x k products are summed in float64) and by B, B^T (2 M^2 k, float64); the setup factorizes two M x M
matrices (M^3 / 3 each, plus T T^T). The N x M kernel K_nm is never one N x N array: it is held in
memory when it takes at most ``MEMORY_FRACTION`` of the available memory, written to an out-of-core
store (``out=folder``, the kernel store of ``net.kernel``) and mapped back in row panels, or recomputed
panel by panel at every iteration.

Centers: ``"uniform"`` draws M distinct rows with a seeded generator. ``"leverage"`` draws them
without replacement with probabilities proportional to approximate ridge leverage scores
tau_i = (K (K + ridge I)^-1)_ii, estimated from a uniform sub-sample S of s = min(M, LEVERAGE_SAMPLE)
points (Musco & Musco 2017, one step of their recursion):

    tau_i ~ (K_ii - K_iS (K_SS + (s / N) ridge I)^-1 K_Si) / ridge,

which costs one pass over the N x s kernel. Points far from the bulk of the data get large scores.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterator

import jax
import numpy as np
import scipy.linalg
from scipy.linalg import lapack
from tqdm.auto import tqdm

from nngp_ntk._checks import (ArgumentTypeError, ArgumentValueError, NotConvergedWarning, check_choice, check_integer,
                              check_real, warn)
from nngp_ntk.kernels import _row_blocks as row_blocks
from nngp_ntk.kernels._network import Network
from nngp_ntk.kernels._tile_store import agree_on_arguments, fingerprint, same_in_all_processes
from nngp_ntk.kernels._tiling import available_memory
from nngp_ntk.solver import _cg
from nngp_ntk.solver._checkpoint import TEMPORARY_SUFFIX, read_npz, write_npz

#: Center selections: uniform without replacement, or by approximate ridge leverage scores.
CENTER_SELECTIONS = ("uniform", "leverage")
#: Where the N x M panels live: "auto" (the memory rule below, or the store with ``out``), kept in
#: memory, or recomputed at every iteration.
PANELS = ("auto", "memory", "recompute")
#: K(X, C) is kept in memory when it takes at most this fraction of the available memory.
MEMORY_FRACTION = 0.5
#: Bytes of one row panel of K(X, C) (computed, read or converted to float64 at a time).
PANEL_BYTES = 2**27
#: Bytes of a slice of a panel in the products K_nm^T (K_nm v): small enough to stay in the processor's
#: cache between its two products; float32 kernels are multiplied in float32, each slice's M x k product
#: added to a float64 sum.
SLICE_BYTES = 2**21
#: Largest uniform sub-sample that estimates the leverage scores (one N x s kernel pass, N s^2 flops).
LEVERAGE_SAMPLE = 2048
#: Files of an ``out`` folder: the chosen centers, the conjugate-gradient state, the K(X, C) store.
CENTERS_FILE, STATE_FILE, PANEL_FOLDER = "centers.npz", _cg.STATE_FILE, "k_nm"
#: Under ``jax.distributed`` (where every kernel is computed into a shared store): the store of K(C, C), and
#: the prefix of the stores of K(x, C) for the points x that the model predicts at.
CENTER_FOLDER, TEST_PREFIX = "k_mm", "test-"


@dataclasses.dataclass
class NystromModel:
    """A fitted Nystrom regression: f(x) = K(x, C) alpha.

    Attributes:
        net: the network whose kernel is used.
        kernel: "ntk" or "nngp".
        centers: the center points C, shape (M, d).
        center_indices: their rows in the training points.
        alpha: the coefficients, float64, shape (M, k).
        iterations: conjugate-gradient iterations run in all (resumed ones included).
        residual: the largest relative residual |B^T (K_nm^T Y - H alpha)| / |B^T K_nm^T Y| reached.
        panels: where K(X, C) lived: "memory", "disk" or "recompute".
        seconds: wall time of each step: "centers" (selection), "kernel" (K(X, C) into memory or
            its store; 0 when recomputed), "preconditioner" (K(C, C) and the two factorizations),
            "solve" (the CG iterations of this call).
        folder: the ``out`` folder under ``jax.distributed`` (K(x, C) of ``predict`` is stored
            there, the processes sharing its tiles), else None.
    """

    net: Network
    kernel: str
    centers: np.ndarray
    center_indices: np.ndarray
    alpha: np.ndarray
    iterations: int
    residual: float
    panels: str
    seconds: dict[str, float]
    folder: str | None = None

    def predict(self, x: np.ndarray, panel_rows: int | None = None) -> np.ndarray:
        """K(x, C) alpha, computed in row panels of x, float64 of shape (len(x), k).

        Args:
            x: points of the training points' dtype and feature count, shape (n, d).
            panel_rows: rows of K(x, C) computed at a time (default: ``PANEL_BYTES`` of them).

        Returns:
            The predictions.
        """
        rows = panel_rows or _panel_rows(self.centers.shape[0], self.centers.dtype.itemsize)
        stored = None
        if self.folder is not None:
            stored = self.net.kernel(x, self.centers, get=self.kernel, progress=False,
                                     out=os.path.join(self.folder, TEST_PREFIX + fingerprint(x)[:16]))
        out = np.empty((x.shape[0], self.alpha.shape[1]))
        for start in range(0, x.shape[0], rows):
            block = stored[start:start + rows] if stored is not None else \
                self.net.kernel(x[start:start + rows], self.centers, get=self.kernel, progress=False)
            out[start:start + rows] = _matmul64(block, self.alpha)
        return out


def _panel_rows(m: int, itemsize: int) -> int:
    """Rows of a PANEL_BYTES panel of M columns, a multiple of 1024 (the engine's in-memory tile)."""
    return max(1024, PANEL_BYTES // (m * itemsize) // 1024 * 1024)


def _slice_rows(columns: int, itemsize: int) -> int:
    """Rows of a SLICE_BYTES slice of a matrix with these columns and item size (at least 16)."""
    return max(16, SLICE_BYTES // (itemsize * max(1, columns)))


def _matmul_sliced(block: np.ndarray, v: np.ndarray) -> np.ndarray:
    """block @ v in float64, computed by SLICE_BYTES row slices in the block's dtype (a float32 kernel
    is multiplied without converting it)."""
    cast = v.astype(block.dtype, copy=False)
    step = _slice_rows(block.shape[1], block.dtype.itemsize)
    return np.concatenate([block[s:s + step] @ cast for s in range(0, block.shape[0], step)]).astype(np.float64)


def _matmul64(block: np.ndarray, v: np.ndarray, transpose: bool = False) -> np.ndarray:
    """block @ v (block.T @ v with ``transpose``) in float64, block converted in slices of PANEL_BYTES / 8."""
    block = np.asarray(block)
    if block.dtype == np.float64:
        return block.T @ v if transpose else block @ v
    step = max(1, PANEL_BYTES // 8 // max(1, block.shape[1]))
    if transpose:
        return sum((block[s:s + step].astype(np.float64).T @ v[s:s + step] for s in range(0, block.shape[0], step)),
                   np.zeros((block.shape[1],) + v.shape[1:]))
    return np.concatenate([block[s:s + step].astype(np.float64) @ v for s in range(0, block.shape[0], step)])


class _Panels:
    """K(X, C) by row panels: held in memory, read from the out-of-core store, or recomputed.

    The rows fall in slices of ``step`` rows counted from row 0 (SLICE_BYTES each, or the panel if
    smaller) and the panels in whole slices. In the store under ``jax.distributed``, each process
    multiplies by its own slices (``row_blocks.own_rows`` of the slices) and the M x k partial
    products are summed over the processes: every slice's product is the one a single process
    computes, only their float64 sum is grouped differently.
    """

    def __init__(self, net: Network, x: np.ndarray, centers: np.ndarray, kernel: str, mode: str,
                 folder: str | None, progress: bool | None, panel_rows: int | None) -> None:
        self.net, self.x, self.centers, self.kernel = net, x, centers, kernel
        n, m, itemsize = x.shape[0], centers.shape[0], x.dtype.itemsize
        rows = panel_rows or _panel_rows(m, itemsize)
        self.step = min(rows, _slice_rows(m, itemsize))
        self.rows = rows // self.step * self.step
        if mode == "auto":
            mode = "disk" if folder is not None else \
                "memory" if n * m * itemsize <= MEMORY_FRACTION * available_memory() else "recompute"
        self.mode = mode
        self.matrix: np.ndarray | None = None
        if mode == "memory":
            self.matrix = net.kernel(x, centers, get=kernel, progress=progress)
        elif mode == "disk":
            stored = net.kernel(x, centers, get=kernel, out=folder, progress=progress)
            self._path, self._offset, self._dtype = stored.filename, stored.offset, stored.dtype
            del stored
        self.distributed = mode == "disk" and jax.process_count() > 1
        slices = row_blocks.own_rows(-(-n // self.step)) if self.distributed else (0, -(-n // self.step))
        self.own = (min(n, slices[0] * self.step), min(n, slices[1] * self.step))

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, panel) for every row panel of this process's rows, in order."""
        first, last = self.own
        m = self.centers.shape[0]
        for start in range(first, last, self.rows):
            stop = min(last, start + self.rows)
            if self.matrix is not None:
                yield start, self.matrix[start:stop]
            elif self.mode == "disk":
                offset = self._offset + start * m * self._dtype.itemsize
                yield start, np.memmap(self._path, self._dtype, "r", offset=offset, shape=(stop - start, m))
            else:
                yield start, self.net.kernel(self.x[start:stop], self.centers, get=self.kernel, progress=False)

    def normal(self, v: np.ndarray) -> np.ndarray:
        """K_nm^T (K_nm v), v of shape (M, k): the sum over cache-sized row slices S of
        K_S^T (K_S v), each in the kernel's dtype, summed in float64."""
        out = np.zeros_like(v)
        for _, panel in self:
            cast = v.astype(panel.dtype, copy=False)
            for s in range(0, panel.shape[0], self.step):
                block = panel[s:s + self.step]
                out += block.T @ (block @ cast)
        return row_blocks.sum_over_processes(out) if self.distributed else out

    def transpose(self, y: np.ndarray) -> np.ndarray:
        """K_nm^T y in float64, y of shape (N, k)."""
        out = np.zeros((self.centers.shape[0], y.shape[1]))
        for start, panel in self:
            out += _matmul64(panel, y[start:start + panel.shape[0]], transpose=True)
        return row_blocks.sum_over_processes(out) if self.distributed else out


def leverage_scores(net: Network, x: np.ndarray, kernel: str, ridge: float, sample: int,
                    rng: np.random.Generator, progress: bool | None = None) -> np.ndarray:
    """Approximate ridge leverage scores tau_i = (K (K + ridge I)^-1)_ii from a uniform sub-sample.

    tau_i ~ (K_ii - K_iS (K_SS + (s / N) ridge I)^-1 K_Si) / ridge over s = ``sample`` uniformly drawn
    points S (module docstring), in row panels of K(X, S).

    Args:
        net: the network.
        x: the N points.
        kernel: "ntk" or "nngp".
        ridge: the ridge (> 0).
        sample: s, the size of the sub-sample.
        rng: the generator that draws S.
        progress: show a progress bar over the panels.

    Returns:
        The N scores (>= 0), float64.

    Example:
        >>> import nngp_ntk as nk
        >>> x = np.concatenate([np.ones((40, 2)) + 0.01 * np.arange(80).reshape(40, 2), [[-3.0, 1.0]]], dtype=np.float32)
        >>> tau = leverage_scores(nk.FullyConnected(depth=1), x, "ntk", 1e-2, 10, np.random.default_rng(0))
        >>> int(np.argmax(tau))                          # the point far from the others
        40
    """
    n = x.shape[0]
    subset = np.sort(rng.choice(n, size=sample, replace=False))
    k_ss = np.asarray(net.kernel(x[subset], get=kernel, progress=False), np.float64)
    factor = _cholesky(k_ss + (sample / n) * ridge * np.eye(sample))
    diagonal = np.asarray(net.diagonal(x, get=kernel), np.float64)
    panels = _Panels(net, x, x[subset], kernel, "recompute", None, progress, None)
    scores = np.empty(n)
    with tqdm(total=math.ceil(n / panels.rows), desc="leverage scores", unit="panel", leave=False,
              disable=None if progress is None else not progress) as bar:
        for start, panel in panels:
            solved = scipy.linalg.solve_triangular(factor, np.asarray(panel, np.float64).T, trans="T")
            scores[start:start + panel.shape[0]] = diagonal[start:start + panel.shape[0]] - np.sum(solved ** 2, axis=0)
            bar.update()
    return np.maximum(scores, 0.0) / ridge


def _cholesky(matrix: np.ndarray, rebuild: Callable[[], np.ndarray] | None = None) -> np.ndarray:
    """The upper Cholesky factor U (U^T U = matrix) of a symmetric positive-definite float64 matrix,
    adding a jitter of size * eps * mean(diag), tenfold more at each failure, until it succeeds.

    With ``rebuild`` (a function that returns the matrix again) the first try factorizes ``matrix``
    in place, saving a copy; a failed try leaves it partly overwritten, so the retries start from
    ``rebuild()``."""
    size = matrix.shape[0]
    scale = max(float(np.mean(np.diagonal(matrix))), np.finfo(np.float64).tiny)
    jitter = 0.0
    for _ in range(12):
        in_place = rebuild is not None and not jitter
        factor, info = lapack.dpotrf(matrix + jitter * np.eye(size) if jitter else matrix, lower=0, clean=1,
                                     overwrite_a=in_place)
        if info == 0:
            return factor
        if in_place:
            matrix = rebuild()
        jitter = size * np.finfo(np.float64).eps * scale if not jitter else 10 * jitter
    raise np.linalg.LinAlgError(f"the {size} x {size} kernel of the centers is not positive definite even with a "
                                f"jitter of {jitter:.3g} (are the kernel values finite and the centers distinct?)")


class _Preconditioner:
    """Falkon's B = D T^-1 A^-1 (module docstring) from K_mm, the weights w and the ridge."""

    def __init__(self, k_mm: np.ndarray, weights: np.ndarray, ridge: float) -> None:
        self.scale = np.sqrt(weights)
        # D K_mm D is symmetric: its transpose, a Fortran-ordered view, is factorized in place.
        def scaled() -> np.ndarray:
            matrix = (np.asarray(k_mm, np.float64) * self.scale[:, None] * self.scale[None, :]).T
            matrix[np.diag_indices_from(matrix)] += (matrix.shape[0] * np.finfo(k_mm.dtype).eps
                                                     * np.mean(np.diagonal(matrix)))
            return matrix

        def product() -> np.ndarray:
            matrix, info = lapack.dlauum(self.t, lower=0)           # T T^T in the upper triangle
            if info != 0:
                raise np.linalg.LinAlgError(f"LAPACK dlauum failed with info={info}")
            matrix[np.diag_indices_from(matrix)] += ridge
            return matrix

        self.t = _cholesky(scaled(), rebuild=scaled)
        self.a = _cholesky(product(), rebuild=product)

    def apply(self, v: np.ndarray) -> np.ndarray:
        """B v = D T^-1 A^-1 v."""
        inner = scipy.linalg.solve_triangular(self.a, v)
        return self.scale[:, None] * scipy.linalg.solve_triangular(self.t, inner)

    def apply_transpose(self, v: np.ndarray) -> np.ndarray:
        """B^T v = A^-T T^-T D v."""
        inner = scipy.linalg.solve_triangular(self.t, self.scale[:, None] * v, trans="T")
        return scipy.linalg.solve_triangular(self.a, inner, trans="T")


def _select_centers(net: Network, x: np.ndarray, kernel: str, ridge: float, m: int, selection: str,
                    seed: int, progress: bool | None) -> tuple[np.ndarray, np.ndarray]:
    """(sorted center rows, their preconditioner weights w = 1 / min(1, M q))."""
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    if selection == "uniform" or m == n:
        return np.sort(rng.choice(n, size=m, replace=False)), np.full(m, n / m)
    scores = leverage_scores(net, x, kernel, ridge, min(m, LEVERAGE_SAMPLE), rng, progress)
    # Every point keeps a probability, so that M of them can always be drawn without replacement.
    scores = np.maximum(scores, 1e-12 * scores.max() if scores.max() > 0 else 1.0)
    q = scores / scores.sum()
    indices = np.sort(rng.choice(n, size=m, replace=False, p=q))
    return indices, 1.0 / np.minimum(1.0, m * q[indices])


#: The solver options that ``predict(..., method="nystrom", options=...)`` passes to ``fit``.
OPTIONS = ("tol", "maxiter", "panel_rows", "panels")


def check_options(options: dict | None) -> dict:
    """``options`` as keyword arguments of ``fit``: a dict whose keys are among ``OPTIONS``.

    Example:
        >>> check_options({"tol": 1e-8})
        {'tol': 1e-08}
        >>> check_options({"rank": 5})
        Traceback (most recent call last):
        ...
        nngp_ntk._checks.ArgumentValueError: options of method='nystrom' must be among ('tol', 'maxiter', 'panel_rows', 'panels'), got 'rank'
    """
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ArgumentTypeError(f"options must be a dict or None, got {type(options).__name__}")
    for name in options:
        if name not in OPTIONS:
            raise ArgumentValueError(f"options of method='nystrom' must be among {OPTIONS}, got {name!r}")
    return dict(options)

def _check_folder(folder: str) -> None:
    """Create ``folder``, or accept an existing one that holds only a Nystrom run's files (and the
    temporary files of an interrupted save)."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ArgumentValueError(f"out must be a folder, but {folder!r} is a file")
    os.makedirs(folder, exist_ok=True)
    own = {CENTERS_FILE, STATE_FILE, PANEL_FOLDER, CENTER_FOLDER}
    others = {name for name in set(os.listdir(folder)) - own - {name + TEMPORARY_SUFFIX for name in own}
              if not name.startswith(TEST_PREFIX)}
    if others:
        raise ArgumentValueError(f"out folder {folder!r} holds files of something else ({sorted(others)[:3]}): give an "
                                 "empty or new folder, or one a previous Nystrom run wrote")


def fit(net: Network, x: np.ndarray, y: np.ndarray, *, kernel: str, ridge: float, centers: int,
        center_selection: str = "uniform", seed: int = 0, out: str | os.PathLike | None = None,
        progress: bool | None = None, tol: float | None = None, maxiter: int = 100,
        panel_rows: int | None = None, panels: str = "auto") -> NystromModel:
    """Nystrom kernel ridge regression on M centers by Falkon's preconditioned conjugate gradients.

    Solves (K_nm^T K_nm + ridge K_mm) alpha = K_nm^T Y by CG on B^T H B beta = B^T K_nm^T Y,
    alpha = B beta, B = D T^-1 A^-1 (module docstring); with M = N it is the exact
    alpha = (K + ridge I)^-1 Y.

    With ``out``, the folder keeps the centers (``centers.npz``), K(X, C) in the out-of-core store of
    ``net.kernel`` (``k_nm/``, resumed tile by tile) and the CG state (``cg_state.npz``, a
    ``_checkpoint.Checkpoint``: saved at most every ``SAVE_SECONDS`` and at the end, by JAX process 0
    alone): a rerun with the same arguments computes no finished tile again and continues CG from
    the last saved iteration. The same points, network and centers with another ridge, other
    targets or another tol reuse the centers' kernel and start CG afresh. Under ``jax.distributed``
    (every process calling with the same arguments) the processes share the store's tiles, each
    multiplies by its own rows of K(X, C) (``row_blocks.own_rows``) and the M x k partial products
    are summed over the processes: every process runs the same iterations and returns the same model.
    There K(C, C) and the predictions' K(x, C) are stored in the folder too (``k_mm/``,
    ``test-<hash of x>/``), and leverage-score centers are refused (their scores are computed in memory).

    Args:
        net: the network.
        x: training points, already validated (``check_inputs``), shape (N, d).
        y: float64 targets, shape (N, k).
        kernel: "ntk" or "nngp".
        ridge: the ridge (> 0), the exact solver's convention (Falkon's lambda = ridge / N).
        centers: M, the number of centers, 1 <= M <= N.
        center_selection: "uniform" or "leverage" (module docstring).
        seed: seed of the center selection.
        out: a folder that keeps the panels and CG state (resumable), or None.
        progress: show progress bars (None: on a terminal).
        tol: relative residual of the preconditioned system at which CG stops (default 1e-6 for
            float32 kernels, 1e-9 for float64).
        maxiter: the iteration limit.
        panel_rows: rows of K(X, C) computed or read at a time (default: ``PANEL_BYTES`` of them).
        panels: "auto" (``out``: the store on disk; else in memory when K(X, C) takes at most
            ``MEMORY_FRACTION`` of the available memory, otherwise recomputed every iteration),
            "memory" or "recompute" (without ``out``).

    Returns:
        The fitted ``NystromModel``.

    Raises:
        ValueError: ridge <= 0, M outside [1, N], an unknown center selection or panels mode,
            ``panels`` other than "auto" with ``out``, tol outside (0, 1), an ``out`` folder that
            holds something else, or (under ``jax.distributed`` with ``out``) processes whose
            arguments differ or leverage-score centers.
        ProcessLostError: under ``jax.distributed``, another process died during an exchange.

    Warns:
        NotConvergedWarning: CG stopped at ``maxiter`` above ``tol``.
    """
    n = x.shape[0]
    ridge = check_real("ridge", ridge)
    if not ridge > 0:
        raise ArgumentValueError(
            f"the Nystrom solver needs ridge > 0 (the regularizer ridge * alpha^T K_mm alpha makes its "
            f"system definite; the exact solver's ridge convention), got ridge={ridge!r}")
    m = check_integer("centers", centers, minimum=1)
    if m > n:
        raise ArgumentValueError(f"centers must be at most the number of training points N = {n}, got {m}")
    check_choice("center_selection", center_selection, CENTER_SELECTIONS)
    check_choice("panels", panels, PANELS)
    check_integer("seed", seed, minimum=0)
    maxiter = check_integer("maxiter", maxiter, minimum=1)
    check_integer("panel_rows", panel_rows, minimum=1, allow_none=True)
    if tol is not None and not check_real("tol", tol, positive=True) < 1:
        raise ArgumentValueError(f"tol must be a number in (0, 1), got {tol!r}")
    tol = (1e-6 if x.dtype == np.float32 else 1e-9) if tol is None else float(tol)
    if out is not None and panels != "auto":
        raise ArgumentValueError(
            f"with out=folder the panels are kept in its store on disk: panels must be 'auto', got "
            f"{panels!r}")
    folder = None if out is None else os.fspath(out)
    network = repr(net)
    centers_key = fingerprint(x, kernel, network, m, center_selection, seed,
                              ridge if center_selection == "leverage" and m < n else None)
    state_key = fingerprint(centers_key, y, ridge, tol)

    clock = time.perf_counter()
    seconds = {}
    stored = None
    distributed = folder is not None and jax.process_count() > 1
    if distributed:
        if center_selection == "leverage" and m < n:
            raise ArgumentValueError(
                "center_selection='leverage' computes its scores in memory, which several JAX processes "
                "(jax.distributed) do not do: use center_selection='uniform' there")
        agree_on_arguments("the Nystrom solver", x, y, kernel, network, ridge, m, center_selection, seed, tol,
                           maxiter, panel_rows)
    if folder is not None:
        _check_folder(folder)
        path = os.path.join(folder, CENTERS_FILE)
        stored = read_npz(path, centers_key)
        if stored is None and os.path.exists(path):
            raise ArgumentValueError(
                f"out folder {folder!r} holds a Nystrom run of other points, network or centers (its "
                f"{CENTERS_FILE} does not match this call): use another folder or delete it")
        # Every process has read the folder before process 0 writes to it.
        if distributed and not same_in_all_processes(stored is None, what="compare the saved centers").all():
            stored = None
    if stored is None:
        indices, weights = _select_centers(net, x, kernel, ridge, m, center_selection, seed, progress)
        if folder is not None and (not distributed or jax.process_index() == 0):
            write_npz(os.path.join(folder, CENTERS_FILE), key=centers_key, indices=indices, weights=weights)
    else:
        indices, weights = stored["indices"], stored["weights"]
    center_points = x[indices]
    seconds["centers"], clock = time.perf_counter() - clock, time.perf_counter()

    rows = _Panels(net, x, center_points, kernel, panels,
                   None if folder is None else os.path.join(folder, PANEL_FOLDER), progress, panel_rows)
    seconds["kernel"], clock = time.perf_counter() - clock, time.perf_counter()
    k_mm = np.asarray(net.kernel(center_points, get=kernel, progress=False,
                                 out=os.path.join(folder, CENTER_FOLDER) if distributed else None))
    preconditioner = _Preconditioner(k_mm, weights, ridge)
    seconds["preconditioner"], clock = time.perf_counter() - clock, time.perf_counter()

    def operator(v: np.ndarray) -> np.ndarray:           # B^T H B v
        w = preconditioner.apply(v)
        return preconditioner.apply_transpose(rows.normal(w) + ridge * _matmul_sliced(k_mm, w))

    checkpoint = None if folder is None else _cg.checkpoint(os.path.join(folder, STATE_FILE), state_key,
                                                            distributed=True)
    with tqdm(total=maxiter, desc="Nystrom CG", unit="it", leave=False,
              disable=None if progress is None else not progress) as bar:
        def report(state: _cg.State) -> None:
            bar.n = min(state.iteration, maxiter)
            bar.set_postfix(residual=f"{state.residuals().max():.2e}")

        state = _cg.solve(operator, lambda: preconditioner.apply_transpose(rows.transpose(y)), tol, maxiter,
                          checkpoint=checkpoint, callback=report)
    residuals = state.residuals()
    seconds["solve"] = time.perf_counter() - clock
    if np.any(residuals > tol):
        warn(f"Nystrom conjugate gradients stopped at maxiter={maxiter} with relative residual "
             f"{residuals.max():.3g} > tol={tol:g} (raise maxiter or the ridge)", NotConvergedWarning)
    return NystromModel(net=net, kernel=kernel, centers=center_points, center_indices=indices,
                        alpha=preconditioner.apply(state.x), iterations=state.iteration,
                        residual=float(residuals.max()),
                        panels=rows.mode, seconds=seconds, folder=folder if distributed else None)

