"""Random-feature models: the readout features of one finite network and their least-squares readout.

A network of width P drawn at random (``finite.init_params``) gives features Phi(x) whose inner
products are the random-feature kernel K_P(x, x') = Phi(x) . Phi(x'), which tends to the NNGP as
P grows; fitting only the readout a on them, f(x) = Phi(x) . a, is kernel ridge regression with
K_P. ``scaling.model_curve`` measures L(P) of these models.

With more than one hidden layer the earlier layers are random too: given a draw of them at width P,
the last hidden layer's P units are independent, so K_P has the conditional mean
``conditional_nngp`` (the infinite-width map of the last hidden layer and the readout applied to the
features of the layers before it), and the last layer alone is a one-layer random-feature model of
that kernel.
"""

from __future__ import annotations

import jax
import numpy as np
import scipy.linalg

from nngp_ntk.finite import _networks as finite
from nngp_ntk._checks import ArgumentValueError, check_integer, check_points, check_ridge
from nngp_ntk.kernels._network import Network, Sequential, check_network


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


def last_hidden_layer(net: Network) -> int | None:
    """The index in ``net.sequence()`` of the layer that starts the last hidden layer: the last layer
    before the readout that draws units (an NTK-parameterized Dense) with only unitwise layers
    (activations) between it and the readout; None when the network has no such layer, or no layer
    that draws units before it (a single hidden layer: no earlier layers).

    Raises:
        TypeError: ``net`` is not a network.

    Example:
        >>> import nngp_ntk as nk
        >>> last_hidden_layer(nk.FullyConnected(depth=3)), last_hidden_layer(nk.FullyConnected(depth=1))
        (4, None)
    """
    layers = tuple(check_network(net).sequence())
    if len(layers) < 2 or not layers[-1].draws_units:
        return None
    start = len(layers) - 2
    while start >= 0 and layers[start].unitwise:
        start -= 1
    if start <= 0 or not layers[start].draws_units:
        return None
    return start if any(layer.draws_units for layer in layers[:start]) else None


def conditional_nngp(net: Network, X: np.ndarray, width: int, seed: int = 0) -> np.ndarray:
    """E[K_P | the earlier layers] on the points X, for one draw of the earlier layers at width P, in float64.

    With the layers before the last hidden layer (``last_hidden_layer``) drawn at width P, their
    output F (N, P) fixed, the last hidden layer's units z_j(x) = phi(W_std w_j . F(x) / sqrt(P) + b_std b_j)
    are independent given F, so

        E[K_P(x, x') | F] = K_tail(F(x), F(x')),

    the NNGP of the last hidden layer and the readout (``Sequential`` of those layers) evaluated on the
    inputs F: the infinite-width map of the last layer applied to the finite empirical kernel of the
    ones before. At P -> infinity it tends to the network's NNGP.

    Args:
        net: a network whose last hidden layer follows earlier hidden layers (``last_hidden_layer``).
        X: points, shape (N, d).
        width: P, the hidden width (of every Dense but the readout).
        seed: seed of the earlier layers' draw.

    Returns:
        The (N, N) kernel, float64.

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: a network without earlier hidden layers, a ``width`` that is not a positive
            integer, or invalid X.

    Example:
        >>> import nngp_ntk as nk
        >>> X = nk.data.sphere(6, dim=3, seed=0)
        >>> conditional_nngp(nk.FullyConnected(depth=2), X, width=8).shape
        (6, 6)
    """
    start = last_hidden_layer(net)
    if start is None:
        raise ArgumentValueError("net must have hidden layers before its last one (a Dense that draws units, then "
                                 "activations, then a Dense readout), got "
                                 f"{', '.join(type(layer).__name__ for layer in check_network(net).sequence())}")
    width = check_integer("width", width, minimum=1)
    X = check_points(X)
    layers = tuple(net.sequence())
    head = Sequential(*layers[:start + 1])
    with jax.enable_x64(True):
        params = finite.init_params(head, int(seed), X.shape[1], width, dtype=np.float64)
        features = np.asarray(finite.readout_features(head, params, jax.numpy.asarray(X)))
        return np.asarray(Sequential(*layers[start:]).kernel(features, get="nngp"), dtype=np.float64)
