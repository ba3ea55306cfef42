"""Gradients of the dual maps with respect to (K11, K12, K22): central differences inside the
domain, finite values and the exact identities at correlations of +-1 and zero variances, and
gradients of a small kernel recursion with duplicate points (all in float64)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nngp_ntk import activations as act

pytestmark = pytest.mark.usefixtures("x64")

ACTIVATIONS = [
    act.ReLU(), act.LeakyReLU(0.2), act.ABReLU(-0.4, 1.3), act.Abs(), act.Sign(), act.Erf(1.3, 0.7, 0.4),
    act.GELU(), act.Identity(), act.Sin(1.2, 0.8, 0.3), act.Cos(), act.Tanh(degree=48),
    act.Custom(jnp.sin, degree=32), act.Monomial(3), act.Polynomial([0.3, -1.0, 0.5, 0.2]), act.Hermite(4),
    act.Gaussian(1.3, -0.7), act.Exp(0.8, 0.6), *[act.RectifiedMonomial(n) for n in range(4)],
]
IDS = [f"{type(a).__name__}{getattr(a, 'degree', '') or ''}" for a in ACTIVATIONS]
#: Those whose E[phi phi] has a finite derivative in K12 at rho = +-1 (phi continuous): Price's
#: theorem gives it exactly, dE[phi phi]/dK12 = E[phi' phi'].
CONTINUOUS = [a for a in ACTIVATIONS if not isinstance(a, act.Sign) and getattr(a, "degree", 1) != 0]
#: The quadrature activations compile slowly: in the default run only where their JVP is special.
SLOW_QUADRATURE = [pytest.param(a, id=i, marks=pytest.mark.slow if a.uses_quadrature else ())
                   for a, i in zip(ACTIVATIONS, IDS, strict=True)]


def _partials(activation: act.Activation, k11, k12, k22) -> np.ndarray:
    """d(map)/d(K11, K12, K22) elementwise: shape (2 maps, 3 arguments, points)."""
    k = [jnp.asarray(x, jnp.float64) for x in (k11, k12, k22)]

    def partials(*k):  # one compiled program (op-by-op dispatch is slower)
        return [jax.grad(lambda *k: jnp.sum(activation.dual(*k)[i]), argnums=(0, 1, 2))(*k) for i in range(2)]

    return np.asarray(jax.jit(partials)(*k))


def _central(activation: act.Activation, k11, k12, k22, step: float = 1e-6) -> np.ndarray:
    k = [np.asarray(x, np.float64) for x in (k11, k12, k22)]
    result = np.zeros((2, 3, len(k[0])))
    for j in range(3):
        plus, minus = [x.copy() for x in k], [x.copy() for x in k]
        plus[j] += step
        minus[j] -= step
        high = jax.jit(activation.dual)(*(jnp.asarray(x) for x in plus))
        low = jax.jit(activation.dual)(*(jnp.asarray(x) for x in minus))
        for i in range(2):
            result[i, j] = (np.asarray(high[i]) - np.asarray(low[i])) / (2 * step)
    return result


INTERIOR_K11 = np.array([1.2, 0.4, 1.5, 0.8, 0.9])
INTERIOR_K22 = np.array([0.5, 0.9, 0.3, 0.8, 1.1])
INTERIOR_K12 = np.array([-0.7, 0.0, 0.3, 0.9, 0.55]) * np.sqrt(INTERIOR_K11 * INTERIOR_K22)

# rho = 1 and -1 at equal and unequal variances, then zero variances.
EDGE_K11 = np.array([0.7, 0.7, 1.2, 1.2, 0.0, 0.8, 0.0])
EDGE_K22 = np.array([0.7, 0.7, 0.5, 0.5, 1.2, 0.0, 0.0])
EDGE_K12 = np.array([0.7, -0.7, np.sqrt(0.6), -np.sqrt(0.6), 0.0, 0.0, 0.0])


@pytest.mark.slow
@pytest.mark.parametrize("activation", SLOW_QUADRATURE)
def test_gradients_match_central_differences(activation):
    got = _partials(activation, INTERIOR_K11, INTERIOR_K12, INTERIOR_K22)
    expected = _central(activation, INTERIOR_K11, INTERIOR_K12, INTERIOR_K22)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("activation", [pytest.param(a, marks=pytest.mark.slow) if isinstance(a, (act.Tanh, act.Custom))
                                        else a for a in ACTIVATIONS], ids=IDS)
def test_gradients_at_unit_correlation_and_zero_variance(activation):
    """Finite everywhere; for continuous phi at rho = +-1, dE[phi phi]/dK12 = E[phi' phi'] exactly
    (the finite one-sided limit) and the gradient is the limit of the gradients as rho -> +-1."""
    partials = _partials(activation, EDGE_K11, EDGE_K12, EDGE_K22)
    assert np.isfinite(partials).all()
    if activation not in CONTINUOUS:
        return
    _, derivative = activation.dual(*(jnp.asarray(x) for x in (EDGE_K11[:4], EDGE_K12[:4], EDGE_K22[:4])))
    np.testing.assert_allclose(partials[0, 1, :4], np.asarray(derivative), rtol=1e-12, atol=1e-14)
    near = _partials(activation, EDGE_K11[:4], EDGE_K12[:4] * (1 - 1e-9), EDGE_K22[:4])
    np.testing.assert_allclose(partials[0, :, :4], near[0], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("activation", SLOW_QUADRATURE)
@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["rho=1", "rho=-1"])
def test_derivative_along_directions_that_keep_the_correlation(activation, sign):
    """K -> (1 + t) K keeps rho = +-1 (scaling the weights, or both points): the JVP of both maps
    equals the central difference along it, including maps of degree 0 whose K12-derivative is
    infinite there."""
    k = [jnp.asarray(x) for x in (EDGE_K11[:4:2], sign * EDGE_K12[:4:2], EDGE_K22[:4:2])]
    _, tangent = jax.jvp(activation.dual, k, k)
    step = 1e-6
    high = activation.dual(*(x * (1 + step) for x in k))
    low = activation.dual(*(x * (1 - step) for x in k))
    for i in range(2):
        expected = (np.asarray(high[i]) - np.asarray(low[i])) / (2 * step)
        np.testing.assert_allclose(np.asarray(tangent[i]), expected, rtol=1e-6, atol=1e-7)


CLOSED_FORMS = [a for a in ACTIVATIONS if not a.uses_quadrature]
ARCCOS = [a for a in CLOSED_FORMS if isinstance(a, (act.ABReLU, act.LeakyReLU, act.Sign, act.RectifiedMonomial))]


@pytest.mark.parametrize("activation", ARCCOS, ids=[f"{type(a).__name__}{getattr(a, 'degree', '')}" for a in ARCCOS])
def test_second_derivative_along_the_scaling_at_unit_correlation(activation):
    """K -> s K keeps rho = 1, and a map of degree n is s^n times its value: forward over reverse
    mode (jax.hessian's order) gives n (n - 1) E, not NaN (sin(theta) = 0 has a finite JVP)."""
    k11, k22 = jnp.asarray(EDGE_K11[:1]), jnp.asarray(EDGE_K22[:1])
    k12 = jnp.sqrt(k11 * k22)
    degree = {act.Sign: 0}.get(type(activation), getattr(activation, "degree", 1))
    for i, n in enumerate((degree, max(degree - 1, 0))):   # E[phi phi] and E[phi' phi'] (degree n - 1)
        value = activation.dual(k11, k12, k22)[i]
        second = jax.jacfwd(jax.grad(lambda s: jnp.sum(activation.dual(s * k11, s * k12, s * k22)[i])))(1.0)
        np.testing.assert_allclose(second, n * (n - 1) * np.sum(value), rtol=1e-10, atol=1e-12)


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(k11=st.sampled_from([0.0, 1e-8, 0.3, 1.0, 2.0]), k22=st.sampled_from([0.0, 0.3, 1.0, 2.0]),
       rho=st.sampled_from([-1.0, -1 + 1e-12, -0.5, 0.0, 0.5, 1 - 1e-12, 1.0]),
       index=st.integers(0, len(CLOSED_FORMS) - 1))
def test_gradients_are_never_nan(k11, k22, rho, index):
    activation = CLOSED_FORMS[index]
    k12 = rho * np.sqrt(k11 * k22)
    assert np.isfinite(_partials(activation, [k11], [k12], [k22])).all()


def _nngp(activation: act.Activation, x: jax.Array, w_std: jax.Array, depth: int = 3) -> jax.Array:
    """The NNGP of [Dense(w_std, b_std=0.1), activation] * depth + Dense(w_std) (NTK parameterization)."""
    k = w_std**2 * x @ x.T / x.shape[1] + 0.01
    for _ in range(depth):
        diagonal = jnp.diag(k)
        k = w_std**2 * activation.dual(diagonal[:, None], k, diagonal[None, :])[0] + 0.01
    return k


RECURSION = [act.ReLU(), act.Erf(), act.Tanh(degree=64), act.RectifiedMonomial(2), act.Abs()]


@pytest.mark.slow
@pytest.mark.parametrize("activation", RECURSION, ids=[type(a).__name__ for a in RECURSION])
def test_kernel_gradients_with_duplicate_points(activation):
    """A kernel on inputs with a repeated row (rho = 1 off the diagonal): the gradient in W_std
    equals central differences, and the input gradient is finite. (For tanh the JVP is that of the
    integral, by Price's theorem, and differs from the derivative of the degree-64 sums by their
    quadrature error.)"""
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)))
    x = x.at[1].set(x[0])

    def loss(w_std, x):
        return jnp.sum(_nngp(activation, x, w_std) * jnp.arange(1.0, 17.0).reshape(4, 4))

    gradient, input_gradient = jax.jit(jax.grad(loss, argnums=(0, 1)))(1.3, x)
    step = 1e-6
    expected = (jax.jit(loss)(1.3 + step, x) - jax.jit(loss)(1.3 - step, x)) / (2 * step)
    assert float(gradient) == pytest.approx(float(expected), rel=1e-5 if activation.uses_quadrature else 1e-7)
    assert np.isfinite(np.asarray(input_gradient)).all()
