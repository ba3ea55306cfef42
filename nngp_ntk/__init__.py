"""nngp_ntk: infinite-width NNGP and NTK kernels, their gradient-flow predictions and scaling laws."""

from nngp_ntk import activations
from nngp_ntk.kernels import FullyConnected, Kernels
from nngp_ntk import krylov, solver
from nngp_ntk.estimators import KernelClassifier, KernelRegressor

__all__ = ["FullyConnected", "Kernels", "activations"]
__all__ += ["KernelClassifier", "KernelRegressor", "krylov", "solver"]
from nngp_ntk import data, spectrum

__all__ += ["data", "spectrum"]
from nngp_ntk import prediction, scaling, theory
from nngp_ntk.prediction import predict_exponents

__all__ += ["predict_exponents", "prediction", "scaling", "theory"]
__version__ = "0.1.0"
