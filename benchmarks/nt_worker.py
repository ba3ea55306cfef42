"""Time neural-tangents 0.6.5 on one kernel configuration; run in its pinned environment.

    python nt_worker.py --n 10000 --dim 784 --depth 3 --dtype float32 [--mode kernel|grad] [--get nngp ntk]

The network is ``stax.serial(*[Dense(W_std, b_std), Relu] * depth, Dense(W_std, b_std))`` (the
same as ``nngp_ntk.FullyConnected(depth, "relu", W_std, b_std)``), on standard normal inputs
(n, dim). Prints one JSON line: seconds of the first (compiling) call and of a second call, and the
peak resident memory of the process.

--mode kernel   (default) ``jax.jit(kernel_fn)(x, None, get)``: the kernels named by --get.
--mode grad     ``jax.jit(jax.grad(loss))(W_std)`` with ``loss(W) = sum of every entry of the
                kernels named by --get``, the network built inside ``loss`` from one W_std shared by
                every Dense layer: the cost of differentiating through ``kernel_fn`` with respect to
                a hyperparameter. The JSON also holds the gradient's value (``grad``).
--save PATH     (kernel mode) write the kernels to PATH (.npz) after the first call instead of
                timing a second one.

It must not import nngp_ntk (a different JAX); it times with the benchmarks' harness (standard
library only). Used by ``kernel_speed.py`` and ``accuracy.py``.
"""

import argparse
import json

import numpy as np

import _harness


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--dim", type=int, default=784)
    parser.add_argument("--depth", type=int, required=True)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--W_std", type=float, default=1.5)
    parser.add_argument("--b_std", type=float, default=0.1)
    parser.add_argument("--mode", choices=["kernel", "grad"], default="kernel")
    parser.add_argument("--get", nargs="+", choices=["nngp", "ntk"], default=["nngp", "ntk"])
    parser.add_argument("--save", default=None, help="write the kernels to this .npz instead of timing twice")
    args = parser.parse_args()
    if args.save and args.mode != "kernel":
        parser.error("--save needs --mode kernel")

    import jax
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from neural_tangents import stax

    get = tuple(args.get)

    def kernel_fn_of(W_std):
        layers = []
        for _ in range(args.depth):
            layers += [stax.Dense(1, W_std=W_std, b_std=args.b_std), stax.Relu()]
        layers += [stax.Dense(1, W_std=W_std, b_std=args.b_std)]
        return stax.serial(*layers)[2]

    x = np.random.default_rng(0).standard_normal((args.n, args.dim)).astype(args.dtype)
    if args.mode == "kernel":
        compiled = jax.jit(kernel_fn_of(args.W_std), static_argnames="get")
        call = lambda: compiled(x, None, get=get)  # noqa: E731
    else:
        def loss(W_std):
            kernels = kernel_fn_of(W_std)(x, None, get=get)
            return sum(jnp.sum(getattr(kernels, name)) for name in get)

        compiled = jax.jit(jax.grad(loss))
        w_std = jnp.asarray(args.W_std, dtype=args.dtype)
        call = lambda: compiled(w_std)  # noqa: E731

    result, first = _harness.time_once(lambda: jax.block_until_ready(call()))
    if args.save:
        np.savez(args.save, **{name: np.asarray(getattr(result, name)) for name in get})
        print(json.dumps({"first_s": first.seconds}))
        return
    reply = {"mode": args.mode, "get": list(get)}
    if args.mode == "grad":
        reply["grad"] = float(result)
    del result
    _, second = _harness.time_once(lambda: jax.block_until_ready(call()))
    print(json.dumps({"first_s": first.seconds, "time_s": second.seconds, "time_statistic": "the second call",
                      "peak_bytes": _harness.peak_rss_bytes(), **reply}))


if __name__ == "__main__":
    main()
