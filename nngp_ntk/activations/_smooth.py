"""Smooth activations with closed-form Gaussian expectations: erf, GELU, identity, sin/cos, and
the Gaussian and exponential bumps. Their maps are analytic for positive semi-definite K, so
autodiff gives their gradients directly.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nngp_ntk._checks import ArgumentValueError
from nngp_ntk import _fastmath
from nngp_ntk.activations._base import (
    Activation, Array, check_parameters, concrete, float_dtype, scalar_cos)


def _at_least_one(x: Array) -> Array:
    """max(x, 1) in value (it guards rounding below 1) with the gradient of x, so that a clamp
    that is active only through rounding does not halve or zero the gradient."""
    return x + jax.lax.stop_gradient(jnp.maximum(x, 1) - x)


@dataclasses.dataclass(frozen=True)
class Erf(Activation):
    """phi(x) = a erf(b x) + c. With K' = b^2 K (Williams 1997):

        E[phi(u)phi(v)]   = a^2 (2/pi) arcsin(2 K'12 / sqrt((1 + 2 K'11)(1 + 2 K'22))) + c^2
        E[phi'(u)phi'(v)] = a^2 b^2 (4/pi) / sqrt((1 + 2 K'11)(1 + 2 K'22) - 4 K'12^2)

    Args:
        a: amplitude, a finite number.
        b: input scale, a finite number.
        c: offset, a finite number.

    Raises:
        TypeError, ValueError: for a, b or c that is not a finite number.

    Example:
        >>> import jax.numpy as jnp
        >>> nngp, _ = Erf().dual(jnp.ones(1), jnp.full(1, 0.5), jnp.ones(1))
        >>> round(float(nngp[0]), 6)                          # (2 / pi) arcsin(1 / 3)
        0.216347
    """

    a: Any = 1.0
    b: Any = 1.0
    c: Any = 0.0

    def __post_init__(self) -> None:
        check_parameters(self, "a", "b", "c")

    def __call__(self, x: Array) -> Array:
        return self.a * jax.scipy.special.erf(self.b * x) + self.c

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        scale = self.b**2
        product = (1 + 2 * scale * k11) * (1 + 2 * scale * k22)
        nngp = self.a**2 * (2 / np.pi) * _fastmath.asin(
            jnp.clip(2 * scale * k12 * jax.lax.rsqrt(product), -1, 1)) + self.c**2
        derivative = self.a**2 * scale * (4 / np.pi) * jax.lax.rsqrt(
            _at_least_one(product - 4 * (scale * k12) ** 2))
        return nngp, derivative

    def variance(self, k: Array) -> Array:
        scaled = self.b**2 * k
        return self.a**2 * (2 / np.pi) * _fastmath.asin(2 * scaled / (1 + 2 * scaled)) + self.c**2


@dataclasses.dataclass(frozen=True)
class GELU(Activation):
    """phi(x) = x Phi(x) (exact GELU), the closed form of Tsuchida et al. 2020 (neural-tangents' ``Gelu``).

    With P = (1 + K11)(1 + K22), delta = sqrt(P - K12^2), angle = arcsin(K12 / sqrt(P))::

        E[phi(u)phi(v)]   = K12/4 + (K12^2 + K11 K22 delta^2) / (2 pi P delta) + K12 angle / (2 pi)
        E[phi'(u)phi'(v)] = 1/4 + angle/(2 pi) + K12 (1/delta^2 + (1 - K11 K22)/P + 1) / (2 pi delta)

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(GELU().variance(jnp.ones(1))[0]), 6)   # E[(u Phi(u))^2], u ~ N(0, 1)
        0.425221
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
    """phi(x) = x: E[phi(u)phi(v)] = K12, E[phi'(u)phi'(v)] = 1.

    Example:
        >>> import jax.numpy as jnp
        >>> [float(m[0]) for m in Identity().dual(jnp.ones(1), jnp.full(1, 0.5), jnp.ones(1))]
        [0.5, 1.0]
    """

    #: x of Gaussian x is Gaussian.
    keeps_gaussian = True

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

    Args:
        a: amplitude, a finite number.
        b: frequency, a finite number.
        c: phase, a finite number.

    Raises:
        TypeError, ValueError: for a, b or c that is not a finite number.

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(Sin().variance(jnp.ones(1))[0]), 6)    # (1 - e^-2) / 2
        0.432332
    """

    a: Any = 1.0
    b: Any = 1.0
    c: Any = 0.0

    def __post_init__(self) -> None:
        check_parameters(self, "a", "b", "c")

    def __call__(self, x: Array) -> Array:
        return self.a * jnp.sin(self.b * x + self.c)

    def derivative(self, x: Array) -> Array:
        return self.a * self.b * jnp.cos(self.b * x + self.c)

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        scale = self.b**2
        damping = jnp.exp(-0.5 * scale * (k11 + k22))
        t = scale * k12
        cosh, sinh = jnp.cosh(t), jnp.sinh(t)
        phase = scalar_cos(2 * self.c)
        half = self.a**2 / 2
        nngp = half * damping * ((1 - phase) * cosh + (1 + phase) * sinh)
        derivative = half * scale * damping * ((1 + phase) * cosh + (1 - phase) * sinh)
        return nngp, derivative

    def variance(self, k: Array) -> Array:
        phase = scalar_cos(2 * self.c)
        return self.a**2 / 2 * ((1 - phase) - phase * jnp.expm1(-2 * self.b**2 * k))


@dataclasses.dataclass(frozen=True)
class Cos(Sin):
    """phi(x) = a cos(b x + c) = a sin(b x + c + pi/2); the maps of ``Sin`` with c + pi/2.

    Args:
        a: amplitude, a finite number.
        b: frequency, a finite number.
        c: phase, a finite number.

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(Cos().variance(jnp.ones(1))[0]), 6)    # (1 + e^-2) / 2
        0.567668
    """

    def __call__(self, x: Array) -> Array:
        return self.a * jnp.cos(self.b * x + self.c)

    def derivative(self, x: Array) -> Array:
        return -self.a * self.b * jnp.sin(self.b * x + self.c)

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        return Sin(self.a, self.b, self.c + np.pi / 2).dual(k11, k12, k22)

    def variance(self, k: Array) -> Array:
        return Sin(self.a, self.b, self.c + np.pi / 2).variance(k)


@dataclasses.dataclass(frozen=True)
class Gaussian(Activation):
    """phi(x) = a exp(b x^2). With D = (1 - 2b K11)(1 - 2b K22) - 4 b^2 K12^2 = det(I - 2b K):

    E[phi(u)phi(v)]   = a^2 / sqrt(D)
    E[phi'(u)phi'(v)] = 4 a^2 b^2 K12 / D^(3/2)
    E[phi(u)^2]       = a^2 / sqrt(1 - 4 b K)

    For b > 0 the expectations are finite only while D > 0, i.e. for variances K < 1 / (4 b)
    (E[phi(u)^2] = a^2 E[exp(2 b u^2)] diverges at K = 1 / (4 b)); ``resolve`` refuses larger ones.

    Args:
        a: amplitude, a finite number.
        b: exponent coefficient, a finite number (b < 0 a bump, b > 0 a growing Gaussian).

    Raises:
        TypeError, ValueError: for a or b that is not a finite number.

    Example:
        >>> import jax.numpy as jnp
        >>> nngp, _ = Gaussian(a=1.0, b=-0.5).dual(jnp.ones(1), jnp.zeros(1), jnp.ones(1))
        >>> round(float(nngp[0]), 6)  # E[exp(-u^2/2)]^2 = 1/2 for independent u, v ~ N(0, 1)
        0.5
    """

    a: Any = 1.0
    b: Any = -1.0

    def __post_init__(self) -> None:
        check_parameters(self, "a", "b")

    def __call__(self, x: Array) -> Array:
        return self.a * jnp.exp(self.b * x * x)

    def derivative(self, x: Array) -> Array:
        return 2 * self.a * self.b * x * jnp.exp(self.b * x * x)

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        b = self.b
        determinant = (1 - 2 * b * k11) * (1 - 2 * b * k22) - 4 * b * b * k12 * k12
        inverse_root = jax.lax.rsqrt(determinant)
        nngp = self.a**2 * inverse_root
        return nngp, 4 * self.a**2 * b * b * k12 * inverse_root**3

    def variance(self, k: Array) -> Array:
        return self.a**2 * jax.lax.rsqrt(1 - 4 * self.b * k)

    def resolve(self, max_variance: float, dtype: Any = None) -> Gaussian:
        """Itself, or ValueError when b > 0 and b >= 1 / (4 max_variance) (the kernel diverges)."""
        if concrete(self.b) and self.b > 0 and 4 * self.b * float(max_variance) >= 1:
            raise ArgumentValueError(
                f"Gaussian(b={self.b!r}): E[phi(u)^2] = a^2 E[exp(2 b u^2)] diverges for pre-activation "
                f"variance >= 1/(4 b) = {1 / (4 * self.b):.4g}, and the inputs reach {float(max_variance):.4g}; "
                "use b <= 0 or scale the inputs or W_std down")
        return self


@dataclasses.dataclass(frozen=True)
class Exp(Activation):
    """phi(x) = a exp(b x). With E = exp(b^2 (K11 + 2 K12 + K22) / 2):

    E[phi(u)phi(v)] = a^2 E,   E[phi'(u)phi'(v)] = a^2 b^2 E,   E[phi(u)^2] = a^2 exp(2 b^2 K)

    The kernel grows as exp(2 b^2 K); ``resolve`` refuses variances at which it would overflow
    the dtype.

    Args:
        a: amplitude, a finite number.
        b: rate, a finite number.

    Raises:
        TypeError, ValueError: for a or b that is not a finite number.

    Example:
        >>> import jax.numpy as jnp
        >>> nngp, _ = Exp().dual(jnp.ones(1), jnp.zeros(1), jnp.ones(1))
        >>> round(float(nngp[0]), 5)  # E[exp(u)]^2 = e for independent u, v ~ N(0, 1)
        2.71828
    """

    a: Any = 1.0
    b: Any = 1.0

    def __post_init__(self) -> None:
        check_parameters(self, "a", "b")

    def __call__(self, x: Array) -> Array:
        return self.a * jnp.exp(self.b * x)

    def derivative(self, x: Array) -> Array:
        return self.a * self.b * jnp.exp(self.b * x)

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        nngp = self.a**2 * jnp.exp(self.b**2 * (k11 + 2 * k12 + k22) / 2)
        return nngp, self.b**2 * nngp

    def variance(self, k: Array) -> Array:
        return self.a**2 * jnp.exp(2 * self.b**2 * k)

    def resolve(self, max_variance: float, dtype: Any = None) -> Exp:
        """Itself, or ValueError when a^2 max(1, b^2) exp(2 b^2 max_variance), the largest entry of
        either map, would overflow ``dtype`` (None: JAX's default float type)."""
        if not concrete(self.a, self.b):
            return self
        dtype = float_dtype(dtype)
        exponent = 2 * self.b**2 * float(max_variance)
        scale = self.a**2 * max(1.0, self.b**2)
        largest = exponent + (math.log(scale) if scale > 0 else -math.inf)
        limit = math.log(float(np.finfo(dtype).max))
        if max(exponent, largest) >= limit:
            raise ArgumentValueError(
                f"Exp(a={self.a!r}, b={self.b!r}): the kernel a^2 exp(2 b^2 K) overflows {dtype.name} "
                f"at the inputs' pre-activation variance {float(max_variance):.4g} (log of the largest "
                f"entry {max(exponent, largest):.4g} > {limit:.4g}); scale the inputs, W_std or b down, "
                "or compute in float64")
        return self
