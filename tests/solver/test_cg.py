"""Tests of nngp_ntk.solver._cg: conjugate gradients on blocks of columns, saved and resumed."""

from __future__ import annotations

import numpy as np
import pytest

from nngp_ntk.kernels._tile_store import ProcessLostError
from nngp_ntk.solver import _cg, _checkpoint


class Interrupted(Exception):
    """Raised by a product to stop a run part-way."""


@pytest.fixture()
def problem():
    rng = np.random.default_rng(0)
    factor = rng.standard_normal((120, 120))
    matrix = factor @ factor.T / 120 + 1e-3 * np.eye(120)
    b = rng.standard_normal((120, 3))
    b[:, 1] = 0.0                                     # a zero column takes no iteration
    inverse_diagonal = 1.0 / np.diagonal(matrix)
    return matrix, b, lambda v: inverse_diagonal[:, None] * v


def _products(matrix, calls, stop_at=None):
    """v -> matrix v, counting the calls in ``calls``; raises Interrupted at call number ``stop_at``."""
    def matmul(v):
        if stop_at is not None and len(calls) == stop_at:
            raise Interrupted
        calls.append(v.shape[1])
        return matrix @ v
    return matmul


def _save_every_iteration(monkeypatch):
    monkeypatch.setattr(_checkpoint, "SAVE_SECONDS", 0.0)
    monkeypatch.setattr(_checkpoint, "SAVE_SHARE", np.inf)


def _interrupt(problem, checkpoint, stop_at):
    """Run the solve on ``problem`` with ``checkpoint`` until product number ``stop_at`` interrupts it."""
    matrix, b, precondition = problem
    with pytest.raises(Interrupted):
        _cg.solve(_products(matrix, [], stop_at=stop_at), b, tol=1e-12, maxiter=500, precondition=precondition,
                  checkpoint=checkpoint)


def _saved_iteration(path, key):
    return int(_cg.checkpoint(path, key).load()["iteration"])


def test_solve_agrees_with_numpy(problem):
    matrix, b, precondition = problem
    state = _cg.solve(_products(matrix, []), b, tol=1e-12, maxiter=500, precondition=precondition)
    np.testing.assert_allclose(state.x, np.linalg.solve(matrix, b), rtol=0, atol=1e-9 * np.abs(b).max())
    assert state.residuals().max() <= 1e-12 and state.residuals()[1] == 0.0
    assert np.all(state.x[:, 1] == 0.0)


def test_interrupted_run_resumes_where_it_stopped(problem, tmp_path, monkeypatch):
    matrix, b, precondition = problem
    _save_every_iteration(monkeypatch)
    calls = []
    reference = _cg.solve(_products(matrix, calls), b, tol=1e-12, maxiter=500, precondition=precondition)
    assert reference.iteration == len(calls) > 10
    path = str(tmp_path / _cg.STATE_FILE)
    _interrupt(problem, _cg.checkpoint(path, "problem"), stop_at=7)
    assert _saved_iteration(path, "problem") == 7
    resumed_calls = []
    resumed = _cg.solve(_products(matrix, resumed_calls), b, tol=1e-12, maxiter=500, precondition=precondition,
                        checkpoint=_cg.checkpoint(path, "problem"))
    assert len(resumed_calls) == reference.iteration - 7 and resumed.iteration == reference.iteration
    np.testing.assert_array_equal(resumed.x, reference.x)             # the same iterations, bit for bit
    # A finished run leaves its final state: the same call again runs no iteration.
    again = []
    _cg.solve(_products(matrix, again), b, tol=1e-12, maxiter=500, precondition=precondition,
              checkpoint=_cg.checkpoint(path, "problem"))
    assert again == []


def test_another_problem_ignores_and_replaces_the_state(problem, tmp_path, monkeypatch):
    matrix, b, precondition = problem
    _save_every_iteration(monkeypatch)
    path = str(tmp_path / _cg.STATE_FILE)
    _interrupt(problem, _cg.checkpoint(path, "first"), stop_at=5)
    calls = []
    other = _cg.solve(_products(matrix, calls), 2 * b, tol=1e-12, maxiter=500, precondition=precondition,
                      checkpoint=_cg.checkpoint(path, "second"))
    assert len(calls) == other.iteration                               # from the start
    assert _cg.checkpoint(path, "first").load() is None           # replaced
    assert _saved_iteration(path, "second") == other.iteration
    with open(path, "wb") as file:                                     # an unreadable file counts as none
        file.write(b"not a state")
    assert _cg.checkpoint(path, "second").load() is None


@pytest.mark.parametrize("seconds, share", [(1e9, np.inf), (0.0, 1e-12)])
def test_saves_wait_save_seconds_and_their_share_of_the_time_and_the_last_state_is_saved(
        problem, tmp_path, monkeypatch, seconds, share):
    matrix, b, precondition = problem
    monkeypatch.setattr(_checkpoint, "SAVE_SECONDS", seconds)
    monkeypatch.setattr(_checkpoint, "SAVE_SHARE", share)
    written = []
    write = _checkpoint.write_npz
    monkeypatch.setattr(_checkpoint, "write_npz", lambda path, **arrays: (written.append(int(arrays["iteration"])),
                                                                     write(path, **arrays)))
    state = _cg.solve(_products(matrix, []), b, tol=1e-12, maxiter=500, precondition=precondition,
                      checkpoint=_cg.checkpoint(str(tmp_path / _cg.STATE_FILE), "problem"))
    # A long interval saves only the last state; with a tiny share, the first save (iteration 1) puts off
    # every other one until the end.
    assert written == ([state.iteration] if seconds else [1, state.iteration])


def test_a_lost_process_says_where_the_state_is_and_that_a_rerun_resumes(problem, tmp_path, monkeypatch):
    matrix, b, precondition = problem
    _save_every_iteration(monkeypatch)

    def lost_after(products):
        calls = []

        def matmul(v):
            if len(calls) == products:
                raise ProcessLostError("JAX process 0 of 2 lost the other processes")
            calls.append(v.shape[1])
            return matrix @ v
        return matmul

    with pytest.raises(ProcessLostError, match="lost the other processes.*state after iteration 4: the rerun "
                                               "continues from it"):
        _cg.solve(lost_after(4), b, tol=1e-12, maxiter=500, precondition=precondition,
                  checkpoint=_cg.checkpoint(str(tmp_path / _cg.STATE_FILE), "problem"))
    with pytest.raises(ProcessLostError, match="no conjugate-gradient iteration was saved .* starts them afresh"):
        _cg.solve(lost_after(0), b, tol=1e-12, maxiter=500, precondition=precondition,
                  checkpoint=_cg.checkpoint(str(tmp_path / "other.npz"), "problem"))


def test_processes_that_read_different_states_start_afresh(problem, tmp_path, monkeypatch):
    _save_every_iteration(monkeypatch)
    path = str(tmp_path / _cg.STATE_FILE)
    _interrupt(problem, _cg.checkpoint(path, "problem", distributed=True), stop_at=5)
    # Two JAX processes, the second of which read another state (a folder not shared alike).
    monkeypatch.setattr(_checkpoint.jax, "process_count", lambda: 2)
    monkeypatch.setattr(_checkpoint, "same_in_all_processes", lambda *parts, what: np.array([True, False]))
    with pytest.warns(UserWarning, match=r"process\(es\) \[1\] differ from process 0.*afresh"):
        assert _cg.checkpoint(path, "problem", distributed=True).load() is None
