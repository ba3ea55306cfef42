"""The layer algebra: Sequential networks of Dense, activations, LayerNorm and Residual layers,
their tiled kernels against the pure-JAX kernel_fn, closed forms, gradients and bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nngp_ntk as nk
from nngp_ntk import activations as act
from nngp_ntk.kernels import _passes as passes


def points(n: int, d: int, seed: int, dtype=np.float32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)) * rng.uniform(0.5, 1.5, size=(n, 1))).astype(dtype)


def mixed_network(parameterization: str = "ntk") -> nk.Sequential:
    width = 64 if parameterization == "standard" else None
    dense = lambda w, b=0.1: nk.Dense(W_std=w, b_std=b, parameterization=parameterization, width=width)  # noqa: E731
    return nk.Sequential(dense(1.5), nk.LayerNorm(), act.ReLU(), dense(1.3, None),
                         nk.Residual(act.Erf(), dense(0.7)), act.GELU(), dense(1.1, 0.2))


# --- Sequential equals FullyConnected ----------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(depth=3, activation="relu", W_std=1.4, b_std=0.1),
    dict(depth=2, activation="erf", W_std=[1.2, 0.8, 1.5], b_std=[0.3, 0.0, 0.2],
         parameterization="standard", width=128),
    pytest.param(dict(depth=0, activation="gelu", W_std=1.7, b_std=0.4), marks=pytest.mark.slow),
    pytest.param(dict(depth=2, activation="tanh", W_std=1.0, b_std=0.2), marks=pytest.mark.slow),
])
def test_sequential_equals_fully_connected_exactly(kwargs):
    fc = nk.FullyConnected(**kwargs)
    depth = kwargs["depth"]
    w, b = (np.broadcast_to(kwargs[k], depth + 1) for k in ("W_std", "b_std"))
    parameterization = kwargs.get("parameterization", "ntk")
    layers = []
    for layer in range(depth + 1):
        layers.append(nk.Dense(W_std=float(w[layer]), b_std=float(b[layer]), parameterization=parameterization,
                               width=kwargs.get("width") if layer < depth else None))
        if layer < depth:
            layers.append(nk.activations.get_activation(kwargs["activation"]))
    net = nk.Sequential(*layers)
    assert fc.layers() == net
    x1, x2 = points(9, 4, seed=0), points(5, 4, seed=1)
    for right in (None, x2):
        for name in ("nngp", "ntk"):
            np.testing.assert_array_equal(net.kernel(x1, right, get=name), fc.kernel(x1, right, get=name))
    np.testing.assert_array_equal(net.diagonal(x1).ntk, fc.diagonal(x1).ntk)


def test_every_activation_has_the_methods_called_on_every_layer():
    """Activations are layers by registration (``Layer.register(Activation)``), so the methods that
    every layer is called with come from ``Activation`` itself, not from ``Layer``'s defaults; those
    only for layers with parameters, sublayers or a random-feature readout are not called on them."""
    only_some = {"with_sublayers", "kernel_map", "finite_init", "finite_check", "finite_tangent", "readout_columns"}
    called = sorted(name for name in vars(nk.kernels.Layer) if not name.startswith("_") and name not in only_some)
    assert "kernel_op" in called and "finite_apply" in called
    for name in nk.activations.ACTIVATIONS:
        activation = nk.activations.get_activation(name)
        assert isinstance(activation, nk.kernels.Layer)
        missing = [method for method in called if not hasattr(activation, method)]
        assert not missing, (name, missing)


# --- kernel against kernel_fn ----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_kernel_equals_kernel_fn(x64, parameterization, monkeypatch):
    monkeypatch.setattr(passes, "FN_BLOCK", 3)   # kernel_fn on 3 x 3 blocks, the last ones padded
    net = mixed_network(parameterization)
    x1, x2 = points(7, 5, seed=2, dtype=np.float64), points(4, 5, seed=3, dtype=np.float64)
    for right in (None, x2):
        tiled, traced = net.kernel(x1, right), net.kernel_fn(x1, right)
        for name in ("nngp", "ntk"):
            assert isinstance(getattr(traced, name), jax.Array)
            np.testing.assert_allclose(getattr(traced, name), getattr(tiled, name), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(net.diagonal(x1).ntk, np.diag(net.kernel(x1).ntk), rtol=1e-13)


@pytest.mark.slow
def test_kernel_fn_gradients_on_blocks_equal_one_block(x64, monkeypatch):
    """Gradients through the blocks (checkpointed, mirrored) equal those of a single block."""
    net = mixed_network()
    x1, x2 = jnp.asarray(points(11, 5, seed=40, dtype=np.float64)), points(6, 5, seed=41, dtype=np.float64)
    x1 = x1.at[9].set(x1[2])

    def loss(n, x, right):
        kernels = n.kernel_fn(x, right)
        return jnp.sum(jnp.sin(kernels.nngp)) + jnp.sum(kernels.ntk ** 2)

    def gradients():
        return [jax.jit(jax.grad(loss, argnums=(0, 1)))(net, x1, right) for right in (None, x2)]

    whole = gradients()
    monkeypatch.setattr(passes, "FN_BLOCK", 4)
    for got, want in zip(jax.tree_util.tree_leaves(gradients()), jax.tree_util.tree_leaves(whole)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)


@pytest.mark.slow
def test_sequential_tiles_and_out_of_core(tmp_path):
    x1, x2 = points(10, 6, seed=20), points(8, 6, seed=21)   # not multiples of the tile 3
    tiled = nk.Sequential(*mixed_network().layers, tile_size=3)
    whole = nk.Sequential(*mixed_network().layers)
    for right in (None, x2):
        for name in ("nngp", "ntk"):
            np.testing.assert_allclose(tiled.kernel(x1, right, get=name), whole.kernel(x1, right, get=name),
                                       rtol=1e-5, atol=1e-6)
    stored = tiled.kernel(x1, out=tmp_path / "store")
    np.testing.assert_array_equal(stored.ntk, tiled.kernel(x1).ntk)
    with pytest.raises(ValueError, match="tile_size"):
        nk.Sequential(nk.Dense(), tile_size=0)


@pytest.mark.slow
def test_kernel_fn_float32_and_get():
    net = mixed_network()
    x = points(6, 3, seed=4)
    ntk = net.kernel_fn(x, get="ntk")
    assert ntk.dtype == jnp.float32 and ntk.shape == (6, 6)
    only = net.kernel_fn(x, get=("nngp",))
    assert isinstance(only, nk.Kernels) and only.ntk is None
    np.testing.assert_allclose(ntk, net.kernel(x, get="ntk"), rtol=2e-5)


def test_kernel_fn_runs_each_layer_in_its_own_conditional():
    """kernel_fn's layers outside a repeat are lax.conds (on a flag of the inputs alone), so XLA does
    not fuse consecutive layers into one loop; a vmap over a hyperparameter keeps them conds."""
    x = points(5, 3, seed=5)

    def ntk(w_std):
        return nk.Sequential(nk.Dense(W_std=w_std), act.ReLU(), nk.Dense(), act.Erf(), nk.Dense()).kernel_fn(x, get="ntk")

    for jaxpr in (jax.make_jaxpr(ntk)(1.5), jax.make_jaxpr(jax.vmap(ntk))(jnp.array([1.2, 1.5]))):
        assert str(jaxpr).count("cond[") == 3     # (Dense, ReLU), (Dense, Erf), Dense
    np.testing.assert_allclose(jax.vmap(ntk)(jnp.array([1.5]))[0], ntk(1.5), rtol=1e-6)


def _random_layers(draw, depth: int) -> list:
    """Random valid layer lists: Dense first, then blocks of [activation | LayerNorm | Residual, Dense]."""
    activation = st.sampled_from([act.ReLU(), act.Erf(), act.GELU(), act.Abs(), act.LeakyReLU(0.2),
                                  act.Sin(), act.Identity()])
    weight = st.sampled_from([0.6, 1.0, 1.4])
    bias = st.sampled_from([None, 0.0, 0.3])
    layers = [nk.Dense(W_std=draw(weight), b_std=draw(bias))]
    for _ in range(depth):
        kind = draw(st.sampled_from(["activation", "norm", "residual"]))
        if kind == "norm":
            layers.append(nk.LayerNorm())
        elif kind == "residual":
            layers.append(nk.Residual(draw(activation), nk.Dense(W_std=draw(weight), b_std=draw(bias))))
        else:
            layers.append(draw(activation))
        layers.append(nk.Dense(W_std=draw(weight), b_std=draw(bias)))
    return layers


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), depth=st.integers(0, 4), n_points=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_random_sequentials_give_valid_kernels(data, depth, n_points, seed):
    net = nk.Sequential(*_random_layers(data.draw, depth))
    x = points(n_points, 3, seed)
    tiled = net.kernel(x)
    traced = net.kernel_fn(x)
    for name in ("nngp", "ntk"):
        kernel = getattr(tiled, name)
        assert np.all(np.isfinite(kernel))
        np.testing.assert_array_equal(kernel, kernel.T)
        eigenvalues = np.linalg.eigvalsh(kernel.astype(np.float64))
        assert eigenvalues[0] >= -5e-5 * max(eigenvalues[-1], 1e-30)
        np.testing.assert_allclose(getattr(traced, name), kernel, rtol=2e-5, atol=1e-6 * np.abs(kernel).max())


# --- Closed forms of single layers -------------------------------------------------------------------

def test_layer_norm_and_residual_closed_forms(x64):
    """Dense(W1, b1), LayerNorm, Residual(Dense(W2, b2)) by hand:
    K1 = W1^2 G/d + b1^2, Theta1 = K1; LayerNorm divides both by sqrt((K1_ii + eps)(K1_jj + eps));
    the residual adds W2^2 K + b2^2 and W2^2 K + b2^2 + W2^2 Theta."""
    x = points(5, 3, seed=5, dtype=np.float64)
    w1, b1, w2, b2, eps = 1.3, 0.2, 0.8, 0.1, 1e-12
    k1 = w1**2 * x @ x.T / 3 + b1**2
    root = np.sqrt(np.diag(k1) + eps)
    k = k1 / np.outer(root, root)
    theta = k.copy()
    nngp = k + w2**2 * k + b2**2
    ntk = theta + (w2**2 * k + b2**2) + w2**2 * theta
    net = nk.Sequential(nk.Dense(W_std=w1, b_std=b1), nk.LayerNorm(), nk.Residual(nk.Dense(W_std=w2, b_std=b2)))
    kernels = net.kernel(x)
    # the diagonal is K/(K + eps) exactly as the per-point variance, equal to the formula within rounding
    np.testing.assert_allclose(kernels.nngp, nngp, rtol=1e-14)
    np.testing.assert_allclose(kernels.ntk, ntk, rtol=1e-14)
    np.testing.assert_allclose(net.kernel_fn(x).ntk, ntk, rtol=1e-14)


@pytest.mark.slow
@pytest.mark.parametrize("bias, added", [(0.0, 1.0), (None, 0.0)])
def test_standard_bias_none_differs_from_zero(x64, bias, added):
    """Standard Dense: Theta = n_in K_in + [bias] + W^2 Theta_in; at the input n_in K_in = x . x'."""
    x1, x2 = points(4, 3, seed=6, dtype=np.float64), points(3, 3, seed=7, dtype=np.float64)
    net = nk.Sequential(nk.Dense(W_std=1.5, b_std=bias, parameterization="standard", width=32), act.ReLU(),
                        nk.Dense(W_std=0.9, b_std=bias, parameterization="standard"))
    first = nk.Sequential(nk.Dense(W_std=1.5, b_std=bias, parameterization="standard", width=32))
    np.testing.assert_allclose(first.kernel(x1, x2).ntk, x1 @ x2.T + added, rtol=1e-14)
    k0 = 1.5**2 * x1 @ x2.T / 3
    n1, n2 = np.sqrt(np.diag(1.5**2 * x1 @ x1.T / 3)), np.sqrt(np.diag(1.5**2 * x2 @ x2.T / 3))
    angle = np.arccos(np.clip(k0 / np.outer(n1, n2), -1, 1))
    mean = np.outer(n1, n2) * (np.sin(angle) + (np.pi - angle) * np.cos(angle)) / (2 * np.pi)
    derivative = (np.pi - angle) / (2 * np.pi)
    expected = 32 * mean + added + 0.9**2 * derivative * (x1 @ x2.T + added)
    np.testing.assert_allclose(net.kernel(x1, x2).ntk, expected, rtol=1e-12)
    np.testing.assert_allclose(net.kernel(x1, x2).nngp, 0.9**2 * mean, rtol=1e-12)


def test_ntk_parameterization_bias_none_equals_zero():
    x = points(5, 3, seed=8)
    with_zero = nk.Sequential(nk.Dense(b_std=0.0), act.Erf(), nk.Dense(b_std=0.0)).kernel(x)
    without = nk.Sequential(nk.Dense(b_std=None), act.Erf(), nk.Dense(b_std=None)).kernel(x)
    for name in ("nngp", "ntk"):
        np.testing.assert_array_equal(getattr(with_zero, name), getattr(without, name))


# --- JAX transformations -------------------------------------------------------------------------

def test_networks_are_pytrees_of_hyperparameters():
    net = mixed_network()
    leaves = jax.tree_util.tree_leaves(net)
    assert all(isinstance(leaf, float) for leaf in leaves)
    assert [leaf for leaf in leaves][:2] == [1.5, 0.1]
    rebuilt = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(net), leaves)
    assert rebuilt == net
    doubled = jax.tree_util.tree_map(lambda v: 2 * v, nk.Sequential(nk.Dense(W_std=1.0, b_std=None)))
    assert doubled.layers[0].W_std == 2.0 and doubled.layers[0].b_std is None


@pytest.mark.slow
def test_jit_vmap_and_grad():
    x = jnp.asarray(points(6, 4, seed=9))
    net = mixed_network()
    jitted = jax.jit(lambda n, x: n.kernel_fn(x, get="ntk"))(net, x)
    np.testing.assert_allclose(jitted, net.kernel_fn(x, get="ntk"), rtol=1e-6)
    widths = jnp.array([0.5, 1.0, 2.0])
    stacked = jax.vmap(lambda w: nk.Sequential(nk.Dense(W_std=w), act.ReLU(), nk.Dense()).kernel_fn(x, get="nngp"))(widths)
    for w, kernel in zip(widths, stacked):
        np.testing.assert_allclose(kernel, nk.Sequential(nk.Dense(W_std=float(w)), act.ReLU(), nk.Dense())
                                   .kernel_fn(x, get="nngp"), rtol=1e-6)
    gradient = jax.grad(lambda n: n.kernel_fn(x, get="ntk").sum())(net)
    assert isinstance(gradient, nk.Sequential)
    assert all(np.isfinite(leaf) for leaf in jax.tree_util.tree_leaves(gradient))
    fc_gradient = jax.grad(lambda n: n.kernel_fn(x, get="nngp").sum())(nk.FullyConnected(depth=2, W_std=1.2))
    assert isinstance(fc_gradient, nk.FullyConnected) and np.isfinite(fc_gradient.W_std)


@pytest.mark.slow
def test_gradients_finite_on_diagonal_and_duplicates(monkeypatch):
    """Correlations of exactly +-1 (a point with itself, a repeated point, a negated point), with
    kernel_fn on blocks of 4 points (the repeated and negated points in another block)."""
    monkeypatch.setattr(passes, "FN_BLOCK", 4)
    x = points(4, 3, seed=10)
    x = jnp.asarray(np.concatenate([x, x[:1], -x[1:2]]))
    for net in (mixed_network(), nk.FullyConnected(depth=3, activation="relu", W_std=1.4, b_std=0.0)):
        for right in (None, x):
            def loss(n, x):
                kernels = n.kernel_fn(x, right if right is None else x)
                return jnp.sum(kernels.nngp ** 2) + jnp.sum(kernels.ntk)
            grad_net, grad_x = jax.grad(loss, argnums=(0, 1))(net, x)
            assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(grad_net))
            assert np.all(np.isfinite(grad_x))


def _central_difference(f, value: float, step: float = 1e-6) -> float:
    return (f(value + step) - f(value - step)) / (2 * step)


@pytest.mark.slow
def test_gradients_match_central_differences(x64):
    x = jnp.asarray(points(5, 3, seed=11, dtype=np.float64))
    y = jnp.asarray(points(3, 3, seed=12, dtype=np.float64))

    def build(w1, b1, w2):
        return nk.Sequential(nk.Dense(W_std=w1, b_std=b1), nk.LayerNorm(), act.Erf(), nk.Dense(W_std=w2),
                             nk.Residual(act.GELU(), nk.Dense(W_std=0.8, b_std=0.1)), act.ReLU(), nk.Dense())

    def loss(w1, b1, w2, x):
        kernels = build(w1, b1, w2).kernel_fn(x, y)
        return jnp.sum(jnp.sin(kernels.nngp)) + jnp.sum(kernels.ntk ** 2)

    values = (1.3, 0.2, 1.1)
    gradients = jax.grad(loss, argnums=(0, 1, 2, 3))(*values, x)
    for index in range(3):
        def moved(v, index=index):
            changed = list(values)
            changed[index] = v
            return float(loss(*changed, x))
        np.testing.assert_allclose(gradients[index], _central_difference(moved, values[index]), rtol=1e-6)
    for i, j in [(0, 0), (2, 1), (4, 2)]:
        def moved(v, i=i, j=j):
            return float(loss(*values, x.at[i, j].set(v)))
        np.testing.assert_allclose(gradients[3][i, j], _central_difference(moved, float(x[i, j])), rtol=1e-6)


@pytest.mark.slow
def test_quadrature_inside_jit_needs_a_degree():
    x = jnp.asarray(points(4, 3, seed=13))
    net = nk.Sequential(nk.Dense(), act.Tanh(), nk.Dense())
    with pytest.raises(ValueError, match="degree"):
        jax.jit(lambda n: n.kernel_fn(x))(net)
    fixed = nk.Sequential(nk.Dense(), act.Tanh(degree=64), nk.Dense())
    np.testing.assert_allclose(jax.jit(lambda n: n.kernel_fn(x, get="ntk"))(fixed),
                               fixed.kernel(np.asarray(x), get="ntk"), rtol=1e-5)


# --- dtypes ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_dtype_argument(x64):
    net = mixed_network()
    x = points(4, 3, seed=14, dtype=np.float64)
    assert net.kernel(x, get="nngp", dtype=np.float32).dtype == np.float32
    assert net.kernel(x.astype(np.float32), get="nngp", dtype="float64").dtype == np.float64
    assert net.kernel_fn(x, get="nngp", dtype=np.float32).dtype == jnp.float32
    assert net.diagonal(x, get="nngp").dtype == np.float64


def test_float64_needs_x64():
    if jax.config.jax_enable_x64:
        pytest.skip("x64 is on in this process")
    x = points(3, 2, seed=15)
    with pytest.raises(ValueError, match="jax_enable_x64"):
        mixed_network().kernel(x, dtype=np.float64)
    with pytest.raises(ValueError, match="jax_enable_x64"):
        mixed_network().kernel_fn(x, dtype=np.float64)
    with pytest.raises(ValueError, match="dtype"):
        mixed_network().kernel(x, dtype=np.int32)


# --- Bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("layers, error, match", [
    ((), ValueError, "at least one layer"),
    ((nk.Dense(), "relu"), TypeError, "layer 1 must be a layer"),
    ((act.ReLU(), nk.Dense()), ValueError, "layer 0 \\(ReLU\\).*before any Dense"),
    ((nk.LayerNorm(), nk.Dense()), ValueError, "layer 0 \\(LayerNorm\\)"),
    ((nk.Dense(), act.ReLU(), act.Erf()), ValueError, "layer 2 \\(Erf\\).*follows an activation"),
    ((nk.Dense(), act.ReLU(), nk.LayerNorm()), ValueError, "layer 2 \\(LayerNorm\\)"),
    ((nk.Dense(), act.ReLU(), nk.Residual(nk.Dense(), act.ReLU()), nk.Dense()), ValueError,
     "layer 2 \\(Residual\\).*zero mean"),
    ((nk.Residual(nk.Dense(), act.ReLU()), nk.Dense()), ValueError, "layer 0 \\(Residual\\).*zero mean"),
    ((nk.Dense(), nk.Dense(parameterization="standard")), ValueError, "layer 1 \\(Dense\\).*width"),
    ((nk.Dense(width=8, parameterization="standard"), nk.Residual(nk.Dense(width=4, parameterization="standard"))),
     ValueError, "width 8 to width 4"),
    ((nk.Dense(), nk.Residual(nk.Dense(), act.ReLU(), nk.Dense(), act.Erf(), nk.Dense()), act.ReLU(), act.ReLU()),
     ValueError, "layer 3 \\(ReLU\\)"),
])
def test_bad_layer_lists(layers, error, match):
    with pytest.raises(error, match=match):
        nk.Sequential(*layers)


@pytest.mark.parametrize("build, error, match", [
    (lambda: nk.Residual(), ValueError, "Residual needs at least one layer"),
    (lambda: nk.Residual(nk.Dense(), 3), TypeError, "Residual layer 1 must be a layer"),
    (lambda: nk.Residual(nk.Dense(), act.ReLU(), act.ReLU()), ValueError, "Residual layer 2 \\(ReLU\\)"),
    (lambda: nk.Dense(W_std=-1.0), ValueError, "W_std"),
    (lambda: nk.Dense(b_std=float("nan")), ValueError, "b_std"),
    (lambda: nk.Dense(W_std="1"), TypeError, "W_std"),
    (lambda: nk.Dense(parameterization="mup"), ValueError, "parameterization"),
    (lambda: nk.Dense(width=0), ValueError, "width"),
    (lambda: nk.Dense(width=2.5), TypeError, "width"),
    (lambda: nk.LayerNorm(eps=-1.0), ValueError, "eps"),
])
def test_bad_layers(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.slow
def test_bad_kernel_fn_inputs():
    net = mixed_network()
    with pytest.raises(ValueError, match="x1"):
        net.kernel_fn(np.ones(3))
    with pytest.raises(ValueError, match="features"):
        net.kernel_fn(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="x2"):
        net.kernel_fn(np.ones((2, 3)), np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="get"):
        net.kernel_fn(np.ones((2, 3)), get="cov")
    with pytest.raises(ValueError, match="overflows"):
        nk.FullyConnected(depth=200, W_std=3.0).kernel_fn(np.ones((2, 3), np.float32))


def test_residual_with_one_zero_mean_branch_is_allowed():
    """x + block(x) is accepted when either branch has zero mean (DESIGN.md's example: ReLU
    features plus an Erf block; the raw input plus a block ending in a Dense)."""
    net = nk.Sequential(nk.Dense(W_std=1.5, b_std=0.1), nk.LayerNorm(), act.ReLU(),
                        nk.Residual(nk.Dense(W_std=1.4), act.Erf()), nk.Dense(W_std=1.0, b_std=None))
    x = points(4, 3, seed=21)
    kernels = net.kernel(x)
    assert np.all(np.isfinite(kernels.nngp)) and np.all(np.isfinite(kernels.ntk))
    nk.Sequential(nk.Dense(), act.ReLU(), nk.Residual(nk.Dense()), nk.Dense())
    nk.Sequential(nk.Residual(nk.Dense()), nk.Dense(), act.ReLU(), nk.Dense())


def test_layers_from_plain_data():
    """from_spec builds the same network as the constructors, and names the bad entry."""
    from nngp_ntk.kernels import from_spec

    spec = [{"layer": "dense", "W_std": 1.5, "b_std": 0.1}, {"layer": "layernorm"}, {"layer": "relu"},
            {"layer": "residual", "block": [{"layer": "dense", "W_std": 1.4}, {"layer": "erf", "b": 2.0}]},
            {"layer": "dense", "bias": False}]
    expected = nk.Sequential(nk.Dense(W_std=1.5, b_std=0.1), nk.LayerNorm(), act.ReLU(),
                             nk.Residual(nk.Dense(W_std=1.4), act.Erf(b=2.0)), nk.Dense(b_std=None))
    assert nk.Sequential(*from_spec(spec)) == expected
    with pytest.raises(TypeError, match=r"layers\[3\]\.block\[1\].*Erf"):
        from_spec(spec[:3] + [{"layer": "residual", "block": [{"layer": "dense"}, {"layer": "erf", "a": "x"}]}])
    with pytest.raises(TypeError, match=r"layers\[0\].*unexpected keyword"):
        from_spec([{"layer": "relu", "slope": 1.0}])
    with pytest.raises(ValueError, match=r"layers\[1\]: unknown layer 'conv'"):
        from_spec([{"layer": "dense"}, {"layer": "conv"}])
    with pytest.raises(ValueError, match="b_std or bias"):
        from_spec([{"layer": "dense", "b_std": 0.1, "bias": False}])
