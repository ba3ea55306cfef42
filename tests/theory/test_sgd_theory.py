"""The Gaussian-feature risk recursion of one-pass SGD, the compute frontier and predict_sgd_curve."""

import jax
import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk import data, scaling
from nngp_ntk.theory import compute_frontier, predict_sgd_curve, sgd_risk, sgd_schedule


def _monte_carlo(mu, w_star, noise_sd, etas, runs, seed):
    """Mean test risk of one-pass SGD with fresh Gaussian features x ~ N(0, diag(mu)), y = x . w* + noise."""
    rng = np.random.default_rng(seed)
    w = np.zeros((runs, len(mu)))
    for eta in etas:
        x = rng.standard_normal((runs, len(mu))) * np.sqrt(mu)
        y = x @ w_star + noise_sd * rng.standard_normal(runs)
        w -= eta * x * (np.sum(x * w, axis=1) - y)[:, None]
    risks = ((w - w_star) ** 2) @ mu + noise_sd**2
    return risks.mean(), risks.std(ddof=1) / np.sqrt(runs)


@pytest.mark.parametrize("schedule", ["geometric", "constant"])
def test_recursion_matches_monte_carlo_on_power_law_spectrum(schedule):
    mu = np.arange(1, 31) ** -1.5
    w_star = np.arange(1, 31) ** -0.5 * np.random.default_rng(1).choice([-1.0, 1.0], 30)
    noise_sd, n = 0.2, 300
    etas = sgd_schedule(n, 0.6 / mu.sum(), schedule)
    mean, se = _monte_carlo(mu, w_star, noise_sd, etas, runs=6000, seed=0)
    predicted = sgd_risk(mu, mu * w_star**2, noise_sd**2, etas)
    assert abs(predicted - mean) < 4 * se
    bias_only = sgd_risk(mu, mu * w_star**2, noise_sd**2, etas, variance=False)
    assert bias_only < predicted     # the variance term adds risk, and the Monte Carlo resolves it
    assert abs(bias_only - mean) > 4 * se


def test_constant_step_one_mode_closed_form():
    mu, eta, r0, noise, n = 2.0, 0.3, 1.5, 0.1, 25
    a = 1 - 2 * eta * mu + 3 * eta**2 * mu**2
    fixed = eta**2 * mu**2 * noise / (1 - a)
    expected = a**n * (r0 - fixed) + fixed + noise
    assert np.isclose(sgd_risk(np.array([mu]), np.array([r0]), noise, np.full(n, eta)), expected, rtol=1e-12)
    assert np.isclose(sgd_risk(np.array([mu]), np.array([r0]), noise, np.full(n, eta), variance=False),
                      (1 - eta * mu) ** (2 * n) * r0 + noise, rtol=1e-12)


def test_geometric_schedule_halves_every_phase():
    etas = sgd_schedule(1000, 0.5)
    phase = int(np.ceil(1000 / np.log2(1000)))
    assert etas[phase - 1] == 0.5 and etas[phase] == 0.25 and etas[-1] == 0.5 / 2 ** ((999) // phase)
    assert np.all(sgd_schedule(10, 0.5, "constant") == 0.5)


def test_frontier_of_synthetic_grid():
    widths = np.unique(np.round(10 * 2 ** (np.arange(25) / 4))).astype(int)
    samples = np.unique(np.round(100 * 2 ** (np.arange(25) / 4))).astype(int)
    a, b = 0.6, 0.3
    losses = widths[:, None] ** -a + samples[None, :] ** -b
    frontier = compute_frontier(widths, samples, losses, window=(1e4, 1e6))
    cost = widths[:, None] * samples[None, :]
    for c, loss, width in zip(frontier.compute[::37], frontier.losses[::37], frontier.widths[::37]):
        within = np.where(cost <= c, losses, np.inf)
        i = np.unravel_index(np.argmin(within), within.shape)[0]
        assert loss == within.min() and width == widths[i]
    assert abs(frontier.alpha_C.alpha - a * b / (a + b)) < 0.03   # L* ~ C^-ab/(a+b) on the continuum
    # the continuum optimum P* ~ C^(b / (a + b)) up to a constant: its log-slope
    inside = (frontier.compute >= 1e4) & (frontier.compute <= 1e6)
    slope = np.polyfit(np.log(frontier.compute[inside]), np.log(frontier.widths[inside]), 1)[0]
    assert abs(slope - b / (a + b)) < 0.05
    assert frontier.optimal_width(frontier.compute[5]) == frontier.widths[5]


def test_frontier_bad_input():
    with pytest.raises(ValueError, match="losses"):
        compute_frontier([1, 2], [1, 2, 3], np.ones((2, 2)))
    with pytest.raises(ValueError, match="window"):
        compute_frontier([1, 2], [1, 2], np.ones((2, 2)), window=(10, 1))


@pytest.fixture(scope="module")
def digits():
    X, Y = data.prepare(data.digits(1000, seed=0))
    return X, Y


NET = nk.FullyConnected(depth=1, W_std=2**0.5, b_std=0.1)


def test_bad_input_names_the_argument(digits):
    X, Y = digits
    pool = X[:800]
    with pytest.raises(ValueError, match="eta0"):
        predict_sgd_curve(NET, pool, Y[:800], widths=[10, 20, 40], samples=[100, 200, 400], eta0=2.5)
    with pytest.raises(ValueError, match="widths"):
        predict_sgd_curve(NET, pool, Y[:800], widths=[200, 400, 1000], samples=[100, 200, 400], eta0=0.5)
    with pytest.raises(ValueError, match="samples"):
        predict_sgd_curve(NET, pool, Y[:800], widths=[10, 20, 40], samples=[0, 100, 200], eta0=0.5)
    with pytest.raises(ValueError, match="samples"):
        predict_sgd_curve(NET, pool, Y[:800], widths=[10, 20, 40], samples=[100, 200, 900], eta0=0.5)
    with pytest.raises(ValueError, match="schedule"):
        predict_sgd_curve(NET, pool, Y[:800], widths=[10, 20, 40], samples=[100, 200, 400], eta0=0.5,
                          schedule="cosine")


def test_predicted_matches_measured_on_digits(digits):
    """Predicted from the 800 pool points within 15% of measured SGD tested on the other 200."""
    X, Y = digits
    widths, samples = [25, 50, 100], [100, 200, 400, 800]
    measured = scaling.sgd_curve(NET, X, Y, widths=widths, samples=samples, eta0=0.5, draws=3,
                                 test=np.arange(800, 1000))
    predicted = predict_sgd_curve(NET, X[:800], Y[:800], widths=widths, samples=samples, eta0=0.5, draws=2)
    ratio = predicted.losses / measured.losses
    assert np.all(np.abs(ratio - 1) < 0.15), ratio
    assert np.all(predicted.bias_losses < predicted.losses)
    assert predicted.frontier.losses.shape == predicted.frontier.compute.shape


def test_gp_targets_are_the_expectation_over_gp_draws():
    """y=None uses the expected mode risks under the NNGP's GP; the loss is linear in them, so it is the
    mean of the predictions over many GP draws (here the columns of one multi-output target)."""
    X = nk.data.sphere(150, dim=4, seed=0)
    grid = dict(widths=[10, 20, 40], samples=[30, 60, 120], eta0=0.3, seed=2)
    expected = predict_sgd_curve(NET, X, **grid)
    with jax.enable_x64(True):
        draws = data.gp_targets(NET, X, kernel="nngp", n_outputs=400, seed=5)
    averaged = predict_sgd_curve(NET, X, draws, **grid)
    np.testing.assert_allclose(expected.losses, averaged.losses, rtol=0.06)
