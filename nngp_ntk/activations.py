"""Nonlinearities and their two Gaussian expectations (the "dual" maps of the kernel recursion).

For (u, v) ~ N(0, [[K11, K12], [K12, K22]]) every activation supplies

    nngp map:  E[phi(u) phi(v)]          derivative map:  E[phi'(u) phi'(v)]

as functions of (K11, K12, K22), and the variance map E[phi(u)^2] for the diagonal. Closed forms
follow the conventions of neural-tangents 0.6.5 (``stax.Relu``, ``stax.Erf`` ...), so its numbers
are a reference. ``Tanh`` and ``Custom`` use 2-D Gauss-Hermite quadrature, their derivative by
autodiff. Angles use the vectorizable arcsin/arccos of ``_fastmath`` (accurate to the dtype).

Arguments broadcast: K11 of shape (B, 1), K12 of shape (B, B'), K22 of shape (1, B') is the usual
call. Names map to default instances through ``get_activation``.
"""

from __future__ import annotations

import abc
import dataclasses
import math
import numbers
import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from nngp_ntk import _fastmath

Array = jax.Array

__all__ = [
    "Activation", "ABReLU", "ReLU", "LeakyReLU", "Abs", "Erf", "GELU", "Identity", "Sin", "Cos",
    "Sign", "Tanh", "Custom", "ACTIVATIONS", "get_activation",
]


def _inverse_root(k: Array) -> Array:
    """1 / sqrt(k) where k > 0, else 0."""
    positive = k > 0
    return jnp.where(positive, jax.lax.rsqrt(jnp.where(positive, k, 1)), 0)


# Correlations within this many ulps of +-1 are snapped to +-1: below the dtype's resolution the
# two points are the same (a repeated row, or x2 sharing points with x1), and the angle
# arccos(rho) ~ sqrt(2 (1 - rho)) would otherwise turn one rounding error into a sqrt(eps)-sized
# angle that deep networks compound (10% NTK error at depth 200 in float32).
_SNAP_ULPS = 4


def _correlation(k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
    """(rho, sqrt(K11 K22)) with rho = K12 / sqrt(K11 K22) clipped to [-1, 1]; rho = 0 where K11 K22 = 0.

    The roots are taken of K11 and K22 separately, so for the usual (B, 1) x (1, B') call they
    cost O(B + B') and not one root per entry. |rho| within _SNAP_ULPS ulps of 1 becomes +-1.
    """
    rho = jnp.clip(k12 * (_inverse_root(k11) * _inverse_root(k22)), -1, 1)
    snap = 1 - _SNAP_ULPS * jnp.finfo(rho.dtype).eps
    rho = jnp.where(jnp.abs(rho) >= snap, jnp.sign(rho), rho)
    root = jnp.sqrt(jnp.maximum(k11, 0)) * jnp.sqrt(jnp.maximum(k22, 0))
    return rho, root


def _check_finite(activation: Activation, *names: str) -> None:
    """Store each named field of a frozen dataclass activation as a float, or raise ValueError
    naming it when it is not a finite real number."""
    for name in names:
        value = getattr(activation, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"{type(activation).__name__}.{name} must be a finite number, got {value!r}")
        object.__setattr__(activation, name, float(value))


class Activation(abc.ABC):
    """A pointwise nonlinearity phi with its Gaussian expectations."""

    #: True when ``dual`` uses quadrature; the tiling then uses smaller tiles.
    uses_quadrature: bool = False

    @abc.abstractmethod
    def __call__(self, x: Array) -> Array:
        """phi(x), elementwise."""

    def derivative(self, x: Array) -> Array:
        """phi'(x), elementwise (autodiff of ``__call__`` unless overridden)."""
        return jax.jvp(self.__call__, (x,), (jnp.ones_like(x),))[1]

    @abc.abstractmethod
    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        """(E[phi(u) phi(v)], E[phi'(u) phi'(v)]) for (u, v) ~ N(0, [[K11, K12], [K12, K22]])."""

    def variance(self, k: Array) -> Array:
        """E[phi(u)^2] for u ~ N(0, K); the diagonal of the nngp map."""
        return self.dual(k, k, k)[0]

    def resolve(self, max_variance: float) -> Activation:
        """This activation ready for inputs of variance up to ``max_variance`` (quadrature
        activations fix their degree here); closed forms return themselves."""
        return self


def _abrelu_dual(a: float, b: float, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
    """Dual maps of phi(x) = a min(x, 0) + b max(x, 0); theta = arccos(rho).

    E[phi'(u)phi'(v)] = (a^2 + b^2)/2 - (a - b)^2 theta / (2 pi)
    E[phi(u)phi(v)]   = (a - b)^2 / (2 pi) sqrt(K11 K22) sin(theta) + E[phi'phi'] K12
    """
    rho, root = _correlation(k11, k12, k22)
    theta = _fastmath.acos(rho)
    slope = (a - b) ** 2 / (2 * np.pi)
    derivative = (a * a + b * b) / 2 - slope * theta
    sine = jnp.sqrt(jnp.maximum((1 - rho) * (1 + rho), 0))
    return slope * root * sine + derivative * k12, derivative


@dataclasses.dataclass(frozen=True)
class ABReLU(Activation):
    """phi(x) = a min(x, 0) + b max(x, 0), with theta = arccos(K12 / sqrt(K11 K22)):

    E[phi(u)phi(v)]   = (a-b)^2/(2 pi) sqrt(K11 K22 - K12^2) + ((a^2+b^2)/2 - (a-b)^2 theta/(2 pi)) K12
    E[phi'(u)phi'(v)] = (a^2+b^2)/2 - (a-b)^2 theta / (2 pi)
    E[phi(u)^2]       = (a^2+b^2)/2 K
    """

    a: float
    b: float

    def __post_init__(self) -> None:
        _check_finite(self, "a", "b")

    def __call__(self, x: Array) -> Array:
        return self.a * jnp.minimum(x, 0) + self.b * jnp.maximum(x, 0)

    def derivative(self, x: Array) -> Array:
        return jnp.where(x > 0, self.b, self.a).astype(x.dtype)

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        return _abrelu_dual(self.a, self.b, k11, k12, k22)

    def variance(self, k: Array) -> Array:
        return (self.a**2 + self.b**2) / 2 * k


@dataclasses.dataclass(frozen=True)
class ReLU(ABReLU):
    """phi(x) = max(x, 0), the arc-cosine kernel of degree 1 (Cho & Saul), theta = arccos(rho):

    E[phi(u)phi(v)] = sqrt(K11 K22) (sin(theta) + (pi - theta) cos(theta)) / (2 pi)
    E[phi'(u)phi'(v)] = (pi - theta) / (2 pi);   E[phi(u)^2] = K / 2
    """

    a: float = dataclasses.field(default=0.0, init=False)
    b: float = dataclasses.field(default=1.0, init=False)


@dataclasses.dataclass(frozen=True)
class LeakyReLU(ABReLU):
    """phi(x) = max(x, 0) + negative_slope min(x, 0): ABReLU(a=negative_slope, b=1)."""

    negative_slope: float = 0.01
    a: float = dataclasses.field(default=0.0, init=False)
    b: float = dataclasses.field(default=1.0, init=False)

    def __post_init__(self) -> None:
        _check_finite(self, "negative_slope")
        object.__setattr__(self, "a", self.negative_slope)


@dataclasses.dataclass(frozen=True)
class Abs(ABReLU):
    """phi(x) = |x|: ABReLU(a=-1, b=1), E[phi(u)phi(v)] = 2 sqrt(K11 K22) (sin(theta) + (pi/2 - theta) cos(theta)) / pi."""

    a: float = dataclasses.field(default=-1.0, init=False)
    b: float = dataclasses.field(default=1.0, init=False)


@dataclasses.dataclass(frozen=True)
class Erf(Activation):
    """phi(x) = a erf(b x) + c. With K' = b^2 K (Williams 1997):

    E[phi(u)phi(v)]   = a^2 (2/pi) arcsin(2 K'12 / sqrt((1 + 2 K'11)(1 + 2 K'22))) + c^2
    E[phi'(u)phi'(v)] = a^2 b^2 (4/pi) / sqrt((1 + 2 K'11)(1 + 2 K'22) - 4 K'12^2)
    """

    a: float = 1.0
    b: float = 1.0
    c: float = 0.0

    def __post_init__(self) -> None:
        _check_finite(self, "a", "b", "c")

    def __call__(self, x: Array) -> Array:
        return self.a * jax.scipy.special.erf(self.b * x) + self.c

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        scale = self.b**2
        product = (1 + 2 * scale * k11) * (1 + 2 * scale * k22)
        nngp = self.a**2 * (2 / np.pi) * _fastmath.asin(
            jnp.clip(2 * scale * k12 * jax.lax.rsqrt(product), -1, 1)) + self.c**2
        derivative = self.a**2 * scale * (4 / np.pi) * jax.lax.rsqrt(
            jnp.maximum(product - 4 * (scale * k12) ** 2, 1))
        return nngp, derivative

    def variance(self, k: Array) -> Array:
        scaled = self.b**2 * k
        return self.a**2 * (2 / np.pi) * _fastmath.asin(2 * scaled / (1 + 2 * scaled)) + self.c**2


@dataclasses.dataclass(frozen=True)
class GELU(Activation):
    """phi(x) = x Phi(x) (exact GELU). With P = (1 + K11)(1 + K22), delta = sqrt(P - K12^2),
    angle = arcsin(K12 / sqrt(P)) (Tsuchida et al. 2020; neural-tangents' ``Gelu``):

    E[phi(u)phi(v)]   = K12/4 + (K12^2 + K11 K22 delta^2) / (2 pi P delta) + K12 angle / (2 pi)
    E[phi'(u)phi'(v)] = 1/4 + angle/(2 pi) + K12 (1/delta^2 + (1 - K11 K22)/P + 1) / (2 pi delta)
    """

    def __call__(self, x: Array) -> Array:
        return jax.nn.gelu(x, approximate=False)

    def derivative(self, x: Array) -> Array:
        return jax.scipy.stats.norm.cdf(x) + x * jax.scipy.stats.norm.pdf(x)

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        plus_one = (1 + k11) * (1 + k22)
        product = k11 * k22
        delta_squared = jnp.maximum(plus_one - k12 * k12, 1e-30)
        inverse_delta = jax.lax.rsqrt(delta_squared)
        angle = _fastmath.asin(jnp.clip(k12 * jax.lax.rsqrt(plus_one), -1, 1))
        nngp = (0.25 * k12
                + (k12 * k12 + product * delta_squared) * inverse_delta / (2 * np.pi * plus_one)
                + k12 * angle / (2 * np.pi))
        derivative = (0.25 + angle / (2 * np.pi)
                      + k12 * inverse_delta / (2 * np.pi)
                      * (1 / delta_squared + (1 - product) / plus_one + 1))
        return nngp, derivative

    def variance(self, k: Array) -> Array:
        root = jnp.sqrt(1 + 2 * k)
        return k * (0.25 + (k / ((k + 1) * root) + _fastmath.asin(k / (k + 1)) / 2) / np.pi)


@dataclasses.dataclass(frozen=True)
class Identity(Activation):
    """phi(x) = x: E[phi(u)phi(v)] = K12, E[phi'(u)phi'(v)] = 1."""

    def __call__(self, x: Array) -> Array:
        return x

    def derivative(self, x: Array) -> Array:
        return jnp.ones_like(x)

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        return k12, jnp.ones_like(k12)

    def variance(self, k: Array) -> Array:
        return k


@dataclasses.dataclass(frozen=True)
class Sin(Activation):
    """phi(x) = a sin(b x + c). With S = exp(-b^2 (K11 + K22)/2), C = cos(2c), t = b^2 K12:

    E[phi(u)phi(v)]   = a^2/2 S (e^t - C e^-t)     = a^2/2 S ((1 - C) cosh t + (1 + C) sinh t)
    E[phi'(u)phi'(v)] = a^2 b^2/2 S (e^t + C e^-t) = a^2 b^2/2 S ((1 + C) cosh t + (1 - C) sinh t)
    E[phi(u)^2]       = a^2/2 (1 - C e^(-2 b^2 K)) = a^2/2 ((1 - C) - C expm1(-2 b^2 K))

    The cosh/sinh and expm1 forms avoid the cancellation of e^t - e^-t at small K.
    """

    a: float = 1.0
    b: float = 1.0
    c: float = 0.0

    def __post_init__(self) -> None:
        _check_finite(self, "a", "b", "c")

    def __call__(self, x: Array) -> Array:
        return self.a * jnp.sin(self.b * x + self.c)

    def derivative(self, x: Array) -> Array:
        return self.a * self.b * jnp.cos(self.b * x + self.c)

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        scale = self.b**2
        damping = jnp.exp(-0.5 * scale * (k11 + k22))
        t = scale * k12
        cosh, sinh = jnp.cosh(t), jnp.sinh(t)
        phase = math.cos(2 * self.c)
        half = self.a**2 / 2
        nngp = half * damping * ((1 - phase) * cosh + (1 + phase) * sinh)
        derivative = half * scale * damping * ((1 + phase) * cosh + (1 - phase) * sinh)
        return nngp, derivative

    def variance(self, k: Array) -> Array:
        phase = math.cos(2 * self.c)
        return self.a**2 / 2 * ((1 - phase) - phase * jnp.expm1(-2 * self.b**2 * k))


@dataclasses.dataclass(frozen=True)
class Cos(Sin):
    """phi(x) = a cos(b x + c) = a sin(b x + c + pi/2); the maps of ``Sin`` with c + pi/2."""

    def __call__(self, x: Array) -> Array:
        return self.a * jnp.cos(self.b * x + self.c)

    def derivative(self, x: Array) -> Array:
        return -self.a * self.b * jnp.sin(self.b * x + self.c)

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        return Sin(self.a, self.b, self.c + np.pi / 2).dual(k11, k12, k22)

    def variance(self, k: Array) -> Array:
        return Sin(self.a, self.b, self.c + np.pi / 2).variance(k)


@dataclasses.dataclass(frozen=True)
class Sign(Activation):
    """phi(x) = sign(x): E[phi(u)phi(v)] = (2/pi) arcsin(rho); E[phi(u)^2] = 1 (0 where K = 0).

    The derivative is 0 almost everywhere, so E[phi'(u)phi'(v)] = 0 (as in neural-tangents).
    """

    def __call__(self, x: Array) -> Array:
        return jnp.sign(x)

    def derivative(self, x: Array) -> Array:
        return jnp.zeros_like(x)

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        rho, _ = _correlation(k11, k12, k22)
        return (2 / np.pi) * _fastmath.asin(rho), jnp.zeros_like(rho)

    def variance(self, k: Array) -> Array:
        return jnp.where(k > 0, 1, 0).astype(k.dtype)


#: 1-D Gauss-Hermite nodes for the variance map E[phi(u)^2] (cheap: O(N depth) evaluations).
VARIANCE_DEGREE = 256
#: The largest automatic 2-D degree (degree^2 evaluations per kernel entry and map).
MAX_AUTO_DEGREE = 512


def auto_degree(max_variance: float) -> int:
    """Gauss-Hermite degree for the 2-D maps of a unit-scale smooth activation (tanh-like) whose
    inputs have variance up to ``max_variance`` K: ~64 K^0.8 + 16, rounded up to a multiple of 16.

    Calibrated on tanh against degree-400 quadrature (largest relative error over rho in
    {0, .5, .9, .99}): degree 24 errs 1e-3 at K = 1, 2e-2 at K = 2 and 1e-1 at K = 4, while
    this rule stays below ~1e-8 at K <= 2 and 1e-6 at K = 4 (the nodes must resolve
    phi's unit scale inside a Gaussian of width sqrt(K), so the degree grows with K).
    """
    wanted = 64 * max(float(max_variance), 0.25) ** 0.8 + 16
    degree = int(16 * math.ceil(wanted / 16))
    if degree > MAX_AUTO_DEGREE:
        warnings.warn(f"pre-activation variance {max_variance:.3g} needs Gauss-Hermite degree ~{degree}; "
                      f"using {MAX_AUTO_DEGREE}, whose error may exceed 1e-3: scale the inputs or W_std down, "
                      "or pass degree= explicitly", RuntimeWarning, stacklevel=3)
        degree = MAX_AUTO_DEGREE
    return degree


class _Quadrature(Activation):
    """Dual maps by 2-D Gauss-Hermite quadrature with ``degree`` nodes per dimension:

    u = sqrt(K11) z1,  v = sqrt(K22) (rho z1 + sqrt(1 - rho^2) z2),  z1, z2 ~ N(0, 1) independent,
    (with the points ordered so that K11 <= K22),
    E[f(u) g(v)] ~ sum_ij w_i w_j f(u_i) g(v_ij)  (exact for polynomials of degree < 2 degree).

    ``degree=None`` (the default) picks it from the largest pre-activation variance of the inputs
    (``auto_degree``) each time a kernel is computed; the variance map uses VARIANCE_DEGREE nodes.
    """

    uses_quadrature = True
    degree: int | None

    def _check_degree(self) -> None:
        if self.degree is None:
            return
        if isinstance(self.degree, bool) or not isinstance(self.degree, (int, np.integer)) or self.degree < 2:
            raise ValueError(f"degree must be an integer >= 2 or None (automatic), got {self.degree!r}")

    def resolve(self, max_variance: float) -> Activation:
        """This activation with ``degree`` fixed: ``auto_degree(max_variance)`` when it is None."""
        if self.degree is not None:
            return self
        return dataclasses.replace(self, degree=auto_degree(max_variance))

    def _degree(self, *variances: Array) -> int:
        if self.degree is not None:
            return int(self.degree)
        try:
            largest = max(float(jnp.max(v)) for v in variances)
        except jax.errors.ConcretizationTypeError:
            raise ValueError("degree=None (automatic) needs concrete variances; inside jit use "
                             "activation.resolve(max_variance) or pass degree= explicitly") from None
        return auto_degree(largest)

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        nodes, weights = _fastmath.hermite_nodes(self._degree(k11, k22))
        dtype = jnp.result_type(k12)
        nodes, weights = jnp.asarray(nodes, dtype), jnp.asarray(weights, dtype)
        rho, _ = _correlation(k11, k12, k22)
        shape = rho.shape
        # Both maps are symmetric in (u, v): the smaller variance goes to the outer node u, so
        # that swapping the points gives the same sums (K(x1, x2) = K(x2, x1)^T exactly); for tanh
        # at degree 24 this ordering is also the more accurate one in most cases (E[phi' phi']:
        # 0.18% -> 4e-7 at K11, K22 = 0.5, 2 and rho = 0.8; 0.7% -> 0.3% at 1, 3 and rho = 0.2).
        root1 = jnp.broadcast_to(jnp.sqrt(jnp.maximum(jnp.minimum(k11, k22), 0)), shape)[..., None]
        root2 = jnp.broadcast_to(jnp.sqrt(jnp.maximum(jnp.maximum(k11, k22), 0)), shape)[..., None]
        rho = rho[..., None]
        complement = jnp.sqrt(jnp.maximum((1 - rho) * (1 + rho), 0))
        u = root1 * nodes                                       # (..., i)
        f_u, df_u = self(u) * weights, self.derivative(u) * weights

        def add_node(j, sums):
            nngp, derivative = sums
            v = root2 * (rho * nodes + complement * nodes[j])   # (..., i)
            nngp = nngp + weights[j] * jnp.sum(f_u * self(v), axis=-1)
            derivative = derivative + weights[j] * jnp.sum(df_u * self.derivative(v), axis=-1)
            return nngp, derivative

        zeros = jnp.zeros(shape, dtype)
        return jax.lax.fori_loop(0, len(weights), add_node, (zeros, zeros))

    def variance(self, k: Array) -> Array:
        nodes, weights = _fastmath.hermite_nodes(max(VARIANCE_DEGREE, self.degree or 0))
        dtype = jnp.result_type(k)
        u = jnp.sqrt(jnp.maximum(k, 0))[..., None] * jnp.asarray(nodes, dtype)
        return jnp.sum(self(u) ** 2 * jnp.asarray(weights, dtype), axis=-1)


@dataclasses.dataclass(frozen=True)
class Tanh(_Quadrature):
    """phi(x) = tanh(x); no closed form: maps by Gauss-Hermite quadrature (see ``_Quadrature``)."""

    degree: int | None = None

    def __post_init__(self) -> None:
        self._check_degree()

    def __call__(self, x: Array) -> Array:
        return jnp.tanh(x)

    def derivative(self, x: Array) -> Array:
        return 1 - jnp.tanh(x) ** 2


@dataclasses.dataclass(frozen=True)
class Custom(_Quadrature):
    """Any elementwise JAX function ``fn``; maps by Gauss-Hermite quadrature, phi' by autodiff
    unless ``derivative`` is given. Quadrature converges fast for smooth ``fn``, slowly for kinks.
    """

    fn: Callable[[Array], Array]
    derivative_fn: Callable[[Array], Array] | None = None
    degree: int | None = None

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise TypeError(f"fn must be a callable elementwise function, got {type(self.fn).__name__}")
        if self.derivative_fn is not None and not callable(self.derivative_fn):
            raise TypeError("derivative_fn must be callable or None, "
                            f"got {type(self.derivative_fn).__name__}")
        self._check_degree()

    def __call__(self, x: Array) -> Array:
        return self.fn(x)

    def derivative(self, x: Array) -> Array:
        if self.derivative_fn is not None:
            return self.derivative_fn(x)
        return super().derivative(x)


ACTIVATIONS: dict[str, Callable[[], Activation]] = {
    "relu": ReLU, "leaky_relu": LeakyReLU, "abs": Abs, "erf": Erf, "gelu": GELU,
    "identity": Identity, "sin": Sin, "cos": Cos, "sign": Sign, "tanh": Tanh,
}


def get_activation(activation: str | Activation) -> Activation:
    """The activation instance for a name in ``ACTIVATIONS`` (default parameters) or an instance."""
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        try:
            return ACTIVATIONS[activation.lower()]()
        except KeyError:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or an "
                             f"nngp_ntk.activations.Activation instance, got {activation!r}") from None
    raise TypeError("activation must be a name (str) or an nngp_ntk.activations.Activation "
                    f"instance, got {type(activation).__name__}")
