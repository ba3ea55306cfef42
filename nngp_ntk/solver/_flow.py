"""Predictions of infinitely wide networks trained by gradient flow (or descent) on the MSE loss.

Training minimizes L = 0.5 * mean((f(X) - Y)^2), the mean over all n = Y.size entries, by gradient
flow at learning rate eta for time t, or by s full-batch steps of gradient descent. Let
D = Theta(X, X) + ridge I be the train kernel that drives training (the NTK; the NNGP for
kernel="nngp", when only the readout is trained) and g(D) the matrix function that training
applies (``nngp_ntk.solver._dense``): g(D) = D^-1 (I - exp(-D tau)) for flow, tau = eta t / n, its
analogue for s steps of descent, D^-1 for t = None. With A = D(x, X) g(D), the outputs over
random initializations are Gaussian with (Lee et al. 2019, eqs. 15-16)

    mean = A Y,        cov = K(x, x) + A P A^T - A K(X, x) - K(x, X) A^T,

K the NNGP and P the covariance of the train outputs at initialization: P = K(X, X) for the NTK.
For kernel="nngp", P = K(X, X) + ridge I: ridge is the variance of observation noise and t = None
is the textbook GP posterior. All of this is neural-tangents'
``gradient_descent_mse_ensemble(kernel_fn, x, y, learning_rate, diag_reg=ridge,
diag_reg_absolute_scale=True)``: ``ridge`` is in absolute units (neural-tangents' default
multiplies diag_reg by trace(D) / N).

Numerics: D is a ``krylov.FlowOperator``, factorized once for every time and test set: the float64
``DenseFlowKernel`` of ``nngp_ntk.solver._dense`` up to ``DENSE_LIMIT`` training points, the iterative
solvers of ``nngp_ntk.solver._krylov`` past it. Outputs have the kernels' dtype. ``predict`` (``nngp_ntk.solver._predict``)
computes the kernels of a network and runs these, or the Nystrom solver for method="nystrom".
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from nngp_ntk._checks import (DENSE_LIMIT, ArgumentValueError, check_choice, check_integer, check_real,
                              check_ridge, check_times)
from nngp_ntk.kernels import _row_blocks as row_blocks
from nngp_ntk.solver import _krylov as krylov
from nngp_ntk.solver._dense import DenseFlowKernel, descent_coefficients, flow_coefficients

METHODS = ("auto", "dense", "iterative")
#: The methods of ``predict``: those of ``GradientFlow`` and the Nystrom solver, which never forms
#: the N x N train kernel.
PREDICT_METHODS = METHODS + ("nystrom",)

Times = float | Sequence[float] | np.ndarray | None


def _check_targets(y: np.ndarray, n_train: int, name: str = "y_train") -> np.ndarray:
    """Targets as a finite float64 array of shape (N,) or (N, k)."""
    y = np.asarray(y)
    if not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
        raise ArgumentValueError(f"{name} must be a real numeric array, got dtype {y.dtype}")
    if y.ndim not in (1, 2) or y.shape[0] != n_train:
        raise ArgumentValueError(f"{name} must have shape ({n_train},) or ({n_train}, n_outputs), one row per "
                                 f"training point, got shape {y.shape}")
    if y.size == 0:
        raise ArgumentValueError(f"{name} must have at least one output, got shape {y.shape}")
    y = y.astype(np.float64)
    if not np.isfinite(y).all():
        raise ArgumentValueError(f"{name} contains NaN or inf values")
    return y


def _check_kernel(name: str, kernel: np.ndarray | None, shape: tuple[int | None, ...],
                  distributed: bool = False) -> np.ndarray | None:
    """A real, finite kernel array of the given shape (None entries: any size); with ``distributed``
    the JAX processes check their own rows (``row_blocks.all_finite``)."""
    if kernel is None:
        return None
    if not isinstance(kernel, np.ndarray):
        kernel = np.asarray(kernel)
    if not np.issubdtype(kernel.dtype, np.floating) and not np.issubdtype(kernel.dtype, np.integer):
        raise ArgumentValueError(f"{name} must be a real numeric array, got dtype {kernel.dtype}")
    if kernel.ndim != len(shape) or any(s is not None and s != k for s, k in zip(shape, kernel.shape)):
        expected = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
        raise ArgumentValueError(f"{name} must have shape {expected}, got {kernel.shape}")
    if not row_blocks.all_finite(kernel, distributed):
        raise ArgumentValueError(f"{name} contains NaN or inf values")
    return kernel


def _check_square(name: str, kernel: np.ndarray, distributed: bool = False) -> np.ndarray:
    """A square (N, N) real finite kernel."""
    kernel = kernel if isinstance(kernel, np.ndarray) else np.asarray(kernel)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] == 0:
        raise ArgumentValueError(f"{name} must be a square (N, N) array with N >= 1, got shape {kernel.shape}")
    return _check_kernel(name, kernel, kernel.shape, distributed)


def _flow_kernel(kernel: np.ndarray, ridge: float, method: str, options: dict | None) -> krylov.FlowOperator:
    """D = kernel + ridge I as a dense (method="dense", or "auto" up to DENSE_LIMIT points: 3.2 GB per
    float64 copy of D) or iterative operator."""
    check_choice("method", method, METHODS)
    if method == "auto":
        method = "dense" if kernel.shape[0] <= DENSE_LIMIT else "iterative"
    if method == "dense":
        if options:
            raise ArgumentValueError("options apply to method='iterative' only")
        return DenseFlowKernel(kernel, ridge)
    return krylov.IterativeFlowKernel(kernel, ridge, **(options or {}))


def _output_dtype(*kernels: np.ndarray | None) -> np.dtype:
    dtypes = [k.dtype for k in kernels if k is not None and np.issubdtype(k.dtype, np.floating)]
    return np.result_type(*dtypes) if dtypes else np.dtype(np.float64)


class GradientFlow:
    """Training of an infinitely wide network on (X, Y), from its train kernels, factorized once.

    Args:
        k_train_train: the kernel that drives training: Theta(X, X), or K(X, X) for the NNGP
            (kernel="nngp", only the readout trained), shape (N, N).
        y_train: targets, shape (N,) or (N, k).
        learning_rate: eta of the loss 0.5 mean((f(X) - Y)^2).
        ridge: added to the train kernel's diagonal (absolute units).
        nngp_train_train: the NNGP K(X, X) that sets the covariance P of the outputs at
            initialization (omitted: P = D, the kernel="nngp" convention).
        method: "dense" (float64 eigh / Cholesky), "iterative" (``krylov.IterativeFlowKernel``:
            conjugate gradients and Lanczos on products with the kernel, which may be a np.memmap),
            or "auto" (dense up to ``DENSE_LIMIT`` points).
        options: keyword arguments of ``krylov.IterativeFlowKernel`` (rank, tol, maxiter, block_rows,
            distributed: then the JAX processes also check the kernels' finiteness by their own rows).

    Raises:
        ValueError: non-square, non-finite or mismatched kernels or targets, a learning rate that is
            not positive, a negative ridge, or an unknown method.

    Example:
        >>> K = np.array([[2.0, 1.0], [1.0, 2.0]])
        >>> flow = GradientFlow(K, np.array([1.0, -1.0]))
        >>> flow.predict(np.array([[1.0, 0.0]]))
        array([1.])
        >>> np.round(flow.predict(np.array([[1.0, 0.0]]), t=[0.0, 2.0]), 4)
        array([[0.    ],
               [0.6321]])
    """

    def __init__(self, k_train_train: np.ndarray, y_train: np.ndarray, *, learning_rate: float = 1.0,
                 ridge: float = 0.0, nngp_train_train: np.ndarray | None = None, method: str = "auto",
                 options: dict | None = None) -> None:
        self.learning_rate = check_real("learning_rate", learning_rate, positive=True)
        self.ridge = check_ridge(ridge)
        distributed = bool((options or {}).get("distributed"))
        self.k_train_train = _check_square("k_train_train", k_train_train, distributed)
        n = self.k_train_train.shape[0]
        self.y_train = _check_targets(y_train, n)
        self.nngp_train_train = _check_kernel("nngp_train_train", nngp_train_train, (n, n), distributed)
        self.operator = _flow_kernel(self.k_train_train, self.ridge, method, options)
        self.n_train = n
        self.outputs = self.y_train.reshape(n, -1)
        self.dtype = _output_dtype(self.k_train_train, self.nngp_train_train)

    def max_learning_rate(self) -> float:
        """2 n / lambda_max(D): the learning rate above which gradient descent diverges (n = Y.size).

        Returns:
            The largest stable learning rate.
        """
        return 2.0 * self.y_train.size / self.operator.max_eigenvalue()

    def _functions(self, b: np.ndarray, times: np.ndarray | None, discrete: bool) -> list[np.ndarray]:
        """[g_t(D) b for t in times]; infinite times (and None) by one solve D^+ b."""
        if times is None:
            return [self.operator.solve(b)]
        rate = self.learning_rate / self.y_train.size
        if discrete:
            functions = [functools.partial(descent_coefficients, rate=rate, steps=s) for s in times
                         if np.isfinite(s)]
        else:
            functions = [functools.partial(flow_coefficients, tau=rate * t) for t in times if np.isfinite(t)]
        finite = iter(self.operator.apply(b, functions) if functions else [])
        infinite = self.operator.solve(b) if not np.isfinite(times).all() else None
        return [next(finite) if np.isfinite(t) else infinite for t in times]

    def predict(self, k_test_train: np.ndarray, t: Times = None, nngp_test_train: np.ndarray | None = None,
                nngp_test_test: np.ndarray | None = None, discrete: bool = False
                ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """The mean, and optionally the covariance, of the outputs on test points after training for time t.

        mean = A Y and, when ``nngp_test_test`` is given,
        cov = K(x, x) + A P A^T - A K(X, x) - K(x, X) A^T (module docstring). With the iterative
        operator the covariance costs M more right-hand sides (the columns of D(X, x)), solved with
        the targets in every CG / Lanczos product: affordable for a few hundred test points.

        Args:
            k_test_train: D(x, X) of shape (M, N) (no ridge).
            t: None (infinity), a number, or a sequence (then a leading time axis); with ``discrete``,
                numbers of gradient-descent steps.
            nngp_test_train: K(x, X) (omitted: ``k_test_train``, the NNGP case); only with
                ``nngp_test_test``.
            nngp_test_test: K(x, x) of shape (M, M) for the full covariance, or (M,) for the variances.
            discrete: t counts full-batch gradient-descent steps instead of flow time.

        Returns:
            The mean, shape ([T,] M) or ([T,] M, k) following y_train; with ``nngp_test_test`` the
            tuple (mean, cov), cov of shape ([T,] M, M) or ([T,] M).

        Raises:
            ValueError: mismatched shapes, negative times, ``nngp_test_train`` without
                ``nngp_test_test``, NTK covariance arguments given without their pair, or (``discrete``)
                a learning rate above ``max_learning_rate``.
        """
        times, scalar = check_times("steps" if discrete else "t", t, integer=discrete)
        n = self.n_train
        k_test_train = _check_kernel("k_test_train", k_test_train, (None, n))
        m = k_test_train.shape[0]
        if nngp_test_test is None and nngp_test_train is not None:
            raise ArgumentValueError("nngp_test_train is only used with nngp_test_test (the covariance)")
        if nngp_test_test is not None:
            nngp_test_test = _check_kernel("nngp_test_test", nngp_test_test,
                                           (m,) if np.ndim(nngp_test_test) == 1 else (m, m))
            if (self.nngp_train_train is None) != (nngp_test_train is None):
                raise ArgumentValueError("nngp_train_train and nngp_test_train must be given together (NTK covariance) "
                                         "or both omitted (the NNGP case: the flow kernel is the NNGP)")
            nngp_test_train = _check_kernel("nngp_test_train", nngp_test_train, (m, n))
        if discrete and self.learning_rate > self.max_learning_rate():
            raise ArgumentValueError(f"learning_rate={self.learning_rate} is above max_learning_rate = "
                                     f"{self.max_learning_rate():.6g}: gradient descent diverges")
        test_train = np.asarray(k_test_train, np.float64)
        # One solve for the targets and, for the covariance, the columns of D(X, x): g(D) [Y, D(X, x)]
        # (one pass over the train kernel per iteration for both).
        k = self.outputs.shape[1]
        solved = self._functions(self.outputs if nngp_test_test is None else np.hstack([self.outputs, test_train.T]),
                                 times, discrete)
        means = [test_train @ f[:, :k] for f in solved]
        means = np.stack([mean.reshape((m,) + self.y_train.shape[1:]) for mean in means])
        means = means.astype(np.result_type(self.dtype, k_test_train.dtype), copy=False)
        if nngp_test_test is None:
            return means[0] if scalar else means
        nngp_train_test = test_train.T if nngp_test_train is None else np.asarray(nngp_test_train, np.float64).T
        covariances = []
        for a_t in (f[:, k:] for f in solved):        # A^T, shape (N, M)
            prior_a_t = self.operator.matmul(a_t) if self.nngp_train_train is None else \
                row_blocks.matmul(self.nngp_train_train, a_t, getattr(self.operator, "distributed", False))
            if nngp_test_test.ndim == 1:
                cross = np.einsum("nm,nm->m", a_t, nngp_train_test)
                cov = nngp_test_test + np.einsum("nm,nm->m", a_t, prior_a_t) - 2 * cross
            else:
                cross = a_t.T @ nngp_train_test
                cov = nngp_test_test + a_t.T @ prior_a_t - cross - cross.T
            covariances.append(cov)
        covariances = np.stack(covariances).astype(np.result_type(means.dtype, nngp_test_test.dtype), copy=False)
        return (means[0], covariances[0]) if scalar else (means, covariances)

    def training_loss(self, t: Times, discrete: bool = False) -> np.ndarray | float:
        """L(t) = 0.5 / n (|Theta A_t Y - Y|^2 + k tr cov_t(X)), the train loss averaged over initializations.

        Without ``nngp_train_train`` only the first term, the loss of the mean network, is returned;
        with it the variance of the outputs, P = K(X, X), is included (k = number of outputs).
        Theta(X, X) here is the train kernel without the ridge.

        Args:
            t: None (infinity), a number, or a sequence of times (or of steps, with ``discrete``).
            discrete: t counts gradient-descent steps.

        Returns:
            L(t): a float for a scalar t, else an array with one entry per time.
        """
        axes = tuple(range(-self.y_train.ndim, 0))
        if self.nngp_train_train is None:
            mean = self.predict(self.k_train_train, t, discrete=discrete)
            return 0.5 * np.sum((mean - self.y_train) ** 2, axis=axes) / self.y_train.size
        nngp = self.nngp_train_train
        mean, variance = self.predict(self.k_train_train, t, nngp_test_train=nngp,
                                      nngp_test_test=np.diagonal(nngp).astype(np.float64), discrete=discrete)
        squared = np.sum((mean - self.y_train) ** 2, axis=axes)
        return 0.5 * (squared + self.outputs.shape[1] * np.sum(variance, axis=-1)) / self.y_train.size


def gradient_flow(k_train_train: np.ndarray, y_train: np.ndarray, k_test_train: np.ndarray, t: Times = None,
                  learning_rate: float = 1.0, ridge: float = 0.0, nngp_train_train: np.ndarray | None = None,
                  nngp_test_train: np.ndarray | None = None, nngp_test_test: np.ndarray | None = None,
                  method: str = "auto") -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Mean (and covariance, when ``nngp_test_test`` is given) of gradient flow for time t on precomputed kernels.

    The formulas (module docstring)::

        mean = D(x, X) D^-1 (I - exp(-eta D t / n)) Y
        cov  = K(x, x) + A P A^T - A K(X, x) - K(x, X) A^T

    For the NTK pass the NTK as ``k_*`` and the NNGP as ``nngp_*``; for the NNGP pass it as ``k_*``
    and only ``nngp_test_test``.

    Args:
        k_train_train: D(X, X) without the ridge, shape (N, N).
        y_train: targets, shape (N,) or (N, k).
        k_test_train: D(x, X), shape (M, N).
        t: None (infinity), a number, or a sequence (then a leading time axis).
        learning_rate: eta.
        ridge: added to the train kernel's diagonal.
        nngp_train_train: the NNGP K(X, X), for the NTK's covariance.
        nngp_test_train: the NNGP K(x, X), for the NTK's covariance.
        nngp_test_test: K(x, x), shape (M, M), or (M,) for the variances only.
        method: "auto", "dense" or "iterative" (``GradientFlow``).

    Returns:
        The mean, or (mean, cov), as ``GradientFlow.predict``.

    Raises:
        ValueError: as ``GradientFlow`` and ``GradientFlow.predict``.

    Example:
        >>> K = np.array([[2.0, 1.0], [1.0, 2.0]])
        >>> gradient_flow(K, np.array([1.0, -1.0]), K, t=None)
        array([ 1., -1.])
    """
    flow = GradientFlow(k_train_train, y_train, learning_rate=learning_rate, ridge=ridge,
                        nngp_train_train=nngp_train_train, method=method)
    return flow.predict(k_test_train, t, nngp_test_train=nngp_test_train, nngp_test_test=nngp_test_test)


def gradient_descent(k_train_train: np.ndarray, y_train: np.ndarray, k_test_train: np.ndarray,
                     steps: Times = None, learning_rate: float = 1.0, ridge: float = 0.0,
                     nngp_train_train: np.ndarray | None = None, nngp_test_train: np.ndarray | None = None,
                     nngp_test_test: np.ndarray | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``gradient_flow`` for s discrete full-batch steps f <- f - (eta / n) D (f - Y).

    The mean after s steps::

        mean = D(x, X) D^-1 (I - (I - eta D / n)^s) Y

    Args:
        k_train_train: D(X, X) without the ridge, shape (N, N).
        y_train: targets, shape (N,) or (N, k).
        k_test_train: D(x, X), shape (M, N).
        steps: None (infinitely many), a number of steps, or a sequence of them.
        learning_rate: eta; at most ``max_learning_rate``.
        ridge: added to the train kernel's diagonal.
        nngp_train_train: the NNGP K(X, X), for the NTK's covariance.
        nngp_test_train: the NNGP K(x, X), for the NTK's covariance.
        nngp_test_test: K(x, x), shape (M, M), or (M,) for the variances only.

    Returns:
        The mean, or (mean, cov), as ``GradientFlow.predict``.

    Raises:
        ValueError: learning_rate above ``max_learning_rate`` (the steps would diverge), steps that
            are not non-negative integers, or as ``gradient_flow``.

    Example:
        >>> K = np.array([[2.0, 1.0], [1.0, 2.0]])
        >>> gradient_descent(K, np.array([1.0, -1.0]), K, steps=[0, 1, 100])
        array([[ 0. ,  0. ],
               [ 0.5, -0.5],
               [ 1. , -1. ]])
    """
    flow = GradientFlow(k_train_train, y_train, learning_rate=learning_rate, ridge=ridge,
                        nngp_train_train=nngp_train_train)
    return flow.predict(k_test_train, steps, nngp_test_train=nngp_test_train, nngp_test_test=nngp_test_test,
                        discrete=True)


def gp_posterior(nngp_train_train: np.ndarray, y_train: np.ndarray, nngp_test_train: np.ndarray,
                 nngp_test_test: np.ndarray | None = None, ridge: float = 0.0,
                 method: str = "auto") -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The Gaussian-process posterior with noise variance ``ridge`` (gradient flow of the readout, t = None).

    The formulas::

        mean = K(x, X) (K + ridge I)^-1 Y
        cov  = K(x, x) - K(x, X) (K + ridge I)^-1 K(X, x)

    Args:
        nngp_train_train: K(X, X), shape (N, N).
        y_train: targets, shape (N,) or (N, k).
        nngp_test_train: K(x, X), shape (M, N).
        nngp_test_test: K(x, x), shape (M, M) or (M,), for the covariance or the variances.
        ridge: the noise variance.
        method: "auto", "dense" or "iterative".

    Returns:
        The posterior mean, or (mean, cov) with ``nngp_test_test``.

    Raises:
        ValueError: as ``gradient_flow``.

    Example:
        >>> K = np.array([[1.0, 0.5], [0.5, 1.0]])
        >>> mean, var = gp_posterior(K, np.array([1.0, 1.0]), np.array([[1.0, 0.5]]), np.array([1.0]))
        >>> np.round(mean, 4), np.round(var, 4)
        (array([1.]), array([0.]))
    """
    return gradient_flow(nngp_train_train, y_train, nngp_test_train, None, ridge=ridge,
                         nngp_test_test=nngp_test_test, method=method)


def training_loss(k_train_train: np.ndarray, y_train: np.ndarray, t: Times, learning_rate: float = 1.0,
                  ridge: float = 0.0, nngp_train_train: np.ndarray | None = None) -> np.ndarray | float:
    """The train loss L(t) = 0.5 mean((f_t(X) - Y)^2) along gradient flow.

    With the NNGP given, its average over initializations (the mean network's loss plus the output
    variance). For ridge = 0::

        L(t) = 0.5 / n sum_i exp(-2 lambda_i tau) |v_i^T Y|^2   (+ 0.5 / N sum_i exp(-2 lambda_i tau) v_i^T K v_i)

    Args:
        k_train_train: the train kernel D(X, X), shape (N, N).
        y_train: targets, shape (N,) or (N, k).
        t: None (infinity), a number, or a sequence of times.
        learning_rate: eta.
        ridge: added to the train kernel's diagonal.
        nngp_train_train: the NNGP K(X, X), to include the outputs' variance.

    Returns:
        L(t): a float for a scalar t, else one entry per time.

    Raises:
        ValueError: as ``GradientFlow``.

    Example:
        >>> np.round(training_loss(np.eye(2), np.array([1.0, -1.0]), t=[0.0, 2.0]), 4)
        array([0.5   , 0.0677])
    """
    flow = GradientFlow(k_train_train, y_train, learning_rate=learning_rate, ridge=ridge,
                        nngp_train_train=nngp_train_train, method="dense")
    return flow.training_loss(t)


def max_learning_rate(ntk_train_train: np.ndarray, y_train_size: int | None = None, ridge: float = 0.0,
                      method: str = "auto") -> float:
    """eta_max = 2 n / lambda_max(Theta + ridge I): the rate above which gradient descent diverges.

    For the loss 0.5 mean((f - Y)^2) with n = ``y_train_size`` entries.

    Args:
        ntk_train_train: Theta(X, X), shape (N, N).
        y_train_size: n, the number of entries of Y (default N, one output).
        ridge: added to the diagonal.
        method: "auto", "dense" or "iterative".

    Returns:
        eta_max.

    Raises:
        ValueError: a kernel that is not square and finite, or ``y_train_size`` not a positive integer.

    Example:
        >>> max_learning_rate(np.array([[2.0, 1.0], [1.0, 2.0]]))
        1.333...
    """
    ntk_train_train = _check_square("ntk_train_train", ntk_train_train)
    size = ntk_train_train.shape[0] if y_train_size is None else check_integer("y_train_size", y_train_size,
                                                                                minimum=1)
    operator = _flow_kernel(ntk_train_train, check_ridge(ridge), method, None)
    return 2.0 * size / operator.max_eigenvalue()
