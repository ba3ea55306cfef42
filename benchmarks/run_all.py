"""The benchmark suite, one entry point: regenerates every result file that the README quotes.

    python benchmarks/run_all.py            # full sizes (long): run it on a quiet machine
    python benchmarks/run_all.py --quick    # small sizes, a few minutes: checks the suite runs

Each script prints a markdown table and saves its own JSON under benchmarks/results/; this one
runs them in turn, with the command lines and output files the README names, and writes their
tables, with the command lines, to benchmarks/results/SUMMARY.md (SUMMARY_quick.md with --quick,
whose result files all end in _quick so that the full results stay untouched). The sections:

  main job               cli_jobs.py          main_job.json (wall time, peak memory, results)
  regimes                cli_jobs.py          regimes.json (the same for the four regimes)
  kernel speed           kernel_speed.py      kernel_speed_n10000_float32_quiet.json, ..._depth30_quiet.json
  layer algebra          kernel_speed.py      kernel_speed_n2000_layers.json (Sequential, kernel_fn, its gradient)
  compilation cache      cli_cache.py         cli_cache.json (the command's runs with and without the cache)
  accuracy               accuracy.py          accuracy.json (depth-200 float32; float64 against neural-tangents)
  arccos                 arccos_speed.py      arccos.json
  scale                  scale.py             scale.json (out of core at N = 50000; forced CPU devices)
  solver speed           solver_speed.py      solver_speed.json
  spectrum speed         spectrum_speed.py    spectrum_speed.jsonl (one line appended per run)
  scaling exponents      scaling_report.py    scaling_report.json
  deep random features   deep_random_features.py  deep_random_features.json

scaling_report.py, deep_random_features.py and solver_speed.py have no small mode and are left out
of --quick. ``--only SECTION ...`` reruns some sections (named as above, e.g. ``--only accuracy arccos``)
and replaces only their sections of the summary, keeping the others as they were: the whole suite
takes hours, and each section states the date it was run. neural-tangents columns need its environment (README: "The neural-tangents reference
environment"); without it they say "skipped".
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

RESULTS = os.path.join(HERE, "results")
FULL = {
    "main job": ["cli_jobs.py", "--job", "exponents"],
    "regimes": ["cli_jobs.py", "--job", "regimes"],
    "kernel speed": ["kernel_speed.py", "--n", "10000", "--dtype", "float32", "--depth", "1", "3", "10",
                     "--no-layers", "--output", os.path.join(RESULTS, "kernel_speed_n10000_float32_quiet.json")],
    "kernel speed, depth 30": ["kernel_speed.py", "--n", "10000", "--dtype", "float32", "--depth", "30", "--no-nt",
                               "--no-layers",
                               "--output", os.path.join(RESULTS, "kernel_speed_n10000_depth30_quiet.json")],
    "layer algebra": ["kernel_speed.py", "--n", "2000", "--depth", "10", "--dtype", "float32", "--no-nt",
                      "--output", os.path.join(RESULTS, "kernel_speed_n2000_layers.json")],
    "compilation cache": ["cli_cache.py"],
    "accuracy": ["accuracy.py"],
    "KIP distillation": ["kip_mnist.py"],
    "arccos": ["arccos_speed.py"],
    "scale": ["scale.py"],
    "solver speed": ["solver_speed.py"],
    "spectrum speed": ["spectrum_speed.py", "--n", "50000", "--top-k", "2000"],
    "scaling exponents": ["scaling_report.py"],
    "deep random features": ["deep_random_features.py"],
}
QUICK = {
    "main job and regimes": ["cli_jobs.py", "--quick"],
    "kernel speed": ["kernel_speed.py", "--n", "2000", "--depth", "3", "--dtype", "float32",
                     "--output", os.path.join(RESULTS, "kernel_speed_quick.json")],
    "compilation cache": ["cli_cache.py", "--n", "1000", "--runs", "2",
                          "--output", os.path.join(RESULTS, "cli_cache_quick.json")],
    "accuracy": ["accuracy.py", "--quick"],
    "arccos": ["arccos_speed.py", "--quick"],
    "scale": ["scale.py", "--n", "4000", "--devices", "1", "2", "--devices-n", "2000",
              "--output", os.path.join(RESULTS, "scale_quick.json")],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: check that the suite runs")
    parser.add_argument("--only", nargs="+", metavar="SECTION", help="rerun these sections, keep the others")
    args = parser.parse_args()
    suite = QUICK if args.quick else FULL
    unknown = sorted(set(args.only or ()) - set(suite))
    if unknown:
        parser.error(f"--only: unknown section(s) {unknown}; expected some of {sorted(suite)}")
    path = os.path.join(HERE, "results", "SUMMARY_quick.md" if args.quick else "SUMMARY.md")
    sections = read_sections(path) if args.only else {}
    failed = []
    for title, command in suite.items():
        if args.only and title not in args.only:
            continue
        command = [sys.executable, os.path.join(HERE, command[0]), *command[1:]]
        print(f"== {title}: {' '.join(command[1:])}", flush=True)
        started = os.getloadavg()[0]
        python_path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": python_path})
        table = [line for line in done.stdout.splitlines() if line.startswith(("|", "depth-", "note:"))]
        print("\n".join(table), flush=True)
        status = "" if done.returncode == 0 else f"\n\nfailed with exit status {done.returncode}: " + \
            (done.stderr.strip().splitlines() or [""])[-1]
        if done.returncode:
            failed.append(title)
        shown = ' '.join(os.path.relpath(c, HERE) if i == 0 else os.path.relpath(c, ROOT) if os.path.isabs(c) else c
                         for i, c in enumerate(command[1:]))
        sections[title] = (f"## {title}\n\n{datetime.date.today()}, load average before "
                           f"{started:.2f}: `python benchmarks/{shown}`\n\n"
                           + "\n".join(table) + status + "\n")
    header = f"# Benchmarks ({platform.platform()}, {os.cpu_count()} CPUs)\n"
    body = [sections.get(title, f"## {title}\n\nnot run into this summary yet (its results file, if any, is from an earlier run)\n") for title in suite]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as file:
        file.write("\n".join([header, *body]))
    os.replace(path + ".tmp", path)
    print(f"saved {path}")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


def read_sections(path: str) -> dict[str, str]:
    """The sections of an existing summary, by title ("## title" up to the next one)."""
    if not os.path.exists(path):
        return {}
    with open(path) as file:
        text = file.read()
    sections = {}
    for chunk in text.split("\n## ")[1:]:
        title = chunk.split("\n", 1)[0].strip()
        sections[title] = "## " + chunk.rstrip("\n") + "\n"
    return sections


if __name__ == "__main__":
    main()
