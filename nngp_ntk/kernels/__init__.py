"""The layer algebra and the infinite-width kernels of the networks built from it.

A network is a list of layers acting on the kernels (K, Theta) of its current pre-activations,
from K = x . x' / d, Theta = 0 before the first Dense (neural-tangents 0.6.5 conventions):

    Dense:      K <- W_std^2 K + b_std^2              Theta <- W_std^2 Theta + K_new   (ntk parameterization)
    phi:        K <- E[phi(u) phi(v)]                 Theta <- E[phi'(u) phi'(v)] Theta
    LayerNorm:  K <- K / sqrt(K11 K22)                Theta scaled alike
    Residual:   K <- K + K_block                      Theta <- Theta + Theta_block

``Sequential`` is any such list, ``FullyConnected(depth, phi)`` the preset
``[Dense, phi] * depth + [Dense]``. Every network (``Network``) computes its kernels two ways:
``net.kernel`` (the fused, tiled engine: large N, disk, devices, hosts; NumPy results) and
``net.kernel_fn`` (one pure JAX function: jit, vmap, grad). The engine, the tiling and the
out-of-core store are private modules of this package.
"""

from nngp_ntk._checks import PrecisionWarning
from nngp_ntk.kernels._fully_connected import FullyConnected
from nngp_ntk.kernels._dense import PARAMETERIZATIONS, Dense
from nngp_ntk.kernels._layer import Layer
from nngp_ntk.kernels._layernorm import LayerNorm
from nngp_ntk.kernels._network import Kernels, Network, Sequential
from nngp_ntk.kernels._residual import Residual
from nngp_ntk.kernels._spec import from_spec

__all__ = [
    "Dense", "FullyConnected", "Kernels", "Layer", "LayerNorm", "Network", "PARAMETERIZATIONS",
    "PrecisionWarning", "Residual", "Sequential", "from_spec",
]
