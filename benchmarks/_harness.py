"""The benchmarks' shared harness: a timer that names its statistic, peak resident memory, a
description of the machine, processes timed from start to exit, and one writer of result files.

Every result file under ``benchmarks/results/`` is one JSON object, written by ``write_result``::

    {"command": "python benchmarks/kernel_speed.py --n 10000 ...",   the command line that wrote it
     "date": "2026-12-02",                                           the day it was written
     "machine": {"platform": ..., "cpus": 2, "load_average_before": 1.9, ...},
     "results": {...}}                                                what the script measured

``benchmarks/report.py`` renders the documentation's results page from these files. With
``--quick`` the scripts write under ``benchmarks/results/quick/`` (ignored by git), so that a check
of the suite never replaces the committed results.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
QUICK_RESULTS = RESULTS / "quick"

#: ru_maxrss is in kibibytes on Linux and in bytes on macOS.
_RSS_UNIT = 1 if sys.platform == "darwin" else 1024
#: Environment variables that change what a benchmark measures; recorded with the machine when set.
_ENVIRONMENT = ("JAX_COMPILATION_CACHE_DIR", "JAX_ENABLE_X64", "XLA_FLAGS", "OPENBLAS_NUM_THREADS",
                "OMP_NUM_THREADS", "NNGP_NTK_COMPILE_CACHE")
_STATISTICS: dict[str, Callable[[list[float]], float]] = {"min": min, "median": statistics.median}


@dataclasses.dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of a call, reduced over its samples by a named statistic.

    Attributes:
        statistic: how ``seconds`` was formed from ``samples``: "one call", "min of 7", "median of 3".
        seconds: the statistic's value.
        samples: every measured time, in call order.
    """

    statistic: str
    seconds: float
    samples: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: {"statistic", "seconds", "samples"}."""
        return {"statistic": self.statistic, "seconds": self.seconds, "samples": list(self.samples)}


class Stopwatch:
    """Wall-clock seconds (time.perf_counter) since it was made: time a block of several steps."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def seconds(self) -> float:
        """Seconds since the stopwatch was made."""
        return time.perf_counter() - self._start


def time_once(call: Callable[[], Any]) -> tuple[Any, Timing]:
    """``call()``'s value and its wall time (time.perf_counter), statistic "one call"."""
    clock = Stopwatch()
    value = call()
    seconds = clock.seconds()
    return value, Timing("one call", seconds, (seconds,))


def time_calls(call: Callable[[], Any], repeats: int, statistic: str = "median") -> Timing:
    """Wall time of ``repeats`` calls of ``call()``, reduced by ``statistic`` ("median" or "min").

    Time the first (compiling) call apart with ``time_once``; these are later calls.
    """
    if statistic not in _STATISTICS:
        raise ValueError(f"statistic must be one of {sorted(_STATISTICS)}, got {statistic!r}")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return Timing(f"{statistic} of {repeats}", _STATISTICS[statistic](samples), tuple(samples))


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far, in bytes (getrusage's ru_maxrss)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _RSS_UNIT


def machine(**extra: Any) -> dict[str, Any]:
    """The machine a benchmark runs on: platform, processor, CPUs, Python, JAX (and its devices when
    JAX is imported), the environment variables that change the measurement, and the 1-minute load
    average now (``load_average_before``: call this before the work). ``extra`` is added."""
    description: dict[str, Any] = {"platform": platform.platform(), "processor": platform.processor(),
                                   "cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        description["jax"] = importlib.metadata.version("jax")
    except importlib.metadata.PackageNotFoundError:
        pass
    if "jax" in sys.modules:
        devices = sys.modules["jax"].devices()
        description["devices"] = f"{len(devices)} x {devices[0].device_kind} ({devices[0].platform})"
    description.update({name: os.environ[name] for name in _ENVIRONMENT if name in os.environ})
    description["load_average_before"] = round(os.getloadavg()[0], 2)
    return {**description, **extra}


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command that runs this script: ``python <path from the repository root> <arguments>``."""
    argv = list(sys.argv if argv is None else argv)
    script = os.path.relpath(os.path.abspath(argv[0]), ROOT) if argv else ""
    return shlex.join(["python", script, *argv[1:]])


def result_path(name: str, quick: bool = False) -> Path:
    """Where a result file named ``name`` goes: benchmarks/results/, or results/quick/ for a quick run."""
    return (QUICK_RESULTS if quick else RESULTS) / name


def write_result(path: str | os.PathLike, results: Any, machine_description: dict[str, Any],
                 command: str | None = None) -> Path:
    """Write ``results`` as a result file (the module docstring's form) at ``path``, atomically.

    Args:
        path: the JSON file.
        results: what the script measured (JSON-serializable).
        machine_description: ``machine()``, taken before the work.
        command: the command line; default ``command_line()``.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"command": command or command_line(), "date": datetime.date.today().isoformat(),
              "machine": machine_description, "results": results}
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(temporary, path)
    print(f"saved {os.path.relpath(path, ROOT)}", flush=True)
    return path


def read_result(path: str | os.PathLike) -> dict[str, Any] | None:
    """A result file's record (command, date, machine, results), or None when there is none."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None


@dataclasses.dataclass(frozen=True)
class Process:
    """A finished child process: its exit status, wall time from start to exit, peak resident memory
    (its own ru_maxrss, from wait4), output, and whether it was killed at its timeout."""

    returncode: int
    seconds: float
    peak_rss_bytes: int
    stdout: str
    stderr: str
    timed_out: bool


def run_process(command: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | os.PathLike | None = None,
                timeout: float | None = None) -> Process:
    """Run ``command`` to its end (killed after ``timeout`` seconds), timed from start to exit."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            child.kill()

        timer = threading.Timer(timeout, kill) if timeout is not None else None
        if timer is not None:
            timer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Process(child.returncode, seconds, usage.ru_maxrss * _RSS_UNIT, out.read(), err.read(),
                       expired.is_set())


def run_worker(command: Sequence[str], *, env: dict[str, str] | None = None, timeout: float | None = None
               ) -> dict[str, Any]:
    """Run a worker process that prints its result as its last JSON line ("{...}"); that dict, or
    {"error": ...} saying why there is none (timeout, a signal such as the out-of-memory killer's,
    an exception)."""
    done = run_process(command, env=env, timeout=timeout)
    if done.timed_out:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode < 0:
        return {"error": f"killed by signal {-done.returncode} (out of memory?)"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        errors = [line for line in done.stderr.splitlines() if "Error" in line or "error" in line]
        return {"error": (errors or [f"exit status {done.returncode}"])[-1][:200]}
    return json.loads(lines[-1])
