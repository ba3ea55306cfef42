"""The LayerNorm layer: K <- K / sqrt((K11 + eps)(K22 + eps)), Theta likewise.

At finite width each point's features z map to (z - mean(z)) / sqrt(var(z) + eps)
(neural-tangents 0.6.5 ``stax.LayerNorm(axis=-1)``, no parameters).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nngp_ntk import _checks
from nngp_ntk.kernels import _pytrees

from nngp_ntk.kernels._layer import Layer, Signal

Array = jax.Array



@jax.tree_util.register_pytree_with_keys_class
@dataclasses.dataclass(frozen=True)
class LayerNorm(Layer):
    """Normalizes each point's features (neural-tangents' ``LayerNorm(axis=-1)`` on Gaussian inputs):

    K12 <- K12 / sqrt((K11 + eps)(K22 + eps)),   Theta12 <- Theta12 / sqrt((K11 + eps)(K22 + eps)).

    At finite width each point's features z become (z - mean(z)) / sqrt(var(z) + eps) (no parameters).

    Args:
        eps: added to the variances before the root (neural-tangents' default 1e-12); static,
            not a leaf of the pytree (it is not a hyperparameter to fit).

    Example:
        >>> import nngp_ntk as nk
        >>> nk.LayerNorm()
        LayerNorm(eps=1e-12)
    """

    eps: float = 1e-12

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", _checks.check_real("eps", self.eps, minimum=0.0))

    def tree_flatten_with_keys(self) -> tuple[tuple, float]:
        return (), self.eps

    @classmethod
    def tree_unflatten(cls, aux: float, children: Sequence) -> LayerNorm:
        return _pytrees.unchecked(cls, eps=aux)

    def check(self, signal: Signal, at: str) -> Signal:
        """LayerNorm needs and keeps Gaussian features.

        Raises:
            ValueError: its input is not Gaussian.
        """
        if not signal.gaussian:
            raise _checks.ArgumentValueError(
                f"{at}: LayerNorm needs Gaussian inputs (after a Dense), but its input "
                + ("is the network input" if not signal.dense_before else "follows an activation"))
        return signal

    def zero_mean_after(self, zero_mean: bool) -> bool:
        """Normalizing keeps zero mean."""
        return zero_mean

    @dataclasses.dataclass(frozen=True)
    class Op:
        """LayerNorm's compiled step; params eps (an argument: other eps reuse the compiled code):

            K12 <- K12 / sqrt((K11 + eps)(K22 + eps)),   Theta12 likewise,

        and on the diagonal pass K <- K / (K + eps), Theta likewise.
        """

        joins_next = False

        def update(self, params: Array, k11: Array, k12: Array, k22: Array, theta: Array | None,
                   diagonal: bool) -> tuple[Array, Array | None]:
            """The map of the class docstring; params = eps."""
            if diagonal:
                scale = 1 / (k12 + params)
            else:
                scale = jax.lax.rsqrt((k11 + params) * (k22 + params))
            return k12 * scale, None if theta is None else theta * scale

    def kernel_op(self, width: int | None, dtype: Any) -> tuple[LayerNorm.Op, np.ndarray, int | None]:
        """(``LayerNorm.Op``, eps in ``dtype``, the unchanged width)."""
        return LayerNorm.Op(), np.asarray(self.eps, dtype), width

    def finite_apply(self, a: Array, forward: Any) -> Array:
        """(z - mean(z)) / sqrt(var(z) + eps) over each point's features."""
        centered = a - jnp.mean(a, axis=-1, keepdims=True)
        return centered * jax.lax.rsqrt(jnp.mean(centered * centered, axis=-1, keepdims=True) + self.eps)
