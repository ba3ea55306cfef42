"""Activations without a closed form: 2-D Gauss-Hermite quadrature of their Gaussian expectations."""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nngp_ntk import _fastmath
from nngp_ntk.activations._base import Activation, Array, correlation, static_field


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

    def resolve(self, max_variance: float, dtype: Any = None) -> Activation:
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
        rho, _ = correlation(k11, k12, k22)
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

    degree: int | None = static_field(default=None)

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

    fn: Callable[[Array], Array] = static_field()
    derivative_fn: Callable[[Array], Array] | None = static_field(default=None)
    degree: int | None = static_field(default=None)

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
