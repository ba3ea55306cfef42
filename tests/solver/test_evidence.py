"""Tests of nngp_ntk.solver._evidence: the GP log evidence against scipy's multivariate normal, its
gradients against central differences, and hyperparameters fitted by maximizing it."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import scipy.stats

import nngp_ntk as nk
from nngp_ntk import solver


def problem(n=30, dim=3, seed=0, outputs=None):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim))
    y = rng.standard_normal((n,) if outputs is None else (n, outputs))
    return x, y


@pytest.mark.parametrize("outputs", [pytest.param(None, marks=pytest.mark.slow), 3])
def test_log_marginal_likelihood_is_the_gaussian_log_density(x64, outputs):
    x, y = problem(outputs=outputs)
    net = nk.FullyConnected(depth=2, activation="erf", W_std=1.3, b_std=0.2)
    ridge = 0.05
    cov = np.asarray(net.kernel(x, get="nngp"), np.float64) + ridge * np.eye(len(x))
    columns = y.reshape(len(x), -1).T
    expected = sum(scipy.stats.multivariate_normal(np.zeros(len(x)), cov).logpdf(c) for c in columns)
    actual = solver.log_marginal_likelihood(net, x, y, ridge)
    np.testing.assert_allclose(float(actual), expected, rtol=1e-10)


@pytest.mark.slow
def test_gradients_match_central_differences(x64):
    x, y = problem()
    net = nk.FullyConnected(depth=2, activation="relu", W_std=1.4, b_std=0.3)
    ridge = 0.1

    @jax.jit
    def evidence(w_std, b_std, noise):
        return solver.log_marginal_likelihood(nk.FullyConnected(depth=2, W_std=w_std, b_std=b_std), x, y, noise)

    gradient = jax.grad(evidence, argnums=(0, 1, 2))(1.4, 0.3, ridge)
    step = 1e-6
    for k, point in enumerate([(1.4, 0.3, ridge)]):
        for i in range(3):
            up, down = list(point), list(point)
            up[i] += step
            down[i] -= step
            numeric = (float(evidence(*up)) - float(evidence(*down))) / (2 * step)
            np.testing.assert_allclose(float(gradient[i]), numeric, rtol=1e-6)
    # Gradient with respect to the network itself: a network of gradients.
    network_gradient = jax.grad(lambda n: solver.log_marginal_likelihood(n, x, y, ridge))(net)
    leaves = jax.tree_util.tree_leaves(network_gradient)
    assert leaves and all(np.all(np.isfinite(np.asarray(leaf))) for leaf in leaves)


@pytest.mark.slow
def test_log_marginal_likelihood_under_jit(x64):
    x, y = problem()
    net = nk.FullyConnected(depth=1, W_std=1.5, b_std=0.1)
    eager = solver.log_marginal_likelihood(net, x, y, 0.1)
    jitted = jax.jit(solver.log_marginal_likelihood)(net, x, y, 0.1)
    np.testing.assert_allclose(float(jitted), float(eager), rtol=1e-12)


@pytest.mark.slow
def test_fit_recovers_a_better_evidence_than_the_truth(x64):
    """Targets drawn from the GP of a known network: the fit starts elsewhere and ends at an evidence
    at least that of the true hyperparameters (it is the maximum), with the true values nearby."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((80, 3))
    truth = nk.FullyConnected(depth=1, W_std=2.0, b_std=0.8)
    noise = 0.05
    cov = np.asarray(truth.kernel(x, get="nngp"), np.float64) + noise * np.eye(len(x))
    y = np.linalg.cholesky(cov) @ rng.standard_normal((len(x), 4))
    start = nk.FullyConnected(depth=1, W_std=1.0, b_std=0.1)
    fitted, ridge = solver.fit_hyperparameters(start, x, y, ridge=1.0)
    best = float(solver.log_marginal_likelihood(fitted, x, y, ridge))
    assert best >= float(solver.log_marginal_likelihood(truth, x, y, noise)) - 1e-6
    assert best > float(solver.log_marginal_likelihood(start, x, y, 1.0))
    assert 1.0 < fitted.W_std < 4.0 and 0.01 < ridge < 0.25


@pytest.mark.slow
def test_fit_selection_and_bounds(x64):
    x, y = problem()
    start = nk.FullyConnected(depth=1, W_std=1.0, b_std=0.5)
    fitted, ridge = solver.fit_hyperparameters(start, x, y, ridge=0.3, fit=("W_std",), fit_ridge=False,
                                               bounds={"W_std": (0.5, 1.2)})
    assert ridge == 0.3 and fitted.b_std == 0.5
    assert 0.5 <= fitted.W_std <= 1.2
    # "W_std" selects every entry of a per-layer sequence.
    per_layer = nk.FullyConnected(depth=1, W_std=[1.0, 1.1], b_std=0.5)
    fitted, _ = solver.fit_hyperparameters(per_layer, x, y, ridge=0.3, fit="W_std", fit_ridge=False, maxiter=5)
    assert fitted.b_std == 0.5 and all(new != old for new, old in zip(fitted.W_std, per_layer.W_std))


@pytest.mark.slow
def test_bad_arguments():
    x, y = problem()
    net = nk.FullyConnected(depth=1)
    with pytest.raises(TypeError, match="net"):
        solver.log_marginal_likelihood("relu", x, y)
    with pytest.raises(ValueError, match="ridge"):
        solver.log_marginal_likelihood(net, x, y, ridge=-1.0)
    with pytest.raises(ValueError, match="y must have shape"):
        solver.log_marginal_likelihood(net, x, y[:5])
    with pytest.raises(ValueError, match="selects no hyperparameter"):
        solver.fit_hyperparameters(net, x, y, fit=("nothing",), fit_ridge=False)
    with pytest.raises(ValueError, match="bounds"):
        solver.fit_hyperparameters(net, x, y, bounds={"W_std": (2.0, 1.0)})
    duplicated = np.vstack([x, x[:1]])
    with pytest.raises(np.linalg.LinAlgError, match="positive definite"):
        solver.log_marginal_likelihood(nk.FullyConnected(depth=1), duplicated, np.ones(len(duplicated)), 0.0)


def smooth_problem(seed, n=150, n_test=300, dim=3, noise=0.3):
    """Noisy samples of a smooth target (noise variance 0.09), split into training and held-out points."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n + n_test, dim)).astype(np.float32)
    y = np.sin(1.5 * x[:, 0]) + 0.5 * np.cos(x[:, 1]) * x[:, 2] + noise * rng.standard_normal(n + n_test)
    return x[:n], y[:n], x[n:], y[n:]


def held_out_mse(net, ridge, x, y, x_test, y_test):
    mean = solver.predict(net, x, y, x_test, kernel="nngp", ridge=ridge)
    return float(np.mean((np.asarray(mean, np.float64).ravel() - y_test) ** 2))


def check_fit_beats_the_start(start, seeds):
    """From ``start`` (ridge 1e-3, the default), in JAX's default float32 mode: the fitted model predicts
    held-out points better than the start, with b_std moved off 0 (the evidence's optimum has
    b_std of order 1-5 for these targets, which a bias-free ReLU network cannot fit)."""
    for seed in seeds:
        x, y, x_test, y_test = smooth_problem(seed)
        fitted, ridge = solver.fit_hyperparameters(start, x, y)
        before = held_out_mse(start, 1e-3, x, y, x_test, y_test)
        after = held_out_mse(fitted, ridge, x, y, x_test, y_test)
        assert after < 0.8 * before, (seed, before, after, fitted, ridge)
        assert after < 0.25 and fitted.b_std > 0.5 and 0.02 < ridge < 0.2, (seed, after, fitted, ridge)


def test_fit_from_the_default_network_moves_b_std_and_beats_the_start():
    assert not jax.config.jax_enable_x64
    check_fit_beats_the_start(nk.FullyConnected(), seeds=[0, 1])


@pytest.mark.slow
def test_fit_beats_the_start_from_default_networks_of_every_depth():
    for depth in (1, 2, 3):
        check_fit_beats_the_start(nk.FullyConnected(depth=depth), seeds=range(4))


@pytest.mark.slow
def test_fit_is_float64_whatever_the_x64_mode():
    x, y, _, _ = smooth_problem(0)
    fitted32, ridge32 = solver.fit_hyperparameters(nk.FullyConnected(), x, y)
    jax.config.update("jax_enable_x64", True)
    try:
        fitted64, ridge64 = solver.fit_hyperparameters(nk.FullyConnected(), x, y)
    finally:
        jax.config.update("jax_enable_x64", False)
    np.testing.assert_allclose([fitted32.W_std, fitted32.b_std, ridge32],
                               [fitted64.W_std, fitted64.b_std, ridge64], rtol=1e-8)
