"""Tests of nngp_ntk.spectrum: dense and randomized eigenvalues, power-law fits, sphere eigenvalues."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest
import scipy.integrate

import nngp_ntk as nk
from nngp_ntk import data, spectrum
from nngp_ntk._checks import NotConvergedWarning


@pytest.fixture(scope="module")
def net():
    # a fixed tile shape: row blocks of any size reuse one compiled tile
    return nk.FullyConnected(depth=2, activation="relu", W_std=1.2, b_std=0.1, tile_size=128)


@pytest.fixture(scope="module")
def points():
    return data.normalize_rows(data.center_features(data.digits(500, seed=0).X))


def _power_law_matrix(n: int, exponent: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A = U diag(i^-exponent) U^T with a random orthogonal U, and its eigenvalues."""
    values = np.arange(1, n + 1, dtype=float) ** -exponent
    basis = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))[0]
    return (basis * values) @ basis.T, values


# ----------------------------------------------------------------------------- eigenvalues of K/N

@pytest.mark.slow
def test_dense_eigenvalues_are_those_of_k_over_n(net, points):
    ev = spectrum.eigenvalues(net, points, kernel="nngp")
    reference = np.linalg.eigvalsh(net.kernel(points, get="nngp").astype(np.float64) / len(points))[::-1]
    np.testing.assert_allclose(ev, reference, rtol=1e-9, atol=1e-12 * reference[0])
    assert np.all(np.diff(ev) <= 0)
    np.testing.assert_allclose(spectrum.eigenvalues(net, points, kernel="nngp", top_k=7), ev[:7])


@pytest.mark.slow
def test_dense_eigenvectors(net, points):
    system = spectrum.eigh(net, points, kernel="ntk", top_k=5)
    gram = net.kernel(points, get="ntk").astype(np.float64) / len(points)
    np.testing.assert_allclose(gram @ system.vectors, system.vectors * system.values, atol=1e-9)
    assert system.passes == 1 and system.converged


def test_dense_eigenvalues_of_a_stored_float64_kernel(net, tmp_path, x64):
    """method="dense" with out reads the stored K (a read-only memmap, float64 here) without writing to it."""
    points = data.sphere(60, 3, seed=0)
    stored = spectrum.eigh(net, points, method="dense", out=tmp_path)
    in_memory = spectrum.eigh(net, points, method="dense")
    np.testing.assert_allclose(stored.values, in_memory.values, rtol=1e-12, atol=1e-15 * in_memory.values[0])
    np.testing.assert_array_equal(np.load(tmp_path / "ntk.npy"), net.kernel(points, get="ntk", out=tmp_path))


@pytest.mark.slow
def test_kernel_product_matches_the_matrix_with_uneven_row_blocks(net, points):
    Q = np.random.default_rng(0).standard_normal((len(points), 3))
    product = spectrum.kernel_product(net, points, "ntk", block_rows=150)  # blocks of 150, 150, 150, 50
    expected = net.kernel(points, get="ntk").astype(np.float64) @ Q / len(points)
    np.testing.assert_allclose(product(Q), expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    with pytest.raises(ValueError, match="shape"):
        product(Q[:10])


@pytest.mark.slow
def test_kernel_product_has_the_exact_diagonal():
    # a ReLU kernel between separately given coinciding float32 points is ~1e-3 off on the diagonal
    # (arccos at correlation 1 - eps); the product takes the diagonal as net.kernel(X) does
    net = nk.FullyConnected(depth=3, activation="relu", W_std=1.0, b_std=0.0)
    X = data.normalize_rows(data.center_features(data.mnist(64, seed=0).X)).astype(np.float32)  # 7e-4 without
    with jax.enable_x64(True):
        truth = np.asarray(net.kernel(X.astype(np.float64), get="ntk"))
    columns = spectrum.kernel_product(net, X, "ntk", block_rows=32)(np.eye(64)) * 64
    np.testing.assert_allclose(np.diag(columns), np.diag(truth), rtol=1e-6)
    np.testing.assert_allclose(columns, truth, rtol=0, atol=1e-5 * truth.max())


@pytest.mark.slow
def test_randomized_matches_dense_with_vectors(net, points):
    dense = spectrum.eigenvalues(net, points, kernel="ntk")
    system = spectrum.eigh(net, points, kernel="ntk", top_k=40, method="randomized", block_size=20, seed=1)
    assert system.converged and system.passes < 16
    np.testing.assert_allclose(system.values, dense[:40], rtol=2e-3)
    gram = net.kernel(points, get="ntk").astype(np.float64) / len(points)
    residual = np.linalg.norm(gram @ system.vectors - system.vectors * system.values, axis=0)
    assert np.all(residual[:20] < 1e-3 * system.values[:20])
    np.testing.assert_allclose(system.vectors.T @ system.vectors, np.eye(40), atol=1e-6)


@pytest.mark.parametrize("exponent", [1.1, 2.0])
def test_randomized_eigh_on_a_known_power_law(exponent):
    matrix, values = _power_law_matrix(400, exponent)
    system = spectrum.randomized_eigh(lambda Q: matrix @ Q, 400, 50, tol=1e-4, seed=3)
    assert system.converged
    np.testing.assert_allclose(system.values, values[:50], rtol=1e-3)
    assert np.all(system.values <= values[:50] * (1 + 1e-10))  # Ritz values are lower bounds


def test_randomized_eigh_low_rank_and_full_basis():
    factor = np.random.default_rng(4).standard_normal((60, 3))
    low_rank = factor @ factor.T
    system = spectrum.randomized_eigh(lambda Q: low_rank @ Q, 60, 10, block_size=8)
    exact = np.linalg.eigvalsh(low_rank)[::-1][:10]
    np.testing.assert_allclose(system.values[:3], exact[:3], rtol=1e-8)
    assert np.all(np.isfinite(system.values)) and np.all(system.values[3:] < 1e-8 * exact[0])
    matrix, values = _power_law_matrix(30, 1.0)
    full = spectrum.randomized_eigh(lambda Q: matrix @ Q, 30, 30, block_size=16)
    assert full.converged
    np.testing.assert_allclose(full.values, values, rtol=1e-8)


def test_randomized_warns_when_not_converged():
    matrix, _ = _power_law_matrix(300, 0.5)
    with pytest.warns(NotConvergedWarning, match="still changed"):
        system = spectrum.randomized_eigh(lambda Q: matrix @ Q, 300, 40, block_size=20, max_passes=3, tol=1e-9)
    assert not system.converged and system.passes == 3


def test_eigenvalue_argument_errors(net, points, monkeypatch):
    with pytest.raises(ValueError, match="kernel"):
        spectrum.eigenvalues(net, points, kernel="rbf")
    with pytest.raises(ValueError, match="method"):
        spectrum.eigenvalues(net, points, method="lanczos")
    with pytest.raises(ValueError, match="top_k"):
        spectrum.eigenvalues(net, points, top_k=501)
    with pytest.raises(ValueError, match="needs top_k"):
        spectrum.eigenvalues(net, points, method="randomized")
    with pytest.raises(ValueError, match="max_passes"):
        spectrum.randomized_eigh(lambda Q: Q, 100, 50, block_size=10, max_passes=4)
    monkeypatch.setattr(spectrum._eigenvalues, "DENSE_LIMIT", 100)
    with pytest.raises(ValueError, match="DENSE_LIMIT"):
        spectrum.eigenvalues(net, points)


# ----------------------------------------------------------------------------- power-law fits

def test_fit_recovers_an_exact_power_law():
    ev = 3.0 * np.arange(1, 2001, dtype=float) ** -1.5
    fit = spectrum.fit_power_law(ev)
    assert fit.window == (10, 200)
    assert fit.alpha_K == pytest.approx(0.5, abs=1e-10) and fit.amplitude == pytest.approx(3.0, rel=1e-8)
    assert fit.ci[0] == pytest.approx(0.5, abs=1e-8) and fit.ci[1] == pytest.approx(0.5, abs=1e-8)
    np.testing.assert_allclose(fit(np.array([1.0, 5000.0])), 3.0 * np.array([1.0, 5000.0]) ** -1.5)


def test_fit_ci_covers_the_exponent_of_a_noisy_spectrum():
    rng = np.random.default_rng(0)
    index = np.arange(1, 3001, dtype=float)
    ev = np.sort(index**-1.3 * np.exp(0.3 * rng.standard_normal(3000)))[::-1]
    fit = spectrum.fit_power_law(ev, window=(20, 1000), seed=1)
    assert fit.window == (20, 1000)
    assert fit.ci[0] < fit.alpha_K < fit.ci[1]
    assert abs(fit.alpha_K - 0.3) < 0.05 and fit.ci[1] - fit.ci[0] < 0.1


def test_fit_window_for_a_top_k_of_a_larger_sample():
    assert spectrum.default_window(2000, n_samples=50_000) == (10, 1000)
    assert spectrum.default_window(5000) == (10, 500)


def test_fit_errors_and_unreliable_fits():
    ev = np.arange(1, 300, dtype=float) ** -1.2
    for fit, reason in [(spectrum.fit_power_law(ev), "too short"),  # automatic window [10, 29]
                        (spectrum.fit_power_law(ev, window=(10, 30)), "too short"),
                        (spectrum.fit_power_law(np.concatenate([ev, np.zeros(2000)]), window=(10, 400)),
                         "not positive")]:
        assert not fit.reliable and reason in fit.reason and np.isnan(fit.alpha_K) and np.isnan(fit.ci).all()
    assert spectrum.fit_power_law(ev, window=(10, 30)).window == (10, 30)
    short = spectrum.fit_power_law(ev[:16])     # the automatic window [10, 1] holds no index: unreliable too
    assert not short.reliable and "too short" in short.reason and short.window == (10, 1) and short.n_points == 0
    with pytest.raises(ValueError, match="descending"):
        spectrum.fit_power_law(ev[::-1])
    with pytest.raises(ValueError, match="window"):
        spectrum.fit_power_law(ev, window=(0, 100))


# ----------------------------------------------------------------------------- the sphere



def test_multiplicities():
    assert [spectrum.multiplicity(3, k) for k in range(5)] == [1, 3, 5, 7, 9]
    assert [spectrum.multiplicity(2, k) for k in range(4)] == [1, 2, 2, 2]
    assert [spectrum.multiplicity(4, k) for k in range(4)] == [1, 4, 9, 16]


def test_sphere_eigenvalues_of_a_linear_kernel():
    # depth 0: kappa(t) = W^2 t + b^2, so mu_0 = b^2, mu_1 = W^2 E[t^2] = W^2 / d, mu_k = 0 for k >= 2
    net = nk.FullyConnected(depth=0, W_std=1.5, b_std=0.5)
    sph = spectrum.sphere_eigenvalues(net, dim=4, max_degree=6, kernel="nngp")
    np.testing.assert_allclose(sph.eigenvalues, [0.25, 2.25 / 4, 0, 0, 0, 0, 0], atol=1e-14)
    np.testing.assert_array_equal(sph.degrees, np.arange(7))


def test_sphere_eigenvalues_against_independent_quadrature():
    # one-layer ReLU NNGP with W = 1, b = 0 on S^2: kappa(t) = (sqrt(1 - t^2) + (pi - arccos t) t) / (2 pi),
    # mu_k = (1/2) int_-1^1 kappa(t) P_k(t) dt with Legendre P_k
    net = nk.FullyConnected(depth=1, activation="relu", W_std=1.0, b_std=0.0)
    sph = spectrum.sphere_eigenvalues(net, dim=3, max_degree=8, kernel="nngp")

    def kappa(t):
        return (np.sqrt(1 - t * t) + (np.pi - np.arccos(t)) * t) / (2 * np.pi)

    for k in range(9):
        reference = 0.5 * scipy.integrate.quad(lambda t: kappa(t) * scipy.special.eval_legendre(k, t),
                                               -1, 1, epsabs=1e-14, limit=200)[0]
        assert sph.eigenvalues[k] == pytest.approx(reference, rel=1e-7, abs=1e-13)
    assert abs(sph.eigenvalues[3]) < 1e-13 and abs(sph.eigenvalues[5]) < 1e-13  # odd k >= 3 vanish


def test_sphere_trace_is_the_diagonal():
    # sum_k N(d, k) mu_k = kappa(1); erf kernels are smooth, so degree 40 exhausts the series
    net = nk.FullyConnected(depth=2, activation="erf", W_std=1.5, b_std=0.3)
    sph = spectrum.sphere_eigenvalues(net, dim=5, max_degree=40, kernel="ntk")
    diagonal = net.diagonal(np.sqrt(5.0) * np.eye(1, 5), get="ntk")[0]
    assert np.sum(sph.multiplicities * sph.eigenvalues) == pytest.approx(diagonal, rel=1e-5)
    assert np.all(sph.eigenvalues[:20] > 0)


@pytest.mark.parametrize("dim", [3, 5])
@pytest.mark.parametrize("kernel, excess", [("ntk", 0), ("nngp", 2)])
@pytest.mark.parametrize("depth, b_std", [(1, 0.0), pytest.param(3, 0.2, marks=pytest.mark.slow)])
def test_relu_sphere_decay_matches_bietti_bach(dim, kernel, excess, depth, b_std):
    # ReLU NTK mu_k ~ k^-d, NNGP mu_k ~ k^-(d+2); depth 1 with b = 0 has mu_k = 0 for odd k >= 3
    net = nk.FullyConnected(depth=depth, activation="relu", W_std=1.0, b_std=b_std)
    sph = spectrum.sphere_eigenvalues(net, dim=dim, max_degree=200, kernel=kernel)
    decay = sph.decay(40, 200)
    assert abs(decay.alpha - dim - excess) < 0.15
    assert decay.n_points == (81 if depth == 1 else 161)


@pytest.mark.slow
@pytest.mark.parametrize("kernel", ["ntk", "nngp"])
def test_sphere_eigenvalues_match_the_empirical_spectrum(kernel):
    # eigenvalues of K/N on uniform points cluster in groups of N(d, k) around mu_k
    net = nk.FullyConnected(depth=2, activation="relu", W_std=1.0, b_std=0.1, tile_size=200)
    X = data.sphere(600, 3, seed=0)
    empirical = spectrum.eigenvalues(net, X, kernel=kernel)
    sph = spectrum.sphere_eigenvalues(net, dim=3, max_degree=30, kernel=kernel)
    start = 0
    for degree in np.argsort(-sph.eigenvalues)[:5]:
        count = int(sph.multiplicities[degree])
        group = empirical[start:start + count]
        assert group.mean() == pytest.approx(sph.eigenvalues[degree], rel=0.05)
        start += count
    expanded = sph.expanded(start)
    np.testing.assert_allclose(expanded, np.sort(expanded)[::-1])


def test_sphere_errors():
    net = nk.FullyConnected(depth=1)
    for dim in (1, 0):
        with pytest.raises(ValueError, match="dim"):
            spectrum.sphere_eigenvalues(net, dim=dim, max_degree=10)
    with pytest.raises(TypeError, match="dim"):
        spectrum.sphere_eigenvalues(net, dim=2.5, max_degree=10)
    with pytest.raises(ValueError, match="kernel"):
        spectrum.sphere_eigenvalues(net, dim=3, max_degree=10, kernel="both")
    sph = spectrum.sphere_eigenvalues(net, dim=2, max_degree=10)
    assert sph.multiplicities[3] == 2
    with pytest.raises(ValueError, match="k_max"):
        sph.decay(4, 50)
    with pytest.raises(ValueError, match="max_degree"):
        sph.expanded(100)


@pytest.mark.slow
def test_randomized_on_mnist_top_k():
    X = data.normalize_rows(data.center_features(data.mnist(4000, seed=0).X)).astype(np.float32)
    net = nk.FullyConnected(depth=3, activation="relu", W_std=1.0, b_std=0.0)
    dense = spectrum.eigenvalues(net, X, kernel="ntk")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast = spectrum.eigenvalues(net, X, kernel="ntk", top_k=400, method="randomized")
    np.testing.assert_allclose(fast[:200], dense[:200], rtol=1e-4)  # float32 products, exact diagonal: ~1e-5
    np.testing.assert_allclose(fast, dense[:400], rtol=1e-2)
    full_fit = spectrum.fit_power_law(dense, window=(10, 200))
    top_fit = spectrum.fit_power_law(fast, n_samples=4000)
    assert top_fit.window == (10, 200)
    assert top_fit.alpha_K == pytest.approx(full_fit.alpha_K, abs=1e-3)
