"""Predictions of infinitely wide networks trained by gradient flow, evidence, and estimators.

Training on 0.5 * mean((f(X) - Y)^2) at learning rate eta for time t drives the outputs with the
train kernel D = Theta(X, X) + ridge I (the NNGP for kernel="nngp"); over random initializations
they are Gaussian with (Lee et al. 2019, eqs. 15-16)

    mean = Theta(x, X) D^-1 (I - exp(-eta D t / n)) Y,       n = Y.size,

and the covariance of ``GradientFlow``; t = None is t -> infinity.

* ``predict``: the prediction of a network on test points (dense, Krylov, out of core; and, with
  ``method="nystrom"``, kernel ridge regression on M centers by Falkon's preconditioned conjugate
  gradients, which never forms the N x N kernel).
* ``gradient_flow``, ``gradient_descent``, ``gp_posterior``, ``training_loss``, ``max_learning_rate``,
  ``GradientFlow``: the same from precomputed kernel matrices.
* ``log_marginal_likelihood``, ``fit_hyperparameters``: the GP evidence of the NNGP and its maximum.
* ``KernelRegressor``, ``KernelClassifier``: scikit-learn estimators of the mean prediction.
"""

from nngp_ntk._checks import NotConvergedWarning
from nngp_ntk.solver._dense import SingularKernelWarning
from nngp_ntk.solver._evidence import fit_hyperparameters, log_marginal_likelihood
from nngp_ntk.solver._flow import (GradientFlow, gp_posterior, gradient_descent, gradient_flow, max_learning_rate,
                                   training_loss)
from nngp_ntk.solver._predict import predict

__all__ = [
    "GradientFlow", "KernelClassifier", "KernelRegressor", "NotConvergedWarning", "SingularKernelWarning",
    "fit_hyperparameters", "gp_posterior", "gradient_descent", "gradient_flow", "log_marginal_likelihood",
    "max_learning_rate", "predict", "training_loss",
]

#: Names imported on first use: the scikit-learn estimators (importing scikit-learn takes about as
#: long as importing JAX, which a process that never fits an estimator need not pay).
_LAZY = {"KernelClassifier", "KernelRegressor"}


def __getattr__(name: str) -> object:
    """The lazily imported estimators (PEP 562)."""
    if name in _LAZY:
        from nngp_ntk.solver import _estimators

        return getattr(_estimators, name)
    raise AttributeError(f"module 'nngp_ntk.solver' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)
