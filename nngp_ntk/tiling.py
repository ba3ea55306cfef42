"""Blocked, symmetric, sharded and out-of-core evaluation of a kernel function K(x1, x2).

A kernel function here is ``tile_fn(rows, cols, on_diagonal, transpose)``, compiled once per
shape: ``rows`` and ``cols`` are tuples of per-point arrays stacked as (T, B, ...) for T tiles of
B points each, ``on_diagonal`` (T,) says that tile t is a diagonal block of K(x, x), and it
returns the (T, B, B) kernel tiles, followed by their transposes when ``transpose`` is set.

``evaluate``
  * pads the points to whole tiles by repeating the first point (padded entries stay finite);
  * walks only the tiles with j >= i when K(x, x) is symmetric, filling the lower triangle from
    the transposed tiles (XLA's tiled transpose is ~10x faster than NumPy's strided copy);
  * with several local JAX devices, evaluates one tile per device at a time, the stacked tiles
    sharded over a 1-D ``Mesh`` with ``NamedSharding`` (results equal the one-device ones);
  * keeps one group of tiles in flight while the previous one is copied to the host;
  * writes into NumPy arrays, or, with ``out=folder``, into ``<name>.npy`` memory maps with a
    manifest of finished tiles, so a killed run resumes where it stopped (see ``TileStore``);
  * with several JAX processes (``jax.distributed.initialize`` in each, one per host), requires
    ``out=`` on a filesystem they all share: process 0 creates the store, every process computes
    every ``jax.process_count()``-th missing tile on its local devices and lists it in its own
    ``manifest.<process>.json``, and all return once every tile is on disk.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

PointData = tuple[np.ndarray, ...]
TileFunction = Callable[[PointData, PointData, np.ndarray, bool], tuple[jax.Array, ...]]
MANIFEST = "manifest.json"
#: The lock file of a store written by one process (``TileStore``).
LOCK = ".lock"
#: Finished-tile records: ``manifest.json``, plus ``manifest.<process>.json`` of multi-process runs.
_RECORD = re.compile(r"manifest(\.\d+)?\.json")
_MANIFEST_VERSION = 1
#: The out-of-core store flushes and records finished tiles at most this often (and at the end),
#: so an interrupted run loses at most the tiles of the last interval plus those in flight.
COMMIT_SECONDS = 0.5


def available_memory() -> int:
    """Bytes of memory available to a new allocation (Linux MemAvailable, else free pages).

    Returns:
        The number of bytes.

    Example:
        >>> available_memory() > 0
        True
    """
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_fits_in_memory(n_bytes: int, what: str) -> None:
    """Refuse, before anything is allocated, a result larger than the available memory.

    Args:
        n_bytes: the size of the result.
        what: what the result is, for the message.

    Raises:
        ValueError: ``n_bytes`` exceeds ``available_memory()``; the message suggests ``out=``.

    Example:
        >>> check_fits_in_memory(1024, "a small kernel")
        >>> check_fits_in_memory(2**80, "a huge kernel")
        Traceback (most recent call last):
        ...
        ValueError: a huge kernel needs ... GiB of memory is available; pass out='folder/' ...
    """
    available = available_memory()
    if n_bytes > available:
        raise ValueError(f"{what} needs {n_bytes / 2**30:.1f} GiB but only {available / 2**30:.1f} GiB "
                         "of memory is available; pass out='folder/' to write it to disk tile by tile")


#: Below this many points the tile is rounded up to a power of two (at least 8), so that small
#: inputs of nearby sizes share one compiled tile function.
SMALL_TILE = 256


def tile_block(n_points: int, tile_size: int) -> int:
    """Rows and columns of the tiles for a job whose larger side has ``n_points`` points.

    ``tile_size`` when the job is larger; below ``SMALL_TILE`` points the next power of two, at
    least 8 (nearby small sizes share compiled code: the padding is a few repeated points); in
    between, the job as one tile.

    Example:
        >>> tile_block(5, 1024), tile_block(100, 1024), tile_block(600, 1024), tile_block(5000, 1024)
        (8, 128, 600, 1024)
    """
    if n_points < SMALL_TILE:
        n_points = max(8, 1 << (n_points - 1).bit_length())
    return max(1, min(tile_size, n_points))


def pad_rows(arrays: PointData, multiple: int) -> PointData:
    """Pad every array along axis 0 to a multiple of ``multiple`` rows by repeating row 0.

    Padded rows are copies of real points, so the kernel stays finite on them; they are cut off
    before the results are written.

    Args:
        arrays: per-point arrays with the same number of rows.
        multiple: the row count to round up to a multiple of.

    Returns:
        The padded arrays (the same tuple when no padding is needed).

    Example:
        >>> [padded] = pad_rows((np.array([[1.0], [2.0], [3.0]]),), 2)
        >>> padded.ravel().tolist()
        [1.0, 2.0, 3.0, 1.0]
    """
    n = arrays[0].shape[0]
    padded = -(-n // multiple) * multiple
    if padded == n:
        return arrays
    return tuple(np.concatenate([a, np.repeat(a[:1], padded - n, axis=0)]) for a in arrays)


def tile_pairs(n1_tiles: int, n2_tiles: int, symmetric: bool) -> list[tuple[int, int]]:
    """Tile indices (i, j) to compute, row-major; only j >= i when ``symmetric``.

    Args:
        n1_tiles: number of tile rows.
        n2_tiles: number of tile columns.
        symmetric: whether the output is K(x, x), whose lower tiles are transposes of upper ones.

    Returns:
        The list of (i, j).

    Example:
        >>> tile_pairs(2, 2, symmetric=True)
        [(0, 0), (0, 1), (1, 1)]
    """
    return [(i, j) for i in range(n1_tiles) for j in range(n2_tiles) if not symmetric or j >= i]


def fingerprint(*parts: object) -> str:
    """SHA-256 of arrays (their dtype, shape and bytes) and of other objects' reprs (addresses removed).

    The out-of-core store keys its manifest with it, so a folder written for other inputs or
    arguments is recognized and refused.

    Args:
        *parts: arrays and other objects (their ``repr`` is hashed, memory addresses removed).

    Returns:
        The hex digest.

    Example:
        >>> a = fingerprint(np.zeros(3), "ntk")
        >>> a == fingerprint(np.zeros(3), "ntk"), a == fingerprint(np.zeros(3, np.float32), "ntk")
        (True, False)
    """
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(f"{part.dtype}{part.shape}".encode())
            digest.update(np.ascontiguousarray(part).data)
        else:
            digest.update(re.sub(r" at 0x[0-9a-fA-F]+", "", repr(part)).encode())
    return digest.hexdigest()


def _agree(step: Callable[[], None], what: str) -> None:
    """Run ``step`` in this process, then wait until every JAX process has run its own.

    An error in one process is raised in all of them (the others raise ValueError when it was a
    ValueError, RuntimeError otherwise), so none is left waiting at the next barrier. With one
    process this is just ``step()``.
    """
    if jax.process_count() == 1:
        step()
        return
    error: Exception | None = None
    try:
        step()
    except Exception as caught:  # any error: every process must still reach the gather below
        error = caught
    code = 0 if error is None else 1 if isinstance(error, ValueError) else 2
    codes = np.asarray(multihost_utils.process_allgather(np.int32(code)))
    if error is not None:
        raise error
    if codes.any():
        failed = np.flatnonzero(codes).tolist()
        kind = ValueError if codes.max() == 1 else RuntimeError
        raise kind(f"JAX process(es) {failed} failed to {what} (their errors say why)")


class TileStore:
    """``<name>.npy`` files in a folder plus manifests listing the finished tiles.

    Tiles are written with ``os.pwrite`` (one call per tile row), not through a memory map: the
    page cache takes them without page faults and without growing this process's resident memory.
    A tile is listed only after its values are flushed to disk (``fdatasync``), and a manifest is replaced
    atomically (write to a temporary name, then rename), so a run killed at any point (SIGKILL
    included) leaves a store whose listed tiles are complete; calling again with the same
    arguments computes only the rest. The disk space is reserved up front (``posix_fallocate``),
    so a full disk is reported before any work instead of crashing a memory-mapped write.

    With several JAX processes, process 0 checks or creates the folder, its arrays and
    ``manifest.json``; then every process reads all the records and lists the tiles it finishes
    in its own ``manifest.<process>.json`` (no file has two writers). The finished tiles are those
    listed in any record, so a run resumes with any number of processes.

    A single process holds an exclusive lock (``fcntl.flock`` on ``<folder>/.lock``, which holds
    its PID) from the start until ``close``: a second process writing to the same folder (the
    same command started twice, without ``jax.distributed``) is refused at once with a ValueError
    naming the folder and the PID that holds it. The kernel releases the lock when its holder
    exits, however it ends, so the lock of a dead process is simply taken over.

    Args:
        folder: the store's folder (created if missing; an existing one must hold this kernel's store).
        names: the arrays' names (``<name>.npy``).
        shape: the arrays' shape.
        dtype: the arrays' dtype.
        key: identifies the inputs and arguments (``fingerprint``); another key is refused.

    Raises:
        ValueError: a folder that is a file, not writable, holds other files or another kernel,
            or lacks the disk space.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> store = TileStore(folder, ["ntk"], (2, 2), np.float32, key="demo")
        >>> store.write(0, 0, 0, np.eye(2))
        >>> store.mark_done([(0, 0)], force=True)
        >>> store.read_only()[0].tolist()
        [[1.0, 0.0], [0.0, 1.0]]
        >>> resumed = TileStore(folder, ["ntk"], (2, 2), np.float32, key="demo")
        >>> resumed.done
        {(0, 0)}
        >>> _ = resumed.read_only()
    """

    def __init__(self, folder: str | os.PathLike, names: Sequence[str], shape: tuple[int, int],
                 dtype: np.dtype, key: str) -> None:
        self.folder = os.fspath(folder)
        self.names = tuple(names)
        self.done: set[tuple[int, int]] = set()
        self._shape, self._dtype = shape, np.dtype(dtype)
        self._header = {"version": _MANIFEST_VERSION, "key": key, "names": list(self.names),
                        "shape": list(shape), "dtype": self._dtype.name}
        self._process, processes = jax.process_index(), jax.process_count()
        self._record = MANIFEST if processes == 1 else f"manifest.{self._process}.json"
        self._recorded: set[tuple[int, int]] = set()
        self._written: list[tuple[int, int]] = []
        self._files: list[int] = []
        self._lock: int | None = None
        if processes == 1:
            self._acquire()
        try:
            _agree(self._prepare if self._process == 0 else lambda: None, f"prepare out folder {self.folder!r}")
            _agree(self._open, f"open out folder {self.folder!r}")
        except BaseException:
            self.close()
            raise
        self._last_commit = time.monotonic()

    def _path(self, name: str) -> str:
        return os.path.join(self.folder, f"{name}.npy")

    def _acquire(self) -> None:
        """Take the folder's lock (creating the folder), or raise ValueError naming its holder."""
        if os.path.exists(self.folder) and not os.path.isdir(self.folder):
            raise ValueError(f"out must be a folder, but {self.folder!r} is a file")
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, LOCK)
        try:
            lock = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise ValueError(f"cannot create the lock file {path!r} of out folder {self.folder!r}: {error}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(lock, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(lock)
            raise ValueError(f"out folder {self.folder!r} is being written by another process (PID {holder}, "
                             f"which holds {path!r}): wait for it to finish, then call again to reuse its "
                             "tiles, or use another folder") from None
        os.ftruncate(lock, 0)
        os.pwrite(lock, f"{os.getpid()}\n".encode(), 0)
        self._lock = lock

    def close(self) -> None:
        """Close the files and release the lock (the store's arrays stay on disk)."""
        for file in self._files:
            os.close(file)
        self._files.clear()
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None

    def _prepare(self) -> None:
        """Check the folder and, unless it holds this kernel's store, create the arrays and manifest."""
        manifest = os.path.join(self.folder, MANIFEST)
        if os.path.exists(self.folder) and not os.path.isdir(self.folder):
            raise ValueError(f"out must be a folder, but {self.folder!r} is a file")
        os.makedirs(self.folder, exist_ok=True)
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise ValueError(f"out folder {self.folder!r} is not writable")
        if os.path.exists(manifest):
            self._read(MANIFEST)
            for name in self.names:
                if not os.path.exists(self._path(name)):
                    raise ValueError(f"out folder {self.folder!r} lacks {name}.npy listed in its manifest")
        else:
            if set(os.listdir(self.folder)) - {LOCK}:
                raise ValueError(f"out folder {self.folder!r} is not empty and holds no {MANIFEST}: "
                                 "give an empty or new folder (or one a previous run of the same kernel wrote)")
            self._reserve()
            self._write_record(MANIFEST, set())

    def _open(self) -> None:
        """Read every record of finished tiles and open the arrays for writing."""
        if not os.path.exists(os.path.join(self.folder, MANIFEST)):
            raise ValueError(f"out folder {self.folder!r} has no {MANIFEST} in JAX process {self._process}, "
                             "although process 0 prepared it: out must be on a filesystem all processes share")
        records = {name: self._read(name) for name in sorted(os.listdir(self.folder)) if _RECORD.fullmatch(name)}
        self.done = set().union(*records.values())
        self._recorded = set(self.done if self._record == MANIFEST else records.get(self._record, ()))
        self._offsets = [np.load(self._path(name), mmap_mode="r").offset for name in self.names]
        self._files = [os.open(self._path(name), os.O_RDWR) for name in self.names]

    def _read(self, record: str) -> set[tuple[int, int]]:
        """The tiles listed in ``record``, after checking that it belongs to this kernel."""
        path = os.path.join(self.folder, record)
        try:
            with open(path) as file:
                recorded = json.load(file)
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"cannot read the manifest {path!r}: {error}") from None
        if {k: recorded.get(k) for k in self._header} != self._header:
            raise ValueError(f"out folder {self.folder!r} holds a kernel of different inputs or arguments "
                             f"(its {record} does not match this call); use another folder or delete it")
        return {tuple(pair) for pair in recorded.get("done", [])}

    def _reserve(self) -> None:
        needed = len(self.names) * self._shape[0] * self._shape[1] * self._dtype.itemsize
        free = shutil.disk_usage(self.folder).free
        if needed > free:
            raise ValueError(f"out folder {self.folder!r} needs {needed / 2**30:.2f} GiB of disk "
                             f"but only {free / 2**30:.2f} GiB is free")
        for name in self.names:
            array = np.lib.format.open_memmap(self._path(name), mode="w+", dtype=self._dtype, shape=self._shape)
            del array
            with open(self._path(name), "r+b") as file:
                try:
                    os.posix_fallocate(file.fileno(), 0, os.fstat(file.fileno()).st_size)
                except OSError as error:
                    raise ValueError(f"cannot reserve disk space for {self._path(name)!r}: {error}") from None

    def _write_record(self, record: str, done: set[tuple[int, int]]) -> None:
        content = dict(self._header, done=sorted(done))
        temporary = os.path.join(self.folder, record + ".tmp")
        with open(temporary, "w") as file:
            json.dump(content, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, os.path.join(self.folder, record))

    def write(self, index: int, row: int, column: int, values: np.ndarray) -> None:
        """Write ``values`` into array ``index`` at [row:, column:] (one ``os.pwrite`` per tile row).

        Args:
            index: which of the store's arrays (position in ``names``).
            row: first row of the block.
            column: first column of the block.
            values: the block, shape (rows, columns).
        """
        values = np.ascontiguousarray(values, self._dtype)
        width = self._shape[1] * self._dtype.itemsize
        start = self._offsets[index] + (row * self._shape[1] + column) * self._dtype.itemsize
        if values.shape[1] == self._shape[1]:
            os.pwrite(self._files[index], values.data, start)
            return
        row_bytes = values.shape[1] * self._dtype.itemsize
        data = memoryview(values).cast("B")
        for r in range(values.shape[0]):
            os.pwrite(self._files[index], data[r * row_bytes:(r + 1) * row_bytes], start + r * width)

    def mark_done(self, pairs: Sequence[tuple[int, int]], force: bool = False) -> None:
        """Count ``pairs`` as written; every COMMIT_SECONDS, or when ``force``, record them as finished.

        Recording flushes the files (``fdatasync``) and then atomically replaces this process's
        manifest, so a listed tile is always complete on disk.

        Args:
            pairs: the (i, j) tiles just written.
            force: record now, whatever the time since the last record.
        """
        self._written.extend(pairs)
        now = time.monotonic()
        if force or now - self._last_commit >= COMMIT_SECONDS:
            for file in self._files:
                os.fdatasync(file)
            self.done.update(self._written)
            self._recorded.update(self._written)
            self._written.clear()
            self._write_record(self._record, self._recorded)
            self._last_commit = now

    def read_only(self) -> list[np.ndarray]:
        """Close the store (``close``) and return the finished arrays, memory-mapped read-only.

        Returns:
            One ``np.memmap`` per name, in the order of ``names``.
        """
        self.close()
        return [np.load(self._path(n), mmap_mode="r") for n in self.names]


def _mesh() -> Mesh:
    return Mesh(np.array(jax.local_devices()), ("tiles",))


def evaluate(tile_fn: TileFunction, rows: PointData, cols: PointData | None, names: Sequence[str],
             tile_size: int, dtype: np.dtype, out: str | os.PathLike | None = None, key: str = "",
             progress: bool | None = None) -> list[np.ndarray]:
    """The kernel matrices ``names``, of shape (len(rows[0]), len(cols[0])), by tiles.

    ``tile_fn(rows, cols, on_diagonal, transpose)`` receives the points of T tiles stacked as
    (T, B, ...) arrays (one tile per local device, sharded over them) and returns the T (B, B) tiles
    of each kernel, followed by their transposes when ``transpose`` is set (see the module
    docstring).

    Args:
        tile_fn: the compiled tile function.
        rows: per-point arrays of the rows' points (e.g. inputs and their variances).
        cols: the same for the columns, or None for cols = rows: the outputs are then symmetric and
            only the tiles with j >= i are computed.
        names: the kernels' names, in the order ``tile_fn`` returns them.
        tile_size: rows and columns of a tile.
        dtype: the dtype of the outputs.
        out: a folder for the out-of-core store (``TileStore``), or None to return arrays in memory.
        key: identifies the inputs and arguments in the store's manifest (``fingerprint``).
        progress: show a tqdm bar (None: only for jobs of 16 tiles or more, on a terminal).

    Returns:
        One array per name: NumPy arrays, or read-only memory maps of ``out/<name>.npy``.

    Raises:
        ValueError: several JAX processes without ``out``; a result larger than the memory without
            ``out``; an ``out`` folder that holds something else, or lacks the disk space.

    Example:
        >>> import jax.numpy as jnp
        >>> def linear_tiles(rows, cols, on_diagonal, transpose):
        ...     tiles = jnp.einsum("tbd,tcd->tbc", rows[0], cols[0])
        ...     return (tiles, jnp.swapaxes(tiles, 1, 2)) if transpose else (tiles,)
        >>> x = np.arange(10.0).reshape(5, 2)
        >>> [gram] = evaluate(linear_tiles, (x,), None, ["linear"], tile_size=2, dtype=np.float32)
        >>> bool(np.allclose(gram, x @ x.T))
        True
    """
    processes = jax.process_count()
    if processes > 1 and out is None:
        raise ValueError(f"with {processes} JAX processes (jax.distributed.initialize) each one computes only "
                         "part of the kernel: pass out='folder/' on a filesystem all of them share, and "
                         "every process returns the whole kernel, memory-mapped from there")
    symmetric = cols is None
    n1 = rows[0].shape[0]
    n2 = n1 if symmetric else cols[0].shape[0]
    block = tile_block(max(n1, n2), tile_size)
    rows_padded = pad_rows(rows, block)
    cols_padded = rows_padded if symmetric else pad_rows(cols, block)
    pairs = tile_pairs(len(rows_padded[0]) // block, len(cols_padded[0]) // block, symmetric)
    # Lower tiles are mirrored from upper ones; a single tile has none (and shares the cross-kernel code).
    transpose = symmetric and len(rows_padded[0]) > block

    store = None
    if out is None:
        check_fits_in_memory(len(names) * n1 * n2 * np.dtype(dtype).itemsize, f"a {n1} x {n2} kernel result")
        outputs = [np.empty((n1, n2), dtype) for _ in names]

        def write(index: int, row: int, column: int, values: np.ndarray) -> None:
            outputs[index][row:row + values.shape[0], column:column + values.shape[1]] = values
    else:
        store = TileStore(out, names, (n1, n2), dtype, key)
        write = store.write
        pairs = [pair for pair in pairs if pair not in store.done][jax.process_index()::processes]

    mesh = _mesh()
    sharding = NamedSharding(mesh, PartitionSpec("tiles"))
    group_size = mesh.size
    groups = [pairs[k:k + group_size] for k in range(0, len(pairs), group_size)]

    def launch(group: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], tuple[jax.Array, ...]]:
        padded = group + [group[-1]] * (group_size - len(group))
        stacked_rows = tuple(np.stack([a[i * block:(i + 1) * block] for i, _ in padded]) for a in rows_padded)
        stacked_cols = tuple(np.stack([a[j * block:(j + 1) * block] for _, j in padded]) for a in cols_padded)
        on_diagonal = np.array([symmetric and i == j for i, j in padded])
        placed = jax.device_put((stacked_rows, stacked_cols, on_diagonal), sharding)
        return group, tile_fn(*placed, transpose)

    def store_group(group: list[tuple[int, int]], host: list[np.ndarray]) -> None:
        upper, lower = host[:len(names)], host[len(names):]
        for t, (i, j) in enumerate(group):
            r0, c0 = i * block, j * block
            r1, c1 = min(r0 + block, n1), min(c0 + block, n2)
            for index, values in enumerate(upper):
                write(index, r0, c0, values[t, : r1 - r0, : c1 - c0])
            if symmetric and i != j:
                for index, values in enumerate(lower):
                    write(index, c0, r0, values[t, : c1 - c0, : r1 - r0])
        if store is not None:
            store.mark_done(group)

    def compute() -> None:
        # Tiles are computed (XLA's threads), fetched (this thread) and written (one writer thread,
        # which also waits for the disk) at the same time; at most two groups wait to be written.
        show = progress if progress is not None else (None if len(pairs) >= 16 else False)
        with tqdm(total=len(pairs), disable=(not show) if show is not None else None, desc="kernel tiles",
                  unit="tile", leave=False) as bar, ThreadPoolExecutor(max_workers=1) as writer:
            pending: deque[Future] = deque()

            def fetch(group: list[tuple[int, int]], tiles: tuple[jax.Array, ...]) -> None:
                host = [np.asarray(t) for t in tiles]
                while len(pending) >= 2:
                    pending.popleft().result()
                pending.append(writer.submit(store_group, group, host))
                bar.update(len(group))

            in_flight = None
            for group in groups:
                launched = launch(group)
                if in_flight is not None:
                    fetch(*in_flight)
                in_flight = launched
            if in_flight is not None:
                fetch(*in_flight)
            while pending:
                pending.popleft().result()
        if store is not None:
            store.mark_done([], force=True)

    if store is None:
        compute()
        return outputs
    # With several processes, every one returns only once all have flushed and recorded their tiles.
    try:
        _agree(compute, "compute its share of the tiles")
    finally:
        store.close()
    return store.read_only()
