"""Tests of nngp_ntk.solver._krylov: CG and Lanczos agree with the dense eigendecomposition, in memory and on disk."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from nngp_ntk import solver
from nngp_ntk.solver import _dense as dense_flow
from nngp_ntk.kernels import _row_blocks as row_blocks
from nngp_ntk.solver import _checkpoint
from nngp_ntk.solver import _krylov as krylov


def arccos_kernel(n: int, dim: int = 6, seed: int = 0, dtype=np.float64) -> np.ndarray:
    """Arc-cosine kernels of degrees 1 and 0 (ReLU network kernels) plus a constant on random points:
    positive definite, with the power-law spectrum of network kernels."""
    x = np.random.default_rng(seed).standard_normal((n, dim))
    norms = np.linalg.norm(x, axis=1)
    cosine = np.clip(x @ x.T / np.outer(norms, norms), -1, 1)
    angle = np.arccos(cosine)
    outer = np.outer(norms, norms) / dim
    nngp = outer * (np.sin(angle) + (np.pi - angle) * cosine) / (2 * np.pi)
    return (nngp + outer * (np.pi - angle) / (2 * np.pi) + 0.01).astype(dtype)


@pytest.fixture(scope="module")
def problem():
    kernel = arccos_kernel(330)
    train, test = kernel[:300, :300], kernel[300:, :300]
    y = np.random.default_rng(1).standard_normal((300, 2))
    return train, test, y


@pytest.mark.parametrize("ridge", [0.0, 1e-2])
def test_cg_solve_agrees_with_dense(problem, ridge):
    train, _, y = problem
    dense = dense_flow.DenseFlowKernel(train, ridge).solve(y)
    operator = krylov.IterativeFlowKernel(train, ridge, rank=50, tol=1e-11)
    iterative = operator.solve(y)
    np.testing.assert_allclose(iterative, dense, rtol=1e-6, atol=1e-6 * np.abs(dense).max())
    assert operator.iterations[-1] < 300            # the preconditioner helps
    np.testing.assert_allclose(operator.solve(y[:, 0]), dense[:, 0], rtol=1e-6, atol=1e-6 * np.abs(dense).max())


def test_lanczos_matrix_functions_agree_with_dense(problem):
    train, _, y = problem
    functions = [lambda v, tau=tau: dense_flow.flow_coefficients(v, tau) for tau in (0.01, 1.0, 30.0)]
    dense = dense_flow.DenseFlowKernel(train, 0.0).apply(y, functions)
    iterative = krylov.IterativeFlowKernel(train, 0.0, tol=1e-10).apply(y, functions)
    for a, b in zip(iterative, dense):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-7 * np.abs(b).max())


@pytest.mark.slow
def test_iterative_gradient_flow_agrees_with_dense_on_disk(problem, tmp_path):
    """The whole prediction (mean and covariance, t = None and finite t) from a np.memmap kernel."""
    train, test, y = problem
    stored = np.lib.format.open_memmap(tmp_path / "k.npy", mode="w+", dtype=np.float64, shape=train.shape)
    stored[:] = train
    stored.flush()
    on_disk = np.load(tmp_path / "k.npy", mmap_mode="r")
    nngp_test = np.diag(arccos_kernel(330)[300:, 300:])
    kwargs = dict(nngp_test_test=nngp_test, ridge=1e-3)
    for t in (None, [0.5, 40.0]):
        dense = solver.gradient_flow(train, y, test, t, method="dense", **kwargs)
        flow = solver.GradientFlow(on_disk, y, ridge=1e-3, method="iterative",
                                   options=dict(block_rows=64, tol=1e-11))
        iterative = flow.predict(test, t, nngp_test_test=nngp_test)
        for a, b in zip(iterative, dense):
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-7 * np.abs(b).max())
    assert flow.max_learning_rate() == pytest.approx(solver.max_learning_rate(train, y.size, ridge=1e-3), rel=1e-7)


def test_float32_kernel_agrees_to_single_precision(problem):
    train, test, y = problem
    dense = solver.gradient_flow(train, y, test, ridge=1e-2)
    iterative = solver.gradient_flow(train.astype(np.float32), y, test.astype(np.float32), ridge=1e-2,
                                     method="iterative")
    assert iterative.dtype == np.float32
    np.testing.assert_allclose(iterative, dense, rtol=1e-4, atol=1e-4 * np.abs(dense).max())


def test_pivoted_cholesky_is_exact_at_full_rank(problem):
    train, _, _ = problem
    factor, residual = krylov.pivoted_cholesky(train[:40, :40], 40)
    np.testing.assert_allclose(factor.T @ factor, train[:40, :40], atol=1e-10)
    assert residual.max() < 1e-10
    low_rank = np.outer(np.arange(1.0, 6.0), np.arange(1.0, 6.0))
    assert krylov.pivoted_cholesky(low_rank, 5)[0].shape == (1, 5)     # stops once the residual vanishes


def test_unconverged_iterations_warn_and_stay_finite(problem):
    train, _, y = problem
    operator = krylov.IterativeFlowKernel(train, 0.0, rank=1, maxiter=3, tol=1e-12)
    with pytest.warns(krylov.NotConvergedWarning, match="maxiter=3"):
        assert np.isfinite(operator.solve(y)).all()
    with pytest.warns(krylov.NotConvergedWarning, match="Lanczos"):
        assert np.isfinite(operator.apply(y, [lambda v: dense_flow.flow_coefficients(v, 1e3)])[0]).all()


def test_blocked_helpers(tmp_path):
    matrix = np.arange(30.0).reshape(6, 5)
    stored = np.lib.format.open_memmap(tmp_path / "m.npy", mode="w+", dtype=np.float32, shape=(6, 5))
    stored[:] = matrix
    b = np.ones((5, 2))
    np.testing.assert_array_equal(row_blocks.matmul(stored, b, block_rows=4), matrix @ b)
    assert row_blocks.all_finite(stored, block_rows=4)
    stored[5, 1] = np.nan
    assert not row_blocks.all_finite(stored, block_rows=4)


class Interrupted(Exception):
    """Raised by a product to stop a run part-way."""


def _counting(operator, products, stop_at=None):
    """``operator`` whose products are counted in ``products``, raising Interrupted at product ``stop_at``."""
    matmul = operator.matmul

    def counted(b):
        if stop_at is not None and len(products) == stop_at:
            raise Interrupted
        products.append(b.shape[1])
        return matmul(b)

    operator.matmul = counted
    return operator


@pytest.mark.parametrize("where", ["first batch", "second batch"])
def test_interrupted_lanczos_resumes_where_it_stopped(problem, tmp_path, monkeypatch, where):
    train, _, y = problem
    monkeypatch.setattr(_checkpoint, "SAVE_SECONDS", 0.0)          # every iteration saved
    monkeypatch.setattr(_checkpoint, "SAVE_SHARE", np.inf)
    monkeypatch.setattr(krylov, "LANCZOS_MEMORY", 8 * 300 * 301)    # one column per batch
    functions = [functools.partial(dense_flow.flow_coefficients, tau=tau) for tau in (1.0, 30.0)]

    def operator(products, stop_at=None):
        return _counting(krylov.IterativeFlowKernel(train, 1e-3, tol=1e-10, maxiter=300, checkpoint=tmp_path,
                                                    kernel_key="arccos"), products, stop_at)

    reference_products = []
    uninterrupted = _counting(krylov.IterativeFlowKernel(train, 1e-3, tol=1e-10, maxiter=300), reference_products)
    reference = uninterrupted.apply(y, functions)
    first, total = uninterrupted.iterations[0], len(reference_products)   # the first column's, all
    assert len(uninterrupted.iterations) == 2 and first > 10
    stop_at = 7 if where == "first batch" else first + 7
    with pytest.raises(Interrupted):
        operator([], stop_at).apply(y, functions)
    products = []
    resumed = operator(products).apply(y, functions)
    assert len(products) == total - stop_at
    for a, b in zip(resumed, reference):
        np.testing.assert_array_equal(a, b)                   # the same iterations, bit for bit
    products.clear()
    again = operator(products).apply(y, functions)            # the finished results are kept
    assert not products and all(np.array_equal(a, b) for a, b in zip(again, reference))
    other = operator(products).apply(2 * y, functions)        # another problem starts afresh
    assert len(products) == total
    for a, b in zip(other, reference):
        np.testing.assert_allclose(a, 2 * b, rtol=0, atol=1e-9 * np.abs(b).max())


@pytest.mark.parametrize("options, error, match", [(dict(rank=0), ValueError, "rank"),
                                                   (dict(maxiter=1.5), TypeError, "maxiter"),
                                                   (dict(tol=2.0), ValueError, "tol"),
                                                   (dict(block_rows=-1), ValueError, "block_rows")])
def test_bad_options(options, error, match):
    with pytest.raises(error, match=match):
        krylov.IterativeFlowKernel(np.eye(3), 0.0, **options)
    with pytest.raises(ValueError, match="options"):
        solver.GradientFlow(np.eye(3), np.ones(3), method="dense", options=options)


def test_dense_and_iterative_operators_share_one_interface():
    matrix, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(30, 30)))
    kernel = matrix @ np.diag(np.linspace(0.1, 2.0, 30)) @ matrix.T
    b = np.random.default_rng(1).normal(size=(30, 2))
    dense, iterative = dense_flow.DenseFlowKernel(kernel, 0.1), krylov.IterativeFlowKernel(kernel, 0.1)
    for operator in (dense, iterative):
        assert isinstance(operator, krylov.FlowOperator) and operator.size == 30
        np.testing.assert_allclose(operator.matmul(operator.solve(b)), b, atol=1e-6)
        assert operator.max_eigenvalue() == pytest.approx(2.1, rel=1e-6)
    np.testing.assert_allclose(iterative.apply(b, [np.sqrt])[0], dense.apply(b, [np.sqrt])[0], atol=1e-6)
    with pytest.raises(TypeError, match="abstract"):
        krylov.FlowOperator()
