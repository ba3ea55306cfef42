"""Vectorizable arcsin / arccos accurate to the dtype, and Gauss-Hermite nodes.

XLA's CPU ``acos``/``atan2`` are scalar calls; the kernels here spend most of their time on
them, so they are replaced by a polynomial that vectorizes (``benchmarks/arccos_speed.py`` times
both and measures their errors in ulps). The range reduction is the classical one:

    asin(x) = x + x z R(z),                      z = x^2,            |x| <= 1/2
    asin(x) = pi/2 - 2 asin(s),                  s = sqrt((1-x)/2),   1/2 < x <= 1
    acos(x) = 2 asin(sqrt((1 - x) / 2))         for x > 1/2  (no cancellation near x = 1)

with R(z) = (asin(sqrt z) - sqrt z) / z^{3/2} = sum_n c_{n+1} z^n,
c_n = (2n)! / (4^n (n!)^2 (2n + 1)), approximated on z in [0, 1/4] by a least-squares polynomial
fitted at import on Chebyshev nodes: degree 5 for float32 (2e-8 relative in R), degree 11 for
float64 (2e-15 relative in R, so below one ulp of asin after the factor z <= 1/4).

Both carry the exact JVP, d asin(x) = dx / sqrt(1 - x^2) = -d acos(x), rather than the derivative
of the approximation (whose range switch would give NaN at x = 0 through an unused sqrt); at
|x| = 1, where it is infinite, the JVP is 0 (callers that reach +-1 define their own, see
``activations.arccos``).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special

_DEGREE = {np.dtype(np.float32): 5, np.dtype(np.float64): 11}


def _asin_series_remainder(z: np.ndarray, terms: int = 80) -> np.ndarray:
    """R(z) = sum_{n>=0} c_{n+1} z^n by Horner in float64 (positive terms: no cancellation)."""
    coefficient = 1.0
    coefficients = []
    for n in range(1, terms + 1):
        coefficient *= (2 * n - 1) / (2 * n)
        coefficients.append(coefficient / (2 * n + 1))
    total = np.zeros_like(z)
    for c in reversed(coefficients):
        total = total * z + c
    return total


@functools.cache
def _remainder_coefficients(dtype: np.dtype) -> tuple[float, ...]:
    """Monomial coefficients (lowest first) of the fitted R(z) on [0, 1/4] for ``dtype``."""
    nodes = 0.125 * (1.0 - np.cos(np.linspace(0.0, np.pi, 2001)))
    fit = np.polynomial.Polynomial.fit(nodes, _asin_series_remainder(nodes), _DEGREE[dtype],
                                       domain=[0.0, 0.25])
    return tuple(float(c) for c in fit.convert().coef)


def _asin_small(s: jnp.ndarray, z: jnp.ndarray) -> jnp.ndarray:
    """asin(s) for 0 <= s <= 1/2 given z = s^2, as s + s z R(z) (Horner)."""
    coefficients = _remainder_coefficients(np.dtype(s.dtype))
    remainder = jnp.full_like(z, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        remainder = remainder * z + c
    return s + s * z * remainder


def safe_sqrt(k: jnp.ndarray) -> jnp.ndarray:
    """sqrt(max(k, 0)), with derivative dk / (2 sqrt(k)) for k > 0 and 0 at k <= 0 (not NaN).

    Written with ``where`` around a placeholder root rather than as a custom JVP, so that the
    derivative is finite however JAX reaches it (it differentiates the primal code of custom JVPs
    when it differentiates a reverse pass through ``lax.scan`` again, as ``jax.hessian`` does).
    """
    positive = k > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, k, 1)), 0)


def _reduce(x: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(whether |x| > 1/2, asin of the reduced argument) for the two ranges.

    The root has a finite derivative at 0: JAX differentiates this approximation itself (rather
    than the custom JVPs of ``asin``/``acos``) when it differentiates a reverse pass through a
    ``lax.scan`` again, as ``jax.hessian`` of a kernel over repeated layers does; an infinite one
    gave NaN there.
    """
    magnitude = jnp.abs(x)
    large = magnitude > 0.5
    z = jnp.where(large, 0.5 * (1.0 - magnitude), magnitude * magnitude)
    s = jnp.where(large, safe_sqrt(z), magnitude)
    return large, _asin_small(s, z)


def _inverse_cosine_of_asin(x: jnp.ndarray) -> jnp.ndarray:
    """1 / sqrt(1 - x^2) for |x| < 1, else 0."""
    inside = jnp.abs(x) < 1
    return jnp.where(inside, jax.lax.rsqrt(jnp.where(inside, (1 - x) * (1 + x), 1)), 0)


@jax.custom_jvp
def asin(x: jnp.ndarray) -> jnp.ndarray:
    """arcsin(x) for x in [-1, 1] (callers clip), accurate to the dtype of ``x``."""
    large, reduced = _reduce(x)
    magnitude_asin = jnp.where(large, 0.5 * np.pi - 2.0 * reduced, reduced)
    return jnp.where(x < 0, -magnitude_asin, magnitude_asin)


@asin.defjvp
def _asin_jvp(primals: tuple[jnp.ndarray], tangents: tuple[jnp.ndarray]) -> tuple[jnp.ndarray, jnp.ndarray]:
    (x,), (dx,) = primals, tangents
    return asin(x), dx * _inverse_cosine_of_asin(x)


@jax.custom_jvp
def acos(x: jnp.ndarray) -> jnp.ndarray:
    """arccos(x) for x in [-1, 1] (callers clip), accurate to the dtype of ``x``.

    Near x = 1, acos(x) = 2 asin(sqrt((1 - x)/2)) keeps full relative accuracy of the small angle.
    """
    large, reduced = _reduce(x)
    positive = jnp.where(large, 2.0 * reduced, 0.5 * np.pi - reduced)
    negative = jnp.where(large, np.pi - 2.0 * reduced, 0.5 * np.pi + reduced)
    return jnp.where(x < 0, negative, positive)


@acos.defjvp
def _acos_jvp(primals: tuple[jnp.ndarray], tangents: tuple[jnp.ndarray]) -> tuple[jnp.ndarray, jnp.ndarray]:
    (x,), (dx,) = primals, tangents
    return acos(x), -dx * _inverse_cosine_of_asin(x)


@functools.cache
def hermite_nodes(degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss-Hermite nodes and weights normalized so that sum(w) = 1.

    sum_i w_i f(z_i) ~ E[f(Z)] for Z ~ N(0, 1), exact for polynomials of degree < 2 * degree.
    """
    nodes, weights = scipy.special.roots_hermitenorm(degree)  # stable for large degrees, unlike hermegauss
    return nodes, weights / weights.sum()
