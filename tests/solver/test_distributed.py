"""The exact solver and the spectrum on a stored kernel: one process with out=folder, and JAX processes sharing it.

The multi-process tests launch 2 local processes with ``jax.distributed.initialize`` (the recipe of
tests/kernels/test_multihost.py: localhost coordinator, 2 CPU devices each) and compare what every
process returns with one process's results. Interrupted solves (an exception in one process, a
process killed among two) resume from the conjugate-gradient checkpoint of the out folder.
"""

import json
import os
import signal
import textwrap

import jax
import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk.kernels import _row_blocks as row_blocks
from nngp_ntk.solver import KernelRegressor, _checkpoint
from nngp_ntk.solver import _krylov as krylov

from jax_processes import ROOT, run_processes

TIMEOUT = 240  # seconds for one multi-process run; a hung coordinator is killed, not waited for
N, N_TEST, RIDGE, TIMES = 200, 12, 1e-3, [1.0, 30.0]
#: Centers of the Nystrom solve; its N x M kernel has several row panels per process with NYSTROM_PANEL_ROWS.
NYSTROM_CENTERS, NYSTROM_PANEL_ROWS = 60, 32
#: A preconditioner of low rank, so that conjugate gradients take tens of iterations on N points,
#: and the iterations after which a solve is interrupted.
LOW_RANK, STOP_AFTER = 5, 6
#: The heartbeat timeout of the processes whose peer is killed: how long JAX holds a survivor at exit.
HEARTBEAT_SECONDS = 20


def _data(dtype=np.float32):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, 4)).astype(dtype)
    return x, np.sin(2 * x[:, :2]).astype(dtype), rng.standard_normal((N_TEST, 4)).astype(dtype)


def _net():
    return nk.FullyConnected(depth=2, activation="relu", W_std=1.4, b_std=0.1, tile_size=64)


def _results(folder, dtype) -> dict[str, np.ndarray]:
    """What each process computes: predictions at t = None and finite t, a covariance, the estimator's
    predictions, Nystrom's predictions (the N x M kernel stored), top eigenvalues."""
    x, y, x_test = _data(dtype)
    net = _net()
    mean, cov = nk.solver.predict(net, x, y, x_test, t=TIMES[1], ridge=RIDGE, return_cov=True, out=folder,
                                  progress=False)
    return dict(
        cov=cov,
        mean=nk.solver.predict(net, x, y, x_test, ridge=RIDGE, out=folder, progress=False),
        flow=nk.solver.predict(net, x, y, x_test, t=TIMES, ridge=RIDGE, out=folder, progress=False),
        estimator=KernelRegressor(net, ridge=RIDGE, out=folder).fit(x, y).predict(x_test),
        nystrom=nk.solver.predict(net, x, y, x_test, ridge=RIDGE, method="nystrom", centers=NYSTROM_CENTERS,
                                  out=os.path.join(folder, "nystrom"), progress=False,
                                  options={"panel_rows": NYSTROM_PANEL_ROWS}),
        eigenvalues=nk.spectrum.eigenvalues(net, x, top_k=6, method="randomized", tol=1e-9, max_passes=30,
                                            out=os.path.join(folder, "spectrum")))


_PROCESS = textwrap.dedent("""
    import json, os, sys
    import jax
    port, process, processes, folder, report = sys.argv[1:]
    process, processes = int(process), int(processes)
    jax.config.update("jax_enable_x64", True)
    jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=processes,
                               process_id=process)
    import numpy as np
    import nngp_ntk as nk
    sys.path.insert(0, os.path.join(os.environ["NK_ROOT"], "tests", "solver"))
    import test_distributed as t

    assert jax.process_count() == processes and jax.local_device_count() == 2
    arrays = {}
    for dtype in (np.float32, np.float64):
        for name, value in t._results(os.path.join(folder, np.dtype(dtype).name), dtype).items():
            arrays[f"{np.dtype(dtype).name}_{name}"] = value
    x, y, x_test = t._data()
    errors = {}
    calls = [("ridge", lambda: nk.solver.predict(t._net(), x, y, x_test, ridge=t.RIDGE * (1 + process),
                                                 out=os.path.join(folder, "float32"))),
             ("other_inputs", lambda: nk.solver.predict(t._net(), 2 * x, y, x_test, ridge=t.RIDGE,
                                                        out=os.path.join(folder, "float32"))),
             ("top_k", lambda: nk.spectrum.eigenvalues(t._net(), x, top_k=4 + process, method="randomized",
                                                       out=os.path.join(folder, "float32", "spectrum"))),
             ("nystrom_ridge", lambda: nk.solver.predict(t._net(), x, y, x_test, ridge=t.RIDGE * (1 + process),
                                                         method="nystrom", centers=t.NYSTROM_CENTERS,
                                                         out=os.path.join(folder, "float32", "nystrom"))),
             ("nystrom_leverage", lambda: nk.solver.predict(t._net(), x, y, x_test, ridge=t.RIDGE, method="nystrom",
                                                            centers=t.NYSTROM_CENTERS, center_selection="leverage",
                                                            out=os.path.join(folder, "float32", "nystrom")))]
    for name, call in calls:
        try:
            call()
        except ValueError as error:
            errors[name] = str(error)
    np.savez(f"{report}.npz", **arrays)
    with open(f"{report}.json", "w") as file:
        json.dump(errors, file)
""")


def _run(processes: int, folder, reports) -> None:
    """Launch ``processes`` JAX processes (2 CPU devices each) running ``_PROCESS`` on ``folder``."""
    codes, logs = run_processes(_PROCESS, processes, reports, (folder,), TIMEOUT, env={"NK_ROOT": ROOT})
    assert codes == [0] * processes, logs


@pytest.mark.slow
def test_two_processes_return_one_process_predictions_and_eigenvalues(tmp_path):
    _run(2, tmp_path / "store", tmp_path / "reports")
    expected = {"float32": _results(str(tmp_path / "single32"), np.float32)}
    with jax.enable_x64(True):
        expected["float64"] = _results(str(tmp_path / "single64"), np.float64)
    tolerance = {"float32": 1e-6, "float64": 1e-10}
    prior = np.diag(_net().kernel(_data()[2], get="nngp")).max()
    returned = [np.load(tmp_path / "reports" / f"{p}.npz") for p in range(2)]
    for dtype, results in expected.items():
        for name, value in results.items():
            key = f"{dtype}_{name}"
            np.testing.assert_array_equal(returned[1][key], returned[0][key])  # every process the same
            # The covariance is the prior minus the part the training explains: it carries the rounding of
            # those terms, relative to the prior's variance (~2 here, the covariance ~0.02).
            scale = prior if name == "cov" else np.abs(value).max()
            np.testing.assert_allclose(returned[0][key], value, rtol=0, atol=tolerance[dtype] * scale, err_msg=key)
    for p in range(2):
        errors = json.loads((tmp_path / "reports" / f"{p}.json").read_text())
        assert "different arguments (process(es) [1]" in errors["ridge"]
        assert "different arguments (process(es) [1]" in errors["top_k"]
        assert "different arguments (process(es) [1]" in errors["nystrom_ridge"]
        assert "use center_selection='uniform' there" in errors["nystrom_leverage"]
        refusal = "different inputs or arguments" if p == 0 else "JAX process(es) [0] failed to prepare"
        assert refusal in errors["other_inputs"]


def test_own_rows_split_the_rows_into_contiguous_blocks():
    blocks = [row_blocks.own_rows(10, p, 4) for p in range(4)]
    assert blocks == [(0, 3), (3, 6), (6, 9), (9, 10)]


def test_stored_kernel_predictions_equal_the_in_memory_solver(tmp_path):
    x, y, x_test = _data()
    net = _net()
    for t in (None, TIMES):
        stored = nk.solver.predict(net, x, y, x_test, t=t, ridge=RIDGE, out=tmp_path, progress=False)
        dense = nk.solver.predict(net, x, y, x_test, t=t, ridge=RIDGE, method="dense")
        np.testing.assert_allclose(stored, dense, rtol=0, atol=2e-5 * np.abs(dense).max())
    assert sorted(os.listdir(tmp_path / "train")) == ["ntk"]
    mean, cov = nk.solver.predict(net, x, y, x_test, ridge=RIDGE, out=tmp_path, return_cov=True, progress=False)
    dense_mean, dense_cov = nk.solver.predict(net, x, y, x_test, ridge=RIDGE, method="dense", return_cov=True)
    np.testing.assert_allclose(cov, dense_cov, rtol=0, atol=1e-4 * np.abs(dense_cov).max())
    # New test points reuse the stored train kernel: only their test-train kernel is computed.
    nk.solver.predict(net, x, y, 2 * x_test, ridge=RIDGE, out=tmp_path, progress=False)
    assert len([name for name in os.listdir(tmp_path) if name.startswith("test-")]) == 2
    regressor = KernelRegressor(net, ridge=RIDGE, out=tmp_path).fit(x, y)
    np.testing.assert_allclose(regressor.predict(x_test), mean, rtol=0, atol=1e-6 * np.abs(mean).max())
    with pytest.raises(ValueError, match="mean only"):
        regressor.predict(x_test, return_std=True)
    labels = np.where(x[:, 0] > 0, "right", "left")
    stored_classes = nk.KernelClassifier(net, ridge=RIDGE, out=tmp_path / "classes").fit(x, labels)
    in_memory = nk.KernelClassifier(net, ridge=RIDGE, solver="dense").fit(x, labels)
    np.testing.assert_allclose(stored_classes.decision_function(x_test), in_memory.decision_function(x_test),
                               rtol=0, atol=1e-4)


def test_stored_kernel_eigenvalues_equal_the_dense_ones(tmp_path):
    x, _, _ = _data()
    dense = nk.spectrum.eigenvalues(_net(), x, top_k=6, method="dense")
    stored = nk.spectrum.eigenvalues(_net(), x, top_k=6, method="randomized", tol=1e-9, max_passes=30,
                                     out=tmp_path)
    np.testing.assert_allclose(stored, dense, rtol=1e-5)
    np.testing.assert_allclose(nk.spectrum.eigenvalues(_net(), x, top_k=6, method="dense", out=tmp_path), dense,
                               rtol=1e-6)


def test_stored_kernel_bad_input(tmp_path):
    x, y, x_test = _data()
    nk.solver.predict(_net(), x, y, x_test, ridge=RIDGE, out=tmp_path, progress=False)
    with pytest.raises(ValueError, match="different inputs or arguments"):
        nk.solver.predict(_net(), 2 * x, y, x_test, ridge=RIDGE, out=tmp_path, progress=False)
    with pytest.raises(ValueError, match="method must be 'auto' or 'iterative'"):
        nk.solver.predict(_net(), x, y, x_test, method="dense", out=tmp_path)
    with pytest.raises(ValueError, match="solver must be 'auto', 'iterative' or 'nystrom'"):
        KernelRegressor(_net(), solver="dense", out=tmp_path).fit(x, y)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        nk.solver.predict(_net(), x, y, x_test, out=tmp_path / "file")
    with pytest.raises(ValueError, match="block_rows"):
        nk.spectrum.eigenvalues(_net(), x, top_k=2, method="randomized", block_rows=0, out=tmp_path / "spectrum")


class Interrupted(Exception):
    """Raised by a product of the stored kernel to stop a solve part-way."""


_MATMUL = krylov.IterativeFlowKernel.matmul


def _count_products(monkeypatch, stop_after=None) -> list[int]:
    """Count the products of the stored kernel (one per CG iteration) in the returned list; raise
    Interrupted at product number ``stop_after`` + 1."""
    products = []

    def counted(self, b):
        if stop_after is not None and len(products) == stop_after:
            raise Interrupted
        products.append(b.shape[-1])
        return _MATMUL(self, b)

    monkeypatch.setattr(krylov.IterativeFlowKernel, "matmul", counted)
    return products


@pytest.mark.parametrize("t", [None, TIMES], ids=["conjugate gradients", "Lanczos"])
def test_interrupted_solve_resumes_from_its_checkpoint(x64, tmp_path, monkeypatch, t):
    x, y, x_test = _data(np.float64)
    net = _net()
    monkeypatch.setattr(krylov, "PRECONDITIONER_RANK", LOW_RANK)
    monkeypatch.setattr(_checkpoint, "SAVE_SECONDS", 0.0)              # every iteration saved
    monkeypatch.setattr(_checkpoint, "SAVE_SHARE", np.inf)
    products = _count_products(monkeypatch)
    expected = nk.solver.predict(net, x, y, x_test, t=t, ridge=RIDGE, out=tmp_path / "uninterrupted", progress=False)
    iterations = len(products)
    assert iterations > STOP_AFTER + 2
    _count_products(monkeypatch, stop_after=STOP_AFTER)
    with pytest.raises(Interrupted):
        nk.solver.predict(net, x, y, x_test, t=t, ridge=RIDGE, out=tmp_path / "run", progress=False)
    loaded, load = [], _checkpoint.Checkpoint.load                  # the iteration of each state loaded

    def spied_load(self):
        state = load(self)
        loaded.append(None if state is None else int(state["iteration"]))
        return state

    monkeypatch.setattr(_checkpoint.Checkpoint, "load", spied_load)
    products = _count_products(monkeypatch)
    resumed = nk.solver.predict(net, x, y, x_test, t=t, ridge=RIDGE, out=tmp_path / "run", progress=False)
    assert loaded[-1] == STOP_AFTER and len(products) == iterations - STOP_AFTER
    np.testing.assert_allclose(resumed, expected, rtol=0, atol=1e-10 * np.abs(expected).max())
    # The same call again finds the finished state: no iteration.
    products.clear()
    again = nk.solver.predict(net, x, y, x_test, t=t, ridge=RIDGE, out=tmp_path / "run", progress=False)
    assert loaded[-1] == iterations and not products
    np.testing.assert_array_equal(again, resumed)
    # Another ridge or other targets ignore the state, start afresh and replace it.
    for ridge, targets in ((2 * RIDGE, y), (RIDGE, -y)):
        products.clear()
        other = nk.solver.predict(net, x, targets, x_test, t=t, ridge=ridge, out=tmp_path / "run", progress=False)
        assert loaded[-1] is None and len(products) > STOP_AFTER
        reference = nk.solver.predict(net, x, targets, x_test, t=t, ridge=ridge, method="dense")
        np.testing.assert_allclose(other, reference, rtol=0, atol=1e-6 * np.abs(reference).max())
    products.clear()
    nk.solver.predict(net, x, y, x_test, t=t, ridge=RIDGE, out=tmp_path / "run", progress=False)
    assert loaded[-1] is None and len(products) == iterations                # the first state was replaced


_KILLED = textwrap.dedent("""
    import json, os, signal, sys
    import jax
    port, process, processes, folder, kill_after, report = sys.argv[1:]
    process, processes, kill_after = int(process), int(processes), int(kill_after)
    sys.path.insert(0, os.path.join(os.environ["NK_ROOT"], "tests", "solver"))
    import test_distributed as t
    jax.config.update("jax_enable_x64", True)
    jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=processes,
                               process_id=process, heartbeat_timeout_seconds=t.HEARTBEAT_SECONDS)
    import numpy as np
    import nngp_ntk as nk
    from nngp_ntk.solver import _checkpoint, _krylov

    _krylov.PRECONDITIONER_RANK = t.LOW_RANK
    _checkpoint.SAVE_SECONDS, _checkpoint.SAVE_SHARE = 0.0, np.inf    # every iteration saved
    products, loaded, written = [], [], []
    matmul, load, write = _krylov.IterativeFlowKernel.matmul, _checkpoint.Checkpoint.load, _checkpoint.write_npz

    def counted(self, b):
        if process == 1 and len(products) == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)          # dies mid-solve: no exception, no shutdown
        products.append(b.shape[-1])
        return matmul(self, b)

    def spied_load(self):
        state = load(self)
        loaded.append(0 if state is None else int(state["iteration"]))
        return state

    _krylov.IterativeFlowKernel.matmul = counted
    _checkpoint.Checkpoint.load = spied_load
    _checkpoint.write_npz = lambda path, **arrays: (written.append(int(arrays["iteration"])), write(path, **arrays))
    x, y, x_test = t._data(np.float64)
    mean = nk.solver.predict(t._net(), x, y, x_test, ridge=t.RIDGE, out=folder, progress=False)
    np.savez(f"{report}.npz", mean=mean)
    with open(f"{report}.json", "w") as file:
        json.dump({"products": len(products), "loaded": loaded, "written": written}, file)
""")


@pytest.mark.slow
def test_a_killed_process_stops_the_others_with_a_clear_error_and_the_rerun_resumes(tmp_path, monkeypatch):
    folder, reports = tmp_path / "store", tmp_path / "reports"
    environment = {"NK_ROOT": ROOT}
    codes, logs = run_processes(_KILLED, 2, reports / "killed", (folder, STOP_AFTER), TIMEOUT, env=environment)
    assert codes[1] == -signal.SIGKILL, logs
    # The survivor raised at once and ended on its own (JAX holds it at exit for its heartbeat timeout),
    # not killed by the launcher's timeout.
    assert codes[0] not in (0, -signal.SIGKILL), logs
    survivor = (reports / "killed" / "0.log").read_text()         # JAX's own messages follow its error
    assert "ProcessLostError: JAX process 0 of 2 lost the other processes" in survivor, survivor
    assert "rerun the same command in every process to resume" in survivor
    assert (f"keeps the conjugate-gradient state after iteration {STOP_AFTER}: the rerun continues from it"
            in survivor), survivor
    codes, logs = run_processes(_KILLED, 2, reports / "resumed", (folder, -1), TIMEOUT, env=environment)
    assert codes == [0, 0], logs
    resumed = [json.loads((reports / "resumed" / f"{p}.json").read_text()) for p in range(2)]
    codes, logs = run_processes(_KILLED, 2, reports / "uninterrupted", (tmp_path / "other", -1), TIMEOUT,
                                env=environment)
    assert codes == [0, 0], logs
    uninterrupted = [json.loads((reports / "uninterrupted" / f"{p}.json").read_text()) for p in range(2)]
    for p in range(2):
        assert resumed[p]["loaded"] == [STOP_AFTER] and uninterrupted[p]["loaded"] == [0]
        assert resumed[p]["products"] == uninterrupted[p]["products"] - STOP_AFTER
        mean, expected = (np.load(reports / run / f"{p}.npz")["mean"] for run in ("resumed", "uninterrupted"))
        np.testing.assert_allclose(mean, expected, rtol=0, atol=1e-10 * np.abs(expected).max())
    # Process 0 alone writes the state, after every iteration here.
    assert resumed[0]["written"] == list(range(STOP_AFTER + 1, uninterrupted[0]["products"] + 1))
    assert not resumed[1]["written"]
    # One process, uninterrupted, gives the same predictions.
    monkeypatch.setattr(krylov, "PRECONDITIONER_RANK", LOW_RANK)
    with jax.enable_x64(True):
        x, y, x_test = _data(np.float64)
        single = nk.solver.predict(_net(), x, y, x_test, ridge=RIDGE, out=tmp_path / "single", progress=False)
    np.testing.assert_allclose(mean, single, rtol=0, atol=1e-10 * np.abs(single).max())
