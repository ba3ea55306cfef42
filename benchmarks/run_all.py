"""The benchmark suite, one entry point: runs every benchmark script and collects their tables.

    python benchmarks/run_all.py            # full sizes (about an hour on a 2-core CPU)
    python benchmarks/run_all.py --quick    # small sizes, a few minutes: checks the suite runs

Each script prints a markdown table and saves its own JSON under benchmarks/results/; this one
runs them in turn (kernel speed against neural-tangents and the GEMM floor, scale: out-of-core
and devices, solver speed, spectrum speed, scaling exponents) and writes their tables, with the
command lines, to benchmarks/results/SUMMARY.md (SUMMARY_quick.md with --quick).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

FULL = {
    "kernel speed": ["kernel_speed.py", "--n", "2000", "5000", "10000", "20000"],
    "scale": ["scale.py"],
    "solver speed": ["solver_speed.py"],
    "spectrum speed": ["spectrum_speed.py", "--n", "50000", "--top-k", "2000"],
    "scaling exponents": ["scaling_report.py"],
}
QUICK = {
    "kernel speed": ["kernel_speed.py", "--n", "2000", "--depth", "3", "--dtype", "float32", "--no-accuracy",
                     "--output", os.path.join(HERE, "results", "kernel_speed_quick.json")],
    "scale": ["scale.py", "--n", "4000", "--devices", "1", "2", "--devices-n", "2000",
              "--output", os.path.join(HERE, "results", "scale_quick.json")],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: check that the suite runs")
    args = parser.parse_args()
    suite = QUICK if args.quick else FULL
    sections = [f"# Benchmarks ({datetime.date.today()}, {platform.platform()}, {os.cpu_count()} CPUs)\n"]
    failed = []
    for title, command in suite.items():
        command = [sys.executable, os.path.join(HERE, command[0]), *command[1:]]
        print(f"== {title}: {' '.join(command[1:])}", flush=True)
        done = subprocess.run(command, capture_output=True, text=True)
        table = [line for line in done.stdout.splitlines() if line.startswith(("|", "depth-", "note:"))]
        print("\n".join(table), flush=True)
        status = "" if done.returncode == 0 else f"\n\nfailed with exit status {done.returncode}: " + \
            (done.stderr.strip().splitlines() or [""])[-1]
        if done.returncode:
            failed.append(title)
        sections.append(f"## {title}\n\n`python benchmarks/{' '.join(os.path.relpath(c, HERE) if i == 0 else c for i, c in enumerate(command[1:]))}`\n\n"
                        + "\n".join(table) + status + "\n")
    path = os.path.join(HERE, "results", "SUMMARY_quick.md" if args.quick else "SUMMARY.md")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as file:
        file.write("\n".join(sections))
    os.replace(path + ".tmp", path)
    print(f"saved {path}")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
