"""Kernel speed and memory: nngp_ntk against the GEMM floor and neural-tangents 0.6.5, side by side.

    python benchmarks/kernel_speed.py                    # N in {2000, 5000, 10000}, depth in {1, 3, 10, 30}
    python benchmarks/kernel_speed.py --n 10000 --depth 3 10 --dtype float32
    python benchmarks/kernel_speed.py --quick            # N = 1000, depth 3 / 10, no neural-tangents: a smoke run
    NNGP_NTK_NT_PYTHON=/path/to/ntenv/bin/python python benchmarks/kernel_speed.py

Every measurement runs in a fresh subprocess, so peak resident memory (ru_maxrss) belongs to it
alone. Inputs are N x d standard normal (seed 0), ReLU, W_std = 1.5, b_std = 0.1, NNGP and NTK
together. "first" is the first call (compilation included); "time" is the median of REPEATS later
calls (neural-tangents: its second call), each named by its statistic in the JSON. The GEMM floor
is one jax.numpy X @ X.T. neural-tangents runs in its own pinned environment (the docs' "Benchmarks
and references"); without it its column says "skipped".
"ns/entry/layer" is time / (N^2 depth) beside the floor's time / N^2. "compile" is the first call
minus the second; "new N" is the first call at N - 7 points (reusing the compiled code) minus its
second call.

A second table (the layer algebra, at the first N and float32) compares, each in its own
subprocess: ``Sequential`` of 10 (Dense, ReLU) pairs and a mixed ``Sequential`` of 10 pairs
whose activations cycle through ReLU, LeakyReLU and Abs (the same cost, but not one repeated
block: every layer is compiled on its own) against ``FullyConnected(depth=10)``; compilation
(first minus second call at depth 3, and the first call at a new N that reuses the compiled
code); ``jax.jit(net.kernel_fn)`` against ``net.kernel`` (time and compile time at depth 10, and for the
mixed ``Sequential``, whose layers are not one repeated block);
and a gradient of sum(NTK) with respect to W_std against the forward ``kernel_fn`` (one scalar,
taken in forward mode: ``nngp_ntk.kernels._forward_jacobian``), and with respect to each layer's own W_std of
the ``Sequential`` (11 scalars: reverse mode).

Prints markdown tables; saves a result file (``benchmarks/_harness.py``) under benchmarks/results/.
(The depth-200 float32 accuracy is ``benchmarks/accuracy.py``.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

import _harness

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_NT_PYTHON = os.path.join(HERE, ".ntenv", "bin", "python")
#: Steady times are the median of this many calls after the first (single calls of a quarter of a
#: second vary by tens of percent on a virtual machine).
REPEATS = 3


def _steady(call) -> dict:
    """The median wall time of REPEATS calls of ``call()``: {"time_s", "time_statistic"}."""
    timing = _harness.time_calls(call, REPEATS, "median")
    return {"time_s": timing.seconds, "time_statistic": timing.statistic}


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
        _, first = _harness.time_once(lambda: gram(xj).block_until_ready())
        return {"first_s": first.seconds, **_steady(lambda: gram(xj).block_until_ready()), **_memory(jax)}
    elif kind in ("ours", "sequential", "mixed"):
        net = _network(kind, depth)
        kernels, first = _harness.time_once(lambda: net.kernel(x, progress=False))
        assert np.isfinite(kernels.ntk).all()
        del kernels
        second = _steady(lambda: net.kernel(x, progress=False))
        memory = _memory(jax)   # the peak of the two calls, before the new-N calls below
        extra = {}
        if kind == "ours":   # a new N reuses the compiled code: its first call against a second one
            other = x[: n - 7]
            extra["new_n_first_s"] = _harness.time_once(lambda: net.kernel(other, progress=False))[1].seconds
            extra["new_n_time_s"] = _harness.time_once(lambda: net.kernel(other, progress=False))[1].seconds
        return {"first_s": first.seconds, **second, **extra, **memory}
    elif kind in ("kernel_fn", "kernel_fn_mixed"):
        net = _network("ours" if kind == "kernel_fn" else "mixed", depth)
        function = jax.jit(lambda net, x: net.kernel_fn(x))
        xj = jnp.asarray(x)
        compiled, compile_time = _harness.time_once(lambda: function.lower(net, xj).compile())
        jax.block_until_ready(compiled(net, xj))
        second = _steady(lambda: jax.block_until_ready(compiled(net, xj)))
        return {"compile_s": compile_time.seconds, **second, "first_s": compile_time.seconds + second["time_s"],
                **_memory(jax)}
    elif kind in ("grad", "grad_layers"):
        import nngp_ntk as nk

        if kind == "grad":   # one scalar, shared by every Dense layer: forward-mode columns
            def loss(w_std, x):
                net = nk.FullyConnected(depth=depth, activation="relu", W_std=w_std, b_std=0.1)
                return net.kernel_fn(x, get="ntk").sum()
            w = 1.5
        else:                # every layer's own W_std (depth + 1 scalars): reverse mode
            def loss(w_stds, x):
                layers = []
                for w_std in w_stds[:-1]:
                    layers += [nk.Dense(W_std=w_std, b_std=0.1), nk.activations.ReLU()]
                net = nk.Sequential(*layers, nk.Dense(W_std=w_stds[-1], b_std=0.1))
                return net.kernel_fn(x, get="ntk").sum()
            w = (1.5,) * (depth + 1)

        xj = jnp.asarray(x)
        forward, gradient = jax.jit(loss), jax.jit(jax.grad(loss))
        times = {}
        for name, function in (("forward", forward), ("grad", gradient)):
            jax.block_until_ready(function(w, xj))
            times[name] = _steady(lambda: jax.block_until_ready(function(w, xj)))
        return {"first_s": float("nan"), **times["grad"], "forward_s": times["forward"]["time_s"], **_memory(jax)}
    raise ValueError(f"unknown worker kind {kind!r}")


def _memory(jax) -> dict:
    """The worker's peak resident memory so far and its device."""
    return {"peak_bytes": _harness.peak_rss_bytes(), "device": str(jax.devices()[0].platform)}


def _network(kind: str, depth: int):
    """FullyConnected(depth) ('ours'), the Sequential of the same layers ('sequential'), or depth
    (Dense, phi) pairs with phi cycling through ReLU, LeakyReLU(0.1), Abs ('mixed')."""
    import nngp_ntk as nk
    if kind == "ours":
        return nk.FullyConnected(depth=depth, activation="relu", W_std=1.5, b_std=0.1)
    cycle = [nk.activations.ReLU()] if kind == "sequential" else [
        nk.activations.ReLU(), nk.activations.LeakyReLU(0.1), nk.activations.Abs()]
    layers = []
    for layer in range(depth):
        layers += [nk.Dense(W_std=1.5, b_std=0.1), cycle[layer % len(cycle)]]
    return nk.Sequential(*layers, nk.Dense(W_std=1.5, b_std=0.1))


def _layer_table(me: list[str], n: int, dim: int, timeout: float) -> list[dict]:
    """The layer-algebra comparisons of the module docstring, at N = n, float32; printed and returned."""
    def measure(kind: str, depth: int) -> dict:
        return _harness.run_worker(me + [kind, str(n), str(dim), str(depth), "float32"], timeout=timeout)

    results = {"fc10": measure("ours", 10), "sequential10": measure("sequential", 10), "mixed10": measure("mixed", 10),
               "fc3": measure("ours", 3), "kernel_fn10": measure("kernel_fn", 10), "kernel_fn_mixed10": measure("kernel_fn_mixed", 10),
               "grad10": measure("grad", 10),
               "grad_layers10": measure("grad_layers", 10)}
    fc10, fc3 = results["fc10"], results["fc3"]

    def against(result: dict, reference: dict, key: str = "time_s") -> str:
        if key in result and "time_s" in reference:
            return f"{result[key]:.3f} s, {result[key] / reference['time_s']:.2f}x"
        return result.get("error", "-")

    print(f"\nLayer algebra, N = {n}, d = {dim}, float32 (FullyConnected(depth=10): "
          f"{fc10.get('time_s', float('nan')):.3f} s)\n")
    print("| measurement | value |")
    print("|---|---|")
    print(f"| Sequential of 10 (Dense, ReLU) pairs vs FullyConnected(depth=10) | {against(results['sequential10'], fc10)} |")
    print(f"| mixed Sequential (ReLU / LeakyReLU / Abs, 10 pairs) vs FullyConnected(depth=10) "
          f"| {against(results['mixed10'], fc10)} |")
    if "first_s" in fc3 and "time_s" in fc3:
        print(f"| compilation, depth 3: first minus second call | {fc3['first_s'] - fc3['time_s']:.2f} s |")
        print(f"| a new N (N - 7) reuses the compiled code: first call minus steady | "
              f"{fc3['new_n_first_s'] - fc3['new_n_time_s']:.2f} s |")
    kernel_fn = results["kernel_fn10"]
    print(f"| jit(kernel_fn) vs net.kernel, depth 10 | {against(kernel_fn, fc10)} |")
    if "compile_s" in kernel_fn:
        print(f"| jit(kernel_fn) compile, depth 10 | {kernel_fn['compile_s']:.2f} s |")
    print(f"| jit(kernel_fn) vs net.kernel, mixed Sequential of 10 pairs "
          f"| {against(results['kernel_fn_mixed10'], results['mixed10'])} |")
    grad = results["grad10"]
    if "forward_s" in grad:
        print(f"| grad of sum(NTK) w.r.t. W_std vs forward kernel_fn, depth 10 | {grad['time_s']:.3f} s vs "
              f"{grad['forward_s']:.3f} s, {grad['time_s'] / grad['forward_s']:.2f}x |")
    grad = results["grad_layers10"]
    if "forward_s" in grad:
        print(f"| grad of sum(NTK) w.r.t. each layer's W_std (11 scalars) vs forward kernel_fn, depth 10 "
              f"| {grad['time_s']:.3f} s vs {grad['forward_s']:.3f} s, {grad['time_s'] / grad['forward_s']:.2f}x |")
    return [dict(name=name, n=n, dim=dim, **result) for name, result in results.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[2000, 5000, 10000])
    parser.add_argument("--depth", type=int, nargs="+", default=[1, 3, 10, 30])
    parser.add_argument("--dtype", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--dim", type=int, default=784)
    parser.add_argument("--nt-python", default=os.environ.get("NNGP_NTK_NT_PYTHON", DEFAULT_NT_PYTHON))
    parser.add_argument("--no-nt", action="store_true", help="skip neural-tangents")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per measurement")
    parser.add_argument("--output", default=None,
                        help="JSON path (default results/kernel_speed.json, results/quick/ with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="N = 1000, depth 3 and 10, float32, no neural-tangents")
    parser.add_argument("--no-layers", action="store_true", help="skip the layer-algebra table")
    parser.add_argument("--worker", nargs=5, metavar=("KIND", "N", "DIM", "DEPTH", "DTYPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, n, dim, depth, dtype = args.worker
        print(json.dumps(_worker(kind, int(n), int(dim), int(depth), dtype)))
        return

    if args.quick:
        args.n, args.depth, args.dtype, args.no_nt = [1000], [3, 10], ["float32"], True
    if args.output is None:
        args.output = _harness.result_path("kernel_speed.json", quick=args.quick)
    started = _harness.machine()
    nt_python = None if args.no_nt or not os.path.exists(args.nt_python) else args.nt_python
    if nt_python is None and not args.no_nt:
        print(f"note: neural-tangents environment not found at {args.nt_python}; its column is skipped")
    me = [sys.executable, os.path.abspath(__file__), "--worker"]
    rows = []
    print("| N | depth | dtype | GEMM floor s | nngp_ntk s (first) | x floor | ns/entry/layer (floor ns/entry) "
          "| compile: first - second s | new N: first - steady s "
          "| nngp_ntk peak GB | NT s (first) | x floor | NT peak GB | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for dtype in args.dtype:
        for n in args.n:
            floor = _harness.run_worker(me + ["gemm", str(n), str(args.dim), "0", dtype], timeout=args.timeout)
            for depth in args.depth:
                ours = _harness.run_worker(me + ["ours", str(n), str(args.dim), str(depth), dtype], timeout=args.timeout)
                nt = {"error": "skipped"} if nt_python is None else _harness.run_worker(
                    [nt_python, os.path.join(HERE, "nt_worker.py"), "--n", str(n), "--dim", str(args.dim),
                     "--depth", str(depth), "--dtype", dtype], timeout=args.timeout)
                row = {"n": n, "dim": args.dim, "depth": depth, "dtype": dtype, "gemm": floor, "nngp_ntk": ours,
                       "neural_tangents": nt}
                rows.append(row)

                def cell(result: dict, key: str, scale: float = 1.0, digits: int = 2) -> str:
                    return f"{result[key] / scale:.{digits}f}" if result and key in result else result.get("error", "-")

                ratio = lambda r: f"{r['time_s'] / floor['time_s']:.2f}" if "time_s" in r and "time_s" in floor else "-"
                speedup = f"{nt['time_s'] / ours['time_s']:.1f}x" if "time_s" in nt and "time_s" in ours else "-"
                per_layer = (f"{ours['time_s'] / n**2 / max(depth, 1) * 1e9:.2f} ({floor['time_s'] / n**2 * 1e9:.2f})"
                             if "time_s" in ours and "time_s" in floor else "-")
                compile_s = (f"{ours['first_s'] - ours['time_s']:.2f}" if "first_s" in ours else "-")
                new_n = (f"{ours['new_n_first_s'] - ours['new_n_time_s']:.2f}" if "new_n_first_s" in ours else "-")
                print(f"| {n} | {depth} | {dtype} | {cell(floor, 'time_s')} | {cell(ours, 'time_s')} ({cell(ours, 'first_s')}) "
                      f"| {ratio(ours)} | {per_layer} | {compile_s} | {new_n} | {cell(ours, 'peak_bytes', 2**30)} "
                      f"| {cell(nt, 'time_s')} ({cell(nt, 'first_s')}) "
                      f"| {ratio(nt)} | {cell(nt, 'peak_bytes', 2**30)} | {speedup} |", flush=True)
    layers = [] if args.no_layers else _layer_table(me, args.n[0], args.dim, args.timeout)
    _harness.write_result(args.output, {"rows": rows, "layers": layers}, started)


if __name__ == "__main__":
    main()
