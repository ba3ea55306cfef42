"""nngp_ntk: infinite-width NNGP and NTK kernels, their gradient-flow predictions and scaling laws."""

from nngp_ntk import activations
from nngp_ntk.kernels import FullyConnected, Kernels

__all__ = ["FullyConnected", "Kernels", "activations"]
__version__ = "0.1.0"
