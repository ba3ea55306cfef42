"""A layer list compiled to a program on kernel entries: ops, repeats folded into loops, and runs.

``plan(layers, input_width, dtype)`` turns a layer list (``nngp_ntk.kernels.Layer``) into a ``Plan``: a
static program (a tuple of ops, hashable: the argument that selects compiled code) and its numeric
parameters, with runs of identical blocks found and folded into ``Repeat`` ops, so that depth costs
compile time only once. Each layer gives its own op and params (``Layer.kernel_op``); a layer with
sublayers (a Residual) becomes a ``Branch`` over its compiled block. ``run`` executes the ops on
the state (K12, Theta12) given the per-point variances (K11, K22) at every position, each op by its
layer's ``update`` (or ``merge``); the diagonal pass, the tiled engine and ``kernel_fn`` of
``nngp_ntk.kernels`` all run plans.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Repeat:
    """``count`` runs of ``block`` (ops) in one loop, its params stacked along a leading axis."""

    block: tuple
    count: int


@dataclasses.dataclass(frozen=True)
class Branch:
    """A layer with sublayers: ``block`` (its compiled sublayers) runs on the input, then
    ``op.merge`` combines input and block output. Its params are (the op's, the block's)."""

    block: tuple
    op: Any


class Plan(NamedTuple):
    """``ops`` (static, hashable) and ``params`` (a list with one entry per op: arrays)."""

    ops: tuple
    params: list


def positions(ops: Sequence) -> int:
    """Number of recorded positions (op outputs) of ``ops``.

    1 per op, plus a branch's block, times a repeat's count.

    Args:
        ops: the ops of a plan.

    Returns:
        The count.

    Example:
        >>> import nngp_ntk as nk
        >>> positions(plan([nk.Dense(), nk.activations.ReLU(), nk.Dense()], 3, np.float32).ops)
        3
    """
    total = 0
    for op in ops:
        if isinstance(op, Repeat):
            total += positions(op.block) * op.count
        elif isinstance(op, Branch):
            total += positions(op.block) + 1
        else:
            total += 1
    return total


def _single_ops(layers: Sequence, width: int | None, dtype: np.dtype) -> tuple[list, list, int | None]:
    """Ops and params of a layer list, one op per layer (``Layer.kernel_op``); ``width`` is the input width."""
    ops, params = [], []
    for layer in layers:
        op, param, out_width = layer.kernel_op(width, dtype)
        if layer.sublayers:
            inner_ops, inner_params, block_width = _single_ops(layer.sublayers, width, dtype)
            block_ops, block_params = _fold(tuple(inner_ops), inner_params)
            ops.append(Branch(block_ops, op))
            params.append((param, block_params))
            width = out_width if out_width is not None else block_width
        else:
            ops.append(op)
            params.append(param)
            width = out_width
    return ops, params, width


def _stacked(*leaves: Any) -> Array | np.ndarray:
    """The leaves stacked along a new first axis: NumPy for NumPy leaves, else JAX (tracers)."""
    if all(isinstance(leaf, np.ndarray) for leaf in leaves):
        return np.stack(leaves)
    return jnp.stack(leaves)


#: Longest block searched for repeats (a Residual counts as one op).
_MAX_BLOCK = 4


def _fold(ops: tuple, params: list) -> tuple[tuple, list]:
    """Fold runs of >= 2 identical consecutive blocks into ``Repeat`` ops whose params are stacked
    along a leading axis (greedy: at each op the block covering the most ops)."""
    folded_ops, folded_params = [], []
    i = 0
    while i < len(ops):
        best_length, best_count = 1, 1
        for length in range(1, _MAX_BLOCK + 1):
            block = ops[i:i + length]
            if len(block) < length:
                break
            count = 1
            while ops[i + count * length:i + (count + 1) * length] == block:
                count += 1
            if count >= 2 and length * count > best_length * best_count:
                best_length, best_count = length, count
        if best_count >= 2:
            block = ops[i:i + best_length]
            copies = [params[i + c * best_length:i + (c + 1) * best_length] for c in range(best_count)]
            stacked = jax.tree_util.tree_map(_stacked, *copies)
            folded_ops.append(Repeat(block, best_count))
            folded_params.append(stacked)
            i += best_length * best_count
        else:
            folded_ops.append(ops[i])
            folded_params.append(params[i])
            i += 1
    return tuple(folded_ops), folded_params


def plan(layers: Sequence, input_width: int, dtype: np.dtype) -> Plan:
    """The plan of a checked layer list for inputs of ``input_width`` features, params in ``dtype``.

    Runs of two or more identical consecutive blocks (up to four ops long) are folded into
    ``Repeat`` ops whose params are stacked, so that they compile to one loop.

    Args:
        layers: a checked layer list.
        input_width: d, the inputs' feature count.
        dtype: the dtype of the params.

    Returns:
        A ``Plan(ops, params)``.

    Example:
        >>> import nngp_ntk as nk
        >>> layers = [nk.Dense(), nk.activations.ReLU()] * 3 + [nk.Dense()]
        >>> [type(op).__qualname__ for op in plan(layers, 3, np.float32).ops]
        ['Repeat', 'Dense.Op']
    """
    ops, params, _ = _single_ops(layers, input_width, np.dtype(dtype))
    return Plan(*_fold(tuple(ops), params))


# --- Running a plan ---------------------------------------------------------------------------------

class Pass(NamedTuple):
    """How a pass reads per-point variances and what it does after each op.

    ``variances(position) -> (K11, K22)`` of the op inputs at ``position``; None in the diagonal
    pass, where K11 = K22 = K12 and K after every op is recorded. ``after(position, k12) -> k12``
    snaps entries after an op (the pair pass on a diagonal tile) or is None.
    """

    variances: Callable[[Any], tuple[Array, Array]] | None
    after: Callable[[Any, Array], Array] | None
    #: A traced int32 zero, or None. When given (the tiled engine), each layer outside a repeat (its
    #: Dense ops and the op after them) runs in a ``fori_loop`` of 1 + zero trips, which XLA cannot
    #: inline (its fusion of straight-line layers would recompute shared terms across layers; a
    #: repeat's loop body is one block already) and which carries the packed state (``_packed``, as
    #: a repeat's loop does in every pass). Not reverse-differentiable: ``kernel_fn`` passes None.
    zero: Array | None = None
    #: A traced boolean whose value XLA cannot know when compiling, or None. When given (``kernel_fn``'s
    #: pair pass), each layer outside a repeat runs as ``lax.cond(opaque, layer, layer, state)``: both
    #: branches are the layer, so the result is the layer's whatever the flag, and the conditional keeps
    #: XLA from fusing consecutive layers into one loop that recomputes a layer's output for each use
    #: in the next (as ``zero``'s loop does for the tiled engine, but reverse-differentiable).
    opaque: Array | None = None
    #: Whether the ops run in a repeat's loop body (set by ``run``).
    in_repeat: bool = False


def _packed(k12: Array, theta: Array | None) -> Array | tuple[Array, None]:
    """The state a loop carries: K12 + i Theta as one complex array, or (K12, None) without Theta.

    XLA's CPU fusion emits one loop per array a layer writes and copies the terms the two share
    (the correlation, the angle) into each, so a layer that writes K12 and Theta apart computes
    the angle twice and moves both arrays through memory twice. Written as one complex array, a
    layer is one fused loop that computes each term once (``_unpacked`` reads it back). Every
    pass carries it so (the tiled engine, ``kernel_fn`` and its gradients, the diagonal pass).
    """
    return (k12, None) if theta is None else jax.lax.complex(k12, theta)


def _unpacked(state: Array | tuple[Array, None]) -> tuple[Array, Array | None]:
    """(K12, Theta) of a ``_packed`` state."""
    return state if isinstance(state, tuple) else (state.real, state.imag)


def run(ops: Sequence, params: Sequence, k12: Array, theta: Array | None, mode: Pass,
        start: Any = 0) -> tuple[Array, Array | None, list[Array]]:
    """Run ``ops`` from the state at position ``start``.

    Args:
        ops: the ops of a plan.
        params: their params.
        k12: the NNGP entries at the start.
        theta: the NTK entries at the start, or None when the NTK is not needed.
        mode: a ``Pass``: the diagonal pass (``variances`` None) or a pair pass.
        start: the position of the first op.

    Returns:
        (K12, Theta, the K recorded after every op in position order; empty unless ``mode`` is the
        diagonal pass).
    """
    diagonal = mode.variances is None
    recorded: list[Array] = []
    position = start
    index = 0
    while index < len(ops):
        op, param = ops[index], params[index]
        index += 1
        if isinstance(op, Repeat):
            size = positions(op.block)

            def body(carry, xs, block=op.block, size=size, base=position):
                param, repetition = xs
                k12, theta, inner = run(block, param, *_unpacked(carry), mode._replace(in_repeat=True),
                                        base + repetition * size)
                return _packed(k12, theta), (jnp.stack(inner) if diagonal else None)

            if not diagonal and mode.zero is None:
                # kernel_fn's pair pass: reverse mode stores each layer's carry and recomputes the
                # layer's intermediates from it, instead of storing them for every layer.
                body = jax.checkpoint(body)
            carry, stacked = jax.lax.scan(body, _packed(k12, theta),
                                          (param, jnp.arange(op.count)))
            k12, theta = _unpacked(carry)
            if diagonal:
                recorded.extend(stacked.reshape((op.count * size,) + stacked.shape[2:]))
            position = position + op.count * size
            continue
        if isinstance(op, Branch):
            own, block_params = param
            block_k12, block_theta, inner = run(op.block, block_params, k12, theta, mode, position)
            recorded.extend(inner)
            k12, theta = op.op.merge(own, k12, theta, block_k12, block_theta)
            position = position + positions(op.block) + 1
        elif (mode.zero is not None or mode.opaque is not None) and not mode.in_repeat:
            # One layer (its ops that join the next, a Dense's, and the op after them) per loop or
            # conditional, run as a repeat's body is.
            first = index - 1
            while op.joins_next and index < len(ops) and not isinstance(ops[index], (Repeat, Branch)):
                op = ops[index]
                index += 1

            def layer(_, state, layer_ops=ops[first:index], layer_params=params[first:index], base=position):
                k12, theta, _ = run(layer_ops, layer_params, *_unpacked(state), mode._replace(in_repeat=True), base)
                return _packed(k12, theta)

            if mode.zero is not None:
                state = jax.lax.fori_loop(0, 1 + mode.zero, layer, _packed(k12, theta))
            else:
                step = functools.partial(layer, 0)
                state = jax.lax.cond(mode.opaque, step, step, _packed(k12, theta))
            k12, theta = _unpacked(state)
            position = position + (index - first)
            continue
        else:
            k11, k22 = (k12, k12) if diagonal else mode.variances(position)
            k12, theta = op.update(param, k11, k12, k22, theta, diagonal)
            position = position + 1
        if diagonal:
            recorded.append(k12)
        elif mode.after is not None:
            k12 = mode.after(position, k12)
    return k12, theta, recorded


def column(variances: Array, position: Any) -> Array:
    """variances[:, position] as an (N, 1) array, for a static or traced position.

    Args:
        variances: per-point variances, shape (N, positions).
        position: the column.

    Returns:
        The column, shape (N, 1).
    """
    if isinstance(position, (int, np.integer)):
        return variances[:, position:position + 1]
    return jax.lax.dynamic_index_in_dim(variances, position, axis=1, keepdims=True)
