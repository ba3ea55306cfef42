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
