"""Finite-width fully-connected networks: init/apply, empirical NNGP and NTK, Monte Carlo averages.

The architecture is the one of ``FullyConnected``: ``depth`` hidden ``[Dense, phi]`` layers of
``width`` units and a Dense readout to ``out_dim`` outputs. With a_0 = x (n_0 = d inputs),
n_l = width for 1 <= l <= depth and layer l = 0..depth mapping a_l to

    z_l = s_l a_l W_l + c_l b_l,          a_{l+1} = phi(z_l),          f(x) = z_depth,

the two parameterizations (neural-tangents 0.6.5 ``stax.Dense``) are

    ntk:       W_l, b_l ~ N(0, 1),                          s_l = W_std_l / sqrt(n_l),  c_l = b_std_l
    standard:  W_l ~ N(0, W_std_l^2 / n_l), b_l ~ N(0, b_std_l^2),   s_l = c_l = 1.

Empirical kernels of one draw of the parameters (F = a_depth, the readout features, n = n_depth):

    NNGP:  K(x, x')     = W_std_depth^2 F(x) . F(x') / n + b_std_depth^2
           (the covariance of f over the readout's weights and bias, the other layers fixed)
    NTK:   Theta(x, x') = (1 / out_dim) sum_k sum_theta df_k(x)/dtheta df_k(x')/dtheta
                        = sum_l (s_l^2 a_l(x) . a_l(x') + c_l^2) <delta_l(x), delta_l(x')>,

where delta_l = df/dz_l by backpropagation: delta_depth = I_out,
delta_{l-1} = s_l (delta_l W_l^T) * phi'(z_{l-1}), and <., .> sums over units and averages over
outputs. Averaged over draws these converge to ``FullyConnected.kernel`` as width -> infinity
(the NTK of the standard parameterization when ``width`` equals the network's ``width``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nngp_ntk._checks import check_kernel_names as _check_kernel_names
from nngp_ntk.kernels import FullyConnected, Kernels, _Spec, check_inputs

_HIGHEST = jax.lax.Precision.HIGHEST
#: Parameters (float32 entries) drawn per vmapped batch of seeds when ``seed_batch`` is automatic.
_PARAMETERS_PER_BATCH = 2**26


class Layer(NamedTuple):
    """One Dense layer's parameters: ``weight`` of shape (fan_in, fan_out), ``bias`` of shape (fan_out,)."""

    weight: jax.Array
    bias: jax.Array


Params = tuple[Layer, ...]


class MonteCarloKernels(NamedTuple):
    """Mean over draws of the empirical kernels and its standard error (std / sqrt(n_samples))."""

    mean: Kernels | np.ndarray
    stderr: Kernels | np.ndarray


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _key(key: jax.Array | int) -> jax.Array:
    """A PRNG key from an integer seed or a key array."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.PRNGKey(int(key))
    if isinstance(key, jax.Array) and (jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
                                       or (key.dtype == jnp.uint32 and key.shape == (2,))):
        return key
    raise TypeError(f"key must be an integer seed or a jax.random key, got {key!r}")


def _layer_scales(spec: _Spec, fan_ins: Sequence[int]) -> list[tuple[float, float, float, float]]:
    """Per layer (s_l, c_l, init std of W_l, init std of b_l) for the parameterization."""
    scales = []
    for w_std, b_std, fan_in in zip(spec.W_std, spec.b_std, fan_ins):
        if spec.parameterization == "ntk":
            scales.append((w_std / math.sqrt(fan_in), b_std, 1.0, 1.0))
        else:
            scales.append((1.0, 1.0, w_std / math.sqrt(fan_in), b_std))
    return scales


def _fan_ins(spec: _Spec, input_dim: int, width: int) -> list[int]:
    return [input_dim] + [width] * spec.depth


def _init(spec: _Spec, key: jax.Array, input_dim: int, width: int, out_dim: int, dtype: np.dtype) -> Params:
    """All parameters from one draw of N(0, 1) numbers (one random-number call compiles fastest)."""
    fan_ins = _fan_ins(spec, input_dim, width)
    fan_outs = fan_ins[1:] + [out_dim]
    sizes = [size for fan_in, fan_out in zip(fan_ins, fan_outs) for size in (fan_in * fan_out, fan_out)]
    pieces = jnp.split(jax.random.normal(key, (sum(sizes),), dtype), np.cumsum(sizes)[:-1])
    params = []
    for index, (fan_in, fan_out, (_, _, w_init, b_init)) in enumerate(
            zip(fan_ins, fan_outs, _layer_scales(spec, fan_ins))):
        weight, bias = pieces[2 * index], pieces[2 * index + 1]
        params.append(Layer(w_init * weight.reshape(fan_in, fan_out), b_init * bias))
    return tuple(params)


def init_params(net: FullyConnected, key: jax.Array | int, input_dim: int, width: int,
                out_dim: int = 1, dtype: np.dtype | str = np.float32) -> Params:
    """Draw the parameters of ``net`` at finite ``width`` (see the module docstring).

    ntk: W_l, b_l ~ N(0, 1);   standard: W_l ~ N(0, W_std_l^2 / fan_in), b_l ~ N(0, b_std_l^2).

    Args:
        net: a ``FullyConnected``.
        key: a JAX PRNG key or an integer seed.
        input_dim: d, the inputs' dimension.
        width: n, the hidden width.
        out_dim: the readout's outputs.
        dtype: a floating dtype for the parameters.

    Returns:
        ``depth + 1`` ``Layer(weight, bias)`` tuples of shapes (input_dim, width),
        (width, width) ..., (width, out_dim).

    Raises:
        ValueError: non-positive sizes.
        TypeError: a dtype that is not floating.

    Example:
        >>> import nngp_ntk as nk
        >>> params = init_params(nk.FullyConnected(depth=2), 0, input_dim=3, width=8)
        >>> [layer.weight.shape for layer in params]
        [(3, 8), (8, 8), (8, 1)]
    """
    spec = net.spec()
    input_dim = _positive_int("input_dim", input_dim)
    width = _positive_int("width", width)
    out_dim = _positive_int("out_dim", out_dim)
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
    return _init(spec, _key(key), input_dim, width, out_dim, dtype)


def _check_params(spec: _Spec, params: Params, input_dim: int) -> Params:
    """``params`` as a tuple of ``Layer`` after static checks (shapes only, so they work under tracing)."""
    expected = (f"params must be a sequence of depth + 1 = {spec.depth + 1} Layer(weight, bias), "
                "as returned by init_params")
    if not isinstance(params, (tuple, list)) or len(params) != spec.depth + 1:
        raise ValueError(expected)
    checked = []
    fan_in = input_dim
    for index, layer in enumerate(params):
        if not isinstance(layer, (tuple, list)) or len(layer) != 2:
            raise ValueError(f"{expected}; params[{index}] is not a (weight, bias) pair")
        weight, bias = (jnp.asarray(a) for a in layer)
        if weight.ndim != 2 or weight.shape[0] != fan_in or bias.shape != (weight.shape[1],):
            raise ValueError(f"params[{index}] has weight {weight.shape} and bias {bias.shape}; "
                             f"expected weight ({fan_in}, fan_out) and bias (fan_out,)")
        checked.append(Layer(weight, bias))
        fan_in = weight.shape[1]
    return tuple(checked)


def _dense(layer: Layer, weight_scale: float, bias_scale: float, a: jax.Array) -> jax.Array:
    """z = s a W + c b."""
    return weight_scale * jnp.matmul(a, layer.weight, precision=_HIGHEST) + bias_scale * layer.bias


def _forward(spec: _Spec, params: Params, x: jax.Array) -> tuple[list[jax.Array], list[jax.Array], jax.Array]:
    """(inputs a_0..a_depth of every layer, pre-activations z_0..z_{depth-1}, output f)."""
    scales = _layer_scales(spec, [layer.weight.shape[0] for layer in params])
    inputs, preactivations = [x], []
    for layer, (s, c, _, _) in zip(params[:-1], scales[:-1]):
        preactivations.append(_dense(layer, s, c, inputs[-1]))
        inputs.append(spec.activation(preactivations[-1]))
    s, c, _, _ = scales[-1]
    return inputs, preactivations, _dense(params[-1], s, c, inputs[-1])


def apply(net: FullyConnected, params: Params, x: jax.Array) -> jax.Array:
    """The network's output f(x) for inputs x.

    Pure JAX (shape checks only), so it can be jitted and differentiated with respect to params.

    Args:
        net: a ``FullyConnected``.
        params: the parameters, as from ``init_params``.
        x: inputs, shape (N, d).

    Returns:
        f(x), shape (N, out_dim).

    Raises:
        ValueError: x that is not 2-D, or params that do not fit ``net`` and x.

    Example:
        >>> import jax.numpy as jnp, nngp_ntk as nk
        >>> net = nk.FullyConnected(depth=1)
        >>> apply(net, init_params(net, 0, input_dim=2, width=16), jnp.ones((5, 2))).shape
        (5, 1)
    """
    spec = net.spec()
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D array of shape (n_points, n_features), got shape {x.shape}")
    return _forward(spec, _check_params(spec, params, x.shape[1]), x)[2]


def readout_features(net: FullyConnected, params: Params, x: jax.Array) -> jax.Array:
    """The readout's inputs F(x) = a_depth = phi(z_{depth-1}) (x itself when depth = 0).

    A random-feature model of P = width features: K_emp = W_std_depth^2 F F^T / n + b_std_depth^2.
    Pure JAX like ``apply``.

    Args:
        net: a ``FullyConnected``.
        params: the parameters, as from ``init_params``.
        x: inputs, shape (N, d).

    Returns:
        F(x), shape (N, n) (n the width; d when depth = 0).

    Raises:
        ValueError: as ``apply``.

    Example:
        >>> import jax.numpy as jnp, nngp_ntk as nk
        >>> net = nk.FullyConnected(depth=2)
        >>> readout_features(net, init_params(net, 0, input_dim=2, width=16), jnp.ones((5, 2))).shape
        (5, 16)
    """
    spec = net.spec()
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D array of shape (n_points, n_features), got shape {x.shape}")
    return _forward(spec, _check_params(spec, params, x.shape[1]), x)[0][-1]


def _backward(spec: _Spec, params: Params, preactivations: list[jax.Array], n_points: int) -> list[jax.Array]:
    """delta_l = df/dz_l of shape (N, out_dim, n_{l+1}) for l = 0..depth (last: the identity)."""
    scales = _layer_scales(spec, [layer.weight.shape[0] for layer in params])
    out_dim = params[-1].weight.shape[1]
    eye = jnp.eye(out_dim, dtype=params[-1].weight.dtype)
    deltas = [jnp.broadcast_to(eye, (n_points, out_dim, out_dim))]
    for layer in range(spec.depth, 0, -1):
        back = scales[layer][0] * jnp.matmul(deltas[0], params[layer].weight.T, precision=_HIGHEST)
        deltas.insert(0, back * spec.activation.derivative(preactivations[layer - 1])[:, None, :])
    return deltas


def _pair(a1: jax.Array, a2: jax.Array) -> jax.Array:
    """sum over trailing axes of a1[i] a2[j]: (N1, ...) x (N2, ...) -> (N1, N2)."""
    return jnp.matmul(a1.reshape(a1.shape[0], -1), a2.reshape(a2.shape[0], -1).T, precision=_HIGHEST)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _empirical(spec: _Spec, names: tuple[str, ...], params: Params, x1: jax.Array,
               x2: jax.Array | None) -> tuple[jax.Array, ...]:
    inputs1, pre1, _ = _forward(spec, params, x1)
    inputs2, pre2, _ = (inputs1, pre1, None) if x2 is None else _forward(spec, params, x2)
    n = inputs1[-1].shape[1]
    kernels = {}
    if "nngp" in names:
        kernels["nngp"] = spec.W_std[-1] ** 2 * _pair(inputs1[-1], inputs2[-1]) / n + spec.b_std[-1] ** 2
    if "ntk" in names:
        scales = _layer_scales(spec, [layer.weight.shape[0] for layer in params])
        deltas1 = _backward(spec, params, pre1, x1.shape[0])
        deltas2 = deltas1 if x2 is None else _backward(spec, params, pre2, x2.shape[0])
        out_dim = params[-1].weight.shape[1]
        ntk = 0
        for (s, c, _, _), a1, a2, d1, d2 in zip(scales, inputs1, inputs2, deltas1, deltas2):
            ntk = ntk + (s**2 * _pair(a1, a2) + c**2) * _pair(d1, d2) / out_dim
        kernels["ntk"] = ntk
    return tuple(kernels[name] for name in names)


def empirical_kernels(net: FullyConnected, params: Params, x1: np.ndarray, x2: np.ndarray | None = None,
                      get: str | Sequence[str] = ("nngp", "ntk")) -> Kernels | np.ndarray:
    """Empirical NNGP and/or NTK of one finite network between the rows of x1 and x2 (x2=None: x1).

    The formulas::

        K(x, x')     = W_std_depth^2 F(x) . F(x') / n + b_std_depth^2
        Theta(x, x') = (1 / out_dim) sum_k sum_theta df_k(x)/dtheta df_k(x')/dtheta

    The Jacobian contraction uses the layer-wise formula of the module docstring: O(N1 N2 width)
    per layer, no Jacobian is formed.

    Args:
        net: a ``FullyConnected``.
        params: the parameters, as from ``init_params``.
        x1: inputs, shape (N1, d).
        x2: inputs, shape (N2, d), or None for x1.
        get: "nngp", "ntk" or a sequence of them, as in ``FullyConnected.kernel``.

    Returns:
        A (N1, N2) array for a single name, else ``Kernels``.

    Raises:
        ValueError: bad inputs, ``get`` or params.

    Example:
        >>> import nngp_ntk as nk
        >>> net = nk.FullyConnected(depth=1)
        >>> x = nk.data.sphere(4, dim=3)
        >>> theta = empirical_kernels(net, init_params(net, 0, input_dim=3, width=64), x, get="ntk")
        >>> theta.shape, bool(np.allclose(theta, theta.T, atol=1e-5))
        ((4, 4), True)
    """
    spec = net.spec()
    names = _check_kernel_names(get)
    x1, x2 = check_inputs(x1, x2)
    params = _check_params(spec, params, x1.shape[1])
    dtype = params[0].weight.dtype
    x1, x2 = jnp.asarray(x1, dtype), None if x2 is None else jnp.asarray(x2, dtype)
    results = dict(zip(names, (np.asarray(k) for k in _empirical(spec, names, params, x1, x2))))
    if isinstance(get, str):
        return results[get]
    return Kernels(results.get("nngp"), results.get("ntk"))


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _draw_kernels(spec: _Spec, names: tuple[str, ...], width: int, out_dim: int, keys: jax.Array,
                  x1: jax.Array, x2: jax.Array | None) -> tuple[jax.Array, ...]:
    """Empirical kernels for a batch of keys: a leading seed axis on every output."""
    def one(key: jax.Array) -> tuple[jax.Array, ...]:
        params = _init(spec, key, x1.shape[1], width, out_dim, x1.dtype)
        return _empirical(spec, names, params, x1, x2)
    return jax.vmap(one)(keys)


def monte_carlo_kernels(net: FullyConnected, x1: np.ndarray, x2: np.ndarray | None = None, *,
                        width: int, n_samples: int, key: jax.Array | int = 0,
                        get: str | Sequence[str] = ("nngp", "ntk"), out_dim: int = 1,
                        seed_batch: int | None = None) -> MonteCarloKernels:
    """Mean and standard error over ``n_samples`` independent draws of the empirical kernels.

    The estimates::

        mean   = (1/S) sum_s K_s
        stderr = sqrt(sum_s (K_s - mean)^2 / (S - 1)) / sqrt(S)     (inf when S = 1: no error estimate)

    Draws run ``seed_batch`` at a time under vmap (default: as many as fit about 2^26 parameters);
    the moments accumulate in float64 by Chan's pairwise update.

    Args:
        net: a ``FullyConnected``.
        x1: inputs, shape (N1, d).
        x2: inputs, shape (N2, d), or None for x1.
        width: the hidden width of the finite networks.
        n_samples: S, the number of independent networks.
        key: a JAX PRNG key or an integer seed.
        get: "nngp", "ntk" or a sequence of them.
        out_dim: the readout's outputs (the NTK averages over them).
        seed_batch: draws per vmapped batch.

    Returns:
        ``MonteCarloKernels(mean, stderr)``; its fields are ``Kernels`` or, for a single ``get``
        name, arrays.

    Raises:
        ValueError: non-positive sizes, bad inputs or ``get``.

    Example:
        >>> import nngp_ntk as nk
        >>> net = nk.FullyConnected(depth=1, W_std=1.5)
        >>> x = nk.data.sphere(3, dim=2)
        >>> mc = monte_carlo_kernels(net, x, width=256, n_samples=32, get="nngp")
        >>> exact = net.kernel(x, get="nngp")
        >>> bool(np.all(np.abs(mc.mean - exact) < 5 * mc.stderr + 1e-3))
        True
    """
    spec = net.spec()
    names = _check_kernel_names(get)
    width = _positive_int("width", width)
    n_samples = _positive_int("n_samples", n_samples)
    out_dim = _positive_int("out_dim", out_dim)
    x1, x2 = check_inputs(x1, x2)
    fan_ins = _fan_ins(spec, x1.shape[1], width)
    n_params = sum(fan_in * fan_out for fan_in, fan_out in zip(fan_ins, fan_ins[1:] + [out_dim]))
    if seed_batch is None:
        seed_batch = max(1, min(n_samples, _PARAMETERS_PER_BATCH // n_params))
    seed_batch = _positive_int("seed_batch", seed_batch)
    keys = jax.random.split(_key(key), n_samples)
    x1 = jnp.asarray(x1)
    x2 = None if x2 is None else jnp.asarray(x2)
    count, mean, m2 = 0, None, None
    for start in range(0, n_samples, seed_batch):
        draws = _draw_kernels(spec, names, width, out_dim, keys[start:start + seed_batch], x1, x2)
        draws = np.stack([np.asarray(d, np.float64) for d in draws])        # (kernel, seed, N1, N2)
        batch_count = draws.shape[1]
        batch_mean = draws.mean(axis=1)
        batch_m2 = ((draws - batch_mean[:, None]) ** 2).sum(axis=1)
        if mean is None:
            count, mean, m2 = batch_count, batch_mean, batch_m2
            continue
        total = count + batch_count
        delta = batch_mean - mean
        mean = mean + delta * batch_count / total
        m2 = m2 + batch_m2 + delta**2 * count * batch_count / total
        count = total
    stderr = np.sqrt(m2 / (count - 1) / count) if count > 1 else np.full_like(mean, np.inf)
    means = dict(zip(names, mean))
    errors = dict(zip(names, stderr))
    if isinstance(get, str):
        return MonteCarloKernels(means[get], errors[get])
    return MonteCarloKernels(Kernels(means.get("nngp"), means.get("ntk")),
                             Kernels(errors.get("nngp"), errors.get("ntk")))
