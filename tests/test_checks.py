"""The shared validators: the error type says what was wrong (TypeError: the kind; ValueError: the
range), the message names the argument; warnings point at the user's line."""

from __future__ import annotations

import sys
import warnings

import jax
import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk import _checks, spectrum
from nngp_ntk import _inputs as inputs


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


def recorded(call):
    """The warnings ``call()`` gives, every one recorded."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return caught


def test_precision_warning_points_at_the_callers_line_with_advice_for_every_entry_point(monkeypatch):
    """float64 inputs with x64 off: net.kernel, solver.predict and a JAX transformation of the
    evidence (JAX's frames between the user and the package) all warn at the test's line, and the
    advice (float32 inputs, or x64) applies to each."""
    assert not jax.config.jax_enable_x64
    x = np.random.default_rng(0).standard_normal((6, 3))
    y = np.arange(6.0)
    net = nk.FullyConnected()
    calls = {"kernel": lambda: net.kernel(x),
             "predict": lambda: nk.solver.predict(net, x, y, x[:2]),
             "grad": lambda: jax.grad(nk.solver.log_marginal_likelihood)(net, x, y, 0.1)}
    for name, call in calls.items():
        monkeypatch.setattr(inputs, "_warned_float64", False)      # the warning is given once a process
        caught = [w for w in recorded(call) if w.category is _checks.PrecisionWarning]
        assert len(caught) == 1, name
        assert (caught[0].filename, caught[0].lineno) == (__file__, call.__code__.co_firstlineno), name
        assert "pass float32 inputs" in str(caught[0].message) and "jax_enable_x64" in str(caught[0].message)


def test_estimator_warnings_point_at_the_callers_line_and_float64_is_no_precision_request(monkeypatch):
    """KernelRegressor.fit on float64 X (what scikit-learn's validation makes of lists) gives no
    PrecisionWarning; the warnings it and predict do give point at the test's line."""
    monkeypatch.setattr(inputs, "_warned_float64", False)
    x = np.random.default_rng(0).standard_normal((6, 3))
    vanishing = nk.KernelRegressor(nk.FullyConnected(depth=12, W_std=0.01), kernel="nngp")
    line = sys._getframe().f_lineno + 1
    caught = recorded(lambda: vanishing.fit(x, np.arange(6.0)))
    assert [(w.category, w.filename, w.lineno) for w in caught] == [(RuntimeWarning, __file__, line)]
    duplicated = np.vstack([x, x[:1]]).tolist()
    reg = nk.KernelRegressor(kernel="nngp").fit(duplicated, np.arange(7.0))
    line = sys._getframe().f_lineno + 1
    caught = recorded(lambda: reg.predict(x[:2]))
    assert [(w.category, w.filename, w.lineno) for w in caught] == [(nk.solver.SingularKernelWarning, __file__, line)]
    assert not inputs._warned_float64
