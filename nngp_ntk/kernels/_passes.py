"""The compiled passes of the kernel recursion: per-point variances, then pairs on tiles or blocks.

Every kernel is computed in two steps (see ``nngp_ntk.kernels``):

* ``diagonal_pass``: K(x, x) after every op for each point, O(N positions), compiled on chunks of
  a fixed number of points (``variances_at_every_position``) so that a new N reuses the code;
* a pair pass given those variances: ``tiles`` (the tiled engine: one GEMM per tile, then all
  layers on cache-sized sub-blocks of ``SUB_BLOCK`` rows, each layer one fused loop over the
  packed state K12 + i Theta of ``programs._packed``) or
  ``kernel_fn_pass`` (``kernel_fn``, one jitted function with the variances: square blocks of at
  most ``FN_BLOCK`` points, each a ``jax.checkpoint``, pure JAX and differentiable).

Entries of a point with itself are snapped to its variance after every op, so that its
correlation stays exactly 1.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nngp_ntk.kernels import _programs as programs

#: A plan's ops (``programs.plan``): hashable, the static argument of the compiled passes.
Ops = tuple


def _input_kernel(x1: jax.Array, x2: jax.Array) -> jax.Array:
    """K^input = x1 . x2 / d at full precision."""
    return jnp.matmul(x1, x2.T, precision=jax.lax.Precision.HIGHEST) / x1.shape[1]


def diagonal_pass(ops: Ops, params: list, x: jax.Array, with_ntk: bool) -> tuple[jax.Array, jax.Array | None]:
    """Per-point variances K(x, x) at every position, (N, positions + 1), and Theta(x, x) (N,),
    from K^input(x, x) = |x|^2 / d through the plan's ops with K11 = K22 = K12.

    Example:
        >>> import nngp_ntk as nk
        >>> compiled = programs.plan([nk.Dense(), nk.activations.ReLU(), nk.Dense()], 2, np.float32)
        >>> variances, theta = diagonal_pass(compiled.ops, compiled.params, jnp.ones((1, 2)), True)
        >>> variances.tolist(), theta.tolist()     # K: 1, 1, 1/2, 1/2; Theta: 1, 1/2, 1/2 + 1/2
        ([[1.0, 1.0, 0.5, 0.5]], [1.0])
    """
    variance = jnp.sum(x * x, axis=1) / x.shape[1]
    theta = jnp.zeros_like(variance) if with_ntk else None
    _, theta, recorded = programs.run(ops, params, variance, theta, programs.Pass(None, None))
    return jnp.stack([variance, *recorded], axis=1), theta


compiled_diagonal_pass = jax.jit(diagonal_pass, static_argnums=(0, 3))

#: Rows per call of the compiled diagonal pass (fewer for smaller inputs: the next power of two,
#: at least _MIN_DIAGONAL_ROWS, so that small inputs of nearby sizes share compiled code).
_DIAGONAL_ROWS = 1024
_MIN_DIAGONAL_ROWS = 64


def variances_at_every_position(ops: Ops, params: list, x: np.ndarray, with_ntk: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """``diagonal_pass`` on chunks of ``_DIAGONAL_ROWS`` points (the last padded by repeating its
    last point), so that a new number of points reuses the compiled code; NumPy results.

    Example:
        >>> import nngp_ntk as nk
        >>> compiled = programs.plan([nk.Dense(), nk.activations.ReLU(), nk.Dense()], 2, np.float32)
        >>> variances, _ = variances_at_every_position(compiled.ops, compiled.params, np.ones((3, 2), np.float32), False)
        >>> variances.shape
        (3, 4)
    """
    n = x.shape[0]
    rows = min(_DIAGONAL_ROWS, max(_MIN_DIAGONAL_ROWS, 1 << (n - 1).bit_length()))
    results = []
    for start in range(0, n, rows):
        chunk = x[start:start + rows]
        if chunk.shape[0] < rows:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], rows - chunk.shape[0], axis=0)])
        results.append(compiled_diagonal_pass(ops, params, chunk, with_ntk))
    variances = np.concatenate([np.asarray(v) for v, _ in results])[:n]
    theta = np.concatenate([np.asarray(t) for _, t in results])[:n] if with_ntk else None
    return variances, theta


def _pair_pass(ops: Ops, names: tuple[str, ...], params: list, x1: jax.Array, var1: jax.Array,
               x2: jax.Array | None, var2: jax.Array, same_point: jax.Array | None,
               features: int | None = None, zero: jax.Array | None = None) -> tuple[jax.Array, ...]:
    """The requested kernels between x1 and x2 given their per-point variances at every position
    (``x2=None``: x1 is already the Gram matrix x1 . x2 of inputs with ``features`` features).

    Where ``same_point`` (x1[i] is x2[j]) the NNGP is set to the per-point variance after every
    layer, so that the correlation of a point with itself stays exactly 1 and rounding cannot open
    a spurious angle (see ``activations._base.correlation``).
    """
    k12 = _input_kernel(x1, x2) if x2 is not None else x1 / features
    # Without the tiled engine's run-time zero: a flag XLA cannot fold (True but for NaN), from the
    # inputs alone, so that it stays unbatched under a vmap over hyperparameters.
    opaque = jax.lax.stop_gradient(k12[0, 0] == k12[0, 0]) if zero is None else None

    def variances(position: Any) -> tuple[jax.Array, jax.Array]:
        return programs.column(var1, position), programs.column(var2, position).T

    def after(position: Any, k12: jax.Array) -> jax.Array:
        return jnp.where(same_point, programs.column(var1, position), k12)

    if same_point is not None:
        k12 = jnp.where(same_point, var1[:, :1], k12)

    theta = jnp.zeros_like(k12) if "ntk" in names else None
    snap = None if same_point is None else after
    k12, theta, _ = programs.run(ops, params, k12, theta, programs.Pass(variances, snap, zero, opaque))
    kernels = {"nngp": k12, "ntk": theta}
    return tuple(kernels[name] for name in names)


#: Rows of the sub-blocks that the layers run on inside a tile (see ``_tile``; 0: whole tiles).
#: The environment variable NNGP_NTK_SUB_BLOCK sets it (for benchmarks on other machines).
SUB_BLOCK = int(os.environ.get("NNGP_NTK_SUB_BLOCK", "128"))


def _tile(ops: Ops, names: tuple[str, ...], params: list, zero: jax.Array, rows: tuple[jax.Array, jax.Array],
          cols: tuple[jax.Array, jax.Array], on_diagonal: jax.Array) -> tuple[jax.Array, ...]:
    """The requested kernels on one tile; rows/cols are (points, per-point variances).

    The tile's Gram matrix is one GEMM; then all the layers run on one sub-block of SUB_BLOCK rows
    at a time, whose state stays in the CPU caches, instead of one pass over the whole tile per
    layer (bound by memory traffic).
    """
    (x1, var1), (x2, var2) = rows, cols
    block = SUB_BLOCK if 0 < SUB_BLOCK < x1.shape[0] and x1.shape[0] % SUB_BLOCK == 0 else x1.shape[0]
    gram = jnp.matmul(x1, x2.T, precision=jax.lax.Precision.HIGHEST)
    columns = jnp.arange(x2.shape[0])[None, :]

    def sub_block(inputs: tuple[jax.Array, jax.Array, jax.Array]) -> tuple[jax.Array, ...]:
        gram_rows, var_rows, first = inputs
        same_point = on_diagonal & (first + jnp.arange(block)[:, None] == columns)
        return _pair_pass(ops, names, params, gram_rows, var_rows, None, var2, same_point, x1.shape[1], zero)

    chunks = x1.shape[0] // block
    results = jax.lax.map(sub_block, (gram.reshape(chunks, block, -1), var1.reshape(chunks, block, -1),
                                      jnp.arange(chunks) * block))
    return tuple(r.reshape(x1.shape[0], x2.shape[0]) for r in results)


#: Rows and columns of the square blocks that ``kernel_fn`` runs the layers on (see ``_blocked_pair_pass``).
#: The environment variable NNGP_NTK_FN_BLOCK sets it (for benchmarks on other machines).
FN_BLOCK = int(os.environ.get("NNGP_NTK_FN_BLOCK", "256"))


def _split(x: jax.Array, var: jax.Array, size: int) -> tuple[jax.Array, jax.Array, int]:
    """Rows padded (repeating the last) to a multiple of ``size``, and the variances in blocks of ``size``."""
    count = -(-x.shape[0] // size)
    pad = ((0, count * size - x.shape[0]), (0, 0))
    var = jnp.pad(var, pad, mode="edge")
    return jnp.pad(x, pad, mode="edge"), var.reshape(count, size, var.shape[1]), count


def _block_size(n: int, block: int) -> int:
    """The size of the fewest blocks of at most ``block`` points that cover n points, padding the
    least (a multiple of 8 when that stays <= ``block``, for the vector units)."""
    size = -(-n // -(-n // block))
    aligned = -(-size // 8) * 8
    return aligned if aligned <= block else size


def _blocked_pair_pass(ops: Ops, names: tuple[str, ...], params: list, x1: jax.Array, var1: jax.Array,
                       x2: jax.Array | None, var2: jax.Array | None, block: int) -> tuple[jax.Array, ...]:
    """``_pair_pass`` between x1 and x2 (None: K(x1, x1)) run on square blocks of <= ``block`` points.

    The points are split into the fewest blocks of at most ``block`` (the last padded by repeating
    its last point). The Gram matrix is one GEMM; then all the layers run on one block at a time
    (``lax.map``), whose state stays in the CPU caches, instead of one pass over the whole N1 x N2
    matrix per layer (bound by memory traffic). K(x1, x1) computes only the blocks on and above the
    diagonal and mirrors them. Each block is a ``jax.checkpoint``: reverse mode recomputes a block's
    layers from its inputs instead of storing N1 x N2 intermediates per layer.
    """
    symmetric = x2 is None
    if symmetric:
        x2, var2 = x1, var1
    n1, n2, features = x1.shape[0], x2.shape[0], x1.shape[1]
    if n1 <= block and n2 <= block:
        same_point = jnp.eye(n1, dtype=bool) if symmetric else None
        return _pair_pass(ops, names, params, x1, var1, x2, var2, same_point)
    size1, size2 = (_block_size(n1, block),) * 2 if symmetric else (_block_size(n1, block), _block_size(n2, block))
    x1, var1, count1 = _split(x1, var1, size1)
    x2, var2, count2 = (x1, var1, count1) if symmetric else _split(x2, var2, size2)
    gram = jnp.matmul(x1, x2.T, precision=jax.lax.Precision.HIGHEST)
    gram = gram.reshape(count1, size1, count2, size2).transpose(0, 2, 1, 3)
    rows, cols = np.triu_indices(count1) if symmetric else np.indices((count1, count2)).reshape(2, -1)
    on_diagonal = jnp.asarray(rows == cols)

    @jax.checkpoint
    def pair(inputs: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        gram_block, var_rows, var_cols, diagonal = inputs
        same_point = diagonal & jnp.eye(size1, dtype=bool) if symmetric else None
        return _pair_pass(ops, names, params, gram_block, var_rows, None, var_cols, same_point, features)

    blocks = jax.lax.map(pair, (gram[rows, cols], var1[rows], var2[cols], on_diagonal))
    if symmetric:
        index = np.zeros((count1, count1), dtype=np.int32)
        index[rows, cols] = index[cols, rows] = np.arange(len(rows))
        below = np.tril(np.ones((count1, count1), dtype=bool), -1)[:, :, None, None]
        arrange = lambda b: jnp.where(below, jnp.swapaxes(b[index], 2, 3), b[index])  # noqa: E731
    else:
        arrange = lambda b: b.reshape(count1, count2, size1, size2)  # noqa: E731
    return tuple(arrange(b).transpose(0, 2, 1, 3).reshape(count1 * size1, count2 * size2)[:n1, :n2]
                 for b in blocks)


@functools.partial(jax.jit, static_argnums=(0, 1, 7))
def tiles(ops: Ops, names: tuple[str, ...], params: list, zero: jax.Array, rows: tuple[jax.Array, jax.Array],
          cols: tuple[jax.Array, jax.Array], on_diagonal: jax.Array, transpose: bool) -> tuple[jax.Array, ...]:
    """``_tile`` over a leading axis of tiles (sharded over devices by the caller's placement),
    followed by the transposed tiles when ``transpose`` (for the lower triangle of K(x, x)).
    ``zero`` is an int32 0 given at run time (see ``programs.Pass.zero``)."""
    computed = jax.vmap(functools.partial(_tile, ops, names, params, zero))(rows, cols, on_diagonal)
    return computed + tuple(jnp.swapaxes(t, 1, 2) for t in computed) if transpose else computed


@functools.partial(jax.jit, static_argnums=(0, 1, 5))
def kernel_fn_pass(ops: Ops, names: tuple[str, ...], params: list, x1: jax.Array, x2: jax.Array | None,
                   block: int) -> tuple[jax.Array, ...]:
    """``kernel_fn``'s computation, compiled once per program, shapes and block: the variances of
    x1 (and x2) by ``diagonal_pass``, then ``_blocked_pair_pass``. Under an outer jit, vmap or grad it
    is traced into the caller's program; called eagerly it runs compiled instead of op by op.

    Example:
        >>> import nngp_ntk as nk
        >>> compiled = programs.plan([nk.Dense(), nk.activations.ReLU(), nk.Dense()], 2, np.float32)
        >>> [ntk] = kernel_fn_pass(compiled.ops, ("ntk",), compiled.params, jnp.ones((3, 2)), None, 256)
        >>> ntk.shape, float(ntk[0, 1])
        ((3, 3), 1.0)
    """
    var1 = diagonal_pass(ops, params, x1, False)[0]
    var2 = None if x2 is None else diagonal_pass(ops, params, x2, False)[0]
    return _blocked_pair_pass(ops, names, params, x1, var1, x2, var2, block)
