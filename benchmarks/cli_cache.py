"""The command's compilation cache: ``nngp-ntk kernel`` of N points, run in a row with a new cache
folder (the first run fills it, the next ones load from it), then with the cache off.

    python benchmarks/cli_cache.py                  # N = 10000, d = 784, depth 3, 3 runs with the cache
    python benchmarks/cli_cache.py --n 2000 --runs 2

Each run is a fresh ``python -m nngp_ntk kernel`` process timed from start to exit (imports, reading
the points, the kernel, writing it); NNGP_NTK_COMPILE_CACHE points it at the folder. Prints a table
and saves a result file (``benchmarks/_harness.py``) under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

import _harness


def _timed_run(points: str, out: str, depth: int, cache: str) -> float:
    """Seconds of one ``python -m nngp_ntk kernel`` process with NNGP_NTK_COMPILE_CACHE=cache."""
    environment = dict(os.environ, NNGP_NTK_COMPILE_CACHE=cache)
    environment.pop("JAX_COMPILATION_CACHE_DIR", None)
    done = _harness.run_process([sys.executable, "-m", "nngp_ntk", "kernel", points, "--out", out, "--depth",
                                 str(depth), "--quiet"], env=environment)
    if done.returncode:
        raise SystemExit(f"nngp-ntk kernel failed with exit status {done.returncode}:\n{done.stderr[-2000:]}")
    return done.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=784)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3, help="runs with the cache (the first fills it)")
    parser.add_argument("--output", default=None, help="JSON path (default results/cli_cache.json)")
    args = parser.parse_args()
    output = args.output or _harness.result_path("cli_cache.json")
    started = _harness.machine()
    with tempfile.TemporaryDirectory() as folder:
        points, out = os.path.join(folder, "x.npy"), os.path.join(folder, "K.npy")
        np.save(points, np.random.default_rng(0).standard_normal((args.n, args.dim)).astype(np.float32))
        cache = os.path.join(folder, "cache")
        cached = [_timed_run(points, out, args.depth, cache) for _ in range(args.runs)]
        entries = len(os.listdir(cache))
        off = _timed_run(points, out, args.depth, "off")
    print(f"nngp-ntk kernel, N = {args.n}, d = {args.dim}, depth {args.depth}\n")
    print("| run | seconds |")
    print("|---|---|")
    for i, seconds in enumerate(cached):
        print(f"| cache {'empty (fills it)' if i == 0 else 'filled'} | {seconds:.2f} |")
    print(f"| cache off | {off:.2f} |")
    print(f"\n{entries} programs stored")
    _harness.write_result(output, {"n": args.n, "dim": args.dim, "depth": args.depth, "cached_runs_s": cached,
                                   "off_s": off, "programs_stored": entries}, started)


if __name__ == "__main__":
    main()
