"""Write tests/data/nt_layers.npz: float64 kernels and gradients of composed networks from
neural-tangents 0.6.5, the reference for ``nk.Sequential`` (tests/kernels/test_reference_layers.py).

Run in the pinned neural-tangents environment (the package never imports neural-tangents):

    /path/to/ntenv/bin/python references/make_reference_layers.py [--out tests/data/nt_layers.npz]

Every architecture is written once, as a neutral JSON spec: a list of layers, each a dict

    {"layer": "dense", "W_std": 1.5, "b_std": 0.1, "parameterization": "ntk", "width": None}
        b_std None = no bias; width = the layer's output width (neural-tangents' out_dim)
    {"layer": "layernorm"}                           neural-tangents' LayerNorm(axis=-1)
    {"layer": "residual", "block": [...]}             y = x + block(x)
    {"layer": "<Activation>", **kwargs}               nngp_ntk.activations.<Activation>(**kwargs)

from which this script builds the ``stax`` network and the test builds the ``nngp_ntk`` one
(Residual is ``serial(FanOut(2), parallel(Identity(), block), FanInSum())`` here). The file holds

    cases       JSON list: {"name", "group", "spec"} per kernel case
    x1, x2      inputs (6, 4) and (5, 4); x2[0] = x1[0] and x2[1] = -2 x1[2], so correlations of
                exactly +1 and -1 occur in K(x1, x2) as on the diagonal of K(x1, x1)
    nngp_12, ntk_12, nngp_11, ntk_11    (cases, ...): kernel_fn(x1, x2) and kernel_fn(x1, None).
                neural-tangents' RectifiedMonomial is NaN where the correlation is exactly 1 (the
                diagonal of K(x1, x1), K(x1, x2)[0, 0]): those entries stay NaN here and the test
                skips them. Its variances are NaN too, so every layer after it that reads them is
                NaN everywhere: the cases put it after every other activation and LayerNorm.
    grad_cases  JSON list: {"name", "spec", "hyper": [{"path", "key"}], "nt_diagonal_gradient",
                "max_difference_error"}.
                ``path`` locates a layer: its index in the spec, then indices inside the blocks of
                nested residuals; ``key`` is the numeric field of that layer (W_std, b_std, or an
                activation parameter).
    x3          (5, 4) inputs with no duplicate or parallel rows, for the gradients
    r12, r11    fixed weights: the losses are L12 = sum(r12 * K(x1, x3)) and
                L11 = sum(r11 * K(x1, x1)), r11 symmetric with a zero diagonal
    g12_x1_<k>, g12_x3_<k>, g12_h_<k>   (grad cases, ...) gradients of L12 for k in nngp, ntk
                with respect to x1, x3 and the hyperparameters (in ``hyper`` order)
    g11_x1_<k>, g11_h_<k>                gradients of L11; NaN where neural-tangents' are not finite
    g11d_x1_<k>, g11d_h_<k>              gradients of L11d = sum((r11 + I) * K(x1, x1)), the diagonal
                (correlation exactly 1) included, NaN where neural-tangents' are not finite.
                ``nt_diagonal_gradient`` records, per kernel, whether they are finite and how far
                they are from central differences, which are noisy there: K(x, x) comes out of
                arccos(rho) with rho = 1 up to rounding, and arccos(1 - 1e-16) = 1.5e-8.

Every autodiff gradient of L12 and L11 written is checked here against fourth-order central
differences of neural-tangents' own kernel (relative 1e-6; ``max_difference_error`` records the
largest).
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from neural_tangents import stax  # noqa: E402

KERNELS = ("nngp", "ntk")
#: Hidden width given to neural-tangents' Dense when a spec has none (ignored by "ntk").
DEFAULT_WIDTH = 512


# ----------------------------------------------------------------------------- specs

def dense(W_std: float = 1.0, b_std: float | None = 0.0, parameterization: str = "ntk",
          width: int | None = None) -> dict:
    return {"layer": "dense", "W_std": W_std, "b_std": b_std,
            "parameterization": parameterization, "width": width}


def act(name: str, **kwargs) -> dict:
    return {"layer": name, **kwargs}


def residual(*block: dict) -> dict:
    return {"layer": "residual", "block": list(block)}


LAYERNORM = {"layer": "layernorm"}


def std(W_std: float, b_std: float | None, width: int) -> dict:
    return dense(W_std, b_std, "standard", width)


def two_layer(activation: dict, W: tuple[float, float, float] = (1.3, 1.1, 0.9),
              b: tuple[float, float, float] = (0.2, 0.1, 0.3)) -> list[dict]:
    """Dense, phi, Dense, phi, Dense with per-layer W_std and b_std (ntk parameterization)."""
    return [dense(W[0], b[0]), activation, dense(W[1], b[1]), activation, dense(W[2], b[2])]


def two_layer_standard(activation: dict, W: tuple[float, float, float] = (1.2, 0.9, 1.1)) -> list[dict]:
    """The same in the standard parameterization: widths 6 and 9, the last layer without bias."""
    return [std(W[0], 0.3, 6), activation, std(W[1], 0.0, 9), activation, std(W[2], None, 1)]


#: Smaller weights for the activations whose second moment grows fast with the variance.
SMALL_W = (0.5, 0.4, 1.0)


#: The activations new in nngp_ntk's layer algebra, with the parameters each is tested at.
NEW_ACTIVATIONS = [
    act("Monomial", degree=0), act("Monomial", degree=1), act("Monomial", degree=2),
    act("Monomial", degree=3), act("Monomial", degree=5),
    act("RectifiedMonomial", degree=0), act("RectifiedMonomial", degree=1),
    act("RectifiedMonomial", degree=2), act("RectifiedMonomial", degree=3),
    act("Polynomial", coef=[0.1, 1.0, -0.5, 0.3]), act("Polynomial", coef=[0.0, 0.0, 1.0]),
    act("Polynomial", coef=[-0.3, 0.7]),
    act("Gaussian"), act("Gaussian", a=1.4, b=-0.3), act("Gaussian", a=0.8, b=0.15),
    act("Exp"), act("Exp", a=0.7, b=-0.6),
]

#: neural-tangents assumes unit-variance inputs to Hermite (its kernel is rho^n), so Hermite
#: always follows a LayerNorm here, where that holds exactly.
HERMITE_DEGREES = (0, 1, 2, 3, 4)


def kernel_cases() -> list[dict]:
    """(name, group, spec) of every kernel case."""
    cases = []

    def add(name: str, group: str, spec: list[dict]) -> None:
        cases.append({"name": name, "group": group, "spec": spec})

    for activation in NEW_ACTIVATIONS:
        label = activation["layer"] + "(" + ",".join(f"{k}={v}" for k, v in activation.items()
                                                     if k != "layer") + ")"
        if activation["layer"] == "Gaussian" and activation.get("b", -1.0) > 0:
            # E[phi^2] is finite only for b < 1 / (4 K): keep the pre-activation variances small.
            spec = [dense(0.5, 0.1), activation, dense(0.6, 0.1), activation, dense(1.0, 0.2)]
            add(label + "-ntk", activation["layer"], spec)
            continue
        if activation["layer"] == "RectifiedMonomial":
            # neural-tangents' RectifiedMonomial is NaN at correlation 1, in its variances too, so
            # any layer after it that reads them (an activation, LayerNorm) is NaN everywhere:
            # here it is the last activation, after another one.
            add(label + "-ntk", activation["layer"],
                [dense(1.3, 0.2), act("Erf"), dense(1.1, 0.1), activation, dense(0.9, 0.3)])
            add(label + "-standard", activation["layer"],
                [std(1.2, 0.3, 6), act("ReLU"), std(0.9, 0.0, 9), activation, std(1.1, None, 1)])
            add(label + "-single-ntk", activation["layer"], [dense(1.2, 0.1), activation, dense(1.0, 0.2)])
            continue
        fast_growing = activation["layer"] == "Exp" or activation.get("degree", 0) >= 3
        W = SMALL_W if fast_growing else (1.3, 1.1, 0.9)
        add(label + "-ntk", activation["layer"], two_layer(activation, W))
        add(label + "-standard", activation["layer"],
            two_layer_standard(activation, W if fast_growing else (1.2, 0.9, 1.1)))
    for degree in HERMITE_DEGREES:
        hermite = act("Hermite", degree=degree)
        add(f"Hermite({degree})-ntk", "Hermite",
            [dense(1.3, 0.2), LAYERNORM, hermite, dense(1.1, 0.1), LAYERNORM, hermite, dense(0.9, 0.3)])
        add(f"Hermite({degree})-standard", "Hermite",
            [std(1.2, 0.3, 6), LAYERNORM, hermite, std(0.9, None, 9), LAYERNORM, hermite, std(1.1, 0.0, 1)])

    add("mixed-relu-erf-gelu", "mixed",
        [dense(1.5, 0.1), act("ReLU"), dense(1.2, 0.0), act("Erf", a=1.3, b=0.7, c=0.4),
         dense(1.1, 0.4), act("GELU"), dense(0.8, 0.05)])
    add("mixed-sin-monomial-abs", "mixed",
        [dense(1.0, 0.3), act("Sin", a=1.2, b=0.8, c=0.3), dense(1.4, 0.1), act("Monomial", degree=2),
         dense(0.7, 0.2), act("Abs"), dense(1.0, 0.0)])
    add("mixed-leaky-gaussian-exp-sign", "mixed",
        [dense(1.2, 0.2), act("LeakyReLU", negative_slope=0.2), dense(0.9, 0.1), act("Gaussian", a=1.2, b=-0.4),
         dense(1.3, 0.0), act("Exp", a=0.8, b=0.5), dense(0.6, 0.2), act("Sign"), dense(1.1, 0.1)])
    add("mixed-cos-polynomial-identity-rectified", "mixed",
        [dense(0.9, 0.2), act("Cos", a=0.9, b=1.1, c=-0.2), dense(1.2, 0.3),
         act("Polynomial", coef=[0.2, -0.4, 0.5]), dense(0.8, 0.0), act("Identity"), dense(1.0, 0.1),
         act("RectifiedMonomial", degree=2), dense(1.3, 0.2)])
    add("mixed-standard", "mixed",
        [std(1.3, 0.1, 7), act("Erf"), std(1.1, None, 5), act("ReLU"), std(0.9, 0.2, 8),
         act("Monomial", degree=3), std(1.0, 0.0, 1)])
    add("mixed-parameterizations", "mixed",
        [dense(1.2, 0.1, "ntk", 7), act("ReLU"), std(1.1, 0.2, 9), act("Erf"), dense(0.9, 0.3, "ntk", 4),
         act("GELU"), std(1.0, None, 1)])

    # neural-tangents' FanInSum needs Gaussian inputs: every residual here acts on the output of a
    # Dense (or of another residual) and its block ends in a Dense or a LayerNorm.
    add("residual-relu", "residual",
        [dense(1.4, 0.1), residual(dense(1.2, 0.2), act("ReLU"), dense(0.8, 0.0)), act("ReLU"), dense(1.0, 0.1)])
    add("residual-dense-only-block", "residual",
        [dense(1.1, 0.2), residual(dense(0.8, 0.1)), act("Erf"), dense(0.9, 0.3)])
    add("residual-block-ends-in-layernorm", "residual",
        [dense(1.1, 0.2), residual(dense(1.4, 0.0), act("Erf"), dense(1.2, 0.1), LAYERNORM), act("GELU"),
         dense(0.9, 0.3)])
    add("residual-two-blocks", "residual",
        [dense(1.3, 0.1), residual(dense(1.0, 0.1), act("GELU"), dense(1.2, 0.0)),
         residual(dense(0.7, 0.3), act("Sin"), dense(0.9, 0.1)), act("ReLU"), dense(1.1, 0.2)])
    add("residual-nested", "residual",
        [dense(1.2, 0.1), residual(dense(1.1, 0.2), act("ReLU"), dense(0.8, 0.0),
                                   residual(dense(0.9, 0.1), act("Erf"), dense(1.0, 0.2))),
         act("Abs"), dense(1.0, 0.1)])
    add("residual-layernorm", "residual",
        [dense(1.5, 0.2), residual(dense(1.2, 0.1), act("ReLU"), dense(1.0, 0.0)), LAYERNORM,
         act("Monomial", degree=2), dense(0.9, 0.1)])
    add("residual-standard", "residual",
        [std(1.3, 0.2, 6), residual(std(1.1, None, 6), act("Erf"), std(0.9, 0.1, 6)), act("ReLU"),
         std(1.2, 0.0, 1)])

    add("layernorm-before-activation", "layernorm",
        [dense(1.6, 0.3), LAYERNORM, act("ReLU"), dense(1.2, 0.1), LAYERNORM, act("Erf"), dense(1.0, 0.0)])
    add("layernorm-after-dense", "layernorm",
        [dense(1.3, 0.2), act("GELU"), dense(1.1, 0.1), LAYERNORM, dense(0.8, 0.4)])
    add("layernorm-last", "layernorm", [dense(1.2, 0.1), act("Sin"), dense(1.5, 0.2), LAYERNORM])
    add("layernorm-standard", "layernorm",
        [std(1.4, 0.1, 7), LAYERNORM, act("ReLU"), std(1.0, None, 5), LAYERNORM, act("Abs"), std(1.1, 0.2, 1)])

    add("standard-nobias-relu", "standard-nobias",
        [std(1.4, None, 8), act("ReLU"), std(1.2, None, 12), act("ReLU"), std(1.0, None, 1)])
    add("standard-zerobias-relu", "standard-nobias",
        [std(1.4, 0.0, 8), act("ReLU"), std(1.2, 0.0, 12), act("ReLU"), std(1.0, 0.0, 1)])
    add("standard-nobias-erf-gelu", "standard-nobias",
        [std(1.1, None, 5), act("Erf", a=1.3, b=0.7, c=0.4), std(1.3, 0.2, 10), act("GELU"), std(0.9, None, 3)])
    add("ntk-nobias-relu", "standard-nobias",
        [dense(1.4, None), act("ReLU"), dense(1.2, None), act("ReLU"), dense(1.0, None)])
    add("dense-only", "standard-nobias", [dense(1.3, 0.2)])
    add("dense-only-standard-nobias", "standard-nobias", [std(1.3, None, 3)])
    return cases


def gradient_cases() -> list[dict]:
    """(name, spec, hyper) of every gradient case: the hyperparameters are every Dense's W_std and
    b_std (when present) and the listed activation parameters."""
    specs = {
        "relu": [dense(1.4, 0.1), act("ReLU"), dense(1.2, 0.3), act("ReLU"), dense(0.9, 0.2)],
        "erf-layernorm": [dense(1.3, 0.2), act("Erf", a=1.3, b=0.7, c=0.4), dense(1.1, 0.1), LAYERNORM,
                          act("GELU"), dense(1.0, 0.1)],
        "residual": [dense(1.2, 0.1), residual(dense(1.1, 0.2), act("Sin", a=1.2, b=0.8, c=0.3), dense(0.9, 0.0)),
                     act("ReLU"), dense(1.0, 0.2)],
        "standard-nobias": [std(1.4, None, 8), act("ReLU"), std(1.2, 0.1, 12), act("LeakyReLU", negative_slope=0.2),
                            std(1.0, None, 1)],
        "gaussian-exp": [dense(1.0, 0.2), act("Gaussian", a=1.2, b=-0.4), dense(1.3, 0.1), act("Exp", a=0.8, b=0.5),
                         dense(0.7, 0.1)],
        "monomial-polynomial": [dense(1.1, 0.1), act("Monomial", degree=3), dense(0.8, 0.2),
                                act("Polynomial", coef=[0.1, 1.0, -0.5, 0.3]), dense(1.0, 0.0)],
        "hermite": [dense(1.3, 0.2), LAYERNORM, act("Hermite", degree=3), dense(1.1, 0.1), LAYERNORM,
                    act("Hermite", degree=2), dense(0.9, 0.3)],
        "rectified-monomial": [dense(1.2, 0.1), act("Erf", a=1.3, b=0.7, c=0.4), dense(1.0, 0.2),
                               act("RectifiedMonomial", degree=3), dense(0.9, 0.1)],
        "rectified-monomial-single": [dense(1.2, 0.1), act("RectifiedMonomial", degree=1), dense(0.9, 0.1)],
        "abs-sign": [dense(1.3, 0.2), act("Abs"), dense(1.1, 0.1), act("Sign"), dense(1.0, 0.1)],
    }
    activation_parameters = {"Erf": ("a", "b", "c"), "Sin": ("a", "b", "c"), "Gaussian": ("a", "b"),
                             "Exp": ("a", "b"), "LeakyReLU": ("negative_slope",)}
    cases = []
    for name, spec in specs.items():
        hyper = []

        def walk(layers: list[dict], prefix: list[int]) -> None:
            for index, layer in enumerate(layers):
                path = prefix + [index]
                if layer["layer"] == "dense":
                    hyper.append({"path": path, "key": "W_std"})
                    if layer["b_std"] is not None:
                        hyper.append({"path": path, "key": "b_std"})
                elif layer["layer"] == "residual":
                    walk(layer["block"], path)
                else:
                    hyper.extend({"path": path, "key": key}
                                 for key in activation_parameters.get(layer["layer"], ()) if key in layer)

        walk(spec, [])
        cases.append({"name": name, "spec": spec, "hyper": hyper})
    return cases


def locate(spec: list[dict], path: list[int]) -> dict:
    """The layer at ``path`` (index, then indices inside nested residual blocks)."""
    layer = spec[path[0]]
    for index in path[1:]:
        layer = layer["block"][index]
    return layer


def with_hyperparameters(spec: list[dict], hyper: list[dict], values) -> list[dict]:
    """A copy of spec with the hyperparameters at ``hyper`` set to ``values`` (possibly tracers)."""
    spec = copy.deepcopy(spec)
    for entry, value in zip(hyper, values):
        locate(spec, entry["path"])[entry["key"]] = value
    return spec


# ----------------------------------------------------------------------------- neural-tangents

def nt_activation(layer: dict):
    kwargs = {k: v for k, v in layer.items() if k != "layer"}
    name = layer["layer"]
    simple = {"ReLU": stax.Relu, "Abs": stax.Abs, "GELU": stax.Gelu, "Identity": stax.Identity,
              "Sign": stax.Sign, "Erf": stax.Erf, "Sin": stax.Sin, "Cos": stax.Cos,
              "Monomial": stax.Monomial, "RectifiedMonomial": stax.RectifiedMonomial,
              "Polynomial": stax.Polynomial, "Hermite": stax.Hermite, "Gaussian": stax.Gaussian,
              "Exp": stax.Exp, "ABReLU": stax.ABRelu}
    if name == "LeakyReLU":
        return stax.LeakyRelu(kwargs["negative_slope"])
    return simple[name](**kwargs)


def nt_layers(spec: list[dict]) -> list:
    layers = []
    for layer in spec:
        kind = layer["layer"]
        if kind == "dense":
            width = layer["width"] if layer["width"] is not None else DEFAULT_WIDTH
            layers.append(stax.Dense(width, W_std=layer["W_std"], b_std=layer["b_std"],
                                     parameterization=layer["parameterization"]))
        elif kind == "layernorm":
            layers.append(stax.LayerNorm(axis=-1))
        elif kind == "residual":
            block = stax.serial(*nt_layers(layer["block"]))
            layers.append(stax.serial(stax.FanOut(2), stax.parallel(stax.Identity(), block), stax.FanInSum()))
        else:
            layers.append(nt_activation(layer))
    return layers


def nt_kernel_fn(spec: list[dict]):
    return stax.serial(*nt_layers(spec))[2]


# ----------------------------------------------------------------------------- data

def inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x1 (6, 4) with x . x / d from about 0.04 to 3; x2 (5, 4) with x2[0] = x1[0] and
    x2[1] = -2 x1[2]; x3 (5, 4) generic (no duplicate or parallel rows)."""
    rng = np.random.default_rng(20261201)
    d = 4
    x1 = rng.standard_normal((6, d)) * np.array([0.2, 0.4, 0.7, 1.0, 1.3, 1.8])[:, None]
    x2 = rng.standard_normal((5, d)) * np.array([1.0, 1.0, 0.4, 1.5, 0.8])[:, None]
    x2[0] = x1[0]
    x2[1] = -2.0 * x1[2]
    x3 = rng.standard_normal((5, d)) * np.array([0.3, 0.6, 0.9, 1.2, 1.6])[:, None]
    return x1, x2, x3


def central_difference(f, x: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """d f / d x by fourth-order central differences, entry by entry."""
    x = np.asarray(x, dtype=np.float64)
    grad = np.empty_like(x)
    for index in np.ndindex(x.shape):
        values = []
        for shift in (-2, -1, 1, 2):
            y = x.copy()
            y[index] += shift * step
            values.append(float(f(y)))
        grad[index] = (values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * step)
    return grad


def difference_error(grad: np.ndarray, f, x: np.ndarray) -> tuple[float, np.ndarray]:
    """max|grad - central differences| / max|central differences|, and the differences."""
    reference = central_difference(f, x)
    return float(np.max(np.abs(grad - reference)) / max(np.max(np.abs(reference)), 1e-300)), reference


def gradients(case: dict, x1: np.ndarray, x3: np.ndarray, r12: np.ndarray, r11: np.ndarray) -> dict:
    """Gradients of L12, L11 and L11 with the diagonal for one case (see the module docstring).
    Every autodiff gradient stored must agree with central differences to 1e-6."""
    spec, hyper = case["spec"], case["hyper"]
    h0 = np.array([locate(spec, entry["path"])[entry["key"]] for entry in hyper], dtype=np.float64)
    out, diagonal, errors = {}, {}, []
    for kernel in KERNELS:
        def l12(a, b, h):
            return jnp.sum(r12 * nt_kernel_fn(with_hyperparameters(spec, hyper, h))(a, b, kernel))

        def l11(a, h, weights):
            return jnp.sum(weights * nt_kernel_fn(with_hyperparameters(spec, hyper, h))(a, None, kernel))

        l12, l11 = jax.jit(l12), jax.jit(l11)
        g_x1, g_x3, g_h = (np.asarray(g) for g in jax.grad(l12, argnums=(0, 1, 2))(x1, x3, h0))
        for value, f, x, what in ((g_x1, lambda a: l12(a, x3, h0), x1, "x1"),
                                  (g_x3, lambda b: l12(x1, b, h0), x3, "x3"),
                                  (g_h, lambda h: l12(x1, x3, h), h0, "hyperparameters")):
            assert np.all(np.isfinite(value)), (case["name"], kernel, what)
            error, _ = difference_error(value, f, x)
            assert error <= 1e-6, f"{case['name']} {kernel} dL12/d{what}: {error:.1e} from central differences"
            errors.append(error)
        out[f"g12_x1_{kernel}"], out[f"g12_x3_{kernel}"], out[f"g12_h_{kernel}"] = g_x1, g_x3, g_h

        g11_x1, g11_h = (np.asarray(g) for g in jax.grad(l11, argnums=(0, 1))(x1, h0, r11))
        if np.all(np.isfinite(g11_x1)) and np.all(np.isfinite(g11_h)):
            for value, f, x, what in ((g11_x1, lambda a: l11(a, h0, r11), x1, "x1"),
                                      (g11_h, lambda h: l11(x1, h, r11), h0, "hyperparameters")):
                error, _ = difference_error(value, f, x)
                assert error <= 1e-6, f"{case['name']} {kernel} dL11/d{what}: {error:.1e} from central differences"
                errors.append(error)
        out[f"g11_x1_{kernel}"], out[f"g11_h_{kernel}"] = g11_x1, g11_h

        # The diagonal weighted too (r11 + identity): correlations of exactly 1. Central
        # differences are only a rough check there: K(x, x) comes out of arccos(rho) with rho = 1
        # up to rounding, and arccos(1 - 1e-16) = 1.5e-8, noise that the differences amplify.
        weights = r11 + np.eye(r11.shape[0])
        g11d_x1, g11d_h = (np.asarray(g) for g in jax.grad(l11, argnums=(0, 1))(x1, h0, weights))
        finite = bool(np.all(np.isfinite(g11d_x1)) and np.all(np.isfinite(g11d_h)))
        diagonal[kernel] = {"finite": finite}
        if finite:
            diagonal[kernel]["difference_error_x1"] = difference_error(g11d_x1, lambda a: l11(a, h0, weights), x1)[0]
            diagonal[kernel]["difference_error_h"] = difference_error(g11d_h, lambda h: l11(x1, h, weights), h0)[0]
        out[f"g11d_x1_{kernel}"], out[f"g11d_h_{kernel}"] = g11d_x1, g11d_h
    case["nt_diagonal_gradient"] = diagonal
    case["max_difference_error"] = max(errors, default=None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1] / "tests/data/nt_layers.npz")
    args = parser.parse_args()

    x1, x2, x3 = inputs()
    rng = np.random.default_rng(7)
    r12 = rng.standard_normal((x1.shape[0], x3.shape[0]))
    r11 = rng.standard_normal((x1.shape[0], x1.shape[0]))
    r11 = r11 + r11.T
    np.fill_diagonal(r11, 0.0)

    cases = kernel_cases()
    kernels: dict[str, list[np.ndarray]] = {f"{k}_{s}": [] for k in KERNELS for s in ("12", "11")}
    for case in cases:
        kernel_fn = nt_kernel_fn(case["spec"])
        cross, same = kernel_fn(x1, x2, KERNELS), kernel_fn(x1, None, KERNELS)
        for kernel in KERNELS:
            for suffix, value in (("12", getattr(cross, kernel)), ("11", getattr(same, kernel))):
                value = np.asarray(value)
                assert value.dtype == np.float64, case["name"]
                kernels[f"{kernel}_{suffix}"].append(value)
        nan = sum(int(np.sum(np.isnan(kernels[f"{k}_{s}"][-1]))) for k in KERNELS for s in ("12", "11"))
        infinite = sum(int(np.sum(np.isinf(kernels[f"{k}_{s}"][-1]))) for k in KERNELS for s in ("12", "11"))
        assert infinite == 0, case["name"]
        largest = max(float(np.nanmax(np.abs(kernels[f"{k}_{s}"][-1]))) for k in KERNELS for s in ("12", "11"))
        print(f"  {case['name']}: max |K| {largest:.3g}"
              + (f", {nan} NaN entries in neural-tangents' kernels (skipped by the test)" if nan else ""))

    grad_cases = gradient_cases()
    grads: dict[str, list[np.ndarray]] = {}
    for case in grad_cases:
        for key, value in gradients(case, x1, x3, r12, r11).items():
            grads.setdefault(key, []).append(value)
        print(f"  gradients {case['name']}: {len(case['hyper'])} hyperparameters, autodiff vs central "
              f"differences <= {case['max_difference_error']:.1e}; with the diagonal: {case['nt_diagonal_gradient']}")
    # Hyperparameter vectors differ in length between cases: pad with NaN to stack them.
    width = max(len(case["hyper"]) for case in grad_cases)
    for key in [k for k in grads if "_h_" in k]:
        grads[key] = [np.pad(g, (0, width - g.size), constant_values=np.nan) for g in grads[key]]

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, cases=np.array(json.dumps(cases)), grad_cases=np.array(json.dumps(grad_cases)),
                        x1=x1, x2=x2, x3=x3, r12=r12, r11=r11,
                        **{key: np.stack(values) for key, values in kernels.items()},
                        **{key: np.stack(values) for key, values in grads.items()})
    print(f"wrote {len(cases)} kernel cases and {len(grad_cases)} gradient cases to {args.out} "
          f"({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
