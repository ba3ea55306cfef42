"""Measured scaling curves: learning curves of kernel regression, random-feature models, the
variance-limited regimes and their offset fits, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk import data, scaling


@pytest.fixture(scope="module")
def problem():
    net = nk.FullyConnected(depth=2, activation="relu", W_std=1.0, b_std=0.1)
    X = data.sphere(400, 5, seed=0)
    return net, X, data.gp_targets(net, X, kernel="nngp", n_outputs=2, seed=1)


@pytest.mark.slow
def test_learning_curve_computes_the_kernel_once_and_matches_the_solver(problem, monkeypatch):
    net, X, y = problem
    calls = []
    original = nk.FullyConnected.kernel

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(nk.FullyConnected, "kernel", counted)
    curve = scaling.learning_curve(net, X, y, sizes=[20, 40, 80, 160, 300], kernel="nngp", repeats=2,
                                   test_size=100, seed=3)
    assert len(calls) == 1
    monkeypatch.setattr(nk.FullyConnected, "kernel", original)
    assert np.all(np.diff(curve.losses) < 0) and curve.alpha > 0.3
    assert curve.ci[0] <= curve.alpha <= curve.ci[1]
    assert curve.repeat_losses.shape == (2, 5) and np.all(curve.errors > 0)
    # the documented split: a seeded permutation, test points first, nested training sets after them
    order = np.random.default_rng(3).permutation(len(X))
    test, train = order[:100], order[100:400]
    mean = nk.solver.predict(net, X[train].astype(np.float64), y[train], X[test].astype(np.float64), kernel="nngp")
    assert np.mean((mean - y[test]) ** 2) == pytest.approx(curve.repeat_losses[0, -1], rel=1e-3)


def test_a_fixed_test_set_is_never_trained_on(problem, monkeypatch):
    net, X, y = problem
    test, pool = scaling.holdout_split(len(X), test_size=100, seed=5)
    assert len(test) == 100 and len(np.intersect1d(test, pool)) == 0 and len(test) + len(pool) == len(X)
    seen = []
    original = nk.solver.gradient_flow

    def recorded(train_gram, train_targets, cross, **kwargs):
        seen.append((np.asarray(train_targets), np.asarray(cross).shape))
        return original(train_gram, train_targets, cross, **kwargs)

    monkeypatch.setattr(scaling._curves.solver, "gradient_flow", recorded)
    curve = scaling.learning_curve(net, X, y, sizes=[20, 40, 80, 300], kernel="nngp", repeats=3, seed=1, test=test)
    monkeypatch.setattr(scaling._curves.solver, "gradient_flow", original)
    pool_rows = {tuple(row) for row in y[pool]}
    assert all(cross == (100, len(targets)) for targets, cross in seen)
    assert all(tuple(row) in pool_rows for targets, _ in seen for row in targets)
    # the largest size trains on the whole pool in every repeat: the same loss three times
    assert np.allclose(curve.repeat_losses[:, -1], curve.repeat_losses[0, -1])
    mean = nk.solver.predict(net, X[pool].astype(np.float64), y[pool], X[test].astype(np.float64), kernel="nngp")
    assert np.mean((mean - y[test]) ** 2) == pytest.approx(curve.repeat_losses[0, -1], rel=1e-3)
    with pytest.raises(ValueError, match="distinct integer indices"):
        scaling.learning_curve(net, X, y, sizes=[20, 40, 80], test=[0, 0, 1])
    with pytest.raises(ValueError, match="distinct integer indices"):
        scaling.model_curve(net, X, y, widths=[4, 8, 16], test=[len(X)])


def test_learning_curve_refuses_bad_input(problem):
    net, X, y = problem
    with pytest.raises(ValueError, match="at most 300"):
        scaling.learning_curve(net, X, y, sizes=[50, 100, 350], test_size=100)
    with pytest.raises(ValueError, match="at least 3"):
        scaling.learning_curve(net, X, y, sizes=[50, 100], test_size=100)
    with pytest.raises(ValueError, match="too short"):
        scaling.learning_curve(net, X, y, sizes=[50, 60, 70], test_size=100)
    with pytest.raises(ValueError, match="rows"):
        scaling.learning_curve(net, X, y[:-3], sizes=[20, 40, 80])
    with pytest.raises(ValueError, match="kernel"):
        scaling.learning_curve(net, X, y, sizes=[20, 40, 80], kernel="gp")
    with pytest.raises(ValueError, match="test_size"):
        scaling.learning_curve(net, X, y, sizes=[20, 40, 80], test_size=399)


@pytest.mark.slow
def test_model_curve_falls_with_width(problem):
    net, X, _ = problem
    shallow = nk.FullyConnected(depth=1, activation="relu", W_std=1.0, b_std=0.1)
    curve = scaling.model_curve(shallow, X, widths=[4, 8, 16, 32], test_size=100, repeats=2)
    assert curve.widths.tolist() == [4, 8, 16, 32] and curve.alpha > 0.2
    assert curve.losses[-1] < curve.losses[0]
    with pytest.raises(ValueError, match="train_size"):
        scaling.model_curve(shallow, X, widths=[4, 8, 16], test_size=100, train_size=301)
    with pytest.raises(ValueError, match="at least 3"):
        scaling.model_curve(shallow, X, widths=[4, 8], test_size=100)


def test_variance_limited_regimes_refuse_bad_input(problem):
    net, X, y = problem
    with pytest.raises(ValueError, match="at most 300"):
        scaling.variance_limited_data(net, X, y, width=5, sizes=[50, 100, 200, 400], test_size=100)
    with pytest.raises(ValueError, match="size must be at most"):
        scaling.variance_limited_width(net, X, y, size=350, widths=[100, 200, 400, 800], test_size=100)
    with pytest.raises(ValueError, match="width"):
        scaling.variance_limited_data(net, X, y, width=0, sizes=[50, 100, 200, 300], test_size=100)
    with pytest.raises(ValueError, match="repeats"):
        scaling.variance_limited_data(net, X, y, width=5, sizes=[50, 100, 200, 300], test_size=100, repeats=1)


def test_variance_limited_width_refuses_a_control_variate_it_cannot_form(problem):
    net, X, y = problem
    with pytest.raises(TypeError, match="control_variate"):
        scaling.variance_limited_width(net, X, y, size=4, widths=[40, 80, 160, 320], control_variate="yes")
    ends_with_norm = nk.Sequential(nk.Dense(), nk.LayerNorm(), nk.activations.ReLU(), nk.Dense())
    with pytest.raises(ValueError, match="control_variate=True"):
        scaling.variance_limited_width(ends_with_norm, X, y, size=4, widths=[40, 80, 160, 320],
                                       control_variate=True)


@pytest.mark.slow
@pytest.mark.parametrize("depth", [1, 2])
def test_control_variate_keeps_the_draws_and_cuts_their_spread(depth):
    """The same draws with and without the control variate (raw losses equal); subtracting it leaves
    a much smaller spread over draws at the largest width."""
    net = nk.FullyConnected(depth=depth, activation="relu", W_std=1.0, b_std=0.1)
    X = data.sphere(60, 3, seed=0)
    y = data.gp_targets(net, X, kernel="nngp", n_outputs=2, seed=1)
    options = dict(size=4, widths=[80, 160, 320, 640], test_size=30, repeats=6, seed=2)
    plain = scaling.variance_limited_width(net, X, y, control_variate=False, **options)
    controlled = scaling.variance_limited_width(net, X, y, **options)
    assert plain.controls is None and controlled.controls.shape == (6, 4)
    np.testing.assert_allclose(controlled.repeat_losses + controlled.controls, plain.repeat_losses, rtol=1e-9)
    spread = controlled.repeat_losses.std(axis=0), plain.repeat_losses.std(axis=0)
    assert spread[0][-1] < 0.5 * spread[1][-1], spread


@pytest.mark.slow
def test_variance_limited_regimes_approach_their_limits_as_one_over_x():
    """Windows in the regimes (D >= 18 p, P >= 20 D). L(D): the one-term exponent over this window is ~1.05
    (the next order, resolved by ~2000 repeats), so it is checked within 0.1 of 1; L(P): its interval holds 1."""
    net = nk.FullyConnected(depth=1, activation="relu", W_std=1.0, b_std=0.1)
    X = data.sphere(5000, 5, seed=0)
    y = data.gp_targets(net, X, kernel="nngp", n_outputs=4, seed=1)
    in_data = scaling.variance_limited_data(net, X, y, width=10, sizes=[200, 400, 800, 1600, 4000],
                                            test_size=1000, repeats=200)
    in_width = scaling.variance_limited_width(net, X[:1000], y[:1000], size=20, widths=[400, 800, 1600, 3200, 6400],
                                              test_size=500, repeats=60)
    assert abs(in_data.alpha - 1.0) < 0.1 and in_data.ci[1] - in_data.ci[0] < 0.2, (in_data.alpha, in_data.ci)
    assert in_width.ci[0] < 1.0 < in_width.ci[1], (in_width.alpha, in_width.ci)
    for curve in (in_data, in_width):
        assert 0 < curve.limit < curve.losses[-1]
    assert np.all(in_data.difference_errors[:-1] < in_data.errors[:-1])    # pairing removes the levels' spread
