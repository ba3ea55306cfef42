"""The ``Activation`` interface, its pytree registration, and the helpers the dual maps share.

Every activation is a frozen dataclass registered as a JAX pytree: its numeric parameters are
leaves, fields declared with ``static_field()`` (degrees, functions) are static auxiliary data.

Every activation is also a layer (``nngp_ntk.kernels.Layer`` registers ``Activation``): the methods
of its layer behaviour are written once here, for all of them, in terms of ``dual``, ``variance``
and ``__call__``. In the compiled kernel passes an activation is a ``PytreeOp``: its pytree
structure is the static part, its leaves the parameters.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from nngp_ntk._checks import ArgumentTypeError, ArgumentValueError, check_integer, check_real, is_concrete
from nngp_ntk._fastmath import hermite_nodes, safe_sqrt

if TYPE_CHECKING:
    from nngp_ntk.kernels._layer import Signal

Array = jax.Array


def static_field(**kwargs: Any) -> Any:
    """A dataclass field that is static pytree data (not a leaf): degrees, functions."""
    return dataclasses.field(metadata={"static": True}, **kwargs)


def _flatten(activation: Activation) -> tuple[list[tuple[Any, Any]], tuple[tuple[str, Any], ...]]:
    fields = dataclasses.fields(activation)
    leaves = [(jax.tree_util.GetAttrKey(f.name), getattr(activation, f.name))
              for f in fields if not f.metadata.get("static")]
    static = tuple((f.name, getattr(activation, f.name)) for f in fields if f.metadata.get("static"))
    return leaves, static


def _flatten_without_keys(activation: Activation) -> tuple[list[Any], tuple[tuple[str, Any], ...]]:
    leaves, static = _flatten(activation)
    return [leaf for _, leaf in leaves], static


def _unflatten(cls: type, static: tuple[tuple[str, Any], ...], leaves: Any) -> Activation:
    """Rebuild without validation: leaves may be tracers or placeholders inside JAX transforms."""
    activation = object.__new__(cls)
    names = [f.name for f in dataclasses.fields(cls) if not f.metadata.get("static")]
    for name, value in (*zip(names, leaves, strict=True), *static):
        object.__setattr__(activation, name, value)
    return activation


def static_or_tree(value: Any) -> tuple[list, tuple[str, Any]]:
    """(leaves, static part) of a layer (or any object).

    Args:
        value: an activation or another layer.

    Returns:
        Its pytree leaves and ``("tree", treedef)`` when it is a registered pytree, else no leaves
        and ``("instance", value)`` (the hashable instance itself).

    Example:
        >>> from nngp_ntk.activations import Erf
        >>> leaves, (kind, _) = static_or_tree(Erf())
        >>> len(leaves), kind
        (3, 'tree')
    """
    leaves, treedef = jax.tree_util.tree_flatten(value)
    if len(leaves) == 1 and leaves[0] is value:
        return [], ("instance", value)
    return leaves, ("tree", treedef)


def rebuild(static: tuple[str, Any], leaves: Sequence) -> Any:
    """The object from ``static_or_tree``'s parts (``leaves`` may be new values).

    Example:
        >>> from nngp_ntk.activations import LeakyReLU
        >>> leaves, static = static_or_tree(LeakyReLU(0.1))
        >>> rebuild(static, [0.2]).negative_slope
        0.2
    """
    kind, value = static
    return value if kind == "instance" else jax.tree_util.tree_unflatten(value, list(leaves))


@dataclasses.dataclass(frozen=True)
class PytreeOp:
    """The compiled kernel step of a layer whose static part is its pytree structure (every
    activation, and by default a layer of ``nngp_ntk.kernels.Layer``): the parameters are its
    leaves, and ``update`` rebuilds the layer from them and applies its ``kernel_map``.

    Attributes:
        static: ``static_or_tree``'s static part of the layer (hashable: it selects compiled code).
    """

    static: Hashable
    #: Whether the engine runs this op in one loop with the op after it (only a Dense does).
    joins_next: ClassVar[bool] = False

    @classmethod
    def of(cls, layer: Any, dtype: Any) -> tuple[PytreeOp, list]:
        """(op, params) of ``layer``: Python numbers among its leaves become arrays of ``dtype``
        (other leaves, tracers included, pass as they are).

        Example:
            >>> import numpy as np
            >>> from nngp_ntk.activations import LeakyReLU
            >>> op, params = PytreeOp.of(LeakyReLU(0.1), np.float32)
            >>> params[0].dtype
            dtype('float32')
        """
        leaves, static = static_or_tree(layer)
        return cls(static), [np.asarray(leaf, dtype) if isinstance(leaf, (float, int)) else leaf for leaf in leaves]

    def update(self, params: Sequence, k11: Array, k12: Array, k22: Array, theta: Array | None,
               diagonal: bool) -> tuple[Array, Array | None]:
        """The layer's ``kernel_map`` with its leaves set to ``params``.

        Args:
            params: the leaves (as ``of`` gives them, or stacked slices of them in a loop).
            k11, k12, k22: the input variances and covariances (k11 = k22 = k12 when ``diagonal``).
            theta: the NTK entries, or None.
            diagonal: whether this is the diagonal pass.

        Returns:
            (K12, Theta) after the layer.
        """
        return rebuild(self.static, params).kernel_map(k11, k12, k22, theta, diagonal)


def _odd(activation: Activation) -> bool:
    """True when E[phi(u)] = 0 for centred Gaussian u of every variance (checked at variances 1/2
    and 2 by Gauss-Hermite quadrature); False when it cannot be evaluated (traced parameters)."""
    nodes, weights = hermite_nodes(64)
    try:
        for variance in (0.5, 2.0):
            values = np.asarray(activation(jnp.asarray(np.sqrt(variance) * nodes)), dtype=np.float64)
            if abs(weights @ values) > 1e-9 * np.sqrt(weights @ values**2) + 1e-300:
                return False
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError, TypeError):
        return False
    return True


class Activation(abc.ABC):
    """A pointwise nonlinearity phi with its Gaussian expectations; a JAX pytree and a layer.

    As a layer (the methods of ``nngp_ntk.kernels.Layer``): it needs Gaussian pre-activations and
    maps the kernels by

        K12 <- E[phi(u) phi(v)],   Theta12 <- E[phi'(u) phi'(v)] Theta12,
        (u, v) ~ N(0, [[K11, K12], [K12, K22]]);   K <- E[phi(u)^2] on the diagonal,

    and a finite network applies phi to every unit.
    """

    #: True when ``dual`` uses quadrature; the tiling then uses smaller tiles.
    uses_quadrature: bool = False
    #: Whether phi of Gaussian pre-activations is Gaussian again (``Identity``).
    keeps_gaussian: ClassVar[bool] = False
    #: An activation has no sublayers.
    sublayers: ClassVar[tuple] = ()
    #: An activation acts on each unit alone (random-feature models keep it in a hidden layer).
    unitwise: ClassVar[bool] = True
    #: It draws no new units.
    draws_units: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        jax.tree_util.register_pytree_with_keys(
            cls, _flatten, lambda static, leaves: _unflatten(cls, static, leaves), _flatten_without_keys)

    @abc.abstractmethod
    def __call__(self, x: Array) -> Array:
        """phi(x), elementwise."""

    def derivative(self, x: Array) -> Array:
        """phi'(x), elementwise (autodiff of ``__call__`` unless overridden).

        Args:
            x: inputs, any shape.

        Returns:
            phi'(x), the shape of x.
        """
        return jax.jvp(self.__call__, (x,), (jnp.ones_like(x),))[1]

    @abc.abstractmethod
    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        """(E[phi(u) phi(v)], E[phi'(u) phi'(v)]) for (u, v) ~ N(0, [[K11, K12], [K12, K22]]).

        Args:
            k11: variances of u, e.g. shape (B, 1).
            k12: covariances, e.g. shape (B, B').
            k22: variances of v, e.g. shape (1, B').

        Returns:
            The nngp map and the derivative map, broadcast to a common shape.
        """

    def variance(self, k: Array) -> Array:
        """E[phi(u)^2] for u ~ N(0, K); the diagonal of the nngp map.

        Args:
            k: variances, any shape.

        Returns:
            E[phi(u)^2], the shape of k.
        """
        return self.dual(k, k, k)[0]

    def resolve(self, max_variance: float, dtype: Any = None) -> Activation:
        """This activation ready for inputs of variance up to ``max_variance`` in ``dtype``.

        Quadrature activations fix their degree here; activations whose expectation diverges or
        overflows there raise ValueError; others return themselves.

        Args:
            max_variance: the largest input variance K the maps will see.
            dtype: the compute dtype (None: JAX's default float type).

        Returns:
            An ``Activation`` (this one, or a copy with its degree set).

        Raises:
            ValueError: the expectations diverge or overflow at ``max_variance``.
        """
        return self

    # --- The layer behaviour (``nngp_ntk.kernels.Layer``) --------------------------------------------

    def check(self, signal: Signal, at: str) -> Signal:
        """An activation needs Gaussian pre-activations; its output is not Gaussian (``Identity``'s is).

        Args:
            signal: the features before it.
            at: how errors name it.

        Returns:
            The features after it.

        Raises:
            ValueError: the pre-activations are not Gaussian (the network input, or an activation's output).
        """
        if not signal.gaussian:
            reason = ("it comes before any Dense (the inputs are not Gaussian)" if not signal.dense_before
                      else "it follows an activation; put a Dense between them")
            raise ArgumentValueError(f"{at}: an activation needs Gaussian pre-activations, but {reason}")
        return signal._replace(gaussian=self.keeps_gaussian)

    def zero_mean_after(self, zero_mean: bool) -> bool:
        """Whether phi of centred Gaussian pre-activations has zero mean: phi is odd (E[phi(u)] = 0
        at two variances, by quadrature)."""
        return _odd(self)

    def revalidated(self) -> Activation:
        """This activation rebuilt through its constructor (its checks run on the current values)."""
        return dataclasses.replace(self) if dataclasses.is_dataclass(self) else self

    def kernel_op(self, width: int | None, dtype: Any) -> tuple[PytreeOp, list, int | None]:
        """(``PytreeOp`` of this activation, its leaves in ``dtype``, the unchanged width)."""
        op, params = PytreeOp.of(self, dtype)
        return op, params, width

    def kernel_map(self, k11: Array, k12: Array, k22: Array, theta: Array | None,
                   diagonal: bool) -> tuple[Array, Array | None]:
        """K12 <- E[phi(u) phi(v)], Theta12 <- E[phi'(u) phi'(v)] Theta12 (``dual``); on the diagonal
        pass (k11 = k12 = k22 = K) K <- E[phi(u)^2] (``variance``) and Theta <- E[phi'(u)^2] Theta.

        Args:
            k11, k12, k22: the variances and covariances of the pre-activations.
            theta: the NTK entries, or None.
            diagonal: whether this is the diagonal pass.

        Returns:
            (K12, Theta12) after phi.
        """
        if diagonal:
            new = self.variance(k12)
            derivative = self.dual(k12, k12, k12)[1] if theta is not None else None
        else:
            new, derivative = self.dual(k11, k12, k22)
        return new, None if theta is None else derivative * theta

    def finite_units(self, units: int, width: int, out_dim: int, readout: bool) -> int:
        """phi keeps the number of units."""
        return units

    def finite_shapes(self, fan_in: int, fan_out: int) -> tuple:
        """An activation has no parameters."""
        return ()

    def finite_apply(self, a: Array, forward: Any) -> Array:
        """phi(a), unit by unit."""
        return self(a)

    def finite_nngp(self, features1: Array, features2: Array) -> None:
        """None: an activation that ends a network has no parameters to take a covariance over."""
        return None


def check_parameters(activation: Activation, *names: str) -> None:
    """Store each named field as a float, or raise naming ``Class.field`` when it is not a finite
    real number (TypeError for a non-number, ValueError for inf/nan). JAX tracers pass unchanged."""
    for name in names:
        value = check_real(f"{type(activation).__name__}.{name}", getattr(activation, name))
        object.__setattr__(activation, name, value)


def check_degree(activation: Activation, minimum: int = 0) -> None:
    """``activation.degree`` as an int >= minimum, or an error naming ``Class.degree``."""
    name = f"{type(activation).__name__}.degree"
    degree = activation.degree  # type: ignore[attr-defined]
    if isinstance(degree, (float, np.floating)) and not isinstance(degree, bool):
        raise ArgumentTypeError(f"{name} must be an integer, got {degree!r}")
    object.__setattr__(activation, "degree", check_integer(name, degree, minimum=minimum))


def concrete(*values: Any) -> bool:
    """True when every value is concrete (not a JAX tracer)."""
    return all(is_concrete(v) for v in values)


def scalar_cos(x: Any) -> Any:
    """cos(x): in float64 Python arithmetic for a concrete parameter, jnp for a tracer."""
    return math.cos(x) if is_concrete(x) else jnp.cos(x)


def float_dtype(dtype: Any) -> np.dtype:
    """``dtype`` (None: JAX's default float type) as a NumPy float dtype."""
    return np.dtype(jnp.zeros((), dtype=dtype if dtype is not None else float).dtype)


def inverse_root(k: Array) -> Array:
    """1 / sqrt(k) where k > 0, else 0."""
    positive = k > 0
    return jnp.where(positive, jax.lax.rsqrt(jnp.where(positive, k, 1)), 0)


def inverse_where_positive(x: Array) -> Array:
    """1 / x where x > 0, else 0 (the convention for a derivative that is infinite there)."""
    positive = x > 0
    return jnp.where(positive, 1 / jnp.where(positive, x, 1), 0)


# Correlations within this many ulps of +-1 are snapped to +-1: below the dtype's resolution the
# two points are the same (a repeated row, or x2 sharing points with x1), and the angle
# arccos(rho) ~ sqrt(2 (1 - rho)) would otherwise turn one rounding error into a sqrt(eps)-sized
# angle that deep networks compound (10% NTK error at depth 200 in float32).
_SNAP_ULPS = 4


@jax.custom_jvp
def correlation(k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
    """(rho, sqrt(K11 K22)) with rho = K12 / sqrt(K11 K22) clipped to [-1, 1]; rho = 0 where K11 K22 = 0.

    The roots are taken of K11 and K22 separately, so for the usual (B, 1) x (1, B') call they
    cost O(B + B') and not one root per entry. |rho| within _SNAP_ULPS ulps of 1 becomes +-1.
    The JVP is that of the exact formulas, d rho = dK12 / r - rho/2 (dK11/K11 + dK22/K22), with
    r = sqrt(K11 K22) (the clip and snap only correct rounding), and 0 where K11 or K22 is 0.
    """
    rho = jnp.clip(k12 * (inverse_root(k11) * inverse_root(k22)), -1, 1)
    snap = 1 - _SNAP_ULPS * jnp.finfo(rho.dtype).eps
    rho = jnp.where(jnp.abs(rho) >= snap, jnp.sign(rho), rho)
    root = safe_sqrt(k11) * safe_sqrt(k22)
    return rho, root


def log_variance_tangent(k11: Array, k22: Array, dk11: Array, dk22: Array) -> Array:
    """d log(K11 K22) = dK11/K11 + dK22/K22 (each term 0 where its K is 0)."""
    return dk11 * inverse_root(k11) ** 2 + dk22 * inverse_root(k22) ** 2


def correlation_tangent(rho: Array, k11: Array, k22: Array, dk11: Array, dk12: Array,
                        dk22: Array) -> Array:
    """d rho = dK12 / sqrt(K11 K22) - rho/2 (dK11/K11 + dK22/K22), 0 where K11 K22 = 0."""
    return dk12 * (inverse_root(k11) * inverse_root(k22)) - rho / 2 * log_variance_tangent(k11, k22, dk11, dk22)


@correlation.defjvp
def _correlation_jvp(primals: tuple[Array, ...], tangents: tuple[Array, ...]) -> tuple[Any, Any]:
    k11, k12, k22 = primals
    dk11, dk12, dk22 = tangents
    rho, root = correlation(k11, k12, k22)
    drho = correlation_tangent(rho, k11, k22, dk11, dk12, dk22)
    return (rho, root), (drho, root / 2 * log_variance_tangent(k11, k22, dk11, dk22))


def sine_of_angle(rho: Array) -> Array:
    """sin(arccos(rho)) = sqrt((1 - rho)(1 + rho)), without cancellation near |rho| = 1; its
    derivative is 0 at |rho| = 1 (``safe_sqrt``), so second derivatives of the maps stay finite."""
    return safe_sqrt((1 - rho) * (1 + rho))
