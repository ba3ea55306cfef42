"""Time neural-tangents 0.6.5 on one kernel configuration; run in its pinned environment.

    python nt_worker.py --n 10000 --dim 784 --depth 3 --dtype float32 [--accuracy]

Prints one JSON line: seconds of the first (compiling) and of a second call, peak resident memory.
With --accuracy it instead writes the depth-D ReLU kernels to --save (float64 or float32 as asked).
Standalone on purpose: it must not import nngp_ntk (different JAX).
"""

import argparse
import json
import resource
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--dim", type=int, default=784)
    parser.add_argument("--depth", type=int, required=True)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--W_std", type=float, default=1.5)
    parser.add_argument("--b_std", type=float, default=0.1)
    parser.add_argument("--save", default=None, help="write the kernels to this .npz instead of timing twice")
    args = parser.parse_args()

    import jax
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    from neural_tangents import stax

    layers = []
    for _ in range(args.depth):
        layers += [stax.Dense(1, W_std=args.W_std, b_std=args.b_std), stax.Relu()]
    layers += [stax.Dense(1, W_std=args.W_std, b_std=args.b_std)]
    kernel_fn = jax.jit(stax.serial(*layers)[2], static_argnames="get")
    x = np.random.default_rng(0).standard_normal((args.n, args.dim)).astype(args.dtype)

    start = time.perf_counter()
    kernels = kernel_fn(x, None, get=("nngp", "ntk"))
    jax.block_until_ready(kernels)
    first = time.perf_counter() - start
    if args.save:
        np.savez(args.save, nngp=np.asarray(kernels.nngp), ntk=np.asarray(kernels.ntk))
        print(json.dumps({"first_s": first}))
        return
    del kernels
    start = time.perf_counter()
    jax.block_until_ready(kernel_fn(x, None, get=("nngp", "ntk")))
    second = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"first_s": first, "time_s": second, "peak_bytes": peak}))


if __name__ == "__main__":
    main()
