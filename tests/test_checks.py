"""The shared validators: the error type says what was wrong (TypeError: the kind; ValueError: the
range), the message names the argument; warnings point at the user's line."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nngp_ntk import _checks, spectrum


def test_integer_and_real_checks():
    assert _checks.check_integer("n", np.int64(3), minimum=1) == 3
    assert _checks.check_integer("n", None, allow_none=True) is None
    for value in (True, 2.0, "3"):
        with pytest.raises(TypeError, match="n must be an integer"):
            _checks.check_integer("n", value)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        _checks.check_integer("n", 0, minimum=1)
    assert _checks.check_ridge(np.float32(0.5)) == 0.5
    with pytest.raises(ValueError, match="ridge must be >= 0"):
        _checks.check_ridge(-1.0)
    with pytest.raises(TypeError, match="ridge must be a real number"):
        _checks.check_ridge("0")


def test_checks_raise_the_argument_error_family():
    """Every check raises InvalidArgumentError (what the command reports as the user's error), as a
    TypeError for the kind and a ValueError for the range, so callers catching those still do."""
    for call, kind in ((lambda: _checks.check_integer("n", "3"), TypeError),
                       (lambda: _checks.check_integer("n", 0, minimum=1), ValueError),
                       (lambda: _checks.check_real("x", float("inf")), ValueError),
                       (lambda: _checks.check_points(np.array([["a"]])), TypeError),
                       (lambda: _checks.check_sizes("sizes", [1, 2]), ValueError)):
        with pytest.raises(_checks.InvalidArgumentError) as error:
            call()
        assert isinstance(error.value, kind)
        assert isinstance(error.value, _checks.ArgumentTypeError if kind is TypeError else _checks.ArgumentValueError)
    assert not issubclass(ValueError, _checks.InvalidArgumentError)


def test_times_points_and_sizes():
    assert _checks.check_times("t", None) == (None, True)
    times, scalar = _checks.check_times("t", [0, 1.5, np.inf])
    assert not scalar and times.tolist() == [0, 1.5, np.inf]
    with pytest.raises(ValueError, match="steps must be"):
        _checks.check_times("steps", [1.5], integer=True)
    X = _checks.check_points(np.ones((2, 3), dtype=np.int32))
    assert X.dtype == np.float64
    with pytest.raises(ValueError, match="X contains NaN"):
        _checks.check_points([[np.nan]])
    with pytest.raises(TypeError, match="X must be a real"):
        _checks.check_points(np.array([["a"]]))
    assert _checks.check_sizes("sizes", [40, 10, 20, 20]).tolist() == [10, 20, 40]
    for sizes, message in (([10, 20], "at least 3"), ([10, 11, 12], "too short"), ([10, 20, 30.5], "integers"),
                           ([10, 20, 400], "at most 300 \\(the pool\\)")):
        with pytest.raises(ValueError, match=message):
            _checks.check_sizes("sizes", sizes, maximum=300, what="the pool")


def test_warnings_point_at_the_callers_line():
    matrix = np.diag(np.linspace(1.0, 2.0, 50))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spectrum.randomized_eigh(lambda q: matrix @ q, 50, 10, block_size=5, max_passes=3, tol=1e-12)
    assert caught and caught[0].category is _checks.NotConvergedWarning
    assert caught[0].filename == __file__
