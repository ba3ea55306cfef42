"""Eigenlearning theory: kappa's equation, agreement with ridge regression on Gaussian features, the
renormalized sample spectrum, power-law tails, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special

from nngp_ntk import theory
from nngp_ntk.spectrum import _fits as fits


def power_law_problem(n_modes: int, alpha: float, beta: float) -> theory.ModeSpectrum:
    index = np.arange(1, n_modes + 1, dtype=np.float64)
    return theory.ModeSpectrum(index ** -(1 + alpha), np.ones(n_modes), index ** -(1 + beta))


def ridge_regression_mse(modes: theory.ModeSpectrum, n: int, ridge: float, trials: int, seed: int) -> float:
    """Monte Carlo test MSE of kernel ridge regression with the linear kernel on Gaussian features
    z ~ N(0, diag(lambda)) and target y = z . w, w_i = v_i / sqrt(lambda_i) (so y = sum v_i phi_i)."""
    rng = np.random.default_rng(seed)
    lam = modes.eigenvalues
    weights = np.sqrt(modes.target_power / lam)
    errors = []
    for _ in range(trials):
        train = rng.standard_normal((n, len(lam))) * np.sqrt(lam)
        gram = train @ train.T
        coefficients = np.linalg.solve(gram + ridge * np.eye(n), train @ weights)
        learned = train.T @ coefficients                      # f(x) = x . learned
        errors.append(np.sum(lam * (learned - weights) ** 2))  # E_x[(f(x) - y(x))^2]
    return float(np.mean(errors))


def test_kappa_solves_its_equation():
    modes = power_law_problem(500, 0.5, 0.5)
    for n, ridge in ((10, 0.0), (200, 0.0), (50, 0.3)):
        kappa = theory.solve_kappa(modes, n, ridge)
        lam = modes.eigenvalues
        assert np.sum(lam / (lam + kappa)) + ridge / kappa == pytest.approx(n, rel=1e-9)


def test_eigenlearning_matches_ridge_regression_on_gaussian_features():
    modes = power_law_problem(400, 0.6, 0.3)
    curve = theory.eigenlearning(modes, [40, 120], ridge=0.0)
    ridged = theory.eigenlearning(modes, [40], ridge=0.5)
    for n, predicted in zip((40, 120), curve.losses):
        assert ridge_regression_mse(modes, n, 0.0, trials=30, seed=n) == pytest.approx(predicted, rel=0.1)
    assert ridge_regression_mse(modes, 40, 0.5, trials=30, seed=1) == pytest.approx(ridged.losses[0], rel=0.1)
    assert np.all(curve.E0 > 1)


@pytest.mark.slow
def test_renormalized_sample_spectrum_recovers_the_population_curve():
    """From N Gaussian samples of a known power-law problem, the renormalized sums give the
    population learning curve up to n near N, where the naive sample spectrum fails."""
    modes = power_law_problem(2000, 0.5, 0.5)
    n_samples = 600
    rng = np.random.default_rng(0)
    samples = rng.standard_normal((n_samples, 2000)) * np.sqrt(modes.eigenvalues)
    y = samples @ np.sqrt(modes.target_power / modes.eigenvalues)
    w, u = np.linalg.eigh(samples @ samples.T / n_samples)
    w, u = w[::-1], u[:, ::-1]
    power = (u.T @ y) ** 2 / n_samples
    sizes = np.array([30, 100, 300, 550])
    truth = theory.eigenlearning(modes, sizes).losses
    renormalized = theory.Renormalized(w, power).curve(sizes).losses
    naive = theory.eigenlearning(theory.ModeSpectrum(np.maximum(w, 0), np.ones(n_samples), power), sizes).losses
    np.testing.assert_allclose(renormalized, truth, rtol=0.15)
    assert abs(np.log(naive[-1] / truth[-1])) > np.log(2)     # the naive use of N eigenvalues breaks as n -> N
    with pytest.raises(ValueError, match=f"n = {n_samples + 10} is not below the N = {n_samples} points"):
        theory.Renormalized(w, power).curve([n_samples + 10])
    # the local exponents the sample reads at n in [N/8, N/2] are the population's there (the 2000
    # modes end soon after, so they are steeper than the 0.5 of the formula)
    tails = theory.Renormalized(w, power).tail_exponents(n_samples / 8, n_samples / 2)
    population = theory.eigenlearning(modes, [n_samples / 8, n_samples / 2])
    alpha = -np.log(population.kappa[1] / population.kappa[0]) / np.log(4) - 1
    bias = population.losses / population.E0
    beta = np.log(bias[1] / bias[0]) / np.log(population.kappa[1] / population.kappa[0]) * (1 + alpha)
    assert tails.alpha == pytest.approx(alpha, abs=0.03) and tails.beta == pytest.approx(beta, abs=0.05)
    assert tails.alpha_range[0] <= tails.alpha <= tails.alpha_range[1]
    # the operator's alpha_K over the sizes, from the sample, is the population's
    population_alpha = theory.operator_exponent(theory.eigenlearning(modes, sizes))
    sample_alpha = theory.operator_exponent(theory.Renormalized(w, power).curve(sizes))
    assert sample_alpha.alpha == pytest.approx(population_alpha.alpha, abs=0.05)
    assert sample_alpha.ci[0] <= sample_alpha.alpha <= sample_alpha.ci[1]



def clustered_kernel(n_points: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A Laplace kernel on points in 3 clusters of unequal spread (uneven leverages), and targets."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((3, 5)) * 2
    label = rng.integers(0, 3, n_points)
    points = centers[label] + rng.standard_normal((n_points, 5)) * np.array([0.3, 0.8, 1.5])[label, None]
    gram = np.exp(-np.sqrt(np.sum((points[:, None] - points[None]) ** 2, axis=-1)) / 2.0)
    targets = np.stack([np.sin(points[:, 0]) + (label == 1), np.cos(points[:, 1] * points[:, 2])], axis=1)
    return gram, targets


def test_leave_one_out_equals_refitting_without_each_point():
    """T_N(lam) from the eigendecomposition is the mean squared residual of ridge regression
    (K + N lam I) refitted on the other N - 1 points, and its GP form is the expectation
    (A^-1 K A^-1)_ii / (A^-1)_ii^2 over targets drawn from the kernel."""
    gram, targets = clustered_kernel(60, seed=0)
    n, lam = len(gram), 1e-3
    w, u = np.linalg.eigh(gram / n)
    residuals = []
    for i in range(n):
        keep = np.arange(n) != i
        coefficients = np.linalg.solve(gram[np.ix_(keep, keep)] + n * lam * np.eye(n - 1), targets[keep])
        residuals.append(targets[i] - gram[i, keep] @ coefficients)
    leave_one_out = theory.LeaveOneOut(w, u, u.T @ targets)
    assert leave_one_out.leave_one_out(lam) == pytest.approx(np.mean(np.square(residuals)), rel=1e-8)
    inverse = np.linalg.inv(gram + n * lam * np.eye(n))
    expected = np.mean(np.diag(inverse @ gram @ inverse) / np.diag(inverse) ** 2)
    assert theory.LeaveOneOut(w, u).leave_one_out(lam) == pytest.approx(expected, rel=1e-8)
    with pytest.raises(ValueError, match="vectors"):
        theory.LeaveOneOut(w, u[:, :-1])


@pytest.mark.slow
def test_leave_one_out_curve_follows_held_out_errors_on_uneven_data():
    """On clustered points the leave-one-out curve stays within 15% of the held-out test MSE of
    ridgeless regression up to n = 0.6 N, its slope within 0.05, while the homogeneous (GCV) one falls
    to half the measured loss there; far below N the two agree."""
    gram, targets = clustered_kernel(700, seed=1)
    n_points = 500                                  # the spectrum's sample; the other 200 points test
    w, u = np.linalg.eigh(gram[:n_points, :n_points] / n_points)
    w, u = w[::-1], u[:, ::-1]
    projections = u.T @ targets[:n_points]
    sizes = np.array([20, 60, 150, 300])
    leave_one_out = theory.LeaveOneOut(w, u, projections).curve(sizes).losses
    homogeneous = theory.Renormalized(w, np.mean(projections**2, axis=1) / n_points).curve(sizes).losses
    rng = np.random.default_rng(2)
    held_out = np.zeros(len(sizes))
    repeats = 40
    for _ in range(repeats):
        order = rng.permutation(700)
        test = order[:200]
        for k, n in enumerate(sizes):
            train = order[200:200 + n]
            coefficients = np.linalg.solve(gram[np.ix_(train, train)], targets[train])
            held_out[k] += np.mean((gram[np.ix_(test, train)] @ coefficients - targets[test]) ** 2) / repeats
    np.testing.assert_allclose(leave_one_out, held_out, rtol=0.15)
    measured = fits.fit_loglog(sizes, held_out).alpha
    assert fits.fit_loglog(sizes, leave_one_out).alpha == pytest.approx(measured, abs=0.05)
    assert fits.fit_loglog(sizes, homogeneous).alpha > measured + 0.15
    assert homogeneous[-1] < 0.6 * held_out[-1]
    assert leave_one_out[0] == pytest.approx(homogeneous[0], rel=0.05)

def test_power_law_tails_reproduce_an_infinite_power_law():
    alpha, beta, n_samples = 1.0, 0.5, 2000
    index = np.arange(1, n_samples + 1, dtype=np.float64)
    head, power = index ** -(1 + alpha), index ** -(1 + beta)
    extended = theory.extend_spectrum(head, power, n_samples=n_samples, trace=scipy.special.zeta(1 + alpha),
                                      total_power=scipy.special.zeta(1 + beta))
    assert extended.alpha == pytest.approx(alpha, abs=0.01)
    assert extended.beta == pytest.approx(beta, abs=0.01)
    modes = extended.modes
    assert np.sum(modes.multiplicities * modes.eigenvalues) == pytest.approx(scipy.special.zeta(1 + alpha), rel=1e-9)
    assert np.sum(modes.multiplicities * modes.target_power) == pytest.approx(scipy.special.zeta(1 + beta), rel=1e-9)
    # reference: 2 million explicit modes, the target power beyond them unlearned (noise)
    count = 2_000_000
    long = power_law_problem(count, alpha, beta)
    long = theory.ModeSpectrum(long.eigenvalues, long.multiplicities, long.target_power,
                               noise=float(scipy.special.zeta(1 + beta, count + 1)))
    sizes = [100, 1000, 3000]
    np.testing.assert_allclose(theory.eigenlearning(modes, sizes).losses, theory.eigenlearning(long, sizes).losses,
                               rtol=0.01)


def test_tails_refuse_what_they_cannot_carry():
    index = np.arange(1, 1001, dtype=np.float64)
    head = index**-1.5
    with pytest.raises(ValueError, match="no eigenvalue mass"):
        theory.extend_spectrum(head, n_samples=1000, trace=float(np.sum(head[:100])))
    steps = np.zeros(1000)
    steps[:5] = 1.0                   # no target power on the window: T(i) stays at its value, beta = 0
    with pytest.raises(ValueError, match="does not decay"):
        theory.extend_spectrum(head, steps, n_samples=1000, trace=float(np.sum(head)) + 0.1, total_power=6.0)
    with pytest.raises(ValueError, match="too short"):
        theory.extend_spectrum(head[:30], n_samples=30, trace=5.0)


def test_a_kernel_of_low_rank_is_refused_past_its_rank():
    """A linear kernel (a depth-0 network) on d features has rank <= d (here 8 of N = 200): sizes below
    N but beyond the rank cannot be placed without a ridge, and the message says that, not that N is
    too small."""
    w = np.concatenate([1.0 / np.arange(1, 9) ** 2, np.zeros(192)])     # 8 nonzero eigenvalues of 200
    curve = theory.Renormalized(w, w)
    assert np.all(np.isfinite(curve.curve([2, 4, 6]).losses))
    with pytest.raises(ValueError, match="n = 10 is beyond the numerical rank of the kernel matrix, whose 200 "
                                         "eigenvalues count about 8 above its rounding level") as error:
        curve.curve([5, 10, 20])
    assert "give sizes below 8, or ridge > 0" in str(error.value)
    assert np.all(np.isfinite(curve.curve([5, 10, 20], ridge=1e-3).losses))
