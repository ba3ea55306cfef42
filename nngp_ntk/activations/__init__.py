"""Nonlinearities and their two Gaussian expectations (the "dual" maps of the kernel recursion).

For (u, v) ~ N(0, [[K11, K12], [K12, K22]]) every activation supplies

    nngp map:  E[phi(u) phi(v)]          derivative map:  E[phi'(u) phi'(v)]

as functions of (K11, K12, K22), and the variance map E[phi(u)^2] for the diagonal. Closed forms
follow the conventions of neural-tangents 0.6.5 (``stax.Relu``, ``stax.Erf`` ...), so its numbers
are a reference. ``Tanh`` and ``Custom`` use 2-D Gauss-Hermite quadrature, their derivative by
autodiff. Angles use the vectorizable arcsin/arccos of ``_fastmath`` (accurate to the dtype).

The classes live by their math: ``arccos`` (positively homogeneous: ReLU family, sign, rectified
monomials), ``smooth`` (erf, GELU, identity, sin/cos, Gaussian, exp), ``polynomial`` (monomials,
polynomials, Hermite) and ``quadrature`` (tanh, custom functions).

Every activation is a JAX pytree whose numeric parameters are leaves, and its maps are
differentiable (finite gradients at correlations of +-1 too; see ``arccos``).

Arguments broadcast: K11 of shape (B, 1), K12 of shape (B, B'), K22 of shape (1, B') is the usual
call. Names map to default instances through ``get_activation``.
"""

from __future__ import annotations

from collections.abc import Callable

from nngp_ntk._checks import ArgumentTypeError, ArgumentValueError
from nngp_ntk.activations._base import Activation
from nngp_ntk.activations._arccos import ABReLU, Abs, LeakyReLU, RectifiedMonomial, ReLU, Sign
from nngp_ntk.activations._polynomial import Hermite, Monomial, Polynomial
from nngp_ntk.activations._quadrature import MAX_AUTO_DEGREE, VARIANCE_DEGREE, Custom, Tanh, auto_degree
from nngp_ntk.activations._smooth import GELU, Cos, Erf, Exp, Gaussian, Identity, Sin

__all__ = [
    "Activation", "ABReLU", "ReLU", "LeakyReLU", "Abs", "Erf", "GELU", "Identity", "Sin", "Cos",
    "Sign", "Tanh", "Custom", "Monomial", "RectifiedMonomial", "Polynomial", "Hermite", "Gaussian",
    "Exp", "ACTIVATIONS", "get_activation", "auto_degree", "MAX_AUTO_DEGREE", "VARIANCE_DEGREE",
]

#: Names of the activations with default parameters (not Exp: its kernel grows as exp(exp(...))
#: with depth, so it needs parameters chosen for the inputs).
ACTIVATIONS: dict[str, Callable[[], Activation]] = {
    "relu": ReLU, "leaky_relu": LeakyReLU, "abs": Abs, "erf": Erf, "gelu": GELU,
    "identity": Identity, "sin": Sin, "cos": Cos, "sign": Sign, "tanh": Tanh,
    "gaussian": Gaussian,
}


def get_activation(activation: str | Activation) -> Activation:
    """The activation instance for a name in ``ACTIVATIONS`` (default parameters) or an instance.

    Args:
        activation: a name (case-insensitive) or an ``Activation`` instance (returned as it is).

    Returns:
        The ``Activation``.

    Raises:
        ValueError: an unknown name.
        TypeError: neither a name nor an ``Activation``.

    Example:
        >>> get_activation("relu"), get_activation(Erf(a=2.0)).a
        (ReLU(a=0.0, b=1.0), 2.0)
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        try:
            return ACTIVATIONS[activation.lower()]()
        except KeyError:
            raise ArgumentValueError(f"activation must be one of {sorted(ACTIVATIONS)} or an "
                                     f"nngp_ntk.activations.Activation instance, got {activation!r}") from None
    raise ArgumentTypeError("activation must be a name (str) or an nngp_ntk.activations.Activation "
                            f"instance, got {type(activation).__name__}")
