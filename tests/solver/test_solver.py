"""Tests of nngp_ntk.solver: neural-tangents references, closed-form identities, numerics, bad input,
and agreement with finite-width networks trained by gradient descent."""

from __future__ import annotations

import contextlib
import json
import pathlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import nngp_ntk as nk
from nngp_ntk import solver
from nngp_ntk.solver import _dense as dense_flow

DATA = pathlib.Path(__file__).parents[1] / "data" / "nt_predict.npz"


@contextlib.contextmanager
def x64_mode():
    """JAX's x64 mode on inside the block, restored afterwards."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


@pytest.fixture
def x64():
    with x64_mode():
        yield


@pytest.fixture(scope="module")
def reference():
    with np.load(DATA) as data:
        return {key: data[key] for key in data.files}


def assert_close(actual, expected, rtol=1e-6):
    """Relative agreement, entries measured against the largest magnitude of the reference."""
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def random_problem(n=40, m=9, dim=4, outputs=None, seed=0, depth=2):
    """float64 kernels of a ReLU network on random points and random targets."""
    rng = np.random.default_rng(seed)
    x, xt = rng.standard_normal((n, dim)), rng.standard_normal((m, dim))
    y = rng.standard_normal((n,) if outputs is None else (n, outputs))
    net = nk.FullyConnected(depth=depth, W_std=1.4, b_std=0.2)
    with x64_mode():
        train, test_train = net.kernel(x), net.kernel(xt, x)
        test_test = net.kernel(xt, get="nngp")
    return net, x, xt, y, train, test_train, test_test


@pytest.mark.parametrize("arch", ["relu", pytest.param("erf", marks=pytest.mark.slow)])
@pytest.mark.parametrize("ridge_index", [0, pytest.param(1, marks=pytest.mark.slow)])
@pytest.mark.parametrize("targets", ["y1", pytest.param("y2", marks=pytest.mark.slow)])
@pytest.mark.parametrize("kernel", ["nngp", "ntk"])
def test_predict_matches_neural_tangents(x64, reference, arch, ridge_index, targets, kernel):
    net = nk.FullyConnected(**json.loads(str(reference["architectures"]))[arch])
    args = (net, reference["x_train"], reference[targets], reference["x_test"])
    kwargs = dict(kernel=kernel, learning_rate=float(reference["learning_rate"]),
                  ridge=float(reference["ridges"][ridge_index]), return_cov=True)
    key = f"{arch}_r{ridge_index}_{targets}_{kernel}"
    mean, cov = solver.predict(*args, t=reference["times"], **kwargs)
    assert mean.dtype == np.float64
    assert_close(mean, reference[f"{key}_mean_t"])
    assert_close(cov, reference[f"{key}_cov_t"])
    mean, cov = solver.predict(*args, t=None, **kwargs)
    assert_close(mean, reference[f"{key}_mean_inf"])
    assert_close(cov, reference[f"{key}_cov_inf"])
    assert_close(solver.predict(*args, t=None, kernel=kernel, ridge=kwargs["ridge"]), reference[f"{key}_mean_inf"])


@pytest.mark.parametrize("kernel", ["nngp", "ntk"])
def test_gradient_flow_on_neural_tangents_kernels(reference, kernel):
    k = {name: reference[f"kernel_{kernel}_{name}"] for name in ("train_train", "test_train")}
    nngp = {name: reference[f"kernel_nngp_{name}"] for name in ("train_train", "test_train", "test_test")}
    extra = dict(nngp_train_train=nngp["train_train"], nngp_test_train=nngp["test_train"]) if kernel == "ntk" else {}
    for ridge_index, ridge in enumerate(reference["ridges"]):
        key = f"relu_r{ridge_index}_y2_{kernel}"
        mean, cov = solver.gradient_flow(k["train_train"], reference["y2"], k["test_train"], reference["times"],
                                         learning_rate=float(reference["learning_rate"]), ridge=float(ridge),
                                         nngp_test_test=nngp["test_test"], **extra)
        assert_close(mean, reference[f"{key}_mean_t"])
        assert_close(cov, reference[f"{key}_cov_t"])
    if kernel == "nngp":
        mean, cov = solver.gp_posterior(nngp["train_train"], reference["y2"], nngp["test_train"], nngp["test_test"],
                                        ridge=float(reference["ridges"][1]))
        assert_close(mean, reference["relu_r1_y2_nngp_mean_inf"])
        assert_close(cov, reference["relu_r1_y2_nngp_cov_inf"])


def test_max_learning_rate_matches_neural_tangents(reference):
    ntk = reference["kernel_ntk_train_train"]
    rate = solver.max_learning_rate(ntk, y_train_size=reference["y2"].size)
    assert rate == pytest.approx(float(reference["max_learning_rate_y2"]), rel=1e-9)
    assert solver.max_learning_rate(ntk, ridge=1.0) < solver.max_learning_rate(ntk)


def test_closed_forms_and_limits():
    _, _, _, y, train, test_train, test_test = random_problem(outputs=2)
    ntk, nngp = train.ntk, train.nngp
    args = dict(nngp_train_train=nngp, nngp_test_train=test_train.nngp, nngp_test_test=test_test)
    mean0, cov0 = solver.gradient_flow(ntk, y, test_train.ntk, 0.0, **args)
    np.testing.assert_allclose(mean0, 0.0, atol=1e-12)
    np.testing.assert_allclose(cov0, test_test, atol=1e-12)
    # t = None is the limit of long times; by an eigendecomposition, inf is the same as None.
    means, covs = solver.gradient_flow(ntk, y, test_train.ntk, [1e9, np.inf], **args)
    mean_inf, cov_inf = solver.gradient_flow(ntk, y, test_train.ntk, None, **args)
    assert_close(means[0], mean_inf, rtol=1e-7)
    assert_close(means[1], mean_inf, rtol=1e-9)
    assert_close(covs[0], cov_inf, rtol=1e-7)
    # The mean by the explicit matrix exponential.
    t, rate = 3.0, 0.5
    expected = test_train.ntk @ np.linalg.solve(ntk, (np.eye(len(ntk)) - scipy.linalg.expm(
        -rate * t * ntk / y.size)) @ y)
    assert_close(solver.gradient_flow(ntk, y, test_train.ntk, t, learning_rate=rate), expected, 1e-9)
    # A time sequence is the stack of single times.
    stacked = solver.gradient_flow(ntk, y, test_train.ntk, [0.5, 7.0])
    assert_close(stacked[1], solver.gradient_flow(ntk, y, test_train.ntk, 7.0), 1e-12)
    # The covariance is symmetric positive semi-definite; the variance-only form is its diagonal.
    _, cov = solver.gradient_flow(ntk, y, test_train.ntk, 7.0, **args)
    np.testing.assert_allclose(cov, cov.T, atol=1e-12)
    assert np.linalg.eigvalsh(cov).min() > -1e-10
    _, variances = solver.gradient_flow(ntk, y, test_train.ntk, 7.0, nngp_train_train=nngp,
                                        nngp_test_train=test_train.nngp, nngp_test_test=np.diag(test_test))
    assert_close(variances, np.diag(cov), 1e-10)


def test_gp_posterior_is_the_textbook_formula():
    _, _, _, y, train, test_train, test_test = random_problem()
    ridge = 0.1
    shifted = train.nngp + ridge * np.eye(len(y))
    mean, cov = solver.gp_posterior(train.nngp, y, test_train.nngp, test_test, ridge=ridge)
    assert_close(mean, test_train.nngp @ np.linalg.solve(shifted, y), 1e-10)
    assert_close(cov, test_test - test_train.nngp @ np.linalg.solve(shifted, test_train.nngp.T), 1e-10)


def test_one_eigendecomposition_serves_all_times(monkeypatch):
    _, _, _, y, train, test_train, _ = random_problem()
    calls = []
    original = dense_flow.scipy.linalg.eigh

    def counting_eigh(*args, **kwargs):
        calls.append(kwargs.get("eigvals_only", False))
        return original(*args, **kwargs)

    monkeypatch.setattr(dense_flow.scipy.linalg, "eigh", counting_eigh)
    flow = solver.GradientFlow(train.ntk, y)
    flow.predict(test_train.ntk, [1.0, 2.0, 30.0])
    flow.predict(test_train.ntk[:3], 5.0)
    flow.max_learning_rate()
    assert calls == [False]




def test_training_loss():
    _, _, _, y, train, _, _ = random_problem(outputs=3)
    ntk, nngp = train.ntk, train.nngp
    times = [0.0, 1.0, 10.0, 100.0, None]
    losses = np.array([solver.training_loss(ntk, y, t) for t in times])
    assert losses[0] == pytest.approx(0.5 * np.mean(y**2))
    assert np.all(np.diff(losses) < 0) and losses[-1] < 1e-20
    values, vectors = np.linalg.eigh(ntk)
    tau = 10.0 / y.size
    explicit = 0.5 * np.sum(np.exp(-2 * values * tau)[:, None] * (vectors.T @ y) ** 2) / y.size
    assert losses[2] == pytest.approx(explicit, rel=1e-9)
    # Averaged over initializations: the variance of the outputs, tr(exp(-tau Theta) K exp(-tau Theta)) / N, adds.
    with_variance = solver.training_loss(ntk, y, [0.0, 10.0], nngp_train_train=nngp)
    decay = vectors @ np.diag(np.exp(-values * tau)) @ vectors.T
    assert with_variance[0] == pytest.approx(0.5 * (np.mean(y**2) + np.trace(nngp) / len(y)))
    assert with_variance[1] == pytest.approx(explicit + 0.5 * np.trace(decay @ nngp @ decay) / len(y), rel=1e-9)


def test_gradient_descent_steps_and_max_learning_rate():
    _, _, _, y, train, test_train, _ = random_problem()
    ntk = train.ntk
    eta = 0.9 * solver.max_learning_rate(ntk)
    f_train, f_test = np.zeros_like(y), np.zeros(test_train.ntk.shape[0])
    for _ in range(25):
        residual = f_train - y
        f_train, f_test = f_train - eta / y.size * ntk @ residual, f_test - eta / y.size * test_train.ntk @ residual
    assert_close(solver.gradient_descent(ntk, y, test_train.ntk, 25, learning_rate=eta), f_test, 1e-9)
    converged = solver.gradient_descent(ntk, y, test_train.ntk, [10**7, np.inf], learning_rate=eta)
    assert_close(converged[0], solver.gradient_flow(ntk, y, test_train.ntk), 1e-6)
    with pytest.raises(ValueError, match="learning_rate"):
        solver.gradient_descent(ntk, y, test_train.ntk, 10, learning_rate=1.01 * solver.max_learning_rate(ntk))
    with pytest.raises(ValueError, match="steps"):
        solver.gradient_descent(ntk, y, test_train.ntk, 2.5, learning_rate=eta)
    coefficients = dense_flow.descent_coefficients(np.array([0.0, 1e-30, 1.0, 3.0]), rate=0.5, steps=4)
    np.testing.assert_allclose(coefficients, [2.0, 2.0, (1 - 0.5**4) / 1.0, (1 - (-0.5) ** 4) / 3.0])


@pytest.mark.slow
def test_singular_kernel_gives_the_minimum_norm_answer():
    net, x, xt, y, _, _, _ = random_problem()
    x, y = x[:35], y[:35]       # 40 points in all, as random_problem's (no new compilation)
    duplicated_x, duplicated_y = np.concatenate([x, x[:5]]), np.concatenate([y, y[:5]])
    with x64_mode():
        train, test_train = net.kernel(duplicated_x), net.kernel(xt, duplicated_x)
        test_test = net.kernel(xt, get="nngp")
    kernels = dict(nngp_train_train=train.nngp, nngp_test_train=test_train.nngp, nngp_test_test=test_test)
    expected = solver.gradient_flow(train.ntk[:35, :35], y, test_train.ntk[:, :35])
    with pytest.warns(solver.SingularKernelWarning, match="ridge"):
        mean, cov = solver.gradient_flow(train.ntk, duplicated_y, test_train.ntk, **kernels)
    assert np.isfinite(cov).all()
    assert_close(mean, expected, 1e-6)
    # Duplicates with different targets: the minimum-norm interpolant fits their average.
    noisy_y = duplicated_y.copy()
    noisy_y[-5:] += 1.0
    averaged = y.copy()
    averaged[:5] += 0.5
    with pytest.warns(solver.SingularKernelWarning):
        assert_close(solver.gradient_flow(train.ntk, noisy_y, test_train.ntk),
                     solver.gradient_flow(train.ntk[:35, :35], averaged, test_train.ntk[:, :35]), 1e-6)
    # Finite times and a ridge need no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(solver.gradient_flow(train.ntk, noisy_y, test_train.ntk, [1.0, 1e6], **kernels)[1]).all()
        assert np.isfinite(solver.gradient_flow(train.ntk, noisy_y, test_train.ntk, ridge=1e-6)).all()
    # Through predict with the default float32 kernels: float32 outputs, still finite.
    with pytest.warns(solver.SingularKernelWarning):
        mean32 = solver.predict(net, duplicated_x, duplicated_y, xt)
    assert mean32.dtype == np.float32
    assert_close(mean32.astype(np.float64), expected, 1e-2)


def test_negative_rounding_eigenvalues_are_clamped():
    rng = np.random.default_rng(3)
    features = rng.standard_normal((30, 5))
    kernel = features @ features.T - 1e-9 * np.eye(30)      # rank 5, slightly indefinite
    y = features @ rng.standard_normal(5)
    with pytest.warns(solver.SingularKernelWarning, match="the 30 x 30 train kernel is singular, of numerical "
                                                          "rank 5: its rows are linearly dependent"):
        mean = solver.gradient_flow(kernel, y, kernel[:4], None)
    assert_close(mean, y[:4], 1e-6)
    means = solver.gradient_flow(kernel, y, kernel[:4], [1.0, 1e12])
    assert np.isfinite(means).all()
    assert_close(means[1], y[:4], 1e-6)


def test_shapes_follow_targets_and_times():
    _, _, _, y, train, test_train, test_test = random_problem(outputs=3)
    args = (train.ntk, y, test_train.ntk)
    assert solver.gradient_flow(*args).shape == (9, 3)
    assert solver.gradient_flow(*args, 2.0).shape == (9, 3)
    assert solver.gradient_flow(*args, [2.0]).shape == (1, 9, 3)
    assert solver.gradient_flow(train.ntk, y[:, 0], test_train.ntk, np.arange(4.0)).shape == (4, 9)
    mean, cov = solver.gradient_flow(train.nngp, y, test_train.nngp, [1.0, 2.0], nngp_test_test=test_test)
    assert mean.shape == (2, 9, 3) and cov.shape == (2, 9, 9)


@pytest.mark.parametrize("change, match", [
    (dict(y_train=np.zeros(7)), "y_train"),
    (dict(y_train=np.full(40, np.nan)), "y_train"),
    (dict(y_train=np.zeros((40, 2, 2))), "y_train"),
    (dict(t=-1.0), "t must"),
    (dict(t=[1.0, -2.0]), "t must"),
    (dict(t=[[1.0]]), "t must"),
    (dict(t="soon"), "t must"),
    (dict(ridge=-0.1), "ridge"),
    (dict(ridge=np.nan), "ridge"),
    (dict(learning_rate=-1.0), "learning_rate"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(kernel="rbf"), "kernel"),
    (dict(method="cholesky"), "method"),
])
def test_predict_rejects_bad_input_before_work(change, match, monkeypatch):
    net, x, xt, y, *_ = random_problem()
    monkeypatch.setattr(net, "kernel", lambda *a, **k: pytest.fail("kernels computed before validation"))
    kwargs = dict(net=net, x_train=x, y_train=y, x_test=xt) | change
    with pytest.raises(ValueError, match=match):
        solver.predict(**kwargs)


def test_gradient_flow_rejects_bad_kernels():
    _, _, _, y, train, test_train, test_test = random_problem()
    with pytest.raises(ValueError, match="k_train_train"):
        solver.gradient_flow(train.ntk[:, :5], y, test_train.ntk)
    with pytest.raises(ValueError, match="k_test_train"):
        solver.gradient_flow(train.ntk, y, test_train.ntk[:, :5])
    bad = train.ntk.copy()
    bad[3, 4] = np.inf
    with pytest.raises(ValueError, match="k_train_train contains NaN"):
        solver.gradient_flow(bad, y, test_train.ntk)
    with pytest.raises(ValueError, match="nngp_test_test"):
        solver.gradient_flow(train.ntk, y, test_train.ntk, nngp_test_test=test_test[:3])
    with pytest.raises(ValueError, match="nngp_train_train and nngp_test_train"):
        solver.gradient_flow(train.ntk, y, test_train.ntk, nngp_train_train=train.nngp, nngp_test_test=test_test)
    with pytest.raises(ValueError, match="y_train_size"):
        solver.max_learning_rate(train.ntk, y_train_size=0)
    with pytest.raises(TypeError, match="net"):
        solver.predict("relu", np.ones((3, 2)), np.ones(3), np.ones((2, 2)))


def _train_finite_networks(net, x, y, xt, width, seeds, steps, learning_rate):
    """Test outputs of networks trained by full-batch gradient descent on 0.5 mean((f - y)^2), one per seed."""
    from nngp_ntk import finite

    x, xt, y = jnp.asarray(x, jnp.float32), jnp.asarray(xt, jnp.float32), jnp.asarray(y, jnp.float32)

    def loss(params):
        return 0.5 * jnp.mean((finite.apply(net, params, x)[:, 0] - y) ** 2)

    def train(key):
        params = finite.init_params(net, key, x.shape[1], width)

        def step(params, _):
            grads = jax.grad(loss)(params)
            return jax.tree_util.tree_map(lambda p, g: p - learning_rate * g, params, grads), None

        params, _ = jax.lax.scan(step, params, None, length=steps)
        return finite.apply(net, params, xt)[:, 0]

    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    return np.concatenate([np.asarray(jax.jit(jax.vmap(train))(keys[i:i + 64])) for i in range(0, seeds, 64)])


@pytest.mark.slow
@pytest.mark.parametrize("depth, seeds", [(1, 256), (2, 128)])
def test_finite_width_training_agrees_with_predict(depth, seeds):
    """Width-2048 networks trained by gradient descent: mean and spread over seeds match the theory
    within Monte Carlo error (4 standard errors) plus a finite-width allowance."""
    rng = np.random.default_rng(1)
    x, xt = rng.standard_normal((8, 3)), rng.standard_normal((5, 3))
    y = np.sin(2 * x[:, 0])
    net = nk.FullyConnected(depth=depth, W_std=1.5, b_std=0.2)
    with x64_mode():
        train, test_train = net.kernel(x), net.kernel(xt, x)
        test_test = net.kernel(xt, get="nngp")
    learning_rate = 0.5 * solver.max_learning_rate(train.ntk)
    steps = 30
    mean, cov = solver.gradient_descent(train.ntk, y, test_train.ntk, steps, learning_rate=learning_rate,
                                        nngp_train_train=train.nngp, nngp_test_train=test_train.nngp,
                                        nngp_test_test=test_test)
    std = np.sqrt(np.diag(cov))
    outputs = _train_finite_networks(net, x, y, xt, 2048, seeds, steps, learning_rate)
    scale = np.abs(mean).max() + std.max()
    assert np.all(np.abs(outputs.mean(0) - mean) <= 4 * std / np.sqrt(seeds) + 0.03 * scale)
    np.testing.assert_allclose(outputs.std(0, ddof=1), std, rtol=4 / np.sqrt(2 * seeds) + 0.05)
    # Training did something: the trained outputs are far from the prior (mean 0, std sqrt(K(x, x))).
    assert np.abs(mean).max() > 4 * np.abs(mean - outputs.mean(0)).max()
