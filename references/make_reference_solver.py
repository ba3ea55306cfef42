"""Reference predictions from neural-tangents 0.6.5 for tests/solver/test_solver.py (run in the pinned env):

    /path/to/ntenv/bin/python references/make_reference_solver.py

Writes tests/data/nt_predict.npz: for two architectures, ridge in {0, 0.01}, 1-D and 2-D targets,
get in {"nngp", "ntk"}: the means and test-test covariances of
``nt.predict.gradient_descent_mse_ensemble`` at several times t and at t=None, in float64.

Conventions mapped: neural-tangents' loss is 0.5 * mean over all entries of y (its
``y_train.size`` normalization, as ours); our absolute ``ridge`` is its
``diag_reg=ridge, diag_reg_absolute_scale=True`` (its default would scale diag_reg by
trace(K) / N); a 1-D y of ours is its y of shape (N, 1) with trace_axes=(-1,). Also stored:
the NT kernels of the first architecture (to test the solver alone) and its maximal learning rate
(nt.predict.max_learning_rate's formula; see below).
"""

from __future__ import annotations

import json
import pathlib

import jax

jax.config.update("jax_enable_x64", True)

import neural_tangents as nt  # noqa: E402
import numpy as np  # noqa: E402
from neural_tangents import stax  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data" / "nt_predict.npz"
#: FullyConnected keyword arguments of each architecture (the test builds the same networks).
ARCHITECTURES = {
    "relu": {"depth": 2, "activation": "relu", "W_std": 1.5, "b_std": 0.1},
    "erf": {"depth": 1, "activation": "erf", "W_std": 1.2, "b_std": 0.3},
}
ACTIVATIONS = {"relu": stax.Relu, "erf": stax.Erf}
TIMES = np.array([0.0, 0.3, 2.0, 20.0, 200.0])
LEARNING_RATE = 0.7
RIDGES = (0.0, 0.01)
N_TRAIN, N_TEST, DIM, OUTPUTS = 24, 7, 5, 3


def stax_kernel_fn(depth: int, activation: str, W_std: float, b_std: float):
    """neural-tangents' kernel_fn of [Dense, phi] * depth + Dense, NTK parameterization."""
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(512, W_std=W_std, b_std=b_std), ACTIVATIONS[activation]()]
    layers.append(stax.Dense(1, W_std=W_std, b_std=b_std))
    return stax.serial(*layers)[2]


def main() -> None:
    rng = np.random.default_rng(20240611)
    x_train = rng.standard_normal((N_TRAIN, DIM))
    x_test = rng.standard_normal((N_TEST, DIM))
    targets = {"y1": rng.standard_normal(N_TRAIN), "y2": rng.standard_normal((N_TRAIN, OUTPUTS))}
    out = {"x_train": x_train, "x_test": x_test, "times": TIMES, "learning_rate": np.array(LEARNING_RATE),
           "ridges": np.array(RIDGES), "architectures": np.array(json.dumps(ARCHITECTURES)), **targets}
    for arch, params in ARCHITECTURES.items():
        kernel_fn = stax_kernel_fn(**params)
        if arch == "relu":
            for name, (a, b) in {"train_train": (x_train, None), "test_train": (x_test, x_train),
                                 "test_test": (x_test, None)}.items():
                k = kernel_fn(a, b, ("nngp", "ntk"))
                out[f"kernel_nngp_{name}"] = np.asarray(k.nngp)
                out[f"kernel_ntk_{name}"] = np.asarray(k.ntk)
            # nt.predict.max_learning_rate's formula, 2 y.size / (lambda_max + eps); the function itself
            # calls scipy.linalg.eigvalsh(eigvals=...), a keyword that SciPy 1.14 and later lack.
            lambda_max = np.linalg.eigvalsh(out["kernel_ntk_train_train"])[-1]
            out["max_learning_rate_y2"] = np.array(2 * N_TRAIN * OUTPUTS / (lambda_max + 1e-12))
        for r, ridge in enumerate(RIDGES):
            for yname, y in targets.items():
                y2d = y.reshape(N_TRAIN, -1)
                predict_fn = nt.predict.gradient_descent_mse_ensemble(
                    kernel_fn, x_train, y2d, learning_rate=LEARNING_RATE, diag_reg=ridge,
                    diag_reg_absolute_scale=True)
                for get in ("nngp", "ntk"):
                    key = f"{arch}_r{r}_{yname}_{get}"
                    finite = predict_fn(t=TIMES, x_test=x_test, get=get, compute_cov=True)
                    infinite = predict_fn(t=None, x_test=x_test, get=get, compute_cov=True)
                    out[f"{key}_mean_t"] = np.asarray(finite.mean).reshape((len(TIMES), N_TEST) + y.shape[1:])
                    out[f"{key}_cov_t"] = np.asarray(finite.covariance)
                    out[f"{key}_mean_inf"] = np.asarray(infinite.mean).reshape((N_TEST,) + y.shape[1:])
                    out[f"{key}_cov_inf"] = np.asarray(infinite.covariance)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(out)} arrays)")


if __name__ == "__main__":
    main()
