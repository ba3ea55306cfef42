"""Products with a stored kernel by blocks of rows, shared among the JAX processes of ``jax.distributed``.

A kernel written by ``net.kernel(x, out=folder)`` is an (N, N) ``np.memmap`` in every process. Under
``jax.distributed`` (P processes), process p owns the contiguous rows [p S, (p + 1) S), S = ceil(N / P),
reads only those (``BLOCK_ROWS`` at a time) and computes its part of K B; the parts are exchanged with
JAX's multi-process runtime (``multihost_utils.process_allgather``: the CPU collectives, gloo by
default, or the accelerators' own), so that every process holds the same full product. The float64
parts travel as their bytes (viewed as uint32), exact whatever JAX's x64 setting. With one process
this is the blocked product of the memmap. A process that dies mid-exchange makes the others raise
``_tile_store.ProcessLostError`` (``_tile_store.allgather``).

Every process must make the same sequence of calls (the solvers built on it run the same
deterministic iterations in each process, so they do).
"""

from __future__ import annotations

import jax
import numpy as np

from nngp_ntk.kernels._tile_store import allgather

#: Rows of the kernel read at a time from a np.memmap.
BLOCK_ROWS = 2048


def own_rows(n: int, process: int | None = None, processes: int | None = None) -> tuple[int, int]:
    """The rows [start, stop) of an N-row kernel that a JAX process owns: the p-th block of ceil(N / P).

    Args:
        n: N, the number of rows.
        process: p (default ``jax.process_index()``).
        processes: P (default ``jax.process_count()``).

    Returns:
        (start, stop); empty (start == stop) for the last processes when P > N.

    Example:
        >>> own_rows(10, 0, 3), own_rows(10, 2, 3), own_rows(2, 2, 3)
        ((0, 4), (8, 10), (2, 2))
    """
    process = jax.process_index() if process is None else process
    processes = jax.process_count() if processes is None else processes
    share = -(-n // processes)
    return min(n, process * share), min(n, (process + 1) * share)


def matmul(matrix: np.ndarray, b: np.ndarray, distributed: bool = False, block_rows: int = BLOCK_ROWS) -> np.ndarray:
    """matrix @ b in float64 (b cast to the matrix's dtype), by blocks of rows; across processes with ``distributed``.

    With ``distributed`` and several JAX processes, each process computes the product of its own
    rows (``own_rows``) and the parts are allgathered: every process returns the whole product.

    Args:
        matrix: (N, N') array, in memory or a np.memmap (the same in every process).
        b: (N',) or (N', m) array (the same in every process).
        distributed: share the rows among the JAX processes (every process must call).
        block_rows: rows read at a time.

    Returns:
        The product, float64, of shape (N,) or (N, m).

    Example:
        >>> matmul(np.array([[2.0, 0.0], [0.0, 3.0]], np.float32), np.ones(2))
        array([2., 3.])
    """
    if np.issubdtype(matrix.dtype, np.floating):
        b = b.astype(matrix.dtype, copy=False)
    n, processes = matrix.shape[0], jax.process_count() if distributed else 1
    if processes == 1 and not isinstance(matrix, np.memmap):
        return np.asarray(matrix @ b, dtype=np.float64)
    start, stop = own_rows(n, jax.process_index() if processes > 1 else 0, processes)
    share = -(-n // processes)
    part = np.zeros((share,) + b.shape[1:], dtype=np.float64)
    for row in range(start, stop, block_rows):
        end = min(stop, row + block_rows)
        part[row - start:end - start] = np.asarray(matrix[row:end]) @ b
    if processes == 1:
        return part
    return _gather(part, processes)[:n]


def _gather(part: np.ndarray, processes: int) -> np.ndarray:
    """The processes' float64 parts (S, ...) stacked along the first axis, exchanged as their bytes."""
    words = part.reshape(part.shape[0], -1).view(np.uint32)
    gathered = allgather(words, "exchange products with the stored kernel", tiled=True)
    return np.ascontiguousarray(gathered).view(np.float64).reshape((processes * part.shape[0],) + part.shape[1:])


def sum_over_processes(part: np.ndarray) -> np.ndarray:
    """The sum over the JAX processes of each process's float64 ``part`` (the same shape in every
    process), added in process order so that every process receives the same bits.

    Args:
        part: this process's float64 array.

    Returns:
        sum_p part_p, float64, the shape of ``part``; ``part`` itself with one process.

    Example:
        >>> sum_over_processes(np.ones(2))
        array([1., 1.])
    """
    processes = jax.process_count()
    if processes == 1:
        return part
    gathered = _gather(part[None], processes)
    total = np.zeros_like(part)
    for value in gathered:
        total += value
    return total


def diagonal(matrix: np.ndarray, distributed: bool = False) -> np.ndarray:
    """The diagonal of a square matrix in float64; with ``distributed``, each JAX process reads the
    entries of its own rows (``own_rows``: a np.memmap's diagonal touches a page per row) and all
    receive the whole diagonal.

    Args:
        matrix: (N, N) array, in memory or a np.memmap (the same in every process).
        distributed: share the rows among the JAX processes (every process must call).

    Returns:
        The diagonal, float64, shape (N,).

    Example:
        >>> diagonal(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
        array([1., 4.])
    """
    n, processes = matrix.shape[0], jax.process_count() if distributed else 1
    if processes == 1:
        return np.asarray(np.diagonal(matrix), dtype=np.float64)
    start, stop = own_rows(n)
    part = np.zeros(-(-n // processes))
    part[:stop - start] = np.diagonal(matrix[start:stop, start:stop])
    return _gather(part, processes)[:n]


def all_finite(matrix: np.ndarray, distributed: bool = False, block_rows: int = BLOCK_ROWS) -> bool:
    """Whether every entry is finite, checked block by block (no N x N temporary); with ``distributed``
    and several JAX processes, each checks its own rows (``own_rows``) and all learn the answer.

    Args:
        matrix: an array, in memory or a np.memmap (the same in every process).
        distributed: share the rows among the JAX processes (every process must call).
        block_rows: rows checked at a time.

    Returns:
        True when no entry is NaN or infinite.

    Example:
        >>> all_finite(np.eye(3)), all_finite(np.array([[1.0, np.nan]]))
        (True, False)
    """
    if matrix.ndim < 2:
        return bool(np.isfinite(matrix).all())
    processes = jax.process_count() if distributed else 1
    start, stop = own_rows(matrix.shape[0], jax.process_index() if processes > 1 else 0, processes)
    finite = all(np.isfinite(matrix[row:min(stop, row + block_rows)]).all() for row in range(start, stop, block_rows))
    if processes == 1:
        return finite
    return bool(allgather(np.int32(finite), "check that the stored kernel is finite").all())
