"""Launch local JAX processes for the multi-process tests: ``jax.distributed`` with localhost as the
coordinator, 2 CPU devices each (the recipe of the docs' "Beyond one machine")."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    """A TCP port free on localhost now (for the coordinator)."""
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def run_processes(script: str, processes: int, reports: str | os.PathLike, args: Sequence[object],
                  timeout: float, env: dict[str, str] | None = None) -> tuple[list[int], list[str]]:
    """Run ``python -c script`` in ``processes`` processes with argv ``port, process, processes, *args,
    reports/<process>``; a process still running after ``timeout`` seconds is killed. Returns the exit
    codes and the last 3000 characters of each process's output (``reports/<process>.log``)."""
    environment = {k: v for k, v in os.environ.items() if "_proxy" not in k.lower()}  # proxies can hang gRPC
    # the repository and tests/ (a process may import a test module, which imports these helpers)
    path = os.pathsep.join([ROOT, os.path.join(ROOT, "tests"), os.environ.get("PYTHONPATH", "")])
    environment.update(PYTHONPATH=path, JAX_PLATFORMS="cpu",
                       XLA_FLAGS="--xla_force_host_platform_device_count=2", **(env or {}))
    port = free_port()
    os.makedirs(reports, exist_ok=True)
    launched = []
    for p in range(processes):
        log = open(os.path.join(reports, f"{p}.log"), "w")
        argv = [sys.executable, "-c", script, *map(str, (port, p, processes, *args)), os.path.join(reports, str(p))]
        launched.append((subprocess.Popen(argv, env=environment, stdout=log, stderr=subprocess.STDOUT), log))
    deadline = time.monotonic() + timeout
    try:
        codes = [process.wait(timeout=max(1.0, deadline - time.monotonic())) for process, _ in launched]
    finally:
        for process, log in launched:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    logs = [open(os.path.join(reports, f"{p}.log")).read()[-3000:] for p in range(processes)]
    return codes, logs
