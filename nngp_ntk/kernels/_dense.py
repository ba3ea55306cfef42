"""The Dense layer: K <- W_std^2 K + b_std^2, Theta <- K_new + W_std^2 Theta (ntk parameterization).

A Dense of n_in inputs computes z = s a W + c b at finite width (ntk: W, b ~ N(0, 1),
s = W_std / sqrt(n_in), c = b_std; standard: W ~ N(0, W_std^2 / n_in), b ~ N(0, b_std^2)); its kernels

    ntk:       K <- W^2 K + b^2,   Theta <- K_new + W^2 Theta
    standard:  K <- W^2 K + b^2,   Theta <- n_in K + [b present] + W^2 Theta

(neural-tangents 0.6.5 ``stax.Dense``; ``b_std=None``: no bias parameter).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nngp_ntk import _checks
from nngp_ntk.kernels import _pytrees

from nngp_ntk.kernels._layer import Layer, Signal

Array = jax.Array
PARAMETERIZATIONS = ("ntk", "standard")
_HIGHEST = jax.lax.Precision.HIGHEST


def _square(value: Any, dtype: np.dtype) -> Array | np.ndarray:
    """value^2 in ``dtype``: squared in float64 and rounded once for concrete values (rounding the
    std first drifted float32 kernels by 1e-7 a layer), traced values squared as they are.
    Concrete params stay NumPy arrays (JAX arrays would compile an op for each conversion)."""
    if value is None:
        return np.zeros((), dtype)
    if _checks.is_concrete(value):
        return np.asarray(np.square(np.float64(value)), dtype)
    return jnp.square(jnp.asarray(value, dtype))


def _pair(a1: Array, a2: Array) -> Array:
    """a1 . a2^T at full precision: (N1, n) x (N2, n) -> (N1, N2)."""
    return jnp.matmul(a1, a2.T, precision=_HIGHEST)


class DenseParams(NamedTuple):
    """A Dense layer's finite-width parameters: ``weight`` (fan_in, fan_out), ``bias`` (fan_out,)."""

    weight: Array
    bias: Array


@jax.tree_util.register_pytree_with_keys_class
@dataclasses.dataclass(frozen=True)
class Dense(Layer):
    """A fully-connected layer, z = W a / sqrt(n_in) + b in neural-tangents' parameterizations:

    K <- W_std^2 K + b_std^2;  Theta <- K_new + W_std^2 Theta (ntk)
                                or n_in K + 1 + W_std^2 Theta (standard; no +1 when b_std is None).

    At finite width, with a of n_in units (``finite``)::

        z = s a W + c b,     ntk:       W, b ~ N(0, 1),                      s = W_std / sqrt(n_in),  c = b_std
                             standard:  W ~ N(0, W_std^2 / n_in), b ~ N(0, b_std^2),   s = 1,  c = 1

    (c = 0 when b_std is None).

    Args:
        W_std: weight standard deviation (>= 0).
        b_std: bias standard deviation (>= 0), or None for no bias parameter. In the standard
            parameterization a bias of std 0 still trains and adds 1 to the NTK; None does not.
        parameterization: "ntk" or "standard".
        width: this layer's output width (neural-tangents' ``Dense(out_dim)``); the standard
            parameterization of the next Dense scales its NTK by it, so it is needed there.

    Raises:
        ValueError: negative or non-finite stds, an unknown parameterization, a width < 1.

    Example:
        >>> import nngp_ntk as nk
        >>> nk.Dense(W_std=1.5, b_std=None)
        Dense(W_std=1.5, b_std=None, parameterization='ntk', width=None)
    """

    W_std: float = 1.0
    b_std: float | None = 0.0
    parameterization: str = "ntk"
    width: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "W_std", _checks.check_real("W_std", self.W_std, minimum=0.0))
        object.__setattr__(self, "b_std", _checks.check_real("b_std", self.b_std, minimum=0.0, allow_none=True))
        _checks.check_choice("parameterization", self.parameterization, PARAMETERIZATIONS)
        object.__setattr__(self, "width", _checks.check_integer("width", self.width, minimum=1, allow_none=True))

    def tree_flatten_with_keys(self) -> tuple[tuple, tuple]:
        return (((_pytrees.key("W_std"), self.W_std), (_pytrees.key("b_std"), self.b_std)),
                (self.parameterization, self.width))

    @classmethod
    def tree_unflatten(cls, aux: tuple, children: Sequence) -> Dense:
        return _pytrees.unchecked(cls, W_std=children[0], b_std=children[1], parameterization=aux[0], width=aux[1])

    # Validation

    def check(self, signal: Signal, at: str) -> Signal:
        """A Dense makes its output Gaussian, of its ``width``.

        Raises:
            ValueError: the standard parameterization after a Dense of unknown width.
        """
        if self.parameterization == "standard" and signal.width is None:
            raise _checks.ArgumentValueError(f"{at}: the standard parameterization scales the NTK by the input width, "
                                             "but the previous Dense has width=None: give it width=n")
        return signal._replace(gaussian=True, width=self.width, dense_before=True)

    def zero_mean_after(self, zero_mean: bool) -> bool:
        """A Dense's output has zero mean (its weights do)."""
        return True

    # The compiled kernel passes

    @dataclasses.dataclass(frozen=True)
    class Op:
        """Dense's compiled step; params (W_std^2, b_std^2)::

            K12 <- W^2 K12 + b^2,   Theta12 <- K12_new + W^2 Theta12                   (ntk)
                                    Theta12 <- n_in K12 + [bias] + W^2 Theta12          (standard)

        the same on the diagonal pass.
        """

        parameterization: str
        #: Whether the layer has a bias parameter (b_std not None): the standard NTK adds 1.
        bias: bool
        #: n_in for the standard parameterization, else None.
        fan_in: float | None
        #: XLA fuses the affine map into the layer after it: both run in one loop.
        joins_next = True

        def update(self, params: tuple, k11: Array, k12: Array, k22: Array, theta: Array | None,
                   diagonal: bool) -> tuple[Array, Array | None]:
            """The map of the class docstring; params = (W_std^2, b_std^2)."""
            w2, b2 = params
            new = w2 * k12 + b2
            if theta is not None:
                added = new if self.parameterization == "ntk" else self.fan_in * k12 + (1.0 if self.bias else 0.0)
                theta = added + w2 * theta
            return new, theta

    def kernel_op(self, width: int | None, dtype: Any) -> tuple[Dense.Op, tuple, int | None]:
        """(``Dense.Op``, (W_std^2, b_std^2) squared in float64 and rounded once to ``dtype``, its width)."""
        fan_in = float(width) if self.parameterization == "standard" else None
        return (Dense.Op(self.parameterization, self.b_std is not None, fan_in),
                (_square(self.W_std, dtype), _square(self.b_std, dtype)), self.width)

    # Finite width

    def _finite_scales(self, fan_in: int) -> tuple[Any, Any, Any, Any]:
        """(s, c, init std of W, init std of b) with ``fan_in`` inputs (class docstring)."""
        bias = 0.0 if self.b_std is None else self.b_std
        if self.parameterization == "ntk":
            return self.W_std / math.sqrt(fan_in), bias, 1.0, 1.0
        return 1.0, 0.0 if self.b_std is None else 1.0, self.W_std / math.sqrt(fan_in), bias

    def finite_units(self, units: int, width: int, out_dim: int, readout: bool) -> int:
        """``out_dim`` units for the readout (the network's last layer), else ``width``."""
        return out_dim if readout else width

    def finite_shapes(self, fan_in: int, fan_out: int) -> tuple[tuple[int, ...], ...]:
        """W (fan_in, fan_out) and b (fan_out,)."""
        return (fan_in, fan_out), (fan_out,)

    def finite_init(self, normals: Sequence[Array]) -> DenseParams:
        """ntk: W, b ~ N(0, 1); standard: W ~ N(0, W_std^2 / fan_in), b ~ N(0, b_std^2)."""
        _, _, w_init, b_init = self._finite_scales(normals[0].shape[0])
        return DenseParams(w_init * normals[0], b_init * normals[1])

    def finite_check(self, entry: Any, fan_in: int) -> tuple[DenseParams, int]:
        """``DenseParams(weight (fan_in, fan_out), bias (fan_out,))`` and fan_out.

        Raises:
            ValueError: not a (weight, bias) pair, or shapes that do not fit.
        """
        if not isinstance(entry, (tuple, list)) or len(entry) != 2:
            raise _checks.ArgumentValueError("is not a (weight, bias) pair, as init_params gives for a Dense")
        weight, bias = (jnp.asarray(a) for a in entry)
        if weight.ndim != 2 or weight.shape[0] != fan_in or bias.shape != (weight.shape[1],):
            raise _checks.ArgumentValueError(f"has weight {weight.shape} and bias {bias.shape}; "
                                             f"expected weight ({fan_in}, fan_out) and bias (fan_out,)")
        return DenseParams(weight, bias), weight.shape[1]

    def finite_apply(self, a: Array, forward: Any) -> Array:
        """z = s a W + c b (class docstring); records a and (s, c)."""
        weight, bias = forward.parameters()
        s, c, _, _ = self._finite_scales(weight.shape[0])
        return forward.output(a, (s, c), s * jnp.matmul(a, weight, precision=_HIGHEST) + c * bias)

    def finite_tangent(self, a1: Array, a2: Array, record: tuple) -> Array:
        """sum over W and b of dz_k(x)/dtheta dz_k(x')/dtheta = s^2 a(x) . a(x') + c^2."""
        s, c = record
        return s**2 * _pair(a1, a2) + c**2

    def finite_nngp(self, features1: Array, features2: Array) -> Array:
        """W_std^2 F(x) . F(x') / n + b_std^2, F its input of n units."""
        bias = 0.0 if self.b_std is None else self.b_std
        return self.W_std ** 2 * _pair(features1, features2) / features1.shape[1] + bias ** 2

    # Random features

    @property
    def draws_units(self) -> bool:
        """An NTK-parameterized Dense draws new units (the random-feature models use that parameterization)."""
        return self.parameterization == "ntk"

    def readout_columns(self, inputs: np.ndarray) -> np.ndarray:
        """Phi = [W_std F / sqrt(n), b_std] from its inputs F, shape (N, n): the bias column only when
        b_std > 0 (``random_features.random_features``); Phi Phi^T = W_std^2 F F^T / n + b_std^2.

        Example:
            >>> Dense(W_std=2.0, b_std=0.5).readout_columns(np.ones((2, 4))).tolist()
            [[1.0, 1.0, 1.0, 1.0, 0.5], [1.0, 1.0, 1.0, 1.0, 0.5]]
        """
        columns = [float(self.W_std) * inputs / np.sqrt(inputs.shape[1])]
        if self.b_std is not None and float(self.b_std) > 0:
            columns.append(np.full((len(inputs), 1), float(self.b_std)))
        return np.hstack(columns)
