"""float64 NNGP and NTK against neural-tangents 0.6.5 (tests/data/nt_kernels.npz).

The reference file is written by ``references/make_reference_kernels.py`` in the pinned
neural-tangents environment; see its docstring for the networks and inputs. Every case is compiled
anew (a few tenths of a second each), so the default run checks a subset that still covers every
activation, both parameterizations, every depth and every (W_std, b_std) setting; the full set of
cases runs with ``-m slow``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import nngp_ntk as nk

REFERENCE = Path(__file__).parents[1] / "data" / "nt_kernels.npz"
TOLERANCE = 1e-7


@pytest.fixture(scope="module")
def reference() -> dict:
    with np.load(REFERENCE) as data:
        return {key: data[key] for key in data.files} | {"cases": json.loads(str(data["cases"]))}


def _cases() -> list[dict]:
    with np.load(REFERENCE) as data:
        return json.loads(str(data["cases"]))


def _case_id(case: dict) -> str:
    kwargs = ",".join(f"{k}={v}" for k, v in case["kwargs"].items())
    weights = "perlayer" if isinstance(case["W_std"], list) else f"W{case['W_std']}b{case['b_std']}"
    return f"{case['activation']}({kwargs})-{case['parameterization']}-depth{case['depth']}-{weights}"


def _default_subset(cases: list[dict]) -> list[int]:
    """One case per activation, the parameterization alternating, the depth cycling through
    (1, 2, 5) and the (W_std, b_std) setting rotating, plus depth 0 in both parameterizations:
    every level of every factor appears."""
    groups: dict[str, list[int]] = {}
    for index, case in enumerate(cases):
        groups.setdefault(case["activation"] + json.dumps(case["kwargs"]), []).append(index)
    chosen = []
    for number, indices in enumerate(groups.values()):
        parameterization = ("ntk", "standard")[number % 2]
        for depth in ((1, 2, 5)[number % 3],) + ((0,) if number < 2 else ()):
            matching = [i for i in indices
                        if cases[i]["depth"] == depth and cases[i]["parameterization"] == parameterization]
            chosen.append(matching[(number // 2) % len(matching)])
    return chosen


def _params() -> list:
    cases = _cases()
    default = set(_default_subset(cases))
    return [pytest.param(index, id=_case_id(case),
                         marks=() if index in default else pytest.mark.slow)
            for index, case in enumerate(cases)]


def _network(case: dict) -> nk.FullyConnected:
    activation = getattr(nk.activations, case["activation"])(**case["kwargs"])
    return nk.FullyConnected(depth=case["depth"], activation=activation, W_std=case["W_std"],
                             b_std=case["b_std"], parameterization=case["parameterization"],
                             width=case["width"])


def _assert_close(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    """max|a - e| / max|e| <= TOLERANCE, and every entry within TOLERANCE of its own size (entries
    below 1e-3 max|e| only within TOLERANCE 1e-3 max|e|: their relative error is not meaningful)."""
    assert actual.shape == expected.shape and actual.dtype == np.float64, what
    scale = np.max(np.abs(expected))
    relative = np.max(np.abs(actual - expected)) / scale
    assert relative <= TOLERANCE, f"{what}: max-abs relative error {relative:.2e}"
    np.testing.assert_allclose(actual, expected, rtol=TOLERANCE, atol=1e-3 * TOLERANCE * scale, err_msg=what)


def test_default_subset_covers_every_factor(reference):
    cases = reference["cases"]
    subset = [cases[i] for i in _default_subset(cases)]
    for factor in ("activation", "parameterization", "depth"):
        assert {c[factor] for c in subset} == {c[factor] for c in cases}, factor
    assert {json.dumps(c["kwargs"]) for c in subset} == {json.dumps(c["kwargs"]) for c in cases}
    assert any(isinstance(c["W_std"], list) for c in subset)
    assert any(c["b_std"] == 0.0 for c in subset) and any(c["b_std"] == 0.3 for c in subset)


@pytest.mark.parametrize("index", _params())
def test_kernels_match_neural_tangents(reference, x64, index):
    case = reference["cases"][index]
    net = _network(case)
    x1, x2 = reference["x1"], reference["x2"]
    assert x1.shape[0] != x2.shape[0]
    cross = net.kernel(x1, x2)
    same = net.kernel(x1)
    for name in ("nngp", "ntk"):
        _assert_close(getattr(cross, name), reference[f"{name}_12"][index], f"{name} K(x1, x2)")
        _assert_close(getattr(same, name), reference[f"{name}_11"][index], f"{name} K(x1, x1)")
    diagonal = net.diagonal(x1)
    for name in ("nngp", "ntk"):
        _assert_close(getattr(diagonal, name), np.diagonal(reference[f"{name}_11"][index]),
                      f"{name} diagonal")
