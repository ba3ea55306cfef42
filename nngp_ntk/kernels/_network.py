"""Infinite-width NNGP and NTK of a network, compiled from its layer list.

A network is a list of layers (``nngp_ntk.kernels.Layer``: Dense, LayerNorm, Residual, activations)
acting on the kernels (K, Theta) of its current pre-activations, from

    K = x . x' / d,   Theta = 0      (d the input dimension, before the first Dense)

through each layer's map (see ``nngp_ntk.kernels.Layer``) to the kernels of the readout (neural-tangents
0.6.5 conventions). ``Sequential`` is any such list; ``FullyConnected``, the preset
``[Dense, phi] * depth + [Dense]``, lives in ``nngp_ntk.kernels._fully_connected`` (its recursion in closed
form there). Every network
has the methods of ``BaseNetwork``; the layer list compiles two ways:

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

import functools
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nngp_ntk import _checks
from nngp_ntk.kernels import _pytrees
from nngp_ntk.kernels import _forward_jacobian as forward_jacobian
from nngp_ntk.kernels._layer import check_layers
from nngp_ntk.kernels import _passes as passes
from nngp_ntk.kernels import _programs as programs
from nngp_ntk.kernels import _tile_store as tile_store
from nngp_ntk.kernels import _tiling as tiling
from nngp_ntk._checks import KERNEL_NAMES, ArgumentTypeError, ArgumentValueError, check_kernel_names
from nngp_ntk._inputs import check_array, check_features, check_inputs, compute_dtype


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


def _walk_layers(layers: Sequence, start: int = 0) -> list[tuple[int, tuple[int, ...], Any]]:
    """(input position, path of indices, layer) of every layer without sublayers (into the
    sublayers of the others, a Residual's block), in position order."""
    found = []
    position = start
    for index, layer in enumerate(layers):
        if layer.sublayers:
            found.extend((p, (index,) + path, inner) for p, path, inner in _walk_layers(layer.sublayers, position))
            position += _count_positions(layer.sublayers) + 1
        else:
            found.append((position, (index,), layer))
            position += 1
    return found


def _count_positions(layers: Sequence) -> int:
    """The positions (layer outputs) of ``layers``: 1 per layer, plus those of its sublayers."""
    return sum(_count_positions(layer.sublayers) + 1 for layer in layers)


def _replace(layers: tuple, path: tuple[int, ...], new: Any) -> tuple:
    index = path[0]
    if len(path) == 1:
        return layers[:index] + (new,) + layers[index + 1:]
    rebuilt = layers[index].with_sublayers(_replace(layers[index].sublayers, path[1:], new))
    return layers[:index] + (rebuilt,) + layers[index + 1:]


def _needs_degree(layer: Any) -> bool:
    return layer.uses_quadrature and getattr(layer, "degree", 0) is None


class BaseNetwork:
    """The methods every network shares: ``kernel``, ``kernel_fn`` and ``diagonal``.

    A subclass gives ``sequence()``, its checked layer list (and may have a ``tile_size``).
    """

    def sequence(self) -> tuple:
        """The checked layer list."""
        raise NotImplementedError

    def _uses_quadrature(self, layers: Sequence) -> bool:
        return any(layer.uses_quadrature for _, _, layer in _walk_layers(layers))

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
        """(layers with every layer resolved for its largest input variance (an activation's
        quadrature degree, or an error where its expectation overflows), their plan,
        the per-point variances of each input, and Theta(x, x) of each when ``with_ntk``).

        One compiled diagonal pass per input unless an activation changes when resolved (a
        quadrature degree), which needs the variances first."""
        layers = self.sequence()
        d = xs[0].shape[1]
        early = with_ntk and not any(_needs_degree(layer) for _, _, layer in _walk_layers(layers))

        def diagonal_passes(compiled: programs.Plan, ntk: bool) -> list[tuple[np.ndarray, np.ndarray | None]]:
            results = []
            for x in xs:
                results.append(passes.variances_at_every_position(compiled.ops, compiled.params, x, ntk))
            return results

        compiled = programs.plan(layers, d, dtype)
        results = diagonal_passes(compiled, early)
        changed = False
        for position, path, layer in _walk_layers(layers):
            largest = max(float(np.max(v[:, position])) for v, _ in results)
            try:
                resolved = layer.resolve(largest, dtype)
            except ValueError as error:
                where = "layer " + ".".join(map(str, path))
                raise ArgumentValueError(f"{where} ({type(layer).__name__}): {error}") from None
            if resolved is not layer:
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
            raise ArgumentValueError(f"the kernel overflows {dtype} for these inputs (or an activation's expectation "
                                     "diverges): use smaller W_std (or width), or float64 inputs with jax x64 enabled")
        vanished = (variances[:, -1] < np.finfo(dtype).tiny) & (variances[:, 0] > 0)
        if np.any(vanished):
            _checks.warn(f"the NNGP of {int(vanished.sum())} input(s) underflows {dtype} after "
                         f"{variances.shape[1] - 1} layers (the kernel shrinks by W_std^2 E[phi^2]/K a layer): "
                         "increase W_std or b_std (ReLU's critical W_std is sqrt(2)), or use float64",
                         RuntimeWarning)

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
        key = "" if out is None else tile_store.fingerprint(x1, "symmetric" if x2 is None else x2, layers, names,
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
        follow the per-point variances, so gradients stay finite on the diagonal. With respect to
        a few scalar hyperparameters (at most ``forward_jacobian.MAX_FORWARD_SCALARS`` perturbed,
        inputs fixed) derivatives are taken in forward mode, dK = sum_k dK/dtheta_k dtheta_k, and
        ``jax.grad`` contracts those columns; otherwise it runs the transposed recursion.

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
            check_array(name, x)
            arrays.append(x)
        x1, x2 = arrays
        check_features(x1, x2)
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
                    raise ArgumentValueError(f"{name} contains NaN or inf values")
            layers = self._resolved([np.asarray(x) for x in (x1, x2) if x is not None], compute)[0]
        else:
            for _, path, layer in _walk_layers(layers):
                if _needs_degree(layer):
                    raise ArgumentValueError(
                        f"layer {'.'.join(map(str, path))} ({type(layer).__name__}) uses quadrature "
                        "with degree=None, which needs concrete inputs: inside jit/vmap/grad "
                        "give degree= or use activation.resolve(max_variance)")
        leaves, treedef = jax.tree_util.tree_flatten(layers)

        def kernels(leaves: list, x1: jax.Array, x2: jax.Array | None) -> tuple[jax.Array, ...]:
            compiled = programs.plan(jax.tree_util.tree_unflatten(treedef, leaves), x1.shape[1], compute)
            return passes.kernel_fn_pass(compiled.ops, names, compiled.params, x1, x2, passes.FN_BLOCK)

        results = forward_jacobian.with_forward_jacobian(kernels, leaves, x1, x2)
        if concrete and not all(bool(jnp.all(jnp.isfinite(r))) for r in results):
            raise ArgumentValueError(f"the kernel overflows {compute} for these inputs (or an activation's expectation "
                                     "diverges): use smaller W_std (or width), or float64 with jax x64 enabled")
        if isinstance(get, str):
            return results[0]
        return Kernels(*(results[names.index(n)] if n in names else None for n in KERNEL_NAMES))


@jax.tree_util.register_pytree_with_keys_class
class Sequential(BaseNetwork):
    """A network of layers applied in order: ``Dense``, ``LayerNorm``, ``Residual`` and any
    ``nngp_ntk.activations`` instance (see ``nngp_ntk.kernels.Layer`` for what each does to the kernels).

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
        check_layers(self.layers)
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
            raise ArgumentValueError(f"invalid parameter(s) {unknown} for Sequential; valid: {names}")
        values = [params.get(name, value) for name, (_, value) in zip(names, leaves)]
        rebuilt = jax.tree_util.tree_unflatten(treedef, values)
        self.layers = Sequential(*(layer.revalidated() for layer in rebuilt.layers), tile_size=self.tile_size).layers
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


def _sklearn_name(path: tuple) -> str:
    """'layers[0].W_std' -> 'layers__0__W_std'."""
    name = jax.tree_util.keystr(path, simple=True, separator=".")
    return name.replace("[", "__").replace("]", "").replace(".", "__")


def check_network(net: Any, name: str = "net") -> BaseNetwork:
    """``net`` when it is an nngp_ntk network (``Sequential``, ``FullyConnected``), else TypeError.

    Example:
        >>> import nngp_ntk as nk
        >>> check_network(nk.FullyConnected(depth=1)).depth
        1
    """
    if not isinstance(net, BaseNetwork):
        raise ArgumentTypeError(f"{name} must be an nngp_ntk network (nngp_ntk.Sequential or FullyConnected), "
                                f"got {type(net).__name__}")
    return net


#: Any network (``Sequential``, ``FullyConnected``): the argument type of everything that takes one.
Network = BaseNetwork
