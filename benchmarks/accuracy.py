"""Kernel accuracy: float32 against float64 at depth 200, and float64 against neural-tangents 0.6.5.

    python benchmarks/accuracy.py            # depth 200, 300 points; all reference cases (a few minutes)
    python benchmarks/accuracy.py --quick    # depth 20, 50 points; 8 reference cases (checks the script)

* depth200: the depth-200 ReLU NNGP and NTK of 300 standard normal points in R^50 (seed 0),
  computed in float32 and in float64, for (W_std, b_std) = (sqrt 2, 0) and (1.5, 0.1): the relative
  Frobenius error |K32 - K64| / |K64|, for nngp_ntk and, when its environment exists (the docs'
  "Benchmarks and references"; NNGP_NTK_NT_PYTHON or benchmarks/.ntenv), for neural-tangents;
* reference: nngp_ntk in float64 against every stored neural-tangents case of
  tests/data/nt_kernels.npz (written by references/make_reference_kernels.py): max |ours - NT| / max |NT| over
  K(x1, x2) and K(x1, x1), per case; the largest, and the largest per activation.

Saves results/accuracy.json (results/quick/ with --quick; ``benchmarks/_harness.py``) and prints
markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import jax
import numpy as np

import _harness

HERE = Path(__file__).resolve().parent
REFERENCE = HERE.parent / "tests" / "data" / "nt_kernels.npz"
DEFAULT_NT_PYTHON = HERE / ".ntenv" / "bin" / "python"


def _neural_tangents(nt_python: str, n: int, dim: int, depth: int, w_std: float, b_std: float) -> dict | None:
    """neural-tangents' float32 and float64 kernels (nt_worker.py in its own environment), or None."""
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for dtype in ("float32", "float64"):
            path = os.path.join(folder, f"{dtype}.npz")
            done = subprocess.run([nt_python, str(HERE / "nt_worker.py"), "--n", str(n), "--dim", str(dim),
                                   "--depth", str(depth), "--dtype", dtype, "--W_std", repr(w_std),
                                   "--b_std", repr(b_std), "--save", path], capture_output=True, text=True,
                                  timeout=900)
            if done.returncode != 0 or not os.path.exists(path):
                return None
            with np.load(path) as data:
                results[dtype] = {name: data[name] for name in ("nngp", "ntk")}
    return results


def float32_error(depth: int, n: int, dim: int, nt_python: str | None) -> list[dict]:
    """Relative Frobenius error of float32 kernels against float64 ones, per (W_std, b_std)."""
    import nngp_ntk as nk

    rows = []
    x = np.random.default_rng(0).standard_normal((n, dim))
    for w_std, b_std in [(float(np.sqrt(2.0)), 0.0), (1.5, 0.1)]:
        net = nk.FullyConnected(depth=depth, activation="relu", W_std=w_std, b_std=b_std)
        with jax.enable_x64(True):
            wide = net.kernel(x)
        narrow = net.kernel(x.astype(np.float32))
        row = {"depth": depth, "n": n, "dim": dim, "W_std": w_std, "b_std": b_std}
        for name in ("nngp", "ntk"):
            a, b = getattr(wide, name), getattr(narrow, name).astype(np.float64)
            assert a.dtype == np.float64 and getattr(narrow, name).dtype == np.float32
            row[f"ours_{name}"] = float(np.linalg.norm(a - b) / np.linalg.norm(a))
        theirs = None if nt_python is None else _neural_tangents(nt_python, n, dim, depth, w_std, b_std)
        for name in ("nngp", "ntk"):
            if theirs is None:
                row[f"nt_{name}"] = None
            else:
                a, b = theirs["float64"][name], theirs["float32"][name].astype(np.float64)
                row[f"nt_{name}"] = float(np.linalg.norm(a - b) / np.linalg.norm(a))
        rows.append(row)
    return rows


def reference_agreement(limit: int | None) -> dict:
    """float64 nngp_ntk against the stored neural-tangents kernels: max-abs relative error per case."""
    import nngp_ntk as nk

    with np.load(REFERENCE) as data:
        stored = {key: data[key] for key in data.files}
    cases = json.loads(str(stored["cases"]))[:limit]
    errors = []
    with jax.enable_x64(True):
        for index, case in enumerate(cases):
            activation = getattr(nk.activations, case["activation"])(**case["kwargs"])
            net = nk.FullyConnected(depth=case["depth"], activation=activation, W_std=case["W_std"],
                                    b_std=case["b_std"], parameterization=case["parameterization"],
                                    width=case["width"])
            cross, same = net.kernel(stored["x1"], stored["x2"]), net.kernel(stored["x1"])
            worst = 0.0
            for name in ("nngp", "ntk"):
                for ours, key in ((getattr(cross, name), f"{name}_12"), (getattr(same, name), f"{name}_11")):
                    expected = stored[key][index]
                    worst = max(worst, float(np.max(np.abs(ours - expected)) / np.max(np.abs(expected))))
            errors.append({"activation": case["activation"], "kwargs": case["kwargs"], "depth": case["depth"],
                           "parameterization": case["parameterization"], "max_rel_error": worst})
    per_activation: dict[str, float] = {}
    for row in errors:
        per_activation[row["activation"]] = max(per_activation.get(row["activation"], 0.0), row["max_rel_error"])
    return {"cases": len(errors), "max_rel_error": max(r["max_rel_error"] for r in errors),
            "max_rel_error_per_activation": per_activation, "per_case": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="depth 20, 50 points, 8 reference cases")
    parser.add_argument("--nt-python", default=os.environ.get("NNGP_NTK_NT_PYTHON", str(DEFAULT_NT_PYTHON)))
    parser.add_argument("--no-nt", action="store_true", help="skip neural-tangents")
    args = parser.parse_args()
    started = _harness.machine()
    nt_python = None if args.no_nt or not os.path.exists(args.nt_python) else args.nt_python
    if nt_python is None and not args.no_nt:
        print(f"note: neural-tangents environment not found at {args.nt_python}; its columns are skipped")
    depth, n, dim = (20, 50, 10) if args.quick else (200, 300, 50)
    float32 = float32_error(depth, n, dim, nt_python)
    reference = reference_agreement(8 if args.quick else None)

    def cell(value: float | None) -> str:
        return "skipped" if value is None else f"{value:.1e}"

    print(f"| depth-{depth} ReLU, {n} points, float32 vs float64 | nngp_ntk NNGP | nngp_ntk NTK | "
          f"neural-tangents NNGP | neural-tangents NTK |")
    print("|---|---|---|---|---|")
    for row in float32:
        print(f"| W_std = {row['W_std']:.4g}, b_std = {row['b_std']} | {cell(row['ours_nngp'])} | "
              f"{cell(row['ours_ntk'])} | {cell(row['nt_nngp'])} | {cell(row['nt_ntk'])} |")
    print(f"\n| float64 against neural-tangents 0.6.5 ({reference['cases']} cases) | max relative error |")
    print("|---|---|")
    print(f"| all cases | {reference['max_rel_error']:.1e} |")
    for name, value in reference["max_rel_error_per_activation"].items():
        print(f"| {name} | {value:.1e} |")
    _harness.write_result(_harness.result_path("accuracy.json", quick=args.quick),
                          {"float32_vs_float64": float32, "reference": reference}, started)


if __name__ == "__main__":
    main()
