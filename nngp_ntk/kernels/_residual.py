"""The Residual layer: y = x + block(x), so K <- K + K_block and Theta <- Theta + Theta_block.

The kernels add when one of the two branches has zero mean over the random weights, so that
the cross terms vanish (neural-tangents 0.6.5 ``FanOut(2)`` / ``FanInSum()``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax

from nngp_ntk._checks import ArgumentValueError
from nngp_ntk.kernels import _pytrees

from nngp_ntk.kernels._layer import _OUTER_WIDTH, Layer, Signal, _zero_mean_output, check_layers

Array = jax.Array



@jax.tree_util.register_pytree_with_keys_class
class Residual(Layer):
    """y = x + block(x) (neural-tangents' ``FanOut(2)``, ``parallel(block, Identity())``,
    ``FanInSum()``): the kernels of the two branches add, K <- K + K_block, Theta <- Theta + Theta_block.

    The sum's kernel is the sum of the branches' kernels when the cross terms E[x block(x')]
    vanish, which holds when either branch has zero mean: the input is the output of a Dense (or
    LayerNorm), or the block ends with a Dense or with an odd activation of Gaussian
    pre-activations (Erf, Sin with c = 0, ...). A Residual where neither holds (ReLU features
    plus a block ending in ReLU) is refused, since its kernel is not the sum. The output is Gaussian
    when both branches are.

    Args:
        *layers: the block, one or more layers.

    Raises:
        ValueError: an empty block, or a layer that does not fit (named by position).
        TypeError: an element that is not a layer.

    Example:
        >>> import nngp_ntk as nk
        >>> block = nk.Residual(nk.activations.ReLU(), nk.Dense(W_std=0.5))
        >>> len(block.layers)
        2
    """

    def __init__(self, *layers: Any) -> None:
        self.layers = tuple(layers)
        check_layers(self.layers, gaussian=True, width=_OUTER_WIDTH, where="Residual")

    def __repr__(self) -> str:
        return f"Residual({', '.join(map(repr, self.layers))})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.layers == self.layers

    def __hash__(self) -> int:
        return hash((type(self), self.layers))

    def tree_flatten_with_keys(self) -> tuple[list, tuple]:
        return _pytrees.flatten_layers_with_keys(self.layers)

    @classmethod
    def tree_unflatten(cls, aux: tuple, children: Sequence) -> Residual:
        return cls.__new__(cls).with_sublayers(_pytrees.unflatten_layers(aux, children))

    @property
    def sublayers(self) -> tuple:
        """The block."""
        return self.layers

    def with_sublayers(self, layers: tuple) -> Residual:
        """A Residual of the block ``layers``, unchecked."""
        residual = object.__new__(type(self))
        residual.layers = tuple(layers)
        return residual

    def revalidated(self) -> Residual:
        """The Residual of its block's layers revalidated, checked again."""
        return Residual(*(layer.revalidated() for layer in self.layers))

    def check(self, signal: Signal, at: str) -> Signal:
        """The block must fit the input; x or block(x) must have zero mean; both must have one width.
        The output is Gaussian when both branches are.

        Raises:
            ValueError: a block layer that does not fit, neither branch of zero mean, or a block
                that changes the width.
        """
        block_gaussian, block_width = check_layers(self.layers, signal.gaussian, signal.width, f"{at} block")
        input_zero_mean = signal.zero_mean()
        if not (input_zero_mean or _zero_mean_output(self.layers, input_zero_mean)):
            raise ArgumentValueError(f"{at}: neither x nor block(x) has zero mean, so the kernel of x + block(x) "
                                     "is not the sum of theirs: end the block with a Dense (or an odd activation), "
                                     "or put a Dense before the Residual")
        width = signal.width
        if isinstance(width, int) and isinstance(block_width, int) and width != block_width:
            raise ArgumentValueError(f"{at}: the block maps width {width} to width {block_width}; "
                                     "x + block(x) needs equal widths")
        width = block_width if width is None or isinstance(width, str) and isinstance(block_width, int) else width
        return signal._replace(gaussian=signal.gaussian and block_gaussian, width=width)

    def zero_mean_after(self, zero_mean: bool) -> bool:
        """x + block(x) has zero mean when both do."""
        return zero_mean and _zero_mean_output(self.layers, zero_mean)

    @dataclasses.dataclass(frozen=True)
    class Op:
        """Residual's compiled step: the engine runs the compiled block on the input, then
        ``merge``: K12 <- K12 + K12_block, Theta12 <- Theta12 + Theta12_block (no params)."""

        joins_next = False

        def merge(self, params: None, k12: Array, theta: Array | None, block_k12: Array,
                  block_theta: Array | None) -> tuple[Array, Array | None]:
            """The sums of the class docstring."""
            return k12 + block_k12, None if theta is None else theta + block_theta

    def kernel_op(self, width: int | None, dtype: Any) -> tuple[Residual.Op, None, int | None]:
        """(``Residual.Op``, no params, the input width: x + block(x) keeps it)."""
        return Residual.Op(), None, width

    def finite_apply(self, a: Array, forward: Any) -> Array:
        """a + block(a)."""
        return a + forward.block(self.layers, a)
