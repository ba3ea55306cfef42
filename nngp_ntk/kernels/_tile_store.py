"""The out-of-core store of ``nngp_ntk.kernels._tiling.evaluate``: kernel matrices on disk, resumable.

``TileStore`` keeps
  * one ``<name>.npy`` per kernel in a folder, its disk space reserved up front and written tile by
    tile (``os.pwrite``), returned as read-only memory maps;
  * a manifest of finished tiles (``manifest.json``), keyed by a ``fingerprint`` of the inputs and
    arguments so that a folder written for another kernel is refused. A tile is listed only after
    its values are flushed to disk, and a manifest is replaced atomically (written to a temporary
    name, then renamed), so a killed run (SIGKILL included) resumes where it stopped: calling again
    with the same arguments computes only the tiles no manifest lists. Tiles are recorded every
    ``COMMIT_SECONDS``, and ``tiling.evaluate`` launches a group of tiles only once all but the
    last computed group are written: a kill loses at most the group being computed, the one being
    written and the tiles written in the last ``COMMIT_SECONDS`` interval;
  * a lock file (``.lock``) held by a single process while it writes, which refuses a second
    process started on the same folder;
  * with several JAX processes (``jax.distributed.initialize`` in each, one per host), on a
    filesystem they all share: process 0 creates the store, and every process lists the tiles it
    finishes in its own ``manifest.<process>.json``. ``agree`` runs one step in every process and
    raises in all of them if any fails, so that none is left waiting.

The processes exchange values through ``allgather`` (JAX's ``multihost_utils.process_allgather``),
which turns the runtime's error when another process has died into a ``ProcessLostError`` that
says so and that rerunning resumes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils

from nngp_ntk._checks import ArgumentValueError

MANIFEST = "manifest.json"
#: The lock file of a store written by one process (``TileStore``).
LOCK = ".lock"
#: Finished-tile records: ``manifest.json``, plus ``manifest.<process>.json`` of multi-process runs.
_RECORD = re.compile(r"manifest(\.\d+)?\.json")
_MANIFEST_VERSION = 1
#: The out-of-core store flushes and records finished tiles at most this often (and at the end):
#: a run killed at any point loses the tiles written since its last record (at most one such
#: interval's) plus the two groups ``tiling.evaluate`` may have computing and being written.
COMMIT_SECONDS = 0.5


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


class ProcessLostError(RuntimeError):
    """An exchange among the JAX processes failed: another process died, was killed or lost the network."""


def allgather(value: np.ndarray, what: str, tiled: bool = False) -> np.ndarray:
    """``multihost_utils.process_allgather`` of ``value``: every process's value, stacked (concatenated
    with ``tiled``).

    When a process dies mid-exchange, JAX's CPU collectives (gloo) fail at once in the others with a
    ``JaxRuntimeError`` ("Connection reset by peer"); it is raised here as a ``ProcessLostError``
    naming what was being done and saying that rerunning the same command resumes (the out-of-core
    stores and the solvers' checkpoints keep what was written). JAX then holds the process at exit
    until its coordination service declares the dead process lost (``heartbeat_timeout_seconds`` of
    ``jax.distributed.initialize``, 100 s by default) and ends it.

    Args:
        value: this process's array (the same shape in every process).
        what: what the exchange is for, named in the error ("multiply by the stored kernel").
        tiled: concatenate along the first axis instead of stacking along a new one.

    Returns:
        The gathered array, in process order.

    Raises:
        ProcessLostError: the exchange failed.
    """
    try:
        return np.asarray(multihost_utils.process_allgather(value, tiled=tiled))
    except jax.errors.JaxRuntimeError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ProcessLostError(
            f"JAX process {jax.process_index()} of {jax.process_count()} lost the other processes while trying to "
            f"{what}: another process probably died or was killed (JAX: {reason}). Nothing already written to the "
            "out folder is lost: rerun the same command in every process to resume. JAX may hold this process at "
            "exit until its heartbeat timeout (heartbeat_timeout_seconds of jax.distributed.initialize) before "
            "ending it.") from error


def agree(step: Callable[[], None], what: str) -> None:
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
    codes = allgather(np.int32(code), what)
    if error is not None:
        raise error
    if codes.any():
        failed = np.flatnonzero(codes).tolist()
        kind = ValueError if codes.max() == 1 else RuntimeError
        raise kind(f"JAX process(es) {failed} failed to {what} (their errors say why)")


def same_in_all_processes(*parts: object, what: str) -> np.ndarray:
    """Which JAX processes pass the same ``parts`` as process 0 (``fingerprint``; every process must call).

    Args:
        *parts: arrays and other objects.
        what: what the comparison is for, named in a ``ProcessLostError``.

    Returns:
        One bool per process (all True with one process).
    """
    if jax.process_count() == 1:
        return np.ones(1, dtype=bool)
    digest = np.frombuffer(bytes.fromhex(fingerprint(*parts))[:16], dtype=np.int32)
    digests = allgather(digest, what).reshape(jax.process_count(), -1)
    return (digests == digests[0]).all(axis=1)


def agree_on_arguments(what: str, *parts: object) -> None:
    """Raise ValueError in every JAX process unless all of them pass the same ``parts`` (``fingerprint``).

    Args:
        what: the call, named in the error.
        *parts: the arguments (arrays and other objects).

    Raises:
        ValueError: some process's arguments differ from process 0's (naming those processes).
    """
    differ = np.flatnonzero(~same_in_all_processes(*parts, what=f"compare the arguments of {what}")).tolist()
    if differ:
        raise ArgumentValueError(f"the JAX processes called {what} with different arguments (process(es) {differ} "
                                 "differ from process 0): every process must make the same call")


def stored_key(folder: str | os.PathLike) -> str:
    """The key of the store in ``folder``: the ``fingerprint`` of its inputs and arguments that its
    manifest records (what identifies the kernel it holds).

    Args:
        folder: a store's folder.

    Returns:
        The key.

    Raises:
        ValueError: the folder holds no readable manifest.
    """
    path = os.path.join(os.fspath(folder), MANIFEST)
    try:
        with open(path) as file:
            return str(json.load(file)["key"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ArgumentValueError(f"cannot read the key of the store manifest {path!r}: {error}") from None


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
            agree(self._prepare if self._process == 0 else lambda: None, f"prepare out folder {self.folder!r}")
            agree(self._open, f"open out folder {self.folder!r}")
        except BaseException:
            self.close()
            raise
        self._last_commit = time.monotonic()

    def _path(self, name: str) -> str:
        return os.path.join(self.folder, f"{name}.npy")

    def _acquire(self) -> None:
        """Take the folder's lock (creating the folder), or raise ArgumentValueError naming its holder."""
        if os.path.exists(self.folder) and not os.path.isdir(self.folder):
            raise ArgumentValueError(f"out must be a folder, but {self.folder!r} is a file")
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, LOCK)
        try:
            lock = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise ArgumentValueError(f"cannot create the lock file {path!r} of out folder {self.folder!r}: "
                                     f"{error}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(lock, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(lock)
            raise ArgumentValueError(f"out folder {self.folder!r} is being written by another process "
                                     f"(PID {holder}, which holds {path!r}): wait for it to finish, then call "
                                     "again to reuse its tiles, or use another folder") from None
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
            raise ArgumentValueError(f"out must be a folder, but {self.folder!r} is a file")
        os.makedirs(self.folder, exist_ok=True)
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise ArgumentValueError(f"out folder {self.folder!r} is not writable")
        if os.path.exists(manifest):
            self._read(MANIFEST)
            for name in self.names:
                if not os.path.exists(self._path(name)):
                    raise ArgumentValueError(f"out folder {self.folder!r} lacks {name}.npy listed in its "
                                             "manifest")
        else:
            if set(os.listdir(self.folder)) - {LOCK}:
                raise ArgumentValueError(f"out folder {self.folder!r} is not empty and holds no {MANIFEST}: "
                                         "give an empty or new folder (or one a previous run of the same kernel "
                                         "wrote)")
            self._reserve()
            self._write_record(MANIFEST, set())

    def _open(self) -> None:
        """Read every record of finished tiles and open the arrays for writing."""
        if not os.path.exists(os.path.join(self.folder, MANIFEST)):
            raise ArgumentValueError(f"out folder {self.folder!r} has no {MANIFEST} in JAX process "
                                     f"{self._process}, although process 0 prepared it: out must be on a "
                                     "filesystem all processes share")
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
            raise ArgumentValueError(f"cannot read the manifest {path!r}: {error}") from None
        if {k: recorded.get(k) for k in self._header} != self._header:
            raise ArgumentValueError(f"out folder {self.folder!r} holds a kernel of different inputs or "
                                     f"arguments (its {record} does not match this call); use another folder or "
                                     "delete it")
        return {tuple(pair) for pair in recorded.get("done", [])}

    def _reserve(self) -> None:
        needed = len(self.names) * self._shape[0] * self._shape[1] * self._dtype.itemsize
        free = shutil.disk_usage(self.folder).free
        if needed > free:
            raise ArgumentValueError(f"out folder {self.folder!r} needs {needed / 2**30:.2f} GiB of disk "
                                     f"but only {free / 2**30:.2f} GiB is free")
        for name in self.names:
            array = np.lib.format.open_memmap(self._path(name), mode="w+", dtype=self._dtype, shape=self._shape)
            del array
            with open(self._path(name), "r+b") as file:
                try:
                    os.posix_fallocate(file.fileno(), 0, os.fstat(file.fileno()).st_size)
                except OSError as error:
                    raise ArgumentValueError(f"cannot reserve disk space for {self._path(name)!r}: "
                                             f"{error}") from None

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

