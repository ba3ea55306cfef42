"""Finite-width networks of the same layers: init/apply, empirical NNGP and NTK, Monte Carlo averages.

Any network (``Sequential`` or ``FullyConnected``) at finite width: every Dense maps to ``width``
units except a final Dense, the readout, which maps to ``out_dim`` outputs. A Dense with input a
(n_in units) computes

    z = s a W + c b,     ntk:       W, b ~ N(0, 1),                      s = W_std / sqrt(n_in),  c = b_std
                         standard:  W ~ N(0, W_std^2 / n_in), b ~ N(0, b_std^2),   s = 1,  c = 1

(neural-tangents 0.6.5 ``stax.Dense``; ``b_std=None``: no bias, c = 0). Activations apply
elementwise; ``LayerNorm`` maps each point's features to (z - mean(z)) / sqrt(var(z) + eps)
(``stax.LayerNorm(axis=-1)``, no parameters); ``Residual`` computes a + block(a). Each layer
carries its own finite map (``nngp_ntk.kernels.Layer``: ``finite_units``, ``finite_shapes``,
``finite_init``, ``finite_apply``, ``finite_tangent``, ``finite_nngp``); this module draws the
parameters, runs the forward pass and contracts the kernels.

Empirical kernels of one draw of the parameters, f the output (out_dim channels):

    NNGP:  K(x, x') = W_std^2 F(x) . F(x') / n + b_std^2    when the network ends with a Dense, F its
                      input of n units (the covariance of f over the readout's weights and bias, the
                      other layers fixed); f(x) . f(x') / out_dim otherwise
    NTK:   Theta(x, x') = (1 / out_dim) sum_k sum_theta df_k(x)/dtheta df_k(x')/dtheta
                        = sum_l (s_l^2 a_l(x) . a_l(x') + c_l^2) <delta_l(x), delta_l(x')>,

a_l the input and delta_l = df/dz_l the backpropagated output gradient of Dense l (by
``jax.vjp``), <., .> summing over units and averaging over outputs (for any layer with parameters,
its ``finite_tangent`` g_l(x, x') in place of s_l^2 a_l(x) . a_l(x') + c_l^2). Averaged over draws these
converge to the network's ``kernel`` as width -> infinity (in the standard parameterization when
each Dense's ``width`` equals the one used here).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nngp_ntk._checks import ArgumentTypeError, ArgumentValueError, check_integer, check_kernel_names
from nngp_ntk._inputs import check_inputs
from nngp_ntk.kernels._network import Kernels

_HIGHEST = jax.lax.Precision.HIGHEST
#: Parameters (float32 entries) drawn per vmapped batch of seeds when ``seed_batch`` is automatic.
_PARAMETERS_PER_BATCH = 2**26


#: One entry per layer with parameters, in order of application (a Dense's: ``layers.DenseParams``).
Params = tuple[Any, ...]


class MonteCarloKernels(NamedTuple):
    """Mean over draws of the empirical kernels and its standard error (std / sqrt(n_samples))."""

    mean: Kernels | np.ndarray
    stderr: Kernels | np.ndarray


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentValueError(f"{name} must be a positive integer, got {value!r}")
    return check_integer(name, value, minimum=1)


def _key(key: jax.Array | int) -> jax.Array:
    """A PRNG key from an integer seed or a key array."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.PRNGKey(int(key))
    if isinstance(key, jax.Array) and (jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
                                       or (key.dtype == jnp.uint32 and key.shape == (2,))):
        return key
    raise ArgumentTypeError(f"key must be an integer seed or a jax.random key, got {key!r}")


def _layers_of(net: Any) -> tuple:
    """The checked layer list of a network (``Sequential`` or ``FullyConnected``)."""
    if not hasattr(net, "sequence"):
        raise ArgumentTypeError(f"net must be a nngp_ntk.Sequential or FullyConnected, got {type(net).__name__}")
    return tuple(net.sequence())


def _layout(layers: Sequence, input_dim: int, width: int, out_dim: int) -> list[tuple[Any, tuple]]:
    """(layer, the shapes of its N(0, 1) draws) of every layer with parameters, in order of
    application (a layer's own before its sublayers'): each layer's ``finite_units`` and
    ``finite_shapes``, the network's last layer as the readout."""
    found = []

    def walk(layers: Sequence, units: int, top: bool) -> int:
        for index, layer in enumerate(layers):
            fan_out = layer.finite_units(units, width, out_dim, top and index == len(layers) - 1)
            shapes = layer.finite_shapes(units, fan_out)
            if shapes:
                found.append((layer, tuple(shapes)))
            if layer.sublayers:
                walk(layer.sublayers, units, False)
            units = fan_out
        return units

    walk(layers, input_dim, True)
    return found


def _parameter_layers(layers: Sequence) -> list:
    """The layers with parameters in order of application (into sublayers)."""
    return [layer for layer, _ in _layout(layers, 1, 1, 1)]


def _init(layers: tuple, key: jax.Array, input_dim: int, width: int, out_dim: int, dtype: np.dtype) -> Params:
    """All parameters from one draw of N(0, 1) numbers (one random-number call compiles fastest),
    split into each layer's shapes and made its entry by its ``finite_init``."""
    layout = _layout(layers, input_dim, width, out_dim)
    shapes = [shape for _, layer_shapes in layout for shape in layer_shapes]
    sizes = [math.prod(shape) for shape in shapes]
    pieces = iter(jnp.split(jax.random.normal(key, (sum(sizes),), dtype), np.cumsum(sizes)[:-1]))
    return tuple(layer.finite_init([next(pieces).reshape(shape) for shape in layer_shapes])
                 for layer, layer_shapes in layout)


def _hashable(layers: tuple) -> bool:
    """Whether ``layers`` can be a static argument of a compiled function: hashable, so no traced
    or JAX-array hyperparameters (those run op by op)."""
    try:
        hash(layers)
    except TypeError:
        return False
    return True


#: ``_init`` compiled once per layer list and shapes (run op by op, each op compiles per shape).
_compiled_init = jax.jit(_init, static_argnums=(0, 2, 3, 4, 5))


def init_params(net: Any, key: jax.Array | int, input_dim: int, width: int,
                out_dim: int = 1, dtype: np.dtype | str = np.float32) -> Params:
    """Draw the parameters of ``net`` at finite ``width`` (see the module docstring).

    ntk: W, b ~ N(0, 1);   standard: W ~ N(0, W_std^2 / fan_in), b ~ N(0, b_std^2).

    Args:
        net: a ``Sequential`` or ``FullyConnected``.
        key: an integer seed or a ``jax.random`` key.
        input_dim: the number of input features d.
        width: every Dense's output width (but a final Dense's).
        out_dim: a final Dense's output width.
        dtype: the parameters' floating dtype.

    Returns:
        One entry per layer with parameters in order of application: per Dense a
        ``layers.DenseParams(weight, bias)``, weight (fan_in, fan_out).

    Example:
        >>> import nngp_ntk as nk
        >>> from nngp_ntk import finite
        >>> net = nk.Sequential(nk.Dense(), nk.activations.ReLU(), nk.Dense())
        >>> [p.weight.shape for p in finite.init_params(net, 0, input_dim=3, width=8)]
        [(3, 8), (8, 1)]
    """
    layers = _layers_of(net)
    input_dim = _positive_int("input_dim", input_dim)
    width = _positive_int("width", width)
    out_dim = _positive_int("out_dim", out_dim)
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ArgumentTypeError(f"dtype must be a floating-point dtype, got {dtype}")
    init = _compiled_init if _hashable(layers) else _init
    return init(layers, _key(key), input_dim, width, out_dim, dtype)


def _check_params(layers: tuple, params: Params, input_dim: int) -> Params:
    """``params`` as a tuple of entries after each layer's static checks (``finite_check``:
    shapes only, so they work under tracing)."""
    owners = _parameter_layers(layers)
    expected = (f"params must be a sequence of {len(owners)} entries, one per layer with parameters (a Dense: "
                "(weight, bias); depth + 1 for FullyConnected), as returned by init_params")
    if not isinstance(params, (tuple, list)) or len(params) != len(owners):
        raise ArgumentValueError(expected)
    checked = []
    fan_in = input_dim
    for index, (layer, entry) in enumerate(zip(owners, params)):
        try:
            entry, fan_in = layer.finite_check(entry, fan_in)
        except ValueError as error:
            raise ArgumentValueError(f"{expected}; params[{index}] {error}") from None
        checked.append(entry)
    return tuple(checked)


class _Trace(NamedTuple):
    """What a forward pass records for every layer with parameters: its input a_l, what its
    ``finite_tangent`` needs (a Dense: its scales (s_l, c_l)) and its output z_l (unperturbed)."""

    inputs: list
    records: list
    outputs: list


class _Forward:
    """One forward pass, as the layers' ``finite_apply`` see it: each layer with parameters takes
    its entry (``parameters``) and returns ``output(a, record, z)``; a layer with sublayers runs
    them by ``block``. ``perturbations[l]`` is added to the output z_l of layer l (zeros: their
    gradient is delta_l = df/dz_l)."""

    def __init__(self, params: Params, perturbations: Sequence[jax.Array] | None) -> None:
        self.trace = _Trace([], [], [])
        self._parameters: Iterator[Any] = iter(params)
        self._perturbations = perturbations

    def parameters(self) -> Any:
        """The next layer's parameter entry."""
        return next(self._parameters)

    def output(self, a: jax.Array, record: Any, z: jax.Array) -> jax.Array:
        """Record a layer's input a, ``record`` and output z; z, perturbed."""
        self.trace.outputs.append(z)
        if self._perturbations is not None:
            z = z + self._perturbations[len(self.trace.inputs)]
        self.trace.inputs.append(a)
        self.trace.records.append(record)
        return z

    def block(self, layers: Sequence, a: jax.Array) -> jax.Array:
        """``layers`` applied to a in order (each layer's ``finite_apply``)."""
        for layer in layers:
            a = layer.finite_apply(a, self)
        return a


def _forward(layers: tuple, params: Params, x: jax.Array,
             perturbations: Sequence[jax.Array] | None = None) -> tuple[jax.Array, _Trace]:
    """The output f(x) and the trace; ``perturbations[l]`` is added to the output z_l of the l-th
    layer with parameters (zeros: their gradient is delta_l = df/dz_l)."""
    forward = _Forward(params, perturbations)
    return forward.block(layers, x), forward.trace


#: ``_forward`` compiled once per layer list and shapes (traced into an outer jit or grad as it is).
_compiled_forward = jax.jit(_forward, static_argnums=0)


def _checked_forward(net: Any, params: Params, x: jax.Array) -> tuple[jax.Array, _Trace]:
    """``_forward`` after checking x's rank and that params fit ``net`` and x."""
    layers = _layers_of(net)
    if x.ndim != 2:
        raise ArgumentValueError(f"x must be a 2-D array of shape (n_points, n_features), got shape {x.shape}")
    forward = _compiled_forward if _hashable(layers) else _forward
    return forward(layers, _check_params(layers, params, x.shape[1]), x)


def apply(net: Any, params: Params, x: jax.Array) -> jax.Array:
    """The network's output f(x) of shape (N, out_dim) for inputs x of shape (N, d).

    Pure JAX (shape checks only), so it can be jitted and differentiated with respect to params.

    Args:
        net: a ``Sequential`` or ``FullyConnected``.
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
    return _checked_forward(net, params, x)[0]


def readout_features(net: Any, params: Params, x: jax.Array) -> jax.Array:
    """The input F(x) of the last Dense (x itself for a single Dense), shape (N, n): the last
    input ``dense_inputs`` gives.

    A random-feature model of n features: K_emp = W_std^2 F F^T / n + b_std^2 for the readout's
    W_std, b_std. Pure JAX like ``apply``.

    Args:
        net: a ``Sequential`` or ``FullyConnected``.
        params: the parameters, as from ``init_params``.
        x: inputs, shape (N, d).

    Returns:
        F(x), shape (N, n).

    Raises:
        ValueError: x that is not 2-D, or params that do not fit ``net`` and x.

    Example:
        >>> import jax.numpy as jnp, nngp_ntk as nk
        >>> net = nk.FullyConnected(depth=2)
        >>> readout_features(net, init_params(net, 0, input_dim=2, width=16), jnp.ones((5, 2))).shape
        (5, 16)
    """
    return dense_inputs(net, params, x)[-1]


def dense_inputs(net: Any, params: Params, x: jax.Array) -> list[jax.Array]:
    """The input a_l of every Dense l (every layer with parameters) in order of application: x
    itself first, then each hidden layer's output that feeds the next Dense (``readout_features``
    is the last).

    Args:
        net: a ``Sequential`` or ``FullyConnected``.
        params: the parameters, as from ``init_params``.
        x: inputs, shape (N, d).

    Returns:
        One array per layer with parameters, shape (N, fan_in of that layer).

    Raises:
        ValueError: x that is not 2-D, or params that do not fit ``net`` and x.

    Example:
        >>> import jax.numpy as jnp, nngp_ntk as nk
        >>> net = nk.FullyConnected(depth=2)
        >>> [a.shape for a in dense_inputs(net, init_params(net, 0, input_dim=2, width=16), jnp.ones((5, 2)))]
        [(5, 2), (5, 16), (5, 16)]
    """
    return list(_checked_forward(net, params, x)[1].inputs)


def _deltas(layers: tuple, params: Params, x: jax.Array) -> tuple[jax.Array, _Trace, list[jax.Array]]:
    """(f, trace, delta_l of shape (N, out_dim, fan_out_l) for every layer l with parameters) by one
    vjp per output."""
    outputs = jax.eval_shape(lambda: _forward(layers, params, x)[1].outputs)
    zeros = [jnp.zeros(output.shape, x.dtype) for output in outputs]
    f, pullback, trace = jax.vjp(lambda eps: _forward(layers, params, x, eps), zeros, has_aux=True)
    eye = jnp.eye(f.shape[1], dtype=f.dtype)
    deltas = jax.vmap(lambda row: pullback(jnp.broadcast_to(row, f.shape))[0])(eye)   # per output: (N, fan_out)
    return f, trace, [jnp.swapaxes(d, 0, 1) for d in deltas]


def _pair(a1: jax.Array, a2: jax.Array) -> jax.Array:
    """sum over trailing axes of a1[i] a2[j]: (N1, ...) x (N2, ...) -> (N1, N2)."""
    return jnp.matmul(a1.reshape(a1.shape[0], -1), a2.reshape(a2.shape[0], -1).T, precision=_HIGHEST)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _empirical(layers: tuple, names: tuple[str, ...], params: Params, x1: jax.Array,
               x2: jax.Array | None) -> tuple[jax.Array, ...]:
    kernels = {}
    if "ntk" in names:
        f1, trace1, deltas1 = _deltas(layers, params, x1)
        f2, trace2, deltas2 = (f1, trace1, deltas1) if x2 is None else _deltas(layers, params, x2)
        out_dim = f1.shape[1]
        ntk = 0
        for layer, record, a1, a2, d1, d2 in zip(_parameter_layers(layers), trace1.records, trace1.inputs,
                                                 trace2.inputs, deltas1, deltas2):
            ntk = ntk + layer.finite_tangent(a1, a2, record) * _pair(d1, d2) / out_dim
        kernels["ntk"] = ntk
    else:
        f1, trace1 = _forward(layers, params, x1)
        f2, trace2 = (f1, trace1) if x2 is None else _forward(layers, params, x2)
    if "nngp" in names:
        # The covariance over the last layer's parameters when it has them (a Dense readout).
        readout = layers[-1].finite_nngp(trace1.inputs[-1], trace2.inputs[-1]) if trace1.inputs else None
        kernels["nngp"] = _pair(f1, f2) / f1.shape[1] if readout is None else readout
    return tuple(kernels[name] for name in names)


def empirical_kernels(net: Any, params: Params, x1: np.ndarray, x2: np.ndarray | None = None,
                      get: str | Sequence[str] = ("nngp", "ntk")) -> Kernels | np.ndarray:
    """Empirical NNGP and/or NTK of one finite network between the rows of x1 and x2 (x2=None: x1).

    The formulas::

        K(x, x')     = W_std^2 F(x) . F(x') / n + b_std^2      (f(x) . f(x') / out_dim without a final Dense)
        Theta(x, x') = (1 / out_dim) sum_k sum_theta df_k(x)/dtheta df_k(x')/dtheta

    The Jacobian contraction uses the layer-wise formula of the module docstring: O(N1 N2 width)
    per layer, no Jacobian is formed.

    Args:
        net: a ``Sequential`` or ``FullyConnected``.
        params: the parameters, as from ``init_params``.
        x1: inputs, shape (N1, d).
        x2: inputs, shape (N2, d), or None for x1.
        get: "nngp", "ntk" or a sequence of them, as in ``kernel``.

    Returns:
        A (N1, N2) array for a single name, else ``Kernels``.

    Raises:
        TypeError, ValueError: bad inputs, ``get`` or params.

    Example:
        >>> import nngp_ntk as nk
        >>> net = nk.FullyConnected(depth=1)
        >>> x = nk.data.sphere(4, dim=3).astype(np.float32)
        >>> theta = empirical_kernels(net, init_params(net, 0, input_dim=3, width=64), x, get="ntk")
        >>> theta.shape, bool(np.allclose(theta, theta.T, atol=1e-5))
        ((4, 4), True)
    """
    layers = _layers_of(net)
    names = check_kernel_names(get)
    x1, x2 = check_inputs(x1, x2)
    params = _check_params(layers, params, x1.shape[1])
    dtype = params[0].weight.dtype
    x1, x2 = jnp.asarray(x1, dtype), None if x2 is None else jnp.asarray(x2, dtype)
    results = dict(zip(names, (np.asarray(k) for k in _empirical(layers, names, params, x1, x2))))
    if isinstance(get, str):
        return results[get]
    return Kernels(results.get("nngp"), results.get("ntk"))


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _draw_kernels(layers: tuple, names: tuple[str, ...], width: int, out_dim: int, keys: jax.Array,
                  x1: jax.Array, x2: jax.Array | None) -> tuple[jax.Array, ...]:
    """Empirical kernels for a batch of keys: a leading seed axis on every output."""
    def one(key: jax.Array) -> tuple[jax.Array, ...]:
        params = _init(layers, key, x1.shape[1], width, out_dim, x1.dtype)
        return _empirical(layers, names, params, x1, x2)
    return jax.vmap(one)(keys)


def monte_carlo_kernels(net: Any, x1: np.ndarray, x2: np.ndarray | None = None, *,
                        width: int, n_samples: int, key: jax.Array | int = 0,
                        get: str | Sequence[str] = ("nngp", "ntk"), out_dim: int = 1,
                        seed_batch: int | None = None) -> MonteCarloKernels:
    """Mean and standard error over ``n_samples`` independent draws of the empirical kernels.

    The estimates, over S = ``n_samples`` draws K_s::

        mean   = (1/S) sum_s K_s
        stderr = sqrt(sum_s (K_s - mean)^2 / (S - 1)) / sqrt(S)     (inf when S = 1: no error estimate)

    Draws run ``seed_batch`` at a time under vmap (default: as many as fit about 2^26 parameters);
    the moments accumulate in float64 by Chan's pairwise update.

    Args:
        net: a ``Sequential`` or ``FullyConnected``.
        x1, x2: inputs (N1, d) and (N2, d) or None.
        width: every Dense's output width (but a final Dense's, which is ``out_dim``).
        n_samples: number of independent networks.
        key: an integer seed or a ``jax.random`` key.
        get: "nngp", "ntk" or a sequence of them.
        out_dim: a final Dense's output width.
        seed_batch: draws per vmapped batch (None: automatic).

    Returns:
        ``MonteCarloKernels``; its fields are ``Kernels`` or, for a single ``get`` name, arrays.

    Example:
        >>> import numpy as np, nngp_ntk as nk
        >>> from nngp_ntk import finite
        >>> net = nk.Sequential(nk.Dense(), nk.LayerNorm(), nk.activations.Erf(), nk.Dense())
        >>> mc = finite.monte_carlo_kernels(net, np.ones((2, 3), np.float32), width=16, n_samples=2, get="nngp")
        >>> mc.mean.shape
        (2, 2)
    """
    layers = _layers_of(net)
    names = check_kernel_names(get)
    width = _positive_int("width", width)
    n_samples = _positive_int("n_samples", n_samples)
    out_dim = _positive_int("out_dim", out_dim)
    x1, x2 = check_inputs(x1, x2)
    n_params = sum(math.prod(shape) for _, shapes in _layout(layers, x1.shape[1], width, out_dim) for shape in shapes)
    if seed_batch is None:
        seed_batch = max(1, min(n_samples, _PARAMETERS_PER_BATCH // n_params))
    seed_batch = _positive_int("seed_batch", seed_batch)
    keys = jax.random.split(_key(key), n_samples)
    x1 = jnp.asarray(x1)
    x2 = None if x2 is None else jnp.asarray(x2)
    count, mean, m2 = 0, None, None
    for start in range(0, n_samples, seed_batch):
        draws = _draw_kernels(layers, names, width, out_dim, keys[start:start + seed_batch], x1, x2)
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
