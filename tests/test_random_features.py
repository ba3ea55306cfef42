"""Random-feature models: their kernel tends to the NNGP, the readout's ridge forms agree, bad input."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk import data, random_features


def test_random_features_converge_to_the_nngp():
    net = nk.FullyConnected(depth=1, activation="relu", W_std=1.3, b_std=0.2)
    X = data.sphere(6, 3, seed=2)
    features = random_features.random_features(net, X, 40000, seed=0)
    assert features.shape == (6, 40001)
    np.testing.assert_allclose(features @ features.T, net.kernel(X.astype(np.float64), get="nngp"),
                               atol=0.03 * net.kernel(X, get="nngp").max())


def test_fit_readout_ridge_forms_agree():
    rng = np.random.default_rng(0)
    tall, wide, y = rng.normal(size=(30, 8)), rng.normal(size=(8, 30)), rng.normal(size=(30, 2))
    primal = random_features.fit_readout(tall, y, ridge=0.1)
    np.testing.assert_allclose(tall.T @ (tall @ primal - y) + 0.1 * primal, 0, atol=1e-10)
    dual = random_features.fit_readout(wide, y[:8], ridge=0.1)
    np.testing.assert_allclose(wide.T @ (wide @ dual - y[:8]) + 0.1 * dual, 0, atol=1e-10)
    minimum_norm = random_features.fit_readout(wide, y[:8])
    np.testing.assert_allclose(minimum_norm, np.linalg.pinv(wide) @ y[:8], atol=1e-10)


def test_random_features_refuse_bad_input():
    net = nk.FullyConnected(depth=1)
    X = data.sphere(6, 3, seed=2)
    with pytest.raises(TypeError, match="width"):
        random_features.random_features(net, X, 4.0)
    with pytest.raises(ValueError, match="width"):
        random_features.random_features(net, X, 0)
    with pytest.raises(TypeError, match="net"):
        random_features.random_features("relu", X, 4)
    with pytest.raises(ValueError, match="ridge"):
        random_features.fit_readout(np.ones((3, 2)), np.ones(3), ridge=-1.0)


def test_features_of_any_network():
    """A Sequential's random features equal those of the FullyConnected it stands for."""
    X = np.random.default_rng(3).standard_normal((7, 4))
    net = nk.Sequential(nk.Dense(W_std=1.3, b_std=0.2), nk.activations.Erf(), nk.Dense(W_std=1.1, b_std=0.3))
    same = nk.FullyConnected(depth=1, activation="erf", W_std=[1.3, 1.1], b_std=[0.2, 0.3])
    np.testing.assert_allclose(random_features.random_features(net, X, width=16, seed=2),
                               random_features.random_features(same, X, width=16, seed=2))
    with pytest.raises(ValueError, match="Dense readout"):
        random_features.random_features(nk.Sequential(nk.Dense(), nk.activations.Erf()), X, width=4)


def _arccos_relu(kernel: np.ndarray) -> np.ndarray:
    """E[relu(u) relu(v)] for (u, v) ~ N(0, kernel): Cho & Saul's arc-cosine kernel of degree 1."""
    norms = np.sqrt(np.diag(kernel))
    cosine = np.clip(kernel / np.outer(norms, norms), -1.0, 1.0)
    angle = np.arccos(cosine)
    return np.outer(norms, norms) * (np.sin(angle) + (np.pi - angle) * cosine) / (2 * np.pi)


@pytest.mark.parametrize("depth", [1, 2])
def test_mean_kernel_is_the_last_layer_average_in_closed_form(depth):
    """Kbar = W^2 E[relu relu](W^2 h h^T / n + b^2) + b^2 with h the inputs of the last hidden Dense
    (the points themselves at depth 1, where Kbar is the NNGP)."""
    W, b = 1.3, 0.2
    net = nk.FullyConnected(depth=depth, activation="relu", W_std=W, b_std=b)
    X = data.sphere(5, 3, seed=1)
    features, mean = random_features.random_features_with_mean(net, X, 7, seed=3)
    np.testing.assert_array_equal(features, random_features.random_features(net, X, 7, seed=3))
    if depth == 1:
        inputs = X
    else:
        with jax.enable_x64(True):    # the draw of random_features (float64)
            weight, bias = nk.finite.init_params(net, 3, X.shape[1], 7, dtype=np.float64)[0]
        inputs = np.maximum(W * X @ np.asarray(weight) / np.sqrt(X.shape[1]) + b * np.asarray(bias), 0.0)
    expected = W**2 * _arccos_relu(W**2 * inputs @ inputs.T / inputs.shape[1] + b**2) + b**2
    np.testing.assert_allclose(mean, expected, rtol=1e-10, atol=1e-12)


def test_mean_kernel_needs_dense_activations_dense_at_the_end():
    assert random_features.has_mean_kernel(nk.FullyConnected(depth=3))
    ends_with_norm = nk.Sequential(nk.Dense(), nk.LayerNorm(), nk.activations.ReLU(), nk.Dense())
    assert not random_features.has_mean_kernel(ends_with_norm)
    with pytest.raises(ValueError, match="activations only"):
        random_features.random_features_with_mean(ends_with_norm, data.sphere(4, 3), 5)
