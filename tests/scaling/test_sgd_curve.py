"""scaling.sgd_curve: the measured L(P, n) of one-pass SGD on random features."""

import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk import scaling
from nngp_ntk.scaling._curves import _orders, _seeds
from nngp_ntk.theory import compute_frontier, sgd_schedule
from nngp_ntk.theory._sgd import sgd_features

NET = nk.FullyConnected(depth=1, W_std=2**0.5, b_std=0.1)


@pytest.fixture(scope="module")
def points():
    X = nk.data.sphere(160, dim=4, seed=0)
    y = np.stack([np.sin(2 * X[:, 0]), X[:, 1] * X[:, 2]], axis=1)
    return X, y


def _direct(X, y, widths, samples, eta0, schedule, seed, test_size):
    """The passes of one draw by a plain loop, from the same random draws as sgd_curve."""
    order = _orders(len(X), 1, seed, None)[0]
    held_out, pool = order[:test_size], order[test_size:]
    rng = np.random.default_rng(seed)
    visit = rng.permutation(pool)
    losses = np.empty((len(widths), len(samples)))
    for i, width in enumerate(widths):
        z = sgd_features(NET, X, width, _seeds(rng, 1)[0])
        for j, n in enumerate(samples):
            w = np.zeros((width, y.shape[1]))
            for point, eta in zip(visit[:n], sgd_schedule(n, eta0, schedule)):
                w -= eta * np.outer(z[point], z[point] @ w - y[point])
            losses[i, j] = np.mean((z[held_out] @ w - y[held_out]) ** 2)
    return losses


@pytest.mark.parametrize("schedule", ["geometric", "constant"])
def test_matches_a_direct_loop(points, schedule):
    X, y = points
    widths, samples = [8, 16, 32], [20, 40, 100]
    curve = scaling.sgd_curve(NET, X, y, widths=widths, samples=samples, eta0=0.3, schedule=schedule, draws=1,
                              test_size=40, seed=3)
    np.testing.assert_allclose(curve.losses, _direct(X, y, widths, samples, 0.3, schedule, 3, 40), rtol=1e-9)


def test_result_shape_intervals_and_frontier(points):
    X, y = points
    curve = scaling.sgd_curve(NET, X, y, widths=[8, 16, 32], samples=[20, 40, 100], eta0=0.3, draws=3, test_size=40)
    assert curve.repeat_losses.shape == (3, 3, 3)
    assert np.all(curve.intervals[..., 0] <= curve.losses) and np.all(curve.losses <= curve.intervals[..., 1])
    assert np.all(np.diff(curve.losses, axis=1) < 0)          # more steps, lower loss
    reference = compute_frontier(curve.widths, curve.samples, curve.losses)
    np.testing.assert_array_equal(curve.frontier.losses, reference.losses)
    assert curve.alpha_N.window == (20.0, 100.0)


def test_bad_input_names_the_argument(points):
    X, y = points
    grid = dict(widths=[8, 16, 32], samples=[20, 40, 100], test_size=40)
    with pytest.raises(ValueError, match="eta0"):
        scaling.sgd_curve(NET, X, y, eta0=5.0, **grid)
    with pytest.raises(ValueError, match="widths"):
        scaling.sgd_curve(NET, X, y, widths=[8, 16, 200], samples=[20, 40, 100], eta0=0.3, test_size=40)
    with pytest.raises(ValueError, match="samples"):
        scaling.sgd_curve(NET, X, y, widths=[8, 16, 32], samples=[20, 40, 121], eta0=0.3, test_size=40)
    with pytest.raises(ValueError, match="samples"):
        scaling.sgd_curve(NET, X, y, widths=[8, 16, 32], samples=[-1, 40, 100], eta0=0.3, test_size=40)
    with pytest.raises(ValueError, match="draws"):
        scaling.sgd_curve(NET, X, y, eta0=0.3, draws=0, **grid)
