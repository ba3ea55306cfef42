"""L(D, t) of gradient flow predicted from a sample: the contour inversion, its limits t -> 0 and
t -> infinity, Gaussian features of a known spectrum against a direct simulation of the flow, real
data against the solver's measured curve, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk import data, scaling
from nngp_ntk.theory import FlowLeaveOneOut, LeaveOneOut, Renormalized, predict_flow_curve
from nngp_ntk.theory._flow_curve import TALBOT_NODES, _talbot


def test_the_contour_inverts_laplace_transforms():
    """f(s) = (1/s) sum_j omega_j F(c_j / s) over both halves of the contour: exp(-a s) from 1/(r + a)."""
    _, c, omega = _talbot(TALBOT_NODES)
    c, omega = np.concatenate([c, np.conj(c[1:])]), np.concatenate([omega, np.conj(omega[1:])])
    for a in (0.01, 1.0, 30.0):
        for s in (0.03, 1.0, 20.0, 500.0):
            value = (omega / (c / s + a)).sum().real / s
            assert value == pytest.approx(np.exp(-a * s), abs=1e-9)


def _gaussian_pool(n_points: int, modes: int, decay: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features psi (n_points, modes) with covariance diag(i^-decay), and the population eigenvalues."""
    eigenvalues = np.arange(1, modes + 1) ** -decay
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_points, modes)) * np.sqrt(eigenvalues), eigenvalues


def _theory(features: np.ndarray, targets: np.ndarray | None, outputs: int = 1) -> FlowLeaveOneOut:
    values, vectors = np.linalg.eigh(features @ features.T / len(features))
    values, vectors = values[::-1], vectors[:, ::-1]
    return FlowLeaveOneOut(values, vectors, None if targets is None else vectors.T @ targets, outputs)


def test_limits_are_the_null_predictor_and_eigenlearning():
    features, _ = _gaussian_pool(150, 400, 1.4, seed=0)
    targets = features @ np.random.default_rng(1).standard_normal((400, 2))
    theory = _theory(features, targets, outputs=2)
    gaussian, anchored = theory.losses(60, np.array([1e-7, 1e9, np.inf]))
    # t -> 0: nothing learned, the loss of the null predictor (the targets' power per output)
    assert gaussian[0] == pytest.approx(np.mean(targets**2), rel=1e-5)
    assert anchored[0] == pytest.approx(np.mean(targets**2), rel=1e-5)
    # t -> infinity: the renormalized (Gaussian) and leave-one-out (anchored) learning curves at D = 60
    homogeneous = Renormalized(theory.eigenvalues, theory.target_power).curve([60]).losses[0]
    loo = LeaveOneOut(theory.eigenvalues, theory.vectors, theory.projections).curve([60]).losses[0]
    # (rtol 1e-5: at t = 1e9 the round-off eigenvalues near 1e-9, which differ between BLAS builds and
    # thread counts, are not yet learned; one BLAS thread leaves 1.1e-6 there)
    np.testing.assert_allclose(gaussian[1:], homogeneous, rtol=1e-5)
    np.testing.assert_allclose(anchored[1:], loo, rtol=1e-5)
    # the loss falls with time and with data
    times = np.geomspace(0.1, 1e4, 9)
    small, large = theory.losses(30, times)[0], theory.losses(120, times)[0]
    assert np.all(np.diff(large) < 0) and np.all(large[3:] < small[3:])


def test_gaussian_features_follow_a_direct_simulation_of_the_flow():
    """Targets from the GP of a kernel with eigenvalues i^-1.5: E_beta of the flow's test error on D
    Gaussian feature vectors is tr(exp(-S s) Lambda exp(-S s)), S = Psi^T Psi / D; the theory sees only a
    pool of N = 400 points of the same distribution."""
    modes, size = 1000, 100
    pool, eigenvalues = _gaussian_pool(400, modes, 1.5, seed=0)
    theory = _theory(pool, None)
    times = np.array([0.3, 3.0, 30.0, 300.0, 3000.0])
    gaussian, anchored = theory.losses(size, times)
    rng = np.random.default_rng(2)
    simulated = []
    for _ in range(30):
        train = rng.standard_normal((size, modes)) * np.sqrt(eigenvalues)
        squares, left = np.linalg.eigh(train @ train.T)        # train = U diag(sigma) V, sigma^2 = squares
        right = (left.T @ train) / np.sqrt(squares)[:, None]
        # exp(-S s) = I - V^T diag(d) V with d = 1 - exp(-sigma^2 s / D) and V V^T = I, so that
        # tr(exp(-S s) Lambda exp(-S s)) = tr Lambda - 2 sum_k d_k M_kk + sum_k d_k^2 M_kk, M = V Lambda V^T
        diagonal = (right**2) @ eigenvalues
        learned = 1 - np.exp(-np.outer(times, squares) / size)
        simulated.append(eigenvalues.sum() - 2 * learned @ diagonal + learned**2 @ diagonal)
    simulated = np.mean(simulated, axis=0)
    np.testing.assert_allclose(gaussian, simulated, rtol=0.06)
    np.testing.assert_allclose(anchored, simulated, rtol=0.06)
    assert simulated[0] > 2 * simulated[-1]                 # the times span the fall of the loss


@pytest.mark.slow
def test_real_data_follow_the_measured_flow():
    """Digits, a fixed test set: the prediction from the training pool against the solver's exact
    flow on nested subsets of it. Converged (t -> infinity), the prediction is the leave-one-out
    curve, 10-12% low at D = 100 of these 500 points: the tolerance is that curve's."""
    X, Y = data.prepare(data.digits(700, seed=0))
    net = nk.FullyConnected(depth=2, activation="relu", W_std=2**0.5, b_std=0.1)
    test, pool = scaling.holdout_split(len(X), 200, seed=0)
    times = np.array([3.0, 30.0, 300.0, 3000.0])
    predicted = predict_flow_curve(net, X[pool], Y[pool], sizes=[100, 400], times=times, subsets=0)
    measured = scaling.flow_curve(net, X, Y, sizes=[100, 400], times=times, repeats=4, test=test)
    np.testing.assert_allclose(predicted.losses, measured.losses, rtol=0.15)
    assert predicted.alpha_T.reliable and abs(predicted.alpha_T.alpha - measured.alpha_T.alpha) < 0.05
    assert np.isnan(predicted.intervals).all() and predicted.alpha_T.interval == "least-squares"


def test_intervals_come_from_the_jackknife():
    """Any network (a Sequential), intervals around the prediction, alpha_T with the jackknife's interval."""
    X = data.sphere(160, 3, seed=0)
    net = nk.Sequential(nk.Dense(W_std=1.4, b_std=0.1), nk.activations.ReLU(), nk.Dense(W_std=1.4, b_std=0.1))
    curve = predict_flow_curve(net, X, sizes=[20, 80], times=[1.0, 10.0, 100.0, np.inf], subsets=4, window=(1, 100))
    low, high = curve.intervals[..., 0], curve.intervals[..., 1]
    assert np.all(low < curve.losses) and np.all(curve.losses < high)
    assert curve.alpha_T.interval == "jackknife" and curve.alpha_T.window == (1.0, 100.0)
    assert curve.alpha_T.ci[0] < curve.alpha_T.alpha < curve.alpha_T.ci[1]
    assert curve.losses.shape == curve.gaussian_losses.shape == (2, 4) and len(curve.fits) == 2


def test_bad_input_is_refused():
    X = data.sphere(60, 3, seed=0)
    net = nk.FullyConnected(depth=1)
    good = dict(sizes=[10, 20], times=[1.0, 10.0], subsets=0)
    with pytest.raises(ValueError, match="times"):
        predict_flow_curve(net, X, **{**good, "times": [0.0, 1.0]})
    with pytest.raises(ValueError, match="times"):
        predict_flow_curve(net, X, **{**good, "times": [-1.0]})
    with pytest.raises(ValueError, match="sizes must be at most 59"):
        predict_flow_curve(net, X, **{**good, "sizes": [10, 60]})
    with pytest.raises(ValueError, match="window"):
        predict_flow_curve(net, X, **good, window=(100.0, 1000.0))
    with pytest.raises(ValueError, match="subsets"):
        predict_flow_curve(net, X, **{**good, "subsets": 2})
    with pytest.raises(ValueError, match="rows"):
        predict_flow_curve(net, X, np.ones(59), **good)
    with pytest.raises(TypeError, match="net"):
        predict_flow_curve("relu", X, **good)
    with pytest.raises(ValueError, match="times"):
        scaling.flow_curve(net, X, sizes=[10, 20], times=[0.0, 1.0], test_size=10)
    with pytest.raises(ValueError, match="sizes must be at most 50"):
        scaling.flow_curve(net, X, sizes=[10, 51], times=[1.0], test_size=10)
