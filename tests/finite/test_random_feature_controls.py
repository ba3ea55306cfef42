"""The first-order control variate of random-feature losses: its infinite-width kernels are the NNGP,
its coefficients are the loss's derivatives, its draws are random_features' draws, its mean is zero."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk import data
from nngp_ntk.finite import _random_features as random_features
from nngp_ntk.finite._controls import FirstOrderControl, has_control, layer_map


def _loss(kernel: np.ndarray, targets: np.ndarray, size: int, ridge: float) -> float:
    """Test MSE of kernel regression with ``kernel`` on (train + test) x train."""
    weights = np.linalg.solve(kernel[:size] + ridge * np.eye(size), targets[:size])
    return float(np.mean((kernel[size:] @ weights - targets[size:]) ** 2))


@pytest.fixture(scope="module")
def problem():
    X = data.sphere(9, 3, seed=0)
    targets = np.random.default_rng(0).normal(size=(9, 2))
    return X, targets


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_infinite_width_readout_kernel_is_the_nngp(problem, activation):
    X, targets = problem
    net = nk.FullyConnected(depth=2, activation=activation, W_std=1.4, b_std=0.3)
    control = FirstOrderControl(net, X, 4, targets)
    kernel = control.input_kernel
    with jax.enable_x64(True):
        for layers in control.hidden:
            kernel = layer_map(layers, kernel)
        nngp = np.asarray(net.kernel(X.astype(np.float64), get="nngp"))
    np.testing.assert_allclose(1.4**2 * np.asarray(kernel[0]) + 0.3**2, nngp[:, :4], rtol=1e-9)
    np.testing.assert_allclose(1.4**2 * np.asarray(kernel[1]) + 0.3**2, np.diag(nngp), rtol=1e-9)


def test_coefficients_are_the_derivatives_of_the_loss(problem):
    """<M_1, dA> = d/de L(readout kernel of A_1 + e dA) at e = 0 (central differences), depth 2."""
    X, targets = problem
    net = nk.FullyConnected(depth=2, activation="relu", W_std=1.4, b_std=0.3)
    size, ridge = 4, 0.05
    control = FirstOrderControl(net, X, size, targets, ridge)
    with jax.enable_x64(True):
        first = layer_map(control.hidden[0], control.input_kernel)
        rng = np.random.default_rng(1)
        change = rng.normal(size=(9, 9))
        change = (change + change.T) / 2
        direction = (change[:, :size], np.diag(change))

        def loss(step: float) -> float:
            moved = (first[0] + step * direction[0], first[1] + step * direction[1])
            block = np.asarray(layer_map(control.hidden[1], moved)[0])
            return _loss(1.4**2 * block + 0.3**2, targets, size, ridge)

        step = 1e-5
        numeric = (loss(step) - loss(-step)) / (2 * step)
    block_weights, diagonal_weights = control.weights[0]
    analytic = np.sum(block_weights * direction[0]) + np.sum(diagonal_weights * direction[1])
    assert abs(analytic - numeric) < 1e-6 * max(1.0, abs(numeric)), (analytic, numeric)


@pytest.mark.slow
def test_a_draw_is_random_features_draw_and_its_first_order_loss(problem):
    """Depth 1: C = G(K_P - K), the derivative of the loss along the draw's kernel change."""
    X, targets = problem
    net = nk.FullyConnected(depth=1, activation="relu", W_std=1.4, b_std=0.3)
    size = 4
    features, value = FirstOrderControl(net, X, size, targets).draw(width=30, seed=5)
    np.testing.assert_array_equal(features, random_features.random_features(net, X, 30, seed=5))
    with jax.enable_x64(True):
        nngp = np.asarray(net.kernel(X.astype(np.float64), get="nngp"))[:, :size]
    change = features @ features[:size].T - nngp
    step = 1e-6
    numeric = (_loss(nngp + step * change, targets, size, 0.0) - _loss(nngp - step * change, targets, size, 0.0)) \
        / (2 * step)
    assert abs(value - numeric) < 1e-6 * max(1.0, abs(numeric)), (value, numeric)


def test_control_refuses_bad_input(problem):
    X, targets = problem
    ends_with_norm = nk.Sequential(nk.Dense(), nk.LayerNorm(), nk.activations.ReLU(), nk.Dense())
    assert has_control(nk.FullyConnected(depth=3)) and not has_control(ends_with_norm)
    with pytest.raises(ValueError, match="stack of NTK-parameterized Dense"):
        FirstOrderControl(ends_with_norm, X, 4, targets)
    with pytest.raises(ValueError, match="size"):
        FirstOrderControl(nk.FullyConnected(depth=1), X, 9, targets)
    with pytest.raises(ValueError, match="targets"):
        FirstOrderControl(nk.FullyConnected(depth=1), X, 4, targets[:5])


@pytest.mark.slow
def test_control_has_mean_zero_at_depth_two():
    """Over 300 draws of a width-3 network, where the O(1/P) bias of the random-feature kernel is
    large, the control's mean is within 4 standard errors of zero."""
    X = data.sphere(6, 3, seed=0)
    targets = np.random.default_rng(0).normal(size=(6, 1))
    control = FirstOrderControl(nk.FullyConnected(depth=2, activation="relu", W_std=1.4, b_std=0.3), X, 3, targets)
    values = np.array([control.draw(width=3, seed=s)[1] for s in range(300)])
    assert abs(values.mean()) < 4 * values.std(ddof=1) / np.sqrt(len(values)), (values.mean(), values.std())
