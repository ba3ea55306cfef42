"""Properties of FullyConnected.kernel: symmetry, tiling, diagonal, dtypes, PSD, deep stability, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nngp_ntk as nk
from nngp_ntk.kernels import _passes as passes
from nngp_ntk.activations import ACTIVATIONS


def points(n: int, d: int, seed: int, dtype=np.float32) -> np.ndarray:
    """Gaussian points with norms spread over a factor ~3 (inputs of different norms)."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)) * rng.uniform(0.5, 1.5, size=(n, 1))).astype(dtype)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


NETS = {
    "relu": dict(depth=3, activation="relu", W_std=1.4, b_std=0.1),
    "tanh": dict(depth=2, activation="tanh", W_std=1.0, b_std=0.2),
    "erf-standard": dict(depth=2, activation="erf", W_std=[1.2, 0.8, 1.5], b_std=[0.3, 0.0, 0.2],
                         parameterization="standard", width=128),
}
#: NETS for the engine's structural identities (tiling, symmetry, diagonal): they do not depend on the
#: activation, and tanh's quadrature compiles slowly, so its cases run with -m slow.
STRUCTURAL = [pytest.param(name, marks=pytest.mark.slow) if name == "tanh" else name for name in NETS]


@pytest.mark.slow
@pytest.mark.parametrize("name", STRUCTURAL)
def test_swapping_inputs_transposes(name):
    net = nk.FullyConnected(**NETS[name])
    x1, x2 = points(7, 5, seed=0), points(4, 5, seed=1)
    forward, backward = net.kernel(x1, x2), net.kernel(x2, x1)
    for kernel in ("nngp", "ntk"):
        assert getattr(forward, kernel).shape == (7, 4)
        np.testing.assert_allclose(getattr(forward, kernel), getattr(backward, kernel).T, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name != "relu" else name for name in NETS])
def test_tiled_equals_untiled(name):
    x1, x2 = points(10, 6, seed=2), points(8, 6, seed=3)   # 10 and 8 are not multiples of the tile 3
    tiled = nk.FullyConnected(**NETS[name], tile_size=3)
    whole = nk.FullyConnected(**NETS[name], tile_size=1024)
    for right in (None, x2):
        for kernel in ("nngp", "ntk"):
            # float32 products summed in another blocking: a few ulps, amplified by the recursion
            np.testing.assert_allclose(getattr(tiled.kernel(x1, right), kernel),
                                       getattr(whole.kernel(x1, right), kernel), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name != "erf-standard" else name
                                  for name in NETS])
def test_symmetric_path_equals_general_path(name):
    net = nk.FullyConnected(**NETS[name], tile_size=4)
    x = points(9, 5, seed=4)
    symmetric, general = net.kernel(x), net.kernel(x, x.copy())
    for kernel in ("nngp", "ntk"):
        values = getattr(symmetric, kernel)
        np.testing.assert_array_equal(values, values.T)
        np.testing.assert_allclose(values, getattr(general, kernel), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", STRUCTURAL)
def test_diagonal_equals_kernel_diagonal(name):
    net = nk.FullyConnected(**NETS[name])
    x = points(11, 5, seed=5)
    full, diagonal = net.kernel(x), net.diagonal(x)
    for kernel in ("nngp", "ntk"):
        assert getattr(diagonal, kernel).shape == (11,)
        np.testing.assert_allclose(getattr(diagonal, kernel), np.diag(getattr(full, kernel)), rtol=2e-5)
    np.testing.assert_array_equal(net.diagonal(x, get="ntk"), diagonal.ntk)


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name != "relu" else name for name in NETS])
def test_float32_close_to_float64(x64, name):
    net = nk.FullyConnected(**NETS[name])
    x = points(12, 6, seed=6, dtype=np.float64)
    wide, narrow = net.kernel(x), net.kernel(x.astype(np.float32))
    for kernel in ("nngp", "ntk"):
        assert getattr(wide, kernel).dtype == np.float64 and getattr(narrow, kernel).dtype == np.float32
        assert relative_error(getattr(narrow, kernel), getattr(wide, kernel)) < 1e-5


def test_float32_by_default(monkeypatch):
    from nngp_ntk import _inputs
    monkeypatch.setattr(_inputs, "_warned_float64", False)       # once a process: maybe spent by another test
    x = points(3, 2, seed=0).astype(np.float64)
    with pytest.warns(nk.kernels.PrecisionWarning, match="computed in float32"):
        assert nk.FullyConnected().kernel(x, get="nngp").dtype == np.float32   # x64 off: float32


def test_get_selects_kernels():
    net = nk.FullyConnected(depth=2)
    x = points(5, 3, seed=7)
    both = net.kernel(x)
    ntk = net.kernel(x, get="ntk")
    assert isinstance(ntk, np.ndarray) and ntk.shape == (5, 5)
    np.testing.assert_array_equal(ntk, both.ntk)
    only = net.kernel(x, get=("nngp",))
    assert isinstance(only, nk.Kernels) and only.ntk is None
    np.testing.assert_array_equal(only.nngp, both.nngp)
    diagonal = net.diagonal(x, get=("ntk",))
    assert diagonal.nngp is None and diagonal.ntk.shape == (5,)


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_depth_zero_is_linear_kernel(x64, parameterization):
    net = nk.FullyConnected(depth=0, activation="erf", W_std=1.7, b_std=0.4,
                            parameterization=parameterization, width=10)
    x1, x2 = points(6, 4, seed=8, dtype=np.float64), points(3, 4, seed=9, dtype=np.float64)
    gram = x1 @ x2.T
    kernels = net.kernel(x1, x2)
    np.testing.assert_allclose(kernels.nngp, 1.7**2 * gram / 4 + 0.4**2, rtol=1e-12)
    expected_ntk = kernels.nngp if parameterization == "ntk" else gram + 1
    np.testing.assert_allclose(kernels.ntk, expected_ntk, rtol=1e-12)


def test_one_hidden_relu_layer_closed_form(x64):
    """Depth 1 ReLU by hand: K = W^2 sqrt(K11 K22)(sin t + (pi - t) cos t)/(2 pi) + b^2,
    Theta = K + W^2 (pi - t)/(2 pi) Theta^0, t = arccos(K^0_12 / sqrt(K^0_11 K^0_22))."""
    W, b = 1.3, 0.2
    x = points(5, 3, seed=10, dtype=np.float64)
    k0 = W**2 * x @ x.T / 3 + b**2
    norms = np.sqrt(np.diag(k0))
    correlation = np.clip(k0 / np.outer(norms, norms), -1, 1)
    np.fill_diagonal(correlation, 1)   # exactly 1 for a point with itself, as the kernel takes it
    angle = np.arccos(correlation)
    nngp = W**2 * np.outer(norms, norms) * (np.sin(angle) + (np.pi - angle) * np.cos(angle)) / (2 * np.pi) + b**2
    ntk = nngp + W**2 * (np.pi - angle) / (2 * np.pi) * k0
    kernels = nk.FullyConnected(depth=1, activation="relu", W_std=W, b_std=b).kernel(x)
    np.testing.assert_allclose(kernels.nngp, nngp, rtol=1e-10)
    np.testing.assert_allclose(kernels.ntk, ntk, rtol=1e-10)


def assert_valid_kernel(kernel: np.ndarray, tolerance: float) -> None:
    """Finite, symmetric, positive diagonal, eigenvalues >= -tolerance * largest."""
    assert np.all(np.isfinite(kernel))
    np.testing.assert_allclose(kernel, kernel.T, rtol=1e-6, atol=0)
    assert np.all(np.diag(kernel) > 0)
    eigenvalues = np.linalg.eigvalsh(kernel.astype(np.float64))
    assert eigenvalues[0] >= -tolerance * eigenvalues[-1]


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(0, 4), activation=st.sampled_from(sorted(ACTIVATIONS)),
       W_std=st.sampled_from([0.5, 1.0, 1.5, 2.0]), b_std=st.sampled_from([0.0, 0.1, 0.7]),
       n_points=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_random_networks_give_valid_kernels(depth, activation, W_std, b_std, n_points, seed):
    """Inputs with |x|^2 / d in [0.05, 1], so K^0 <= 4.5 (see the tanh test below for larger)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_points, 4))
    x *= np.sqrt(4 * rng.uniform(0.05, 1, size=(n_points, 1))) / np.linalg.norm(x, axis=1, keepdims=True)
    net = nk.FullyConnected(depth=depth, activation=activation, W_std=W_std, b_std=b_std, tile_size=4)
    kernels = net.kernel(x.astype(np.float32))
    for kernel in kernels:
        # float32: near-singular kernels (e.g. sin at small variance) round to -7e-6 relative
        assert_valid_kernel(kernel, tolerance=5e-5)
    np.testing.assert_allclose(net.diagonal(x.astype(np.float32)).ntk, np.diag(kernels.ntk), rtol=1e-4)


@pytest.mark.slow
def test_tanh_large_input_variance_is_psd():
    """At K^0 = 8 a fixed degree-24 rule was 21% low in E[phi'phi'] and the kernel not PSD; the
    automatic degree (368 here) keeps it PSD."""
    x = np.random.default_rng(0).normal(size=(9, 4))
    x *= np.sqrt(4 * 8.0) / np.linalg.norm(x, axis=1, keepdims=True)   # K^0(x, x) = 8
    for kernel in nk.FullyConnected(depth=1, activation="tanh").kernel(x.astype(np.float32)):
        assert_valid_kernel(kernel, tolerance=5e-5)


@pytest.mark.slow
def test_deep_relu_float32_matches_float64(x64):
    """Depth 200 at the critical W_std = sqrt(2): correlations approach 1, where float32 rounding
    of the angle would be amplified; float32 stays within 1e-4 (Frobenius) of float64."""
    net = nk.FullyConnected(depth=200, activation="relu", W_std=np.sqrt(2), b_std=0.05)
    x = points(48, 20, seed=11, dtype=np.float64)
    wide, narrow = net.kernel(x), net.kernel(x.astype(np.float32))
    for kernel in ("nngp", "ntk"):
        assert relative_error(getattr(narrow, kernel), getattr(wide, kernel)) < 1e-4
        assert_valid_kernel(getattr(narrow, kernel), tolerance=1e-5)
        assert_valid_kernel(getattr(wide, kernel), tolerance=1e-12)


# --- Bad input: a ValueError/TypeError naming the argument, before any work ----------------------

@pytest.mark.parametrize("kwargs, error, match", [
    (dict(depth=-1), ValueError, "depth"),
    (dict(depth=2.5), ValueError, "depth"),
    (dict(depth=True), ValueError, "depth"),
    (dict(W_std=-1.0), ValueError, "W_std"),
    (dict(b_std=-0.1), ValueError, "b_std"),
    (dict(W_std=float("nan")), ValueError, "W_std"),
    (dict(depth=2, W_std=[1.0, 1.0]), ValueError, "W_std"),
    (dict(depth=1, b_std=[0.1, 0.1, 0.1]), ValueError, "b_std"),
    (dict(W_std="1.0"), TypeError, "W_std"),
    (dict(activation="swish"), ValueError, "activation"),
    (dict(activation=3), TypeError, "activation"),
    (dict(parameterization="mup"), ValueError, "parameterization"),
    (dict(parameterization="standard"), ValueError, "width"),
    (dict(parameterization="standard", width=0), ValueError, "width"),
    (dict(tile_size=0), ValueError, "tile_size"),
])
def test_bad_network_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        nk.FullyConnected(**kwargs)


def test_set_params_validates_and_keeps_old_values():
    net = nk.FullyConnected(depth=2)
    with pytest.raises(ValueError, match="depth"):
        net.set_params(depth=-3)
    assert net.depth == 2


@pytest.mark.parametrize("x1, x2, error, match", [
    (np.array([[0.0, np.nan]]), None, ValueError, "x1"),
    (np.ones((2, 2)), np.array([[np.inf, 0.0]]), ValueError, "x2"),
    (np.ones((2, 3)), np.ones((2, 4)), ValueError, "features"),
    (np.ones(3), None, ValueError, "x1"),
    (np.ones((2, 2, 2)), None, ValueError, "x1"),
    (np.ones((2, 2)), np.ones(2), ValueError, "x2"),
    (np.zeros((0, 3)), None, ValueError, "x1"),
    (np.array([["a", "b"]]), None, TypeError, "x1"),
])
def test_bad_inputs(x1, x2, error, match):
    net = nk.FullyConnected(depth=1)
    with pytest.raises(error, match=match):
        net.kernel(x1, x2)
    if x2 is None:
        with pytest.raises(error, match=match):
            net.diagonal(x1)


@pytest.mark.parametrize("get", ["nngps", ("nngp", "cov"), ()])
def test_bad_get(get):
    net = nk.FullyConnected(depth=1)
    with pytest.raises(ValueError, match="get"):
        net.kernel(np.ones((2, 2)), get=get)
    with pytest.raises(ValueError, match="get"):
        net.diagonal(np.ones((2, 2)), get=get)


@pytest.mark.slow
def test_overflowing_kernel_is_refused_not_inf():
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="overflows float32"):
        nk.FullyConnected(depth=80, W_std=3.0).kernel(x)      # K grows ~ (9 / 2)^depth: 1e52 > 3e38


@pytest.mark.slow
def test_underflowing_kernel_warns():
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    with pytest.warns(RuntimeWarning, match="underflows float32"):
        nk.FullyConnected(depth=200, W_std=1.0, b_std=0.0).kernel(x)


def test_other_weights_reuse_the_compiled_passes():
    """W_std and b_std are arguments of the compiled tile and variance passes, not constants in them:
    a hyperparameter search compiles once per depth, activation and shape (0.7 s a setting saved).
    The variance pass runs on chunks of a fixed size: another number of points reuses it too."""
    x = np.random.default_rng(3).standard_normal((40, 6)).astype(np.float32)
    first = nk.FullyConnected(depth=2, W_std=1.0, b_std=0.0).kernel(x)
    compiled = (passes.tiles._cache_size(), passes.compiled_diagonal_pass._cache_size())
    second = nk.FullyConnected(depth=2, W_std=1.7, b_std=0.3).kernel(x)
    assert (passes.tiles._cache_size(), passes.compiled_diagonal_pass._cache_size()) == compiled
    np.testing.assert_array_equal(nk.FullyConnected(depth=2).diagonal(x[:37]).ntk, first.ntk.diagonal()[:37])
    assert passes.compiled_diagonal_pass._cache_size() == compiled[1]
    # ReLU without bias is homogeneous of degree 2 in W per layer: both kernels scale by W^(2 (depth + 1))
    scaled = nk.FullyConnected(depth=2, W_std=1.7, b_std=0.0).kernel(x)
    np.testing.assert_allclose(scaled.nngp, 1.7 ** 6 * first.nngp, rtol=2e-5)
    assert not np.allclose(second.ntk, scaled.ntk)
