"""predict_exponents on a stored kernel shared by JAX processes: every process returns one process's result.

The test launches 2 local processes with ``jax.distributed.initialize`` (``tests/jax_processes.py``:
localhost coordinator, 2 CPU devices each) that call ``predict_exponents(..., out=folder)`` above
``max_points`` on one shared folder, and compares what each returns with one process's call.
"""

import json
import textwrap

import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk import data

from jax_processes import ROOT, run_processes

TIMEOUT = 240  # seconds for one multi-process run; a hung coordinator is killed, not waited for
FIELDS = ("eigenvalues", "losses", "model_losses")


def _net():
    return nk.FullyConnected(depth=2, activation="relu", W_std=1.4, b_std=0.1, tile_size=32)


#: 3 subsets of 40 of the 120 points; the top k = 40 eigenvalues of all of them.
OPTIONS = dict(kernel="ntk", sizes=[5, 10, 20], max_points=40, window=(2, 20), seed=1, model_method="leave-one-out")


def _arrays(result: nk.theory.Exponents) -> dict[str, np.ndarray]:
    return {name: getattr(result, name) for name in FIELDS} | {
        "exponents": np.array([result.alpha_K, result.beta, result.alpha_D, result.alpha_P, result.sample_fit.alpha])}


_PROCESS = textwrap.dedent("""
    import json, os, sys
    import jax
    port, process, processes, problem, folder, report = sys.argv[1:]
    process, processes = int(process), int(processes)
    jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=processes,
                               process_id=process)
    import numpy as np
    import nngp_ntk as nk
    sys.path.insert(0, os.path.join(os.environ["NK_ROOT"], "tests", "theory"))
    import test_exponents_multihost as t

    assert jax.process_count() == processes and jax.local_device_count() == 2
    X, y = np.load(problem).values()
    np.savez(f"{report}.npz", **t._arrays(nk.predict_exponents(t._net(), X, y, out=folder, **t.OPTIONS)))
    errors = {}
    for name, change in (("seed", dict(seed=1 + process)), ("auto", dict(model_method="auto"))):
        try:
            nk.predict_exponents(t._net(), X, y, out=folder, **dict(t.OPTIONS, **change))
        except ValueError as error:
            errors[name] = str(error)
    with open(f"{report}.json", "w") as file:
        json.dump(errors, file)
""")


@pytest.mark.slow
def test_two_processes_return_one_process_exponents(tmp_path):
    X = data.sphere(120, 3, seed=0)
    y = data.gp_targets(_net(), X.astype(np.float32), kernel="ntk", n_outputs=2, seed=1)
    np.savez(tmp_path / "problem.npz", X=X, y=y)
    codes, logs = run_processes(_PROCESS, 2, tmp_path / "reports", (tmp_path / "problem.npz", tmp_path / "store"),
                                TIMEOUT, env={"NK_ROOT": ROOT})
    assert codes == [0, 0], logs
    expected = _arrays(nk.predict_exponents(_net(), X, y, out=tmp_path / "single", **OPTIONS))
    returned = [np.load(tmp_path / "reports" / f"{p}.npz") for p in range(2)]
    for name, value in expected.items():
        np.testing.assert_array_equal(returned[1][name], returned[0][name])     # every process the same
        np.testing.assert_allclose(returned[0][name], value, rtol=1e-6, err_msg=name)
    for p in range(2):
        errors = json.loads((tmp_path / "reports" / f"{p}.json").read_text())
        assert "predict_exponents with different arguments (process(es) [1]" in errors["seed"]
        assert "'sampled-layers' (auto's choice for a deep network with targets)" in errors["auto"]
