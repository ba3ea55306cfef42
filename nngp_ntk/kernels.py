"""Infinite-width NNGP and NTK of deep fully-connected networks by the layer-wise recursion.

Network: ``depth`` hidden layers ``[Dense, phi]`` then a Dense readout; Dense layer l has
W ~ N(0, W_l^2 / fan_in), b ~ N(0, b_l^2). With G = x . x' and d the input dimension:

    K^0 = W_0^2 G / d + b_0^2,                 Theta^0 = K^0  (ntk)   or  G + 1  (standard)
    K^l = W_l^2 E[phi(u) phi(v)] + b_l^2,      (u, v) ~ N(0, [[K^{l-1}_11, K^{l-1}_12], [., K^{l-1}_22]])
    Theta^l = A^l + W_l^2 E[phi'(u) phi'(v)] Theta^{l-1},
    A^l = K^l (ntk)   or   width E[phi(u) phi(v)] + 1 (standard)

and ``nngp = K^depth``, ``ntk = Theta^depth`` (neural-tangents 0.6.5 conventions). The whole depth
is one compiled, fused pass over a tile of the output; the diagonal K^l(x, x) is computed once
per point in O(N depth) and broadcast into the tiles.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import os
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nngp_ntk import tiling
from nngp_ntk.activations import Activation, get_activation

KERNEL_NAMES = ("nngp", "ntk")
PARAMETERIZATIONS = ("ntk", "standard")


class Kernels(NamedTuple):
    """The NNGP and NTK of the readout; an entry is None when it was not requested."""

    nngp: np.ndarray | None
    ntk: np.ndarray | None


class _Spec(NamedTuple):
    """Hashable, validated description of a network: the static argument of the compiled passes."""

    depth: int
    activation: Activation
    W_std: tuple[float, ...]
    b_std: tuple[float, ...]
    parameterization: str
    width: float


def _per_layer(name: str, value: float | Sequence[float], depth: int) -> tuple[float, ...]:
    """A scalar or a sequence of length depth + 1, as a tuple of non-negative floats."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        values = (float(value),) * (depth + 1)
    elif isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str):
        values = tuple(np.asarray(value, dtype=float).reshape(-1).tolist())
        if len(values) != depth + 1:
            raise ValueError(f"{name} must be a number or a sequence of depth + 1 = {depth + 1} "
                             f"per-layer values, got {len(values)} values")
    else:
        raise TypeError(f"{name} must be a number or a sequence of numbers, got {type(value).__name__}")
    if not all(np.isfinite(values)) or min(values) < 0:
        raise ValueError(f"{name} must be finite and non-negative, got {value!r}")
    return values


def _check_kernel_names(get: str | Sequence[str]) -> tuple[str, ...]:
    names = (get,) if isinstance(get, str) else tuple(get)
    unknown = [n for n in names if n not in KERNEL_NAMES]
    if unknown or not names:
        raise ValueError(f"get must be one of {KERNEL_NAMES} or a non-empty sequence of them, got {get!r}")
    return names


def compute_dtype(*arrays: np.ndarray | None) -> np.dtype:
    """float64 when every given input is float64 and JAX's x64 mode is on, else float32."""
    wide = all(np.asarray(a).dtype == np.float64 for a in arrays if a is not None)
    return np.dtype(np.float64 if wide and jax.config.jax_enable_x64 else np.float32)


def check_inputs(x1: np.ndarray, x2: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate inputs (2-D, real, finite, same feature count) and cast them to the compute dtype."""
    checked = []
    for name, x in (("x1", x1), ("x2", x2)):
        if x is None:
            checked.append(None)
            continue
        x = np.asarray(x)
        if x.dtype == object or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)
                                     or x.dtype == bool):
            raise TypeError(f"{name} must be a real numeric array, got dtype {x.dtype}")
        if x.ndim != 2:
            raise ValueError(f"{name} must be a 2-D array of shape (n_points, n_features), got shape {x.shape}")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"{name} must have at least one point and one feature, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} contains NaN or inf values")
        checked.append(x)
    x1, x2 = checked
    if x2 is not None and x2.shape[1] != x1.shape[1]:
        raise ValueError(f"x1 and x2 must have the same number of features, got {x1.shape[1]} and {x2.shape[1]}")
    dtype = compute_dtype(x1, x2)
    return x1.astype(dtype, copy=False), None if x2 is None else x2.astype(dtype, copy=False)


Weights = tuple[np.ndarray, np.ndarray]


def _compiled(spec: _Spec, dtype: np.dtype) -> tuple[_Spec, Weights]:
    """The static part of ``spec`` for the compiled passes (W_std and b_std blanked, so that other
    weights reuse the compiled code) and the per-layer W_l^2, b_l^2 for l = 0..depth as arrays of
    ``dtype``, squared in float64 and rounded once (rounding W first drifted float32 kernels by 1e-7
    a layer against the per-point variances)."""
    return spec._replace(W_std=(), b_std=()), (np.asarray(np.square(spec.W_std), dtype),
                                               np.asarray(np.square(spec.b_std), dtype))


@functools.partial(jax.jit, static_argnums=0)
def _variance_trajectory(spec: _Spec, weights: Weights, x: jax.Array) -> jax.Array:
    """K^l(x, x) for l = 0..depth as columns (N, depth + 1): K^l = W_l^2 E[phi(u)^2] + b_l^2."""
    w2, b2 = weights
    variance = w2[0] * jnp.sum(x * x, axis=1) / x.shape[1] + b2[0]

    def layer(previous: jax.Array, weights: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        new = weights[0] * spec.activation.variance(previous) + weights[1]
        return new, new

    # A compiled loop: unrolled, compiling took 40-65 s at depth 200.
    _, deeper = jax.lax.scan(layer, variance, (w2[1:], b2[1:]))
    return jnp.concatenate([variance[:, None], deeper.T], axis=1)


@functools.partial(jax.jit, static_argnums=0)
def _diagonal_ntk(spec: _Spec, weights: Weights, x: jax.Array, variances: jax.Array) -> jax.Array:
    """Theta^depth(x, x) from the variances: Theta^l = A^l + W_l^2 E[phi'(u)^2] Theta^{l-1}."""
    theta = variances[:, 0] if spec.parameterization == "ntk" else jnp.sum(x * x, axis=1) + 1

    def layer(theta: jax.Array, inputs: tuple[jax.Array, ...]) -> tuple[jax.Array, None]:
        previous, new, w2_layer = inputs
        derivative = spec.activation.dual(previous, previous, previous)[1]
        added = new if spec.parameterization == "ntk" else spec.width * spec.activation.variance(previous) + 1
        return added + w2_layer * derivative * theta, None

    theta, _ = jax.lax.scan(layer, theta, (variances[:, :-1].T, variances[:, 1:].T, weights[0][1:]))
    return theta


def _resolve_quadrature(spec: _Spec, *xs: np.ndarray) -> _Spec:
    """Fix an automatic quadrature degree from the largest pre-activation variance of the inputs."""
    if not spec.activation.uses_quadrature:
        return spec
    inputs = max(spec.depth, 1)  # the variances entering the activations (depth 0 has none)
    largest = max(float(np.max(np.asarray(_variance_trajectory(*_compiled(spec, x.dtype), jnp.asarray(x)))[:, :inputs]))
                  for x in xs)
    return spec._replace(activation=spec.activation.resolve(largest))


def _checked_variances(spec: _Spec, x: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-point variances K^0..K^depth (N, depth + 1) and, when "ntk" is in ``names``, Theta(x, x)
    (N,), refusing a kernel that overflows the dtype and warning when it underflows to zero (e.g.
    ReLU with W_std = 1, b_std = 0 at large depth)."""
    static, weights = _compiled(spec, x.dtype)
    variances = np.asarray(_variance_trajectory(static, weights, jnp.asarray(x)))
    theta = None
    if "ntk" in names:
        theta = np.asarray(_diagonal_ntk(static, weights, jnp.asarray(x), jnp.asarray(variances)))
    dtype = variances.dtype
    if not np.all(np.isfinite(variances)) or ("ntk" in names and not np.all(np.isfinite(theta))):
        raise ValueError(f"the kernel overflows {dtype} for these inputs: W_std (or width) is too large for "
                         f"depth {spec.depth}; use smaller W_std or float64 inputs with jax x64 enabled")
    vanished = (variances[:, -1] < np.finfo(dtype).tiny) & (variances[:, 0] > 0)
    if np.any(vanished):
        warnings.warn(f"the NNGP of {int(vanished.sum())} input(s) underflows {dtype} at depth {spec.depth} "
                      "(the kernel shrinks by W_std^2 E[phi^2]/K a layer): increase W_std or b_std "
                      "(ReLU's critical W_std is sqrt(2)), or use float64", RuntimeWarning, stacklevel=3)
    return variances, theta


def _layer(spec: _Spec, w2: jax.Array, b2: jax.Array, k11: jax.Array, k22: jax.Array,
           nngp: jax.Array, ntk: jax.Array | None) -> tuple[jax.Array, jax.Array | None]:
    """One [phi, Dense] step of the recursion on a tile."""
    mean_product, derivative = spec.activation.dual(k11, nngp, k22)
    new_nngp = w2 * mean_product + b2
    if ntk is not None:
        added = new_nngp if spec.parameterization == "ntk" else spec.width * mean_product + 1
        ntk = added + w2 * derivative * ntk
    return new_nngp, ntk


def _tile(spec: _Spec, names: tuple[str, ...], weights: Weights, rows: tuple[jax.Array, jax.Array],
          cols: tuple[jax.Array, jax.Array], on_diagonal: jax.Array) -> tuple[jax.Array, ...]:
    """The requested kernels on one tile; rows/cols are (points, per-point variances K^0..K^depth).

    On a diagonal tile of K(x, x) (``on_diagonal``) the entries K^l(x_i, x_i) are set to the
    per-point variances after every layer, so that the correlation of a point with itself stays
    exactly 1 and rounding cannot open a spurious angle (see ``activations._correlation``).
    """
    (x1, var1), (x2, var2) = rows, cols
    gram = jnp.matmul(x1, x2.T, precision=jax.lax.Precision.HIGHEST)
    same_point = on_diagonal & (jnp.arange(x1.shape[0])[:, None] == jnp.arange(x2.shape[0])[None, :])
    w2, b2 = weights
    nngp = jnp.where(same_point, var1[:, :1], w2[0] * gram / x1.shape[1] + b2[0])
    ntk = None
    if "ntk" in names:
        ntk = nngp if spec.parameterization == "ntk" else gram + 1
    # The layers run in a compiled loop: each iteration is one fused pass over the tile. Unrolled,
    # XLA's CPU fusion recomputes earlier layers inside later fusions (measured 8x slower at
    # depth 10 and 8 s to compile at depth 30).
    def body(layer: jax.Array, state: tuple[jax.Array, jax.Array | None]) -> tuple[jax.Array, jax.Array | None]:
        k11 = jax.lax.dynamic_index_in_dim(var1, layer, axis=1, keepdims=True)
        k22 = jax.lax.dynamic_index_in_dim(var2, layer, axis=1, keepdims=True).T
        nngp, ntk = _layer(spec, w2[layer + 1], b2[layer + 1], k11, k22, *state)
        nngp = jnp.where(same_point, jax.lax.dynamic_index_in_dim(var1, layer + 1, axis=1), nngp)
        return nngp, ntk

    if spec.depth:
        nngp, ntk = jax.lax.fori_loop(0, spec.depth, body, (nngp, ntk))
    kernels = {"nngp": nngp, "ntk": ntk}
    return tuple(kernels[name] for name in names)


@functools.partial(jax.jit, static_argnums=(0, 1, 6))
def _tiles(spec: _Spec, names: tuple[str, ...], weights: Weights, rows: tuple[jax.Array, jax.Array],
           cols: tuple[jax.Array, jax.Array], on_diagonal: jax.Array, transpose: bool) -> tuple[jax.Array, ...]:
    """``_tile`` over a leading axis of tiles (sharded over devices by the caller's placement),
    followed by the transposed tiles when ``transpose`` (for the lower triangle of K(x, x))."""
    tiles = jax.vmap(functools.partial(_tile, spec, names, weights))(rows, cols, on_diagonal)
    return tiles + tuple(jnp.swapaxes(t, 1, 2) for t in tiles) if transpose else tiles


@dataclasses.dataclass
class FullyConnected:
    """An infinitely wide fully-connected network: ``depth`` hidden [Dense, activation] layers and a
    Dense readout, with the NNGP and NTK of its output (see the module docstring for the recursion).

    Args:
        depth: number of hidden layers (0: a linear model).
        activation: a name in ``nngp_ntk.activations.ACTIVATIONS`` or an ``Activation`` instance.
        W_std, b_std: weight and bias standard deviations, scalars or per-layer sequences of
            length depth + 1 (the last is the readout's).
        parameterization: "ntk" (default) or "standard" (then ``width`` is the hidden width n).
        width: hidden width for the standard parameterization's NTK.
        tile_size: rows and columns of an output tile (default: chosen for the activation).
    """

    depth: int = 1
    activation: str | Activation = "relu"
    W_std: float | Sequence[float] = 1.0
    b_std: float | Sequence[float] = 0.0
    parameterization: str = "ntk"
    width: int | None = None
    tile_size: int | None = None

    def __post_init__(self) -> None:
        self.spec()

    def get_params(self, deep: bool = True) -> dict:
        """The constructor arguments (scikit-learn convention, so estimators can tune them)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def set_params(self, **params) -> FullyConnected:
        """Set constructor arguments in place and validate them (scikit-learn convention)."""
        valid = self.get_params()
        for key in params:
            if key not in valid:
                raise ValueError(f"invalid parameter {key!r} for FullyConnected; valid: {sorted(valid)}")
        previous = dict(valid)
        for key, value in params.items():
            setattr(self, key, value)
        try:
            self.spec()
        except (TypeError, ValueError):
            for key, value in previous.items():
                setattr(self, key, value)
            raise
        return self

    def spec(self) -> _Spec:
        """Validate the arguments and return their hashable normal form."""
        depth = self.depth
        if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
            raise ValueError(f"depth must be an integer >= 0, got {depth!r}")
        depth = int(depth)
        if self.parameterization not in PARAMETERIZATIONS:
            raise ValueError(f"parameterization must be one of {PARAMETERIZATIONS}, got {self.parameterization!r}")
        width = 0.0
        if self.parameterization == "standard":
            if self.width is None:
                raise ValueError("parameterization='standard' needs width=n, the hidden layer width")
            if isinstance(self.width, bool) or not isinstance(self.width, numbers.Real) or not self.width > 0:
                raise ValueError(f"width must be a positive number, got {self.width!r}")
            width = float(self.width)
        elif self.width is not None and (not isinstance(self.width, numbers.Real) or not self.width > 0):
            raise ValueError(f"width must be a positive number or None, got {self.width!r}")
        if self.tile_size is not None and (isinstance(self.tile_size, bool)
                                           or not isinstance(self.tile_size, (int, np.integer))
                                           or self.tile_size < 1):
            raise ValueError(f"tile_size must be a positive integer or None, got {self.tile_size!r}")
        return _Spec(depth, get_activation(self.activation), _per_layer("W_std", self.W_std, depth),
                     _per_layer("b_std", self.b_std, depth), self.parameterization, width)

    def _tile_size(self, spec: _Spec, out_of_core: bool) -> int:
        """Rows and columns of a tile: 1024 in memory (a tile's state stays near the caches),
        4096 out of core (the lower triangle is written as transposed tiles, one segment of
        tile_size entries per row: 16 KiB segments write at disk speed, 4 KiB ones measured 3x
        slower), 128 for quadrature activations (degree^2 evaluations per entry)."""
        if self.tile_size is not None:
            return int(self.tile_size)
        if spec.activation.uses_quadrature:
            return 128
        return 4096 if out_of_core else 1024

    def kernel(self, x1: np.ndarray, x2: np.ndarray | None = None,
               get: str | Sequence[str] = KERNEL_NAMES, out: str | os.PathLike | None = None,
               progress: bool | None = None) -> Kernels | np.ndarray:
        """NNGP and/or NTK between the rows of x1 (N1, d) and x2 (N2, d); x2=None means x1.

        ``get`` is "nngp", "ntk" (then a single (N1, N2) array is returned) or a sequence of them
        (then ``Kernels``). K(x1, x1) is computed on upper-triangular tiles only; tiles are
        sharded over the local JAX devices. ``out="folder/"`` writes ``nngp.npy`` / ``ntk.npy``
        tile by tile (memory stays bounded) and returns read-only memory maps; a killed run
        resumes when called again with the same arguments. With several JAX processes (one per
        host, after ``jax.distributed.initialize``) ``out`` is required, on a filesystem they all
        share: they split the tiles and each returns the whole kernel. ``progress`` shows a bar (None: auto).
        """
        spec = self.spec()
        names = _check_kernel_names(get)
        x1, x2 = check_inputs(x1, x2)
        dtype = x1.dtype
        spec = _resolve_quadrature(spec, *(x for x in (x1, x2) if x is not None))
        rows = (x1, _checked_variances(spec, x1, names)[0])
        cols = None if x2 is None else (x2, _checked_variances(spec, x2, names)[0])
        tile_size = self._tile_size(spec, out is not None)
        key = "" if out is None else tiling.fingerprint(x1, "symmetric" if x2 is None else x2, spec, names, tile_size)
        static, weights = _compiled(spec, dtype)
        tile_fn = functools.partial(_tiles, static, names, weights)
        results = dict(zip(names, tiling.evaluate(tile_fn, rows, cols, names, tile_size, dtype, out=out, key=key,
                                                  progress=progress)))
        if isinstance(get, str):
            return results[get]
        return Kernels(results.get("nngp"), results.get("ntk"))

    def diagonal(self, x: np.ndarray, get: str | Sequence[str] = KERNEL_NAMES) -> Kernels | np.ndarray:
        """K(x_i, x_i) and/or Theta(x_i, x_i) for every row, shape (N,), in O(N) memory."""
        spec = self.spec()
        names = _check_kernel_names(get)
        x, _ = check_inputs(x)
        spec = _resolve_quadrature(spec, x)
        variances, theta = _checked_variances(spec, x, names)
        results = {"nngp": variances[:, -1], "ntk": theta}
        if isinstance(get, str):
            return results[get]
        return Kernels(*(results[n] if n in names else None for n in KERNEL_NAMES))
