"""Blocked, symmetric, sharded and out-of-core evaluation of a kernel function K(x1, x2).

A kernel function here is ``tile_fn(rows, cols, on_diagonal, transpose)``, compiled once per
shape: ``rows`` and ``cols`` are tuples of per-point arrays stacked as (T, B, ...) for T tiles of
B points each, ``on_diagonal`` (T,) says that tile t is a diagonal block of K(x, x), and it
returns the (T, B, B) kernel tiles, followed by their transposes when ``transpose`` is set.

``evaluate``
  * pads the points to whole tiles by repeating the first point (padded entries stay finite);
  * walks only the tiles with j >= i when K(x, x) is symmetric, filling the lower triangle from
    the transposed tiles (XLA's tiled transpose is ~10x faster than NumPy's strided copy);
  * with several local JAX devices, evaluates one tile per device at a time, the stacked tiles
    sharded over a 1-D ``Mesh`` with ``NamedSharding`` (results equal the one-device ones);
  * keeps one group of tiles in flight while the previous one is copied to the host and written;
  * writes into NumPy arrays (refusing, before any work, a result larger than the memory), or,
    with ``out=folder``, into the resumable out-of-core store of ``nngp_ntk.kernels._tile_store``
    (``<name>.npy`` memory maps and a manifest of finished tiles: a killed run resumes where it
    stopped). A group is launched only once every group but the last computed one is written, so
    a run killed at any point (SIGKILL included) loses at most two groups of tiles (the one being
    computed and the one being written) plus those written in the store's last ``COMMIT_SECONDS``
    (0.5 s) before it recorded them;
  * with several JAX processes (``jax.distributed.initialize`` in each, one per host), requires
    ``out=`` on a filesystem they all share: every process computes every
    ``jax.process_count()``-th tile that no manifest lists on its local devices, and all return
    once every tile is on disk.

The store (``TileStore``, ``fingerprint``, ``MANIFEST``, ``LOCK``, ``COMMIT_SECONDS``) lives in
``nngp_ntk.kernels._tile_store``.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from nngp_ntk._checks import ArgumentValueError
from nngp_ntk.kernels._tile_store import TileStore, agree

PointData = tuple[np.ndarray, ...]
TileFunction = Callable[[PointData, PointData, np.ndarray, bool], tuple[jax.Array, ...]]


def available_memory() -> int:
    """Bytes of memory available to a new allocation (Linux MemAvailable, else free pages).

    Returns:
        The number of bytes.

    Example:
        >>> available_memory() > 0
        True
    """
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_fits_in_memory(n_bytes: int, what: str) -> None:
    """Refuse, before anything is allocated, a result larger than the available memory.

    Args:
        n_bytes: the size of the result.
        what: what the result is, for the message.

    Raises:
        ValueError: ``n_bytes`` exceeds ``available_memory()``; the message suggests ``out=``.

    Example:
        >>> check_fits_in_memory(1024, "a small kernel")
        >>> check_fits_in_memory(2**80, "a huge kernel")
        Traceback (most recent call last):
        ...
        nngp_ntk._checks.ArgumentValueError: a huge kernel needs ... GiB of memory is available; pass out='folder/' ...
    """
    available = available_memory()
    if n_bytes > available:
        raise ArgumentValueError(f"{what} needs {n_bytes / 2**30:.1f} GiB but only {available / 2**30:.1f} GiB "
                                 "of memory is available; pass out='folder/' to write it to disk tile by tile")


#: Below this many points the tile is rounded up to a power of two (at least 8), so that small
#: inputs of nearby sizes share one compiled tile function.
SMALL_TILE = 256


def tile_block(n_points: int, tile_size: int) -> int:
    """Rows and columns of the tiles for a job whose larger side has ``n_points`` points.

    ``tile_size`` when the job is larger; below ``SMALL_TILE`` points the next power of two, at
    least 8 (nearby small sizes share compiled code: the padding is a few repeated points); in
    between, the job as one tile.

    Example:
        >>> tile_block(5, 1024), tile_block(100, 1024), tile_block(600, 1024), tile_block(5000, 1024)
        (8, 128, 600, 1024)
    """
    if n_points < SMALL_TILE:
        n_points = max(8, 1 << (n_points - 1).bit_length())
    return max(1, min(tile_size, n_points))


def pad_rows(arrays: PointData, multiple: int) -> PointData:
    """Pad every array along axis 0 to a multiple of ``multiple`` rows by repeating row 0.

    Padded rows are copies of real points, so the kernel stays finite on them; they are cut off
    before the results are written.

    Args:
        arrays: per-point arrays with the same number of rows.
        multiple: the row count to round up to a multiple of.

    Returns:
        The padded arrays (the same tuple when no padding is needed).

    Example:
        >>> [padded] = pad_rows((np.array([[1.0], [2.0], [3.0]]),), 2)
        >>> padded.ravel().tolist()
        [1.0, 2.0, 3.0, 1.0]
    """
    n = arrays[0].shape[0]
    padded = -(-n // multiple) * multiple
    if padded == n:
        return arrays
    return tuple(np.concatenate([a, np.repeat(a[:1], padded - n, axis=0)]) for a in arrays)


def tile_pairs(n1_tiles: int, n2_tiles: int, symmetric: bool) -> list[tuple[int, int]]:
    """Tile indices (i, j) to compute, row-major; only j >= i when ``symmetric``.

    Args:
        n1_tiles: number of tile rows.
        n2_tiles: number of tile columns.
        symmetric: whether the output is K(x, x), whose lower tiles are transposes of upper ones.

    Returns:
        The list of (i, j).

    Example:
        >>> tile_pairs(2, 2, symmetric=True)
        [(0, 0), (0, 1), (1, 1)]
    """
    return [(i, j) for i in range(n1_tiles) for j in range(n2_tiles) if not symmetric or j >= i]



def _mesh() -> Mesh:
    return Mesh(np.array(jax.local_devices()), ("tiles",))


def evaluate(tile_fn: TileFunction, rows: PointData, cols: PointData | None, names: Sequence[str],
             tile_size: int, dtype: np.dtype, out: str | os.PathLike | None = None, key: str = "",
             progress: bool | None = None) -> list[np.ndarray]:
    """The kernel matrices ``names``, of shape (len(rows[0]), len(cols[0])), by tiles.

    ``tile_fn(rows, cols, on_diagonal, transpose)`` receives the points of T tiles stacked as
    (T, B, ...) arrays (one tile per local device, sharded over them) and returns the T (B, B) tiles
    of each kernel, followed by their transposes when ``transpose`` is set (see the module
    docstring).

    Args:
        tile_fn: the compiled tile function.
        rows: per-point arrays of the rows' points (e.g. inputs and their variances).
        cols: the same for the columns, or None for cols = rows: the outputs are then symmetric and
            only the tiles with j >= i are computed.
        names: the kernels' names, in the order ``tile_fn`` returns them.
        tile_size: rows and columns of a tile.
        dtype: the dtype of the outputs.
        out: a folder for the out-of-core store (``TileStore``), or None to return arrays in memory.
            A run killed while writing there loses at most two groups of tiles (one per device each)
            plus the tiles of the store's last ``COMMIT_SECONDS``; calling again computes the rest.
        key: identifies the inputs and arguments in the store's manifest (``fingerprint``).
        progress: show a tqdm bar (None: only for jobs of 16 tiles or more, on a terminal).

    Returns:
        One array per name: NumPy arrays, or read-only memory maps of ``out/<name>.npy``.

    Raises:
        ValueError: several JAX processes without ``out``; a result larger than the memory without
            ``out``; an ``out`` folder that holds something else, or lacks the disk space.

    Example:
        >>> import jax.numpy as jnp
        >>> def linear_tiles(rows, cols, on_diagonal, transpose):
        ...     tiles = jnp.einsum("tbd,tcd->tbc", rows[0], cols[0])
        ...     return (tiles, jnp.swapaxes(tiles, 1, 2)) if transpose else (tiles,)
        >>> x = np.arange(10.0).reshape(5, 2)
        >>> [gram] = evaluate(linear_tiles, (x,), None, ["linear"], tile_size=2, dtype=np.float32)
        >>> bool(np.allclose(gram, x @ x.T))
        True
    """
    processes = jax.process_count()
    if processes > 1 and out is None:
        raise ArgumentValueError(f"with {processes} JAX processes (jax.distributed.initialize) each one computes only "
                                 "part of the kernel: pass out='folder/' on a filesystem all of them share, and "
                                 "every process returns the whole kernel, memory-mapped from there")
    symmetric = cols is None
    n1 = rows[0].shape[0]
    n2 = n1 if symmetric else cols[0].shape[0]
    block = tile_block(max(n1, n2), tile_size)
    rows_padded = pad_rows(rows, block)
    cols_padded = rows_padded if symmetric else pad_rows(cols, block)
    pairs = tile_pairs(len(rows_padded[0]) // block, len(cols_padded[0]) // block, symmetric)
    # Lower tiles are mirrored from upper ones; a single tile has none (and shares the cross-kernel code).
    transpose = symmetric and len(rows_padded[0]) > block

    store = None
    if out is None:
        check_fits_in_memory(len(names) * n1 * n2 * np.dtype(dtype).itemsize, f"a {n1} x {n2} kernel result")
        outputs = [np.empty((n1, n2), dtype) for _ in names]

        def write(index: int, row: int, column: int, values: np.ndarray) -> None:
            outputs[index][row:row + values.shape[0], column:column + values.shape[1]] = values
    else:
        store = TileStore(out, names, (n1, n2), dtype, key)
        write = store.write
        pairs = [pair for pair in pairs if pair not in store.done][jax.process_index()::processes]

    mesh = _mesh()
    sharding = NamedSharding(mesh, PartitionSpec("tiles"))
    group_size = mesh.size
    groups = [pairs[k:k + group_size] for k in range(0, len(pairs), group_size)]

    def launch(group: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], tuple[jax.Array, ...]]:
        padded = group + [group[-1]] * (group_size - len(group))
        stacked_rows = tuple(np.stack([a[i * block:(i + 1) * block] for i, _ in padded]) for a in rows_padded)
        stacked_cols = tuple(np.stack([a[j * block:(j + 1) * block] for _, j in padded]) for a in cols_padded)
        on_diagonal = np.array([symmetric and i == j for i, j in padded])
        placed = jax.device_put((stacked_rows, stacked_cols, on_diagonal), sharding)
        return group, tile_fn(*placed, transpose)

    def store_group(group: list[tuple[int, int]], host: list[np.ndarray]) -> None:
        upper, lower = host[:len(names)], host[len(names):]
        for t, (i, j) in enumerate(group):
            r0, c0 = i * block, j * block
            r1, c1 = min(r0 + block, n1), min(c0 + block, n2)
            for index, values in enumerate(upper):
                write(index, r0, c0, values[t, : r1 - r0, : c1 - c0])
            if symmetric and i != j:
                for index, values in enumerate(lower):
                    write(index, c0, r0, values[t, : c1 - c0, : r1 - r0])
        if store is not None:
            store.mark_done(group)

    # Groups waiting for the writer when the next group is launched: none for the store, so that a
    # killed run loses at most the group being computed and the one being written (plus the store's
    # last COMMIT_SECONDS); one in memory, where nothing can be lost and writes are copies.
    backlog = 1 if store is None else 0

    def compute() -> None:
        # Tiles are computed (XLA's threads), fetched (this thread) and written (one writer thread,
        # which also waits for the disk) at the same time.
        show = progress if progress is not None else (None if len(pairs) >= 16 else False)
        with tqdm(total=len(pairs), disable=(not show) if show is not None else None, desc="kernel tiles",
                  unit="tile", leave=False) as bar, ThreadPoolExecutor(max_workers=1) as writer:
            pending: deque[Future] = deque()

            def fetch(group: list[tuple[int, int]], tiles: tuple[jax.Array, ...]) -> None:
                host = [np.asarray(t) for t in tiles]
                pending.append(writer.submit(store_group, group, host))
                bar.update(len(group))

            in_flight = None
            for group in groups:
                while len(pending) > backlog:
                    pending.popleft().result()
                launched = launch(group)
                if in_flight is not None:
                    fetch(*in_flight)
                in_flight = launched
            if in_flight is not None:
                fetch(*in_flight)
            while pending:
                pending.popleft().result()
        if store is not None:
            store.mark_done([], force=True)

    if store is None:
        compute()
        return outputs
    # With several processes, every one returns only once all have flushed and recorded their tiles.
    try:
        agree(compute, "compute its share of the tiles")
    finally:
        store.close()
    return store.read_only()
