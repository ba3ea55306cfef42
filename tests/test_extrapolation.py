"""extrapolate_learning_curve against the exact learning curve of a Gaussian design, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk.extrapolation import extrapolate_learning_curve
from nngp_ntk.theory import ModeSpectrum, eigenlearning


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
