"""The inputs of a kernel: their dtype rules and array checks.

An input is a 2-D array of shape (n_points, n_features), real (bool, integer or floating), with at
least one point and one feature, every entry finite; x1 and x2 have the same number of features.
Kernels are computed in

    dtype = the explicit ``dtype`` (float32 or float64) when given, else
            float64 when every input is float64 and JAX's x64 mode is on, else
            float32 (with a ``PrecisionWarning``, once a process, when float64 inputs are narrowed;
            it points at the user's line and says what silences it there: float32 inputs, or
            x64 mode on).

``check_inputs`` applies all of it to NumPy inputs (``kernel``, ``diagonal``, the solver, the
spectrum); ``check_array`` and ``check_features`` are the shape and dtype checks alone, which also
work on JAX tracers (``kernel_fn``).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from nngp_ntk import _checks

__all__ = ["check_array", "check_features", "check_inputs", "compute_dtype"]

_warned_float64 = False


def _warn_float64_once() -> None:
    """Warn, once a process, that float64 inputs are computed in float32 (x64 mode off), with advice
    that holds for every function taking inputs."""
    global _warned_float64
    if not _warned_float64:
        _warned_float64 = True
        _checks.warn("float64 inputs are computed in float32 because JAX's x64 mode is off: pass float32 "
                     "inputs (x.astype(np.float32)) to silence this warning, or call "
                     "jax.config.update('jax_enable_x64', True) at startup for float64 kernels",
                     _checks.PrecisionWarning)


def _check_dtype(dtype: Any) -> np.dtype | None:
    """None, float32 or float64 (the last only with JAX's x64 mode on)."""
    if dtype is None:
        return None
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise _checks.ArgumentTypeError(f"dtype must be float32, float64 or None, got {dtype!r}") from None
    if dtype not in (np.float32, np.float64):
        raise _checks.ArgumentValueError(f"dtype must be float32, float64 or None, got {dtype}")
    if dtype == np.float64 and not jax.config.jax_enable_x64:
        raise _checks.ArgumentValueError(
            "dtype=float64 needs JAX's x64 mode: call jax.config.update('jax_enable_x64', True) "
            "at startup (or set JAX_ENABLE_X64=1)")
    return dtype


def compute_dtype(*arrays: Any, dtype: Any = None, warn: bool = True) -> np.dtype:
    """The dtype kernels are computed in.

    ``dtype`` when given (float32 or float64); else float64 when every given input is float64 and
    JAX's x64 mode is on, else float32 (warning once when float64 inputs are narrowed and ``warn``).

    Args:
        *arrays: the inputs (None entries are skipped).
        dtype: an explicit float32 or float64, or None.
        warn: whether narrowed float64 inputs warn (False where float64 is no request for
            precision, as in the scikit-learn estimators, whose input validation makes it of lists
            and integer arrays).

    Returns:
        The NumPy dtype.

    Raises:
        TypeError, ValueError: a dtype other than float32 or float64; float64 without x64 mode.

    Example:
        >>> compute_dtype(np.ones(2, np.float32)), compute_dtype(np.ones(2, np.float64), dtype=np.float32)
        (dtype('float32'), dtype('float32'))
    """
    explicit = _check_dtype(dtype)
    if explicit is not None:
        return explicit
    wide = all(np.dtype(a.dtype) == np.float64 for a in arrays if a is not None)
    if wide and jax.config.jax_enable_x64:
        return np.dtype(np.float64)
    if warn and any(a is not None and np.dtype(a.dtype) == np.float64 for a in arrays):
        _warn_float64_once()
    return np.dtype(np.float32)


def check_inputs(x1: np.ndarray, x2: np.ndarray | None = None,
                 dtype: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate inputs (2-D, real, finite, same feature count) and cast them to the compute dtype.

    Args:
        x1: inputs, shape (N1, d).
        x2: inputs, shape (N2, d), or None.
        dtype: an explicit float32 or float64 (``compute_dtype``), or None.

    Returns:
        (x1, x2) as NumPy arrays of the compute dtype (x2 None when not given).

    Raises:
        TypeError: inputs that are not real numeric arrays.
        ValueError: inputs that are not 2-D, empty, not finite, or with different feature counts.

    Example:
        >>> x1, x2 = check_inputs([[1, 2], [3, 4]])
        >>> x1.dtype, x2
        (dtype('float32'), None)
    """
    checked = []
    for name, x in (("x1", x1), ("x2", x2)):
        if x is None:
            checked.append(None)
            continue
        x = np.asarray(x)
        check_array(name, x)
        if not np.all(np.isfinite(x)):
            raise _checks.ArgumentValueError(f"{name} contains NaN or inf values")
        checked.append(x)
    x1, x2 = checked
    check_features(x1, x2)
    dtype = compute_dtype(x1, x2, dtype=dtype)
    return x1.astype(dtype, copy=False), None if x2 is None else x2.astype(dtype, copy=False)


def check_array(name: str, x: Any) -> None:
    """Check an input's dtype (real: bool, integer or floating) and shape (2-D, non-empty); works on tracers.

    Args:
        name: the argument's name, for the message.
        x: an array (NumPy, JAX, or a tracer).

    Raises:
        TypeError: a dtype that is not real numeric.
        ValueError: not 2-D, or no points or no features.

    Example:
        >>> check_array("x1", np.ones(3))
        Traceback (most recent call last):
        nngp_ntk._checks.ArgumentValueError: x1 must be a 2-D array of shape (n_points, n_features), got shape (3,)
    """
    dtype = np.dtype(x.dtype)
    if dtype == object or not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)
                               or dtype == bool):
        raise _checks.ArgumentTypeError(f"{name} must be a real numeric array, got dtype {dtype}")
    if x.ndim != 2:
        raise _checks.ArgumentValueError(
            f"{name} must be a 2-D array of shape (n_points, n_features), got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise _checks.ArgumentValueError(f"{name} must have at least one point and one feature, got shape {x.shape}")


def check_features(x1: Any, x2: Any) -> None:
    """Check that x1 and x2 (when not None) have the same number of features (columns).

    Raises:
        ValueError: different feature counts.
    """
    if x2 is not None and x2.shape[1] != x1.shape[1]:
        raise _checks.ArgumentValueError(
            f"x1 and x2 must have the same number of features, got {x1.shape[1]} and {x2.shape[1]}")

