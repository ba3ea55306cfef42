"""Dual maps of every activation against independent numerical integration, the quadrature path
against the closed forms, the fast arcsin/arccos against NumPy, and argument checking.

The reference integral (``reference_integrals.gaussian_expectation``) is a polar Gauss-Legendre
rule in NumPy, exact to ~1e-14 for the piecewise-smooth activations here, kinks included.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special

from nngp_ntk import _fastmath
from nngp_ntk import activations as act
from reference_integrals import adaptive_expectation, gaussian_expectation

pytestmark = pytest.mark.usefixtures("x64")  # every test here runs in float64


def _piecewise_linear(a: float, b: float):
    """a min(x, 0) + b max(x, 0) and its derivative, (a + b)/2 at 0 (neural-tangents' value)."""
    return (lambda x: np.where(x > 0, b * x, a * x),
            lambda x: np.where(x > 0, b, np.where(x < 0, a, (a + b) / 2)))


def _erf(a: float, b: float, c: float):
    return (lambda x: a * scipy.special.erf(b * x) + c,
            lambda x: a * b * 2 / np.sqrt(np.pi) * np.exp(-(b * x) ** 2))


def _sin(a: float, b: float, c: float):
    return lambda x: a * np.sin(b * x + c), lambda x: a * b * np.cos(b * x + c)


def _gelu(x):
    return x * scipy.special.ndtr(x)


def _gelu_derivative(x):
    return scipy.special.ndtr(x) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)


# (id, activation, phi, phi') with phi and phi' written here in NumPy/SciPy.
CLOSED_FORMS = [
    ("relu", act.ReLU(), *_piecewise_linear(0.0, 1.0)),
    ("leaky_relu", act.LeakyReLU(negative_slope=0.2), *_piecewise_linear(0.2, 1.0)),
    ("abrelu", act.ABReLU(a=-0.4, b=1.3), *_piecewise_linear(-0.4, 1.3)),
    ("abs", act.Abs(), *_piecewise_linear(-1.0, 1.0)),
    ("erf", act.Erf(), *_erf(1.0, 1.0, 0.0)),
    ("erf_abc", act.Erf(a=1.3, b=0.7, c=0.4), *_erf(1.3, 0.7, 0.4)),
    ("gelu", act.GELU(), _gelu, _gelu_derivative),
    ("identity", act.Identity(), lambda x: x, np.ones_like),
    ("sin", act.Sin(a=1.2, b=0.8, c=0.3), *_sin(1.2, 0.8, 0.3)),
    ("cos", act.Cos(a=0.9, b=1.1, c=-0.2), *_sin(0.9, 1.1, -0.2 + np.pi / 2)),
    ("sign", act.Sign(), np.sign, np.zeros_like),  # phi' = 0 almost everywhere
]


def _covariance_grid(variances: tuple[float, ...]) -> np.ndarray:
    """(K11, K12, K22) rows: all variance pairs with correlations from -1 to 1 (including
    1 - 1e-6 and exactly +-1), and rows with one or both variances zero."""
    rows = [(k11, rho * np.sqrt(k11 * k22), k22)
            for k11 in variances for k22 in variances
            for rho in (-1.0, -1 + 1e-6, -0.7, 0.0, 0.3, 0.9, 1 - 1e-6, 1.0)]
    rows += [(0.0, 0.0, 1.2), (0.8, 0.0, 0.0), (0.0, 0.0, 0.0)]
    return np.array(rows)


GRID = _covariance_grid((0.3, 1.0, 4.0))
SMALL_GRID = _covariance_grid((0.3, 1.0))  # Gauss-Hermite at degree 24 is accurate for K <= 1
VARIANCES = np.array([0.0, 1e-3, 0.3, 1.0, 4.0, 20.0])


def _reference_maps(grid: np.ndarray, phi, derivative) -> tuple[np.ndarray, np.ndarray]:
    nngp = np.array([gaussian_expectation(*row, phi, phi) for row in grid])
    return nngp, np.array([gaussian_expectation(*row, derivative, derivative) for row in grid])


def _dual(activation: act.Activation, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    activation = activation.resolve(float(grid[:, [0, 2]].max()))  # an automatic degree, fixed for jit
    nngp, derivative = jax.jit(activation.dual)(*(jnp.asarray(grid[:, i]) for i in range(3)))
    return np.asarray(nngp), np.asarray(derivative)


def test_reference_integral_is_exact_on_known_moments():
    """The polar rule itself: E[u v] = K12, E[u^2 v^2] = K11 K22 + 2 K12^2, E[max(u, 0)] = sqrt(K/2pi)."""
    for k11, k12, k22 in GRID:
        assert gaussian_expectation(k11, k12, k22, lambda x: x, lambda x: x) == pytest.approx(k12, abs=1e-13)
        assert gaussian_expectation(k11, k12, k22, np.square, np.square) == pytest.approx(
            k11 * k22 + 2 * k12**2, rel=1e-13, abs=1e-13)
    relu = _piecewise_linear(0.0, 1.0)[0]
    assert gaussian_expectation(2.0, 0.0, 1.0, relu, np.ones_like) == pytest.approx(np.sqrt(1 / np.pi), rel=1e-13)


@pytest.mark.parametrize("name, activation, phi, derivative", CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS])
def test_closed_form_dual_matches_integral(name, activation, phi, derivative):
    nngp, derivative_map = _dual(activation, GRID)
    expected_nngp, expected_derivative = _reference_maps(GRID, phi, derivative)
    np.testing.assert_allclose(nngp, expected_nngp, rtol=1e-12, atol=1e-12, err_msg=f"{name} E[phi phi]")
    np.testing.assert_allclose(derivative_map, expected_derivative, rtol=1e-12, atol=1e-12,
                               err_msg=f"{name} E[phi' phi']")


@pytest.mark.parametrize("name, activation, phi, derivative", CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS])
def test_closed_form_variance_matches_integral(name, activation, phi, derivative):
    variance = np.asarray(activation.variance(jnp.asarray(VARIANCES)))
    expected = np.array([gaussian_expectation(k, k, k, phi, phi) for k in VARIANCES])
    np.testing.assert_allclose(variance, expected, rtol=1e-12, atol=1e-13, err_msg=name)
    np.testing.assert_allclose(variance, _dual(activation, np.stack([VARIANCES] * 3, axis=1))[0],
                               rtol=1e-13, atol=1e-15, err_msg=f"{name}: variance(k) != dual(k, k, k)")


@pytest.mark.parametrize("name, activation, phi, derivative", CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS])
def test_activation_call_and_derivative(name, activation, phi, derivative):
    x = np.linspace(-3, 3, 13)  # includes 0: the derivative there is the class's convention
    x = x[x != 0]
    np.testing.assert_allclose(np.asarray(activation(jnp.asarray(x))), phi(x), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(np.asarray(activation.derivative(jnp.asarray(x))), derivative(x),
                               rtol=1e-13, atol=1e-15)


# Custom(fn) at the default degree (24) against the closed forms on K11, K22 <= 1, max error over
# SMALL_GRID measured: identity 4e-16, sin 3e-16, gelu 1.2e-7, erf 5.6e-5, erf(1.3, 0.7, 0.4) 4e-8.
# At K = 4 the same rule is off by 3.3e-3 (gelu) and 3.5e-2 (erf): see test_custom_converges_with_degree.
SMOOTH = [
    ("identity", act.Identity(), lambda x: x, 1e-13),
    ("sin", act.Sin(), jnp.sin, 1e-13),
    ("gelu", act.GELU(), lambda x: jax.nn.gelu(x, approximate=False), 1e-6),
    ("erf", act.Erf(), jax.scipy.special.erf, 2e-4),
    ("erf_abc", act.Erf(a=1.3, b=0.7, c=0.4), lambda x: 1.3 * jax.scipy.special.erf(0.7 * x) + 0.4, 1e-6),
]


def _max_error(activation: act.Activation, expected: tuple[np.ndarray, np.ndarray], grid: np.ndarray) -> float:
    """Largest error of either map, relative to max(1, |E[phi' phi']|)."""
    nngp, derivative = _dual(activation, grid)
    scale = np.maximum(1, np.abs(expected[1]))
    return float(max(np.max(np.abs(nngp - expected[0]) / scale),
                     np.max(np.abs(derivative - expected[1]) / scale)))


@pytest.mark.slow
@pytest.mark.parametrize("name, closed, fn, tolerance", SMOOTH, ids=[s[0] for s in SMOOTH])
def test_custom_quadrature_matches_closed_form(name, closed, fn, tolerance):
    custom = act.Custom(fn)
    assert custom.degree is None and custom.uses_quadrature  # automatic degree from the variances
    assert _max_error(custom, _dual(closed, SMALL_GRID), SMALL_GRID) <= tolerance
    variance = np.asarray(custom.variance(jnp.asarray(VARIANCES[:4])))
    np.testing.assert_allclose(variance, np.asarray(closed.variance(jnp.asarray(VARIANCES[:4]))),
                               rtol=tolerance, atol=tolerance)


@pytest.mark.slow
def test_custom_converges_with_degree():
    """The quadrature error falls with the degree. Measured on GRID (K up to 4) at degrees
    16, 24, 32, 48, 64: erf 8.8e-2, 3.5e-2, 1.3e-2, 2.0e-3, 3.1e-4 (gelu 1.7e-2, 3.3e-3, 6.6e-4,
    2.5e-5, 8.8e-7). On SMALL_GRID (K <= 1) both are below 1e-8 at degree 48."""
    closed, fn = act.Erf(), jax.scipy.special.erf
    expected = _dual(closed, GRID)
    errors = [_max_error(act.Custom(fn, degree=degree), expected, GRID) for degree in (16, 32, 64)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-3
    assert _max_error(act.Custom(fn, degree=48), _dual(closed, SMALL_GRID), SMALL_GRID) < 1e-8


@pytest.mark.slow
def test_custom_explicit_derivative_is_used():
    grid = SMALL_GRID
    autodiff = _dual(act.Custom(jnp.sin), grid)
    explicit = _dual(act.Custom(jnp.sin, derivative_fn=jnp.cos), grid)
    np.testing.assert_allclose(explicit[0], autodiff[0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(explicit[1], autodiff[1], rtol=1e-14, atol=1e-15)
    doubled = _dual(act.Custom(jnp.sin, derivative_fn=lambda x: 2 * jnp.cos(x)), grid)
    np.testing.assert_allclose(doubled[0], autodiff[0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(doubled[1], 4 * autodiff[1], rtol=1e-14, atol=1e-15)


def test_custom_autodiff_derivative_of_kinked_function():
    """Custom(relu) differentiates by autodiff; its derivative map converges (slowly, the kink)
    to the closed form, E[phi' phi'] = (pi - theta) / 2pi."""
    custom = act.Custom(jax.nn.relu, degree=64)
    x = jnp.asarray([-1.0, 0.5, 2.0])
    np.testing.assert_array_equal(np.asarray(custom.derivative(x)), [0.0, 1.0, 1.0])
    grid = SMALL_GRID[np.all(SMALL_GRID[:, [0, 2]] > 0, axis=1)]
    assert _max_error(custom, _dual(act.ReLU(), grid), grid) < 5e-2


@pytest.mark.slow
def test_tanh_matches_high_order_integral():
    """Tanh (Gauss-Hermite) against the polar rule. Measured max error of either map: degree 24,
    3.1e-4 for K <= 1 and 2.8e-2 for K up to 4; degree 96, 6.7e-10 and 1.0e-4. The variance
    E[tanh(u)^2] at degree 24 / 96 is off by 6e-5 / 3e-11 relative at K = 1, 1e-2 / 1e-5 at K = 4."""
    expected_small = _reference_maps(SMALL_GRID, np.tanh, lambda x: 1 - np.tanh(x) ** 2)
    assert _max_error(act.Tanh(degree=24), expected_small, SMALL_GRID) < 1e-3
    assert _max_error(act.Tanh(degree=96), expected_small, SMALL_GRID) < 1e-8
    expected = _reference_maps(GRID, np.tanh, lambda x: 1 - np.tanh(x) ** 2)
    assert _max_error(act.Tanh(degree=96), expected, GRID) < 3e-4
    variance = np.asarray(act.Tanh(degree=96).variance(jnp.asarray(VARIANCES[:4])))
    expected_variance = [gaussian_expectation(k, k, k, np.tanh, np.tanh) for k in VARIANCES[:4]]
    np.testing.assert_allclose(variance, expected_variance, rtol=1e-9, atol=1e-14)


def _ulp_errors(function, reference, dtype) -> np.ndarray:
    """|function(x) - reference(x)| in units of the dtype's spacing at the reference value, over
    [-1, 1]: a dense grid, both endpoints, 0, +-1/2 and its neighbours (the range switch), points
    within 200 ulps of +-1 and magnitudes from 1e-30 to 1."""
    eps = np.finfo(dtype).eps
    half = dtype(0.5)
    x = np.concatenate([np.linspace(-1, 1, 100001), [-1, 1, 0],
                        [half, np.nextafter(half, dtype(1)), np.nextafter(half, dtype(0))],
                        1 - eps * np.arange(1, 200), np.geomspace(1e-30, 1, 2000)]).astype(dtype)
    x = np.concatenate([x, -x])
    got = np.asarray(function(jnp.asarray(x))).astype(np.float64)
    assert got.dtype == np.float64 and np.asarray(function(jnp.asarray(x))).dtype == dtype
    exact = reference(x.astype(np.float64))
    return np.abs(got - exact) / np.spacing(np.abs(exact).astype(dtype)).astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["asin", "acos"])
def test_fastmath_within_few_ulp_of_numpy(name, dtype):
    """Measured max: float32 asin 2.3, acos 1.2 ulp (of the float64 value); float64 asin 2.0,
    acos 1.0 ulp of NumPy's float64 result."""
    errors = _ulp_errors(getattr(_fastmath, name), getattr(np, f"arc{name[1:]}"), dtype)
    assert errors.max() <= 3.0, f"{name} {np.dtype(dtype).name}: {errors.max():.2f} ulp"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_fastmath_exact_values(dtype):
    x = jnp.asarray(np.array([-1, 0, 1], dtype))
    np.testing.assert_array_equal(np.asarray(_fastmath.asin(x)), np.arcsin(np.asarray(x)))
    np.testing.assert_array_equal(np.asarray(_fastmath.acos(x)), np.arccos(np.asarray(x)))


def test_hermite_nodes_are_normalized():
    nodes, weights = _fastmath.hermite_nodes(24)
    assert weights.sum() == pytest.approx(1, abs=1e-15)
    for power, moment in ((0, 1), (2, 1), (4, 3), (46, scipy.special.factorial2(45))):
        assert weights @ nodes**power == pytest.approx(moment, rel=1e-12)


def test_get_activation_names_and_instances():
    for name, factory in act.ACTIVATIONS.items():
        activation = act.get_activation(name)
        assert type(activation) is factory
        assert type(act.get_activation(name.upper())) is factory
    instance = act.LeakyReLU(negative_slope=0.3)
    assert act.get_activation(instance) is instance


def test_get_activation_unknown_name_lists_names():
    with pytest.raises(ValueError, match="activation") as info:
        act.get_activation("softplus")
    assert "softplus" in str(info.value)
    for name in act.ACTIVATIONS:
        assert repr(name) in str(info.value)


@pytest.mark.parametrize("value", [3, None, jnp.tanh, act.ReLU])
def test_get_activation_wrong_type(value):
    with pytest.raises(TypeError, match="activation"):
        act.get_activation(value)


@pytest.mark.parametrize("make, error, argument", [
    (lambda: act.Tanh(degree=1), ValueError, "degree"),
    (lambda: act.Tanh(degree=2.5), ValueError, "degree"),
    (lambda: act.Tanh(degree=True), ValueError, "degree"),
    (lambda: act.Custom(jnp.sin, degree=0), ValueError, "degree"),
    (lambda: act.Custom("sin"), TypeError, "fn"),
    (lambda: act.Custom(None), TypeError, "fn"),
    (lambda: act.Custom(jnp.sin, derivative_fn=1.0), TypeError, "derivative_fn"),
    (lambda: act.LeakyReLU(negative_slope=float("nan")), ValueError, "negative_slope"),
    (lambda: act.LeakyReLU(negative_slope="0.1"), TypeError, "LeakyReLU.negative_slope"),
    (lambda: act.ABReLU(a=0.0, b=float("inf")), ValueError, "ABReLU.b"),
    (lambda: act.Erf(a=float("nan")), ValueError, "Erf.a"),
    (lambda: act.Erf(b=None), TypeError, "Erf.b"),
    (lambda: act.Sin(c=float("-inf")), ValueError, "Sin.c"),
    (lambda: act.Cos(b=True), TypeError, "Cos.b"),
], ids=["tanh-degree-1", "tanh-degree-float", "tanh-degree-bool", "custom-degree-0", "custom-fn-str",
        "custom-fn-none", "custom-derivative-number", "leaky-nan", "leaky-str", "abrelu-inf", "erf-nan",
        "erf-none", "sin-inf", "cos-bool"])
def test_invalid_parameters(make, error, argument):
    with pytest.raises(error, match=re.escape(argument)):
        make()


def test_custom_at_degree_two_is_valid():
    """degree 2 is the smallest rule: exact for E[u v] (a polynomial of degree 2 in the nodes)."""
    nngp, derivative = _dual(act.Custom(lambda x: x, degree=2), GRID)
    np.testing.assert_allclose(nngp, GRID[:, 1], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(derivative, 1.0, rtol=1e-14)


def test_automatic_degree_grows_with_variance_and_is_accurate():
    """Tanh() picks its degree from the largest variance (auto_degree); on GRID (K up to 4) it is
    far more accurate than any fixed degree-24 rule (2.8e-2 there)."""
    assert act.auto_degree(0.1) < act.auto_degree(1.0) < act.auto_degree(4.0) <= act.MAX_AUTO_DEGREE
    assert act.auto_degree(1.0) % 16 == 0
    expected = _reference_maps(GRID, np.tanh, lambda x: 1 - np.tanh(x) ** 2)
    assert _max_error(act.Tanh(), expected, GRID) < 1e-5
    assert act.Tanh().resolve(4.0).degree == act.auto_degree(4.0)
    assert act.Tanh(degree=30).resolve(4.0).degree == 30


def test_automatic_degree_warns_when_capped():
    with pytest.warns(RuntimeWarning, match="Gauss-Hermite degree"):
        assert act.auto_degree(1e4) == act.MAX_AUTO_DEGREE


def test_automatic_degree_needs_concrete_variances():
    with pytest.raises(ValueError, match="degree=None"):
        jax.jit(lambda k: act.Tanh().dual(k, k, k))(jnp.ones((2, 2)))


def _tanh_errors(rows) -> float:
    """Largest absolute error of either map of Tanh() (automatic degree) against nested adaptive
    quadrature, over (K11, K12, K22) rows."""
    derivative = lambda x: 1 / np.cosh(x) ** 2  # noqa: E731
    errors = []
    for k11, k12, k22 in rows:
        activation = act.Tanh().resolve(max(k11, k22))
        got = activation.dual(*(jnp.asarray([k]) for k in (k11, k12, k22)))
        expected = (adaptive_expectation(k11, k12, k22, np.tanh, np.tanh),
                    adaptive_expectation(k11, k12, k22, derivative, derivative))
        errors += [abs(float(got[i][0]) - expected[i]) for i in range(2)]
    return max(errors)


@pytest.mark.slow
def test_tanh_accuracy_at_variance_nine():
    """The bound in Tanh's docstring, 1e-6 up to variance 9, at its worst place (rho = 1) and two
    others."""
    assert _tanh_errors([(9.0, 9.0, 9.0), (9.0, 0.95 * 9, 9.0), (4.0, 0.5 * 6, 9.0)]) <= 1e-6


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:pre-activation variance")
def test_tanh_accuracy_up_to_variance_25():
    """The bounds in Tanh's docstring: 1e-6 for variances up to 9, 2e-4 up to 25 (degree capped
    at 512 from variance ~16 on), over correlations from -1 to 1 and unequal variances."""
    rows = [(k, rho * k, k) for k in (4.0, 9.0, 16.0, 25.0) for rho in (-1.0, -0.9, 0.0, 0.5, 0.95, 1.0)]
    rows += [(4.0, 0.5 * 10, 25.0), (9.0, 0.95 * 15, 25.0), (1.0, -0.8 * 3, 9.0)]
    assert _tanh_errors([r for r in rows if max(r[0], r[2]) <= 9]) <= 1e-6
    assert _tanh_errors(rows) <= 2e-4
