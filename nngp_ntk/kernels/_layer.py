"""The layer algebra: layers acting on the kernels of a network's current pre-activations.

The state between two sets of points is (K11, K12, K22, Theta12): the per-point variances K(x, x),
K(x', x'), the NNGP K(x, x') and the NTK Theta(x, x'), plus (statically) whether the current
features are Gaussian and their width. With d the input dimension it starts at

    input:      K = x . x' / d,   Theta = 0,   not Gaussian,   width d

and every layer maps it (neural-tangents 0.6.5 conventions: ``stax.Dense``, the elementwise
layers, ``LayerNorm(axis=-1)``, ``FanOut(2)`` / ``FanInSum()``):

    Dense (ntk):       K <- W^2 K + b^2,         Theta <- K_new + W^2 Theta
    Dense (standard):  K <- W^2 K + b^2,         Theta <- n_in K + [b present] + W^2 Theta
    phi:               K <- E[phi(u) phi(v)],    Theta <- E[phi'(u) phi'(v)] Theta
    LayerNorm:         K <- K / sqrt((K11 + eps)(K22 + eps)),   Theta likewise
    Residual(block):   K <- K + K_block,         Theta <- Theta + Theta_block

with (u, v) ~ N(0, [[K11, K12], [K12, K22]]), n_in the width of the Dense's input (d for the
first) and ``b_std=None`` a Dense without bias (b = 0, and no +1 in the standard NTK). A Dense
makes the features Gaussian; an activation needs Gaussian input and its output is not Gaussian
(``Identity`` excepted); LayerNorm needs and keeps Gaussian features; a Residual needs one of its
branches to have zero mean, so that the cross terms vanish and the kernels add (``FanInSum``).

Each layer type owns its maps: ``Layer`` lists the methods (its kernel update for the compiled
passes of ``nngp_ntk.kernels._programs``, its finite-width parameters and forward map for
``nngp_ntk.finite``, its part in the random-feature models of ``nngp_ntk.finite._random_features``), and
the engine, the finite networks and the random features call them; the activations'
(``nngp_ntk.activations.Activation``) are written once, in their base class.

The layers are pytrees (W_std and b_std are leaves), so networks built from them can be
differentiated and vmapped over.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from nngp_ntk._checks import ArgumentTypeError, ArgumentValueError
from nngp_ntk.activations import Activation
from nngp_ntk.activations._base import PytreeOp


Array = jax.Array


class Signal(NamedTuple):
    """What ``check_layers`` knows about the features between two layers."""

    #: Whether they are jointly Gaussian over the random weights (after a Dense).
    gaussian: bool
    #: Their width: an integer, None (unknown), or ``INPUT_WIDTH`` for the network input.
    width: int | str | None
    #: Whether a Dense comes before them (they are not the network input).
    dense_before: bool
    #: () -> whether they have zero mean over the random weights (a function, evaluated only when
    #: a layer asks: for an activation it integrates phi).
    zero_mean: Callable[[], bool]


class Layer(abc.ABC):
    """The methods a layer implements: each layer type carries all of its maps.

    Every ``nngp_ntk.activations.Activation`` is a layer too (registered as one; its methods are
    written once in that base class). A new layer type subclasses ``Layer`` and implements
    ``check``, ``kernel_map`` (or ``kernel_op``) and ``finite_apply``; the other methods have
    defaults for a layer without parameters or sublayers that keeps the number of units.
    Register it as a JAX pytree (e.g. a frozen dataclass with ``jax.tree_util.register_dataclass``)
    for its numbers to be leaves that ``kernel_fn`` can differentiate; an unregistered layer is
    static (hashable) data. See the docs' "Write your own layer".

    The methods by use:

    * validation (``check_layers``): ``check``, ``zero_mean_after``, ``sublayers``,
      ``with_sublayers``, ``revalidated``;
    * the compiled kernel passes (``nngp_ntk.kernels._programs``): ``kernel_op`` and its op's ``update``
      (or ``merge`` for a layer with sublayers), by default ``kernel_map``; ``uses_quadrature``
      and ``resolve`` before them;
    * finite width (``nngp_ntk.finite``): ``finite_units``, ``finite_shapes``, ``finite_init``,
      ``finite_check``, ``finite_apply``, ``finite_tangent``, ``finite_nngp``;
    * random features (``nngp_ntk.finite._random_features``, ``nngp_ntk.finite._controls``):
      ``draws_units``, ``unitwise``, ``readout_columns``.
    """

    #: True when the kernel map uses quadrature; the tiling then uses smaller tiles.
    uses_quadrature: bool = False
    #: The layers this layer runs on its input (a Residual's block); () for most layers.
    sublayers: tuple = ()
    #: Whether it draws new units, independent given its input, whose ``readout_columns`` it gives
    #: (an NTK-parameterized Dense): a random-feature model starts a hidden layer with it.
    draws_units: bool = False
    #: Whether it acts on each unit alone, without parameters (an activation): a random-feature
    #: model keeps it in the hidden layer of the Dense before it.
    unitwise: bool = False

    # --- Validation -----------------------------------------------------------------------------------

    @abc.abstractmethod
    def check(self, signal: Signal, at: str) -> Signal:
        """The features after this layer, or an error when it does not fit the features before it.

        Args:
            signal: what is known of the features before it.
            at: how errors name the layer ("Sequential layer 3 (Dense)").

        Returns:
            What is known after it (``zero_mean`` is set by ``check_layers`` from ``zero_mean_after``).

        Raises:
            ValueError: a layer that does not fit, its message starting with ``at``.
        """

    def zero_mean_after(self, zero_mean: bool) -> bool:
        """Whether the features after this layer have zero mean over the random weights, given
        whether the features before it have (default: False, which is always safe: it only makes
        ``Residual`` refuse more).

        Args:
            zero_mean: whether the input has zero mean.

        Returns:
            Whether the output has.
        """
        return False

    def with_sublayers(self, layers: tuple) -> Layer:
        """This layer with its ``sublayers`` replaced, without checks (for layers with sublayers).

        Raises:
            TypeError: the layer has no sublayers.
        """
        raise ArgumentTypeError(f"{type(self).__name__} has no sublayers to replace")

    def revalidated(self) -> Layer:
        """This layer rebuilt through its constructor, so that its checks run on values that pytree
        unflattening (which skips them) put there (default: a dataclass is replaced by a copy of itself).

        Example:
            >>> import nngp_ntk as nk
            >>> nk.Dense(W_std=1.5).revalidated().W_std
            1.5
        """
        return dataclasses.replace(self) if dataclasses.is_dataclass(self) else self

    def resolve(self, max_variance: float, dtype: Any = None) -> Layer:
        """This layer ready for inputs of variance up to ``max_variance`` (default: itself; an
        activation fixes a quadrature degree or refuses a variance it overflows at)."""
        return self

    # --- Infinite width: the compiled kernel passes ------------------------------------------------

    def kernel_op(self, width: int | None, dtype: Any) -> tuple[Any, Any, int | None]:
        """The layer's step of a compiled program (``nngp_ntk.kernels._programs.plan``).

        The op is hashable static data (equal ops compile to the same code, and runs of equal ops
        fold into loops) with

        * ``update(params, k11, k12, k22, theta, diagonal) -> (k12, theta)``: the layer's map of
          (K12, Theta12) given the input variances K11 (rows) and K22 (columns); in the diagonal
          pass (``diagonal``) k11 = k22 = k12 = K(x, x) and it maps K(x, x) and Theta(x, x).
          ``theta`` None: the NTK is not computed (return None for it);
        * ``joins_next``: whether the engine runs it in one loop with the op after it (a Dense: a
          cheap affine map that XLA fuses into the next layer);
        * for a layer with ``sublayers``, ``merge(params, k12, theta, block_k12, block_theta)``
          instead of ``update``: the engine runs the compiled sublayers on the layer's input and
          merges their output with the input.

        The params are arrays (or tracers), the op's numbers: they are arguments of the compiled
        code, so other values reuse it, and a loop stacks them along a leading axis.

        The default is a ``PytreeOp``: the static part is the layer's pytree structure, the params
        its leaves, and ``update`` rebuilds the layer from them and calls ``kernel_map``.

        Args:
            width: the input width (None: unknown), for layers whose map depends on it.
            dtype: the compute dtype of the params.

        Returns:
            (op, params, the output width; None when unknown, for a layer with sublayers: its block's).
        """
        op, params = PytreeOp.of(self, dtype)
        return op, params, width

    def kernel_map(self, k11: Array, k12: Array, k22: Array, theta: Array | None,
                   diagonal: bool) -> tuple[Array, Array | None]:
        """The layer's map of (K12, Theta12) given the input variances, as the default ``kernel_op``
        runs it (see there). A layer overrides this or ``kernel_op``.

        Args:
            k11: the variances of the rows' points, e.g. shape (B, 1).
            k12: the NNGP entries, e.g. shape (B, B').
            k22: the variances of the columns' points, e.g. shape (1, B').
            theta: the NTK entries, or None.
            diagonal: whether this is the diagonal pass (k11 = k22 = k12 = K(x, x)).

        Returns:
            (K12, Theta12) after the layer (Theta None when ``theta`` is None).

        Raises:
            NotImplementedError: the layer overrides neither this nor ``kernel_op``.
        """
        raise NotImplementedError(f"{type(self).__name__} implements neither kernel_map nor kernel_op")

    # --- Finite width ----------------------------------------------------------------------------------

    def finite_units(self, units: int, width: int, out_dim: int, readout: bool) -> int:
        """The number of units after this layer in a finite network (default: ``units``).

        Args:
            units: the units of its input.
            width: the network's hidden width.
            out_dim: the network's output width.
            readout: whether it is the network's last layer.

        Returns:
            Its output units.
        """
        return units

    def finite_shapes(self, fan_in: int, fan_out: int) -> tuple[tuple[int, ...], ...]:
        """The shapes of the N(0, 1) arrays its parameters are drawn from, given its input and
        output units (``finite_units``); () for a layer without parameters (the default).

        A layer with parameters has one entry in the params of ``finite.init_params`` (in order
        of application; a layer's own before its sublayers'), built by ``finite_init``, checked
        by ``finite_check``, used by ``finite_apply``, and adds ``finite_tangent`` terms to the NTK.
        """
        return ()

    def finite_init(self, normals: Sequence[Array]) -> Any:
        """Its parameter entry from N(0, 1) arrays of ``finite_shapes``' shapes (layers with parameters).

        Raises:
            NotImplementedError: a layer without parameters.
        """
        raise NotImplementedError(f"{type(self).__name__} has no parameters")

    def finite_check(self, entry: Any, fan_in: int) -> tuple[Any, int]:
        """(its parameter entry, checked and normalized, its output units) for input units
        ``fan_in`` (layers with parameters; static checks only, so it works under tracing).

        Raises:
            ValueError: an entry that does not fit (its message follows ``params[i]``).
            NotImplementedError: a layer without parameters.
        """
        raise NotImplementedError(f"{type(self).__name__} has no parameters")

    @abc.abstractmethod
    def finite_apply(self, a: Array, forward: Any) -> Array:
        """The layer's output in a finite network for input a of shape (N, units).

        A layer with parameters takes its entry by ``forward.parameters()`` and returns
        ``forward.output(a, record, z)``: its input and what ``finite_tangent`` needs are recorded,
        and z is its output (with the perturbation the empirical NTK differentiates by added).
        A layer with sublayers runs them by ``forward.block(layers, a)``.

        Args:
            a: the input, shape (N, units).
            forward: the forward pass (``finite._Forward``).

        Returns:
            The output, shape (N, units after the layer).
        """

    def finite_tangent(self, a1: Array, a2: Array, record: Any) -> Array:
        """g(x, x') with which this layer's parameters add g(x, x') <delta(x), delta(x')> to the
        empirical NTK, delta = df/dz the gradient of the output by the layer's output z, a1 and a2
        its inputs on two sets of points (layers with parameters).

        Raises:
            NotImplementedError: a layer without parameters.
        """
        raise NotImplementedError(f"{type(self).__name__} has no parameters")

    def finite_nngp(self, features1: Array, features2: Array) -> Array | None:
        """The empirical NNGP of a finite network that ends with this layer: the covariance of its
        output over its own parameters, the other layers fixed, given its inputs F on two sets of
        points; None (the default) for the outputs' f(x) . f(x') / out_dim."""
        return None

    # --- Random features -------------------------------------------------------------------------------

    def readout_columns(self, inputs: np.ndarray) -> np.ndarray:
        """Phi with Phi Phi^T = the covariance of the layer's output over its parameters, given
        its inputs F of shape (N, n) (layers that ``draws_units``): a random-feature readout.

        Raises:
            NotImplementedError: a layer that does not draw units.
        """
        raise NotImplementedError(f"{type(self).__name__} is not a random-feature readout")


Layer.register(Activation)


def is_layer(value: Any) -> bool:
    """True for a ``Layer``: ``Dense``, ``LayerNorm``, ``Residual``, an activation or a new layer type.

    Args:
        value: anything.

    Returns:
        Whether it is a layer.

    Example:
        >>> import nngp_ntk as nk
        >>> is_layer(nk.Dense()), is_layer(nk.activations.ReLU()), is_layer("relu")
        (True, True, False)
    """
    return isinstance(value, Layer)


def _layer_name(layer: Any) -> str:
    return type(layer).__name__


# --- Validation ---------------------------------------------------------------------------------

#: The width of the network's input, known only when it is called.
INPUT_WIDTH = "input"
#: The input width of a Residual checked on its own (known once it is placed in a network).
_OUTER_WIDTH = "outer"


def _zero_mean_output(layers: Sequence, zero_mean: bool) -> bool:
    """Whether the features after ``layers`` have zero mean over the random weights, given whether
    their input has (each layer's ``zero_mean_after``)."""
    for layer in layers:
        zero_mean = layer.zero_mean_after(zero_mean)
    return zero_mean


def check_layers(layers: Sequence, gaussian: bool = False, width: int | str | None = INPUT_WIDTH,
                 where: str = "Sequential") -> tuple[bool, int | str | None]:
    """Check a layer list as it acts on features that are (or not) ``gaussian`` with ``width``
    (each layer's ``check``).

    Args:
        layers: the layer list.
        gaussian: whether the input features are Gaussian (the network input is not).
        width: the input width: an integer, None (unknown), or INPUT_WIDTH for the network input.
        where: the name of the list in messages (errors name the layer by its position in it).

    Returns:
        (whether the output is Gaussian, its width).

    Raises:
        ValueError: an empty list; an activation or LayerNorm whose input is not Gaussian; a
            Residual where neither branch has zero mean, or whose block changes the width;
            a standard-parameterization Dense whose input width is unknown.
        TypeError: an element that is not a layer.

    Example:
        >>> import nngp_ntk as nk
        >>> check_layers([nk.Dense(width=8), nk.activations.ReLU()])
        (False, 8)
        >>> check_layers([nk.activations.ReLU()])
        Traceback (most recent call last):
        ...
        nngp_ntk._checks.ArgumentValueError: Sequential layer 0 (ReLU): an activation needs Gaussian pre-activations, but ...
    """
    if len(layers) == 0:
        raise ArgumentValueError(f"{where} needs at least one layer, got none")
    signal = Signal(gaussian, width, width != INPUT_WIDTH, lambda: gaussian)
    for index, layer in enumerate(layers):
        if not is_layer(layer):
            raise ArgumentTypeError(f"{where} layer {index} must be a layer (nngp_ntk.Dense, LayerNorm, Residual, an "
                                    f"nngp_ntk.activations instance or an nngp_ntk.kernels.Layer), "
                                    f"got {type(layer).__name__} {layer!r}")
        before = signal.zero_mean
        signal = layer.check(signal, f"{where} layer {index} ({_layer_name(layer)})")
        signal = signal._replace(zero_mean=lambda layer=layer, before=before: layer.zero_mean_after(before()))
    return signal.gaussian, signal.width
