"""The fully-connected preset: ``FullyConnected(depth, phi)`` is ``[Dense, phi] * depth + [Dense]``.

``depth`` hidden layers of a Dense and the activation phi, then a Dense readout, with one W_std and
b_std for every Dense or a sequence of depth + 1 of them (the last the readout's). With G = x . x'
and d the input dimension its kernels are (neural-tangents 0.6.5 conventions)

    K^0 = W_0^2 G / d + b_0^2,                 Theta^0 = K^0  (ntk)   or  G + 1  (standard)
    K^l = W_l^2 E[phi(u) phi(v)] + b_l^2,      (u, v) ~ N(0, [[K^{l-1}_11, K^{l-1}_12], [., K^{l-1}_22]])
    Theta^l = A^l + W_l^2 E[phi'(u) phi'(v)] Theta^{l-1},
    A^l = K^l (ntk)   or   width E[phi(u) phi(v)] + 1 (standard)

for l = 1 .. depth, the network's kernels being those of the readout (l = depth). It is the
``Sequential`` of those layers (``FullyConnected.layers()``), and computes its kernels with the
methods every network shares (``kernel``, ``diagonal``, ``kernel_fn``: ``nngp_ntk.kernels._network``).
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from nngp_ntk import _checks
from nngp_ntk.kernels import _pytrees
from nngp_ntk.activations import Activation, get_activation
from nngp_ntk.activations._base import static_or_tree
from nngp_ntk.kernels._network import BaseNetwork, Sequential
from nngp_ntk.kernels._dense import PARAMETERIZATIONS, Dense

__all__ = ["FullyConnected"]


class _Spec(NamedTuple):
    """FullyConnected's arguments in normal form (``FullyConnected.spec``)."""

    depth: int
    activation: Activation
    W_std: tuple[float, ...]
    b_std: tuple[float, ...]
    parameterization: str
    width: float


def _per_layer(name: str, value: Any, depth: int) -> tuple:
    """A scalar or a sequence of length depth + 1, as a tuple of non-negative numbers (tracers kept)."""
    if isinstance(value, (str, bytes)):
        raise _checks.ArgumentTypeError(f"{name} must be a number or a sequence of numbers, got {type(value).__name__}")
    if isinstance(value, (Sequence, np.ndarray)) or (hasattr(value, "ndim") and value.ndim == 1):
        values = tuple(value[i] for i in range(len(value))) if not isinstance(value, np.ndarray) \
            else tuple(value.reshape(-1).tolist())
        if len(values) != depth + 1:
            raise _checks.ArgumentValueError(f"{name} must be a number or a sequence of depth + 1 = {depth + 1} "
                                             f"per-layer values, got {len(values)} values")
    else:
        values = (value,) * (depth + 1)
    return tuple(_checks.check_real(name, v, minimum=0.0) for v in values)


@jax.tree_util.register_pytree_with_keys_class
@dataclasses.dataclass
class FullyConnected(BaseNetwork):
    """An infinitely wide fully-connected network: ``depth`` hidden [Dense, activation] layers and a Dense readout.

    That is ``Sequential(*[Dense, activation] * depth, Dense)`` (see ``layers()``), with the
    recursion in the docstring of ``nngp_ntk.kernels._fully_connected``.

    Args:
        depth: number of hidden layers (0: a linear model).
        activation: a name in ``nngp_ntk.activations.ACTIVATIONS`` or an ``Activation`` instance.
        W_std: weight standard deviation, a scalar or a per-layer sequence of length depth + 1 (the
            last is the readout's).
        b_std: bias standard deviation, likewise.
        parameterization: "ntk" (default) or "standard" (then ``width`` is the hidden width n).
        width: hidden width for the standard parameterization's NTK.
        tile_size: rows and columns of an output tile (default: chosen for the activation).

    Raises:
        ValueError: a negative depth, an unknown activation or parameterization, per-layer sequences
            of the wrong length, negative or non-finite standard deviations, or "standard" without
            ``width``.

    Example:
        >>> net = FullyConnected(depth=3, activation="relu", W_std=1.5, b_std=0.1)
        >>> x = np.array([[1.0, 0.0], [0.6, 0.8]], np.float32)
        >>> k = net.kernel(x)
        >>> k.ntk.shape, bool(np.allclose(k.nngp, k.nngp.T))
        ((2, 2), True)
        >>> [type(layer).__name__ for layer in net.layers()]
        ['Dense', 'ReLU', 'Dense', 'ReLU', 'Dense', 'ReLU', 'Dense']
    """

    depth: int = 1
    activation: str | Activation = "relu"
    W_std: float | Sequence[float] = 1.0
    b_std: float | Sequence[float] = 0.0
    parameterization: str = "ntk"
    width: int | None = None
    tile_size: int | None = None

    def __post_init__(self) -> None:
        self.sequence()

    def get_params(self, deep: bool = True) -> dict:
        """The constructor arguments (scikit-learn convention, so estimators can tune them).

        Args:
            deep: unused (scikit-learn's signature).

        Returns:
            A dict from argument names to values.
        """
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def set_params(self, **params) -> FullyConnected:
        """Set constructor arguments in place and validate them (scikit-learn convention).

        Args:
            **params: constructor arguments.

        Returns:
            self.

        Raises:
            ValueError: an unknown argument; the arguments are restored when the new ones are invalid.
        """
        valid = self.get_params()
        for key in params:
            if key not in valid:
                raise _checks.ArgumentValueError(
                    f"invalid parameter {key!r} for FullyConnected; valid: {sorted(valid)}")
        previous = dict(valid)
        for key, value in params.items():
            setattr(self, key, value)
        try:
            self.sequence()
        except (TypeError, ValueError):
            for key, value in previous.items():
                setattr(self, key, value)
            raise
        return self

    def sequence(self) -> tuple:
        """Validate the arguments and return the layers ``[Dense, activation] * depth + [Dense]``.

        Returns:
            The layers, a tuple.

        Raises:
            ValueError: invalid arguments (see the class).
        """
        depth = self.depth
        if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
            raise _checks.ArgumentValueError(f"depth must be an integer >= 0, got {depth!r}")
        depth = int(depth)
        _checks.check_choice("parameterization", self.parameterization, PARAMETERIZATIONS)
        width = self.width
        if self.parameterization == "standard":
            if width is None:
                raise _checks.ArgumentValueError("parameterization='standard' needs width=n, the hidden layer width")
        if width is not None and (isinstance(width, bool) or not isinstance(width, numbers.Real) or not width > 0):
            raise _checks.ArgumentValueError(
                f"width must be a positive number{' or None' if self.parameterization == 'ntk' else ''}, "
                f"got {width!r}")
        if self.tile_size is not None and (isinstance(self.tile_size, bool)
                                           or not isinstance(self.tile_size, (int, np.integer))
                                           or self.tile_size < 1):
            raise _checks.ArgumentValueError(f"tile_size must be a positive integer or None, got {self.tile_size!r}")
        activation = get_activation(self.activation)
        w_std = _per_layer("W_std", self.W_std, depth)
        b_std = _per_layer("b_std", self.b_std, depth)
        layers = []
        for layer in range(depth + 1):
            hidden = width if layer < depth else None
            layers.append(_dense(w_std[layer], b_std[layer], self.parameterization, hidden))
            if layer < depth:
                layers.append(activation)
        return tuple(layers)

    def spec(self) -> _Spec:
        """The validated arguments in normal form (per-layer W_std and b_std tuples).

        Returns:
            A hashable named tuple (depth, activation, W_std, b_std, parameterization, width).
        """
        dense = self.sequence()[::2]      # [Dense, activation] * depth + [Dense]
        return _Spec(int(self.depth), get_activation(self.activation), tuple(layer.W_std for layer in dense),
                     tuple(layer.b_std for layer in dense), self.parameterization,
                     0.0 if self.width is None else float(self.width))

    def layers(self) -> Sequential:
        """The ``Sequential`` this network stands for.

        Returns:
            ``Sequential(*self.sequence())``.
        """
        return Sequential(*self.sequence())

    def tree_flatten_with_keys(self) -> tuple[tuple, tuple]:
        activation = get_activation(self.activation)
        _, static = static_or_tree(activation)
        child = activation if static[0] == "tree" else None
        return (((_pytrees.key("W_std"), self.W_std), (_pytrees.key("b_std"), self.b_std),
                 (_pytrees.key("activation"), child)),
                (self.depth, static, self.parameterization, self.width, self.tile_size))

    @classmethod
    def tree_unflatten(cls, aux: tuple, children: Sequence) -> FullyConnected:
        depth, static, parameterization, width, tile_size = aux
        network = object.__new__(cls)
        network.depth, network.parameterization, network.width, network.tile_size = depth, parameterization, width, tile_size
        network.W_std, network.b_std = children[0], children[1]
        network.activation = children[2] if static[0] == "tree" else static[1]
        return network


def _dense(w_std: Any, b_std: Any, parameterization: str, width: Any) -> Dense:
    """A Dense of FullyConnected (width may be a float there: it only scales the standard NTK)."""
    layer = _pytrees.unchecked(Dense, W_std=w_std, b_std=b_std, parameterization=parameterization, width=width)
    return layer
