"""kernel_fn's derivatives: the rule of nngp_ntk.kernels._forward_jacobian (forward-mode Jacobian columns for a few
perturbed scalar hyperparameters) gives the same derivatives as the plain JVP / reverse mode, and
second derivatives are finite."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk.kernels import _forward_jacobian as forward_jacobian

pytestmark = pytest.mark.usefixtures("x64")

X = np.random.default_rng(0).standard_normal((9, 4))
X2 = np.random.default_rng(1).standard_normal((5, 4))


def _sequential(w1, b1, slope):
    return nk.Sequential(nk.Dense(W_std=w1, b_std=b1), nk.activations.LeakyReLU(slope),
                         nk.Dense(W_std=1.3, b_std=0.2), nk.activations.Erf(), nk.Dense(W_std=1.1))


def _loss(w1, b1, slope, x):
    kernels = _sequential(w1, b1, slope).kernel_fn(x, X2)
    return jnp.sum(kernels.ntk * jnp.cos(kernels.nngp))


def _plain(monkeypatch, function, *args):
    """``function(*args)`` with the rule forced onto the plain JVP (no forward-mode columns)."""
    with monkeypatch.context() as patch:
        patch.setattr(forward_jacobian, "MAX_FORWARD_SCALARS", 0)
        return function(*args)


def test_gradient_equals_reverse_mode(monkeypatch):
    gradient = jax.grad(_loss, argnums=(0, 1, 2))
    args = (1.4, 0.3, 0.1, X)
    np.testing.assert_allclose(gradient(*args), _plain(monkeypatch, gradient, *args), rtol=1e-12)


def test_inputs_and_many_scalars_take_the_plain_rule(monkeypatch):
    """Input gradients, and more perturbed scalars than MAX_FORWARD_SCALARS, agree either way."""
    with_inputs = jax.grad(_loss, argnums=(0, 3))
    args = (1.4, 0.3, 0.1, X)
    for mine, plain in zip(with_inputs(*args), _plain(monkeypatch, with_inputs, *args)):
        np.testing.assert_allclose(mine, plain, rtol=1e-12)
    monkeypatch.setattr(forward_jacobian, "MAX_FORWARD_SCALARS", 1)
    three = jax.grad(_loss, argnums=(0, 1, 2))(*args)
    np.testing.assert_allclose(three, _plain(monkeypatch, jax.grad(_loss, argnums=(0, 1, 2)), *args), rtol=1e-12)


def test_shared_tracer_counts_once_and_matches_central_differences():
    """FullyConnected repeats W_std in each Dense layer: one scalar, whose derivative (jvp, grad
    under jit and vmap) equals a central difference of the kernel."""
    def ntk(w):
        return nk.FullyConnected(depth=3, activation="relu", W_std=w, b_std=0.1).kernel_fn(X, get="ntk")

    step = 1e-6
    central = (ntk(1.5 + step) - ntk(1.5 - step)) / (2 * step)
    _, tangent = jax.jvp(ntk, (1.5,), (1.0,))
    np.testing.assert_allclose(tangent, central, rtol=1e-7)
    weights = jnp.asarray(np.random.default_rng(2).standard_normal(X.shape[0]))
    grad = jax.jit(jax.grad(lambda w: weights @ ntk(w) @ weights))
    np.testing.assert_allclose(grad(1.5), weights @ central @ weights, rtol=1e-7)
    batched = jax.vmap(jax.grad(lambda w: ntk(w).sum()))(jnp.array([1.2, 1.5]))
    np.testing.assert_allclose(batched[1], central.sum(), rtol=1e-7)


def test_concrete_call_runs_the_kernels_directly():
    calls = []

    def kernels(leaves, x1, x2):
        calls.append(leaves)
        return (leaves[0] * x1 @ x1.T,)

    [value] = forward_jacobian.with_forward_jacobian(kernels, [2.0], jnp.ones((2, 3)), None)
    np.testing.assert_array_equal(value, np.full((2, 2), 6.0))
    assert calls == [[2.0]]


@pytest.mark.parametrize("activation", ["relu", pytest.param("erf", marks=pytest.mark.slow)])
def test_hessian_is_finite_and_equals_central_differences_of_the_gradient(activation):
    """jax.hessian (forward over reverse) through repeated layers (a lax.scan) and the diagonal
    (correlation 1): finite, and equal to a central difference of the gradient."""
    def loss(w):
        return nk.FullyConnected(depth=3, activation=activation, W_std=w, b_std=0.1).kernel_fn(X, get="ntk").sum()

    gradient, step = jax.grad(loss), 1e-5
    central = (gradient(1.5 + step) - gradient(1.5 - step)) / (2 * step)
    np.testing.assert_allclose(jax.hessian(loss)(1.5), central, rtol=1e-7)
