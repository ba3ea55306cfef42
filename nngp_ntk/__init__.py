"""nngp_ntk: infinite-width NNGP and NTK kernels, their gradient-flow predictions and scaling laws."""

from nngp_ntk import (activations, data, extrapolation, fits, krylov, layers, prediction, random_features,
                      random_features_theory, scaling, solver, spectrum, theory)
from nngp_ntk.kernels import FullyConnected, Kernels, Sequential
from nngp_ntk.layers import Dense, LayerNorm, Residual
from nngp_ntk.prediction import predict_exponents

__all__ = [
    "Dense", "FullyConnected", "Kernels", "KernelClassifier", "KernelRegressor", "LayerNorm", "Residual",
    "Sequential", "predict_exponents",
    "activations", "data", "extrapolation", "fits", "krylov", "layers", "prediction", "random_features",
    "random_features_theory", "scaling", "solver", "spectrum", "theory",
]
__version__ = "0.1.0"

#: Names imported on first use: the scikit-learn estimators (importing scikit-learn takes about as
#: long as importing JAX, which a process that never fits an estimator need not pay).
_LAZY = {"KernelClassifier": "nngp_ntk.estimators", "KernelRegressor": "nngp_ntk.estimators"}


def __getattr__(name: str) -> object:
    """The lazily imported names of ``_LAZY`` (PEP 562)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nngp_ntk' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
