"""Finite-width networks of the same layers, their empirical kernels, and random-feature models.

At width n every Dense but the readout maps to n units, z = (W_std / sqrt(n_in)) a W + b_std b
with W, b ~ N(0, 1) (ntk parameterization); as n grows the empirical kernels
Phi(x) . Phi(x') / n and J(x) . J(x') tend to the NNGP and NTK of ``nngp_ntk.kernels``.

* ``init_params`` / ``apply`` / ``readout_features``: draw a network and run it.
* ``empirical_kernels``, ``monte_carlo_kernels``: the kernels of one draw, and their mean over draws.
* ``random_features``, ``fit_readout``: the readout features of a random network and the ridge
  least-squares readout on them (a random-feature model of P features).
* ``FirstOrderControl``: a control variate of exact mean zero for the test loss of such models.
"""

from nngp_ntk.finite._controls import FirstOrderControl
from nngp_ntk.finite._networks import (MonteCarloKernels, apply, empirical_kernels, init_params, monte_carlo_kernels,
                                       readout_features)
from nngp_ntk.finite._random_features import fit_readout, random_features

__all__ = [
    "FirstOrderControl", "MonteCarloKernels", "apply", "empirical_kernels", "fit_readout", "init_params",
    "monte_carlo_kernels", "random_features", "readout_features",
]
