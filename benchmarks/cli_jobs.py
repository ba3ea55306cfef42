"""The README's two command-line runs, each in a fresh process, timed, with their results committed.

    python benchmarks/cli_jobs.py                    # both at full size (about 10 min on a 2-core CPU)
    python benchmarks/cli_jobs.py --job exponents    # the main job alone: nngp-ntk exponents
    python benchmarks/cli_jobs.py --quick            # --fast runs: checks that this script works

* ``exponents``: the main job, ``nngp-ntk exponents`` (5,000 MNIST images, ReLU depth 3, NTK):
  predicted and measured alpha_K, beta, alpha_D, alpha_P -> results/main_job.json;
* ``regimes``: ``nngp-ntk run configs/sphere_teacher_student.toml``, the four regimes of Bahri et
  al., teacher = student on the sphere -> results/regimes.json.

Each runs as a new-user would run it, ``python -m nngp_ntk ...`` in a fresh process (JAX start,
data loading and compilation included), with its output in a temporary folder. Saved beside the
command's own JSON (under "result"): the command line, its wall time ("wall_seconds", measured
around the process), its peak resident memory ("peak_rss_bytes", the process's ru_maxrss), the
machine and its load average before the run (a busy machine is slower: quote a quiet run).
With --quick the runs take --fast and write main_job_quick.json / regimes_quick.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
JOBS = {
    "exponents": (["exponents"], "exponents.json", "main_job"),
    "regimes": (["run", os.path.join("configs", "sphere_teacher_student.toml")], "regimes.json", "regimes"),
}


def run_job(arguments: list[str], result_name: str, quick: bool) -> dict:
    """Run ``python -m nngp_ntk <arguments>`` in a fresh process; its wall time, peak memory and result."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "nngp_ntk", *arguments, "--out", folder, "--quiet"]
        command += ["--fast"] if quick else []
        load = os.getloadavg()[0]
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            raise SystemExit(f"{' '.join(command)} failed with exit status {process.returncode}:\n{output}")
        with open(os.path.join(folder, result_name)) as file:
            result = json.load(file)
    return {"command": "nngp-ntk " + " ".join(arguments + (["--fast"] if quick else [])),
            "wall_seconds": round(wall, 1), "peak_rss_bytes": usage.ru_maxrss * 1024,
            "machine": platform.platform(), "cpus": os.cpu_count(), "load_average_before": round(load, 2),
            "printed": output.splitlines(), "result": result}


def _interval(value: float | None, ci: list[float | None] | None, reason: str | None = None) -> str:
    """"value [low, high]"; an unreliable fit (its value None: NaN in the command's JSON) gives its reason."""
    if value is None:
        return f"unreliable: {reason}" if reason else ""
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and None not in ci else "")


def table(job: str, record: dict) -> list[str]:
    """The markdown rows the README quotes, from a saved record."""
    result = record["result"]
    lines = [f"| {record['command']} | wall {record['wall_seconds']:.0f} s | peak RSS "
             f"{record['peak_rss_bytes'] / 2**30:.2f} GB | load before {record['load_average_before']} |",
             "|---|---|---|---|"]
    if job == "exponents":
        p, m = result["predicted"], result["measured"]
        lines += ["| quantity | predicted | measured |", "|---|---|---|",
                  f"| alpha_K, kernel operator | {_interval(p['alpha_K'], p['alpha_K_ci'])} | |",
                  f"| alpha_K_sample, raw sample eigenvalues, i = {p['window'][0]}..{p['window'][1]} | "
                  f"{_interval(p['alpha_K_sample'], p['alpha_K_sample_ci'])} | |",
                  f"| beta, the labels' power | {_interval(p['beta'], p['beta_ci'])} | |",
                  f"| alpha_D | {_interval(p['alpha_D'], p['alpha_D_ci'])} | "
                  f"{_interval(m['alpha_D'], m['alpha_D_ci'], m['learning_curve'].get('reason'))} |",
                  f"| alpha_P | {_interval(p['alpha_P'], p['alpha_P_ci'])} | "
                  f"{_interval(m['alpha_P'], m['alpha_P_ci'], (m['model_curve'] or {}).get('reason'))} |"]
    else:
        lines += ["| regime | predicted | measured |", "|---|---|---|"]
        for name, entry in result["regimes"].items():
            lines.append(f"| {name.replace('_', ' ')} | {_interval(entry['predicted'], entry.get('predicted_ci'))} "
                         f"| {_interval(entry['alpha'], entry['ci'], entry.get('reason'))} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--job", choices=sorted(JOBS), nargs="+", default=sorted(JOBS))
    parser.add_argument("--quick", action="store_true", help="--fast runs, saved as *_quick.json")
    args = parser.parse_args()
    for job in args.job:
        arguments, result_name, stem = JOBS[job]
        record = run_job(arguments, result_name, args.quick)
        print("\n".join(table(job, record)), flush=True)
        path = os.path.join(HERE, "results", f"{stem}_quick.json" if args.quick else f"{stem}.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w") as file:
            json.dump(record, file, indent=1)
        os.replace(path + ".tmp", path)
        print(f"saved {path}", flush=True)


if __name__ == "__main__":
    main()
