"""Infinite-width NNGP and NTK of fully-connected networks, compiled from their layer list.

A network is a list of layers (``nngp_ntk.layers``: Dense, LayerNorm, Residual, activations)
acting on the kernels of its current pre-activations; ``FullyConnected(depth, phi)`` is the
preset ``[Dense, phi] * depth + [Dense]``. With G = x . x' and d the input dimension that preset is

    K^0 = W_0^2 G / d + b_0^2,                 Theta^0 = K^0  (ntk)   or  G + 1  (standard)
    K^l = W_l^2 E[phi(u) phi(v)] + b_l^2,      (u, v) ~ N(0, [[K^{l-1}_11, K^{l-1}_12], [., K^{l-1}_22]])
    Theta^l = A^l + W_l^2 E[phi'(u) phi'(v)] Theta^{l-1},
    A^l = K^l (ntk)   or   width E[phi(u) phi(v)] + 1 (standard)

(neural-tangents 0.6.5 conventions). The layer list compiles two ways:

* ``kernel`` / ``diagonal``: the per-point variances K(x, x) after every layer are computed once
  per point in O(N layers); then one compiled, fused pass per output tile runs the whole network,
  reading those variances and snapping the entries of a point with itself to them (``tiling``
  evaluates the tiles: symmetry, devices, hosts, disk). Runs of identical blocks are compiled
  loops, so depth costs little compile time. NumPy / memory-mapped results.
* ``kernel_fn``: the same passes as one pure JAX function (jit, vmap, grad; JAX arrays), the
  layers run on square blocks of the output in turn (K(x, x): the upper triangle, mirrored),
  each a ``jax.checkpoint`` so that gradients recompute a block instead of storing every layer.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nngp_ntk import _checks, _pytrees, layers as _layers, passes, programs, tiling
from nngp_ntk._checks import KERNEL_NAMES, check_kernel_names
from nngp_ntk.activations import Activation, get_activation
from nngp_ntk.layers import PARAMETERIZATIONS, Dense, Residual

__all__ = ["Kernels", "Sequential", "FullyConnected", "check_inputs", "compute_dtype"]


class Kernels(NamedTuple):
    """The NNGP and NTK of the readout; an entry is None when it was not requested.

    Example:
        >>> import nngp_ntk as nk
        >>> k = nk.FullyConnected(depth=1).kernel(np.eye(3, dtype=np.float32))
        >>> k.nngp.shape, k.ntk.shape
        ((3, 3), (3, 3))
    """

    nngp: Any
    ntk: Any


# --- Inputs and dtypes -------------------------------------------------------------------------------

_warned_float64 = False


def _warn_float64_once() -> None:
    global _warned_float64
    if not _warned_float64:
        _warned_float64 = True
        _checks.warn("float64 inputs are computed in float32 because JAX's x64 mode is off: enable it "
                     "(jax.config.update('jax_enable_x64', True)) for float64 kernels, or pass "
                     "dtype=np.float32 to silence this warning", _checks.PrecisionWarning, stacklevel=4)


def _check_dtype(dtype: Any) -> np.dtype | None:
    """None, float32 or float64 (the last only with JAX's x64 mode on)."""
    if dtype is None:
        return None
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32, float64 or None, got {dtype!r}") from None
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32, float64 or None, got {dtype}")
    if dtype == np.float64 and not jax.config.jax_enable_x64:
        raise ValueError("dtype=float64 needs JAX's x64 mode: call jax.config.update('jax_enable_x64', True) "
                         "at startup (or set JAX_ENABLE_X64=1)")
    return dtype


def compute_dtype(*arrays: Any, dtype: Any = None) -> np.dtype:
    """The dtype kernels are computed in.

    ``dtype`` when given (float32 or float64); else float64 when every given input is float64 and
    JAX's x64 mode is on, else float32 (warning once when float64 inputs are narrowed).

    Args:
        *arrays: the inputs (None entries are skipped).
        dtype: an explicit float32 or float64, or None.

    Returns:
        The NumPy dtype.

    Raises:
        TypeError, ValueError: a dtype other than float32 or float64; float64 without x64 mode.

    Example:
        >>> compute_dtype(np.ones(2, np.float32)), compute_dtype(np.ones(2, np.float64), dtype=np.float32)
        (dtype('float32'), dtype('float32'))
    """
    explicit = _check_dtype(dtype)
    if explicit is not None:
        return explicit
    wide = all(np.dtype(a.dtype) == np.float64 for a in arrays if a is not None)
    if wide and jax.config.jax_enable_x64:
        return np.dtype(np.float64)
    if any(a is not None and np.dtype(a.dtype) == np.float64 for a in arrays):
        _warn_float64_once()
    return np.dtype(np.float32)


def check_inputs(x1: np.ndarray, x2: np.ndarray | None = None,
                 dtype: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate inputs (2-D, real, finite, same feature count) and cast them to the compute dtype.

    Args:
        x1: inputs, shape (N1, d).
        x2: inputs, shape (N2, d), or None.
        dtype: an explicit float32 or float64 (``compute_dtype``), or None.

    Returns:
        (x1, x2) as NumPy arrays of the compute dtype (x2 None when not given).

    Raises:
        TypeError: inputs that are not real numeric arrays.
        ValueError: inputs that are not 2-D, empty, not finite, or with different feature counts.

    Example:
        >>> x1, x2 = check_inputs([[1, 2], [3, 4]])
        >>> x1.dtype, x2
        (dtype('float32'), None)
    """
    checked = []
    for name, x in (("x1", x1), ("x2", x2)):
        if x is None:
            checked.append(None)
            continue
        x = np.asarray(x)
        _check_array(name, x)
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} contains NaN or inf values")
        checked.append(x)
    x1, x2 = checked
    _check_features(x1, x2)
    dtype = compute_dtype(x1, x2, dtype=dtype)
    return x1.astype(dtype, copy=False), None if x2 is None else x2.astype(dtype, copy=False)


def _check_array(name: str, x: Any) -> None:
    """Dtype and shape of an input (works on tracers)."""
    dtype = np.dtype(x.dtype)
    if dtype == object or not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)
                               or dtype == bool):
        raise TypeError(f"{name} must be a real numeric array, got dtype {dtype}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_points, n_features), got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must have at least one point and one feature, got shape {x.shape}")


def _check_features(x1: Any, x2: Any) -> None:
    if x2 is not None and x2.shape[1] != x1.shape[1]:
        raise ValueError(f"x1 and x2 must have the same number of features, got {x1.shape[1]} and {x2.shape[1]}")


# --- Networks ---------------------------------------------------------------------------------------

def _walk_activations(layers: Sequence, start: int = 0) -> list[tuple[int, tuple[int, ...], Activation]]:
    """(input position, path of indices, activation) of every activation, in position order."""
    found = []
    position = start
    for index, layer in enumerate(layers):
        if isinstance(layer, Residual):
            found.extend((p, (index,) + path, a) for p, path, a in _walk_activations(layer.layers, position))
            position += _count_positions(layer.layers) + 1
        else:
            if isinstance(layer, Activation):
                found.append((position, (index,), layer))
            position += 1
    return found


def _count_positions(layers: Sequence) -> int:
    return sum(_count_positions(layer.layers) + 1 if isinstance(layer, Residual) else 1 for layer in layers)


def _replace(layers: tuple, path: tuple[int, ...], new: Any) -> tuple:
    index = path[0]
    if len(path) == 1:
        return layers[:index] + (new,) + layers[index + 1:]
    rebuilt = object.__new__(Residual)
    rebuilt.layers = _replace(layers[index].layers, path[1:], new)
    return layers[:index] + (rebuilt,) + layers[index + 1:]


def _needs_degree(activation: Activation) -> bool:
    return activation.uses_quadrature and getattr(activation, "degree", 0) is None


class _Network:
    """The methods every network shares: ``kernel``, ``kernel_fn`` and ``diagonal``."""

    def sequence(self) -> tuple:
        """The checked layer list."""
        raise NotImplementedError

    def _uses_quadrature(self, layers: Sequence) -> bool:
        return any(a.uses_quadrature for _, _, a in _walk_activations(layers))

    def _tile_size(self, layers: Sequence, out_of_core: bool) -> int:
        """Rows and columns of a tile: 1024 in memory (a tile's state stays near the caches),
        4096 out of core (the lower triangle is written as transposed tiles, one segment of
        tile_size entries per row: 16 KiB segments write at disk speed, 4 KiB ones measured 3x
        slower), 128 for quadrature activations (degree^2 evaluations per entry)."""
        tile_size = getattr(self, "tile_size", None)
        if tile_size is not None:
            return int(tile_size)
        if self._uses_quadrature(layers):
            return 128
        return 4096 if out_of_core else 1024

    def _resolved(self, xs: Sequence[np.ndarray], dtype: np.dtype, with_ntk: bool = False
                  ) -> tuple[tuple, programs.Plan, list[np.ndarray], list[np.ndarray] | None]:
        """(layers with every activation resolved for its largest input variance, their plan,
        the per-point variances of each input, and Theta(x, x) of each when ``with_ntk``).

        One compiled diagonal pass per input unless an activation changes when resolved (a
        quadrature degree), which needs the variances first."""
        layers = self.sequence()
        d = xs[0].shape[1]
        early = with_ntk and not any(_needs_degree(a) for _, _, a in _walk_activations(layers))

        def diagonal_passes(compiled: programs.Plan, ntk: bool) -> list[tuple[np.ndarray, np.ndarray | None]]:
            results = []
            for x in xs:
                results.append(passes.variances_at_every_position(compiled.ops, compiled.params, x, ntk))
            return results

        compiled = programs.plan(layers, d, dtype)
        results = diagonal_passes(compiled, early)
        changed = False
        for position, path, activation in _walk_activations(layers):
            largest = max(float(np.max(v[:, position])) for v, _ in results)
            try:
                resolved = activation.resolve(largest, dtype)
            except ValueError as error:
                where = "layer " + ".".join(map(str, path))
                raise ValueError(f"{where} ({type(activation).__name__}): {error}") from None
            if resolved is not activation:
                layers, changed = _replace(layers, path, resolved), True
        if changed:
            compiled = programs.plan(layers, d, dtype)
        if changed or with_ntk != early:
            results = diagonal_passes(compiled, with_ntk)
        return layers, compiled, [v for v, _ in results], [t for _, t in results] if with_ntk else None

    def _check_finite(self, variances: np.ndarray, theta: np.ndarray | None) -> None:
        """Refuse a kernel that overflows the dtype; warn when it underflows to zero (e.g. ReLU with
        W_std = 1, b_std = 0 at large depth)."""
        dtype = variances.dtype
        if not np.all(np.isfinite(variances)) or (theta is not None and not np.all(np.isfinite(theta))):
            raise ValueError(f"the kernel overflows {dtype} for these inputs (or an activation's expectation "
                             "diverges): use smaller W_std (or width), or float64 inputs with jax x64 enabled")
        vanished = (variances[:, -1] < np.finfo(dtype).tiny) & (variances[:, 0] > 0)
        if np.any(vanished):
            _checks.warn(f"the NNGP of {int(vanished.sum())} input(s) underflows {dtype} after "
                         f"{variances.shape[1] - 1} layers (the kernel shrinks by W_std^2 E[phi^2]/K a layer): "
                         "increase W_std or b_std (ReLU's critical W_std is sqrt(2)), or use float64",
                         RuntimeWarning, stacklevel=4)

    def kernel(self, x1: np.ndarray, x2: np.ndarray | None = None,
               get: str | Sequence[str] = KERNEL_NAMES, out: str | os.PathLike | None = None,
               progress: bool | None = None, dtype: Any = None) -> Kernels | np.ndarray:
        """NNGP and/or NTK between the rows of x1 and x2 (x2=None means x1).

        K(x1, x1) is computed on upper-triangular tiles only; tiles are sharded over the local JAX
        devices. ``out="folder/"`` writes ``nngp.npy`` / ``ntk.npy`` tile by tile (memory stays
        bounded) and returns read-only memory maps; a killed run resumes when called again with the
        same arguments. With several JAX processes (one per host, after ``jax.distributed.initialize``)
        ``out`` is required, on a filesystem they all share: they split the tiles and each returns the
        whole kernel.

        Args:
            x1: inputs, shape (N1, d).
            x2: inputs, shape (N2, d), or None for x1.
            get: "nngp", "ntk" (then a single array is returned) or a sequence of them.
            out: a folder for the out-of-core store, or None to compute in memory.
            progress: show a progress bar (None: for jobs of 16 tiles or more, on a terminal).
            dtype: float32 or float64 (None: float64 for float64 inputs with JAX's x64 mode on, else
                float32).

        Returns:
            An (N1, N2) array for a single name, else ``Kernels``; memory maps with ``out``.

        Raises:
            TypeError, ValueError: bad inputs, ``get`` or ``dtype``; a kernel that overflows the dtype;
                a result larger than the memory without ``out``; an ``out`` folder holding something
                else or locked by another process; several JAX processes without ``out``.

        Example:
            >>> import tempfile, nngp_ntk as nk
            >>> net = nk.FullyConnected(depth=2)
            >>> x = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], np.float32)
            >>> theta = net.kernel(x, x[:2], get="ntk")
            >>> theta.shape
            (3, 2)
            >>> stored = net.kernel(x, out=tempfile.mkdtemp())
            >>> type(stored.ntk).__name__, bool(np.allclose(stored.ntk[:, :2], theta))
            ('memmap', True)
        """
        names = check_kernel_names(get)
        x1, x2 = check_inputs(x1, x2, dtype=dtype)
        dtype = x1.dtype
        xs = [x for x in (x1, x2) if x is not None]
        # Small jobs compute both kernels whatever ``get`` is: one compiled program serves them all.
        computed = KERNEL_NAMES if out is None and max(len(x) for x in xs) < tiling.SMALL_TILE else names
        layers, compiled, variances, thetas = self._resolved(xs, dtype, "ntk" in computed)
        for v, theta in zip(variances, thetas or [None] * len(xs)):
            self._check_finite(v, theta if "ntk" in names else None)
        rows = (x1, variances[0])
        cols = None if x2 is None else (x2, variances[1])
        tile_size = self._tile_size(layers, out is not None)
        key = "" if out is None else tiling.fingerprint(x1, "symmetric" if x2 is None else x2, layers, names,
                                                        tile_size)
        tile_fn = functools.partial(passes.tiles, compiled.ops, computed, compiled.params, np.int32(0))
        evaluated = dict(zip(computed, tiling.evaluate(tile_fn, rows, cols, computed, tile_size, dtype, out=out,
                                                       key=key, progress=progress)))
        results = {name: evaluated[name] for name in names}
        if isinstance(get, str):
            return results[get]
        return Kernels(results.get("nngp"), results.get("ntk"))

    def diagonal(self, x: np.ndarray, get: str | Sequence[str] = KERNEL_NAMES, dtype: Any = None) -> Kernels | np.ndarray:
        """K(x_i, x_i) and/or Theta(x_i, x_i) for every row, in O(N) memory.

        Args:
            x: inputs, shape (N, d).
            get: "nngp", "ntk" or a sequence of them.
            dtype: float32 or float64, as in ``kernel``.

        Returns:
            An (N,) array for a single name, else ``Kernels`` of (N,) arrays.

        Raises:
            TypeError, ValueError: as ``kernel``.

        Example:
            >>> import nngp_ntk as nk
            >>> net = nk.FullyConnected(depth=2)
            >>> x = np.array([[1.0, 0.0], [0.6, 0.8]], np.float32)
            >>> bool(np.allclose(net.diagonal(x, get="nngp"), np.diag(net.kernel(x, get="nngp"))))
            True
        """
        names = check_kernel_names(get)
        x, _ = check_inputs(x, dtype=dtype)
        _, compiled, (variances,), thetas = self._resolved([x], x.dtype, "ntk" in names)
        theta = None if thetas is None else thetas[0]
        self._check_finite(variances, theta)
        results = {"nngp": variances[:, -1], "ntk": theta}
        if isinstance(get, str):
            return results[get]
        return Kernels(*(results[n] if n in names else None for n in KERNEL_NAMES))

    def kernel_fn(self, x1: Any, x2: Any = None, get: str | Sequence[str] = KERNEL_NAMES,
                  dtype: Any = None) -> Kernels | jax.Array:
        """The NNGP and/or NTK between the rows of x1 and x2 (x2=None: x1) as a pure JAX function.

        The same recursion as ``kernel`` (see the module docstring), traced: it works under
        ``jax.jit``, ``jax.vmap`` and ``jax.grad`` with respect to the inputs and the network's
        leaves (W_std, b_std, activation parameters). On K(x, x) the entries of a point with itself
        follow the per-point variances, so gradients stay finite on the diagonal.

        Args:
            x1: inputs (N1, d), a NumPy or JAX array (traced values allowed).
            x2: inputs (N2, d), or None for x1.
            get: "nngp", "ntk" or a sequence of them.
            dtype: float32 or float64 (None: the inputs' floating dtype, float32 for integers).

        Returns:
            A (N1, N2) JAX array for a single name, else ``Kernels`` of JAX arrays.

        Raises:
            ValueError: bad shapes or ``get``; a quadrature activation without ``degree`` when
                the inputs or hyperparameters are traced (give ``degree=`` or ``resolve`` it);
                concrete inputs whose kernel is not finite.

        Example:
            >>> import jax, jax.numpy as jnp, nngp_ntk as nk
            >>> net = nk.Sequential(nk.Dense(W_std=1.5), nk.activations.ReLU(), nk.Dense())
            >>> x = jnp.ones((3, 2))
            >>> net.kernel_fn(x, get="nngp").shape
            (3, 3)
            >>> g = jax.grad(lambda n: n.kernel_fn(x, get="ntk").sum())(net)
            >>> type(g).__name__
            'Sequential'
        """
        names = check_kernel_names(get)
        arrays = []
        for name, x in (("x1", x1), ("x2", x2)):
            if x is None:
                arrays.append(None)
                continue
            if not hasattr(x, "dtype"):
                x = np.asarray(x)
            _check_array(name, x)
            arrays.append(x)
        x1, x2 = arrays
        _check_features(x1, x2)
        compute = compute_dtype(x1, x2, dtype=dtype)
        x1 = jnp.asarray(x1, compute)
        x2 = None if x2 is None else jnp.asarray(x2, compute)
        layers = self.sequence()
        concrete = not _checks.inside_jit() and all(
            _checks.is_concrete(leaf) for leaf in jax.tree_util.tree_leaves((layers, x1, x2)))
        if concrete:
            x1_host = np.asarray(x1)
            for name, x in (("x1", x1_host), ("x2", None if x2 is None else np.asarray(x2))):
                if x is not None and not np.all(np.isfinite(x)):
                    raise ValueError(f"{name} contains NaN or inf values")
            layers = self._resolved([np.asarray(x) for x in (x1, x2) if x is not None], compute)[0]
        else:
            for _, path, activation in _walk_activations(layers):
                if _needs_degree(activation):
                    raise ValueError(f"layer {'.'.join(map(str, path))} ({type(activation).__name__}) uses quadrature "
                                     "with degree=None, which needs concrete inputs: inside jit/vmap/grad "
                                     "give degree= or use activation.resolve(max_variance)")
        compiled = programs.plan(layers, x1.shape[1], compute)
        results = passes.kernel_fn_pass(compiled.ops, names, compiled.params, x1, x2, passes.FN_BLOCK)
        if concrete and not all(bool(jnp.all(jnp.isfinite(r))) for r in results):
            raise ValueError(f"the kernel overflows {compute} for these inputs (or an activation's expectation "
                             "diverges): use smaller W_std (or width), or float64 with jax x64 enabled")
        if isinstance(get, str):
            return results[0]
        return Kernels(*(results[names.index(n)] if n in names else None for n in KERNEL_NAMES))


@jax.tree_util.register_pytree_with_keys_class
class Sequential(_Network):
    """A network of layers applied in order: ``Dense``, ``LayerNorm``, ``Residual`` and any
    ``nngp_ntk.activations`` instance (see ``nngp_ntk.layers`` for what each does to the kernels).

    A pytree whose leaves are the numeric hyperparameters (W_std, b_std, activation parameters):
    ``jax.grad`` with respect to a network returns a network of gradients.

    Args:
        *layers: one or more layers; a ``Sequential`` among them is spliced in.
        tile_size: rows and columns of an output tile of ``kernel`` (default: chosen for the
            activations).

    Raises:
        ValueError: no layers, an activation or LayerNorm whose input is not Gaussian (before any
            Dense, or two activations in a row), a standard-parameterization Dense without a known
            input width (named by position).
        TypeError: an element that is not a layer.

    Example:
        >>> import numpy as np, nngp_ntk as nk
        >>> net = nk.Sequential(nk.Dense(W_std=1.5, b_std=0.1), nk.LayerNorm(), nk.activations.ReLU(),
        ...                     nk.Residual(nk.Dense(W_std=1.4), nk.activations.Erf()),
        ...                     nk.Dense(W_std=1.0, b_std=None))
        >>> net.kernel(np.ones((4, 3), np.float32)).ntk.shape
        (4, 4)
    """

    def __init__(self, *layers: Any, tile_size: int | None = None) -> None:
        spliced = []
        for layer in layers:
            spliced.extend(layer.layers if isinstance(layer, Sequential) else (layer,))
        self.layers = tuple(spliced)
        _layers.check_layers(self.layers)
        self.tile_size = _checks.check_integer("tile_size", tile_size, minimum=1, allow_none=True)

    def sequence(self) -> tuple:
        """The layer list.

        Returns:
            The layers, a tuple.
        """
        return self.layers

    def __repr__(self) -> str:
        return f"Sequential({', '.join(map(repr, self.layers))})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.layers == self.layers

    def __hash__(self) -> int:
        return hash((type(self), self.layers))

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> Any:
        return self.layers[index]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The numeric hyperparameters by scikit-learn name: ``layers__<i>__W_std``, and into a
        Residual's block ``layers__<i>__layers__<j>__b_std`` (so that ``GridSearchCV`` can search
        ``net__layers__0__W_std`` of an estimator).

        Args:
            deep: unused (scikit-learn's signature).

        Returns:
            A dict from names to values.

        Example:
            >>> import nngp_ntk as nk
            >>> nk.Sequential(nk.Dense(W_std=1.5), nk.activations.Erf(), nk.Dense()).get_params()["layers__0__W_std"]
            1.5
        """
        leaves = jax.tree_util.tree_flatten_with_path(self)[0]
        return {_sklearn_name(path): value for path, value in leaves}

    def set_params(self, **params: Any) -> Sequential:
        """Set hyperparameters named as in ``get_params``, in place (scikit-learn convention).

        Returns:
            self.

        Raises:
            ValueError: an unknown name, or a value the layer refuses (nothing is changed then).
        """
        leaves, treedef = jax.tree_util.tree_flatten_with_path(self)
        names = [_sklearn_name(path) for path, _ in leaves]
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ValueError(f"invalid parameter(s) {unknown} for Sequential; valid: {names}")
        values = [params.get(name, value) for name, (_, value) in zip(names, leaves)]
        rebuilt = jax.tree_util.tree_unflatten(treedef, values)
        self.layers = Sequential(*map(_layers.revalidated, rebuilt.layers), tile_size=self.tile_size).layers
        return self

    def __sklearn_clone__(self) -> Sequential:
        """A copy for ``sklearn.base.clone`` (the layers are immutable)."""
        return Sequential(*self.layers, tile_size=self.tile_size)

    def tree_flatten_with_keys(self) -> tuple[list, tuple]:
        children, aux = _pytrees.flatten_layers_with_keys(self.layers)
        return children, (aux, self.tile_size)

    @classmethod
    def tree_unflatten(cls, aux: tuple, children: Sequence) -> Sequential:
        network = object.__new__(cls)
        network.layers = _pytrees.unflatten_layers(aux[0], children)
        network.tile_size = aux[1]
        return network


class _Spec(NamedTuple):
    """FullyConnected's arguments in normal form (used by ``finite`` and ``scaling``)."""

    depth: int
    activation: Activation
    W_std: tuple[float, ...]
    b_std: tuple[float, ...]
    parameterization: str
    width: float


def _per_layer(name: str, value: Any, depth: int) -> tuple:
    """A scalar or a sequence of length depth + 1, as a tuple of non-negative numbers (tracers kept)."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a number or a sequence of numbers, got {type(value).__name__}")
    if isinstance(value, (Sequence, np.ndarray)) or (hasattr(value, "ndim") and value.ndim == 1):
        values = tuple(value[i] for i in range(len(value))) if not isinstance(value, np.ndarray) \
            else tuple(value.reshape(-1).tolist())
        if len(values) != depth + 1:
            raise ValueError(f"{name} must be a number or a sequence of depth + 1 = {depth + 1} "
                             f"per-layer values, got {len(values)} values")
    else:
        values = (value,) * (depth + 1)
    return tuple(_checks.check_real(name, v, minimum=0.0) for v in values)


@jax.tree_util.register_pytree_with_keys_class
@dataclasses.dataclass
class FullyConnected(_Network):
    """An infinitely wide fully-connected network: ``depth`` hidden [Dense, activation] layers and a Dense readout.

    That is ``Sequential(*[Dense, activation] * depth, Dense)`` (see ``layers()``), with the
    recursion of the module docstring.

    Args:
        depth: number of hidden layers (0: a linear model).
        activation: a name in ``nngp_ntk.activations.ACTIVATIONS`` or an ``Activation`` instance.
        W_std: weight standard deviation, a scalar or a per-layer sequence of length depth + 1 (the
            last is the readout's).
        b_std: bias standard deviation, likewise.
        parameterization: "ntk" (default) or "standard" (then ``width`` is the hidden width n).
        width: hidden width for the standard parameterization's NTK.
        tile_size: rows and columns of an output tile (default: chosen for the activation).

    Raises:
        ValueError: a negative depth, an unknown activation or parameterization, per-layer sequences
            of the wrong length, negative or non-finite standard deviations, or "standard" without
            ``width``.

    Example:
        >>> net = FullyConnected(depth=3, activation="relu", W_std=1.5, b_std=0.1)
        >>> x = np.array([[1.0, 0.0], [0.6, 0.8]], np.float32)
        >>> k = net.kernel(x)
        >>> k.ntk.shape, bool(np.allclose(k.nngp, k.nngp.T))
        ((2, 2), True)
        >>> [type(layer).__name__ for layer in net.layers()]
        ['Dense', 'ReLU', 'Dense', 'ReLU', 'Dense', 'ReLU', 'Dense']
    """

    depth: int = 1
    activation: str | Activation = "relu"
    W_std: float | Sequence[float] = 1.0
    b_std: float | Sequence[float] = 0.0
    parameterization: str = "ntk"
    width: int | None = None
    tile_size: int | None = None

    def __post_init__(self) -> None:
        self.sequence()

    def get_params(self, deep: bool = True) -> dict:
        """The constructor arguments (scikit-learn convention, so estimators can tune them).

        Args:
            deep: unused (scikit-learn's signature).

        Returns:
            A dict from argument names to values.
        """
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def set_params(self, **params) -> FullyConnected:
        """Set constructor arguments in place and validate them (scikit-learn convention).

        Args:
            **params: constructor arguments.

        Returns:
            self.

        Raises:
            ValueError: an unknown argument; the arguments are restored when the new ones are invalid.
        """
        valid = self.get_params()
        for key in params:
            if key not in valid:
                raise ValueError(f"invalid parameter {key!r} for FullyConnected; valid: {sorted(valid)}")
        previous = dict(valid)
        for key, value in params.items():
            setattr(self, key, value)
        try:
            self.sequence()
        except (TypeError, ValueError):
            for key, value in previous.items():
                setattr(self, key, value)
            raise
        return self

    def sequence(self) -> tuple:
        """Validate the arguments and return the layers ``[Dense, activation] * depth + [Dense]``.

        Returns:
            The layers, a tuple.

        Raises:
            ValueError: invalid arguments (see the class).
        """
        depth = self.depth
        if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
            raise ValueError(f"depth must be an integer >= 0, got {depth!r}")
        depth = int(depth)
        _checks.check_choice("parameterization", self.parameterization, PARAMETERIZATIONS)
        width = self.width
        if self.parameterization == "standard":
            if width is None:
                raise ValueError("parameterization='standard' needs width=n, the hidden layer width")
        if width is not None and (isinstance(width, bool) or not isinstance(width, numbers.Real) or not width > 0):
            raise ValueError(f"width must be a positive number{' or None' if self.parameterization == 'ntk' else ''}, "
                             f"got {width!r}")
        if self.tile_size is not None and (isinstance(self.tile_size, bool)
                                           or not isinstance(self.tile_size, (int, np.integer))
                                           or self.tile_size < 1):
            raise ValueError(f"tile_size must be a positive integer or None, got {self.tile_size!r}")
        activation = get_activation(self.activation)
        w_std = _per_layer("W_std", self.W_std, depth)
        b_std = _per_layer("b_std", self.b_std, depth)
        layers = []
        for layer in range(depth + 1):
            hidden = width if layer < depth else None
            layers.append(_dense(w_std[layer], b_std[layer], self.parameterization, hidden))
            if layer < depth:
                layers.append(activation)
        return tuple(layers)

    def spec(self) -> _Spec:
        """The validated arguments in normal form (per-layer W_std and b_std tuples).

        Returns:
            A hashable named tuple (depth, activation, W_std, b_std, parameterization, width).
        """
        layers = self.sequence()
        dense = [layer for layer in layers if isinstance(layer, Dense)]
        return _Spec(int(self.depth), get_activation(self.activation), tuple(layer.W_std for layer in dense),
                     tuple(layer.b_std for layer in dense), self.parameterization,
                     0.0 if self.width is None else float(self.width))

    def layers(self) -> Sequential:
        """The ``Sequential`` this network stands for.

        Returns:
            ``Sequential(*self.sequence())``.
        """
        return Sequential(*self.sequence())

    def tree_flatten_with_keys(self) -> tuple[tuple, tuple]:
        activation = get_activation(self.activation)
        _, static = _pytrees.static_or_tree(activation)
        child = activation if static[0] == "tree" else None
        return (((_pytrees.key("W_std"), self.W_std), (_pytrees.key("b_std"), self.b_std),
                 (_pytrees.key("activation"), child)),
                (self.depth, static, self.parameterization, self.width, self.tile_size))

    @classmethod
    def tree_unflatten(cls, aux: tuple, children: Sequence) -> FullyConnected:
        depth, static, parameterization, width, tile_size = aux
        network = object.__new__(cls)
        network.depth, network.parameterization, network.width, network.tile_size = depth, parameterization, width, tile_size
        network.W_std, network.b_std = children[0], children[1]
        network.activation = children[2] if static[0] == "tree" else static[1]
        return network


def _dense(w_std: Any, b_std: Any, parameterization: str, width: Any) -> Dense:
    """A Dense of FullyConnected (width may be a float there: it only scales the standard NTK)."""
    layer = _pytrees.unchecked(Dense, W_std=w_std, b_std=b_std, parameterization=parameterization, width=width)
    return layer


def _sklearn_name(path: tuple) -> str:
    """'layers[0].W_std' -> 'layers__0__W_std'."""
    name = jax.tree_util.keystr(path, simple=True, separator=".")
    return name.replace("[", "__").replace("]", "").replace(".", "__")


def check_network(net: Any, name: str = "net") -> _Network:
    """``net`` when it is an nngp_ntk network (``Sequential``, ``FullyConnected``), else TypeError.

    Example:
        >>> import nngp_ntk as nk
        >>> check_network(nk.FullyConnected(depth=1)).depth
        1
    """
    if not isinstance(net, _Network):
        raise TypeError(f"{name} must be an nngp_ntk network (nngp_ntk.Sequential or FullyConnected), "
                        f"got {type(net).__name__}")
    return net


#: Any network: the argument type of everything that takes one.
Network = Sequential | FullyConnected
