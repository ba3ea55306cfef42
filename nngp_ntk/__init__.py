"""nngp_ntk: infinite-width NNGP and NTK kernels, their gradient-flow predictions and scaling laws."""

from nngp_ntk import (activations, data, fits, krylov, layers, prediction, random_features, scaling, solver,
                      spectrum, theory)
from nngp_ntk.estimators import KernelClassifier, KernelRegressor
from nngp_ntk.kernels import FullyConnected, Kernels, Sequential
from nngp_ntk.layers import Dense, LayerNorm, Residual
from nngp_ntk.prediction import predict_exponents

__all__ = [
    "Dense", "FullyConnected", "Kernels", "KernelClassifier", "KernelRegressor", "LayerNorm", "Residual",
    "Sequential", "predict_exponents",
    "activations", "data", "fits", "krylov", "layers", "prediction", "random_features", "scaling", "solver",
    "spectrum", "theory",
]
__version__ = "0.1.0"
