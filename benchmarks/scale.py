"""Scale: an out-of-core kernel far beyond comfortable memory, and the overhead of several devices.

    python benchmarks/scale.py                      # N = 50000, d = 784, depth 3, float32, out-of-core
    python benchmarks/scale.py --n 20000 --devices 1 2 4

Part 1 writes NNGP and NTK of N standard-normal points (ReLU, W_std = 1.5, b_std = 0.1) to a
temporary folder with ``net.kernel(x, out=...)`` and reports wall time, peak resident memory, the
floors (GEMM flops of the upper triangle; bytes written) and the achieved fraction of each.
Part 2 runs the same (smaller) in-memory kernel with 1, 2 and 4 forced CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=D), checks the results agree and reports the
time; on a GPU or TPU host the same script reports the real device(s). Prints a markdown table;
saves a result file (``benchmarks/_harness.py``) under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np

import _harness


def _out_of_core(n: int, dim: int, depth: int, folder: str) -> dict:
    import jax
    import jax.numpy as jnp

    import nngp_ntk as nk

    x = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    probe = jnp.asarray(x[:4096])
    gram = jax.jit(lambda a: jnp.matmul(a, a.T, precision=jax.lax.Precision.HIGHEST))
    gram(probe).block_until_ready()
    flops_per_s = 2 * 4096**2 * dim / _harness.time_once(lambda: gram(probe).block_until_ready())[1].seconds
    net = nk.FullyConnected(depth=depth, activation="relu", W_std=1.5, b_std=0.1)
    kernels, timing = _harness.time_once(lambda: net.kernel(x, out=folder, progress=True))
    seconds = timing.seconds
    sample = np.random.default_rng(1).integers(0, n, 64)
    check = net.kernel(x[sample])
    error = float(np.max(np.abs(np.asarray(kernels.ntk[np.ix_(sample, sample)]) - check.ntk)) / np.abs(check.ntk).max())
    written = 2 * n * n * 4
    upper_flops = n * (n + 1) * dim  # 2 n^2 d / 2: the upper triangle's share of X X^T
    return {"n": n, "dim": dim, "depth": depth, "seconds": seconds,
            "peak_bytes": _harness.peak_rss_bytes(),
            "bytes_written": written, "write_GBps": written / seconds / 1e9,
            "gemm_floor_s": upper_flops / flops_per_s, "gemm_fraction": upper_flops / flops_per_s / seconds,
            "sample_max_rel_error_vs_in_memory": error, "device": jax.devices()[0].platform}


def _devices(n: int, dim: int, depth: int) -> dict:
    import jax

    import nngp_ntk as nk

    x = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    net = nk.FullyConnected(depth=depth, activation="relu", W_std=1.5, b_std=0.1)
    net.kernel(x[:2048], progress=False)
    kernels, timing = _harness.time_once(lambda: net.kernel(x, progress=False))
    return {"devices": len(jax.local_devices()), "platform": jax.devices()[0].platform, "seconds": timing.seconds,
            "checksum": float(np.sum(kernels.ntk, dtype=np.float64)), "corner": kernels.ntk[:64, :64].tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50000)
    parser.add_argument("--dim", type=int, default=784)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--devices", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--devices-n", type=int, default=8000)
    parser.add_argument("--folder", default=None, help="where the out-of-core store goes (default: a temporary folder)")
    parser.add_argument("--output", default=None, help="JSON path (default results/scale.json)")
    parser.add_argument("--worker", choices=["devices"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "devices":
        print(json.dumps(_devices(args.devices_n, args.dim, args.depth)))
        return

    output = args.output or _harness.result_path("scale.json")
    started = _harness.machine()
    results: dict = {}
    if args.n:
        folder = args.folder or tempfile.mkdtemp(prefix="nngp_ntk_scale_")
        try:
            results["out_of_core"] = _out_of_core(args.n, args.dim, args.depth, os.path.join(folder, "store"))
        finally:
            if args.folder is None:
                shutil.rmtree(folder, ignore_errors=True)
        r = results["out_of_core"]
        print("| N | d | depth | out-of-core time s | peak RSS GB | written GB/s | GEMM floor s | fraction of floor | sample error |")
        print("|---|---|---|---|---|---|---|---|---|")
        print(f"| {r['n']} | {r['dim']} | {r['depth']} | {r['seconds']:.1f} | {r['peak_bytes'] / 2**30:.2f} | "
              f"{r['write_GBps']:.2f} | {r['gemm_floor_s']:.1f} | {r['gemm_fraction']:.2f} | {r['sample_max_rel_error_vs_in_memory']:.1e} |")
    rows = []
    for count in args.devices:
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={count}")
        row = _harness.run_worker([sys.executable, os.path.abspath(__file__), "--worker", "devices", "--devices-n",
                                   str(args.devices_n), "--dim", str(args.dim), "--depth", str(args.depth)], env=env)
        rows.append({"n": args.devices_n, "dim": args.dim, "depth": args.depth, "devices": count, **row})
    if rows:
        base = next((r for r in rows if "corner" in r), None)
        print(f"\n| forced CPU devices (N = {args.devices_n}) | time s | max diff vs first |")
        print("|---|---|---|")
        for r in rows:
            r["max_diff_vs_first"] = (float(np.max(np.abs(np.array(r["corner"]) - np.array(base["corner"]))))
                                      if "corner" in r and base is not None else float("nan"))
        for r in rows:
            r.pop("corner", None)
            print(f"| {r['devices']} ({r.get('platform', '?')}) | {r.get('seconds', float('nan')):.2f} | "
                  f"{r['max_diff_vs_first']:.1e} |")
    results["devices"] = rows
    _harness.write_result(output, results, started)


if __name__ == "__main__":
    main()
