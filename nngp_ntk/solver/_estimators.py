"""scikit-learn estimators: the mean prediction of an infinitely wide network trained by gradient flow.

``KernelRegressor`` predicts mean = Theta(x, X) D^-1 (I - exp(-eta D t / n)) Y, D = Theta(X, X) + ridge I
(the NNGP K in place of Theta for kernel="nngp"; see ``nngp_ntk.solver``), with the spread over
initializations from ``return_std`` / ``return_cov`` like ``GaussianProcessRegressor``.
``KernelClassifier`` regresses one-hot targets with the same loss and predicts the argmax.
``fit`` computes the train kernels and caches their factorization (``flow_``); the network ``net``
is a parameter, so ``GridSearchCV`` can tune ``net__W_std``, ``net__depth``, ``ridge``, ``t``.

Precision: the kernels are float64 when X is float64 and JAX's x64 mode is on, else float32, and
the predictions float64, without a ``PrecisionWarning``: scikit-learn's input validation makes
float64 arrays of lists, integer arrays and data frames, so a float64 X asks for no particular
precision (pass float32 X to compute in float32 whatever the mode).

``solver="nystrom"`` fits the t = None mean on ``centers`` of the training points instead
(``nngp_ntk.solver._nystrom``: no N x N kernel, for N past what the exact solvers hold).
"""

from __future__ import annotations

import copy
import os

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from nngp_ntk._checks import ArgumentValueError, check_choice, check_kernel_name, check_real, check_ridge, check_times
from nngp_ntk._inputs import check_inputs, compute_dtype
from nngp_ntk.kernels import _tile_store as tile_store
from nngp_ntk.kernels._fully_connected import FullyConnected
from nngp_ntk.kernels._network import Network, check_network
from nngp_ntk.solver import _nystrom
from nngp_ntk.solver._flow import PREDICT_METHODS, GradientFlow
from nngp_ntk.solver._predict import stored_kernel, stored_options


class _GradientFlowEstimator(BaseEstimator):
    """Shared fit / mean / covariance of the regressor and the classifier (targets of shape (N, k))."""

    def __init__(self, net: Network | None = None, kernel: str = "ntk", t: float | None = None,
                 ridge: float = 0.0, learning_rate: float = 1.0, solver: str = "auto", centers: int | None = None,
                 center_selection: str = "uniform", seed: int = 0, out: str | os.PathLike | None = None) -> None:
        self.net = net
        self.kernel = kernel
        self.t = t
        self.ridge = ridge
        self.learning_rate = learning_rate
        self.solver = solver
        self.centers = centers
        self.center_selection = center_selection
        self.seed = seed
        self.out = out

    def _check_params(self) -> Network:
        net = FullyConnected() if self.net is None else self.net
        check_network(net)
        check_kernel_name(self.kernel)
        times, scalar = check_times("t", self.t)
        if not scalar:
            raise ArgumentValueError(f"t must be None or a single non-negative number for an estimator, got {self.t!r}")
        check_ridge(self.ridge)
        check_real("learning_rate", self.learning_rate, positive=True)
        check_choice("solver", self.solver, PREDICT_METHODS)
        if self.solver == "nystrom":
            if self.t is not None:
                raise ArgumentValueError(f"solver='nystrom' fits the t = None prediction only, got t={self.t!r}")
            if self.centers is None:
                raise ArgumentValueError(
                    "solver='nystrom' needs centers=M, the number of training points to use as centers")
        elif self.centers is not None:
            raise ArgumentValueError(f"centers applies to solver='nystrom' only, got solver={self.solver!r}")
        elif self.out is not None and self.solver == "dense":
            raise ArgumentValueError("out=folder solves iteratively on the stored train kernel: solver must be 'auto', "
                                     "'iterative' or 'nystrom', got solver='dense'")
        return net

    def _fit_targets(self, X: np.ndarray, targets: np.ndarray) -> None:
        net = self._check_params()
        self.net_ = copy.deepcopy(net)
        self.X_train_ = X
        if self.solver == "nystrom":
            x, _ = check_inputs(X)
            self.target_ndim_ = np.ndim(targets)
            self.flow_ = _nystrom.fit(self.net_, x, np.asarray(targets, np.float64).reshape(len(x), -1),
                                      kernel=self.kernel,
                                      ridge=self.ridge, centers=self.centers, center_selection=self.center_selection,
                                      seed=self.seed, out=self.out)
            return
        if self.out is not None:
            tile_store.agree_on_arguments("fit", X, targets, repr(self.get_params()))
            kernel = stored_kernel(self.net_, self.out, self.kernel, X, dtype=compute_dtype(X, warn=False))
            self.flow_ = GradientFlow(kernel, targets, learning_rate=self.learning_rate, ridge=self.ridge,
                                      method="iterative", options=stored_options(self.out, self.kernel))
            return
        names = ("nngp", "ntk") if self.kernel == "ntk" else ("nngp",)
        train = self.net_.kernel(X, get=names, dtype=compute_dtype(X, warn=False))
        self.flow_ = GradientFlow(getattr(train, self.kernel), targets, learning_rate=self.learning_rate,
                                  ridge=self.ridge, nngp_train_train=train.nngp if self.kernel == "ntk" else None,
                                  method=self.solver)

    def _mean_and_cov(self, X: np.ndarray, cov: str | None) -> tuple[np.ndarray, np.ndarray | None]:
        """The mean (M, k) and, for cov="full" / "diag", the covariance (M, M) / variances (M,), in float64
        (scikit-learn's convention; the kernels are float32 unless JAX's x64 mode is on)."""
        check_is_fitted(self, "flow_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        if self.solver == "nystrom":
            if cov is not None:
                raise ArgumentValueError("solver='nystrom' predicts the mean only: return_std and return_cov need "
                                         "solver='auto', 'dense' or 'iterative'")
            x, _ = check_inputs(X, dtype=self.flow_.centers.dtype)
            mean = self.flow_.predict(x)
            return (mean[:, 0] if self.target_ndim_ == 1 else mean), None
        dtype = compute_dtype(X, self.X_train_, warn=False)
        if self.out is not None:
            if cov is not None:
                raise ArgumentValueError("with out=folder the estimator predicts the mean only: return_std and "
                                         "return_cov need out=None")
            tile_store.agree_on_arguments("predict", X)
            test_train = stored_kernel(self.net_, self.out, self.kernel, self.X_train_, X, dtype=dtype)
            return self.flow_.predict(test_train, self.t).astype(np.float64), None
        names = ("nngp", "ntk") if self.kernel == "ntk" and cov else (self.kernel,)
        test_train = self.net_.kernel(X, self.X_train_, get=names, dtype=dtype)
        if cov is None:
            return self.flow_.predict(getattr(test_train, self.kernel), self.t).astype(np.float64), None
        test_test = (self.net_.kernel(X, get="nngp", dtype=dtype) if cov == "full"
                     else self.net_.diagonal(X, get="nngp", dtype=dtype))
        mean, cov = self.flow_.predict(getattr(test_train, self.kernel), self.t,
                                       nngp_test_train=test_train.nngp if self.kernel == "ntk" else None,
                                       nngp_test_test=test_test)
        return mean.astype(np.float64), cov.astype(np.float64)


class KernelRegressor(RegressorMixin, _GradientFlowEstimator):
    """The infinite-width network trained by gradient flow for time t as a scikit-learn regressor.

    Args:
        net: a network (``FullyConnected`` or ``Sequential``; default ``FullyConnected()``); nested
            parameters ``net__depth``, ``net__layers__0__W_std`` etc.
        kernel: "ntk" (all layers trained) or "nngp" (only the readout).
        t: training time, None for t -> infinity.
        ridge: added to the diagonal of the train kernel (absolute units).
        learning_rate: eta; only eta * t matters.
        solver: "auto", "dense", "iterative" (``solver.GradientFlow``'s methods) or "nystrom":
            the t = None mean on ``centers`` training points by Falkon's preconditioned conjugate
            gradients (``solver.predict``'s method="nystrom"; ridge > 0, the mean only).
        centers: for "nystrom": M, the number of centers.
        center_selection: for "nystrom": "uniform" or "leverage" (approximate ridge leverage scores).
        seed: for "nystrom": the seed of the center selection.
        out: a folder for the out-of-core stores (resumable). For "nystrom": the centers' kernel
            and the solver state; for "auto" / "iterative": the train and test-train kernels
            (``solver.predict``'s ``out``), solved iteratively on the stored train kernel by
            blocks of rows, shared among the processes of ``jax.distributed`` (every process
            fits and predicts with the same arguments; the mean only).

    Attributes:
        flow_: the cached ``solver.GradientFlow`` of the training set (for "nystrom", the fitted
            Nystrom model: its ``centers``, coefficients ``alpha`` and ``iterations``).
        net_: a copy of ``net`` as fitted.
        X_train_: the training points.
        n_features_in_: their number of features.

    Example:
        >>> import nngp_ntk as nk
        >>> rng = np.random.default_rng(0)
        >>> X, X_test = rng.standard_normal((20, 3)), rng.standard_normal((5, 3))
        >>> reg = KernelRegressor(nk.FullyConnected(depth=2), ridge=1e-6).fit(X, np.sin(X[:, 0]))
        >>> mean, std = reg.predict(X_test, return_std=True)
        >>> mean.shape, std.shape, bool(np.all(std >= 0))
        ((5,), (5,), True)
    """

    def fit(self, X: np.ndarray, y: np.ndarray) -> KernelRegressor:
        """Compute the train kernels and factorize them (no work is repeated across ``predict`` calls).

        Args:
            X: training points, shape (N, d).
            y: targets, shape (N,) or (N, k).

        Returns:
            self.

        Raises:
            TypeError: ``net`` is not a network.
            ValueError: invalid parameters, or X and y that scikit-learn's validation refuses.
        """
        self._check_params()
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=[np.float64, np.float32])
        self._fit_targets(X, y)
        return self

    def predict(self, X: np.ndarray, return_std: bool = False,
                return_cov: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Mean of the trained networks' outputs at X, optionally with their spread over initializations.

        Args:
            X: test points, shape (M, d).
            return_std: also return the standard deviation over initializations.
            return_cov: also return the covariance over initializations.

        Returns:
            The mean, shape (M,) or (M, k) following y; with ``return_std`` / ``return_cov`` the tuple
            (mean, std) / (mean, cov) in GaussianProcessRegressor's shapes, (M,) / (M, M), with a
            trailing target axis for 2-D y.

        Raises:
            ValueError: both ``return_std`` and ``return_cov``, or X with the wrong number of features.
            sklearn.exceptions.NotFittedError: before ``fit``.
        """
        if return_std and return_cov:
            raise ArgumentValueError("at most one of return_std and return_cov can be requested")
        mean, cov = self._mean_and_cov(X, "diag" if return_std else "full" if return_cov else None)
        if cov is None:
            return mean
        if return_std:
            cov = np.sqrt(np.maximum(cov, 0))
        if mean.ndim == 2:
            cov = np.repeat(cov[..., None], mean.shape[1], axis=-1)
        return mean, cov

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


class KernelClassifier(ClassifierMixin, _GradientFlowEstimator):
    """The infinite-width network trained by gradient flow on one-hot targets (MSE), predicting the argmax.

    Parameters as ``KernelRegressor``. ``decision_function`` returns the mean outputs, one column per
    class (for two classes, the second output minus the first).

    Args:
        net: a network (``FullyConnected`` or ``Sequential``; default ``FullyConnected()``).
        kernel: "ntk" or "nngp".
        t: training time, None for t -> infinity.
        ridge: added to the diagonal of the train kernel.
        learning_rate: eta.
        solver: "auto", "dense", "iterative" or "nystrom" (as ``KernelRegressor``).
        centers: for "nystrom": M, the number of centers.
        center_selection: for "nystrom": "uniform" or "leverage".
        seed: for "nystrom": the seed of the center selection.
        out: a folder for the out-of-core stores (as ``KernelRegressor``).

    Attributes:
        classes_: the sorted class labels.
        flow_: the cached ``solver.GradientFlow`` of the one-hot targets.
        net_: a copy of ``net`` as fitted.
        X_train_: the training points.

    Example:
        >>> X = np.array([[-2.0, 0.0], [-1.0, 0.5], [1.0, -0.5], [2.0, 0.0]])
        >>> clf = KernelClassifier(ridge=1e-3).fit(X, ["a", "a", "b", "b"])
        >>> clf.predict(np.array([[-1.5, 0.0], [1.5, 0.0]])).tolist()
        ['a', 'b']
    """

    def fit(self, X: np.ndarray, y: np.ndarray) -> KernelClassifier:
        """One-hot encode y (classes sorted) and fit the regression on it.

        Args:
            X: training points, shape (N, d).
            y: class labels, shape (N,), at least two classes.

        Returns:
            self.

        Raises:
            ValueError: fewer than two classes, invalid parameters, or X and y that scikit-learn's
                validation refuses.
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ArgumentValueError(f"y must contain at least two classes, got 1 class: {self.classes_[0]!r}")
        onehot = np.zeros((len(y), len(self.classes_)))
        onehot[np.arange(len(y)), np.searchsorted(self.classes_, y)] = 1.0
        self._fit_targets(X, onehot)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Mean outputs (M, n_classes); (M,) with the second minus the first for two classes.

        Args:
            X: test points, shape (M, d).

        Returns:
            The mean outputs.
        """
        mean, _ = self._mean_and_cov(X, None)
        return mean[:, 1] - mean[:, 0] if mean.shape[1] == 2 else mean

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The class of the largest mean output.

        Args:
            X: test points, shape (M, d).

        Returns:
            The predicted labels, shape (M,).
        """
        mean, _ = self._mean_and_cov(X, None)
        return self.classes_[np.argmax(mean, axis=1)]

