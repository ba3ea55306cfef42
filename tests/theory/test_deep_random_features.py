"""Deep random-feature models: the last layer's kernel given the earlier layers, and the predicted L(P)
with the earlier layers sampled at width P, against closed forms and measured models on real digits."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk import data, scaling
from nngp_ntk.finite._random_features import conditional_nngp, last_hidden_layer, random_features
from nngp_ntk.theory._random_features import sampled_layers_losses


def _relu_map(S: np.ndarray, W_std: float, b_std: float) -> np.ndarray:
    """The arc-cosine closed form: W^2 E[relu(u) relu(v)] + b^2, (u, v) ~ N(0, S)."""
    norms = np.sqrt(np.diag(S))
    outer = np.outer(norms, norms)
    cosine = np.clip(S / outer, -1.0, 1.0)
    theta = np.arccos(cosine)
    return W_std**2 * outer * (np.sin(theta) + (np.pi - theta) * cosine) / (2 * np.pi) + b_std**2


def test_last_hidden_layer_splits_stacks_of_hidden_layers():
    assert last_hidden_layer(nk.FullyConnected(depth=3)) == 4
    assert last_hidden_layer(nk.FullyConnected(depth=2, activation="erf")) == 2
    assert last_hidden_layer(nk.FullyConnected(depth=1)) is None
    assert last_hidden_layer(nk.Sequential(nk.Dense(), nk.LayerNorm(), nk.activations.ReLU(), nk.Dense(),
                                           nk.activations.ReLU(), nk.Dense())) == 3
    assert last_hidden_layer(nk.Sequential(nk.Dense(), nk.activations.ReLU(), nk.Dense(), nk.LayerNorm(),
                                           nk.Dense())) is None


def test_conditional_nngp_is_the_last_layer_map_of_the_earlier_features():
    """E[K_P | earlier layers] = the arc-cosine map of the empirical kernel of the layers before."""
    X = data.sphere(30, 3, seed=0)
    net = nk.FullyConnected(depth=3, W_std=1.3, b_std=0.2)
    earlier = nk.FullyConnected(depth=2, W_std=1.3, b_std=0.2)
    features = random_features(earlier, X, 5, seed=3)          # W_std F / sqrt(P), b: the last layer's input kernel
    np.testing.assert_allclose(conditional_nngp(net, X, 5, seed=3), _relu_map(features @ features.T, 1.3, 0.2),
                               rtol=1e-12, atol=1e-12)
    dead = nk.FullyConnected(depth=2, W_std=1.0, b_std=0.0)    # width 1: rows whose features are all zero
    assert all(np.all(np.isfinite(conditional_nngp(dead, X, 1, seed=s))) for s in range(10))


def test_conditional_nngp_tends_to_the_nngp():
    X = data.sphere(12, 3, seed=1)
    net = nk.FullyConnected(depth=2, W_std=1.2, b_std=0.3)
    with jax.enable_x64(True):
        nngp = np.asarray(net.kernel(X, get="nngp"))
    errors = [np.abs(conditional_nngp(net, X, width, seed=0) - nngp).max() for width in (50, 5000)]
    assert errors[1] < 0.05 * nngp.max() and errors[1] < errors[0] / 3


def test_sampled_layers_losses_refuse_bad_input():
    X = data.sphere(20, 3, seed=0)
    with pytest.raises(ValueError, match="hidden layers before"):
        sampled_layers_losses(nk.FullyConnected(depth=1), X, X[:, 0], [2, 4])
    with pytest.raises(ValueError, match="widths"):
        sampled_layers_losses(nk.FullyConnected(depth=2), X, X[:, 0], [2.5, 4])
    with pytest.raises(ValueError, match="draws"):
        sampled_layers_losses(nk.FullyConnected(depth=2), X, X[:, 0], [2, 4], draws=0)
    with pytest.raises(ValueError, match="one row per point"):
        sampled_layers_losses(nk.FullyConnected(depth=2), X, X[:5, 0], [2, 4])


def test_predict_exponents_samples_the_earlier_layers_of_deep_models():
    X = data.sphere(160, 4, seed=0)
    y = np.sin(2 * X[:, :2]) + X[:, 2:] ** 2
    deep, shallow = nk.FullyConnected(depth=2), nk.FullyConnected(depth=1)
    widths = [4, 8, 16, 32]
    options = dict(kernel="nngp", sizes=widths, layer_draws=2)
    sampled = nk.predict_exponents(deep, X, y, **options)
    assert sampled.model_method == "sampled-layers"
    assert sampled.ci["alpha_P"][0] < sampled.alpha_P < sampled.ci["alpha_P"][1]
    draws = sampled_layers_losses(deep, X, y, widths, draws=2, seed=0)
    np.testing.assert_allclose(sampled.model_losses, draws.mean(axis=0), rtol=1e-12)
    assert nk.predict_exponents(deep, X, None, **options).model_method == "leave-one-out"
    assert nk.predict_exponents(shallow, X, y, **options).model_method == "leave-one-out"
    with pytest.raises(ValueError, match="sampled-layers"):
        nk.predict_exponents(shallow, X, y, model_method="sampled-layers", **options)
    with pytest.raises(ValueError, match="layer_draws"):
        nk.predict_exponents(deep, X, y, kernel="nngp", sizes=widths, layer_draws=0)


def test_single_precision_eigensystems_agree_with_double(monkeypatch):
    from nngp_ntk.theory import _random_features
    X = data.sphere(300, 4, seed=0)
    y = np.sin(2 * X[:, :2]) + X[:, 2:] ** 2
    deep, widths = nk.FullyConnected(depth=3), [4, 16, 64, 150]
    monkeypatch.setattr(_random_features, "SINGLE_PRECISION_GAMMA", 0.0)            # float32 always
    single = sampled_layers_losses(deep, X, y, widths, draws=2, seed=0)
    monkeypatch.setattr(_random_features, "SINGLE_PRECISION_GAMMA", np.inf)         # float64 always
    double = sampled_layers_losses(deep, X, y, widths, draws=2, seed=0)
    np.testing.assert_allclose(single, double, rtol=1e-4)
    assert not np.array_equal(single, double)


def test_readout_ridge_reaches_the_model_curves():
    X = data.sphere(160, 4, seed=0)
    y = np.sin(2 * X[:, :2]) + X[:, 2:] ** 2
    deep, widths = nk.FullyConnected(depth=2), [4, 8, 16, 32]
    options = dict(kernel="nngp", sizes=widths, layer_draws=2, train_size=160)
    ridged = nk.predict_exponents(deep, X, y, readout_ridge=0.5, **options)
    draws = sampled_layers_losses(deep, X, y, widths, train_size=160, draws=2, seed=0, ridge=0.5)
    np.testing.assert_allclose(ridged.model_losses, draws.mean(axis=0), rtol=1e-12)
    ridgeless = nk.predict_exponents(deep, X, y, **options)
    assert not np.allclose(ridged.model_losses, ridgeless.model_losses, rtol=1e-3)
    np.testing.assert_allclose(ridged.losses, ridgeless.losses, rtol=1e-12)     # the kernel curve keeps ``ridge``
    gaussian = nk.predict_exponents(deep, X, y, readout_ridge=0.5, model_method="leave-one-out", **options)
    assert gaussian.model_method == "leave-one-out"
    with pytest.raises(ValueError, match="train_size must be 160"):
        nk.predict_exponents(deep, X, y, kernel="nngp", sizes=widths, readout_ridge=0.5)
    with pytest.raises(ValueError, match="duality"):
        nk.predict_exponents(deep, X, y, readout_ridge=0.5, model_method="duality", **options)
    with pytest.raises(ValueError, match="readout_ridge"):
        nk.predict_exponents(deep, X, y, readout_ridge=-1.0, **options)
    with pytest.raises(ValueError, match="train_size must be 160"):
        sampled_layers_losses(deep, X, y, widths, train_size=100, ridge=0.5)


@pytest.mark.slow
def test_sampled_layers_predict_measured_deep_models_on_digits():
    """Depth-3 ReLU random features on 600 real digits: the earlier layers' finite width raises L(P)
    well above the infinite-width leave-one-out theory; sampling them brings the prediction to the
    measured models."""
    X, Y = data.prepare(data.digits(n=600, seed=0))
    test, pool = scaling.holdout_split(len(X), test_size=150, seed=0)
    net = nk.FullyConnected(depth=3, activation="relu", W_std=1.0, b_std=0.0)
    widths = [4, 8, 16, 32, 64]
    measured = scaling.model_curve(net, X, Y, widths=widths, train_size=len(pool), repeats=12, test=test)
    options = dict(kernel="nngp", sizes=widths, train_size=len(pool))
    sampled = nk.predict_exponents(net, X[pool], Y[pool], layer_draws=8, **options)
    gaussian = nk.predict_exponents(net, X[pool], Y[pool], model_method="leave-one-out", **options)
    sampled_gap = np.abs(sampled.model_losses / measured.losses - 1)
    gaussian_gap = np.abs(gaussian.model_losses / measured.losses - 1)
    assert np.all(sampled_gap < 0.1), sampled_gap
    assert np.mean(sampled_gap) < np.mean(gaussian_gap) / 2, (sampled_gap, gaussian_gap)


def test_readout_ridge_predicts_measured_ridge_models_on_digits():
    """Depth-3 ReLU random features on 600 real digits, the readout fitted with ridge 1 (which raises
    the measured L(P) by up to ~30%): predict_exponents(readout_ridge=1) follows the measured models;
    the ridgeless prediction does not."""
    X, Y = data.prepare(data.digits(n=600, seed=0))
    test, pool = scaling.holdout_split(len(X), test_size=150, seed=0)
    net = nk.FullyConnected(depth=3, activation="relu", W_std=1.0, b_std=0.0)
    widths = [4, 8, 16, 32, 64]
    measured = scaling.model_curve(net, X, Y, widths=widths, train_size=len(pool), repeats=12, test=test, ridge=1.0)
    options = dict(kernel="nngp", sizes=widths, train_size=len(pool), layer_draws=8)
    ridged = nk.predict_exponents(net, X[pool], Y[pool], readout_ridge=1.0, **options)
    ridgeless = nk.predict_exponents(net, X[pool], Y[pool], **options)
    ridged_gap = np.abs(ridged.model_losses / measured.losses - 1)
    assert np.all(ridged_gap < 0.06), ridged_gap
    assert ridgeless.model_losses[-1] < 0.85 * measured.losses[-1]
