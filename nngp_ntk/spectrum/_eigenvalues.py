"""Spectra of the NNGP and NTK on data: eigenvalues of K/N and their power-law fits.

On N points X the eigenvalues lambda_1 >= lambda_2 >= ... of K(X, X) / N approximate those of the
kernel's integral operator on the data distribution. If lambda_i ~ A i^-(1 + alpha_K), the test
loss of kernel regression falls as D^-alpha_K in the resolution-limited regime (Bahri et al.).

* ``eigenvalues`` / ``eigh``: dense LAPACK for N up to ``DENSE_LIMIT``; beyond it (or on request)
  randomized block Krylov with Rayleigh-Ritz (``randomized_eigh``) on products (K/N) Q computed
  from row blocks net.kernel(X[rows], X) (``kernel_product``), so K is never held in memory.
* ``fit_power_law``: log lambda_i = log A - (1 + alpha_K) log i on a window of indices away from
  the head and the finite-N tail, with a bootstrap confidence interval.

The exact eigenvalues of dot-product kernels on the sphere (Funk-Hecke: ``sphere_eigenvalues``,
``SphereSpectrum``, ``multiplicity``) live in ``nngp_ntk.spectrum._sphere``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import scipy.linalg
from tqdm.auto import tqdm

from nngp_ntk.kernels import _row_blocks as row_blocks
from nngp_ntk.kernels import _tile_store as tile_store
from nngp_ntk.spectrum import _fits as fits
from nngp_ntk._checks import (DENSE_LIMIT, ArgumentValueError, NotConvergedWarning, check_integer, check_kernel_name,
                              check_real, warn)
from nngp_ntk.spectrum._fits import PowerLawFit
from nngp_ntk._inputs import check_inputs

METHODS = ("auto", "dense", "randomized")
TILE_BYTES = 2**28  # one row block of the kernel held at a time by ``kernel_product``
HEAD = 10  # the fit window starts at index HEAD: the first eigenvalues carry the head of the spectrum
TAIL_FRACTION = 10  # ... and ends at N / TAIL_FRACTION, before the finite-N tail
TOP_K_FRACTION = 2  # ... or at top_k / TOP_K_FRACTION when only the top_k were computed
MIN_SPAN = 4  # a window must span at least this factor in index
MIN_POINTS = 10  # ... and hold this many eigenvalues

ProductFunction = Callable[[np.ndarray], np.ndarray]


# ----------------------------------------------------------------------------- eigenvalues of K/N

class Eigensystem(NamedTuple):
    """Descending eigenvalues (k,) of K/N, eigenvectors as columns (N, k) or None, and how they
    were found: ``passes`` over the kernel (1 for dense) and whether the randomized method met its
    tolerance (always True for dense)."""

    values: np.ndarray
    vectors: np.ndarray | None
    passes: int
    converged: bool


def kernel_product(net, X: np.ndarray, kernel: str = "ntk", block_rows: int | None = None) -> ProductFunction:
    """The map Q -> (K / N) Q for Q of shape (N, b), K = K(X, X), computed by row blocks.

    Block i is T = net.kernel(X[r0:r1], X[r0:]) (upper triangle only): (K Q)[r0:r1] += T Q[r0:] and
    (K Q)[r1:] += T[:, r1 - r0:]^T Q[r0:r1]. A pass evaluates N^2 / 2 kernel entries and costs
    2 N^2 b flops. The products run in the kernel's dtype, the sums in float64. The diagonal of
    each block is taken from ``net.diagonal``, as ``net.kernel(X)`` takes it: a kernel between two
    separately given points that coincide reads their correlation as 1 - O(eps) in float32, and
    arccos-type kernels (ReLU) turn that into a relative error of order sqrt(eps).

    Args:
        net: the network.
        X: points, shape (N, d).
        kernel: "nngp" or "ntk".
        block_rows: rows of a block, at most ``block_rows`` x N entries in memory (default:
            TILE_BYTES of float32, a multiple of 1024 rows).

    Returns:
        The function Q -> (K / N) Q (float64, shape (N, b)).

    Raises:
        ValueError: an unknown kernel, a ``block_rows`` that is not a positive integer, or invalid X;
            the returned function raises ValueError for Q of another shape than (N, b).

    Example:
        >>> import nngp_ntk as nk
        >>> X = nk.data.sphere(6, dim=3)
        >>> net = nk.FullyConnected(depth=1)
        >>> product = kernel_product(net, X, block_rows=4)
        >>> bool(np.allclose(product(np.eye(6)), net.kernel(X, get="ntk") / 6, rtol=1e-5))
        True
    """
    check_kernel_name(kernel)
    check_integer("block_rows", block_rows, minimum=1, allow_none=True)
    X, _ = check_inputs(X)
    n = len(X)
    if block_rows is None:
        block_rows = max(1, TILE_BYTES // (4 * n))
        block_rows = block_rows - block_rows % 1024 if block_rows >= 1024 else block_rows
    block_rows = min(block_rows, n)

    def product(Q: np.ndarray) -> np.ndarray:
        if Q.ndim != 2 or Q.shape[0] != n:
            raise ArgumentValueError(f"Q must have shape ({n}, b), got {Q.shape}")
        out = np.zeros(Q.shape)
        cast = None
        for r0 in range(0, n, block_rows):
            r1 = min(r0 + block_rows, n)
            tile = np.array(net.kernel(X[r0:r1], X[r0:], get=kernel))
            inside = np.arange(r1 - r0)
            tile[inside, inside] = net.diagonal(X[r0:r1], get=kernel)
            cast = Q.astype(tile.dtype, copy=False) if cast is None else cast
            out[r0:r1] += tile @ cast[r0:]
            if r1 < n:
                out[r1:] += tile[:, r1 - r0:].T @ cast[r0:r1]
        return out / n

    return product


def _orthonormal(block: np.ndarray, basis: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """Orthonormal columns spanning ``block`` minus its projection on ``basis`` (orthonormal),
    given ``coefficients`` = basis^T block.

    Block Gram-Schmidt twice ("twice is enough"), then QR. When the QR's R is ill-conditioned
    (min |R_ii| below 1e-6 of the block's largest column norm: the block was nearly inside the
    basis, e.g. a low-rank A), the normalized columns are projected and factored once more.
    """
    scale = float(np.max(np.linalg.norm(block, axis=0)))
    block = block - basis @ coefficients
    block = block - basis @ (basis.T @ block)
    block, factor = np.linalg.qr(block)
    if np.min(np.abs(np.diag(factor))) > 1e-6 * scale:
        return block
    block = block - basis @ (basis.T @ block)
    return np.linalg.qr(block)[0]


def _ritz(core: np.ndarray, want_vectors: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Descending Ritz values (and vectors in the basis) of the projection Q^T A Q, symmetrized."""
    symmetric = 0.5 * (core + core.T)
    if not want_vectors:
        return scipy.linalg.eigh(symmetric, eigvals_only=True, check_finite=False, driver="evd")[::-1], None
    values, rotation = scipy.linalg.eigh(symmetric, check_finite=False, driver="evd")
    return values[::-1], rotation[:, ::-1]


def _grow(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``array`` copied into the top-left corner of a larger zero array of ``shape``."""
    grown = np.zeros(shape)
    grown[: array.shape[0], : array.shape[1]] = array
    return grown


def randomized_eigh(product: ProductFunction, n: int, top_k: int, block_size: int | None = None,
                    max_passes: int = 16, tol: float = 1e-2, seed: int = 0, want_vectors: bool = False,
                    progress: bool = False) -> Eigensystem:
    """Top ``top_k`` eigenpairs of a symmetric positive semi-definite A (n x n) given Q -> A Q.

    Randomized block Krylov (block Lanczos with full reorthogonalization; Musco & Musco 2015):
    with a Gaussian start Q_0 (n x b), pass j computes Y_j = A Q_{j-1} and orthonormalizes it
    against Q_0..Q_{j-1} into Q_j, growing an orthonormal basis Q (n x m) of the Krylov space
    span{Q_0, A Q_0, ..., A^{j-1} Q_0}. The Ritz values, eigenvalues of Q^T A Q (kept up to date
    at O(n m b) a pass), approximate the top of the spectrum from below. The solve stops when the
    top_k changed by at most ``tol`` (relative) over the last pass, when the basis spans R^n, or
    after ``max_passes``. The values converge geometrically, the last ones slowest: when the top_k-th
    has settled to ``tol``, the leading ones are far more accurate, down to the rounding floor of the
    products (benchmarks/spectrum_speed.py measures both against dense solves).

    Cost: each pass evaluates A once (for a kernel, N^2 / 2 entries) and multiplies by b columns
    (2 n^2 b flops); the projection Q^T A Q and the orthogonalization add three (n x m) by (m x b)
    products (6 n m b flops) and the Ritz values O(m^3) a pass, with m = b x passes. Memory: the
    basis, n m float64.

    Args:
        product: the function Q -> A Q for Q of shape (n, b).
        n: the size of A.
        top_k: how many of the largest eigenpairs.
        block_size: b, the columns added per pass (default max(top_k / 2, 16)); larger blocks need
            fewer passes and more memory.
        max_passes: the most products with A.
        tol: the relative change of the top_k values over one pass at which the solve stops.
        seed: seed of the Gaussian start.
        want_vectors: also return the Ritz vectors.
        progress: show a progress bar over the passes.

    Returns:
        ``Eigensystem(values (top_k,) descending, vectors (n, top_k) or None, passes, converged)``.

    Raises:
        ValueError: ``top_k`` above n, non-positive arguments, or ``max_passes`` too small to reach
            top_k and check convergence.

    Warns:
        NotConvergedWarning: the top_k still changed by more than ``tol`` in the last pass.

    Example:
        >>> A = np.diag(1.0 / np.arange(1, 51) ** 2)
        >>> system = randomized_eigh(lambda Q: A @ Q, 50, top_k=3)
        >>> np.round(system.values, 6), system.converged
        (array([1.      , 0.25    , 0.111111]), True)
    """
    check_integer("n", n, minimum=1)
    check_integer("top_k", top_k, minimum=1)
    if top_k > n:
        raise ArgumentValueError(f"top_k must be at most n = {n}, got {top_k}")
    check_integer("block_size", block_size, minimum=1, allow_none=True)
    check_integer("max_passes", max_passes, minimum=1)
    check_real("tol", tol, positive=True)
    block = min(n, block_size if block_size is not None else max(-(-top_k // 2), 16))
    needed = min(-(-top_k // block) + 1, -(-n // block))
    if max_passes < needed:
        raise ArgumentValueError(f"max_passes={max_passes} cannot reach top_k={top_k} with block_size={block} and "
                                 f"check convergence (needs at least {needed} passes)")
    limit = min(n, block * max_passes)
    capacity = min(limit, block * (needed + 1))
    basis, core = np.zeros((n, capacity)), np.zeros((capacity, capacity))
    basis[:, :block] = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, block)))[0]
    start, width = 0, block
    previous, values, converged, change, done = None, None, False, np.inf, 0
    passes = tqdm(range(1, max_passes + 1), desc="Krylov passes", disable=not progress, leave=False)
    for done in passes:
        image = product(basis[:, start:width])
        core[:width, start:width] = basis[:, :width].T @ image
        core[start:width, :start] = core[:start, start:width].T
        full = width == n
        if width >= top_k:
            values = _ritz(core[:width, :width], want_vectors=False)[0][:top_k]
            if previous is not None:
                change = float(np.max(np.abs(values - previous) / np.maximum(np.abs(values), np.finfo(float).tiny)))
                passes.set_postfix(change=f"{change:.2e}")
                converged = change <= tol
            previous = values
        if converged or full or done == max_passes:
            break
        size = min(block, n - width)
        if width + size > basis.shape[1]:
            capacity = min(limit, max(2 * basis.shape[1], width + size))
            basis, core = _grow(basis, (n, capacity)), _grow(core, (capacity, capacity))
        basis[:, width:width + size] = _orthonormal(image[:, :size], basis[:, :width],
                                                    core[:width, start:start + size])
        start, width = width, width + size
    passes.close()
    converged = converged or full
    if not converged:
        warn(f"randomized_eigh: the top {top_k} eigenvalues still changed by {change:.2e} (> tol={tol}) "
             f"in the last of {max_passes} passes; raise max_passes or block_size", NotConvergedWarning)
    vectors = None
    if want_vectors:
        values, rotation = _ritz(core[:width, :width], want_vectors=True)
        values, vectors = values[:top_k], basis[:, :width] @ rotation[:, :top_k]
    return Eigensystem(values, vectors, done, converged)


def eigh(net, X: np.ndarray, kernel: str = "ntk", top_k: int | None = None, method: str = "auto",
         want_vectors: bool = True, block_size: int | None = None, max_passes: int = 16,
         tol: float = 1e-2, seed: int = 0, block_rows: int | None = None, progress: bool = False,
         out: str | os.PathLike | None = None) -> Eigensystem:
    """Top ``top_k`` (default all) eigenpairs of K(X, X) / N, eigenvalues descending.

    The kernel is computed in its own dtype (float32 unless JAX x64 is on and X is float64), so
    eigenvalues below about 1e-7 lambda_1 carry its rounding errors.

    Args:
        net: the network.
        X: points, shape (N, d).
        kernel: "nngp" or "ntk".
        top_k: how many of the largest eigenpairs (default all; needed by "randomized").
        method: "dense" (K in float64 and LAPACK's divide and conquer, scipy.linalg.eigh driver
            "evd": O(N^2) memory, O(N^3) time), "randomized" (``randomized_eigh`` on
            ``kernel_product``: K never held in memory) or "auto" (dense for N <= DENSE_LIMIT, else
            randomized).
        want_vectors: also return the eigenvectors.
        block_size: b of ``randomized_eigh`` (default max(top_k / 2, 16)).
        max_passes: the most passes of ``randomized_eigh``.
        tol: the relative change at which ``randomized_eigh`` stops.
        seed: seed of ``randomized_eigh``'s start.
        block_rows: rows of a kernel block in ``kernel_product`` (or of the stored kernel read at
            a time, with ``out``).
        progress: show progress bars.
        out: a folder for the out-of-core store of K (``net.kernel(X, get=kernel, out=out)``,
            resumable; a folder holding another kernel is refused). "dense" then reads the stored
            K; "randomized" multiplies by it in blocks of rows, so K is computed once rather than
            at every pass. Under ``jax.distributed`` (every process calls with the same arguments
            and a folder they all share) each process computes its share of the tiles and
            multiplies by its own block of rows, the products are allgathered
            (``nngp_ntk.kernels._row_blocks.matmul``), and every process returns the same values.

    Returns:
        ``Eigensystem(values, vectors, passes, converged)``: values (top_k,) descending, vectors
        (N, top_k) orthonormal columns, or None.

    Raises:
        ValueError: an unknown kernel or method, ``top_k`` above N, or "randomized" without top_k.

    Warns:
        NotConvergedWarning: the randomized solve did not reach ``tol``.

    Example:
        >>> import nngp_ntk as nk
        >>> X = nk.data.sphere(20, dim=3)
        >>> system = eigh(nk.FullyConnected(depth=1), X, top_k=4)
        >>> system.values.shape, system.vectors.shape, bool(np.all(np.diff(system.values) <= 0))
        ((4,), (20, 4), True)
    """
    check_kernel_name(kernel)
    if method not in METHODS:
        raise ArgumentValueError(f"method must be one of {METHODS}, got {method!r}")
    X, _ = check_inputs(X)
    n = len(X)
    check_integer("top_k", top_k, minimum=1, allow_none=True)
    if top_k is not None and top_k > n:
        raise ArgumentValueError(f"top_k must be at most the number of points {n}, got {top_k}")
    if method == "auto":
        method = "dense" if n <= DENSE_LIMIT else "randomized"
    if method == "randomized":
        if top_k is None:
            raise ArgumentValueError(f"the randomized method needs top_k (method='auto' picks it for N > DENSE_LIMIT = "
                                     f"{DENSE_LIMIT}; here N = {n}): pass top_k (and out='folder/' to compute K once "
                                     "rather than at every pass), or method='dense' for all eigenvalues")
        if out is not None:
            tile_store.agree_on_arguments("eigh", X, kernel, top_k, want_vectors, block_size, max_passes, tol, seed,
                                          os.fspath(out))
        product = kernel_product(net, X, kernel, block_rows) if out is None else _stored_product(
            net.kernel(X, get=kernel, out=out, progress=progress), block_rows)
        return randomized_eigh(product, n, top_k, block_size, max_passes, tol, seed, want_vectors, progress)
    gram = net.kernel(X, get=kernel, out=out, progress=progress if out is not None else None)
    return dense_eigh(gram, top_k, want_vectors, overwrite=out is None)


def dense_eigh(gram: np.ndarray, top_k: int | None = None, want_vectors: bool = True,
               overwrite: bool = False) -> Eigensystem:
    """Top ``top_k`` (default all) eigenpairs of gram / N for a kernel matrix ``gram`` (N, N), descending.

    gram / N in float64, then LAPACK's divide and conquer (scipy.linalg.eigh driver "evd"): O(N^2)
    memory, O(N^3) time.

    Args:
        gram: the symmetric (N, N) kernel matrix K, in memory or a np.memmap (a stored kernel).
        top_k: how many of the largest eigenpairs (default all).
        want_vectors: also return the eigenvectors.
        overwrite: ``gram`` may be overwritten when it is a writeable float64 array (no copy).

    Returns:
        ``Eigensystem(values (top_k,), vectors (N, top_k) or None, passes=1, converged=True)``.

    Example:
        >>> dense_eigh(np.diag([2.0, 6.0]), want_vectors=False).values
        array([3., 1.])
    """
    n = len(gram)
    if overwrite and isinstance(gram, np.ndarray) and gram.dtype == np.float64 and gram.flags.writeable:
        scaled = gram
        scaled /= n
    else:
        scaled = np.divide(gram, n, dtype=np.float64)
    if want_vectors:
        values, vectors = scipy.linalg.eigh(scaled, overwrite_a=True, check_finite=False, driver="evd")
        vectors = np.ascontiguousarray(vectors[:, ::-1][:, :top_k])
    else:
        values, vectors = scipy.linalg.eigh(scaled, eigvals_only=True, overwrite_a=True, check_finite=False,
                                            driver="evd"), None
    return Eigensystem(values[::-1][:top_k], vectors, 1, True)


def _stored_product(stored: np.ndarray, block_rows: int | None) -> ProductFunction:
    """Q -> (K / N) Q for a stored K, by blocks of its rows shared among the JAX processes."""
    check_integer("block_rows", block_rows, minimum=1, allow_none=True)
    n = stored.shape[0]
    rows = row_blocks.BLOCK_ROWS if block_rows is None else block_rows
    return lambda Q: row_blocks.matmul(stored, Q, distributed=True, block_rows=rows) / n


def eigenvalues(net, X: np.ndarray, kernel: str = "ntk", top_k: int | None = None, method: str = "auto",
                **options) -> np.ndarray:
    """Descending eigenvalues lambda_1 >= ... of K(X, X) / N (the top ``top_k``, default all).

    Dense for N <= DENSE_LIMIT, else randomized block Krylov on kernel row blocks (needs top_k).

    Args:
        net: the network.
        X: points, shape (N, d).
        kernel: "nngp" or "ntk".
        top_k: how many of the largest eigenvalues (default all).
        method: "auto", "dense" or "randomized" (``eigh``).
        **options: block_size, max_passes, tol, seed, block_rows, progress, out (``eigh``; ``out``
            keeps K in an out-of-core store, shared by the processes of ``jax.distributed``).

    Returns:
        The eigenvalues, shape (top_k,), float64.

    Raises:
        ValueError: as ``eigh``.

    Example:
        >>> import nngp_ntk as nk
        >>> ev = eigenvalues(nk.FullyConnected(depth=2), nk.data.sphere(30, dim=4), kernel="nngp")
        >>> ev.shape, bool(ev[0] > ev[-1] > -1e-6)
        ((30,), True)
    """
    return eigh(net, X, kernel, top_k, method, want_vectors=False, **options).values


# ----------------------------------------------------------------------------- power-law fits

def default_window(n_eigenvalues: int, n_samples: int | None = None) -> tuple[int, int]:
    """The automatic fit window (i_min, i_max) of 1-based indices.

    i_min = HEAD (10): the first eigenvalues belong to the head (the constant mode, the low degrees,
    class structure) rather than to the power law. i_max = N / TAIL_FRACTION (N / 10): eigenvalues of
    K/N from N samples fall below the operator's beyond a fraction of N, and when only the top k < N
    are known, also i_max <= k / 2, since the last ones of a randomized solve converge last.

    Args:
        n_eigenvalues: k, how many eigenvalues are known.
        n_samples: N, the number of points they came from (default k).

    Returns:
        (i_min, i_max).

    Example:
        >>> default_window(2000), default_window(100, n_samples=5000)
        ((10, 200), (10, 50))
    """
    n_samples = n_eigenvalues if n_samples is None else n_samples
    i_max = n_samples // TAIL_FRACTION
    if n_eigenvalues < n_samples:
        i_max = min(i_max, n_eigenvalues // TOP_K_FRACTION)
    return HEAD, i_max


def fit_window(n_eigenvalues: int, window: tuple[int, int] | None = None,
               n_samples: int | None = None) -> tuple[tuple[int, int], str]:
    """The fit window: ``window`` checked against the eigenvalues, or ``default_window``, and whether it is long enough.

    Args:
        n_eigenvalues: how many eigenvalues are known.
        window: (i_min, i_max), 1-based, or None for ``default_window``.
        n_samples: the number of points they came from (default ``n_eigenvalues``).

    Returns:
        ((i_min, i_max), reason): ``reason`` is empty, or says why the window is too short for a
        power law (a span below MIN_SPAN or fewer than MIN_POINTS indices).

    Raises:
        ValueError: a window outside 1 <= i_min < i_max <= n_eigenvalues.

    Example:
        >>> fit_window(1000)
        ((10, 100), '')
        >>> fit_window(1000, window=(10, 20))[1] != ""
        True
    """
    if window is None:
        i_min, i_max = default_window(n_eigenvalues, n_samples)
        source = f"the automatic window [{i_min}, {i_max}] (index {HEAD} to N/{TAIL_FRACTION})"
    else:
        i_min, i_max = (check_integer("window", w) for w in window)
        source = f"window [{i_min}, {i_max}]"
        if not 1 <= i_min < i_max <= n_eigenvalues:
            raise ArgumentValueError(f"window must be 1-based indices 1 <= i_min < i_max <= {n_eigenvalues}, "
                                     f"got {window!r}")
    reason = ""
    if i_max < MIN_SPAN * i_min or i_max - i_min + 1 < MIN_POINTS:
        reason = (f"{source} is too short to fit a power law: it needs i_max >= {MIN_SPAN} i_min and at least "
                  f"{MIN_POINTS} eigenvalues (got {n_eigenvalues} eigenvalues; use more points or give a window)")
    return (i_min, i_max), reason


def fit_power_law(ev: np.ndarray, window: tuple[int, int] | None = None, n_samples: int | None = None,
                  n_bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0) -> PowerLawFit:
    """Fit lambda_i = A i^-(1 + alpha_K) to descending eigenvalues ``ev`` on a window of indices.

    Least squares of log lambda_i on log i for i in [i_min, i_max] (1-based) with weights 1/i, so
    each octave of indices counts the same and the many tail indices do not dominate
    (``fits.fit_loglog`` with shift 1: ``.alpha`` = ``.alpha_K``). The confidence interval is
    the percentile interval of alpha_K over ``n_bootstrap`` fits to points of the window resampled
    with replacement: it measures the scatter of the eigenvalues about the line, not the sampling of
    the N points, nor the window choice. This is the power law of the sample's own eigenvalues; the
    kernel operator's exponent at the indices a learning curve resolves is
    ``prediction.predict_exponents``'s.

    Args:
        ev: descending eigenvalues.
        window: (i_min, i_max), 1-based indices (default ``default_window(len(ev), n_samples)``).
        n_samples: the N the eigenvalues came from, when ev is only its top part.
        n_bootstrap: number of bootstrap fits.
        confidence: level of the interval.
        seed: seed of the bootstrap.

    Returns:
        A ``fits.PowerLawFit`` (``.alpha_K``, ``.window``, ``.ci``); NaN with a ``reason`` when the
        window spans less than a factor MIN_SPAN or holds fewer than MIN_POINTS eigenvalues, or holds
        a non-positive eigenvalue (the spectrum's numerical floor).

    Raises:
        ValueError: ev that is not a descending 1-D array of finite numbers, or a window outside its
            indices.

    Example:
        >>> fit = fit_power_law(1.0 / np.arange(1, 1001) ** 1.5)
        >>> round(fit.alpha_K, 6), fit.window
        (0.5, (10, 100))
    """
    ev = np.asarray(ev, dtype=np.float64)
    if ev.ndim != 1 or not np.all(np.isfinite(ev)):
        raise ArgumentValueError(f"ev must be a 1-D array of finite eigenvalues, got shape {ev.shape}")
    if np.any(np.diff(ev) > 1e-12 * np.max(np.abs(ev), initial=0.0)):
        raise ArgumentValueError("ev must be sorted in descending order")
    check_integer("n_samples", n_samples, minimum=len(ev), allow_none=True)
    (i_min, i_max), reason = fit_window(len(ev), window, n_samples)
    if i_max < i_min:       # a spectrum too short for the automatic window: no index to fit
        nan = float("nan")
        return fits.unreliable(PowerLawFit(alpha=nan, ci=(nan, nan), amplitude=nan, window=(i_min, i_max), n_points=0,
                                           interval="bootstrap", confidence=confidence, shift=1.0), reason)
    index = np.arange(i_min, i_max + 1, dtype=np.float64)
    fit = fits.fit_loglog(index, ev[i_min - 1:i_max], shift=1.0, weights=1.0 / index, interval="bootstrap",
                             confidence=confidence, n_bootstrap=n_bootstrap, seed=seed, name="index")
    fit = dataclasses.replace(fit, window=(i_min, i_max))
    return fits.unreliable(fit, reason) if reason else fit
