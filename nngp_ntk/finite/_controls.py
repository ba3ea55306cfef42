"""A control variate for the test loss of random-feature models at fixed data: the loss's first-order
term in the fluctuations of every hidden layer's empirical kernel, each of exact mean zero.

A network of width P drawn at random, its readout fitted by (ridge) least squares on D points and
tested on T others (``scaling.variance_limited_width``), has test MSE L = L_inf + O(1/P) on average,
but one draw fluctuates by O(1/sqrt(P)). Write A_l = h_l h_l^T / n_l for the empirical kernel of
hidden layer l's outputs h_l (A_0 = X X^T / d) and m_l for the layer's infinite-width map, the
kernel maps of its layers (``Layer.kernel_op``; Dense: S = W_l^2 A + b_l^2; activation:
m_l(A)_ij = E[phi(u) phi(v)], (u, v) ~ N(0, S on i, j)). A hidden layer is a layer that draws new
units (``Layer.draws_units``: a Dense) and the layers after it that act on each unit alone
(``Layer.unitwise``: activations). Given the layers before it, layer l's n_l units are independent, so

    E[A_l | h_{l-1}] = m_l(A_{l-1})   and   dA_l = A_l - m_l(A_{l-1})  has mean exactly zero.

The readout kernel is K_P = W_R^2 A_H + b_R^2 (H hidden layers). At infinite width A_l = A_l^inf
(the NNGP recursion) and the loss is that of kernel regression with K = W_R^2 A_H^inf + b_R^2.
To first order, the loss changes by G(dK) = 2 mean(r * (dK_TD a - K_TD (K_DD + ridge)^-1 dK_DD a))
(a = (K_DD + ridge)^-1 y_D, r = K_TD a - y_T), and dK = sum_l J_l dA_l + O(dA^2), J_l the
derivative of the map from A_l to K at A^inf. The control

    C = sum_l <M_l, dA_l>,    M_l = J_l^T g  (g the gradient of G),

is linear in the dA_l with fixed coefficients, so E[C] = 0 at every width and depth, exactly (up to
the accuracy of the activation's ``dual``); L - C has the mean of L and fluctuates only at second
order, O(1/P). Each layer map needs A only on the D + T points against the D training points and
on the diagonal, which is all that is formed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from nngp_ntk.finite import _networks as finite
from nngp_ntk._checks import ArgumentValueError, check_integer, check_points, check_ridge
from nngp_ntk.kernels._network import Network, check_network

#: A kernel on N points against the first D of them: (block (N, D), diagonal (N,)).
Block = tuple[jax.Array, jax.Array]


def _hidden_layers(net: Network) -> tuple[list[tuple], Any] | None:
    """([the layers of every hidden layer], the readout) when the network is a stack of hidden
    layers, each a layer that draws units (an NTK-parameterized Dense) followed by layers that act
    on each unit alone (activations), with a readout that draws units; else None."""
    layers = tuple(check_network(net).sequence())
    if len(layers) < 2 or not layers[-1].draws_units:
        return None
    hidden: list[list] = []
    for layer in layers[:-1]:
        if layer.draws_units:
            hidden.append([layer])
        elif layer.unitwise and hidden:
            hidden[-1].append(layer)
        else:
            return None
    return [tuple(layers) for layers in hidden], layers[-1]


def has_control(net: Network) -> bool:
    """Whether ``FirstOrderControl`` applies to ``net``: a stack of NTK-parameterized Dense layers,
    each followed by layers that act on each unit alone (activations), with a Dense readout
    (``FullyConnected``).

    Raises:
        TypeError: ``net`` is not a network.

    Example:
        >>> import nngp_ntk as nk
        >>> has_control(nk.FullyConnected(depth=2)), has_control(nk.Sequential(nk.Dense(), nk.LayerNorm(), nk.Dense()))
        (True, False)
    """
    return _hidden_layers(net) is not None


def _ops(layers: Sequence, dtype: Any) -> tuple[tuple, list]:
    """The layers' compiled ops and params (``Layer.kernel_op``; their widths are not needed: only
    NTK-parameterized Dense layers and unitwise layers come here)."""
    ops, params = [], []
    for layer in layers:
        op, param, _ = layer.kernel_op(None, dtype)
        ops.append(op)
        params.append(param)
    return tuple(ops), params


def _block_map(ops: tuple, params: list, kernel: Block) -> Block:
    """The ops' maps on a kernel block: each op's ``update`` off the diagonal, its diagonal pass on
    the diagonal and on the entries (j, j), j < D, of the block (the same points)."""
    block, diagonal = kernel
    count = block.shape[1]
    on_diagonal = jnp.eye(block.shape[0], count, dtype=bool)
    for op, param in zip(ops, params):
        safe = jnp.where(on_diagonal, 0.0, block)           # the maps off their rho = 1 point
        off = op.update(param, diagonal[:, None], safe, diagonal[None, :count], None, False)[0]
        diagonal = op.update(param, diagonal, diagonal, diagonal, None, True)[0]
        block = jnp.where(on_diagonal, diagonal[:, None], off)
    return block, diagonal


#: ``_block_map`` compiled once per ops and shapes (the ops are static, their params arguments),
#: instead of run op by op for every draw.
_compiled_block_map = jax.jit(_block_map, static_argnums=0)


def layer_map(layers: Sequence, kernel: Block) -> Block:
    """The infinite-width map m(A) of the layers of a hidden layer on a kernel block (module
    docstring): each layer's kernel map (``Layer.kernel_op``) on the block, its diagonal pass on
    the diagonal, the entries (j, j), j < D, of the block being diagonal ones. For a Dense and an
    activation: S = W^2 A + b^2, then E[phi(u) phi(v)] (``activation.dual``) off the diagonal and
    E[phi(u)^2] (``activation.variance``) on it.

    Args:
        layers: the hidden layer's layers (e.g. a Dense and an activation).
        kernel: (block (N, D), diagonal (N,)) of the layer's input kernel A.

    Returns:
        (block, diagonal) of m(A).

    Example:
        >>> import jax.numpy as jnp, nngp_ntk as nk
        >>> relu = nk.activations.ReLU()
        >>> kernel = (jnp.array([[1.0], [0.0]]), jnp.ones(2))
        >>> block, diagonal = layer_map([nk.Dense(W_std=1.0, b_std=0.0), relu], kernel)
        >>> [round(float(v), 4) for v in block[:, 0]], [round(float(v), 4) for v in diagonal]
        ([0.5, 0.1592], [0.5, 0.5])
    """
    return _block_map(*_ops(layers, kernel[0].dtype), kernel)


def _compiled_layer_map(layers: Sequence, kernel: Block) -> Block:
    """``layer_map``, compiled."""
    return _compiled_block_map(*_ops(layers, kernel[0].dtype), kernel)


class FirstOrderControl:
    """The control variate C of one random-feature draw (module docstring) for a fixed split: the
    readout fitted on the first ``size`` of ``points``, tested on the others.

    Args:
        net: a stack of NTK-parameterized Dense layers, each followed by activations, with a Dense
            readout (``has_control``).
        points: the D training points, then the T test points, shape (D + T, d).
        size: D.
        targets: their targets, shape (D + T,) or (D + T, k).
        ridge: the readout's ridge, >= 0.

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: a network ``has_control`` refuses, invalid points, a size that leaves no test
            point, targets with another row count, or a negative ridge.

    Example:
        >>> import nngp_ntk as nk
        >>> X = nk.data.sphere(12, dim=3, seed=0)
        >>> control = FirstOrderControl(nk.FullyConnected(depth=2), X, 4, X[:, 0])
        >>> features, value = control.draw(width=50, seed=0)
        >>> features.shape, bool(np.isfinite(value))
        ((12, 50), True)
    """

    def __init__(self, net: Network, points: np.ndarray, size: int, targets: np.ndarray,
                 ridge: float = 0.0) -> None:
        structure = _hidden_layers(net)
        if structure is None:
            raise ArgumentValueError(
                "the control variate needs a stack of NTK-parameterized Dense layers, each followed by "
                "activations only, with a Dense readout (FullyConnected)")
        points = check_points(points)
        size = check_integer("size", size, minimum=1)
        if size >= len(points):
            raise ArgumentValueError(f"size must leave test points among the {len(points)} points, got {size}")
        targets = np.asarray(targets, dtype=np.float64).reshape(len(points), -1) \
            if np.size(targets) % len(points) == 0 else None
        if targets is None:
            raise ArgumentValueError(f"targets must have {len(points)} rows, one per point")
        self.net, self.hidden, self.readout = net, *structure
        self.points, self.size, self.ridge = points.astype(np.float64), size, check_ridge(ridge)
        with jax.enable_x64(True):
            inputs = jnp.asarray(self.points)
            dimension = points.shape[1]
            self.input_kernel = (inputs @ inputs[:size].T / dimension, jnp.sum(inputs**2, axis=1) / dimension)
            infinite = [self.input_kernel]
            for layers in self.hidden:
                infinite.append(_compiled_layer_map(layers, infinite[-1]))
            readout_kernel = np.asarray(_compiled_layer_map([self.readout], infinite[-1])[0])
            gradient = self._loss_gradient(readout_kernel, targets)
            self.weights = [self._pullback(index, infinite[index + 1], gradient) for index in range(len(self.hidden))]

    def _loss_gradient(self, kernel: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """g with G(dK) = <g, dK> on the (N, D) block of the readout kernel K: 2/(T k) [r a^T on the
        test rows; -u a^T on the training rows], u = (K_DD + ridge)^-1 K_TD^T r."""
        size = self.size
        factor = scipy.linalg.cho_factor(kernel[:size] + self.ridge * np.eye(size))
        weights = scipy.linalg.cho_solve(factor, targets[:size])
        residual = kernel[size:] @ weights - targets[size:]
        scale = 2.0 / residual.size
        back = scipy.linalg.cho_solve(factor, kernel[size:].T @ residual)
        return scale * np.vstack([-back @ weights.T, residual @ weights.T])

    def _pullback(self, index: int, kernel: Block, gradient: np.ndarray) -> Block:
        """M_l = J_l^T g: the gradient of <g, readout((layers after l)(A_l))> at A_l = A_l^inf."""
        def value(block: jax.Array, diagonal: jax.Array) -> jax.Array:
            current = (block, diagonal)
            for layers in (*self.hidden[index + 1:], [self.readout]):
                current = layer_map(layers, current)
            return jnp.sum(jnp.asarray(gradient) * current[0])
        return tuple(np.asarray(g) for g in jax.jit(jax.grad(value, argnums=(0, 1)))(*kernel))

    def draw(self, width: int, seed: int) -> tuple[np.ndarray, float]:
        """(Phi, C): the features of the network of width P drawn with ``seed`` on the points (the
        draw of ``random_features.random_features``) and its control variate C = sum_l <M_l, dA_l>.

        Raises:
            ValueError: a width that is not a positive integer.
        """
        width = check_integer("width", width, minimum=1)
        size = self.size
        with jax.enable_x64(True):
            params = finite.init_params(self.net, int(seed), self.points.shape[1], width, dtype=np.float64)
            inputs = [np.asarray(a) for a in finite.dense_inputs(self.net, params, jnp.asarray(self.points))]
            control, previous = 0.0, self.input_kernel
            for layers, outputs, (block_weights, diagonal_weights) in zip(self.hidden, inputs[1:], self.weights):
                empirical = (outputs @ outputs[:size].T / outputs.shape[1], np.sum(outputs**2, axis=1) / outputs.shape[1])
                expected = [np.asarray(a) for a in _compiled_layer_map(layers, previous)]
                control += float(np.sum(block_weights * (empirical[0] - expected[0]))
                                 + np.sum(diagonal_weights * (empirical[1] - expected[1])))
                previous = tuple(jnp.asarray(a) for a in empirical)
        return self.readout.readout_columns(inputs[-1]), control
