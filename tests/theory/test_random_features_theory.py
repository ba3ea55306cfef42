"""RandomFeatureLeaveOneOut against Monte Carlo of Gaussian random features, exact identities, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from nngp_ntk.theory._random_features import RandomFeatureLeaveOneOut


def clustered_problem(n=240, seed=0):
    """Points of uneven leverage (a dense cluster, a sparse cloud, a few outliers), a Laplace kernel
    and a smooth target with noise: the eigensystem of K/N, the kernel's root and the targets."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([0.05 * rng.standard_normal((n // 2, 2)), rng.standard_normal((n // 2 - 8, 2)),
                        4 + rng.standard_normal((8, 2))])
    K = np.exp(-np.linalg.norm(x[:, None] - x[None], axis=-1))
    y = np.stack([np.sin(2 * x[:, 0]) + 0.3 * x[:, 1], np.cos(x[:, 1])], 1) + 0.1 * rng.standard_normal((n, 2))
    w, U = np.linalg.eigh(K / n)
    return K, w, U, y


def monte_carlo_leave_one_out(K, y, width, draws, seed=1, ridge=0.0):
    """Mean over draws of Gaussian features Z = K^1/2 G (G standard normal, N x P) of the exact
    leave-one-out error of the readout on all N points, mean_i (r_i / (1 - h_ii))^2: least squares,
    or with ``ridge`` > 0 ridge regression on Phi = Z / sqrt(P) (``finite.fit_readout``'s convention),
    hat matrix H = Phi (Phi^T Phi + ridge I)^-1 Phi^T."""
    w, U = np.linalg.eigh(K)
    root = U * np.sqrt(np.maximum(w, 0))
    rng = np.random.default_rng(seed)
    total = 0.0
    with threadpool_limits(1):          # many small factorizations: threads only contend
        for _ in range(draws):
            features = root @ rng.standard_normal((len(K), width))
            if ridge:
                features /= np.sqrt(width)
                hat = features @ np.linalg.solve(features.T @ features + ridge * np.eye(width), features.T)
                residual, stay = y - hat @ y, 1 - np.diag(hat)
            else:
                q, _ = np.linalg.qr(features)
                residual = y - q @ (q.T @ y)
                stay = 1 - np.sum(q**2, axis=1)
            total += np.mean((residual / stay[:, None]) ** 2)
    return total / draws


@pytest.mark.parametrize("width", [12, 48])
def test_matches_gaussian_feature_monte_carlo_on_uneven_data(width):
    K, w, U, y = clustered_problem()
    theory = RandomFeatureLeaveOneOut(w, U, U.T @ y)
    simulated = monte_carlo_leave_one_out(K, y, width, draws=300)
    assert theory.sample_loss(width) == pytest.approx(simulated, rel=0.05)
    # the homogeneous reduction (eigenlearning at n = P on the sample modes, times (N / (N - P))^2)
    # misses this data: the leverage correction is what the test checks
    from nngp_ntk.theory._eigenlearning import ModeSpectrum, eigenlearning
    n = len(K)
    modes = ModeSpectrum(np.maximum(w, 0), np.ones(n), np.mean((U.T @ y) ** 2, axis=1) / n)
    homogeneous = eigenlearning(modes, [width]).losses[0] * (n / (n - width)) ** 2
    assert abs(homogeneous / simulated - 1) > 2 * abs(theory.sample_loss(width) / simulated - 1)


@pytest.mark.parametrize("ridge", [0.1, 1.0])
def test_readout_ridge_matches_gaussian_feature_monte_carlo(ridge):
    """A ridge large enough to move the loss by 8-15% (down: the noisy targets gain from it): the
    ridge forms of gamma and c follow Monte Carlo."""
    K, w, U, y = clustered_problem()
    theory = RandomFeatureLeaveOneOut(w, U, U.T @ y)
    simulated = monte_carlo_leave_one_out(K, y, 48, draws=300, ridge=ridge)
    assert theory.sample_loss(48, ridge) == pytest.approx(simulated, rel=0.05)
    assert theory.sample_loss(48, ridge) < 0.92 * theory.sample_loss(48)     # the ridge matters here


def test_readout_ridge_tends_to_least_squares():
    K, w, U, y = clustered_problem(n=120)
    n = len(K)
    for targets in (U.T @ y, None):
        theory = RandomFeatureLeaveOneOut(w, U, targets)
        ridgeless = theory.sample_loss(20)
        losses = [theory.sample_loss(20, ridge) for ridge in (1e-9, 1e-3, 1e-1, 1.0)]
        assert losses[0] == pytest.approx(ridgeless, rel=1e-6)
        assert abs(losses[-1] / ridgeless - 1) > 0.05
        gamma, mu = theory.gamma(20, 1e-1), 20 * 1e-1 / n
        assert gamma * (20 - np.sum(np.maximum(w, 0) / (np.maximum(w, 0) + gamma))) == pytest.approx(mu, rel=1e-9)
    np.testing.assert_allclose(theory.losses([5, 10], train_size=n, ridge=0.5),
                               [theory.sample_loss(5, 0.5), theory.sample_loss(10, 0.5)], rtol=1e-12)


def test_gp_target_form_is_the_expectation_over_gp_targets():
    K, w, U, _ = clustered_problem(n=120)
    n = len(K)
    # N outputs whose mean outer product is exactly K: Y = sqrt(N) K^1/2
    targets = np.sqrt(n) * (U * np.sqrt(np.maximum(w * n, 0))) @ U.T
    expected = RandomFeatureLeaveOneOut(w, U, None)
    explicit = RandomFeatureLeaveOneOut(w, U, U.T @ targets)
    for width, ridge in ((5, 0.0), (30, 0.0), (30, 0.3)):
        assert expected.sample_loss(width, ridge) == pytest.approx(explicit.sample_loss(width, ridge), rel=1e-9)


def test_finite_data_factor_and_gamma():
    K, w, U, y = clustered_problem(n=120)
    theory = RandomFeatureLeaveOneOut(w, U, U.T @ y)
    n, widths = len(K), np.array([5, 10, 20])
    own = theory.losses(widths, train_size=n)
    np.testing.assert_allclose(own, [theory.sample_loss(p) for p in widths], rtol=1e-12)
    infinite = theory.losses(widths)
    np.testing.assert_allclose(infinite, own * (n - widths - 1) / (n - 1), rtol=1e-12)
    assert np.all(theory.losses(widths, train_size=60) > own)
    for width in (3, 50):
        gamma = theory.gamma(width)
        assert np.sum(np.maximum(w, 0) / (np.maximum(w, 0) + gamma)) == pytest.approx(width, rel=1e-10)


def test_refuses_bad_input():
    K, w, U, y = clustered_problem(n=60)
    theory = RandomFeatureLeaveOneOut(w, U, U.T @ y)
    with pytest.raises(ValueError, match="widths"):
        theory.losses([0, 4])
    with pytest.raises(ValueError, match="below"):
        theory.losses([4, 60])
    with pytest.raises(ValueError, match="train_size"):
        theory.losses([4, 8, 16], train_size=17)
    with pytest.raises(ValueError, match="train_size must be 60"):
        theory.losses([4, 8, 16], train_size=40, ridge=0.1)
    with pytest.raises(ValueError, match="train_size must be 60"):
        theory.losses([4, 8, 16], ridge=0.1)
    with pytest.raises(ValueError, match="ridge"):
        theory.sample_loss(4, ridge=-1.0)
    with pytest.raises(ValueError, match="eigenvectors"):
        RandomFeatureLeaveOneOut(w, U[:, :10], None)
    with pytest.raises(ValueError, match="finite"):
        RandomFeatureLeaveOneOut(w, U, np.full(60, np.nan))
