"""Multi-process (multi-host) evaluation: JAX processes on this machine share one out-of-core store.

Each test launches Python processes that call ``jax.distributed.initialize`` (the recipe of the
docs' "Large N, devices and hosts", with localhost as the coordinator) and compute one kernel into a shared folder.
"""

import json
import os
import textwrap

import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk.kernels import _tile_store as tile_store
from nngp_ntk.kernels import _tiling as tiling

from jax_processes import run_processes

TIMEOUT = 120  # seconds for one multi-process run; a hung coordinator is killed, not waited for
N, TILE = 40, 8
TILES = tiling.tile_pairs(N // TILE, N // TILE, True)

_PROCESS = textwrap.dedent("""
    import json, os, sys, time
    import jax
    port, process, processes, n, tile, stop_after, folder, report = sys.argv[1:]
    process, processes, n, tile, stop_after = map(int, (process, processes, n, tile, stop_after))
    jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=processes,
                               process_id=process)
    import numpy as np
    import nngp_ntk as nk
    from nngp_ntk.kernels import _tile_store as tile_store

    tile_store.COMMIT_SECONDS = 0.0  # record every group of tiles, so a stop lands part-way
    computed = []
    mark_done = tile_store.TileStore.mark_done

    def save_report(**content):
        with open(f"{report}.json", "w") as file:
            json.dump(dict(content, computed=computed), file)

    def spy(self, pairs, force=False):
        mark_done(self, pairs, force)
        computed.extend(map(list, pairs))
        if 0 < stop_after <= len(computed):
            save_report(stopped=True)
            # Process 0 (the coordinator) stops last: when it dies, JAX aborts the others at once.
            others = [os.path.join(os.path.dirname(report), f"{p}.json") for p in range(1, processes)]
            while process == 0 and not all(map(os.path.exists, others)):
                time.sleep(0.05)
            os._exit(0)  # killed part-way: no barrier, no shutdown

    tile_store.TileStore.mark_done = spy
    assert jax.process_count() == processes and jax.local_device_count() == 2
    x = np.random.default_rng(0).standard_normal((n, 5)).astype(np.float32)
    net = nk.FullyConnected(depth=2, activation="erf", W_std=1.3, b_std=0.2, tile_size=tile)
    k = net.kernel(x, out=folder, progress=False)
    errors = {}
    for name, call in [("no_out", lambda: net.kernel(x)),
                       ("other_inputs", lambda: net.kernel(2 * x, out=folder))]:
        try:
            call()
        except ValueError as error:
            errors[name] = str(error)
    np.savez(f"{report}.npz", nngp=k.nngp, ntk=k.ntk)
    save_report(errors=errors)
""")


def _points() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((N, 5)).astype(np.float32)


def _net() -> nk.FullyConnected:
    return nk.FullyConnected(depth=2, activation="erf", W_std=1.3, b_std=0.2, tile_size=TILE)


def _assert_close(got: np.ndarray, expected: np.ndarray) -> None:
    """float32 agreement (the tiles of 2-device processes differ from 1-device ones in the last bits)."""
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def _run(processes: int, folder, reports, stop_after: int = 0) -> None:
    """Launch ``processes`` JAX processes (2 CPU devices each) computing the kernel into ``folder``;
    with ``stop_after``, each one exits abruptly once it has recorded that many tiles."""
    codes, logs = run_processes(_PROCESS, processes, reports, (N, TILE, stop_after, folder), TIMEOUT)
    assert stop_after or codes == [0] * processes, logs


def _records(folder) -> dict[str, set[tuple[int, int]]]:
    return {name: {tuple(pair) for pair in json.loads((folder / name).read_text())["done"]}
            for name in sorted(os.listdir(folder)) if tile_store._RECORD.fullmatch(name)}


@pytest.mark.slow
def test_two_processes_share_the_tiles_and_each_returns_the_whole_kernel(tmp_path):
    store = tmp_path / "store"
    _run(2, store, tmp_path / "reports")
    expected = _net().kernel(_points())
    records = _records(store)
    assert sorted(records) == ["manifest.0.json", "manifest.1.json", "manifest.json"]
    assert records["manifest.json"] == set()
    first, second = records["manifest.0.json"], records["manifest.1.json"]
    assert first and second and not first & second and first | second == set(TILES)
    for p, share in enumerate([first, second]):
        report = json.loads((tmp_path / "reports" / f"{p}.json").read_text())
        assert {tuple(pair) for pair in report["computed"]} == share
        assert "out='folder/'" in report["errors"]["no_out"]
        # Process 0 checks the folder; the other learns that it failed and raises too (no hang).
        refusal = "different inputs or arguments" if p == 0 else "JAX process(es) [0] failed to prepare"
        assert refusal in report["errors"]["other_inputs"]
        returned = np.load(tmp_path / "reports" / f"{p}.npz")
        _assert_close(returned["nngp"], expected.nngp)
        _assert_close(returned["ntk"], expected.ntk)


@pytest.mark.slow
def test_killed_run_resumes_with_the_same_or_another_number_of_processes(tmp_path, monkeypatch):
    store = tmp_path / "store"
    _run(2, store, tmp_path / "killed", stop_after=2)
    killed = set().union(*_records(store).values())
    assert 0 < len(killed) < len(TILES)
    _run(2, store, tmp_path / "resumed", stop_after=2)
    resumed = set().union(*_records(store).values())
    assert killed < resumed < set(TILES)
    again = [{tuple(pair) for pair in json.loads((tmp_path / "resumed" / f"{p}.json").read_text())["computed"]}
             for p in range(2)]
    assert not again[0] & again[1] and again[0] | again[1] == resumed - killed
    # One process finishes the rest, computing only what no record lists.
    computed = []
    mark_done = tile_store.TileStore.mark_done

    def spy(self, pairs, force=False):
        computed.extend(pairs)
        mark_done(self, pairs, force)

    monkeypatch.setattr(tile_store.TileStore, "mark_done", spy)
    result = _net().kernel(_points(), out=store, progress=False)
    assert sorted(computed) == sorted(set(TILES) - resumed)
    expected = _net().kernel(_points())
    _assert_close(result.nngp, expected.nngp)
    _assert_close(result.ntk, expected.ntk)
    assert _records(store)["manifest.json"] == set(TILES)
