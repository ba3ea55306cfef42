"""Finite-width networks: Monte Carlo kernels converge to FullyConnected's, the layer-wise
empirical NTK equals the Jacobian contraction, and bad input is refused."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk import finite


def sphere_points(n: int, d: int, seed: int) -> np.ndarray:
    """n points with |x|^2 = d, so K^0(x, x) = W_std^2 + b_std^2 (keeps tanh's quadrature accurate)."""
    x = np.random.default_rng(seed).normal(size=(n, d))
    return (x * np.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def jacobian_ntk(net: nk.FullyConnected, params: finite.Params, x1: jax.Array, x2: jax.Array,
                 layers: slice = slice(None)) -> np.ndarray:
    """(1/out_dim) sum_k sum_theta df_k(x1)/dtheta df_k(x2)/dtheta by jax.jacrev, over ``layers``."""
    jacobian = jax.jit(jax.jacrev(lambda p, x: finite.apply(net, p, x)))
    jac1, jac2 = jacobian(params, x1), jacobian(params, x2)
    out_dim = params[-1].weight.shape[1]
    total = 0
    for j1, j2 in zip(jax.tree_util.tree_leaves(jac1[layers]), jax.tree_util.tree_leaves(jac2[layers])):
        total = total + jnp.einsum("iko,jko->ij", j1.reshape(j1.shape[0], out_dim, -1),
                                   j2.reshape(j2.shape[0], out_dim, -1))
    return np.asarray(total) / out_dim


# --- Monte Carlo agreement with the infinite-width kernels --------------------------------------

MONTE_CARLO_CASES = [
    # (activation, depth, W_std, b_std, parameterization)
    pytest.param("relu", 2, 1.5, 0.2, "ntk", marks=pytest.mark.slow),
    pytest.param("erf", 1, 1.3, 0.3, "ntk", marks=pytest.mark.slow),
    pytest.param("tanh", 2, 1.0, 0.1, "ntk", marks=pytest.mark.slow),
    ("relu", 1, 1.2, 0.5, "standard"),
    pytest.param("erf", 2, 1.0, 0.0, "standard", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("activation, depth, W_std, b_std, parameterization", MONTE_CARLO_CASES)
def test_monte_carlo_matches_infinite_width(activation, depth, W_std, b_std, parameterization):
    width, n_samples = 1024, 32
    net = nk.FullyConnected(depth=depth, activation=activation, W_std=W_std, b_std=b_std,
                            parameterization=parameterization,
                            width=width if parameterization == "standard" else None)
    x = sphere_points(10, 12, seed=0)
    exact = net.kernel(x)
    mc = finite.monte_carlo_kernels(net, x, width=width, n_samples=n_samples, key=7)
    for name in ("nngp", "ntk"):
        mean, stderr, reference = getattr(mc.mean, name), getattr(mc.stderr, name), getattr(exact, name)
        scale = np.abs(reference).max()
        # The estimate is informative (a few % of the kernel's scale) and within 5 standard
        # errors plus 0.5% of the scale for the O(depth / width) finite-width bias.
        assert stderr.max() < 0.05 * scale
        np.testing.assert_array_less(np.abs(mean - reference), 5 * stderr + 5e-3 * scale)


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "gelu", "abs", "sin"])
def test_monte_carlo_wide_deep(activation):
    width, n_samples = 2048, 48
    net = nk.FullyConnected(depth=3, activation=activation, W_std=1.2, b_std=0.2)
    x = sphere_points(8, 16, seed=2)
    exact = net.kernel(x)
    mc = finite.monte_carlo_kernels(net, x, width=width, n_samples=n_samples, key=3)
    for name in ("nngp", "ntk"):
        mean, stderr, reference = getattr(mc.mean, name), getattr(mc.stderr, name), getattr(exact, name)
        scale = np.abs(reference).max()
        assert stderr.max() < 0.02 * scale
        np.testing.assert_array_less(np.abs(mean - reference), 5 * stderr + 2e-3 * scale)


@pytest.mark.slow
def test_seed_batches_combine_exactly():
    net = nk.FullyConnected(depth=1, activation="relu", W_std=1.4, b_std=0.1)
    x = sphere_points(4, 6, seed=3)
    whole = finite.monte_carlo_kernels(net, x, width=64, n_samples=7, key=1, seed_batch=7, get="ntk")
    pieces = finite.monte_carlo_kernels(net, x, width=64, n_samples=7, key=1, seed_batch=3, get="ntk")
    np.testing.assert_allclose(pieces.mean, whole.mean, rtol=1e-6)
    np.testing.assert_allclose(pieces.stderr, whole.stderr, rtol=1e-5)
    draws = np.stack([finite.empirical_kernels(net, finite.init_params(net, key, 6, 64), x, get="ntk")
                      for key in jax.random.split(jax.random.PRNGKey(1), 7)])
    np.testing.assert_allclose(whole.mean, draws.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(whole.stderr, draws.std(axis=0, ddof=1) / np.sqrt(7), rtol=1e-4)


def test_single_sample_has_infinite_stderr():
    net = nk.FullyConnected(depth=1)
    mc = finite.monte_carlo_kernels(net, sphere_points(3, 4, seed=0), width=16, n_samples=1, get=("nngp",))
    assert mc.mean.ntk is None and np.all(np.isfinite(mc.mean.nngp))
    assert np.all(np.isinf(mc.stderr.nngp))


# --- Empirical kernels of one network --------------------------------------------------------------

@pytest.mark.parametrize("parameterization", [pytest.param("ntk", marks=pytest.mark.slow), "standard"])
@pytest.mark.parametrize("activation, depth", [pytest.param("relu", 2, marks=pytest.mark.slow),
                                               pytest.param("tanh", 3, marks=pytest.mark.slow), ("erf", 0)])
def test_empirical_ntk_equals_jacobian_contraction(x64, parameterization, activation, depth):
    net = nk.FullyConnected(depth=depth, activation=activation, W_std=[1.3] * depth + [0.9], b_std=0.4,
                            parameterization=parameterization, width=16)
    params = finite.init_params(net, jax.random.PRNGKey(5), input_dim=4, width=16, out_dim=3, dtype=np.float64)
    x1 = np.random.default_rng(0).normal(size=(6, 4))
    x2 = np.random.default_rng(1).normal(size=(5, 4))
    for right in (x1, x2):
        expected = jacobian_ntk(net, params, jnp.asarray(x1), jnp.asarray(right))
        np.testing.assert_allclose(finite.empirical_kernels(net, params, x1, right, get="ntk"),
                                   expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(finite.empirical_kernels(net, params, x1, get="ntk"),
                               finite.empirical_kernels(net, params, x1, x1.copy(), get="ntk"), rtol=1e-12)


@pytest.mark.slow
def test_empirical_nngp_is_readout_part_of_ntk(x64):
    """NTK parameterization: df/dW_L = (W_std/sqrt n) F, df/db_L = b_std, so the readout's share of
    the Jacobian contraction is W_std^2 F.F'/n + b_std^2, the empirical NNGP."""
    net = nk.FullyConnected(depth=2, activation="gelu", W_std=1.1, b_std=0.3)
    params = finite.init_params(net, 2, input_dim=5, width=32, out_dim=2, dtype=np.float64)
    x1 = np.random.default_rng(0).normal(size=(7, 5))
    x2 = np.random.default_rng(1).normal(size=(3, 5))
    expected = jacobian_ntk(net, params, jnp.asarray(x1), jnp.asarray(x2), layers=slice(-1, None))
    np.testing.assert_allclose(finite.empirical_kernels(net, params, x1, x2, get="nngp"), expected, rtol=1e-10)
    features = finite.readout_features(net, params, jnp.asarray(x1))
    assert features.shape == (7, 32)
    kernels = finite.empirical_kernels(net, params, x1)
    assert isinstance(kernels, nk.Kernels) and kernels.nngp.shape == kernels.ntk.shape == (7, 7)


@pytest.mark.slow
def test_parameterizations_compute_the_same_function():
    """Same key: standard draws W_std/sqrt(fan_in) N(0,1), ntk scales N(0,1) in the forward pass."""
    kwargs = dict(depth=2, activation="erf", W_std=[1.5, 0.7, 2.0], b_std=[0.1, 0.0, 0.4])
    ntk_net = nk.FullyConnected(**kwargs)
    standard_net = nk.FullyConnected(**kwargs, parameterization="standard", width=64)
    x = jnp.asarray(sphere_points(5, 3, seed=4))
    outputs = [finite.apply(net, finite.init_params(net, 11, 3, 64, out_dim=2), x)
               for net in (ntk_net, standard_net)]
    assert outputs[0].shape == (5, 2)
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)


def test_depth_zero_features_are_inputs():
    net = nk.FullyConnected(depth=0, W_std=2.0, b_std=0.5)
    x = sphere_points(4, 3, seed=0)
    params = finite.init_params(net, 0, input_dim=3, width=8)
    np.testing.assert_array_equal(finite.readout_features(net, params, jnp.asarray(x)), x)
    np.testing.assert_allclose(finite.empirical_kernels(net, params, x, get="nngp"), net.kernel(x, get="nngp"),
                               rtol=1e-5)


# --- Bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, match", [
    (dict(width=0), ValueError, "width"),
    (dict(width=2.5), ValueError, "width"),
    (dict(width=True), ValueError, "width"),
    (dict(n_samples=0), ValueError, "n_samples"),
    (dict(out_dim=-1), ValueError, "out_dim"),
    (dict(seed_batch=0), ValueError, "seed_batch"),
    (dict(key="seed"), TypeError, "key"),
    (dict(get="both"), ValueError, "get"),
])
def test_monte_carlo_rejects_bad_arguments(kwargs, error, match):
    arguments = dict(width=8, n_samples=2, key=0) | kwargs
    with pytest.raises(error, match=match):
        finite.monte_carlo_kernels(nk.FullyConnected(), sphere_points(3, 2, seed=0), **arguments)


def test_bad_points_and_params_are_rejected():
    net = nk.FullyConnected(depth=1)
    params = finite.init_params(net, 0, input_dim=3, width=8)
    x = sphere_points(4, 3, seed=0)
    with pytest.raises(ValueError, match="x1"):
        finite.empirical_kernels(net, params, np.where(np.eye(4, 3) > 0, np.nan, x))
    with pytest.raises(ValueError, match="features"):
        finite.empirical_kernels(net, params, x, x[:, :2])
    with pytest.raises(ValueError, match=r"params\[0\]"):
        finite.empirical_kernels(net, params, x[:, :2])
    with pytest.raises(ValueError, match="depth \\+ 1 for FullyConnected"):
        finite.empirical_kernels(nk.FullyConnected(depth=2), params, x)
    with pytest.raises(ValueError, match="x must be a 2-D"):
        finite.apply(net, params, jnp.ones(3))
    with pytest.raises(ValueError, match="input_dim"):
        finite.init_params(net, 0, input_dim=0, width=8)
    with pytest.raises(TypeError, match="dtype"):
        finite.init_params(net, 0, input_dim=3, width=8, dtype=np.int32)
    with pytest.raises(ValueError, match="x1"):
        finite.monte_carlo_kernels(net, np.full((2, 3), np.inf), width=8, n_samples=2)


# --- Sequential networks: every layer against wide finite networks ---------------------------------

SEQUENTIALS = {
    "layernorm": lambda: nk.Sequential(nk.Dense(W_std=1.5, b_std=0.3), nk.LayerNorm(), nk.activations.ReLU(),
                                       nk.Dense(W_std=1.2, b_std=0.1), nk.LayerNorm(), nk.activations.Erf(),
                                       nk.Dense(W_std=1.1)),
    "residual": lambda: nk.Sequential(nk.Dense(W_std=1.2, b_std=0.2),
                                      nk.Residual(nk.activations.ReLU(), nk.Dense(W_std=0.9, b_std=0.1)),
                                      nk.activations.GELU(), nk.Dense(W_std=1.3, b_std=None)),
    "standard-no-bias": lambda: nk.Sequential(
        nk.Dense(W_std=1.4, b_std=None, parameterization="standard", width=1024), nk.activations.Erf(),
        nk.Dense(W_std=1.1, b_std=None, parameterization="standard", width=1024), nk.LayerNorm(),
        nk.Residual(nk.activations.ReLU(), nk.Dense(W_std=0.8, b_std=0.0, parameterization="standard",
                                                     width=1024)),
        nk.Dense(W_std=1.0, b_std=None, parameterization="standard")),
    "ends-without-readout": lambda: nk.Sequential(nk.Dense(W_std=1.3, b_std=0.2), nk.activations.Sin(),
                                                  nk.Dense(), nk.LayerNorm()),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", SEQUENTIALS)
def test_monte_carlo_matches_sequential_layers(name):
    net = SEQUENTIALS[name]()
    width, n_samples = 1024, 32
    x = sphere_points(8, 10, seed=4)
    exact = net.kernel(x)
    mc = finite.monte_carlo_kernels(net, x, width=width, n_samples=n_samples, key=11)
    for kernel in ("nngp", "ntk"):
        mean, stderr, reference = getattr(mc.mean, kernel), getattr(mc.stderr, kernel), getattr(exact, kernel)
        scale = np.abs(reference).max()
        assert stderr.max() < 0.05 * scale, kernel
        np.testing.assert_array_less(np.abs(mean - reference), 5 * stderr + 1e-2 * scale, err_msg=kernel)


@pytest.mark.slow
def test_sequential_empirical_ntk_equals_jacobian_contraction(x64):
    net = SEQUENTIALS["standard-no-bias"]()
    params = finite.init_params(net, jax.random.PRNGKey(2), input_dim=4, width=16, out_dim=3, dtype=np.float64)
    assert [p.weight.shape for p in params] == [(4, 16), (16, 16), (16, 16), (16, 3)]
    x1 = np.random.default_rng(0).normal(size=(6, 4))
    x2 = np.random.default_rng(1).normal(size=(5, 4))
    # b_std=None layers have no bias parameter: leave their (unused) bias out of the Jacobian
    has_bias = [layer.b_std is not None for layer in finite._networks._parameter_layers(net.sequence())]
    jacobian = jax.jit(jax.jacrev(lambda p, x: finite.apply(net, p, x)))
    jac1, jac2 = jacobian(params, jnp.asarray(x1)), jacobian(params, jnp.asarray(x2))
    expected = 0
    for layer, bias in enumerate(has_bias):
        for part in ("weight",) + (("bias",) if bias else ()):
            j1, j2 = getattr(jac1[layer], part), getattr(jac2[layer], part)
            expected = expected + np.einsum("iko,jko->ij", j1.reshape(6, 3, -1), j2.reshape(5, 3, -1)) / 3
    np.testing.assert_allclose(finite.empirical_kernels(net, params, x1, x2, get="ntk"), expected,
                               rtol=1e-10, atol=1e-12)
