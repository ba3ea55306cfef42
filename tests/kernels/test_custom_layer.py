"""A layer type defined here, outside the library (the docs' "Write your own layer"): Scale(c), z <- c z,
through the infinite-width kernels (tiled and kernel_fn, with gradients), the finite network and
its Monte Carlo kernels, and the random-feature maps, with no change to the engine."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk import finite
from nngp_ntk.finite._controls import FirstOrderControl, has_control, layer_map


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Scale(nk.kernels.Layer):
    """z <- c z:  K <- c^2 K,  Theta <- c^2 Theta (c a pytree leaf, so kernel_fn differentiates it)."""

    c: float = 1.0
    #: It acts on each unit alone (random-feature models keep it in the hidden layer before it).
    unitwise = True

    def check(self, signal, at):
        return signal                       # c z is Gaussian when z is, with the same width

    def zero_mean_after(self, zero_mean):
        return zero_mean

    def kernel_map(self, k11, k12, k22, theta, diagonal):
        c2 = self.c ** 2
        return c2 * k12, None if theta is None else c2 * theta

    def finite_apply(self, a, forward):
        return self.c * a


def points(n: int, d: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def scaled_and_folded(c: float = 1.5, d: float = 0.8) -> tuple[nk.Sequential, nk.Sequential]:
    """The network with Scale layers, and the same network with each Scale folded into the Dense
    before it: Dense(W, b) then Scale(c) is Dense(c W, c b) (ntk parameterization), in both kernels."""
    scaled = nk.Sequential(nk.Dense(W_std=1.2, b_std=0.3), Scale(c), nk.activations.ReLU(),
                           nk.Dense(W_std=1.1, b_std=0.2), Scale(d))
    folded = nk.Sequential(nk.Dense(W_std=1.2 * c, b_std=0.3 * c), nk.activations.ReLU(),
                           nk.Dense(W_std=1.1 * d, b_std=0.2 * d))
    return scaled, folded


def test_scale_is_a_layer_of_any_network():
    scaled, _ = scaled_and_folded()
    assert isinstance(Scale(2.0), nk.kernels.Layer)
    assert "layers__1__c" in scaled.get_params()
    with pytest.raises(ValueError, match="Gaussian"):
        nk.Sequential(nk.Dense(), nk.activations.ReLU(), Scale(2.0), nk.activations.ReLU(), nk.Dense())


def test_kernels_equal_the_folded_network():
    scaled, folded = scaled_and_folded()
    x1, x2 = points(7, 4, seed=0), points(5, 4, seed=1)
    for right in (None, x2):
        tiled, traced, expected = scaled.kernel(x1, right), scaled.kernel_fn(x1, right), folded.kernel(x1, right)
        for name in ("nngp", "ntk"):
            np.testing.assert_allclose(getattr(tiled, name), getattr(expected, name), rtol=2e-5, err_msg=name)
            np.testing.assert_allclose(getattr(traced, name), getattr(tiled, name), rtol=2e-5, err_msg=name)
    np.testing.assert_allclose(scaled.diagonal(x1).ntk, np.diag(folded.kernel(x1).ntk), rtol=2e-5)


def test_kernel_fn_differentiates_the_new_leaf():
    """A trailing Scale(d) multiplies the NNGP by d^2: d/dd sum(K) = 2 sum(K) / d."""
    scaled, _ = scaled_and_folded(d=0.8)
    x = jnp.asarray(points(6, 4, seed=2))
    total = float(scaled.kernel_fn(x, get="nngp").sum())
    gradient = jax.grad(lambda net: net.kernel_fn(x, get="nngp").sum())(scaled)
    np.testing.assert_allclose(float(gradient.layers[4].c), 2 * total / 0.8, rtol=1e-4)


def test_finite_network_equals_the_folded_one():
    """Scale has no parameters: both networks take the same params and compute the same function
    (the last Dense of ``scaled`` is not its last layer, so it maps to ``width`` units)."""
    scaled, folded = scaled_and_folded()
    x = points(6, 4, seed=3)
    params = finite.init_params(scaled, 0, input_dim=4, width=32)
    assert [p.weight.shape for p in params] == [(4, 32), (32, 32)]
    inputs = jnp.asarray(x)
    np.testing.assert_allclose(finite.apply(scaled, params, inputs), finite.apply(folded, params, inputs),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(finite.empirical_kernels(scaled, params, x, get="ntk"),
                               finite.empirical_kernels(folded, params, x, get="ntk"), rtol=1e-5, atol=1e-6)


def test_monte_carlo_of_wide_networks_matches_the_infinite_width_kernels():
    """The mean over 32 networks of width 1024 is within 5 standard errors (plus 0.5% of the scale for
    the O(1 / width) finite-width bias) of the infinite-width kernels, and the estimate is informative."""
    net = nk.Sequential(nk.Dense(W_std=1.3, b_std=0.2), Scale(1.4), nk.activations.Erf(),
                        nk.Dense(W_std=1.1, b_std=0.1), Scale(0.7), nk.activations.ReLU(), nk.Dense())
    x = points(6, 5, seed=4)
    exact = net.kernel(x)
    mc = finite.monte_carlo_kernels(net, x, width=1024, n_samples=32, key=5)
    for name in ("nngp", "ntk"):
        mean, stderr, reference = getattr(mc.mean, name), getattr(mc.stderr, name), getattr(exact, name)
        scale = np.abs(reference).max()
        assert stderr.max() < 0.05 * scale, name
        np.testing.assert_array_less(np.abs(mean - reference), 5 * stderr + 5e-3 * scale, err_msg=name)


def test_random_feature_maps_give_the_nngp():
    """Scale acts on each unit alone, so a random-feature model keeps it in its hidden layer; the
    hidden layers' maps (each layer's kernel map) compose to the NNGP."""
    net = nk.Sequential(nk.Dense(W_std=1.4, b_std=0.3), nk.activations.ReLU(), Scale(0.9),
                        nk.Dense(W_std=1.2, b_std=0.1))
    assert has_control(net)
    X = points(8, 3, seed=6).astype(np.float64)
    control = FirstOrderControl(net, X, 4, X[:, 0])
    assert [len(layers) for layers in control.hidden] == [3]
    with jax.enable_x64(True):
        kernel = control.input_kernel
        for layers in (*control.hidden, [control.readout]):
            kernel = layer_map(layers, kernel)
        nngp = np.asarray(net.kernel(X, get="nngp"))
    np.testing.assert_allclose(np.asarray(kernel[0]), nngp[:, :4], rtol=1e-9)
    np.testing.assert_allclose(np.asarray(kernel[1]), np.diag(nngp), rtol=1e-9)
