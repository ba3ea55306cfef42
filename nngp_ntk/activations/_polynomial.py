"""Polynomial activations: monomials, polynomials and normalized Hermite polynomials.

Their maps are polynomials in (K11, K12, K22) by Isserlis' theorem. Writing phi(sqrt(K) z) in the
Hermite basis of z ~ N(0, 1) and using E[He_j(z1) He_k(z2)] = delta_jk k! rho^k,

    E[phi(u) phi(v)] = sum_k k! K12^k q_k(K11) q_k(K22),

where q_k(K) sqrt(K)^k is the coefficient of He_k in phi(sqrt(K) z). For phi(x) = x^j,
q_k(K) = j! / (k! m! 2^m) K^m with j = k + 2m (Isserlis: E[u^i v^j] = sum_k i! j! K12^k
K11^((i-k)/2) K22^((j-k)/2) / (k! ((i-k)/2)! ((j-k)/2)! 2^((i+j-2k)/2))). No roots appear, so the
maps are smooth everywhere and autodiff gives their gradients.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nngp_ntk._checks import ArgumentTypeError, ArgumentValueError, check_real, is_concrete
from nngp_ntk.activations._base import Activation, Array, check_degree, static_field


def _moment_series(factors1: Sequence[Array | None], factors2: Sequence[Array | None], k12: Array) -> Array:
    """sum_k k! K12^k q_k(K11) q_k(K22) by Horner in K12; None stands for a factor known to be 0."""
    total = jnp.zeros_like(k12)
    for k in reversed(range(len(factors1))):
        total = total * k12
        if factors1[k] is not None and factors2[k] is not None:
            total = total + math.factorial(k) * factors1[k] * factors2[k]
    return total


def _isserlis(order: int, m: int) -> float:
    """(k + 2m)! / (k! m! 2^m) for k = order: the coefficient of K^m He_k in (sqrt(K) z)^(k+2m)."""
    return math.factorial(order + 2 * m) / (math.factorial(order) * math.factorial(m) * 2**m)


def _power_factors(coef: Sequence[Any], k: Array) -> list[Array | None]:
    """q_0(K) .. q_d(K) of phi(x) = sum_j coef[j] x^j: q_k(K) = sum_m coef[k+2m] (k+2m)!/(k! m! 2^m) K^m,
    by Horner in K. Concrete zero coefficients are skipped; a factor without terms is None."""
    degree = len(coef) - 1
    factors: list[Array | None] = []
    for order in range(degree + 1):
        factor = None
        for m in reversed(range((degree - order) // 2 + 1)):
            c = coef[order + 2 * m]
            if is_concrete(c) and c == 0:
                factor = None if factor is None else factor * k
            else:
                term = c * _isserlis(order, m)
                factor = term + jnp.zeros_like(k) if factor is None else factor * k + term
        factors.append(factor)
    return factors


def _polynomial_dual(coef: Sequence[Any], k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
    """(E[p(u) p(v)], E[p'(u) p'(v)]) for p(x) = sum_j coef[j] x^j."""
    nngp = _moment_series(_power_factors(coef, k11), _power_factors(coef, k22), k12)
    slopes = [j * coef[j] for j in range(1, len(coef))]
    if not slopes:
        return nngp, jnp.zeros_like(nngp)
    return nngp, _moment_series(_power_factors(slopes, k11), _power_factors(slopes, k22), k12)


def _horner(coef: Sequence[Any], x: Array) -> Array:
    """sum_j coef[j] x^j."""
    result = jnp.zeros_like(x) + coef[-1]
    for c in reversed(coef[:-1]):
        result = result * x + c
    return result


@dataclasses.dataclass(frozen=True)
class Monomial(Activation):
    """phi(x) = x^n. By Isserlis' theorem, with m = (n - k)/2 over k = n, n-2, ..., >= 0:

    E[phi(u)phi(v)]   = sum_k k! (n! / (k! m! 2^m))^2 K12^k (K11 K22)^m
    E[phi'(u)phi'(v)] = n^2 E[u^(n-1) v^(n-1)];   E[phi(u)^2] = (2n - 1)!! K^n

    Args:
        degree: n, an integer >= 0.

    Raises:
        TypeError, ValueError: for a degree that is not an integer >= 0.

    Example:
        >>> import jax.numpy as jnp
        >>> nngp, derivative = Monomial(2).dual(jnp.ones(1), jnp.full(1, 0.5), jnp.ones(1))
        >>> float(nngp[0]), float(derivative[0])  # E[u^2 v^2] = 1 + 2 K12^2, E[4 u v] = 4 K12
        (1.5, 2.0)
    """

    degree: int = static_field()

    def __post_init__(self) -> None:
        check_degree(self, minimum=0)

    def _coefficients(self) -> tuple[float, ...]:
        return (0.0,) * self.degree + (1.0,)

    def __call__(self, x: Array) -> Array:
        return x**self.degree if self.degree else jnp.ones_like(x)

    def derivative(self, x: Array) -> Array:
        return self.degree * x ** (self.degree - 1) if self.degree else jnp.zeros_like(x)

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        return _polynomial_dual(self._coefficients(), k11, k12, k22)


def _check_coefficients(coef: Any) -> tuple[Any, ...] | jax.Array:
    """``coef`` as a non-empty tuple of finite floats (tracers kept); a traced 1-D array passes unchanged."""
    if isinstance(coef, (np.ndarray, jax.Array)):
        if coef.ndim != 1 or coef.shape[0] == 0:
            raise ArgumentValueError(
                f"Polynomial.coef must be a non-empty 1-D sequence of numbers, got shape {coef.shape}")
        if not is_concrete(coef):
            return coef
        coef = coef.tolist()
    if isinstance(coef, (str, bytes)) or not isinstance(coef, Sequence):
        raise ArgumentTypeError(
            f"Polynomial.coef must be a sequence of numbers (c_0, c_1, ...), got {type(coef).__name__}")
    if len(coef) == 0:
        raise ArgumentValueError("Polynomial.coef must be a non-empty 1-D sequence of numbers (c_0, c_1, ...), got []")
    return tuple(check_real(f"Polynomial.coef[{j}]", c) for j, c in enumerate(coef))


@dataclasses.dataclass(frozen=True)
class Polynomial(Activation):
    """phi(x) = sum_j coef[j] x^j. With q_k(K) = sum_m coef[k+2m] (k+2m)! / (k! m! 2^m) K^m:

    E[phi(u)phi(v)] = sum_k k! K12^k q_k(K11) q_k(K22)

    and E[phi'(u)phi'(v)] the same for the coefficients j coef[j] of phi'. Each coefficient is a
    pytree leaf.

    Args:
        coef: the coefficients c_0, c_1, ..., lowest degree first; a non-empty sequence of finite numbers.

    Raises:
        TypeError, ValueError: for coefficients that are not a non-empty sequence of finite numbers.

    Example:
        >>> import jax.numpy as jnp
        >>> nngp, _ = Polynomial([1.0, 0.0, 1.0]).dual(jnp.ones(1), jnp.zeros(1), jnp.ones(1))
        >>> float(nngp[0])  # E[1 + u^2]^2 = 4 for independent u, v ~ N(0, 1)
        4.0
    """

    coef: Any

    def __post_init__(self) -> None:
        object.__setattr__(self, "coef", _check_coefficients(self.coef))

    def __call__(self, x: Array) -> Array:
        return _horner(self.coef, x)

    def derivative(self, x: Array) -> Array:
        if len(self.coef) == 1:
            return jnp.zeros_like(x)
        return _horner([j * self.coef[j] for j in range(1, len(self.coef))], x)

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        return _polynomial_dual(self.coef, k11, k12, k22)


def _hermite_factors(degree: int, k: Array) -> list[Array | None]:
    """q_k(K) = sqrt(n!) / (k! m!) ((K - 1)/2)^m for k = n - 2m, None for k of the other parity."""
    half_excess = (k - 1) / 2
    factors: list[Array | None] = [None] * (degree + 1)
    for m in range(degree // 2 + 1):
        order = degree - 2 * m
        coefficient = math.sqrt(math.factorial(degree)) / (math.factorial(order) * math.factorial(m))
        factors[order] = coefficient * half_excess**m
    return factors


def _hermite_nngp(degree: int, k11: Array, k12: Array, k22: Array) -> Array:
    return _moment_series(_hermite_factors(degree, k11), _hermite_factors(degree, k22), k12)


@dataclasses.dataclass(frozen=True)
class Hermite(Activation):
    """phi(x) = He_n(x) / sqrt(n!), the normalized probabilists' Hermite polynomial. By the
    scaling (Mehler) identity He_n(s z) = sum_m n! / (m! k!) s^k ((s^2 - 1)/2)^m He_k(z), k = n - 2m:

    E[phi(u)phi(v)]   = sum_m n! / (k! m!^2) K12^k ((K11 - 1)(K22 - 1)/4)^m   (= rho^n for unit variances)
    E[phi'(u)phi'(v)] = n times the above for degree n - 1        (phi' = sqrt(n) He_(n-1) / sqrt((n-1)!))

    Args:
        degree: n, an integer >= 0.

    Raises:
        TypeError, ValueError: for a degree that is not an integer >= 0.

    Example:
        >>> import jax.numpy as jnp
        >>> nngp, _ = Hermite(3).dual(jnp.ones(1), jnp.full(1, 0.5), jnp.ones(1))
        >>> round(float(nngp[0]), 6)  # rho^3
        0.125
    """

    degree: int = static_field()

    def __post_init__(self) -> None:
        check_degree(self, minimum=0)

    def _unnormalized(self, degree: int, x: Array) -> Array:
        """He_degree(x) by He_(k+1) = x He_k - k He_(k-1)."""
        previous, current = jnp.zeros_like(x), jnp.ones_like(x)
        for k in range(degree):
            previous, current = current, x * current - k * previous
        return current

    def __call__(self, x: Array) -> Array:
        return self._unnormalized(self.degree, x) / math.sqrt(math.factorial(self.degree))

    def derivative(self, x: Array) -> Array:
        if self.degree == 0:
            return jnp.zeros_like(x)
        return self.degree * self._unnormalized(self.degree - 1, x) / math.sqrt(math.factorial(self.degree))

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        nngp = _hermite_nngp(self.degree, k11, k12, k22)
        if self.degree == 0:
            return nngp, jnp.zeros_like(nngp)
        return nngp, self.degree * _hermite_nngp(self.degree - 1, k11, k12, k22)
