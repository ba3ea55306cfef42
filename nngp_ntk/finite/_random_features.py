"""Random-feature models: the readout features of one finite network and their least-squares readout.

A network of width P drawn at random (``finite.init_params``) gives features Phi(x) whose inner
products are the random-feature kernel K_P(x, x') = Phi(x) . Phi(x'), which tends to the NNGP as
P grows; fitting only the readout a on them, f(x) = Phi(x) . a, is kernel ridge regression with
K_P. ``scaling.model_curve`` measures L(P) of these models.
"""

from __future__ import annotations

import jax
import numpy as np
import scipy.linalg

from nngp_ntk.finite import _networks as finite
from nngp_ntk._checks import ArgumentValueError, check_integer, check_points, check_ridge
from nngp_ntk.kernels._network import Network, check_network


def random_features(net: Network, X: np.ndarray, width: int, seed: int = 0) -> np.ndarray:
    """Phi(X) for one draw of ``net`` at width P (``finite.init_params``), computed in float64.

    The features::

        Phi(x) = [W_std_L F(x) / sqrt(P), b_std_L],    Phi(x) . Phi(x') = K_P(x, x')

    F the readout's inputs (``finite.readout_features``), W_std_L, b_std_L the readout's (the bias
    column only when b_std_L > 0; the readout's ``readout_columns``): ridge regression on Phi is
    kernel ridge regression with the random-feature kernel K_P, which tends to the NNGP as P grows.

    Args:
        net: a network ending with a Dense readout (``FullyConnected``, ``Sequential``).
        X: points, shape (N, d).
        width: P, the hidden width (of every Dense but the readout).
        seed: seed of the network's draw.

    Returns:
        Phi(X), shape (N, P) or (N, P + 1) with the bias column.

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: a network without a Dense readout, a ``width`` that is not a positive integer,
            or invalid X.

    Example:
        >>> import nngp_ntk as nk
        >>> features = random_features(nk.FullyConnected(depth=1, b_std=0.1), np.ones((4, 3)), width=10)
        >>> features.shape
        (4, 11)
    """
    readout = check_network(net).sequence()[-1]
    if not readout.draws_units:
        raise ArgumentValueError("random features need a network that ends with an NTK-parameterized Dense readout, "
                                 f"got {type(readout).__name__} last")
    width = check_integer("width", width, minimum=1)
    X = check_points(X)
    with jax.enable_x64(True):
        params = finite.init_params(net, int(seed), X.shape[1], width, dtype=np.float64)
        features = np.asarray(finite.readout_features(net, params, jax.numpy.asarray(X)))
    return readout.readout_columns(features)


def fit_readout(features: np.ndarray, targets: np.ndarray, ridge: float = 0.0) -> np.ndarray:
    """a = argmin |Phi a - y|^2 + ridge |a|^2.

    The minimum-norm least-squares solution for ridge = 0 (scipy.linalg.lstsq), else
    (Phi^T Phi + ridge I)^-1 Phi^T y when P <= D and Phi^T (Phi Phi^T + ridge I)^-1 y when P > D
    (the same, by the push-through identity).

    Args:
        features: Phi, shape (D, P).
        targets: y, shape (D,) or (D, k).
        ridge: the penalty on |a|^2.

    Returns:
        a, shape (P,) or (P, k).

    Raises:
        ValueError: a negative or non-finite ridge.

    Example:
        >>> features = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
        >>> np.round(fit_readout(features, features @ np.array([0.5, -1.0])), 6)
        array([ 0.5, -1. ])
    """
    ridge = check_ridge(ridge)
    if ridge == 0:
        return scipy.linalg.lstsq(features, targets, check_finite=False)[0]
    count, width = features.shape
    if width <= count:
        gram = features.T @ features + ridge * np.eye(width)
        return scipy.linalg.solve(gram, features.T @ targets, assume_a="pos", check_finite=False)
    gram = features @ features.T + ridge * np.eye(count)
    return features.T @ scipy.linalg.solve(gram, targets, assume_a="pos", check_finite=False)
