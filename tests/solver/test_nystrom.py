"""Tests of the Nystrom solver (``method="nystrom"``): the closed form at M = N, convergence toward
the exact solver as M grows, the preconditioner against plain conjugate gradients, leverage-score
centers, the out-of-core panels and their resumption, and bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse.linalg
from sklearn.base import clone

import nngp_ntk as nk
from nngp_ntk.kernels import _tile_store
from nngp_ntk.solver import _checkpoint, _nystrom

NET = nk.FullyConnected(depth=2, W_std=1.5, b_std=0.1)


def sphere(n, dim=5, seed=0):
    """Points on the unit sphere in R^dim and the smooth target sin(2 x_0) + x_1 x_2."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, np.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2]


def uneven(n, seed):
    """90% of the points in a cap of the sphere in R^3, 10% spread over it; a target that varies everywhere."""
    rng = np.random.default_rng(seed)
    bulk = 0.15 * rng.standard_normal((n, 3)) + np.array([0.0, 0.0, 1.0])
    x = np.where((rng.random(n) < 0.1)[:, None], rng.standard_normal((n, 3)), bulk)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, np.sin(3 * x[:, 0]) + np.cos(2 * x[:, 1])


def closed_form(net, x, y, xt, ridge):
    """K(x_test, X) (K + ridge I)^-1 Y in float64."""
    k = np.asarray(net.kernel(x, get="ntk"), np.float64)
    return np.asarray(net.kernel(xt, x, get="ntk"), np.float64) @ scipy.linalg.solve(k + ridge * np.eye(len(x)), y,
                                                                                  assume_a="pos")


@pytest.mark.parametrize("selection", ["uniform", "leverage"])
def test_all_points_as_centers_is_the_exact_solver(x64, selection):
    x, y = sphere(300)
    xt, _ = sphere(40, seed=1)
    y2 = np.stack([y, np.cos(x[:, 3])], axis=1)
    expected = closed_form(NET, x, y2, xt, 1e-3)
    mean = nk.solver.predict(NET, x, y2, xt, ridge=1e-3, method="nystrom", centers=300, center_selection=selection)
    assert mean.dtype == np.float64 and mean.shape == (40, 2)
    np.testing.assert_allclose(mean, expected, rtol=0, atol=1e-6 * np.abs(expected).max())
    exact = nk.solver.predict(NET, x, y, xt, ridge=1e-3)
    nystrom = nk.solver.predict(NET, x, y, xt, ridge=1e-3, method="nystrom", centers=300)
    assert nystrom.shape == (40,)
    np.testing.assert_allclose(nystrom, exact, rtol=0, atol=1e-6 * np.abs(exact).max())


def test_float32_all_points_as_centers_is_the_exact_solver():
    x, y = sphere(300)
    xt, _ = sphere(40, seed=1)
    x, xt = x.astype(np.float32), xt.astype(np.float32)
    exact = nk.solver.predict(NET, x, y, xt, ridge=1e-2)
    nystrom = nk.solver.predict(NET, x, y, xt, ridge=1e-2, method="nystrom", centers=300)
    assert nystrom.dtype == np.float32
    np.testing.assert_allclose(nystrom, exact, rtol=0, atol=1e-4 * np.abs(exact).max())


def test_test_error_approaches_the_exact_one_as_centers_grow(x64):
    x, y = sphere(500)
    xt, yt = sphere(200, seed=1)
    ridge = 1e-3
    exact = np.mean((closed_form(NET, x, y, xt, ridge) - yt) ** 2)
    gaps = []
    for m in (10, 40, 160, 500):
        mean = nk.solver.predict(NET, x, y, xt, ridge=ridge, method="nystrom", centers=m)
        gaps.append(np.mean((mean - yt) ** 2) - exact)
    assert gaps[0] > gaps[1] > gaps[2] > 0 and gaps[0] > 10 * gaps[2]
    assert abs(gaps[3]) < 1e-6 * exact


def test_preconditioned_cg_needs_few_iterations_where_plain_cg_needs_many(x64):
    x, y = sphere(1500, seed=2)
    model = _nystrom.fit(NET, x, y[:, None], kernel="ntk", ridge=1e-3, centers=300, tol=1e-6)
    k_nm = np.asarray(NET.kernel(x, model.centers, get="ntk"))
    k_mm = np.asarray(NET.kernel(model.centers, get="ntk"))
    h = k_nm.T @ k_nm + 1e-3 * k_mm
    plain = []
    solution, info = scipy.sparse.linalg.cg(h, k_nm.T @ y, rtol=1e-6, maxiter=20 * model.iterations,
                                            callback=plain.append)
    assert model.iterations < 50 and model.residual <= 1e-6
    assert len(plain) > 10 * model.iterations
    # the solution solves the unpreconditioned system too
    np.testing.assert_allclose(h @ model.alpha[:, 0], k_nm.T @ y, rtol=0, atol=1e-5 * np.abs(k_nm.T @ y).max())


def test_leverage_scores_with_every_point_sampled_are_the_exact_ones(x64):
    x, _ = uneven(200, seed=0)
    ridge = 1e-2
    scores = _nystrom.leverage_scores(NET, x, "ntk", ridge, sample=200, rng=np.random.default_rng(0))
    k = np.asarray(NET.kernel(x, get="ntk"))
    exact = np.diagonal(k @ np.linalg.inv(k + ridge * np.eye(200)))
    np.testing.assert_allclose(scores, exact, rtol=1e-6, atol=1e-8)


def test_leverage_centers_beat_uniform_ones_on_uneven_data(x64):
    x, y = uneven(600, seed=0)
    xt, yt = uneven(300, seed=1)
    errors = {}
    for selection in ("uniform", "leverage"):
        errors[selection] = np.mean([np.mean((nk.solver.predict(NET, x, y, xt, ridge=1e-3, method="nystrom",
                                                                centers=40, center_selection=selection,
                                                                seed=seed) - yt) ** 2) for seed in range(2)])
    assert errors["leverage"] < errors["uniform"]


def test_panel_modes_agree(x64, tmp_path):
    x, y = sphere(500)
    xt, _ = sphere(30, seed=1)
    kwargs = dict(kernel="ntk", ridge=1e-3, centers=100, tol=1e-10)
    memory = _nystrom.fit(NET, x, y[:, None], panels="memory", panel_rows=128, **kwargs)  # the same sums
    recompute = _nystrom.fit(NET, x, y[:, None], panels="recompute", panel_rows=128, **kwargs)
    disk = _nystrom.fit(NET, x, y[:, None], out=tmp_path / "store", panel_rows=128, **kwargs)
    assert (memory.panels, recompute.panels, disk.panels) == ("memory", "recompute", "disk")
    assert sorted(os.listdir(tmp_path / "store")) == ["centers.npz", "cg_state.npz", "k_nm"]
    expected = memory.predict(xt)
    for model in (recompute, disk):
        np.testing.assert_allclose(model.predict(xt), expected, rtol=0, atol=1e-9 * np.abs(expected).max())
    assert memory.iterations == recompute.iterations == disk.iterations


def test_interrupted_run_resumes_without_computing_a_tile_or_iteration_twice(x64, tmp_path, monkeypatch):
    net = nk.FullyConnected(depth=2, W_std=1.5, b_std=0.1, tile_size=64)
    x, y = sphere(256)
    xt, _ = sphere(20, seed=1)
    kwargs = dict(kernel="ntk", ridge=1e-3, centers=128, tol=1e-10, out=tmp_path / "run")
    reference = _nystrom.fit(net, x, y[:, None], kernel="ntk", ridge=1e-3, centers=128, tol=1e-10)
    assert reference.iterations > 3

    monkeypatch.setattr(_tile_store, "COMMIT_SECONDS", 0.0)
    monkeypatch.setattr(_checkpoint, "SAVE_SECONDS", 0.0)        # the CG state saved after every iteration
    monkeypatch.setattr(_checkpoint, "SAVE_SHARE", np.inf)
    original_mark, original_write = _tile_store.TileStore.mark_done, _checkpoint.write_npz
    tiles, states = [], []

    def mark_done(self, pairs, force=False, stop_after=None):
        original_mark(self, pairs, force)
        tiles.extend(pairs)
        if stop_after is not None and len(tiles) >= stop_after:
            raise RuntimeError("interrupted")

    def write_state(path, stop_after=None, **arrays):
        original_write(path, **arrays)
        if "iteration" in arrays:                                   # the CG state, not the centers
            states.append(int(arrays["iteration"]))
            if stop_after is not None and len(states) >= stop_after:
                raise RuntimeError("interrupted")

    monkeypatch.setattr(_tile_store.TileStore, "mark_done", lambda s, p, force=False: mark_done(s, p, force, 3))
    with pytest.raises(RuntimeError, match="interrupted"):
        _nystrom.fit(net, x, y[:, None], **kwargs)
    assert 3 <= len(tiles) < 8 and not states                 # some of the 4 x 2 tiles of K(X, C) on disk
    monkeypatch.setattr(_tile_store.TileStore, "mark_done", lambda s, p, force=False: mark_done(s, p, force))
    monkeypatch.setattr(_checkpoint, "write_npz", lambda path, **arrays: write_state(path, 2, **arrays))
    with pytest.raises(RuntimeError, match="interrupted"):
        _nystrom.fit(net, x, y[:, None], **kwargs)
    assert sorted(tiles) == sorted({(i, j) for i in range(4) for j in range(2)})   # each tile once
    assert states == [1, 2]
    monkeypatch.setattr(_checkpoint, "write_npz", lambda path, **arrays: write_state(path, None, **arrays))
    resumed = _nystrom.fit(net, x, y[:, None], **kwargs)
    assert len(tiles) == 8                                     # no tile computed again
    assert states == list(range(1, reference.iterations + 1))  # CG went on from iteration 3
    assert resumed.iterations == reference.iterations
    expected = reference.predict(xt)
    np.testing.assert_allclose(resumed.predict(xt), expected, rtol=0, atol=1e-9 * np.abs(expected).max())
    # another ridge reuses the centers' kernel and starts CG afresh
    before = len(states)
    other = _nystrom.fit(net, x, y[:, None], **dict(kwargs, ridge=1e-2))
    assert len(tiles) == 8 and states[before:] == list(range(1, other.iterations + 1))


def test_estimators_with_the_nystrom_solver(x64):
    x, y = sphere(200)
    xt, _ = sphere(20, seed=1)
    exact = nk.KernelRegressor(NET, ridge=1e-3).fit(x, y).predict(xt)
    reg = nk.KernelRegressor(NET, ridge=1e-3, solver="nystrom", centers=200).fit(x, y)
    np.testing.assert_allclose(reg.predict(xt), exact, rtol=0, atol=1e-6 * np.abs(exact).max())
    assert reg.predict(xt).shape == (20,) and reg.flow_.centers.shape == (200, 5)
    two = nk.KernelRegressor(NET, ridge=1e-3, solver="nystrom", centers=50).fit(x, np.stack([y, y], 1))
    assert two.predict(xt).shape == (20, 2)
    assert clone(reg).get_params()["centers"] == 200
    with pytest.raises(ValueError, match="mean only"):
        reg.predict(xt, return_std=True)
    labels = np.where(x[:, 0] > 0, "right", "left")
    clf = nk.KernelClassifier(NET, ridge=1e-3, solver="nystrom", centers=60).fit(x, labels)
    assert clf.score(x, labels) > 0.9
    for params, match in (({"solver": "nystrom", "ridge": 1e-3}, "needs centers"),
                          ({"centers": 5, "ridge": 1e-3}, "solver='nystrom' only"),
                          ({"solver": "nystrom", "centers": 5, "ridge": 1e-3, "t": 1.0}, "t = None"),
                          ({"solver": "nystrom", "centers": 5}, "ridge > 0"), ({"solver": "cg"}, "solver must be")):
        with pytest.raises(ValueError, match=match):
            nk.KernelRegressor(NET, **params).fit(x, y)


def test_bad_input(tmp_path):
    x, y = sphere(50)
    x = x.astype(np.float32)
    call = dict(ridge=1e-2, method="nystrom", centers=10)
    cases = [
        (dict(call, ridge=0.0), ValueError, "ridge > 0"),
        (dict(call, centers=None), ValueError, "needs centers"),
        (dict(call, centers=51), ValueError, "at most the number of training points N = 50"),
        (dict(call, centers=0), ValueError, "centers must be an integer >= 1"),
        (dict(call, centers=2.5), TypeError, "centers must be an integer"),
        (dict(call, center_selection="kmeans"), ValueError, "center_selection must be one of"),
        (dict(call, t=1.0), ValueError, "t = None prediction"),
        (dict(call, return_cov=True), ValueError, "mean only"),
        (dict(call, options={"rank": 3}), ValueError, "options of method='nystrom'"),
        (dict(call, options={"tol": 2.0}), ValueError, "tol must be a number in"),
        (dict(call, options={"panels": "disk"}), ValueError, "panels must be one of"),
        (dict(call, out=tmp_path / "a", options={"panels": "memory"}), ValueError, "panels must be 'auto'"),
        (dict(ridge=1e-2, centers=10), ValueError, "centers applies to method='nystrom' only"),
        (dict(ridge=1e-2, out=tmp_path / "b", method="dense"), ValueError, "method must be 'auto' or 'iterative'"),
    ]
    for kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            nk.solver.predict(NET, x, y, x[:3], **kwargs)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds files of something else"):
        nk.solver.predict(NET, x, y, x[:3], out=tmp_path / "other", **call)
    nk.solver.predict(NET, x, y, x[:3], out=tmp_path / "run", **call)
    with pytest.raises(ValueError, match="Nystrom run of other points, network or centers"):
        nk.solver.predict(NET, x, y, x[:3], out=tmp_path / "run", **dict(call, centers=12))
    with pytest.raises(ValueError, match="is a file"):
        nk.solver.predict(NET, x, y, x[:3], out=tmp_path / "other" / "notes.txt", **call)


def test_in_place_cholesky_retries_from_the_rebuilt_matrix():
    """A failed in-place factorization leaves the matrix partly overwritten: the retries with jitter
    start from the rebuilt matrix (a rank-5 50 x 50 matrix needs the jitter)."""
    from nngp_ntk.solver._nystrom import _cholesky
    features = np.random.default_rng(0).standard_normal((50, 5))

    def rank_five() -> np.ndarray:
        return np.asfortranarray(features @ features.T)

    factor = _cholesky(rank_five(), rebuild=rank_five)
    np.testing.assert_allclose(factor.T @ factor, rank_five(), atol=1e-9)
