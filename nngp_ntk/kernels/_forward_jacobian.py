"""``kernel_fn``'s derivative rule: forward-mode Jacobian columns for a few scalar hyperparameters.

A kernel K(theta) of N1 x N2 entries depends on a handful of scalar hyperparameters theta_k (W_std,
b_std, an activation's parameters). Reverse mode (``jax.grad``) through the layer recursion stores
or recomputes every layer's intermediates and runs the transposed recursion after them; forward mode
carries one tangent per hyperparameter beside the state, in the same loop. So when only a few
scalar hyperparameters are perturbed (and not the inputs), the rule computes the Jacobian columns

    J_k = dK / dtheta_k,        by ``jax.jvp`` along each unit direction e_k (batched by ``vmap``)

from the primals, and returns the tangent dK = sum_k J_k dtheta_k. That tangent is linear in
dtheta with J as a stored residual, so reverse mode transposes it to the contraction
dL/dtheta_k = sum_ij (dL/dK)_ij (J_k)_ij: a gradient costs one forward-mode pass with k tangents,
and stores k kernels of J. With more perturbed scalars than ``MAX_FORWARD_SCALARS``, or perturbed
inputs (input gradients), the rule is the plain JVP of the recursion, transposed as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from nngp_ntk import _checks

#: Most perturbed scalar hyperparameters whose Jacobian columns are taken in forward mode; each
#: costs a tangent in the pass and one stored kernel per output (see the module docstring).
MAX_FORWARD_SCALARS = 3

Kernels = tuple[jax.Array, ...]


def with_forward_jacobian(kernels: Callable[[Sequence, jax.Array, jax.Array | None], Kernels],
                          leaves: Sequence, x1: jax.Array, x2: jax.Array | None) -> Kernels:
    """``kernels(leaves, x1, x2)``, differentiated by the rule of the module docstring.

    Concrete leaves (Python or NumPy numbers) are passed to ``kernels`` as they are: only traced
    leaves (tracers of jit, vmap or grad) go through the rule.

    Args:
        kernels: the kernel function of the hyperparameter leaves and the inputs; a pure JAX function
            returning a tuple of arrays.
        leaves: the network's hyperparameter leaves, concrete numbers or tracers.
        x1: inputs (N1, d).
        x2: inputs (N2, d), or None.

    Returns:
        ``kernels(leaves, x1, x2)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> f = lambda leaves, x1, x2: (leaves[0] ** 2 * x1 @ x1.T,)
        >>> x = jnp.ones((2, 3))
        >>> float(jax.grad(lambda w: with_forward_jacobian(f, [w], x, None)[0].sum())(2.0))   # 2 w * 12
        48.0
    """
    # One argument per distinct tracer: FullyConnected repeats its W_std in every Dense layer.
    distinct = {id(leaf): leaf for leaf in leaves if not _checks.is_concrete(leaf)}
    traced = list(distinct.values())
    inputs = [x1] if x2 is None else [x1, x2]
    if not traced and all(_checks.is_concrete(x) for x in inputs):
        return kernels(list(leaves), x1, x2)     # nothing to differentiate
    position = {key: i for i, key in enumerate(distinct)}

    def plain(*arguments: Any) -> Kernels:
        """``kernels`` of the traced leaves and the inputs, flat: (*distinct tracers, x1[, x2])."""
        full = [arguments[position[id(leaf)]] if id(leaf) in position else leaf for leaf in leaves]
        rest = arguments[len(traced):]
        return kernels(full, rest[0], rest[1] if len(rest) > 1 else None)

    function = jax.custom_jvp(plain)

    def rule(primals: tuple, tangents: tuple) -> tuple[Kernels, Kernels]:
        moving = [i for i, t in enumerate(tangents) if not isinstance(t, SymbolicZero)]
        scalars = sum(int(np.size(primals[i])) for i in moving)

        def of_moving(*values: jax.Array) -> Kernels:
            arguments = list(primals)
            for i, value in zip(moving, values, strict=True):
                arguments[i] = value
            return plain(*arguments)

        moving_primals = tuple(primals[i] for i in moving)
        if any(i >= len(traced) for i in moving) or scalars > MAX_FORWARD_SCALARS:
            return jax.jvp(of_moving, moving_primals, tuple(tangents[i] for i in moving))
        dtype = jnp.result_type(*moving_primals)
        offsets = np.cumsum([int(np.size(p)) for p in moving_primals])[:-1]

        def along(direction: jax.Array) -> tuple[Kernels, Kernels]:
            parts = jnp.split(direction, offsets)
            return jax.jvp(of_moving, moving_primals,
                           tuple(part.reshape(jnp.shape(p)).astype(jnp.result_type(p))
                                 for part, p in zip(parts, moving_primals, strict=True)))

        outputs, columns = jax.vmap(along, out_axes=(None, 0))(jnp.eye(scalars, dtype=dtype))
        dtheta = jnp.concatenate([jnp.ravel(tangents[i]) for i in moving])
        return outputs, tuple(jnp.tensordot(dtheta.astype(c.dtype), c, axes=1) for c in columns)

    function.defjvp(rule, symbolic_zeros=True)
    return function(*traced, *inputs)
