"""Timings of nngp_ntk.solver: the dense path against scikit-learn and SciPy, and the large-N CG path.

    PYTHONPATH=. python benchmarks/solver_speed.py                     # dense sizes + N = 40000
    PYTHONPATH=. python benchmarks/solver_speed.py --large 0           # dense sizes only
    PYTHONPATH=. python benchmarks/solver_speed.py --memmap /tmp/k     # the large kernel read from disk

Data: N + M points on the sphere of radius sqrt(d) in d = 20, targets y = sin(2 x_0) + x_1 x_2 / 2,
a depth-2 ReLU network (W_std = 1.5, b_std = 0.1), float32 NTK kernels (the default).

Dense part, per N (ridge = 1e-3 so every method is well posed): the t = None mean by
``solver.gradient_flow`` (float64 Cholesky), by scikit-learn ``KernelRidge(kernel="precomputed")``
and by ``scipy.linalg.solve(assume_a="pos")`` on the float64 kernel, and three finite times by one
eigendecomposition; seconds and the largest difference from SciPy relative to its largest entry.

Large part: the N x N kernel (float32 in memory, or a np.memmap with --memmap), then the t = None
mean at ridge = 0 by preconditioned CG (``method="auto"`` picks it past ``solver.DENSE_LIMIT``),
the means at --times by Lanczos, and the t = None mean's agreement with the dense float64 answer
on the first --subproblem points.

The machine is shared: times are one run each, wall clock; a part not run keeps its previous
results in the JSON file. On an oversubscribed machine run with OPENBLAS_NUM_THREADS=1 (measured:
a 2000 x 2000 Cholesky took 0.7 s on one thread and 4-7 s on two threads competing with other
processes). Results go to the result file benchmarks/results/solver_speed.json
(``benchmarks/_harness.py``), each part with the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib

import numpy as np
import scipy.linalg
from sklearn.kernel_ridge import KernelRidge

import _harness
import nngp_ntk as nk
from nngp_ntk import solver

RESULTS = _harness.result_path("solver_speed.json")
NET = nk.FullyConnected(depth=2, activation="relu", W_std=1.5, b_std=0.1)


def sphere_problem(n: int, m: int, dim: int = 20, seed: int = 0) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_test, y_test) with x on the sphere of radius sqrt(dim)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n + m, dim))
    x *= np.sqrt(dim) / np.linalg.norm(x, axis=1, keepdims=True)
    y = np.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2] / 2
    return x[:n], y[:n], x[n:], y[n:]


def timed(function, *args, **kwargs):
    """``function(*args, **kwargs)`` and its wall time in seconds (one call)."""
    result, timing = _harness.time_once(lambda: function(*args, **kwargs))
    return result, timing.seconds


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())


def dense_row(n: int, m: int, ridge: float = 1e-3) -> dict:
    x, y, xt, _ = sphere_problem(n, m)
    train, kernel_seconds = timed(NET.kernel, x, get="ntk")
    test_train = NET.kernel(xt, x, get="ntk")
    ours, ours_seconds = timed(solver.gradient_flow, train, y, test_train, None, ridge=ridge, method="dense")
    shifted = train.astype(np.float64) + ridge * np.eye(n)
    coefficients, scipy_seconds = timed(scipy.linalg.solve, shifted, y, assume_a="pos")
    reference = test_train.astype(np.float64) @ coefficients
    model, sklearn_fit = timed(KernelRidge(alpha=ridge, kernel="precomputed").fit, train, y)
    sklearn_mean, sklearn_predict = timed(model.predict, test_train)
    _, eigen_seconds = timed(solver.gradient_flow, train, y, test_train, [1.0, 100.0, 1e4], ridge=ridge,
                             method="dense")
    return {"n": n, "m": m, "kernel_s": kernel_seconds,
            "ours_t_none_s": ours_seconds, "ours_3_times_eigh_s": eigen_seconds,
            "scipy_solve_s": scipy_seconds, "sklearn_kernel_ridge_s": sklearn_fit + sklearn_predict,
            "ours_vs_scipy": relative(ours, reference), "sklearn_vs_scipy": relative(sklearn_mean, reference)}


def large_run(n: int, m: int, subproblem: int, memmap: pathlib.Path | None, times: list[float]) -> dict:
    x, y, xt, yt = sphere_problem(n, m)
    train, kernel_seconds = timed(NET.kernel, x, get="ntk")
    test_train = NET.kernel(xt, x, get="ntk")
    row = {"n": n, "m": m, "dtype": str(train.dtype), "kernel_s": kernel_seconds, "ridge": 0.0}
    if memmap is not None:
        memmap.mkdir(parents=True, exist_ok=True)
        path = memmap / "ntk_train.npy"
        np.save(path, train)
        del train
        train = np.load(path, mmap_mode="r")
        row["memmap"] = str(path)
    flow, setup_seconds = timed(solver.GradientFlow, train, y, method="auto")
    mean, solve_seconds = timed(flow.predict, test_train)
    row.update(method=type(flow.operator).__name__, setup_s=setup_seconds, solve_s=solve_seconds,
               cg_iterations=flow.operator.iterations[-1], tol=flow.operator.tol, rank=flow.operator.rank,
               test_r2=float(1 - np.mean((mean - yt) ** 2) / np.var(yt)))
    if times:
        means, lanczos_seconds = timed(flow.predict, test_train, times)
        row.update(times=times, lanczos_s=lanczos_seconds, lanczos_iterations=flow.operator.iterations[-1],
                   test_r2_at_times=[float(1 - np.mean((m - yt) ** 2) / np.var(yt)) for m in means])
    if subproblem:
        small, small_test = np.ascontiguousarray(train[:subproblem, :subproblem]), test_train[:, :subproblem]
        dense, dense_seconds = timed(solver.gradient_flow, small, y[:subproblem], small_test, method="dense")
        iterative, iterative_seconds = timed(solver.gradient_flow, small, y[:subproblem], small_test,
                                             method="iterative")
        row["subproblem"] = {"n": subproblem, "dense_s": dense_seconds, "iterative_s": iterative_seconds,
                             "iterative_vs_dense": relative(iterative, dense)}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dense-sizes", type=int, nargs="*", default=[1000, 2000, 4000])
    parser.add_argument("--large", type=int, default=40000, help="training points of the CG run (0: skip)")
    parser.add_argument("--test", type=int, default=1000, help="test points")
    parser.add_argument("--subproblem", type=int, default=8000, help="points of the dense-vs-CG check")
    parser.add_argument("--times", type=float, nargs="*", default=[10.0, 1000.0],
                        help="finite times of the large run (Lanczos)")
    parser.add_argument("--memmap", type=pathlib.Path, default=None, help="folder to store the large kernel in")
    args = parser.parse_args()
    started = _harness.machine()
    threads = {name: os.environ.get(name) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    environment = {"machine": started["platform"], "cpus": started["cpus"], "threads": threads}
    # Parts not run this time keep their previous results.
    results = (_harness.read_result(RESULTS) or {"results": {}})["results"]
    if args.dense_sizes:
        results["dense"] = {"environment": environment, "rows": []}
    for n in args.dense_sizes:
        row = dense_row(n, args.test)
        results["dense"]["rows"].append(row)
        print(" ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    if args.large:
        key = "large" if args.memmap is None else "large_memmap"
        results[key] = {"environment": environment, **large_run(args.large, args.test, args.subproblem, args.memmap,
                                                                   args.times)}
        print(json.dumps(results[key], indent=1), flush=True)
    _harness.write_result(RESULTS, results, started)


if __name__ == "__main__":
    main()
