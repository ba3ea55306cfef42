"""Random-feature models: their kernel tends to the NNGP, the readout's ridge forms agree, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk import data
from nngp_ntk.finite import _random_features as random_features


@pytest.mark.slow
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

