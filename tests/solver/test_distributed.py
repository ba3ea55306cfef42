"""The exact solver and the spectrum on a stored kernel: one process with out=folder, and JAX processes sharing it.

The multi-process tests launch 2 local processes with ``jax.distributed.initialize`` (the recipe of
tests/kernels/test_multihost.py: localhost coordinator, 2 CPU devices each) and compare what every
process returns with one process's results.
"""

import json
import os
import textwrap

import jax
import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk.kernels import _row_blocks as row_blocks
from nngp_ntk.solver import KernelRegressor

from jax_processes import ROOT, run_processes

TIMEOUT = 240  # seconds for one multi-process run; a hung coordinator is killed, not waited for
N, N_TEST, RIDGE, TIMES = 200, 12, 1e-3, [1.0, 30.0]


def _data(dtype=np.float32):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, 4)).astype(dtype)
    return x, np.sin(2 * x[:, :2]).astype(dtype), rng.standard_normal((N_TEST, 4)).astype(dtype)


def _net():
    return nk.FullyConnected(depth=2, activation="relu", W_std=1.4, b_std=0.1, tile_size=64)


def _results(folder, dtype) -> dict[str, np.ndarray]:
    """What each process computes: predictions at t = None and finite t, a covariance, the estimator's
    predictions, top eigenvalues."""
    x, y, x_test = _data(dtype)
    net = _net()
    mean, cov = nk.solver.predict(net, x, y, x_test, t=TIMES[1], ridge=RIDGE, return_cov=True, out=folder,
                                  progress=False)
    return dict(
        cov=cov,
        mean=nk.solver.predict(net, x, y, x_test, ridge=RIDGE, out=folder, progress=False),
        flow=nk.solver.predict(net, x, y, x_test, t=TIMES, ridge=RIDGE, out=folder, progress=False),
        estimator=KernelRegressor(net, ridge=RIDGE, out=folder).fit(x, y).predict(x_test),
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
                                                       out=os.path.join(folder, "float32", "spectrum")))]
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
