"""arccos, the kernels' inner loop for ReLU-like activations: nngp_ntk's polynomial against XLA's.

    python benchmarks/arccos_speed.py            # 2^24 entries, 7 repeats
    python benchmarks/arccos_speed.py --quick    # 2^18 entries, 3 repeats (checks the script)

Times ``jax.jit(jnp.arccos)`` and ``jax.jit(nngp_ntk._fastmath.acos)`` on the same float32 array
of evenly spaced x in [-1, 1] (best of the repeats after a compiling call; nanoseconds per entry),
and measures the accuracy of both in float32 ulps against float64 NumPy arccos rounded to float32,
on the same grid plus the 2^16 float32 values nearest to each of -1, 0 and 1. float64: the largest
difference from NumPy's float64 arccos, in float64 ulps. Saves results/arccos.json (results/quick/
with --quick; ``benchmarks/_harness.py``) and prints a markdown table.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import _harness
from nngp_ntk import _fastmath


def best_time(function, x: jax.Array, repeats: int) -> _harness.Timing:
    """The minimum wall time of ``function(x)`` over ``repeats`` calls after one compiling call."""
    function(x).block_until_ready()
    return _harness.time_calls(lambda: function(x).block_until_ready(), repeats, "min")


def ulp_error(values: np.ndarray, reference: np.ndarray) -> float:
    """Largest |values - reference| in units of the last place of ``reference`` (its own dtype)."""
    spacing = np.spacing(np.abs(reference))
    return float(np.max(np.abs(values.astype(np.float64) - reference.astype(np.float64)) / spacing))


def accuracy_grid(size: int) -> np.ndarray:
    """Evenly spaced float32 x in [-1, 1], plus the 2^16 float32 neighbours of -1, 0 and 1."""
    one = np.float32(1)
    near_one = np.nextafter(one, np.float32(0)) - np.arange(2**16, dtype=np.float32) * np.spacing(np.float32(0.5))
    near_zero = np.arange(-(2**15), 2**15, dtype=np.float32) * np.float32(1e-7)
    grid = np.linspace(-1, 1, size, dtype=np.float32)
    return np.concatenate([grid, near_one, -near_one, near_zero, [-one, one]]).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2^18 entries, 3 repeats")
    args = parser.parse_args()
    size, repeats = (2**18, 3) if args.quick else (2**24, 7)
    started = _harness.machine()

    x = jnp.asarray(np.linspace(-1, 1, size, dtype=np.float32))
    xla = jax.jit(jnp.arccos)
    ours = jax.jit(_fastmath.acos)
    timings = {name: best_time(function, x, repeats) for name, function in (("xla", xla), ("ours", ours))}
    timing = {name: t.seconds / size * 1e9 for name, t in timings.items()}

    grid = accuracy_grid(size)
    reference = np.arccos(grid.astype(np.float64)).astype(np.float32)
    accuracy = {"xla_float32_ulp": ulp_error(np.asarray(xla(jnp.asarray(grid))), reference),
                "ours_float32_ulp": ulp_error(np.asarray(ours(jnp.asarray(grid))), reference)}
    with jax.enable_x64(True):
        wide = grid.astype(np.float64)
        accuracy["ours_float64_ulp_vs_numpy"] = ulp_error(np.asarray(jax.jit(_fastmath.acos)(jnp.asarray(wide))),
                                                          np.arccos(wide))

    print(f"| arccos, {size} float32 entries | ns per entry | max error, float32 ulps |")
    print("|---|---|---|")
    print(f"| XLA jnp.arccos | {timing['xla']:.2f} | {accuracy['xla_float32_ulp']:.2f} |")
    print(f"| nngp_ntk polynomial | {timing['ours']:.2f} | {accuracy['ours_float32_ulp']:.2f} |")
    print(f"note: float64 polynomial within {accuracy['ours_float64_ulp_vs_numpy']:.2f} ulps of NumPy's arccos")
    _harness.write_result(_harness.result_path("arccos.json", quick=args.quick),
                          {"entries": size, "statistic": timings["ours"].statistic, "ns_per_entry": timing,
                           "accuracy": accuracy}, started)


if __name__ == "__main__":
    main()
