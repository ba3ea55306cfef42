"""Blocked evaluation: sharding over devices, the out-of-core store, resuming, memory checks."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk.kernels import _tile_store as tile_store
from nngp_ntk.kernels import _tiling as tiling

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _points(n: int, dim: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def test_tile_pairs_upper_triangle_only_when_symmetric():
    assert tiling.tile_pairs(3, 3, True) == [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    assert len(tiling.tile_pairs(2, 3, False)) == 6


def test_pad_rows_repeats_the_first_point():
    a = np.arange(10.0).reshape(5, 2)
    (padded,) = tiling.pad_rows((a,), 4)
    assert padded.shape == (8, 2) and np.all(padded[5:] == a[0])


def test_out_of_core_equals_in_memory_and_is_read_only(tmp_path):
    x = _points(45)
    net = nk.FullyConnected(depth=2, W_std=1.4, b_std=0.3, tile_size=16)
    memory = net.kernel(x)
    stored = net.kernel(x, out=tmp_path / "store")
    assert isinstance(stored.ntk, np.memmap) and not stored.ntk.flags.writeable
    np.testing.assert_array_equal(stored.nngp, memory.nngp)
    np.testing.assert_array_equal(stored.ntk, memory.ntk)
    manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())
    assert len(manifest["done"]) == len(tiling.tile_pairs(3, 3, True))
    # Same call again: everything is already done and nothing is recomputed.
    again = net.kernel(x, out=tmp_path / "store")
    np.testing.assert_array_equal(again.ntk, memory.ntk)


def test_out_of_core_rectangular_and_single_kernel(tmp_path):
    x1, x2 = _points(20), _points(33, seed=1)
    net = nk.FullyConnected(depth=1, tile_size=8)
    ntk = net.kernel(x1, x2, get="ntk", out=tmp_path / "k")
    np.testing.assert_array_equal(ntk, net.kernel(x1, x2, get="ntk"))
    assert sorted(os.listdir(tmp_path / "k")) == [".lock", "manifest.json", "ntk.npy"]


def test_store_refuses_other_inputs_foreign_folders_and_files(tmp_path):
    net = nk.FullyConnected(depth=1, tile_size=8)
    net.kernel(_points(20), out=tmp_path / "a")
    with pytest.raises(ValueError, match="different inputs or arguments"):
        net.kernel(_points(20, seed=5), out=tmp_path / "a")
    with pytest.raises(ValueError, match="different inputs or arguments"):
        nk.FullyConnected(depth=2, tile_size=8).kernel(_points(20), out=tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        net.kernel(_points(20), out=tmp_path / "b")
    (tmp_path / "c").write_text("a file")
    with pytest.raises(ValueError, match="is a file"):
        net.kernel(_points(20), out=tmp_path / "c")


def test_store_reports_a_full_disk_before_work(tmp_path, monkeypatch):
    monkeypatch.setattr(tile_store.shutil, "disk_usage", lambda path: type("U", (), {"free": 10})())
    with pytest.raises(ValueError, match="GiB of disk"):
        nk.FullyConnected(depth=1).kernel(_points(20), out=tmp_path / "full")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_store_refuses_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    with pytest.raises(ValueError, match="not writable"):
        nk.FullyConnected(depth=1).kernel(_points(10), out=folder)


def test_memory_check_suggests_out(monkeypatch):
    monkeypatch.setattr(tiling, "available_memory", lambda: 1000)
    with pytest.raises(ValueError, match="out='folder/'"):
        nk.FullyConnected(depth=1).kernel(_points(30))


def test_progress_bar_on_request(capsys):
    nk.FullyConnected(depth=1, tile_size=4).kernel(_points(12), progress=True)
    assert "kernel tiles" in capsys.readouterr().err


def test_store_bounds_the_tiles_computed_but_not_recorded(tmp_path, monkeypatch):
    """With a disk slower than the compute, the next tile group is launched only once all but the
    last computed group are recorded: a killed run loses at most the group being computed and the
    one being written (plus the store's last COMMIT_SECONDS, 0 here)."""
    monkeypatch.setattr(tile_store, "COMMIT_SECONDS", 0.0)
    written, recorded, unrecorded_at_launch = tile_store.TileStore.write, [0], []

    def slow_write(self, *args):
        time.sleep(0.01)
        written(self, *args)

    def counted_mark_done(self, pairs, force=False):
        marked(self, pairs, force)
        recorded[0] = len(self.done)

    marked = tile_store.TileStore.mark_done
    monkeypatch.setattr(tile_store.TileStore, "write", slow_write)
    monkeypatch.setattr(tile_store.TileStore, "mark_done", counted_mark_done)
    launched = [0]

    def linear_tiles(rows, cols, on_diagonal, transpose):
        unrecorded_at_launch.append(launched[0] - recorded[0])
        launched[0] += len(on_diagonal)
        tiles = jnp.einsum("tbd,tcd->tbc", rows[0], cols[0])
        return (tiles, jnp.swapaxes(tiles, 1, 2)) if transpose else (tiles,)

    x = _points(48)
    [gram] = tiling.evaluate(linear_tiles, (x,), None, ["linear"], tile_size=8, dtype=np.float32,
                             out=tmp_path / "store", key="linear")
    np.testing.assert_allclose(gram, x @ x.T, rtol=1e-5, atol=1e-5)
    group = jax.local_device_count()
    assert len(unrecorded_at_launch) == -(-len(tiling.tile_pairs(6, 6, True)) // group)
    assert max(unrecorded_at_launch) <= group, unrecorded_at_launch


_KILLABLE = textwrap.dedent("""
    import sys, numpy as np, nngp_ntk as nk
    from nngp_ntk.kernels import _tile_store as tile_store
    tile_store.COMMIT_SECONDS = 0.0  # record every tile, so the kill lands part-way
    x = np.random.default_rng(0).standard_normal((200, 6)).astype(np.float32)
    nk.FullyConnected(depth=30, W_std=1.4, b_std=0.3, tile_size=8).kernel(x, out=sys.argv[1], progress=False)
""")


@pytest.mark.slow
def test_resume_after_sigkill(tmp_path):
    store = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = subprocess.Popen([sys.executable, "-c", _KILLABLE, str(store)], env=env)
    manifest = store / "manifest.json"
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and process.poll() is None:
        if manifest.exists():
            try:
                done = len(json.loads(manifest.read_text())["done"])
            except (json.JSONDecodeError, KeyError):
                done = 0
            if done >= 5:
                break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    total = len(tiling.tile_pairs(25, 25, True))
    finished = len(json.loads(manifest.read_text())["done"])
    assert 0 < finished < total, "the run should have been killed part-way"
    x = np.random.default_rng(0).standard_normal((200, 6)).astype(np.float32)
    net = nk.FullyConnected(depth=30, W_std=1.4, b_std=0.3, tile_size=8)
    resumed = net.kernel(x, out=store, progress=False)
    assert len(json.loads(manifest.read_text())["done"]) == total
    expected = net.kernel(x)
    np.testing.assert_array_equal(resumed.nngp, expected.nngp)
    np.testing.assert_array_equal(resumed.ntk, expected.ntk)


_SHARDED = textwrap.dedent("""
    import sys, jax, numpy as np, nngp_ntk as nk
    assert len(jax.devices()) == 4, jax.devices()
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((50, 7)), rng.standard_normal((30, 7))
    net = nk.FullyConnected(depth=3, activation="erf", W_std=1.2, b_std=0.2, tile_size=8)
    k, c = net.kernel(x1), net.kernel(x1, x2)
    np.savez(sys.argv[1], nngp=k.nngp, ntk=k.ntk, cross=c.ntk)
""")


@pytest.mark.slow
def test_sharded_over_four_devices_equals_one_device(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-c", _SHARDED, str(tmp_path / "four.npz")], env=env, check=True)
    four = np.load(tmp_path / "four.npz")
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((50, 7)), rng.standard_normal((30, 7))
    net = nk.FullyConnected(depth=3, activation="erf", W_std=1.2, b_std=0.2, tile_size=8)
    k = net.kernel(x1)
    cross = net.kernel(x1, x2, get="ntk")
    for got, expected in [(four["nngp"], k.nngp), (four["ntk"], k.ntk), (four["cross"], cross)]:
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


_HOLD_LOCK = """
import sys
import numpy as np
from nngp_ntk.kernels import _tile_store as tile_store
store = tile_store.TileStore(sys.argv[1], ["nngp"], (20, 20), np.float32, key="held")
print("locked", flush=True)
sys.stdin.readline()
"""

_WRITE = """
import sys
import numpy as np
import nngp_ntk as nk
x = np.random.default_rng(0).standard_normal((20, 6)).astype(np.float32)
try:
    nk.FullyConnected(depth=1, tile_size=8).kernel(x, out=sys.argv[1])
except ValueError as error:
    print("refused:", error)
else:
    print("written")
"""


def _python(script: str, *args: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    return subprocess.Popen([sys.executable, "-c", script, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


@pytest.mark.slow
def test_second_writer_is_refused_with_the_holder_pid_and_a_dead_holder_is_taken_over(tmp_path):
    """Two processes writing the same out folder (no jax.distributed): the second gets a ValueError
    naming the folder and the PID of the first at once, never a crash on manifest.json.tmp; once
    the holder is gone (its lock file stays, with its PID) the folder is usable again."""
    folder = str(tmp_path / "store")
    holder = _python(_HOLD_LOCK, folder, stdin=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "locked", holder.stderr.read()
        second = _python(_WRITE, folder)
        output, errors = second.communicate(timeout=120)
        assert second.returncode == 0, errors
        assert output.startswith("refused:") and folder in output and f"PID {holder.pid}" in output, output
        assert not os.path.exists(os.path.join(folder, "manifest.json.tmp"))
    finally:
        holder.communicate(input="\n", timeout=60)
    assert open(os.path.join(folder, tile_store.LOCK)).read().strip() == str(holder.pid)   # stale, not held
    x = np.random.default_rng(0).standard_normal((20, 6)).astype(np.float32)
    with pytest.raises(ValueError, match="different inputs"):   # the holder's store, another key
        nk.FullyConnected(depth=1, tile_size=8).kernel(x, out=folder)
    fresh = str(tmp_path / "fresh")
    third = _python(_WRITE, fresh)
    assert third.communicate(timeout=120)[0].strip() == "written"
    net = nk.FullyConnected(depth=1, tile_size=8)
    np.testing.assert_array_equal(net.kernel(x, out=fresh).ntk, net.kernel(x).ntk)   # same process: lock released
    np.testing.assert_array_equal(net.kernel(x, out=fresh).ntk, net.kernel(x).ntk)
