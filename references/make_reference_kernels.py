"""Write tests/data/nt_kernels.npz: float64 NNGP and NTK from neural-tangents 0.6.5 for the tests.

Run in the pinned neural-tangents environment (never imported by the package itself):

    /path/to/ntenv/bin/python references/make_reference_kernels.py [--out tests/data/nt_kernels.npz]

Every case is the network ``stax.serial(*[Dense(n, W_l, b_l, parameterization), phi] * depth,
Dense(1, W_depth, b_depth, parameterization))`` and its ``kernel_fn`` on two fixed input sets
(rows of different norms, and rows of x2 that are exactly parallel / anti-parallel to rows of
x1, so correlations of +-1 are exercised). The file holds

    cases     JSON list of dicts: activation class name in ``nngp_ntk.activations`` and its keyword
              arguments, depth, parameterization, width, W_std and b_std (scalar or per-layer list)
    x1, x2    the inputs, shapes (N1, d) and (N2, d)
    nngp_12, ntk_12   (cases, N1, N2): kernel_fn(x1, x2)
    nngp_11, ntk_11   (cases, N1, N1): kernel_fn(x1, None)

In the standard parameterization neural-tangents' Dense adds ``fan_in * nngp_in + 1`` to the NTK
(the +1 because the bias exists, even with b_std = 0), fan_in being d for the first layer and n for
the others; ``nngp_ntk.FullyConnected(parameterization="standard", width=n)`` uses the same rule.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from neural_tangents import stax  # noqa: E402

# Activation class name in nngp_ntk.activations, its keyword arguments, the neural-tangents layer.
ACTIVATIONS = [
    ("ReLU", {}, lambda: stax.Relu()),
    ("LeakyReLU", {"negative_slope": 0.2}, lambda: stax.LeakyRelu(0.2)),
    ("ABReLU", {"a": -0.4, "b": 1.3}, lambda: stax.ABRelu(-0.4, 1.3)),
    ("Abs", {}, lambda: stax.Abs()),
    ("Erf", {}, lambda: stax.Erf()),
    ("Erf", {"a": 1.3, "b": 0.7, "c": 0.4}, lambda: stax.Erf(1.3, 0.7, 0.4)),
    ("GELU", {}, lambda: stax.Gelu()),
    ("Identity", {}, lambda: stax.Identity()),
    ("Sin", {"a": 1.2, "b": 0.8, "c": 0.3}, lambda: stax.Sin(1.2, 0.8, 0.3)),
    ("Cos", {"a": 0.9, "b": 1.1, "c": -0.2}, lambda: stax.Cos(0.9, 1.1, -0.2)),
    ("Sign", {}, lambda: stax.Sign()),
]
DEPTHS = (0, 1, 2, 5)
# (parameterization, hidden width): the width only enters the standard NTK.
PARAMETERIZATIONS = (("ntk", None), ("standard", 16))


def weight_settings(depth: int) -> list[tuple[float | list[float], float | list[float]]]:
    """(W_std, b_std) pairs: scalar without bias, scalar with bias, per-layer with some b_l = 0."""
    layers = depth + 1
    per_layer_w = [round(w, 6) for w in np.linspace(0.8, 1.6, layers)]
    per_layer_b = [0.0 if layer % 2 else round(0.05 + 0.1 * layer, 6) for layer in range(layers)]
    return [(1.4, 0.0), (1.1, 0.3), (per_layer_w, per_layer_b)]


def inputs() -> tuple[np.ndarray, np.ndarray]:
    """x1 (6, 5) with row norms spread over two decades; x2 (4, 5) with x2[0] = x1[0] and
    x2[1] = -2 x1[2] (correlation exactly +1 and -1 at the first layer)."""
    rng = np.random.default_rng(20240601)
    d = 5
    x1 = rng.standard_normal((6, d)) * np.array([0.1, 0.5, 1.0, 1.5, 3.0, 6.0])[:, None]
    x2 = rng.standard_normal((4, d)) * np.array([1.0, 1.0, 0.3, 2.5])[:, None]
    x2[0] = x1[0]
    x2[1] = -2.0 * x1[2]
    return x1, x2


def per_layer(value: float | list[float], layer: int) -> float:
    return value[layer] if isinstance(value, list) else value


def network(make_activation, depth: int, parameterization: str, width: int | None,
            W_std: float | list[float], b_std: float | list[float]):
    """The neural-tangents kernel_fn of [Dense(width), phi] * depth + Dense(1)."""
    hidden_width = width if width is not None else 512  # ignored by the ntk parameterization
    layers = []
    for layer in range(depth):
        layers += [stax.Dense(hidden_width, W_std=per_layer(W_std, layer), b_std=per_layer(b_std, layer),
                              parameterization=parameterization),
                   make_activation()]
    layers.append(stax.Dense(1, W_std=per_layer(W_std, depth), b_std=per_layer(b_std, depth),
                             parameterization=parameterization))
    return stax.serial(*layers)[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests/data/nt_kernels.npz")
    args = parser.parse_args()

    x1, x2 = inputs()
    cases, results = [], {"nngp_12": [], "ntk_12": [], "nngp_11": [], "ntk_11": []}
    for (name, kwargs, make), depth, (parameterization, width) in itertools.product(
            ACTIVATIONS, DEPTHS, PARAMETERIZATIONS):
        for W_std, b_std in weight_settings(depth):
            kernel_fn = network(make, depth, parameterization, width, W_std, b_std)
            k12 = kernel_fn(x1, x2, ("nngp", "ntk"))
            k11 = kernel_fn(x1, None, ("nngp", "ntk"))
            for key, value in (("nngp_12", k12.nngp), ("ntk_12", k12.ntk),
                               ("nngp_11", k11.nngp), ("ntk_11", k11.ntk)):
                value = np.asarray(value)
                assert value.dtype == np.float64 and np.all(np.isfinite(value)), (name, key)
                results[key].append(value)
            cases.append({"activation": name, "kwargs": kwargs, "depth": depth,
                          "parameterization": parameterization, "width": width,
                          "W_std": W_std, "b_std": b_std})

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, cases=np.array(json.dumps(cases)), x1=x1, x2=x2,
                        **{key: np.stack(values) for key, values in results.items()})
    print(f"wrote {len(cases)} cases to {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
