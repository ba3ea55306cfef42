"""Composed networks (``nk.Sequential``) against neural-tangents 0.6.5 (tests/data/nt_layers.npz).

The reference file is written by ``benchmarks/make_reference_layers.py`` in the pinned
neural-tangents environment; its docstring describes the JSON layer specs, the inputs and the
losses whose gradients are stored. Each spec is rebuilt here with the public layer API, and
compared in float64:

- kernels, ``net.kernel`` (the tiled engine) and ``net.kernel_fn`` (pure JAX), K(x1, x2) and
  K(x1, x1), to 1e-7 relative to the largest entry. neural-tangents' RectifiedMonomial is NaN in
  some entries (every entry at degree 2, the diagonal at other degrees): those entries are not
  compared, but ours must be finite there;
- gradients of ``kernel_fn`` with respect to the inputs and to the hyperparameters (every Dense's
  W_std and b_std and some activation parameters), to 1e-6, where neural-tangents' are finite.

The default run checks the first case of every (group, parameterization) pair and three gradient
cases; the rest run with ``-m slow``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nngp_ntk as nk

REFERENCE = Path(__file__).parent / "data" / "nt_layers.npz"
KERNEL_TOLERANCE = 1e-7
GRADIENT_TOLERANCE = 1e-6
KERNELS = ("nngp", "ntk")
#: Gradient cases in the default run (the others are slow).
DEFAULT_GRADIENT_CASES = ("relu", "residual", "standard-nobias")

_MISSING = [name for name in ("Sequential", "Dense", "LayerNorm", "Residual") if not hasattr(nk, name)]
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"nngp_ntk has no {', '.join(_MISSING)} (issue #10)")


def _load() -> dict:
    with np.load(REFERENCE) as data:
        reference = {key: data[key] for key in data.files}
    reference["cases"] = json.loads(str(reference["cases"]))
    reference["grad_cases"] = json.loads(str(reference["grad_cases"]))
    return reference


@pytest.fixture(scope="module")
def reference() -> dict:
    return _load()


# ----------------------------------------------------------------------------- specs -> networks

def _activation(layer: dict):
    name = layer["layer"]
    if not hasattr(nk.activations, name):
        pytest.skip(f"nngp_ntk.activations has no {name}")
    return getattr(nk.activations, name)(**{k: v for k, v in layer.items() if k != "layer"})


def _layers(spec: list[dict]) -> list:
    layers = []
    for layer in spec:
        kind = layer["layer"]
        if kind == "dense":
            layers.append(nk.Dense(W_std=layer["W_std"], b_std=layer["b_std"],
                                   parameterization=layer["parameterization"], width=layer["width"]))
        elif kind == "layernorm":
            layers.append(nk.LayerNorm())
        elif kind == "residual":
            layers.append(nk.Residual(*_layers(layer["block"])))
        else:
            layers.append(_activation(layer))
    return layers


def _network(spec: list[dict]):
    return nk.Sequential(*_layers(spec))


def _locate(spec: list[dict], path: list[int]) -> dict:
    layer = spec[path[0]]
    for index in path[1:]:
        layer = layer["block"][index]
    return layer


def _with_hyperparameters(spec: list[dict], hyper: list[dict], values) -> list[dict]:
    spec = copy.deepcopy(spec)
    for index, entry in enumerate(hyper):
        _locate(spec, entry["path"])[entry["key"]] = values[index]
    return spec


def _parameterization(spec: list[dict]) -> str:
    found = set()

    def walk(layers):
        for layer in layers:
            if layer["layer"] == "dense":
                found.add(layer["parameterization"])
            elif layer["layer"] == "residual":
                walk(layer["block"])

    walk(spec)
    return found.pop() if len(found) == 1 else "mixed"


def _activations(spec: list[dict]) -> set[str]:
    names = set()
    for layer in spec:
        if layer["layer"] == "residual":
            names |= _activations(layer["block"])
        elif layer["layer"] not in ("dense", "layernorm"):
            names.add(layer["layer"])
    return names


# ----------------------------------------------------------------------------- parameters

def _default_cases(cases: list[dict]) -> set[int]:
    """The first case of every (group, parameterization) pair."""
    first: dict[tuple[str, str], int] = {}
    for index, case in enumerate(cases):
        first.setdefault((case["group"], _parameterization(case["spec"])), index)
    return set(first.values())


def _kernel_params() -> list:
    cases = _load()["cases"]
    default = _default_cases(cases)
    return [pytest.param(index, id=case["name"], marks=() if index in default else pytest.mark.slow)
            for index, case in enumerate(cases)]


def _gradient_params() -> list:
    return [pytest.param(index, kernel, id=f"{case['name']}-{kernel}",
                         marks=() if case["name"] in DEFAULT_GRADIENT_CASES else pytest.mark.slow)
            for index, case in enumerate(_load()["grad_cases"]) for kernel in KERNELS]


# ----------------------------------------------------------------------------- comparisons

def _assert_close(actual, expected: np.ndarray, tolerance: float, what: str) -> None:
    """Over the entries where ``expected`` is finite: max|a - e| / max|e| <= tolerance, and each
    entry within tolerance of its own size (entries below 1e-3 max|e| within 1e-3 tolerance max|e|).
    ``actual`` must be finite everywhere."""
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == np.float64, f"{what}: dtype {actual.dtype}"
    assert np.all(np.isfinite(actual)), f"{what}: non-finite entries at {np.argwhere(~np.isfinite(actual)).tolist()}"
    finite = np.isfinite(expected)
    assert finite.any(), f"{what}: no finite reference entry"
    actual, expected = actual[finite], expected[finite]
    scale = np.max(np.abs(expected))
    if scale == 0.0:
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    relative = np.max(np.abs(actual - expected)) / scale
    assert relative <= tolerance, f"{what}: max-abs relative error {relative:.2e}"
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=1e-3 * tolerance * scale, err_msg=what)


def test_reference_file_is_sound(reference):
    """The cases cover what issue #10 asks for, and NaN appears only where neural-tangents'
    RectifiedMonomial is known to give it."""
    cases = reference["cases"]
    covered = set().union(*(_activations(case["spec"]) for case in cases))
    assert {"Monomial", "RectifiedMonomial", "Polynomial", "Hermite", "Gaussian", "Exp"} <= covered
    for name in ("Monomial", "RectifiedMonomial", "Polynomial", "Hermite", "Gaussian", "Exp"):
        assert {_parameterization(c["spec"]) for c in cases if name in _activations(c["spec"])} >= {"ntk", "standard"}
    assert {"mixed", "residual", "layernorm", "standard-nobias"} <= {case["group"] for case in cases}
    for index, case in enumerate(cases):
        has_nan = any(np.isnan(reference[f"{k}_{s}"][index]).any() for k in KERNELS for s in ("12", "11"))
        assert not has_nan or "RectifiedMonomial" in _activations(case["spec"]), case["name"]
    default = [cases[i] for i in _default_cases(cases)]
    assert {c["group"] for c in default} == {c["group"] for c in cases}
    assert {_parameterization(c["spec"]) for c in default} == {"ntk", "standard", "mixed"}


@pytest.mark.parametrize("index", _kernel_params())
def test_kernels_match_neural_tangents(reference, x64, index):
    case = reference["cases"][index]
    expected = {f"{k}_{s}": reference[f"{k}_{s}"][index] for k in KERNELS for s in ("12", "11")}
    if all(np.isnan(value).all() for value in expected.values()):
        pytest.skip(f"neural-tangents 0.6.5 gives NaN for every entry of {case['name']}")
    net = _network(case["spec"])
    x1, x2 = reference["x1"], reference["x2"]
    cross, same = net.kernel(x1, x2), net.kernel(x1)
    for kernel in KERNELS:
        _assert_close(getattr(cross, kernel), expected[f"{kernel}_12"], KERNEL_TOLERANCE, f"kernel {kernel} K(x1, x2)")
        _assert_close(getattr(same, kernel), expected[f"{kernel}_11"], KERNEL_TOLERANCE, f"kernel {kernel} K(x1, x1)")
        _assert_close(net.kernel_fn(x1, x2, get=kernel), expected[f"{kernel}_12"], KERNEL_TOLERANCE,
                      f"kernel_fn {kernel} K(x1, x2)")
        _assert_close(net.kernel_fn(x1, None, get=kernel), expected[f"{kernel}_11"], KERNEL_TOLERANCE,
                      f"kernel_fn {kernel} K(x1, x1)")


@pytest.mark.parametrize(("index", "kernel"), _gradient_params())
def test_gradients_match_neural_tangents(reference, x64, index, kernel):
    """Gradients of L12 = sum(r12 * K(x1, x3)) and L11 = sum(r11 * K(x1, x1)) with respect to the
    inputs and to the hyperparameters (the network rebuilt from tracers)."""
    case = reference["grad_cases"][index]
    spec, hyper = case["spec"], case["hyper"]
    x1, x3 = jnp.asarray(reference["x1"]), jnp.asarray(reference["x3"])
    r12, r11 = jnp.asarray(reference["r12"]), jnp.asarray(reference["r11"])
    h0 = jnp.array([_locate(spec, entry["path"])[entry["key"]] for entry in hyper], dtype=jnp.float64)

    def l12(a, b, h):
        return jnp.sum(r12 * _network(_with_hyperparameters(spec, hyper, h)).kernel_fn(a, b, get=kernel))

    def l11(a, h, weights):
        return jnp.sum(weights * _network(_with_hyperparameters(spec, hyper, h)).kernel_fn(a, None, get=kernel))

    def expected(key: str) -> np.ndarray:
        value = reference[f"{key}_{kernel}"][index]
        return value[: len(hyper)] if "_h_" in key else value

    g_x1, g_x3, g_h = jax.grad(l12, argnums=(0, 1, 2))(x1, x3, h0)
    _assert_close(g_x1, expected("g12_x1"), GRADIENT_TOLERANCE, "dL12/dx1")
    _assert_close(g_x3, expected("g12_x3"), GRADIENT_TOLERANCE, "dL12/dx3")
    _assert_close(g_h, expected("g12_h"), GRADIENT_TOLERANCE, "dL12/dhyperparameters")

    g_x1, g_h = jax.grad(l11, argnums=(0, 1))(x1, h0, r11)
    _assert_close(g_x1, expected("g11_x1"), GRADIENT_TOLERANCE, "dL11/dx1")
    _assert_close(g_h, expected("g11_h"), GRADIENT_TOLERANCE, "dL11/dhyperparameters")

    # The diagonal weighted too (correlations of exactly 1): ours must be finite; where
    # neural-tangents' are finite, they agree.
    g_x1, g_h = jax.grad(l11, argnums=(0, 1))(x1, h0, r11 + jnp.eye(x1.shape[0]))
    assert np.all(np.isfinite(np.asarray(g_x1))) and np.all(np.isfinite(np.asarray(g_h))), \
        "gradient through the diagonal is not finite"
    if case["finite_11"][kernel]:
        _assert_close(g_x1, expected("g11d_x1"), GRADIENT_TOLERANCE, "d(L11 + trace)/dx1")
        _assert_close(g_h, expected("g11d_h"), GRADIENT_TOLERANCE, "d(L11 + trace)/dhyperparameters")
