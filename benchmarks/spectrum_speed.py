"""Time the top-k eigenvalues of K/N by randomized block Krylov (``spectrum.eigh``, method="randomized").

For each N: ReLU NTK (depth 3) on N uniform points of the sphere in R^dim; prints the passes over
the kernel, the time spent in kernel products (kernel tiles + matmuls) and in the rest
(orthogonalization, Ritz values), and, with --dense-check, the largest relative error against the
dense eigenvalues. Each run is appended, with its command line, date and load average, to the runs
of the result file benchmarks/results/spectrum_speed.json (``benchmarks/_harness.py``).

    PYTHONPATH=. python benchmarks/spectrum_speed.py --n 5000 10000 --top-k 1000 [--dense-check]
"""

from __future__ import annotations

import argparse
import datetime
import os
import time

import numpy as np

import _harness
import nngp_ntk as nk
from nngp_ntk import data, spectrum

RESULTS = _harness.result_path("spectrum_speed.json")


def run(n: int, top_k: int, dim: int, block_size: int | None, dense_check: bool) -> dict:
    net = nk.FullyConnected(depth=3, activation="relu", W_std=1.0, b_std=0.1)
    X = data.sphere(n, dim, seed=0)
    product = spectrum.kernel_product(net, X, "ntk")
    timing = {"product_s": 0.0}

    def timed(Q: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        out = product(Q)
        timing["product_s"] += time.perf_counter() - start
        return out

    # instrumentation: time the orthogonalization and the Ritz values as well
    originals = {name: getattr(spectrum, name) for name in ("_orthonormal", "_ritz")}
    for name, original in originals.items():
        timing[name] = 0.0

        def wrapped(*args, _original=original, _name=name, **kwargs):
            start = time.perf_counter()
            result = _original(*args, **kwargs)
            timing[_name] += time.perf_counter() - start
            return result

        setattr(spectrum, name, wrapped)
    try:
        system, total = _harness.time_once(
            lambda: spectrum.randomized_eigh(timed, n, top_k, block_size=block_size, progress=True))
    finally:
        for name, original in originals.items():
            setattr(spectrum, name, original)
    total = total.seconds
    record = {"n": n, "top_k": top_k, "dim": dim, "block_size": block_size or max(-(-top_k // 2), 16),
              "passes": system.passes, "basis": system.passes * (block_size or max(-(-top_k // 2), 16)),
              "converged": system.converged, "total_s": round(total, 1),
              "product_s": round(timing["product_s"], 1), "orthogonalize_s": round(timing["_orthonormal"], 1),
              "ritz_s": round(timing["_ritz"], 1),
              "cpus": os.cpu_count(), "load_average": os.getloadavg()[0]}
    if dense_check:
        dense = spectrum.eigenvalues(net, X, kernel="ntk", method="dense")[:top_k]
        record["max_rel_error"] = float(np.max(np.abs(system.values - dense) / dense))
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[5000, 10000])
    parser.add_argument("--top-k", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--block-size", type=int, default=None)
    parser.add_argument("--dense-check", action="store_true")
    args = parser.parse_args()
    print("| N | top k | block | passes | converged | total s | products s | load average |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.n:
        started = _harness.machine()
        record = run(n, args.top_k, args.dim, args.block_size, args.dense_check)
        print(f"| {n} | {record['top_k']} | {record['block_size']} | {record['passes']} | {record['converged']} | "
              f"{record['total_s']} | {record['product_s']} | {record['load_average']:.2f} |", flush=True)
        command = _harness.command_line()
        record.update(command=command, date=datetime.date.today().isoformat())
        runs = (_harness.read_result(RESULTS) or {"results": {"runs": []}})["results"]["runs"]
        _harness.write_result(RESULTS, {"runs": [*runs, record]}, started, command)


if __name__ == "__main__":
    main()
