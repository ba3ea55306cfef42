"""Predicted exponents: agreement with measured learning curves, the methods, the duality for
random features, and bad input."""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk import data, scaling
from nngp_ntk.kernels import _passes as passes
from nngp_ntk.theory import _exponents as prediction
from nngp_ntk.theory._exponents import Exponents
from nngp_ntk.spectrum import fit_power_law


@pytest.fixture(scope="module")
def sphere_problem():
    net = nk.FullyConnected(depth=2, activation="relu", W_std=1.0, b_std=0.0)
    X = data.sphere(800, 8, seed=0)
    return net, X, data.gp_targets(net, X, kernel="nngp", n_outputs=4, seed=1)


@pytest.mark.slow
def test_predicted_alpha_D_matches_a_measured_learning_curve(sphere_problem):
    net, X, y = sphere_problem
    sizes = [25, 50, 100, 200, 400]
    measured = scaling.learning_curve(net, X, y, sizes=sizes, kernel="nngp", repeats=3, test_size=200)
    predicted = nk.predict_exponents(net, X, y, kernel="nngp", sizes=sizes, model_method="leave-one-out")
    assert predicted.method == "leave-one-out"
    assert abs(predicted.alpha_D - measured.alpha) < 0.1
    np.testing.assert_allclose(predicted.losses, measured.losses, rtol=0.25)
    homogeneous = nk.predict_exponents(net, X, y, kernel="nngp", sizes=sizes, method="renormalized")
    assert abs(homogeneous.alpha_D - measured.alpha) < 0.1
    duality = nk.predict_exponents(net, X, y, kernel="nngp", sizes=sizes, model_method="duality")
    assert duality.alpha_P == homogeneous.alpha_D            # duality, same sizes and no train_size
    # points of even leverage (the sphere): the leave-one-out random-feature theory agrees with the duality
    assert predicted.model_method == "leave-one-out" and duality.model_method == "duality"
    np.testing.assert_allclose(predicted.model_losses, duality.model_losses, rtol=0.1)
    expected = nk.predict_exponents(net, X, None, kernel="nngp", sizes=sizes)
    assert expected.method == "leave-one-out" and abs(expected.alpha_D - predicted.alpha_D) < 0.1
    # GP targets: the target power follows the eigenvalues (beta = alpha_K) and alpha_D = alpha_K
    assert expected.beta == pytest.approx(expected.alpha_K, abs=0.1)
    assert abs(expected.alpha_K - expected.alpha_D) < 0.1
    for name in ("alpha_K", "beta", "alpha_D", "alpha_P"):
        assert expected.ci[name][0] <= getattr(expected, name) <= expected.ci[name][1]
    beyond = nk.predict_exponents(net, X, y, kernel="nngp", sizes=[100, 400, 1600])
    assert beyond.method == "power-law" and beyond.ci["alpha_D"][0] <= beyond.alpha_D <= beyond.ci["alpha_D"][1]
    finite = nk.predict_exponents(net, X, y, kernel="nngp", sizes=sizes, widths=[25, 50, 100], train_size=400,
                                  model_method="duality")
    widths = np.array([25, 50, 100])
    np.testing.assert_allclose(finite.model_losses, homogeneous.losses[:3] * 399 / (399 - widths), rtol=1e-9)
    assert finite.alpha_P < homogeneous.alpha_D                # fitting P weights to D points slows the fall


def test_beyond_the_sample_the_default_is_the_leave_one_out_power_law():
    """Sizes beyond the N points: by default the power law of the leave-one-out curve with its jackknife
    and backtest interval (extrapolate_learning_curve, the measured-best method); the tails on request."""
    net = nk.Sequential(nk.Dense(W_std=1.0, b_std=0.0), nk.activations.ReLU(), nk.Dense(W_std=1.0, b_std=0.0))
    X = data.sphere(400, 4, seed=0)
    y = data.gp_targets(net, X, kernel="nngp", n_outputs=2, seed=1)
    sizes, widths = [200, 400, 800], [20, 40, 80]
    beyond = nk.predict_exponents(net, X, y, kernel="nngp", sizes=sizes, widths=widths)
    reference = nk.theory.extrapolate_learning_curve(net, X, y, sizes=sizes, kernel="nngp")
    assert beyond.method == "power-law"
    np.testing.assert_allclose(beyond.losses, reference.losses, rtol=1e-10)
    assert beyond.alpha_D == pytest.approx(reference.alpha_D, rel=1e-10) and beyond.ci["alpha_D"] == reference.ci
    assert np.isfinite(beyond.alpha_K) and np.isfinite(beyond.beta)
    tails = nk.predict_exponents(net, X, y, kernel="nngp", sizes=sizes, widths=widths, method="extrapolated")
    assert tails.method == "extrapolated" and tails.alpha_D != beyond.alpha_D
    with pytest.raises(ValueError, match="ridge"):
        nk.predict_exponents(net, X, y, kernel="nngp", sizes=sizes, widths=widths, method="power-law", ridge=0.1)


def test_model_method_none_skips_the_model_curve():
    """model_method "none": the same alpha_K, beta and alpha_D as with a model curve, no alpha_P, on
    one dense spectrum and on subsets."""
    X, Y = data.prepare(data.digits(n=300, seed=0))
    net = nk.FullyConnected(depth=2)
    for options in ({}, {"max_points": 120}):
        full = nk.predict_exponents(net, X, Y, sizes=[20, 40, 80], **options)
        alone = nk.predict_exponents(net, X, Y, sizes=[20, 40, 80], model_method="none", **options)
        assert full.alpha_P is not None and alone.alpha_P is None and alone.model_method == "none"
        assert set(alone.ci) == {"alpha_K", "beta", "alpha_D"}
        assert alone.widths.size == alone.model_losses.size == 0
        for name in ("alpha_K", "beta", "alpha_D"):
            assert getattr(alone, name) == getattr(full, name) and alone.ci[name] == full.ci[name]
        np.testing.assert_array_equal(alone.losses, full.losses)
    with pytest.raises(ValueError, match="no widths"):
        nk.predict_exponents(net, X, Y, model_method="none", widths=[4, 8, 16])
    with pytest.raises(ValueError, match="no readout_ridge"):
        nk.predict_exponents(net, X, Y, model_method="none", readout_ridge=1e-3, train_size=300)


def test_predict_exponents_refuses_bad_input(sphere_problem):
    net, X, y = sphere_problem
    with pytest.raises(ValueError, match="rows"):
        nk.predict_exponents(net, X, y[:-1], kernel="nngp")
    with pytest.raises(ValueError, match="at least 3"):
        nk.predict_exponents(net, X, y, sizes=[10, 100])
    with pytest.raises(ValueError, match="method"):
        nk.predict_exponents(net, X, y, method="exact")
    with pytest.raises(ValueError, match="train_size"):
        nk.predict_exponents(net, X, y, sizes=[10, 20, 40], train_size=40)
    with pytest.raises(ValueError, match="model_method"):
        nk.predict_exponents(net, X, y, model_method="exact")
    with pytest.raises(TypeError, match="FullyConnected"):
        nk.predict_exponents("relu", X, y)


@pytest.mark.slow
def test_large_n_path_averages_disjoint_subsets():
    """N above max_points: the mean of dense predictions on disjoint subsets, no N x N matrix."""
    net = nk.FullyConnected(depth=1, activation="relu", W_std=1.0, b_std=0.0)
    X = data.sphere(130, 3, seed=0)
    y = data.gp_targets(net, X, kernel="nngp", n_outputs=2, seed=1)
    sizes = [8, 16, 32]
    large = nk.predict_exponents(net, X, y, kernel="nngp", sizes=sizes, max_points=60, seed=3, window=(2, 8))
    assert (large.subsets, large.subset_size) == (3, 43)        # ceil(130 / 60) subsets of 130 // 3 points
    order = np.random.default_rng(3).permutation(130)
    subsets = [np.sort(order[k * 43:(k + 1) * 43]) for k in range(3)]
    parts = [nk.predict_exponents(net, X[keep], y[keep], kernel="nngp", sizes=sizes, window=(2, 8)) for keep in subsets]
    assert all(p.subsets == 1 and p.subset_size == 43 for p in parts)
    assert np.isfinite(large.alpha_D)
    assert large.alpha_D == pytest.approx(np.mean([p.alpha_D for p in parts]), rel=1e-12)
    np.testing.assert_allclose(np.log(large.losses), np.mean([np.log(p.losses) for p in parts], axis=0), rtol=1e-12)
    np.testing.assert_allclose(large.eigenvalues, np.mean([p.eigenvalues for p in parts], axis=0))


def _stored_problem():
    """120 points of the sphere, GP targets, and the options of a large-N prediction of 3 subsets of 40."""
    net = nk.FullyConnected(depth=2, activation="relu", W_std=1.4, b_std=0.1)
    X = data.sphere(120, 3, seed=0)
    y = data.gp_targets(net, X.astype(np.float32), kernel="ntk", n_outputs=2, seed=1)
    return net, X, y, dict(kernel="ntk", sizes=[5, 10, 20], max_points=40, window=(2, 20), seed=1,
                           model_method="leave-one-out")


def test_stored_kernel_gives_the_top_eigenvalues_of_all_points(tmp_path, monkeypatch):
    """out= above max_points: the subsets' curves as without it (their kernels read from the store), the
    raw sample spectrum the top k = 2 i_max eigenvalues of K/N of all 120 points; a second call reuses
    the store (no kernel tile is computed)."""
    net, X, y, options = _stored_problem()
    plain = nk.predict_exponents(net, X, y, **options)
    computed = []
    tiles = passes.tiles
    monkeypatch.setattr(passes, "tiles", lambda *args: computed.append(1) or tiles(*args))
    stored = nk.predict_exponents(net, X, y, out=tmp_path, **options)
    assert computed and sorted(os.listdir(tmp_path)) == ["ntk"]
    with jax.enable_x64(True):
        dense = nk.spectrum.eigenvalues(net, X, kernel="ntk")
    assert stored.eigenvalues.shape == (40,) and (stored.subsets, stored.subset_size) == (3, 40)
    np.testing.assert_allclose(stored.eigenvalues, dense[:40], rtol=1e-6)
    expected = fit_power_law(dense[:40], window=(2, 20), n_samples=120)
    assert stored.sample_fit.alpha == pytest.approx(expected.alpha, rel=1e-6)
    assert stored.sample_fit.ci == pytest.approx(expected.ci, rel=1e-6)
    assert stored.sample_fit.alpha != pytest.approx(plain.sample_fit.alpha, rel=1e-3)   # the subsets' mean spectrum
    for name in ("losses", "model_losses"):
        np.testing.assert_allclose(getattr(stored, name), getattr(plain, name), rtol=1e-8)
    for name in ("alpha_K", "beta", "alpha_D", "alpha_P"):
        assert getattr(stored, name) == pytest.approx(getattr(plain, name), rel=1e-8, nan_ok=True)
    assert np.isfinite(stored.alpha_K) and np.isfinite(stored.beta)
    computed.clear()
    again = nk.predict_exponents(net, X, y, out=tmp_path, **options)
    assert not computed
    np.testing.assert_array_equal(again.eigenvalues, stored.eigenvalues)


def test_stored_kernel_below_max_points_is_the_dense_prediction(tmp_path):
    """out= with N <= max_points: the dense prediction on the stored kernel, that of the in-memory one."""
    net, X, y, options = _stored_problem()
    options.update(max_points=120, sizes=[10, 20, 40], window=(2, 40))
    plain = nk.predict_exponents(net, X, y, **options)
    stored = nk.predict_exponents(net, X, y, out=tmp_path, **options)
    assert stored.subsets == 1 and stored.eigenvalues.shape == (120,)
    np.testing.assert_allclose(stored.eigenvalues, plain.eigenvalues, rtol=1e-10, atol=1e-14 * plain.eigenvalues[0])
    np.testing.assert_allclose(stored.losses, plain.losses, rtol=1e-8)
    assert stored.alpha_D == pytest.approx(plain.alpha_D, rel=1e-8)
    with pytest.raises(ValueError, match="window"):
        nk.predict_exponents(net, X, y, out=tmp_path / "other", **dict(options, max_points=30))  # 30 per subset
    assert not os.path.exists(tmp_path / "other")                                              # refused first


def _exponents(alpha_D: float, half: float, losses: list[float]) -> Exponents:
    values = 1.0 / np.arange(1, 41) ** 1.5
    ci = {name: (alpha_D - half, alpha_D + half) for name in ("alpha_K", "beta", "alpha_D", "alpha_P")}
    sizes = np.array([10.0, 20.0, 40.0])
    return Exponents(alpha_D, alpha_D, alpha_D, alpha_D, ci, sizes, np.array(losses), sizes, np.array(losses),
                     "leave-one-out", "ntk", fit_power_law(values, window=(2, 20)), values, "leave-one-out", 1, 40)


def test_large_n_average_and_its_stated_error():
    """The subsets' mean, curves averaged in log, the interval widened by t_{S-1} s / sqrt(S)."""
    parts = [_exponents(0.5, 0.02, [1.0, 0.7, 0.5]), _exponents(0.6, 0.04, [2.0, 1.4, 0.8]),
             _exponents(0.7, 0.03, [1.5, 1.0, 0.6])]
    mean = prediction._average(parts, (2, 20))
    assert (mean.subsets, mean.subset_size) == (3, 40)
    assert mean.alpha_D == pytest.approx(0.6)
    spread = 4.302653 * 0.1 / np.sqrt(3)                        # t_{2, 0.975} s / sqrt(S), s = 0.1
    assert mean.ci["alpha_D"][1] - 0.6 == pytest.approx(np.hypot(0.03, spread), rel=1e-5)
    np.testing.assert_allclose(mean.losses, np.cbrt(np.array([3.0, 0.98, 0.24])), rtol=1e-12)


def test_large_n_path_refuses_bad_subsets(sphere_problem):
    net, X, y = sphere_problem
    with pytest.raises(ValueError, match="subsets"):
        nk.predict_exponents(net, X, y, kernel="nngp", max_points=600, subsets=1)
    with pytest.raises(ValueError, match="fewer than 20"):
        nk.predict_exponents(net, X, y, kernel="nngp", max_points=600, subsets=50)
    with pytest.raises(ValueError, match="max_points"):
        nk.predict_exponents(net, X, y, kernel="nngp", max_points=5)
