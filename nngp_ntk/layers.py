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
passes of ``nngp_ntk.programs``, its finite-width parameters and forward map for
``nngp_ntk.finite``, its part in the random-feature models of ``nngp_ntk.random_features``), and
the engine, the finite networks and the random features call them; the activations'
(``nngp_ntk.activations.Activation``) are written once, in their base class.

The layers are pytrees (W_std and b_std are leaves), so networks built from them can be
differentiated and vmapped over.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nngp_ntk import _checks, _pytrees
from nngp_ntk.activations import Activation
from nngp_ntk.activations._base import PytreeOp

Array = jax.Array
PARAMETERIZATIONS = ("ntk", "standard")
_HIGHEST = jax.lax.Precision.HIGHEST


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
    * the compiled kernel passes (``nngp_ntk.programs``): ``kernel_op`` and its op's ``update``
      (or ``merge`` for a layer with sublayers), by default ``kernel_map``; ``uses_quadrature``
      and ``resolve`` before them;
    * finite width (``nngp_ntk.finite``): ``finite_units``, ``finite_shapes``, ``finite_init``,
      ``finite_check``, ``finite_apply``, ``finite_tangent``, ``finite_nngp``;
    * random features (``nngp_ntk.random_features``, ``nngp_ntk.random_feature_controls``):
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
        raise TypeError(f"{type(self).__name__} has no sublayers to replace")

    def revalidated(self) -> Layer:
        """This layer rebuilt through its constructor, so that its checks run on values that pytree
        unflattening (which skips them) put there (default: a dataclass is replaced by a copy of itself).

        Example:
            >>> Dense(W_std=1.5).revalidated().W_std
            1.5
        """
        return dataclasses.replace(self) if dataclasses.is_dataclass(self) else self

    def resolve(self, max_variance: float, dtype: Any = None) -> Layer:
        """This layer ready for inputs of variance up to ``max_variance`` (default: itself; an
        activation fixes a quadrature degree or refuses a variance it overflows at)."""
        return self

    # --- Infinite width: the compiled kernel passes ------------------------------------------------

    def kernel_op(self, width: int | None, dtype: Any) -> tuple[Any, Any, int | None]:
        """The layer's step of a compiled program (``nngp_ntk.programs.plan``).

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
            raise ValueError(f"{at}: the standard parameterization scales the NTK by the input width, "
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
            raise ValueError("is not a (weight, bias) pair, as init_params gives for a Dense")
        weight, bias = (jnp.asarray(a) for a in entry)
        if weight.ndim != 2 or weight.shape[0] != fan_in or bias.shape != (weight.shape[1],):
            raise ValueError(f"has weight {weight.shape} and bias {bias.shape}; "
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
            raise ValueError(f"{at}: LayerNorm needs Gaussian inputs (after a Dense), but its input "
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
            raise ValueError(f"{at}: neither x nor block(x) has zero mean, so the kernel of x + block(x) "
                             "is not the sum of theirs: end the block with a Dense (or an odd activation), "
                             "or put a Dense before the Residual")
        width = signal.width
        if isinstance(width, int) and isinstance(block_width, int) and width != block_width:
            raise ValueError(f"{at}: the block maps width {width} to width {block_width}; "
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
        ValueError: Sequential layer 0 (ReLU): an activation needs Gaussian pre-activations, but ...
    """
    if len(layers) == 0:
        raise ValueError(f"{where} needs at least one layer, got none")
    signal = Signal(gaussian, width, width != INPUT_WIDTH, lambda: gaussian)
    for index, layer in enumerate(layers):
        if not is_layer(layer):
            raise TypeError(f"{where} layer {index} must be a layer (nngp_ntk.Dense, LayerNorm, Residual, an "
                            f"nngp_ntk.activations instance or an nngp_ntk.layers.Layer), "
                            f"got {type(layer).__name__} {layer!r}")
        before = signal.zero_mean
        signal = layer.check(signal, f"{where} layer {index} ({_layer_name(layer)})")
        signal = signal._replace(zero_mean=lambda layer=layer, before=before: layer.zero_mean_after(before()))
    return signal.gaussian, signal.width


# --- Layer lists from plain data (configs, reference files) -------------------------------------

def _activation_classes() -> dict[str, type]:
    """Activation classes by normalized name (lower case, no underscores): relu, leakyrelu, erf, ..."""
    from nngp_ntk import activations

    classes = {}
    for name in activations.__all__:
        value = getattr(activations, name)
        if isinstance(value, type) and issubclass(value, Activation) and not getattr(value, "__abstractmethods__", ()):
            classes[name.lower()] = value
    classes.pop("custom", None)  # a Python function cannot be written in a config file
    return classes


def _normalized(name: str) -> str:
    return name.lower().replace("_", "")


_DENSE_KEYS = ("W_std", "b_std", "bias", "parameterization", "width")


def from_spec(spec: Sequence[Mapping[str, Any]], where: str = "layers") -> tuple:
    """Layers from plain data, as a TOML config or a JSON file writes them: a list of tables, each
    with a ``layer`` name and that layer's arguments:

        {layer = "dense", W_std = 1.5, b_std = 0.1, parameterization = "ntk", width = 512}
        {layer = "dense", bias = false}          # b_std = None: no bias parameter
        {layer = "layernorm"}
        {layer = "residual", block = [ ... ]}
        {layer = "erf", a = 1.0, b = 2.0}        # any activation by name: relu, leaky_relu,
                                                 # rectified_monomial, polynomial (coef = [...]) ...

    Args:
        spec: the list of tables.
        where: how errors name the list (e.g. "network.layers").

    Returns:
        The layers, a tuple (``Sequential(*from_spec(spec))`` is the network).

    Raises:
        TypeError, ValueError: an entry that is not a table, an unknown layer name or argument, or a
            value the layer refuses; the message names the entry, e.g. ``layers[2].block[0]``.

    Example:
        >>> import nngp_ntk as nk
        >>> nk.Sequential(*from_spec([{"layer": "dense", "W_std": 1.5}, {"layer": "relu"},
        ...                           {"layer": "dense", "bias": False}]))
        Sequential(Dense(W_std=1.5, b_std=0.0, parameterization='ntk', width=None), ReLU(a=0.0, b=1.0), Dense(W_std=1.0, b_std=None, parameterization='ntk', width=None))
    """
    if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence):
        raise TypeError(f"{where} must be a list of layer tables, got {type(spec).__name__}")
    activation_classes = _activation_classes()
    layers = []
    for index, entry in enumerate(spec):
        at = f"{where}[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("layer"), str):
            raise TypeError(f"{at} must be a table with a 'layer' name, got {entry!r}")
        kind = _normalized(entry["layer"])
        arguments = {key: value for key, value in entry.items() if key != "layer"}
        try:
            if kind == "dense":
                unknown = sorted(set(arguments) - set(_DENSE_KEYS))
                if unknown:
                    raise ValueError(f"unknown argument(s) {unknown} of a dense layer; valid: {list(_DENSE_KEYS)}")
                if arguments.pop("bias", True) is False:
                    if "b_std" in arguments:
                        raise ValueError("give b_std or bias = false, not both")
                    arguments["b_std"] = None
                layers.append(Dense(**arguments))
            elif kind == "layernorm":
                layers.append(LayerNorm(**arguments))
            elif kind == "residual":
                unknown = sorted(set(arguments) - {"block"})
                if unknown or "block" not in arguments:
                    raise ValueError("a residual layer takes one argument, block (a list of layer tables)")
                layers.append(Residual(*from_spec(arguments["block"], f"{at}.block")))
            elif kind in activation_classes:
                layers.append(activation_classes[kind](**arguments))
            else:
                raise ValueError(f"unknown layer {entry['layer']!r}; valid: dense, layernorm, residual, "
                                 f"{', '.join(sorted(activation_classes))}")
        except (TypeError, ValueError) as error:
            if str(error).startswith(f"{at}.block"):
                raise
            raise type(error)(f"{at}: {error}") from None
    return tuple(layers)
