"""Activations without a closed form: 2-D Gauss-Hermite quadrature of their Gaussian expectations."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nngp_ntk import _checks, _fastmath
from nngp_ntk.activations._base import Activation, Array, correlation, safe_sqrt, sine_of_angle, static_field


#: 1-D Gauss-Hermite nodes for the variance map E[phi(u)^2] (cheap: O(N depth) evaluations).
VARIANCE_DEGREE = 256
#: The largest automatic 2-D degree (degree^2 evaluations per kernel entry and map).
MAX_AUTO_DEGREE = 512


def auto_degree(max_variance: float) -> int:
    """Gauss-Hermite degree for the 2-D maps of a unit-scale smooth activation (tanh-like).

    For inputs of variance up to ``max_variance`` K: ~64 K^0.8 + 16, rounded up to a multiple of 16.
    The nodes must resolve phi's unit scale inside a Gaussian of width sqrt(K), so the degree grows
    with K; it is capped at MAX_AUTO_DEGREE (degree^2 evaluations per entry), which K > 16 would need
    more than. Accuracy for tanh, as bounds that the tests check against nested adaptive quadrature
    (absolute error of either map, any correlation): 1e-6 for K <= 9 and 2e-4 for K <= 25, the
    largest error at rho = +-1 (the 2-D rule then has only ``degree`` distinct nodes). Beyond K = 25
    the capped rule is not bounded by any test.

    Args:
        max_variance: the largest pre-activation variance K.

    Returns:
        The degree.

    Warns:
        RuntimeWarning: the degree K needs exceeds MAX_AUTO_DEGREE (then MAX_AUTO_DEGREE is used).

    Example:
        >>> auto_degree(1.0), auto_degree(4.0)
        (80, 224)
    """
    wanted = 64 * max(float(max_variance), 0.25) ** 0.8 + 16
    degree = int(16 * math.ceil(wanted / 16))
    if degree > MAX_AUTO_DEGREE:
        _checks.warn(f"pre-activation variance {max_variance:.3g} needs Gauss-Hermite degree ~{degree}; "
                     f"using {MAX_AUTO_DEGREE}, accurate to 2e-4 only up to variance 25: scale the inputs or "
                     "W_std down, or pass degree= explicitly", RuntimeWarning)
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
            raise _checks.ArgumentValueError(
                f"{type(self).__name__}.degree must be an integer >= 2 or None (automatic), "
                f"got {self.degree!r}")

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
            raise _checks.ArgumentValueError("degree=None (automatic) needs concrete variances; inside jit use "
                                             "activation.resolve(max_variance) or pass degree= explicitly") from None
        return auto_degree(largest)

    def second_derivative(self, x: Array) -> Array:
        """phi''(x), elementwise (autodiff of ``derivative``); it enters only gradients."""
        return jax.jvp(self.derivative, (x,), (jnp.ones_like(x),))[1]

    def dual(self, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
        degree = self._degree(k11, k22)
        rho, _ = correlation(k11, k12, k22)
        shape = rho.shape
        # Both maps are symmetric in (u, v): the smaller variance goes to the outer node u, so
        # that swapping the points gives the same sums (K(x1, x2) = K(x2, x1)^T exactly); for tanh
        # at degree 24 this ordering is also the more accurate one in most cases (E[phi' phi']:
        # 0.18% -> 4e-7 at K11, K22 = 0.5, 2 and rho = 0.8; 0.7% -> 0.3% at 1, 3 and rho = 0.2).
        root1 = jnp.broadcast_to(safe_sqrt(jnp.minimum(k11, k22)), shape)
        root2 = jnp.broadcast_to(safe_sqrt(jnp.maximum(k11, k22)), shape)
        return _gauss_hermite_dual(self, degree, root1, root2, rho)

    def variance(self, k: Array) -> Array:
        nodes, weights = _fastmath.hermite_nodes(max(VARIANCE_DEGREE, self.degree or 0))
        dtype = jnp.result_type(k)
        u = safe_sqrt(k)[..., None] * jnp.asarray(nodes, dtype)
        return jnp.sum(self(u) ** 2 * jnp.asarray(weights, dtype), axis=-1)


def _gauss_hermite_sums(degree: int, root1: Array, root2: Array, rho: Array,
                       pairs: Sequence[tuple[Callable[[Array], Array], Callable[[Array], Array]]]
                       ) -> tuple[Array, ...]:
    """sum_ij w_i w_j f(u_i) g(v_ij) for each (f, g) in ``pairs``, with u_i = root1 z_i and
    v_ij = root2 (rho z_i + sqrt(1 - rho^2) z_j)."""
    nodes, weights = _fastmath.hermite_nodes(degree)
    dtype = jnp.result_type(rho)
    nodes, weights = jnp.asarray(nodes, dtype), jnp.asarray(weights, dtype)
    root1, root2, rho = root1[..., None], root2[..., None], rho[..., None]
    complement = sine_of_angle(rho)
    u = root1 * nodes                                       # (..., i)
    weighted = [f(u) * weights for f, _ in pairs]

    def add_node(j, sums):
        v = root2 * (rho * nodes + complement * nodes[j])   # (..., i)
        return tuple(total + weights[j] * jnp.sum(f_u * g(v), axis=-1)
                     for total, f_u, (_, g) in zip(sums, weighted, pairs, strict=True))

    zeros = jnp.zeros(rho.shape[:-1], dtype)
    return jax.lax.fori_loop(0, len(weights), add_node, tuple(zeros for _ in pairs))


def _gauss_hermite_maps(activation: _Quadrature, degree: int, root1: Array, root2: Array, rho: Array
                       ) -> tuple[Array, Array]:
    """(E[phi phi], E[phi' phi']) as plain sums (differentiable only away from rho = +-1)."""
    pairs = [(activation, activation), (activation.derivative, activation.derivative)]
    return _gauss_hermite_sums(degree, root1, root2, rho, pairs)  # type: ignore[return-value]


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _gauss_hermite_dual(activation: _Quadrature, degree: int, root1: Array, root2: Array, rho: Array
                        ) -> tuple[Array, Array]:
    """(E[phi(u) phi(v)], E[phi'(u) phi'(v)]) by the degree-``degree`` rule, sqrt(K11) = root1 <= root2.

    JVP: along root1, root2 (rho fixed) the derivative of the sums, which moves the nodes and needs
    phi' only; along rho, Price's theorem, dE[f(u) g(v)]/d rho = root1 root2 E[f'(u) g'(v)], so
    d E[phi phi] = root1 root2 E[phi' phi'] d rho and d E[phi' phi'] = root1 root2 E[phi'' phi''] d rho
    (finite at rho = +-1, where the sums' own derivative through sqrt(1 - rho^2) is not).
    """
    return _gauss_hermite_maps(activation, degree, root1, root2, rho)


@_gauss_hermite_dual.defjvp
def _gauss_hermite_jvp(activation: _Quadrature, degree: int, primals: tuple[Array, ...],
                       tangents: tuple[Array, ...]) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
    root1, root2, rho = primals
    droot1, droot2, drho = tangents
    (nngp, derivative), (dnngp, dderivative) = jax.jvp(
        lambda r1, r2: _gauss_hermite_maps(activation, degree, r1, r2, rho), (root1, root2), (droot1, droot2))
    second = activation.second_derivative
    (curvature,) = _gauss_hermite_sums(degree, root1, root2, rho, [(second, second)])
    scale = root1 * root2 * drho
    return (nngp, derivative), (dnngp + scale * derivative, dderivative + scale * curvature)


@dataclasses.dataclass(frozen=True)
class Tanh(_Quadrature):
    """phi(x) = tanh(x); no closed form: maps by Gauss-Hermite quadrature (see ``_Quadrature``).

    With the automatic degree (``degree=None``) both maps are within 1e-6 of the exact expectations
    for pre-activation variances up to 9 and within 2e-4 up to 25 (bounds checked by the tests; see
    ``auto_degree``).

    Args:
        degree: Gauss-Hermite nodes per dimension, or None to choose them from the inputs' variance
            each time a kernel is computed (``resolve``).

    Raises:
        TypeError, ValueError: a degree that is not a positive integer or None.

    Example:
        >>> Tanh().resolve(1.0)
        Tanh(degree=80)
    """

    degree: int | None = static_field(default=None)

    def __post_init__(self) -> None:
        self._check_degree()

    def __call__(self, x: Array) -> Array:
        return jnp.tanh(x)

    def derivative(self, x: Array) -> Array:
        return 1 - jnp.tanh(x) ** 2


@dataclasses.dataclass(frozen=True)
class Custom(_Quadrature):
    """Any elementwise JAX function ``fn``; maps by Gauss-Hermite quadrature, phi' by autodiff unless given.

    Quadrature converges fast for smooth ``fn``, slowly for kinks.

    Args:
        fn: the elementwise function, JAX-traceable.
        derivative_fn: its derivative (default: autodiff of ``fn``).
        degree: Gauss-Hermite nodes per dimension, or None for ``auto_degree``.

    Raises:
        TypeError: ``fn`` or ``derivative_fn`` not callable; a degree that is not an integer.

    Example:
        >>> import jax.numpy as jnp
        >>> _, derivative = Custom(jnp.sin, degree=64).dual(jnp.ones(1), jnp.zeros(1), jnp.ones(1))
        >>> round(float(derivative[0]), 6)                    # E[cos u]^2 = e^-1 for independent u, v
        0.367879
    """

    fn: Callable[[Array], Array] = static_field()
    derivative_fn: Callable[[Array], Array] | None = static_field(default=None)
    degree: int | None = static_field(default=None)

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise _checks.ArgumentTypeError(f"fn must be a callable elementwise function, got {type(self.fn).__name__}")
        if self.derivative_fn is not None and not callable(self.derivative_fn):
            raise _checks.ArgumentTypeError("derivative_fn must be callable or None, "
                                            f"got {type(self.derivative_fn).__name__}")
        self._check_degree()

    def __call__(self, x: Array) -> Array:
        return self.fn(x)

    def derivative(self, x: Array) -> Array:
        if self.derivative_fn is not None:
            return self.derivative_fn(x)
        return super().derivative(x)
