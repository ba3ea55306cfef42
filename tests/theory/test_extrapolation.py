"""extrapolate_learning_curve against the exact learning curve of a Gaussian design, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk.theory import _extrapolation as extrapolation
from nngp_ntk.theory._eigenlearning import ModeSpectrum, eigenlearning
from nngp_ntk.theory._extrapolation import extrapolate_gram, extrapolate_learning_curve
from nngp_ntk.theory import LeaveOneOut


@pytest.fixture(scope="module")
def gaussian_design():
    """Gaussian inputs with covariance diag(lambda_i), lambda_i ~ i^-1.6, and targets y = x . b with
    power b_i^2 lambda_i ~ i^-1.4 plus noise: a linear kernel (depth 0) whose population learning curve
    eigenlearning gives exactly in the limit of many features."""
    dim, n = 20000, 400
    index = np.arange(1, dim + 1)
    scale = index**-0.8                                        # sqrt(lambda_i)
    coefficients = index**-0.7 / scale                         # b_i, so that b_i^2 lambda_i = i^-1.4
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, dim)) * scale * np.sqrt(dim)   # kernel x . x' / dim has eigenvalues lambda_i
    noise = 1e-5
    y = X @ coefficients / np.sqrt(dim) + np.sqrt(noise) * rng.standard_normal(n)
    modes = ModeSpectrum(scale**2, np.ones(dim), index**-1.4, noise)
    return nk.FullyConnected(depth=0, W_std=1.0, b_std=0.0), X, y, modes


@pytest.mark.slow
def test_extrapolates_the_exact_curve_of_a_gaussian_design(gaussian_design):
    net, X, y, modes = gaussian_design
    sizes = np.array([100, 200, 400, 800, 1600])
    result = extrapolate_learning_curve(net, X, y, sizes=sizes, kernel="nngp", groups=5)
    exact = eigenlearning(modes, sizes).losses
    exact_alpha = -np.polyfit(np.log(sizes), np.log(exact), 1)[0]
    np.testing.assert_allclose(result.losses, exact, rtol=0.15)
    assert abs(result.alpha_D - exact_alpha) < 0.08
    assert result.ci[0] < exact_alpha < result.ci[1]
    assert np.all(result.intervals[:, 0] < exact) and np.all(exact < result.intervals[:, 1])
    assert np.all(result.intervals[:, 0] < result.losses) and np.all(result.losses < result.intervals[:, 1])
    # the intervals grow with the distance of the extrapolation
    widths = np.log(result.intervals[:, 1] / result.intervals[:, 0])
    assert widths[-1] > widths[1]
    assert np.all(result.read_sizes < len(X))


def test_refuses_bad_input(gaussian_design):
    net, X, y, _ = gaussian_design
    with pytest.raises(ValueError, match="sizes"):
        extrapolate_learning_curve(net, X, y, sizes=[100, 120], kernel="nngp")
    with pytest.raises(ValueError, match="groups"):
        extrapolate_learning_curve(net, X, y, sizes=[100, 200, 400], groups=2)
    with pytest.raises(ValueError, match="50"):
        extrapolate_learning_curve(net, X[:40], y[:40], sizes=[100, 200, 400])
    with pytest.raises(ValueError, match="rows"):
        extrapolate_learning_curve(net, X, y[:-1], sizes=[100, 200, 400])
    with pytest.raises(TypeError, match="net"):
        extrapolate_learning_curve("net", X, y, sizes=[100, 200, 400])


def test_any_network_is_accepted():
    """A Sequential is a network like FullyConnected: the same kernel gives the same extrapolation."""
    X = nk.data.sphere(120, 3, seed=0)
    fully = nk.FullyConnected(depth=1, activation="relu", W_std=1.5, b_std=0.1)
    sequential = nk.Sequential(nk.Dense(W_std=1.5, b_std=0.1), nk.activations.ReLU(), nk.Dense(W_std=1.5, b_std=0.1))
    first = extrapolate_learning_curve(fully, X, sizes=[60, 120, 240], groups=4)
    second = extrapolate_learning_curve(sequential, X, sizes=[60, 120, 240], groups=4)
    np.testing.assert_allclose(second.losses, first.losses, rtol=1e-8)
    assert second.alpha_D == pytest.approx(first.alpha_D, rel=1e-8)


def test_backtest_repeats_the_extrapolation_on_disjoint_subsets():
    """The backtest's errors are those of the same extrapolation from disjoint subsets of 0.9 N / r
    points, over the same factor r, against the leave-one-out curve of all N points; the interval
    adds them to the jackknife's."""
    n, dim = 200, 300
    index = np.arange(1, dim + 1)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, dim)) * index**-0.7
    gram = X @ X.T
    y = X @ (index**-0.5) + 0.01 * rng.standard_normal(n)
    sizes = np.array([100.0, 200.0, 400.0, 800.0])                  # r = 4: subsets of 0.9 * 200 / 4 = 45 points
    result = extrapolate_gram(gram, y[:, None], sizes, groups=4, seed=5)
    assert result.backtest_log_errors.shape == (4, 4) and result.backtest_alpha_errors.shape == (4,)
    rng = np.random.default_rng(5)
    rng.permutation(n)                                              # the jackknife's groups
    first = np.sort(rng.permutation(n)[:45])
    values, vectors = np.linalg.eigh(gram[np.ix_(first, first)] / 45)
    part = LeaveOneOut(values[::-1], vectors[:, ::-1], vectors[:, ::-1].T @ y[first])
    read = np.geomspace(4.5, 40.5, extrapolation.READ_POINTS)
    fit = np.polyfit(np.log(read), np.log(part.curve(read).losses), 1)
    values, vectors = np.linalg.eigh(gram / n)
    whole = LeaveOneOut(values[::-1], vectors[:, ::-1], vectors[:, ::-1].T @ y)
    scaled = sizes * 45 / n
    expected = np.polyval(fit, np.log(scaled)) - np.log(whole.curve(scaled).losses)
    np.testing.assert_allclose(result.backtest_log_errors[0], expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(result.backtest_se_log, np.sqrt(np.mean(result.backtest_log_errors**2, axis=0)))
    half = np.log(result.intervals[:, 1] / result.losses)
    np.testing.assert_allclose(half, np.log(result.losses / result.intervals[:, 0]), rtol=1e-9)
    total = np.hypot(result.jackknife_se_log, result.backtest_se_log)
    assert np.all(half >= 1.959 * total)                            # a Student-t factor, at least the normal 1.96
