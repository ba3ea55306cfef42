"""The closed-form activations (Monomial, RectifiedMonomial, Polynomial, Hermite, Gaussian, Exp)
against the independent polar integral (``reference_integrals``), Cho & Saul's arc-cosine
formulas, Monte Carlo, and each other; float32 against float64; argument checking."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nngp_ntk import activations as act
from reference_integrals import gaussian_expectation


def _covariance_grid(variances: tuple[float, ...]) -> np.ndarray:
    """(K11, K12, K22) rows: variance pairs with correlations from -1 to 1 (exactly +-1 and 0
    included), and rows with one or both variances zero."""
    rows = [(k11, rho * np.sqrt(k11 * k22), k22)
            for k11 in variances for k22 in variances
            for rho in (-1.0, -0.7, 0.0, 0.3, 0.9, 1 - 1e-6, 1.0)]
    rows += [(0.0, 0.0, 1.2), (0.8, 0.0, 0.0), (0.0, 0.0, 0.0)]
    return np.array(rows)


GRID = _covariance_grid((0.3, 1.0, 2.5))
SMALL_GRID = _covariance_grid((0.3, 1.0))


def _rectified(n: int):
    if n == 0:  # the step with phi(0) = 1/2
        return lambda x: np.where(x > 0, 1.0, np.where(x < 0, 0.0, 0.5)), np.zeros_like
    if n == 1:  # phi'(0) = 1/2, as for ReLU (it enters where K = 0)
        return lambda x: np.maximum(x, 0), lambda x: np.where(x > 0, 1.0, np.where(x < 0, 0.0, 0.5))
    return lambda x: np.maximum(x, 0) ** n, lambda x: n * np.maximum(x, 0) ** (n - 1)


def _power(n: int):
    return lambda x: x**n, (lambda x: n * x ** (n - 1)) if n else np.zeros_like


def _hermite(n: int):
    scale = 1 / np.sqrt(float(np.prod(np.arange(1, n + 1))))
    unit = np.eye(n + 1)[n]
    derivative = np.polynomial.hermite_e.hermeder(unit) if n else np.zeros(1)
    return (lambda x: scale * np.polynomial.hermite_e.hermeval(x, unit),
            lambda x: scale * np.polynomial.hermite_e.hermeval(x, derivative))


def _polynomial(coef):
    p = np.polynomial.Polynomial(coef)
    return p, p.deriv()


# (id, activation, phi, phi' in NumPy, grid): Gaussian with b > 0 only where 4 b K < 1 by a margin.
NEW_FORMS = [
    *[(f"monomial{n}", act.Monomial(n), *_power(n), GRID) for n in (0, 1, 3, 4)],
    *[(f"rectified{n}", act.RectifiedMonomial(n), *_rectified(n), GRID) for n in (0, 1, 2, 3, 5)],
    ("polynomial", act.Polynomial([0.3, -1.0, 0.5, 0.2]), *_polynomial([0.3, -1.0, 0.5, 0.2]), GRID),
    ("polynomial_constant", act.Polynomial([0.7]), lambda x: np.full_like(x, 0.7), np.zeros_like, GRID),
    *[(f"hermite{n}", act.Hermite(n), *_hermite(n), GRID) for n in (0, 1, 4, 5)],
    ("gaussian", act.Gaussian(), lambda x: np.exp(-x * x), lambda x: -2 * x * np.exp(-x * x), GRID),
    ("gaussian_ab", act.Gaussian(a=1.3, b=-0.7), lambda x: 1.3 * np.exp(-0.7 * x * x),
     lambda x: -1.82 * x * np.exp(-0.7 * x * x), GRID),
    ("gaussian_growing", act.Gaussian(a=0.9, b=0.1), lambda x: 0.9 * np.exp(0.1 * x * x),
     lambda x: 0.18 * x * np.exp(0.1 * x * x), SMALL_GRID),
    ("exp", act.Exp(), np.exp, np.exp, GRID),
    ("exp_ab", act.Exp(a=0.8, b=-0.6), lambda x: 0.8 * np.exp(-0.6 * x), lambda x: -0.48 * np.exp(-0.6 * x), GRID),
]
IDS = [f[0] for f in NEW_FORMS]


def _dual(activation: act.Activation, grid: np.ndarray, dtype=jnp.float64) -> tuple[np.ndarray, np.ndarray]:
    nngp, derivative = jax.jit(activation.dual)(*(jnp.asarray(grid[:, i], dtype) for i in range(3)))
    return np.asarray(nngp), np.asarray(derivative)


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("name, activation, phi, derivative, grid", NEW_FORMS, ids=IDS)
def test_dual_matches_integral(name, activation, phi, derivative, grid):
    nngp, derivative_map = _dual(activation, grid)
    expected = np.array([gaussian_expectation(*row, phi, phi) for row in grid])
    expected_derivative = np.array([gaussian_expectation(*row, derivative, derivative) for row in grid])
    np.testing.assert_allclose(nngp, expected, rtol=1e-11, atol=1e-12, err_msg=f"{name} E[phi phi]")
    np.testing.assert_allclose(derivative_map, expected_derivative, rtol=1e-11, atol=1e-12,
                               err_msg=f"{name} E[phi' phi']")


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("name, activation, phi, derivative, grid", NEW_FORMS, ids=IDS)
def test_variance_call_and_derivative(name, activation, phi, derivative, grid):
    variances = np.array([0.0, 1e-3, 0.3, 1.0, 2.0])
    variances = variances[variances <= grid[:, 0].max()]
    expected = np.array([gaussian_expectation(k, k, k, phi, phi) for k in variances])
    np.testing.assert_allclose(np.asarray(activation.variance(jnp.asarray(variances))), expected,
                               rtol=1e-11, atol=1e-13, err_msg=name)
    x = np.array([-2.5, -1.0, -0.3, 0.2, 0.7, 1.9])
    np.testing.assert_allclose(np.asarray(activation(jnp.asarray(x))), phi(x), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(np.asarray(activation.derivative(jnp.asarray(x))), derivative(x), rtol=1e-13, atol=1e-15)


def _cho_saul(n: int, theta: np.ndarray) -> np.ndarray:
    """J_n(theta) of Cho & Saul (2009) for n = 0, 1, 2, and the n = 3 form of the same family."""
    s, c, t = np.sin(theta), np.cos(theta), np.pi - theta
    return [t, s + t * c, 3 * s * c + t * (1 + 2 * c**2), 15 * s - 11 * s**3 + t * (9 * c + 6 * c**3)][n]


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_rectified_monomial_matches_cho_saul(degree):
    """E[phi phi] = (K11 K22)^(n/2) J_n(theta) / 2pi and E[phi' phi'] = n^2 (K11 K22)^((n-1)/2) J_(n-1) / 2pi."""
    grid = GRID[np.all(GRID[:, [0, 2]] > 0, axis=1)]
    root = np.sqrt(grid[:, 0] * grid[:, 2])
    theta = np.arccos(np.clip(grid[:, 1] / root, -1, 1))
    nngp, derivative = _dual(act.RectifiedMonomial(degree), grid)
    np.testing.assert_allclose(nngp, root**degree * _cho_saul(degree, theta) / (2 * np.pi), rtol=1e-13, atol=1e-14)
    expected = degree**2 * root ** (degree - 1) * _cho_saul(degree - 1, theta) / (2 * np.pi) if degree else 0 * root
    np.testing.assert_allclose(derivative, expected, rtol=1e-13, atol=1e-14)


@pytest.mark.usefixtures("x64")
def test_rectified_monomial_of_degree_one_is_relu():
    for got, expected in zip(_dual(act.RectifiedMonomial(1), GRID), _dual(act.ReLU(), GRID), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-15)


@pytest.mark.usefixtures("x64")
def test_hermite_is_rho_to_the_n_at_unit_variance():
    rho = np.linspace(-1, 1, 9)
    ones = np.ones_like(rho)
    for n in range(7):
        nngp, derivative = _dual(act.Hermite(n), np.stack([ones, rho, ones], axis=1))
        np.testing.assert_allclose(nngp, rho**n, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(derivative, n * rho ** max(n - 1, 0) if n else 0 * rho, rtol=1e-14, atol=1e-15)


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("degree", [2, 5, 8])
def test_monomial_and_hermite_equal_their_polynomials(degree):
    unit = np.eye(degree + 1)[degree]
    hermite_coef = np.polynomial.hermite_e.herme2poly(unit) / np.sqrt(float(np.prod(np.arange(1, degree + 1))))
    for special, general in ((act.Monomial(degree), act.Polynomial(unit)),
                             (act.Hermite(degree), act.Polynomial(hermite_coef))):
        for got, expected in zip(_dual(special, GRID), _dual(general, GRID), strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10, err_msg=type(special).__name__)


@pytest.mark.slow
@pytest.mark.usefixtures("x64")
def test_monte_carlo():
    """A million Gaussian pairs: each map within 5 standard errors of the sample mean."""
    rng = np.random.default_rng(0)
    k11, k12, k22 = 1.3, -0.6, 0.8
    z = rng.standard_normal((2, 1_000_000))
    u = np.sqrt(k11) * z[0]
    v = k12 / np.sqrt(k11) * z[0] + np.sqrt(k22 - k12**2 / k11) * z[1]
    for name, activation, phi, derivative, _ in NEW_FORMS:
        nngp, derivative_map = _dual(activation, np.array([[k11, k12, k22]]))
        for got, f in ((nngp[0], phi), (derivative_map[0], derivative)):
            sample = f(u) * f(v)
            assert abs(got - sample.mean()) <= 5 * sample.std() / np.sqrt(sample.size) + 1e-12, name


@pytest.mark.parametrize("name, activation, phi, derivative, grid", NEW_FORMS, ids=IDS)
def test_float32_agrees_with_float64(name, activation, phi, derivative, grid, x64):
    """Errors relative to sqrt(E(x, x) E(y, y)), the Cauchy-Schwarz bound of each map (the scale
    a kernel entry is read on; near theta = pi the arc-cosine recursion loses relative accuracy).
    Both see the same inputs, rounded to float32. Rows with 0 < 1 - |rho| < 1e-4 are left out:
    there the angle sqrt(2 (1 - rho)) turns a float32 rounding of rho into a ~sqrt(eps) error."""
    grid = grid.astype(np.float32).astype(np.float64)
    rho = np.abs(grid[:, 1]) / np.sqrt(np.maximum(grid[:, 0] * grid[:, 2], 1e-300))
    grid = grid[~((rho > 1 - 1e-4) & (rho < 1))]
    single = _dual(activation, grid, jnp.float32)
    rows = np.concatenate([grid, grid[:, [0, 0, 0]], grid[:, [2, 2, 2]]])  # each row, then its diagonals
    double = [m.reshape(3, len(grid)) for m in _dual(activation, rows)]
    for got, (expected, d1, d2) in zip(single, double, strict=True):
        assert got.dtype == np.float32
        scale = np.maximum(np.sqrt(np.abs(d1 * d2)), np.abs(expected))
        assert np.all(np.abs(got - expected) <= 2e-6 * scale), name


def test_resolve_refuses_a_diverging_gaussian():
    assert act.Gaussian(b=0.5).resolve(0.49) == act.Gaussian(b=0.5)
    assert act.Gaussian(b=-3.0).resolve(1e6) == act.Gaussian(b=-3.0)
    with pytest.raises(ValueError, match=re.escape("Gaussian(b=0.5)") + ".*diverges"):
        act.Gaussian(b=0.5).resolve(0.5)


@pytest.mark.usefixtures("x64")
def test_resolve_refuses_an_overflowing_exp():
    """The bound 2 b^2 K + log(a^2 max(1, b^2)) < log(max float) is where the kernel overflows."""
    for dtype in (np.float32, np.float64):
        limit = np.log(np.finfo(dtype).max)
        exp = act.Exp(a=2.0, b=1.5)
        edge = (limit - np.log(4 * 2.25)) / (2 * 2.25)  # variance where the largest entry reaches the max
        assert exp.resolve(0.99 * edge, dtype) is exp
        k = jnp.full(1, 0.99 * edge, dtype)
        assert all(np.isfinite(np.asarray(m)).all() for m in exp.dual(k, k, k))
        with pytest.raises(ValueError, match=f"Exp.*overflows {np.dtype(dtype).name}"):
            exp.resolve(1.01 * edge, dtype)
        k = jnp.full(1, 1.01 * edge, dtype)
        assert not np.isfinite(np.asarray(exp.dual(k, k, k)[1])).all()


@pytest.mark.parametrize("make, error, message", [
    (lambda: act.Monomial(-1), ValueError, "Monomial.degree must be an integer >= 0"),
    (lambda: act.Monomial(2.0), TypeError, "Monomial.degree"),
    (lambda: act.Monomial(True), TypeError, "Monomial.degree"),
    (lambda: act.RectifiedMonomial(-2), ValueError, "RectifiedMonomial.degree"),
    (lambda: act.RectifiedMonomial(1.5), TypeError, "RectifiedMonomial.degree"),
    (lambda: act.Hermite("3"), TypeError, "Hermite.degree"),
    (lambda: act.Polynomial([]), ValueError, "Polynomial.coef must be a non-empty"),
    (lambda: act.Polynomial(np.zeros((2, 2))), ValueError, "Polynomial.coef must be a non-empty 1-D"),
    (lambda: act.Polynomial("12"), TypeError, "Polynomial.coef"),
    (lambda: act.Polynomial(3.0), TypeError, "Polynomial.coef"),
    (lambda: act.Polynomial([1.0, float("nan")]), ValueError, "Polynomial.coef[1]"),
    (lambda: act.Gaussian(a=float("inf")), ValueError, "Gaussian.a"),
    (lambda: act.Exp(b="1"), TypeError, "Exp.b"),
])
def test_invalid_parameters(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make()


def test_names():
    assert act.get_activation("gaussian") == act.Gaussian()
    with pytest.raises(ValueError, match="activation must be one of"):
        act.get_activation("exp")
