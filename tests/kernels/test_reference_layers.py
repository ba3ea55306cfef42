"""Composed networks (``nk.Sequential``) against neural-tangents 0.6.5 (tests/data/nt_layers.npz).

The reference file is written by ``references/make_reference_layers.py`` in the pinned
neural-tangents environment; its docstring describes the JSON layer specs, the inputs and the
losses whose gradients are stored. Each spec is rebuilt here with the public layer API, and
compared in float64:

- kernels, ``net.kernel`` (the tiled engine) and ``net.kernel_fn`` (pure JAX), K(x1, x2) and
  K(x1, x1), to 1e-7 relative to the largest entry. neural-tangents' RectifiedMonomial is NaN in
  some entries (every entry at degree 2, the diagonal at other degrees): those entries are not
  compared, but ours must be finite there;
- ``net.diagonal(x1)`` against the diagonal of K(x1, x1);
- gradients of ``kernel_fn`` with respect to the inputs and to the hyperparameters (every Dense's
  W_std and b_std and some activation parameters), to 1e-6, for losses that weight K(x1, x3), the
  off-diagonal of K(x1, x1), and K(x1, x1) with its diagonal (correlation exactly 1).
  neural-tangents' gradients are the reference where they are finite (those of the first two were
  checked against central differences when the file was written); where they are NaN (its
  RectifiedMonomial), ours must still be finite.

The default run checks one case of every group (both parameterizations among them), half of each
(``KERNEL_PARTS``), and four gradient checks; everything runs with ``-m slow``. Gradients with
respect to activation parameters skip (with the reason) while an activation is not a JAX pytree.
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

REFERENCE = Path(__file__).parents[1] / "data" / "nt_layers.npz"
KERNEL_TOLERANCE = 1e-7
GRADIENT_TOLERANCE = 1e-6
KERNELS = ("nngp", "ntk")
#: (gradient case, kernel) pairs in the default run (the others are slow): ntk and standard
#: parameterizations, a residual, both kernels, activation parameters (the residual's Sin).
DEFAULT_GRADIENT_CASES = (("residual", "ntk"), ("standard-nobias", "nngp"))
DEFAULT_ACTIVATION_GRADIENT_CASES = (("residual", "nngp"),)

_MISSING = [name for name in ("Sequential", "Dense", "LayerNorm", "Residual") if not hasattr(nk, name)]
needs_layers = pytest.mark.skipif(bool(_MISSING), reason=f"nngp_ntk has no {', '.join(_MISSING)}")


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

def _network(spec: list[dict]):
    """The nngp_ntk network of a reference spec (the library reads the same plain-data format)."""
    return nk.Sequential(*nk.kernels.from_spec(spec))


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
    """One case per group (each new activation, mixed, residual, layernorm, standard-nobias), the
    parameterization alternating between groups, plus the network that mixes parameterizations."""
    groups: dict[str, list[int]] = {}
    for index, case in enumerate(cases):
        groups.setdefault(case["group"], []).append(index)
    chosen = set()
    for number, indices in enumerate(groups.values()):
        preferred = ("ntk", "standard")[number % 2]
        matching = [i for i in indices if _parameterization(cases[i]["spec"]) == preferred]
        matching = matching or indices
        chosen.add(matching[len(matching) // 2])
    chosen.update(i for i, case in enumerate(cases) if _parameterization(case["spec"]) == "mixed")
    return chosen


#: The two halves of a kernel case: each compiles two programs (a few seconds on a busy machine).
KERNEL_PARTS = ("engine-cross,kernel_fn-same", "engine-same,kernel_fn-cross,diagonal")


def _kernel_params() -> list:
    """Every case in two halves; the default run has the first half of the default cases."""
    cases = _load()["cases"]
    default = _default_cases(cases)
    return [pytest.param(index, part, id=f"{case['name']}-{part}",
                         marks=() if index in default and part == KERNEL_PARTS[0] else pytest.mark.slow)
            for index, case in enumerate(cases) for part in KERNEL_PARTS]


def _gradient_params() -> list:
    return [pytest.param(index, kernel, id=f"{case['name']}-{kernel}",
                         marks=() if (case["name"], kernel) in DEFAULT_GRADIENT_CASES else pytest.mark.slow)
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


def _assert_gradient_close(actual, expected: np.ndarray, what: str) -> None:
    """``_assert_close`` at GRADIENT_TOLERANCE; where the whole reference is NaN (neural-tangents'
    RectifiedMonomial), only that ours is finite."""
    if np.isnan(expected).all():
        assert np.all(np.isfinite(np.asarray(actual))), f"{what}: not finite"
        return
    _assert_close(actual, expected, GRADIENT_TOLERANCE, what)


def test_reference_file_is_sound(reference):
    """The cases cover the closed-form activations in both parameterizations, mixed, residual,
    LayerNorm and bias-free networks, and NaN appears only where neural-tangents' RectifiedMonomial
    is known to give it."""
    cases = reference["cases"]
    covered = set().union(*(_activations(case["spec"]) for case in cases))
    assert {"Monomial", "RectifiedMonomial", "Polynomial", "Hermite", "Gaussian", "Exp"} <= covered
    for name in ("Monomial", "RectifiedMonomial", "Polynomial", "Hermite", "Gaussian", "Exp"):
        assert {_parameterization(c["spec"]) for c in cases if name in _activations(c["spec"])} >= {"ntk", "standard"}
    assert {"mixed", "residual", "layernorm", "standard-nobias"} <= {case["group"] for case in cases}
    for index, case in enumerate(cases):
        has_nan = any(np.isnan(reference[f"{k}_{s}"][index]).any() for k in KERNELS for s in ("12", "11"))
        assert not has_nan or "RectifiedMonomial" in _activations(case["spec"]), case["name"]
    for case in reference["grad_cases"]:
        # neural-tangents' autodiff agreed with central differences of its kernel (off the diagonal).
        assert case["max_difference_error"] <= 1e-6, case["name"]
    default = [cases[i] for i in _default_cases(cases)]
    assert {c["group"] for c in default} == {c["group"] for c in cases}
    assert {_parameterization(c["spec"]) for c in default} == {"ntk", "standard", "mixed"}


@needs_layers
@pytest.mark.parametrize(("index", "part"), _kernel_params())
def test_kernels_match_neural_tangents(reference, x64, index, part):
    """One half of a case (``part``): ``net.kernel(x1, x2)`` (the tiled engine) and
    ``net.kernel_fn(x1)`` (pure JAX), or ``net.kernel(x1)``, ``net.kernel_fn(x1, x2)`` and
    ``net.diagonal(x1)``."""
    case = reference["cases"][index]
    expected = {f"{k}_{s}": reference[f"{k}_{s}"][index] for k in KERNELS for s in ("12", "11")}
    if all(np.isnan(value).all() for value in expected.values()):
        pytest.skip(f"neural-tangents 0.6.5 gives NaN for every entry of {case['name']}")
    net = _network(case["spec"])
    x1, x2 = reference["x1"], reference["x2"]
    if part == KERNEL_PARTS[0]:
        computed = {"engine K(x1, x2)": (net.kernel(x1, x2), "12"), "kernel_fn K(x1, x1)": (net.kernel_fn(x1), "11")}
    else:
        computed = {"engine K(x1, x1)": (net.kernel(x1), "11"), "kernel_fn K(x1, x2)": (net.kernel_fn(x1, x2), "12")}
    for what, (kernels, suffix) in computed.items():
        for kernel in KERNELS:
            _assert_close(getattr(kernels, kernel), expected[f"{kernel}_{suffix}"], KERNEL_TOLERANCE,
                          f"{kernel} {what}")
    if part == KERNEL_PARTS[1]:
        diagonal = net.diagonal(x1)
        for kernel in KERNELS:
            reference_diagonal = np.diagonal(expected[f"{kernel}_11"])
            if np.isnan(reference_diagonal).all():
                assert np.all(np.isfinite(getattr(diagonal, kernel))), f"{kernel} diagonal not finite"
            else:
                _assert_close(getattr(diagonal, kernel), reference_diagonal, KERNEL_TOLERANCE, f"{kernel} diagonal")


def _is_leaf_parameter(spec: list[dict], entry: dict) -> bool:
    """True for a Dense's W_std / b_std, and for an activation parameter when the activation is a
    JAX pytree whose leaves include it (then constructors take tracers and grad reaches it)."""
    layer = _locate(spec, entry["path"])
    if layer["layer"] == "dense":
        return True
    (activation,) = nk.kernels.from_spec([layer])
    return jax.tree_util.tree_leaves(activation) != [activation] and hasattr(activation, entry["key"])


class _Gradients:
    """The losses of one gradient case as functions of (x1, x3 or weights, the hyperparameters
    ``selected`` from its ``hyper`` list), the network rebuilt from them."""

    def __init__(self, reference: dict, index: int, kernel: str, selected: list[int]):
        case = reference["grad_cases"][index]
        self.spec, self.hyper, self.kernel, self.selected = case["spec"], case["hyper"], kernel, selected
        self.x1, self.x3 = jnp.asarray(reference["x1"]), jnp.asarray(reference["x3"])
        self.r12, self.r11 = jnp.asarray(reference["r12"]), jnp.asarray(reference["r11"])
        self.h0 = jnp.array([_locate(self.spec, self.hyper[i]["path"])[self.hyper[i]["key"]] for i in selected],
                            dtype=jnp.float64)
        self.reference, self.index = reference, index

    def network(self, h):
        values = [_locate(self.spec, entry["path"])[entry["key"]] for entry in self.hyper]
        for position, i in enumerate(self.selected):
            values[i] = h[position]
        return _network(_with_hyperparameters(self.spec, self.hyper, values))

    def l12(self, a, b, h):
        return jnp.sum(self.r12 * self.network(h).kernel_fn(a, b, get=self.kernel))

    def l11(self, a, h, weights):
        return jnp.sum(weights * self.network(h).kernel_fn(a, None, get=self.kernel))

    def expected(self, key: str) -> np.ndarray:
        value = self.reference[f"{key}_{self.kernel}"][self.index]
        return value[self.selected] if key.endswith("_h") else value


@needs_layers
@pytest.mark.parametrize(("index", "kernel"), _gradient_params())
def test_gradients_match_neural_tangents(reference, x64, index, kernel):
    """Gradients of L12 = sum(r12 * K(x1, x3)), L11 = sum(r11 * K(x1, x1)) and L11d (the diagonal
    weighted too) with respect to the inputs and to every Dense's W_std and b_std, the network
    rebuilt from tracers."""
    case = reference["grad_cases"][index]
    dense = [i for i, entry in enumerate(case["hyper"]) if _locate(case["spec"], entry["path"])["layer"] == "dense"]
    g = _Gradients(reference, index, kernel, dense)

    # jit: one compilation per loss instead of one per primitive in eager mode.
    g_x1, g_x3, g_h = jax.jit(jax.grad(g.l12, argnums=(0, 1, 2)))(g.x1, g.x3, g.h0)
    _assert_gradient_close(g_x1, g.expected("g12_x1"), "dL12/dx1")
    _assert_gradient_close(g_x3, g.expected("g12_x3"), "dL12/dx3")
    _assert_gradient_close(g_h, g.expected("g12_h"), "dL12/d(W_std, b_std)")

    grad11 = jax.jit(jax.grad(g.l11, argnums=(0, 1)))
    g_x1, g_h = grad11(g.x1, g.h0, g.r11)
    _assert_gradient_close(g_x1, g.expected("g11_x1"), "dL11/dx1")
    _assert_gradient_close(g_h, g.expected("g11_h"), "dL11/d(W_std, b_std)")

    g_x1, g_h = grad11(g.x1, g.h0, g.r11 + jnp.eye(g.x1.shape[0]))
    _assert_gradient_close(g_x1, g.expected("g11d_x1"), "dL11d/dx1 (diagonal included)")
    _assert_gradient_close(g_h, g.expected("g11d_h"), "dL11d/d(W_std, b_std) (diagonal included)")


def _activation_gradient_params() -> list:
    return [pytest.param(index, kernel, id=f"{case['name']}-{kernel}",
                         marks=() if (case["name"], kernel) in DEFAULT_ACTIVATION_GRADIENT_CASES else pytest.mark.slow)
            for index, case in enumerate(_load()["grad_cases"]) for kernel in KERNELS
            if any(_locate(case["spec"], e["path"])["layer"] != "dense" for e in case["hyper"])]


@needs_layers
@pytest.mark.parametrize(("index", "kernel"), _activation_gradient_params())
def test_activation_parameter_gradients_match_neural_tangents(reference, x64, index, kernel):
    """dL12/d and dL11d/d the activation parameters (Erf's, Sin's, Gaussian's and Exp's a, b, c,
    LeakyReLU's negative_slope), the activations rebuilt from tracers."""
    case = reference["grad_cases"][index]
    selected = [i for i, entry in enumerate(case["hyper"]) if _locate(case["spec"], entry["path"])["layer"] != "dense"]
    missing = [f"{_locate(case['spec'], case['hyper'][i]['path'])['layer']}.{case['hyper'][i]['key']}"
               for i in selected if not _is_leaf_parameter(case["spec"], case["hyper"][i])]
    if missing:
        pytest.skip(f"not JAX pytree leaves in nngp_ntk.activations: {', '.join(missing)}")
    g = _Gradients(reference, index, kernel, selected)
    _assert_gradient_close(jax.jit(jax.grad(g.l12, argnums=2))(g.x1, g.x3, g.h0), g.expected("g12_h"),
                           "dL12/d(activation parameters)")
    _assert_gradient_close(jax.jit(jax.grad(g.l11, argnums=1))(g.x1, g.h0, g.r11 + jnp.eye(g.x1.shape[0])),
                           g.expected("g11d_h"), "dL11d/d(activation parameters)")


@needs_layers
@pytest.mark.parametrize(("name", "kernel"), [("residual", "ntk"),
                                              pytest.param("residual", "nngp", marks=pytest.mark.slow),
                                              pytest.param("relu", "nngp", marks=pytest.mark.slow),
                                              pytest.param("relu", "ntk", marks=pytest.mark.slow)])
def test_gradient_with_respect_to_the_network_is_a_network(reference, x64, name, kernel):
    """jax.grad of a loss of ``net.kernel_fn`` with respect to the network itself is a network
    whose Dense layers hold dL/dW_std and dL/db_std (neural-tangents' values)."""
    index = [case["name"] for case in reference["grad_cases"]].index(name)
    case = reference["grad_cases"][index]
    x1, x3, r12 = (jnp.asarray(reference[key]) for key in ("x1", "x3", "r12"))
    net = _network(case["spec"])
    gradient = jax.jit(jax.grad(lambda network: jnp.sum(r12 * network.kernel_fn(x1, x3, get=kernel))))(net)
    assert type(gradient) is type(net)
    expected = reference[f"g12_h_{kernel}"][index]
    for position, entry in enumerate(case["hyper"]):
        if _locate(case["spec"], entry["path"])["layer"] != "dense":
            continue
        layer = gradient.layers[entry["path"][0]]
        for inner in entry["path"][1:]:
            layer = layer.layers[inner]
        assert isinstance(layer, nk.Dense), entry
        actual = float(getattr(layer, entry["key"]))
        assert actual == pytest.approx(expected[position], rel=GRADIENT_TOLERANCE,
                                       abs=1e-3 * GRADIENT_TOLERANCE * np.nanmax(np.abs(expected))), entry
