"""The benchmark suite, one entry point: reruns the scripts that write the result files of the docs'
results page.

    python benchmarks/run_all.py                          # full sizes (hours): run it on a quiet machine
    python benchmarks/run_all.py --only accuracy arccos   # some sections
    python benchmarks/run_all.py --quick                  # small sizes, a few minutes: checks the suite runs

Each script prints a markdown table and writes its result file (``benchmarks/_harness.py``: the
command line, date, machine and results) under benchmarks/results/; with --quick, under
benchmarks/results/quick/ (ignored by git), so that the committed results stay untouched. This one
runs them in turn and prints their tables. ``python benchmarks/report.py`` (run by the docs build)
renders the results page from the files. The sections:

  main job               cli_jobs.py              main_job.json (wall time, peak memory, results)
  regimes                cli_jobs.py              regimes.json (the same for the four regimes)
  kernel speed           kernel_speed.py          kernel_speed_n10000_float32_depth1_3_10.json
  kernel speed, depth 30 kernel_speed.py          kernel_speed_n10000_float32_depth30.json
  layer algebra          kernel_speed.py          kernel_speed_n2000_layer_algebra.json
  compilation cache      cli_cache.py             cli_cache.json (the command's runs with and without it)
  accuracy               accuracy.py              accuracy.json (depth-200 float32; float64 against neural-tangents)
  KIP distillation       ../examples/kip_mnist.py kip_mnist.json
  arccos                 arccos_speed.py          arccos.json
  scale                  scale.py                 scale.json (out of core at N = 50000; forced CPU devices)
  solver speed           solver_speed.py          solver_speed.json
  spectrum speed         spectrum_speed.py        spectrum_speed.json (one run appended per call)
  scaling exponents      scaling_report.py        scaling_report.json
  deep random features   deep_random_features.py  deep_random_features.json
  deep model curves      deep_model_curves.py     deep_model_curves.json (L(P) at depths 1-3 on MNIST and digits)
  deep model curves, folds  deep_model_curves.py  deep_model_curves_folds.json (the same, every MNIST point tested once)
  deep model curves, ridge  deep_model_curves.py  deep_model_curves_folds_ridge.json (the folds, readout ridge 1e-4)
  flow time              flow_time.py             flow_time.json (L(D, t) of gradient flow, predicted and measured)
  SGD compute            sgd_compute.py           sgd_compute.json (L(P, n) of one-pass SGD, predicted and measured)
  large N                large_n.py               large_n.json (Nystrom vs exact; Nystrom at large N; exact, 2 processes vs 1)
  large N, 1M            large_n.py               large_n.json (Nystrom at N = 1,000,000, a 40 GB store under $LARGE_N_STORE)

scaling_report.py, deep_random_features.py, solver_speed.py and spectrum_speed.py have no small mode
and are left out of --quick. neural-tangents columns need its environment (the docs' "Benchmarks
and references"); without it they say "skipped".
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import _harness

RESULTS, QUICK = _harness.RESULTS, _harness.QUICK_RESULTS
FULL = {
    "main job": ["cli_jobs.py", "--job", "exponents"],
    "regimes": ["cli_jobs.py", "--job", "regimes"],
    "kernel speed": ["kernel_speed.py", "--n", "10000", "--dtype", "float32", "--depth", "1", "3", "10",
                     "--no-layers", "--output", RESULTS / "kernel_speed_n10000_float32_depth1_3_10.json"],
    "kernel speed, depth 30": ["kernel_speed.py", "--n", "10000", "--dtype", "float32", "--depth", "30", "--no-nt",
                               "--no-layers", "--output", RESULTS / "kernel_speed_n10000_float32_depth30.json"],
    "layer algebra": ["kernel_speed.py", "--n", "2000", "--depth", "10", "--dtype", "float32", "--no-nt",
                      "--output", RESULTS / "kernel_speed_n2000_layer_algebra.json"],
    "compilation cache": ["cli_cache.py"],
    "accuracy": ["accuracy.py"],
    "KIP distillation": ["../examples/kip_mnist.py"],
    "arccos": ["arccos_speed.py"],
    "scale": ["scale.py"],
    "solver speed": ["solver_speed.py"],
    "spectrum speed": ["spectrum_speed.py", "--n", "50000", "--top-k", "2000"],
    "scaling exponents": ["scaling_report.py"],
    "deep random features": ["deep_random_features.py"],
    "deep model curves": ["deep_model_curves.py"],
    "deep model curves, folds": ["deep_model_curves.py", "--folds", "5"],
    "deep model curves, ridge": ["deep_model_curves.py", "--folds", "5", "--readout-ridge", "1e-4"],
    "flow time": ["flow_time.py"],
    "SGD compute": ["sgd_compute.py"],
    "large N": ["large_n.py"],
    "large N, 1M": ["large_n.py", "--parts", "large", "--large-n", "1000000", "--large-m", "10000", "--timeout", "7200"],
}
QUICK_SUITE = {
    "main job and regimes": ["cli_jobs.py", "--quick"],
    "kernel speed": ["kernel_speed.py", "--quick"],
    "compilation cache": ["cli_cache.py", "--n", "1000", "--runs", "2", "--output", QUICK / "cli_cache.json"],
    "accuracy": ["accuracy.py", "--quick"],
    "KIP distillation": ["../examples/kip_mnist.py", "--quick"],
    "arccos": ["arccos_speed.py", "--quick"],
    "scale": ["scale.py", "--n", "4000", "--devices", "1", "2", "--devices-n", "2000",
              "--output", QUICK / "scale.json"],
    "deep model curves": ["deep_model_curves.py", "--quick"],
    "flow time": ["flow_time.py", "--quick"],
    "SGD compute": ["sgd_compute.py", "--quick"],
    "large N": ["large_n.py", "--quick"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: check that the suite runs")
    parser.add_argument("--only", nargs="+", metavar="SECTION", help="run only these sections")
    args = parser.parse_args()
    suite = QUICK_SUITE if args.quick else FULL
    unknown = sorted(set(args.only or ()) - set(suite))
    if unknown:
        parser.error(f"--only: unknown section(s) {unknown}; expected some of {sorted(suite)}")
    failed = []
    python_path = os.pathsep.join(p for p in (str(_harness.ROOT), os.environ.get("PYTHONPATH")) if p)
    for title, (script, *arguments) in suite.items():
        if args.only and title not in args.only:
            continue
        command = [sys.executable, os.path.normpath(_harness.HERE / script),
                   *(os.path.relpath(a, _harness.ROOT) if isinstance(a, os.PathLike) else a for a in arguments)]
        print(f"== {title}: {_harness.command_line(command[1:])}", flush=True)
        done = subprocess.run(command, capture_output=True, text=True, cwd=_harness.ROOT,
                              env={**os.environ, "PYTHONPATH": python_path})
        print("\n".join(line for line in done.stdout.splitlines() if line.startswith(("|", "note:", "saved"))),
              flush=True)
        if done.returncode:
            failed.append(title)
            print(f"failed with exit status {done.returncode}: "
                  + (done.stderr.strip().splitlines() or [""])[-1], flush=True)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
