"""Kernel speed and memory: nngp_ntk against the GEMM floor and neural-tangents 0.6.5, side by side.

    python benchmarks/kernel_speed.py                    # N in {2000, 5000, 10000}, depth in {1, 3, 10, 30}
    python benchmarks/kernel_speed.py --n 10000 --depth 3 10 --dtype float32
    NNGP_NTK_NT_PYTHON=/path/to/ntenv/bin/python python benchmarks/kernel_speed.py

Every measurement runs in a fresh subprocess, so peak resident memory (ru_maxrss) belongs to it
alone. Inputs are N x d standard normal (seed 0), ReLU, W_std = 1.5, b_std = 0.1, NNGP and NTK
together. "first" is the first call (compilation included); "time" is a second call. The GEMM
floor is one jax.numpy X @ X.T. neural-tangents runs in its own pinned environment (README:
"The neural-tangents reference environment"); without it its column says "skipped".
Prints a markdown table; saves JSON under benchmarks/results/. (The depth-200 float32 accuracy
is ``benchmarks/accuracy.py``.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_NT_PYTHON = os.path.join(HERE, ".ntenv", "bin", "python")


def _worker(kind: str, n: int, dim: int, depth: int, dtype: str) -> dict:
    """Run in a subprocess: time one configuration of nngp_ntk ('ours') or of the GEMM floor."""
    import jax
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    x = np.random.default_rng(0).standard_normal((n, dim)).astype(dtype)
    if kind == "gemm":
        gram = jax.jit(lambda a: jnp.matmul(a, a.T, precision=jax.lax.Precision.HIGHEST))
        xj = jnp.asarray(x)
        start = time.perf_counter()
        gram(xj).block_until_ready()
        first = time.perf_counter() - start
        start = time.perf_counter()
        gram(xj).block_until_ready()
        second = time.perf_counter() - start
    else:
        import nngp_ntk as nk
        net = nk.FullyConnected(depth=depth, activation="relu", W_std=1.5, b_std=0.1)
        start = time.perf_counter()
        kernels = net.kernel(x, progress=False)
        first = time.perf_counter() - start
        del kernels
        start = time.perf_counter()
        kernels = net.kernel(x, progress=False)
        second = time.perf_counter() - start
        assert np.isfinite(kernels.ntk).all()
    return {"first_s": first, "time_s": second, "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "device": str(jax.devices()[0].platform)}


def _run(command: list[str], timeout: float) -> dict | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode < 0:
        return {"error": f"killed by signal {-done.returncode} (out of memory?)"}
    if done.returncode != 0 or not lines:
        errors = [line for line in done.stderr.splitlines() if "Error" in line or "error" in line]
        return {"error": (errors or [f"exit status {done.returncode}"])[-1][:200]}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[2000, 5000, 10000])
    parser.add_argument("--depth", type=int, nargs="+", default=[1, 3, 10, 30])
    parser.add_argument("--dtype", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--dim", type=int, default=784)
    parser.add_argument("--nt-python", default=os.environ.get("NNGP_NTK_NT_PYTHON", DEFAULT_NT_PYTHON))
    parser.add_argument("--no-nt", action="store_true", help="skip neural-tangents")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per measurement")
    parser.add_argument("--output", default=os.path.join(HERE, "results", "kernel_speed.json"))
    parser.add_argument("--worker", nargs=5, metavar=("KIND", "N", "DIM", "DEPTH", "DTYPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, n, dim, depth, dtype = args.worker
        print(json.dumps(_worker(kind, int(n), int(dim), int(depth), dtype)))
        return

    nt_python = None if args.no_nt or not os.path.exists(args.nt_python) else args.nt_python
    if nt_python is None and not args.no_nt:
        print(f"note: neural-tangents environment not found at {args.nt_python}; its column is skipped")
    me = [sys.executable, os.path.abspath(__file__), "--worker"]
    rows = []
    print("| N | depth | dtype | GEMM floor s | nngp_ntk s (first) | x floor | nngp_ntk peak GB | NT s (first) | x floor | NT peak GB | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for dtype in args.dtype:
        for n in args.n:
            floor = _run(me + ["gemm", str(n), str(args.dim), "0", dtype], args.timeout)
            for depth in args.depth:
                ours = _run(me + ["ours", str(n), str(args.dim), str(depth), dtype], args.timeout)
                nt = {"error": "skipped"} if nt_python is None else _run(
                    [nt_python, os.path.join(HERE, "nt_worker.py"), "--n", str(n), "--dim", str(args.dim),
                     "--depth", str(depth), "--dtype", dtype], args.timeout)
                row = {"n": n, "dim": args.dim, "depth": depth, "dtype": dtype, "gemm": floor, "nngp_ntk": ours,
                       "neural_tangents": nt}
                rows.append(row)

                def cell(result: dict, key: str, scale: float = 1.0, digits: int = 2) -> str:
                    return f"{result[key] / scale:.{digits}f}" if result and key in result else result.get("error", "-")

                ratio = lambda r: f"{r['time_s'] / floor['time_s']:.2f}" if "time_s" in r and "time_s" in floor else "-"
                speedup = f"{nt['time_s'] / ours['time_s']:.1f}x" if "time_s" in nt and "time_s" in ours else "-"
                print(f"| {n} | {depth} | {dtype} | {cell(floor, 'time_s')} | {cell(ours, 'time_s')} ({cell(ours, 'first_s')}) "
                      f"| {ratio(ours)} | {cell(ours, 'peak_bytes', 2**30)} | {cell(nt, 'time_s')} ({cell(nt, 'first_s')}) "
                      f"| {ratio(nt)} | {cell(nt, 'peak_bytes', 2**30)} | {speedup} |", flush=True)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as file:
        json.dump({"machine": {"platform": platform.platform(), "cpus": os.cpu_count()}, "rows": rows}, file, indent=1)
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
