"""nngp_ntk: infinite-width NNGP and NTK kernels, their gradient-flow predictions and scaling laws.

``import nngp_ntk as nk`` gives the networks and layers, the estimators and ``predict_exponents``;
the rest lives in the subpackages, each listing its public names in ``__all__``, with imports
flowing one way: data -> activations -> kernels (finite beside it) -> solver / spectrum -> theory
-> scaling -> cli.
"""

from nngp_ntk import activations, data, finite, kernels, scaling, solver, spectrum, theory
from nngp_ntk.kernels import Dense, FullyConnected, Kernels, LayerNorm, Residual, Sequential
from nngp_ntk.theory import predict_exponents

__all__ = [
    "Dense", "FullyConnected", "KernelClassifier", "KernelRegressor", "Kernels", "LayerNorm", "Residual",
    "Sequential", "predict_exponents",
    "activations", "data", "finite", "kernels", "scaling", "solver", "spectrum", "theory",
]
__version__ = "0.1.0"

#: The scikit-learn estimators, imported on first use (importing scikit-learn takes about as long
#: as importing JAX, which a process that never fits an estimator need not pay).
_LAZY = ("KernelClassifier", "KernelRegressor")


def __getattr__(name: str) -> object:
    """The lazily imported estimators of ``nngp_ntk.solver`` (PEP 562)."""
    if name in _LAZY:
        return getattr(solver, name)
    raise AttributeError(f"module 'nngp_ntk' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
