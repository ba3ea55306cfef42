"""Blocked evaluation of a kernel function K(x1, x2) over output tiles.

A kernel function here is ``tile_fn(rows, cols, on_diagonal) -> tuple of (B, B) arrays``, where
``rows`` and ``cols`` are tuples of per-point arrays (inputs and any per-point statistics) for one
block of points each, and ``on_diagonal`` says that they are the same block of K(x, x). ``evaluate`` pads the points to whole tiles (by repeating the first point, so padded
entries stay finite), walks the tiles (only those with j >= i when K(x, x) is symmetric, the
others filled by transposition), keeps one tile in flight while the previous one is copied to the
host, and writes the results into preallocated NumPy arrays.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np

PointData = tuple[np.ndarray, ...]
TileFunction = Callable[[PointData, PointData, bool], tuple[jax.Array, ...]]


@jax.jit
def _transpose(tiles: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
    """Transposed tiles for the lower triangle (XLA's tiled transpose is ~10x NumPy's strided copy)."""
    return tuple(t.T for t in tiles)


def pad_rows(arrays: PointData, multiple: int) -> PointData:
    """Pad every array along axis 0 to a multiple of ``multiple`` rows by repeating row 0."""
    n = arrays[0].shape[0]
    padded = -(-n // multiple) * multiple
    if padded == n:
        return arrays
    return tuple(np.concatenate([a, np.repeat(a[:1], padded - n, axis=0)]) for a in arrays)


def tile_pairs(n1_tiles: int, n2_tiles: int, symmetric: bool) -> list[tuple[int, int]]:
    """Tile indices (i, j) to compute, row-major; only j >= i when ``symmetric``."""
    return [(i, j) for i in range(n1_tiles) for j in range(n2_tiles) if not symmetric or j >= i]


def evaluate(tile_fn: TileFunction, rows: PointData, cols: PointData | None, n_outputs: int,
             tile_size: int, dtype: np.dtype) -> list[np.ndarray]:
    """All ``n_outputs`` kernel matrices of shape (len(rows[0]), len(cols[0])).

    ``cols=None`` means cols = rows and the outputs are symmetric: only upper tiles are computed.
    """
    symmetric = cols is None
    n1 = rows[0].shape[0]
    n2 = n1 if symmetric else cols[0].shape[0]
    block = max(1, min(tile_size, max(n1, n2)))
    rows_padded = pad_rows(rows, block)
    cols_padded = rows_padded if symmetric else pad_rows(cols, block)
    outputs = [np.empty((n1, n2), dtype) for _ in range(n_outputs)]
    pairs = tile_pairs(len(rows_padded[0]) // block, len(cols_padded[0]) // block, symmetric)

    def launch(i: int, j: int) -> tuple[tuple[jax.Array, ...], tuple[jax.Array, ...]]:
        tiles = tile_fn(tuple(a[i * block:(i + 1) * block] for a in rows_padded),
                        tuple(a[j * block:(j + 1) * block] for a in cols_padded), symmetric and i == j)
        return tiles, _transpose(tiles) if symmetric and i != j else ()

    def store(i: int, j: int, tiles: tuple[tuple[jax.Array, ...], tuple[jax.Array, ...]]) -> None:
        r0, c0 = i * block, j * block
        r1, c1 = min(r0 + block, n1), min(c0 + block, n2)
        upper, lower = tiles
        for out, tile in zip(outputs, upper):
            out[r0:r1, c0:c1] = np.asarray(tile)[: r1 - r0, : c1 - c0]
        for out, tile in zip(outputs, lower):
            out[c0:c1, r0:r1] = np.asarray(tile)[: c1 - c0, : r1 - r0]

    in_flight = None
    for i, j in pairs:
        launched = (i, j, launch(i, j))
        if in_flight is not None:
            store(*in_flight)
        in_flight = launched
    if in_flight is not None:
        store(*in_flight)
    return outputs
