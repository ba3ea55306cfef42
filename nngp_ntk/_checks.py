"""Argument validation and the limits shared by every module, in one place.

Every check raises ``ArgumentTypeError`` (a ``TypeError``) for a value of the wrong kind and
``ArgumentValueError`` (a ``ValueError``) for a value out of range, with a message that names the
argument and says what was expected. Callers catch ``TypeError`` / ``ValueError`` as usual; the
common base ``InvalidArgumentError`` tells a caller's mistake apart from a failure inside the
library (the ``nngp-ntk`` command reports only these, and unreadable files, as the user's error).
Checks of numeric hyperparameters skip JAX tracers (values inside ``jit``, ``vmap`` or ``grad``):
those cannot be inspected and are checked where they become concrete.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any, Literal, get_args

import jax
import jaxlib
import numpy as np

#: The two kernels of a network: the NNGP K and the NTK Theta.
KernelName = Literal["nngp", "ntk"]
KERNEL_NAMES: tuple[KernelName, ...] = get_args(KernelName)
#: Largest N for which dense N x N methods (eigendecomposition, Cholesky) are used by default.
DENSE_LIMIT = 20_000


class InvalidArgumentError(Exception):
    """An argument the caller gave is wrong (not a failure of the library): the base of
    ``ArgumentValueError`` and ``ArgumentTypeError``, which every check here raises."""


class ArgumentValueError(InvalidArgumentError, ValueError):
    """An argument out of range, or inconsistent with another: a ``ValueError``."""


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument of the wrong kind: a ``TypeError``."""


class NotConvergedWarning(UserWarning):
    """An iterative method stopped before reaching its tolerance; the result is less accurate."""


class PrecisionWarning(UserWarning):
    """A computation runs in a narrower dtype than its inputs (float64 data, JAX's x64 mode off)."""


class UnreliableFitWarning(UserWarning):
    """A fit was reported as unreliable (too few points, a degenerate optimum)."""


#: Folders whose frames a warning is never attributed to: this package's, and JAX's (whose
#: transformations trace the package's code between the user's call and the warning).
_LIBRARY_FOLDERS = tuple(os.path.dirname(os.path.abspath(path)) + os.sep
                         for path in (__file__, jax.__file__, jaxlib.__file__))


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` with the message on one line, attributed to the user's line: the first
    frame, going outwards, outside the nngp_ntk package and JAX (however deep inside them the
    warning arose); the outermost frame when there is none (a worker thread)."""
    frame, stacklevel = sys._getframe(1), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_LIBRARY_FOLDERS):
        frame, stacklevel = frame.f_back, stacklevel + 1
    if frame is None:
        stacklevel -= 1
    warnings.warn(" ".join(message.split()), category, stacklevel=stacklevel)


def is_concrete(value: Any) -> bool:
    """False for a JAX tracer (a value under jit, vmap or grad), True otherwise."""
    return not isinstance(value, jax.core.Tracer)


def inside_jit() -> bool:
    """True while JAX traces a function for ``jit``: every computation there is staged, so even
    concrete inputs give tracers and nothing can be inspected."""
    return not is_concrete(jax.numpy.zeros(()) + 0)


def check_integer(name: str, value: Any, minimum: int | None = None, maximum: int | None = None,
                  allow_none: bool = False) -> int | None:
    """``value`` as an int (bools refused), within [minimum, maximum]; None passes when ``allow_none``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        expected = "an integer or None" if allow_none else "an integer"
        raise ArgumentTypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ArgumentValueError(f"{name} must be an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ArgumentValueError(f"{name} must be an integer <= {maximum}, got {value}")
    return value


def check_real(name: str, value: Any, minimum: float | None = None, positive: bool = False,
               allow_none: bool = False) -> float | Any:
    """``value`` as a finite float (bools refused), > 0 when ``positive``, >= ``minimum`` when given.

    A JAX tracer is returned unchanged (it cannot be inspected).
    """
    if value is None and allow_none:
        return None
    if not is_concrete(value):
        return value
    if isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ArgumentValueError(f"{name} must be a finite number, got {value!r}")
    if positive and not value > 0:
        raise ArgumentValueError(f"{name} must be > 0, got {value!r}")
    if minimum is not None and value < minimum:
        raise ArgumentValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


def check_ridge(ridge: Any, name: str = "ridge") -> float | Any:
    """A ridge (the multiple of the identity added to a kernel matrix): a finite number >= 0."""
    return check_real(name, ridge, minimum=0.0)


def check_kernel_name(kernel: Any, name: str = "kernel") -> KernelName:
    """One of ``KERNEL_NAMES``."""
    if kernel not in KERNEL_NAMES:
        raise ArgumentValueError(f"{name} must be one of {KERNEL_NAMES}, got {kernel!r}")
    return kernel


def check_kernel_names(get: Any) -> tuple[KernelName, ...]:
    """``get`` as a non-empty tuple of kernel names: "nngp", "ntk", or a sequence of them."""
    names = (get,) if isinstance(get, str) else tuple(get) if isinstance(get, Sequence) else (get,)
    if not names or any(n not in KERNEL_NAMES for n in names):
        raise ArgumentValueError(f"get must be one of {KERNEL_NAMES} or a non-empty sequence of them, "
                                 f"got {get!r}")
    return names


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` when it is one of ``choices``, else ValueError listing them."""
    if value not in choices:
        raise ArgumentValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_times(name: str, t: Any, integer: bool = False) -> tuple[np.ndarray | None, bool]:
    """Training times ``t`` (None: infinity; a number; a 1-D sequence) as (a 1-D float64 array or
    None, whether t was a scalar): non-negative, inf allowed, whole numbers when ``integer``."""
    if t is None:
        return None, True
    kind = "non-negative integers" if integer else "non-negative numbers"
    try:
        times = np.asarray(t, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentValueError(f"{name} must be None, a number or a 1-D sequence of {kind}, "
                                 f"got {t!r}") from None
    if times.ndim > 1 or times.size == 0 or np.isnan(times).any() or (times < 0).any() or \
            (integer and not np.all((times == np.round(times)) | np.isinf(times))):
        raise ArgumentValueError(f"{name} must be None, a number or a non-empty 1-D sequence of {kind} "
                                 f"(inf allowed), got {t!r}")
    return times.reshape(-1), times.ndim == 0


def check_points(X: Any, name: str = "X") -> np.ndarray:
    """``X`` as a float64 array of shape (n_points, n_features), unrounded: real, 2-D, non-empty, finite."""
    X = np.asarray(X)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)
                                 or X.dtype == bool):
        raise ArgumentTypeError(f"{name} must be a real numeric array, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ArgumentValueError(f"{name} must be a 2-D array of shape (n_points, n_features), "
                                 f"got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ArgumentValueError(f"{name} must have at least one point and one feature, got shape {X.shape}")
    X = np.asarray(X, dtype=np.float64)
    if not np.all(np.isfinite(X)):
        raise ArgumentValueError(f"{name} contains NaN or inf values")
    return X


def check_positive_reals(name: str, values: Any, minimum: float = 0.0) -> np.ndarray:
    """``values`` (a number or a 1-D sequence) as a non-empty 1-D float64 array of finite values > ``minimum``
    (training sizes of a theory curve, which need not be integers)."""
    array = np.asarray(values, dtype=np.float64).reshape(-1) if np.ndim(values) <= 1 else None
    if array is None or array.size == 0 or not np.all(np.isfinite(array)) or np.any(array <= minimum):
        raise ArgumentValueError(f"{name} must be a non-empty 1-D sequence of finite numbers > {minimum}, "
                                 f"got {values!r}")
    return array


def check_sizes(name: str, values: Any, maximum: int | None = None, what: str = "") -> np.ndarray:
    """Sorted distinct positive integers (training sizes, widths) to read an exponent over: at least 3,
    spanning a factor >= 2, none above ``maximum`` (``what`` says why it is the limit)."""
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.number) \
            or np.any(array != np.round(array)) or np.any(array < 1):
        raise ArgumentValueError(f"{name} must be a 1-D sequence of positive integers, got {values!r}")
    array = np.unique(array.astype(np.int64))
    if maximum is not None and array[-1] > maximum:
        raise ArgumentValueError(f"{name} must be at most {maximum}{f' ({what})' if what else ''}, "
                                 f"got {int(array[-1])}")
    if len(array) < 3:
        raise ArgumentValueError(f"{name} must hold at least 3 distinct values to fit an exponent, "
                                 f"got {array.tolist()}")
    if array[-1] < 2 * array[0]:
        raise ArgumentValueError(f"{name} span a factor {array[-1] / array[0]:.3g} < 2: too short a window to fit an "
                                 f"exponent (got {array.tolist()})")
    return array


def check_counts(name: str, values: Any, maximum: int | None = None, what: str = "") -> np.ndarray:
    """Sorted distinct positive integers (training sizes, widths), none above ``maximum`` (``what`` says why)."""
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.number) \
            or np.any(array != np.round(array)) or np.any(array < 1):
        raise ArgumentValueError(f"{name} must be a non-empty 1-D sequence of positive integers, got {values!r}")
    array = np.unique(array.astype(np.int64))
    if maximum is not None and array[-1] > maximum:
        raise ArgumentValueError(
            f"{name} must be at most {maximum}{f' ({what})' if what else ''}, got {int(array[-1])}")
    return array


def check_positive_times(name: str, values: Any) -> np.ndarray:
    """Training times as a sorted 1-D float64 array of distinct numbers > 0 (inf allowed)."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentValueError(f"{name} must be a 1-D sequence of times > 0, got {values!r}") from None
    if array.ndim != 1 or array.size == 0 or np.isnan(array).any() or np.any(array <= 0):
        raise ArgumentValueError(f"{name} must be a non-empty 1-D sequence of times > 0 (inf allowed), got {values!r}")
    return np.unique(array)


def check_window(name: str, window: Any, x: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """(the mask of the finite entries of ``x`` inside ``window`` = (low, high), the window); None:
    all finite x. ValueError for a window that is not 0 < low < high or holds no finite x."""
    finite = x[np.isfinite(x)]
    if window is None:
        if not len(finite):
            raise ArgumentValueError(f"{name} needs finite values to fit over, got only {x.tolist()}")
        window = (float(finite[0]), float(finite[-1]))
    try:
        low, high = (float(w) for w in window)
    except (TypeError, ValueError):
        raise ArgumentValueError(f"{name} must be (low, high) with 0 < low < high, got {window!r}") from None
    if not 0 < low < high < np.inf:
        raise ArgumentValueError(f"{name} must be (low, high) with 0 < low < high, got {window!r}")
    inside = np.isfinite(x) & (x >= low * (1 - 1e-9)) & (x <= high * (1 + 1e-9))
    if not inside.any():
        raise ArgumentValueError(f"{name} = {(low, high)} holds none of the finite values {finite.tolist()}")
    return inside, (low, high)
