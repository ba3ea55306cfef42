"""The state of an iterative solver kept in a file of its out folder, so that an interrupted run resumes.

A ``Checkpoint`` holds the arrays of one run (the conjugate gradients of ``_cg``, the Lanczos
iterations of ``_krylov``) under a key that identifies the problem (``fingerprint`` of the
operator, the right-hand sides, the tolerance...), with ``iteration``, the iterations run so far.
Each save replaces the file atomically (``write_npz``: a temporary file, flushed to disk, then
renamed), so a run killed at any point (SIGKILL included) leaves the last state saved whole. A
state saved for another problem, or a file that cannot be read, is ignored, and replaced by the
next save: two problems are never mixed.

Saves are spaced: after an iteration, once ``SAVE_SECONDS`` have passed since the last save and
saving has taken at most ``SAVE_SHARE`` of the time since then; and at the end of the run.

Under ``jax.distributed`` every process runs the same iterations: all read the file, process 0
alone writes it, and they resume only if all of them read the same state (``same_in_all_processes``).
"""

from __future__ import annotations

import contextlib
import os
import time
import zipfile
from collections.abc import Iterator

import jax
import numpy as np

from nngp_ntk._checks import warn
from nngp_ntk.kernels._tile_store import ProcessLostError, fingerprint, same_in_all_processes

#: A run saves its state after an iteration once this many seconds have passed since its last save
#: (and after its last iteration)...
SAVE_SECONDS = 1.0
#: ... and once saving has taken at most this fraction of the time since then: a large state (many
#: right-hand sides, a Krylov basis) is saved less often, so that saving costs at most this share of the run.
SAVE_SHARE = 0.05
#: The name of the file that ``write_npz`` writes before renaming it: ``path`` + this suffix (left
#: behind by a run killed while writing).
TEMPORARY_SUFFIX = ".tmp.npz"
#: Part of every key: a file of another layout is ignored.
_FORMAT = "solver state 1"


def write_npz(path: str, **arrays: object) -> None:
    """``np.savez`` to a temporary file, flushed to disk, then renamed over ``path``: a run killed at any
    point leaves the old file or the new one, whole."""
    temporary = path + TEMPORARY_SUFFIX
    with open(temporary, "wb") as file:
        np.savez(file, **arrays)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def read_npz(path: str, key: str) -> dict[str, np.ndarray] | None:
    """The arrays of ``path`` when it exists, is readable and was written for ``key`` (its ``key`` array); else None."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path) as data:
            if "key" not in data.files or str(data["key"]) != key:
                return None
            return {name: data[name] for name in data.files if name != "key"}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None


class Checkpoint:
    """A file that keeps the state of one iterative run, under a key naming its problem.

    Args:
        path: the file.
        key: identifies the problem (``fingerprint`` of what determines the iterations). A state
            saved under another key is ignored, and replaced.
        fields: the arrays of a state, ``iteration`` (the iterations run so far) among them; a
            file that lacks one is ignored.
        what: the iterations, named in messages ("conjugate-gradient").
        distributed: every JAX process runs the same iterations (under ``jax.distributed``) and
            calls ``load`` and ``save``: all read the file, process 0 alone writes it.

    Example:
        >>> import tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "state.npz")
        >>> Checkpoint(path, "demo", ("x", "iteration"), "demo").save({"x": np.ones(2), "iteration": 3}, force=True)
        >>> Checkpoint(path, "demo", ("x", "iteration"), "demo").load()
        {'x': array([1., 1.]), 'iteration': array(3)}
        >>> Checkpoint(path, "another problem", ("x", "iteration"), "demo").load() is None
        True
    """

    def __init__(self, path: str | os.PathLike, key: str, fields: tuple[str, ...], what: str,
                 distributed: bool = False) -> None:
        self.path = os.fspath(path)
        self.key = fingerprint(_FORMAT, key)
        self.fields = tuple(fields)
        self.what = what
        self.distributed = bool(distributed)
        #: The iteration of the state in the file (read or written by this process), None when unknown.
        self.saved: int | None = None
        self._next_save = time.monotonic() + SAVE_SECONDS

    def load(self) -> dict[str, np.ndarray] | None:
        """The state saved for this key, or None (no file, another key, a missing field, or processes
        that read different states).

        Warns:
            UserWarning: under ``jax.distributed``, the processes read different states (the
                folder is not shared alike): all of them start afresh.
        """
        arrays = read_npz(self.path, self.key)
        if arrays is not None and any(name not in arrays for name in self.fields):
            arrays = None
        if self.distributed and jax.process_count() > 1:
            parts = ("none",) if arrays is None else [arrays[name] for name in self.fields]
            same = same_in_all_processes(*parts, what=f"compare the saved {self.what} state")
            if not same.all():
                warn(f"the JAX processes read different {self.what} states from {self.path!r} (process(es) "
                     f"{np.flatnonzero(~same).tolist()} differ from process 0; is the folder on a filesystem they "
                     f"all share?): every process starts the {self.what} iterations afresh")
                arrays = None
        self.saved = None if arrays is None else int(arrays["iteration"])
        self._next_save = time.monotonic() + SAVE_SECONDS
        return None if arrays is None else {name: arrays[name] for name in self.fields}

    def save(self, arrays: dict[str, object], force: bool = False) -> None:
        """Save the state ``arrays`` (its ``fields``; process 0 alone when ``distributed``) at once with
        ``force``; otherwise, unless the file already holds this iteration, once ``SAVE_SECONDS`` have
        passed since the last save and saving has taken at most ``SAVE_SHARE`` of the time."""
        iteration = int(arrays["iteration"])
        if not force and (iteration == self.saved or time.monotonic() < self._next_save):
            return
        started = time.monotonic()
        if not self.distributed or jax.process_index() == 0:
            write_npz(self.path, key=self.key, **{name: arrays[name] for name in self.fields})
        finished = time.monotonic()
        self.saved = iteration
        self._next_save = finished + max(SAVE_SECONDS, (finished - started) / SAVE_SHARE)

    def describe(self) -> str:
        """Where the saved state is and what a rerun does with it (for error messages)."""
        if self.distributed and jax.process_index() != 0:
            return (f"{self.path!r} keeps the {self.what} state that JAX process 0 saved last (at most "
                    f"{SAVE_SECONDS:g} s before it stopped, unless saving took longer): the rerun continues the "
                    f"{self.what} iterations from it")
        if self.saved is None:
            return f"no {self.what} iteration was saved in {self.path!r} yet: the rerun starts them afresh"
        return f"{self.path!r} keeps the {self.what} state after iteration {self.saved}: the rerun continues from it"


@contextlib.contextmanager
def explained(checkpoint: Checkpoint | None) -> Iterator[None]:
    """Add to a ``ProcessLostError`` raised inside where ``checkpoint`` keeps the state (``describe``)."""
    try:
        yield
    except ProcessLostError as error:
        if checkpoint is None:
            raise
        raise ProcessLostError(f"{error} {checkpoint.describe()}.") from error.__cause__
