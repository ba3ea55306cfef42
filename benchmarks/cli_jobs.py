"""The two command-line jobs, each in a fresh process, timed, with their results committed.

    python benchmarks/cli_jobs.py                    # both at full size (about 10 min on a 2-core CPU)
    python benchmarks/cli_jobs.py --job exponents    # the main job alone: nngp-ntk exponents
    python benchmarks/cli_jobs.py --quick            # --fast runs: checks that this script works

* ``exponents``: the main job, ``nngp-ntk exponents`` (5,000 MNIST images, ReLU depth 3, NTK):
  predicted and measured alpha_K, beta, alpha_D, alpha_P -> results/main_job.json;
* ``regimes``: ``nngp-ntk run configs/sphere_teacher_student.toml``, the four regimes of Bahri et
  al., teacher = student on the sphere -> results/regimes.json.

Each runs as a new-user would run it, ``python -m nngp_ntk ...`` in a fresh process (JAX start,
data loading and compilation included), with its output in a temporary folder. Saved, as a result
file of ``benchmarks/_harness.py`` (with the machine and its load average before the run: a busy
machine is slower, quote a quiet run), beside the command's own JSON (under "result"): the job's
command line, its wall time ("wall_seconds", measured around the process) and its peak resident
memory ("peak_rss_bytes", the process's ru_maxrss). With --quick the runs take --fast and write
under benchmarks/results/quick/.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import _harness

ROOT = str(_harness.ROOT)
JOBS = {
    "exponents": (["exponents"], "exponents.json", "main_job"),
    "regimes": (["run", os.path.join("configs", "sphere_teacher_student.toml")], "regimes.json", "regimes"),
}


def run_job(arguments: list[str], result_name: str, quick: bool) -> dict:
    """Run ``python -m nngp_ntk <arguments>`` in a fresh process; its wall time, peak memory and result."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "nngp_ntk", *arguments, "--out", folder, "--quiet"]
        command += ["--fast"] if quick else []
        done = _harness.run_process(command, cwd=ROOT)
        if done.returncode:
            raise SystemExit(f"{' '.join(command)} failed with exit status {done.returncode}:\n"
                             f"{done.stdout}{done.stderr[-2000:]}")
        with open(os.path.join(folder, result_name)) as file:
            result = json.load(file)
    return {"job": "nngp-ntk " + " ".join(arguments + (["--fast"] if quick else [])),
            "wall_seconds": round(done.seconds, 1), "peak_rss_bytes": done.peak_rss_bytes,
            "printed": done.stdout.splitlines(), "result": result}


def _interval(value: float | None, ci: list[float | None] | None, reason: str | None = None) -> str:
    """"value [low, high]"; an unreliable fit (its value None: NaN in the command's JSON) gives its reason."""
    if value is None:
        return f"unreliable: {reason}" if reason else ""
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and None not in ci else "")


def table(job: str, record: dict, load_before: float) -> list[str]:
    """Markdown rows of a job's record: its wall time and memory, predicted and measured exponents."""
    result = record["result"]
    lines = [f"| {record['job']} | wall {record['wall_seconds']:.0f} s | peak RSS "
             f"{record['peak_rss_bytes'] / 2**30:.2f} GB | load before {load_before} |",
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
    parser.add_argument("--quick", action="store_true", help="--fast runs, saved under results/quick/")
    args = parser.parse_args()
    for job in args.job:
        arguments, result_name, stem = JOBS[job]
        started = _harness.machine()
        record = run_job(arguments, result_name, args.quick)
        print("\n".join(table(job, record, started["load_average_before"])), flush=True)
        command = f"python benchmarks/cli_jobs.py --job {job}" + (" --quick" if args.quick else "")
        _harness.write_result(_harness.result_path(f"{stem}.json", quick=args.quick), record, started, command)


if __name__ == "__main__":
    main()
