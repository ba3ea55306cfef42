"""The predictions of a network trained by gradient flow: its kernels on the points, then the solver.

``predict`` computes the train, test-train (and, for the covariance, test-test) kernels of ``net``
with the tiled engine and hands them to ``GradientFlow`` (``nngp_ntk.solver._flow``: dense or
iterative), or the training points to the Nystrom solver (``nngp_ntk.solver._nystrom``) for
method="nystrom", which never forms the N x N kernel.
"""

from __future__ import annotations

import os

import numpy as np

from nngp_ntk._checks import (ArgumentValueError, check_choice, check_kernel_name, check_real, check_ridge,
                              check_times)
from nngp_ntk._inputs import check_inputs
from nngp_ntk.kernels import _tile_store as tile_store
from nngp_ntk.kernels._network import Network, check_network
from nngp_ntk.solver import _nystrom
from nngp_ntk.solver._flow import PREDICT_METHODS, GradientFlow, Times, _check_targets


def predict(net: Network, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, t: Times = None,
            kernel: str = "ntk", learning_rate: float = 1.0, ridge: float = 0.0, return_cov: bool = False,
            method: str = "auto", centers: int | None = None, center_selection: str = "uniform", seed: int = 0,
            out: str | os.PathLike | None = None, progress: bool | None = None,
            options: dict | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The outputs of an infinitely wide ``net`` trained by gradient flow: their mean and covariance over initializations.

    Training minimizes 0.5 mean((f(X) - Y)^2) by gradient flow for time t (Lee et al. 2019)::

        mean = Theta(x, X) Theta^-1 (I - exp(-eta Theta t / Y.size)) Y     (K for kernel="nngp")

    and the covariance of the module docstring. Computes the kernels with ``net`` and hands them
    to ``GradientFlow``.

    ``method="nystrom"`` (t = None only, ridge > 0) never forms the N x N kernel: it restricts the
    prediction to M = ``centers`` of the training points C and solves, by Falkon's preconditioned
    conjugate gradients (``nngp_ntk.solver._nystrom``)::

        mean = K(x, C) alpha,   (K(X, C)^T K(X, C) + ridge K(C, C)) alpha = K(X, C)^T Y

    which with M = N is the exact t = None mean Theta(x, X) (Theta + ridge I)^-1 Y. Memory is
    O(M^2) plus row panels of K(X, C); time O(N M d) per kernel pass.

    Args:
        net: the network.
        x_train: training points, shape (N, d).
        y_train: targets, shape (N,) or (N, k).
        x_test: test points, shape (M, d).
        t: None (infinity), a number, or a sequence (then a leading time axis).
        kernel: "ntk" (all layers trained) or "nngp" (only the readout trained).
        learning_rate: eta.
        ridge: added to the train kernel's diagonal (absolute units; for "nngp" the variance of
            observation noise, and t=None is the GP posterior).
        return_cov: also return the test-test covariance.
        method: "auto" (dense up to ``DENSE_LIMIT`` training points, else iterative), "dense",
            "iterative" (``GradientFlow``) or "nystrom"; with ``out``, "auto" is "iterative".
        centers: for "nystrom": M, the number of centers (1 <= M <= N).
        center_selection: for "nystrom": "uniform" (M distinct training points drawn with ``seed``)
            or "leverage" (drawn by approximate ridge leverage scores, which favors points far
            from the bulk of the data).
        seed: for "nystrom": the seed of the center selection.
        out: for "auto" / "iterative": a folder that keeps the train kernels
            (``out/train/ntk``, ``out/train/nngp``) and the test kernels
            (``out/test-<hash of x_test>/...``) in out-of-core stores of ``net.kernel``
            (resumable; the train kernel is reused for new test points), and solves
            iteratively on the stored train kernel read in blocks of rows, so N is bounded by the
            disk, not the memory. Under ``jax.distributed`` (every process calls with the same
            arguments and a folder they all share) each process computes its share of the tiles
            and multiplies by its own block of rows; the products are allgathered, and every
            process returns the same predictions. What survives an interruption (an exception,
            Ctrl-C, SIGKILL, a lost process): every kernel tile already recorded, and the state
            of the iterations: for t = None (or an infinite time in t) that of the conjugate
            gradients (iterates, residuals, search directions, iteration count) in
            ``out/cg_state.npz``, for finite times that of Lanczos (the Krylov basis so far and
            its tridiagonal coefficients) in ``out/lanczos_state.npz``; each is replaced
            atomically every second at most (less often when saving would take more than 5% of
            the time: a large basis) and at the end, by process 0 alone under
            ``jax.distributed``. The rerun of the same call computes no recorded tile again and
            continues the iterations from the saved one, with the predictions of an
            uninterrupted call; a call with another ridge, other targets or times (or, with
            ``return_cov``, other test points) ignores that state and replaces it. Under
            ``jax.distributed``, a process that dies makes the others raise a RuntimeError
            (``ProcessLostError``) that says so and that rerunning the same command in every
            process resumes. For "nystrom": a folder that
            keeps the centers, the kernel K(X, C) (the out-of-core store of ``net.kernel``) and
            the solver's state (as above), so that an interrupted call resumes; under
            ``jax.distributed`` each process multiplies by its own rows of the stored K(X, C) and
            the M x k partial products are summed over the processes; None keeps
            K(X, C) in memory when it takes at most half the available memory, and recomputes
            it in row panels at every iteration otherwise.
        progress: for "nystrom" or ``out``: show progress bars (None: on a terminal).
        options: for "nystrom": ``tol`` (relative residual of the preconditioned system; default
            1e-6 for float32 kernels, 1e-9 for float64), ``maxiter`` (default 100), ``panel_rows``,
            ``panels`` ("auto", "memory" or "recompute").

    Returns:
        The mean, shape ([T,] M) or ([T,] M, k) following y_train; with ``return_cov`` the tuple
        (mean, cov), cov of shape ([T,] M, M).

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: an unknown kernel or method, negative times, a learning rate that is not
            positive, a negative ridge, or inputs and targets of mismatched shapes; for
            "nystrom": a finite t, ``return_cov``, ridge <= 0, ``centers`` missing or outside
            [1, N], an unknown center selection, or an ``out`` folder holding something else;
            ``centers`` or ``options`` with another method; ``out`` with method="dense", or a
            folder holding the kernel of other points or arguments (``out/train/<kernel>``); under
            ``jax.distributed``, processes whose arguments differ.
        RuntimeError: under ``jax.distributed`` with ``out``, another process died or was killed
            (``ProcessLostError``): rerun the same command in every process to resume.

    Example:
        >>> import nngp_ntk as nk
        >>> rng = np.random.default_rng(0)
        >>> x_train, x_test = rng.standard_normal((8, 3)), rng.standard_normal((2, 3))
        >>> y_train = np.sin(x_train[:, :1])
        >>> net = nk.FullyConnected(depth=1)
        >>> mean, cov = predict(net, x_train, y_train, x_test, t=[1.0, np.inf], return_cov=True)
        >>> mean.shape, cov.shape
        ((2, 2, 1), (2, 2, 2))
        >>> train = predict(net, x_train, y_train, x_train)
        >>> bool(np.allclose(train, y_train, atol=1e-3))
        True
    """
    check_network(net)
    check_kernel_name(kernel)
    check_times("t", t)
    check_real("learning_rate", learning_rate, positive=True)
    check_ridge(ridge)
    check_choice("method", method, PREDICT_METHODS)
    x_train, x_test = check_inputs(x_train, x_test)
    y_checked = _check_targets(y_train, x_train.shape[0])
    if method == "nystrom":
        return _predict_nystrom(net, x_train, y_checked, x_test, t, kernel, ridge, return_cov, centers,
                                center_selection, seed, out, progress, options)
    for name, value in (("centers", centers), ("options", options)):
        if value is not None:
            raise ArgumentValueError(
                f"{name} applies to method='nystrom' only, got {name}={value!r} with method={method!r}")
    if out is not None:
        return _predict_stored(net, x_train, y_train, x_test, t, kernel, learning_rate, ridge, return_cov, method,
                               os.fspath(out), progress)
    names = ("nngp", "ntk") if return_cov and kernel == "ntk" else (kernel,)
    train = net.kernel(x_train, get=names)
    test_train = net.kernel(x_test, x_train, get=names)
    flow = GradientFlow(getattr(train, kernel), y_train, learning_rate=learning_rate, ridge=ridge,
                        nngp_train_train=train.nngp if kernel == "ntk" else None, method=method)
    if not return_cov:
        return flow.predict(getattr(test_train, kernel), t)
    return flow.predict(getattr(test_train, kernel), t,
                        nngp_test_train=test_train.nngp if kernel == "ntk" else None,
                        nngp_test_test=net.kernel(x_test, get="nngp"))


def _predict_stored(net: Network, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, t: Times,
                    kernel: str, learning_rate: float, ridge: float, return_cov: bool, method: str,
                    folder: str, progress: bool | None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``predict`` with out=folder: the kernels in the out-of-core store, the iterative solver on row blocks.

    Each kernel has its own store: ``folder/train/<name>`` for the train kernels,
    ``folder/test-<fingerprint of x_test>/{train,test}/<name>`` for the test-train and test-test
    ones (so that new test points reuse the train kernel); under
    ``jax.distributed`` every process computes its share of their tiles, then multiplies by its
    own rows of the train kernel (``krylov.IterativeFlowKernel`` with ``distributed``).
    """
    if method == "dense":
        raise ArgumentValueError("out=folder solves iteratively on the stored train kernel: method must be 'auto' or "
                                 "'iterative', got method='dense'")
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ArgumentValueError(f"out must be a folder, but {folder!r} is a file")
    tile_store.agree_on_arguments("predict", x_train, y_train, x_test, t, kernel, learning_rate, ridge, return_cov,
                                  folder)

    def stored(name: str, x: np.ndarray | None = None, test_test: bool = False) -> np.ndarray:
        return stored_kernel(net, folder, name, x_train, x, test_test, progress)

    flow = GradientFlow(stored(kernel), y_train, learning_rate=learning_rate, ridge=ridge,
                        nngp_train_train=stored("nngp") if kernel == "ntk" and return_cov else None,
                        method="iterative", options=stored_options(folder, kernel))
    if not return_cov:
        return flow.predict(stored(kernel, x_test), t)
    return flow.predict(stored(kernel, x_test), t,
                        nngp_test_train=stored("nngp", x_test) if kernel == "ntk" else None,
                        nngp_test_test=stored("nngp", x_test, test_test=True))


def stored_options(folder: str | os.PathLike, name: str) -> dict:
    """The options of ``krylov.IterativeFlowKernel`` for the stored train kernel ``folder/train/<name>``:
    shared among the JAX processes, and the states of its conjugate gradients and Lanczos iterations
    kept in ``folder`` (``cg_state.npz``, ``lanczos_state.npz``) under the key of that store
    (``tile_store.stored_key``), so that an interrupted solve resumes."""
    folder = os.fspath(folder)
    return {"distributed": True, "checkpoint": folder,
            "kernel_key": tile_store.stored_key(os.path.join(folder, "train", name))}


def stored_kernel(net: Network, folder: str | os.PathLike, name: str, x_train: np.ndarray,
                  x_test: np.ndarray | None = None, test_test: bool = False, progress: bool | None = None,
                  dtype: object = None) -> np.ndarray:
    """One kernel of ``predict``'s out=folder, in its own out-of-core store (``net.kernel(..., out=)``).

    K(X, X) in ``folder/train/<name>``; K(x, X) in ``folder/test-<h>/train/<name>`` and, with
    ``test_test``, K(x, x) in ``folder/test-<h>/test/<name>``, h a fingerprint of the test points x
    (so that new test points reuse the train kernel).

    Returns:
        The kernel, a read-only np.memmap.
    """
    folder = os.fspath(folder)
    if x_test is None:
        return net.kernel(x_train, get=name, out=os.path.join(folder, "train", name), progress=progress, dtype=dtype)
    test = os.path.join(folder, "test-" + tile_store.fingerprint(x_test)[:16])
    if test_test:
        return net.kernel(x_test, get=name, out=os.path.join(test, "test", name), progress=progress, dtype=dtype)
    return net.kernel(x_test, x_train, get=name, out=os.path.join(test, "train", name), progress=progress, dtype=dtype)


def _predict_nystrom(net: Network, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, t: Times,
                     kernel: str, ridge: float, return_cov: bool, centers: int | None, center_selection: str,
                     seed: int, out: str | os.PathLike | None, progress: bool | None,
                     options: dict | None) -> np.ndarray:
    """``predict`` with method="nystrom": the t = None mean on M centers (``_nystrom.fit``)."""
    if t is not None:
        raise ArgumentValueError(f"method='nystrom' gives the t = None prediction (kernel ridge regression) only, got "
                                 f"t={t!r}: use method='dense' or 'iterative' for finite times")
    if return_cov:
        raise ArgumentValueError(
            "method='nystrom' gives the mean only: return_cov=True needs method='dense' or 'iterative'")
    if centers is None:
        raise ArgumentValueError("method='nystrom' needs centers=M, the number of training points to use as centers")
    model = _nystrom.fit(net, x_train, y_train.reshape(x_train.shape[0], -1), kernel=kernel, ridge=ridge,
                         centers=centers, center_selection=center_selection, seed=seed, out=out, progress=progress,
                         **_nystrom.check_options(options))
    mean = model.predict(x_test).reshape((x_test.shape[0],) + y_train.shape[1:])
    return mean.astype(x_train.dtype, copy=False)
