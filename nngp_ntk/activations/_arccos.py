"""Positively homogeneous activations: the arc-cosine kernels (Cho & Saul 2009).

With r = sqrt(K11 K22), rho = K12 / r and theta = arccos(rho), each map here is r^n times a
function of theta. Their gradients are defined by exact identities rather than by differentiating
arccos (whose derivative is infinite at rho = +-1, the diagonal and duplicate points):

    Price's theorem         d E[phi(u) phi(v)] / dK12 = E[phi'(u) phi'(v)]       (phi continuous)
    homogeneity of degree n  2 K11 dE/dK11 + K12 dE/dK12 = n E                   (and alike in K22)

Only the derivative of a map of degree 0 (a function of theta alone: the ReLU's E[phi' phi'],
sign, the step) is infinite at rho = +-1; its JVP there is 0, the derivative along every direction
that keeps rho = +-1 (scaling both points, or the weights) and the symmetric subgradient across it.
JVPs are 0 where K11 or K22 is 0.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special

from nngp_ntk import _fastmath
from nngp_ntk.activations._base import (
    Activation, Array, check_degree, check_parameters, correlation, correlation_tangent,
    inverse_where_positive, log_variance_tangent, sine_of_angle, static_field)


@jax.custom_jvp
def _piecewise_linear_dual(slope: Any, half: Any, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
    """(E[phi phi], E[phi' phi']) of a min(x, 0) + b max(x, 0) with slope = (a - b)^2 / (2 pi),
    half = (a^2 + b^2) / 2 and theta = arccos(rho):

    E[phi'(u)phi'(v)] = half - slope theta
    E[phi(u)phi(v)]   = slope sqrt(K11 K22) sin(theta) + E[phi'phi'] K12
    """
    rho, root = correlation(k11, k12, k22)
    derivative = half - slope * _fastmath.acos(rho)
    return slope * root * sine_of_angle(rho) + derivative * k12, derivative


@_piecewise_linear_dual.defjvp
def _piecewise_linear_jvp(primals: tuple[Any, ...], tangents: tuple[Any, ...]) -> tuple[Any, Any]:
    slope, half, k11, k12, k22 = primals
    dslope, dhalf, dk11, dk12, dk22 = tangents
    rho, root = correlation(k11, k12, k22)
    theta = _fastmath.acos(rho)
    sine = sine_of_angle(rho)
    derivative = half - slope * theta
    radial = root * sine
    nngp = slope * radial + derivative * k12
    # dE/dK12 = E[phi' phi'] (Price); 2 K11 dE/dK11 = E - K12 E[phi' phi'] = slope r sin (degree 1).
    dnngp = (derivative * dk12 + slope * radial / 2 * log_variance_tangent(k11, k22, dk11, dk22)
             + dslope * (radial - theta * k12) + dhalf * k12)
    # d theta = -d rho / sin(theta): infinite at rho = +-1, where the JVP is 0 (see module docstring).
    drho = correlation_tangent(rho, k11, k22, dk11, dk12, dk22)
    dderivative = dhalf - dslope * theta + slope * drho * inverse_where_positive(sine)
    return (nngp, derivative), (dnngp, dderivative)


class _PiecewiseLinear(Activation):
    """phi(x) = a min(x, 0) + b max(x, 0); subclasses provide the slopes ``a`` and ``b``."""

    a: Any
    b: Any

    def __call__(self, x: Array) -> Array:
        return self.a * jnp.minimum(x, 0) + self.b * jnp.maximum(x, 0)

    def derivative(self, x: Array) -> Array:
        return jnp.where(x > 0, self.b, self.a).astype(x.dtype)

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        a, b = self.a, self.b
        return _piecewise_linear_dual((a - b) ** 2 / (2 * np.pi), (a * a + b * b) / 2, k11, k12, k22)

    def variance(self, k: Array) -> Array:
        return (self.a**2 + self.b**2) / 2 * k


@dataclasses.dataclass(frozen=True)
class ABReLU(_PiecewiseLinear):
    """phi(x) = a min(x, 0) + b max(x, 0), with theta = arccos(K12 / sqrt(K11 K22)):

        E[phi(u)phi(v)]   = (a-b)^2/(2 pi) sqrt(K11 K22 - K12^2) + ((a^2+b^2)/2 - (a-b)^2 theta/(2 pi)) K12
        E[phi'(u)phi'(v)] = (a^2+b^2)/2 - (a-b)^2 theta / (2 pi)
        E[phi(u)^2]       = (a^2+b^2)/2 K

    Args:
        a: the slope for x < 0, a finite number.
        b: the slope for x > 0, a finite number.

    Raises:
        TypeError, ValueError: for a or b that is not a finite number.

    Example:
        >>> import jax.numpy as jnp
        >>> phi = ABReLU(a=-1.0, b=1.0)                       # |x|
        >>> nngp, _ = phi.dual(jnp.ones(1), jnp.zeros(1), jnp.ones(1))
        >>> round(float(nngp[0]), 6)                          # E|u| E|v| = 2 / pi
        0.63662
    """

    a: Any
    b: Any

    def __post_init__(self) -> None:
        check_parameters(self, "a", "b")


@dataclasses.dataclass(frozen=True)
class ReLU(ABReLU):
    """phi(x) = max(x, 0), the arc-cosine kernel of degree 1 (Cho & Saul), theta = arccos(rho):

        E[phi(u)phi(v)] = sqrt(K11 K22) (sin(theta) + (pi - theta) cos(theta)) / (2 pi)
        E[phi'(u)phi'(v)] = (pi - theta) / (2 pi);   E[phi(u)^2] = K / 2

    Example:
        >>> import jax.numpy as jnp
        >>> nngp, derivative = ReLU().dual(jnp.ones(1), jnp.full(1, 0.5), jnp.ones(1))
        >>> round(float(nngp[0]), 6), round(float(derivative[0]), 6)      # theta = pi / 3
        (0.304499, 0.333333)
    """

    a: float = static_field(default=0.0, init=False)
    b: float = static_field(default=1.0, init=False)


@dataclasses.dataclass(frozen=True)
class LeakyReLU(_PiecewiseLinear):
    """phi(x) = max(x, 0) + negative_slope min(x, 0): the maps of ABReLU(a=negative_slope, b=1).

    Args:
        negative_slope: the slope for x < 0, a finite number.

    Raises:
        TypeError, ValueError: for a negative_slope that is not a finite number.

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(LeakyReLU(negative_slope=0.2).variance(jnp.ones(1))[0]), 6)   # (0.2^2 + 1) / 2
        0.52
    """

    negative_slope: Any = 0.01

    def __post_init__(self) -> None:
        check_parameters(self, "negative_slope")

    @property
    def a(self) -> Any:  # type: ignore[override]
        """The slope for x < 0: ``negative_slope``."""
        return self.negative_slope

    @property
    def b(self) -> float:  # type: ignore[override]
        """The slope for x > 0: 1."""
        return 1.0


@dataclasses.dataclass(frozen=True)
class Abs(ABReLU):
    """phi(x) = |x|: ABReLU(a=-1, b=1),

    E[phi(u)phi(v)] = 2 sqrt(K11 K22) (sin(theta) + (pi/2 - theta) cos(theta)) / pi

    Example:
        >>> import jax.numpy as jnp
        >>> float(Abs().variance(jnp.full(1, 2.0))[0])       # E[u^2] = K
        2.0
    """

    a: float = static_field(default=-1.0, init=False)
    b: float = static_field(default=1.0, init=False)


@jax.custom_jvp
def _sign_dual(k11: Array, k12: Array, k22: Array) -> Array:
    """(2/pi) arcsin(rho); its JVP (2/pi) d rho / sqrt(1 - rho^2) is 0 at rho = +-1."""
    rho, _ = correlation(k11, k12, k22)
    return (2 / np.pi) * _fastmath.asin(rho)


@_sign_dual.defjvp
def _sign_jvp(primals: tuple[Array, ...], tangents: tuple[Array, ...]) -> tuple[Array, Array]:
    k11, k12, k22 = primals
    rho, _ = correlation(k11, k12, k22)
    drho = correlation_tangent(rho, k11, k22, *tangents)
    return _sign_dual(k11, k12, k22), (2 / np.pi) * drho * inverse_where_positive(sine_of_angle(rho))


@dataclasses.dataclass(frozen=True)
class Sign(Activation):
    """phi(x) = sign(x): E[phi(u)phi(v)] = (2/pi) arcsin(rho); E[phi(u)^2] = 1 (0 where K = 0).

    The derivative is 0 almost everywhere, so E[phi'(u)phi'(v)] = 0 (as in neural-tangents).

    Example:
        >>> import jax.numpy as jnp
        >>> nngp, derivative = Sign().dual(jnp.ones(1), jnp.full(1, 0.5), jnp.ones(1))
        >>> round(float(nngp[0]), 6), float(derivative[0])              # (2 / pi) arcsin(1/2) = 1/3
        (0.333333, 0.0)
    """

    def __call__(self, x: Array) -> Array:
        return jnp.sign(x)

    def derivative(self, x: Array) -> Array:
        return jnp.zeros_like(x)

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        nngp = _sign_dual(k11, k12, k22)
        return nngp, jnp.zeros_like(nngp)

    def variance(self, k: Array) -> Array:
        return jnp.where(k > 0, 1, 0).astype(k.dtype)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _arccos_moments(degree: int, k11: Array, k12: Array, k22: Array) -> tuple[Array, ...]:
    """M_0 .. M_degree with M_n = 2 pi E[max(u, 0)^n max(v, 0)^n] = (K11 K22)^(n/2) J_n(theta):

    M_0 = pi - theta,   M_1 = sqrt(det) + (pi - theta) K12,
    M_n = (2n - 1) K12 M_(n-1) + (n - 1)^2 det M_(n-2),   det = K11 K22 - K12^2 = r^2 sin^2(theta)

    (the recursion J_n = (2n-1) cos(theta) J_(n-1) + (n-1)^2 sin^2(theta) J_(n-2) times r^n).
    JVP: dM_n/dK12 = n^2 M_(n-1) (Price), 2 K11 dM_n/dK11 = n M_n - n^2 K12 M_(n-1) (homogeneity),
    dM_0 = d rho / sin(theta), 0 at rho = +-1.
    """
    rho, root = correlation(k11, k12, k22)
    radial = root * sine_of_angle(rho)
    moments = [np.pi - _fastmath.acos(rho)]
    if degree >= 1:
        moments.append(radial + moments[0] * k12)
    determinant = radial * radial
    for n in range(2, degree + 1):
        moments.append((2 * n - 1) * k12 * moments[n - 1] + (n - 1) ** 2 * determinant * moments[n - 2])
    return tuple(moments)


@_arccos_moments.defjvp
def _arccos_moments_jvp(degree: int, primals: tuple[Array, ...], tangents: tuple[Array, ...]
                        ) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
    k11, k12, k22 = primals
    dk11, dk12, dk22 = tangents
    moments = _arccos_moments(degree, k11, k12, k22)
    rho, root = correlation(k11, k12, k22)
    sine = sine_of_angle(rho)
    dlog = log_variance_tangent(k11, k22, dk11, dk22)
    dmoments = [correlation_tangent(rho, k11, k22, dk11, dk12, dk22) * inverse_where_positive(sine)]
    for n in range(1, degree + 1):
        # n M_n - n^2 K12 M_(n-1), written without cancellation.
        if n == 1:
            homogeneous = root * sine
        else:
            homogeneous = n * (n - 1) * (k12 * moments[n - 1] + (n - 1) * (root * sine) ** 2 * moments[n - 2])
        dmoments.append(n * n * moments[n - 1] * dk12 + homogeneous / 2 * dlog)
    return moments, tuple(dmoments)


@dataclasses.dataclass(frozen=True)
class RectifiedMonomial(Activation):
    """phi(x) = max(x, 0)^degree (degree 0: the step, with phi(0) = 1/2): the arc-cosine kernels
    of every order (Cho & Saul 2009). With theta = arccos(K12 / sqrt(K11 K22)),

    E[phi(u)phi(v)]   = (K11 K22)^(n/2) J_n(theta) / (2 pi)
    J_0 = pi - theta,  J_1 = sin(theta) + (pi - theta) cos(theta),
    J_n = (2n - 1) cos(theta) J_(n-1) + (n - 1)^2 sin(theta)^2 J_(n-2)
    E[phi'(u)phi'(v)] = n^2 (K11 K22)^((n-1)/2) J_(n-1)(theta) / (2 pi)   (0 for the step, as for Sign)
    E[phi(u)^2]       = (2n - 1)!! K^n / 2

    Where K11 or K22 is 0 the maps take rho = 0 (as ReLU does): phi(0) = 1/2 for the step and
    phi'(0) = 1/2 for degree 1, the neural-tangents convention for ReLU.

    Args:
        degree: n, an integer >= 0.

    Raises:
        TypeError, ValueError: for a degree that is not an integer >= 0.

    Example:
        >>> import jax.numpy as jnp
        >>> nngp, _ = RectifiedMonomial(2).dual(jnp.ones(1), jnp.zeros(1), jnp.ones(1))
        >>> round(float(nngp[0]), 6)  # E[relu(u)^2] E[relu(v)^2] = 1/4 for independent u, v
        0.25
    """

    degree: int = static_field()

    def __post_init__(self) -> None:
        check_degree(self, minimum=0)

    def __call__(self, x: Array) -> Array:
        if self.degree == 0:
            return jnp.where(x > 0, 1, jnp.where(x < 0, 0, 0.5)).astype(x.dtype)
        return jnp.maximum(x, 0) ** self.degree

    def derivative(self, x: Array) -> Array:
        if self.degree == 0:
            return jnp.zeros_like(x)
        if self.degree == 1:
            return jnp.where(x > 0, 1, jnp.where(x < 0, 0, 0.5)).astype(x.dtype)
        return self.degree * jnp.maximum(x, 0) ** (self.degree - 1)

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        n = self.degree
        moments = _arccos_moments(n, k11, k12, k22)
        if n == 0:
            nngp = moments[0] / (2 * np.pi)
            return nngp, jnp.zeros_like(nngp)
        return moments[n] / (2 * np.pi), n * n / (2 * np.pi) * moments[n - 1]

    def variance(self, k: Array) -> Array:
        if self.degree == 0:
            return jnp.where(k > 0, 0.5, 0.25).astype(k.dtype)
        return float(scipy.special.factorial2(2 * self.degree - 1)) / 2 * jnp.maximum(k, 0) ** self.degree
