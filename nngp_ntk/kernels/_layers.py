"""The layer algebra: layers acting on the kernels of a network's current pre-activations.

The state between two sets of points is (K11, K12, K22, Theta12): the per-point variances K(x, x),
K(x', x'), the NNGP K(x, x') and the NTK Theta(x, x'), plus (statically) whether the current
features are Gaussian and their width. With d the input dimension it starts at

    input:      K = x . x' / d,   Theta = 0,   not Gaussian,   width d

and every layer maps it (neural-tangents 0.6.5 conventions: ``stax.Dense``, the elementwise
layers, ``LayerNorm(axis=-1)``, ``FanOut(2)`` / ``FanInSum()``):

    Dense (ntk):       K <- W^2 K + b^2,         Theta <- K_new + W^2 Theta
    Dense (standard):  K <- W^2 K + b^2,         Theta <- n_in K + [b present] + W^2 Theta
    phi:               K <- E[phi(u) phi(v)],    Theta <- E[phi'(u) phi'(v)] Theta
    LayerNorm:         K <- K / sqrt((K11 + eps)(K22 + eps)),   Theta likewise
    Residual(block):   K <- K + K_block,         Theta <- Theta + Theta_block

with (u, v) ~ N(0, [[K11, K12], [K12, K22]]), n_in the width of the Dense's input (d for the
first) and ``b_std=None`` a Dense without bias (b = 0, and no +1 in the standard NTK). A Dense
makes the features Gaussian; an activation needs Gaussian input and its output is not Gaussian
(``Identity`` excepted); LayerNorm needs and keeps Gaussian features; a Residual needs one of its
branches to have zero mean, so that the cross terms vanish and the kernels add (``FanInSum``).

The layers are pytrees (W_std and b_std are leaves), so networks built from them can be
differentiated and vmapped over. ``nngp_ntk.kernels._programs`` compiles a layer list to a static program
and runs it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nngp_ntk import _checks, _fastmath
from nngp_ntk.kernels import _pytrees
from nngp_ntk.activations import Activation, Identity

Array = jax.Array
PARAMETERIZATIONS = ("ntk", "standard")


class Layer:
    """Base of the non-activation layers (every ``nngp_ntk.activations`` instance is a layer too)."""


def is_layer(value: Any) -> bool:
    """True for a ``Dense``, ``LayerNorm``, ``Residual`` or an activation instance.

    Args:
        value: anything.

    Returns:
        Whether it is a layer.

    Example:
        >>> import nngp_ntk as nk
        >>> is_layer(nk.Dense()), is_layer(nk.activations.ReLU()), is_layer("relu")
        (True, True, False)
    """
    return isinstance(value, (Layer, Activation))


def _layer_name(layer: Any) -> str:
    return type(layer).__name__


@jax.tree_util.register_pytree_with_keys_class
@dataclasses.dataclass(frozen=True)
class Dense(Layer):
    """A fully-connected layer, z = W a / sqrt(n_in) + b in neural-tangents' parameterizations:

    K <- W_std^2 K + b_std^2;  Theta <- K_new + W_std^2 Theta (ntk)
                                or n_in K + 1 + W_std^2 Theta (standard; no +1 when b_std is None).

    Args:
        W_std: weight standard deviation (>= 0).
        b_std: bias standard deviation (>= 0), or None for no bias parameter. In the standard
            parameterization a bias of std 0 still trains and adds 1 to the NTK; None does not.
        parameterization: "ntk" or "standard".
        width: this layer's output width (neural-tangents' ``Dense(out_dim)``); the standard
            parameterization of the next Dense scales its NTK by it, so it is needed there.

    Raises:
        ValueError: negative or non-finite stds, an unknown parameterization, a width < 1.

    Example:
        >>> import nngp_ntk as nk
        >>> nk.Dense(W_std=1.5, b_std=None)
        Dense(W_std=1.5, b_std=None, parameterization='ntk', width=None)
    """

    W_std: float = 1.0
    b_std: float | None = 0.0
    parameterization: str = "ntk"
    width: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "W_std", _checks.check_real("W_std", self.W_std, minimum=0.0))
        object.__setattr__(self, "b_std", _checks.check_real("b_std", self.b_std, minimum=0.0, allow_none=True))
        _checks.check_choice("parameterization", self.parameterization, PARAMETERIZATIONS)
        object.__setattr__(self, "width", _checks.check_integer("width", self.width, minimum=1, allow_none=True))

    def tree_flatten_with_keys(self) -> tuple[tuple, tuple]:
        return (((_pytrees.key("W_std"), self.W_std), (_pytrees.key("b_std"), self.b_std)),
                (self.parameterization, self.width))

    @classmethod
    def tree_unflatten(cls, aux: tuple, children: Sequence) -> Dense:
        return _pytrees.unchecked(cls, W_std=children[0], b_std=children[1], parameterization=aux[0], width=aux[1])


@jax.tree_util.register_pytree_with_keys_class
@dataclasses.dataclass(frozen=True)
class LayerNorm(Layer):
    """Normalizes each point's features (neural-tangents' ``LayerNorm(axis=-1)`` on Gaussian inputs):

    K12 <- K12 / sqrt((K11 + eps)(K22 + eps)),   Theta12 <- Theta12 / sqrt((K11 + eps)(K22 + eps)).

    Args:
        eps: added to the variances before the root (neural-tangents' default 1e-12); static,
            not a leaf of the pytree (it is not a hyperparameter to fit).

    Example:
        >>> import nngp_ntk as nk
        >>> nk.LayerNorm()
        LayerNorm(eps=1e-12)
    """

    eps: float = 1e-12

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", _checks.check_real("eps", self.eps, minimum=0.0))

    def tree_flatten_with_keys(self) -> tuple[tuple, float]:
        return (), self.eps

    @classmethod
    def tree_unflatten(cls, aux: float, children: Sequence) -> LayerNorm:
        return _pytrees.unchecked(cls, eps=aux)


@jax.tree_util.register_pytree_with_keys_class
class Residual(Layer):
    """y = x + block(x) (neural-tangents' ``FanOut(2)``, ``parallel(block, Identity())``,
    ``FanInSum()``): the kernels of the two branches add, K <- K + K_block, Theta <- Theta + Theta_block.

    The sum's kernel is the sum of the branches' kernels when the cross terms E[x block(x')]
    vanish, which holds when either branch has zero mean: the input is the output of a Dense (or
    LayerNorm), or the block ends with a Dense or with an odd activation of Gaussian
    pre-activations (Erf, Sin with c = 0, ...). A Residual where neither holds (ReLU features
    plus a block ending in ReLU) is refused, since its kernel is not the sum. The output is Gaussian
    when both branches are.

    Args:
        *layers: the block, one or more layers.

    Raises:
        ValueError: an empty block, or a layer that does not fit (named by position).
        TypeError: an element that is not a layer.

    Example:
        >>> import nngp_ntk as nk
        >>> block = nk.Residual(nk.activations.ReLU(), nk.Dense(W_std=0.5))
        >>> len(block.layers)
        2
    """

    def __init__(self, *layers: Any) -> None:
        self.layers = tuple(layers)
        check_layers(self.layers, gaussian=True, width=_OUTER_WIDTH, where="Residual")

    def __repr__(self) -> str:
        return f"Residual({', '.join(map(repr, self.layers))})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.layers == self.layers

    def __hash__(self) -> int:
        return hash((type(self), self.layers))

    def tree_flatten_with_keys(self) -> tuple[list, tuple]:
        return _pytrees.flatten_layers_with_keys(self.layers)

    @classmethod
    def tree_unflatten(cls, aux: tuple, children: Sequence) -> Residual:
        residual = object.__new__(cls)
        residual.layers = _pytrees.unflatten_layers(aux, children)
        return residual


def revalidated(layer: Any) -> Any:
    """``layer`` rebuilt through its constructor, so that its checks run on values that pytree
    unflattening (which skips them) put there.

    Example:
        >>> revalidated(Dense(W_std=1.5)).W_std
        1.5
    """
    if isinstance(layer, Dense):
        return Dense(layer.W_std, layer.b_std, layer.parameterization, layer.width)
    if isinstance(layer, Residual):
        return Residual(*(revalidated(inner) for inner in layer.layers))
    if isinstance(layer, Activation) and dataclasses.is_dataclass(layer):
        return dataclasses.replace(layer)
    return layer


# --- Validation ---------------------------------------------------------------------------------

#: The width of the network's input, known only when it is called.
INPUT_WIDTH = "input"
#: The input width of a Residual checked on its own (known once it is placed in a network).
_OUTER_WIDTH = "outer"


def _odd(activation: Activation) -> bool:
    """True when E[phi(u)] = 0 for centred Gaussian u of every variance (checked at variances 1/2
    and 2 by Gauss-Hermite quadrature); False when it cannot be evaluated (traced parameters)."""
    nodes, weights = _fastmath.hermite_nodes(64)
    try:
        for variance in (0.5, 2.0):
            values = np.asarray(activation(jnp.asarray(np.sqrt(variance) * nodes)), dtype=np.float64)
            if abs(weights @ values) > 1e-9 * np.sqrt(weights @ values**2) + 1e-300:
                return False
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError, TypeError):
        return False
    return True


def _zero_mean_output(layers: Sequence, zero_mean: bool) -> bool:
    """Whether the features after ``layers`` have zero mean over the random weights, given whether
    their input has: a Dense's output has, an activation's has when the activation is odd."""
    for layer in layers:
        if isinstance(layer, Dense):
            zero_mean = True
        elif isinstance(layer, Activation):
            zero_mean = _odd(layer)
        elif isinstance(layer, Residual):
            zero_mean = zero_mean and _zero_mean_output(layer.layers, zero_mean)
    return zero_mean


def check_layers(layers: Sequence, gaussian: bool = False, width: int | str | None = INPUT_WIDTH,
                 where: str = "Sequential") -> tuple[bool, int | str | None]:
    """Check a layer list as it acts on features that are (or not) ``gaussian`` with ``width``.

    Args:
        layers: the layer list.
        gaussian: whether the input features are Gaussian (the network input is not).
        width: the input width: an integer, None (unknown), or INPUT_WIDTH for the network input.
        where: the name of the list in messages (errors name the layer by its position in it).

    Returns:
        (whether the output is Gaussian, its width).

    Raises:
        ValueError: an empty list; an activation or LayerNorm whose input is not Gaussian; a
            Residual where neither branch has zero mean, or whose block changes the width;
            a standard-parameterization Dense whose input width is unknown.
        TypeError: an element that is not a layer.

    Example:
        >>> import nngp_ntk as nk
        >>> check_layers([nk.Dense(width=8), nk.activations.ReLU()])
        (False, 8)
        >>> check_layers([nk.activations.ReLU()])
        Traceback (most recent call last):
        ...
        ValueError: Sequential layer 0 (ReLU): an activation needs Gaussian pre-activations, but ...
    """
    if len(layers) == 0:
        raise ValueError(f"{where} needs at least one layer, got none")
    start_gaussian = gaussian
    dense_before = width != INPUT_WIDTH
    for index, layer in enumerate(layers):
        at = f"{where} layer {index} ({_layer_name(layer)})"
        if not is_layer(layer):
            raise TypeError(f"{where} layer {index} must be a layer (nngp_ntk.Dense, LayerNorm, Residual or an "
                            f"nngp_ntk.activations instance), got {type(layer).__name__} {layer!r}")
        if isinstance(layer, Dense):
            if layer.parameterization == "standard" and width is None:
                raise ValueError(f"{at}: the standard parameterization scales the NTK by the input width, "
                                 "but the previous Dense has width=None: give it width=n")
            gaussian, width, dense_before = True, layer.width, True
        elif isinstance(layer, Activation):
            if not gaussian:
                reason = ("it comes before any Dense (the inputs are not Gaussian)" if not dense_before
                          else "it follows an activation; put a Dense between them")
                raise ValueError(f"{at}: an activation needs Gaussian pre-activations, but {reason}")
            gaussian = isinstance(layer, Identity)
        elif isinstance(layer, LayerNorm):
            if not gaussian:
                raise ValueError(f"{at}: LayerNorm needs Gaussian inputs (after a Dense), but its input "
                                 + ("is the network input" if not dense_before else "follows an activation"))
        elif isinstance(layer, Residual):
            block_gaussian, block_width = check_layers(layer.layers, gaussian, width, f"{at} block")
            input_zero_mean = _zero_mean_output(layers[:index], start_gaussian)
            if not (input_zero_mean or _zero_mean_output(layer.layers, input_zero_mean)):
                raise ValueError(f"{at}: neither x nor block(x) has zero mean, so the kernel of x + block(x) "
                                 "is not the sum of theirs: end the block with a Dense (or an odd activation), "
                                 "or put a Dense before the Residual")
            gaussian = gaussian and block_gaussian
            if isinstance(width, int) and isinstance(block_width, int) and width != block_width:
                raise ValueError(f"{at}: the block maps width {width} to width {block_width}; "
                                 "x + block(x) needs equal widths")
            width = block_width if width is None or isinstance(width, str) and isinstance(block_width, int) \
                else width
    return gaussian, width


# --- Layer lists from plain data (configs, reference files) -------------------------------------

def _activation_classes() -> dict[str, type]:
    """Activation classes by normalized name (lower case, no underscores): relu, leakyrelu, erf, ..."""
    from nngp_ntk import activations

    classes = {}
    for name in activations.__all__:
        value = getattr(activations, name)
        if isinstance(value, type) and issubclass(value, Activation) and not getattr(value, "__abstractmethods__", ()):
            classes[name.lower()] = value
    classes.pop("custom", None)  # a Python function cannot be written in a config file
    return classes


def _normalized(name: str) -> str:
    return name.lower().replace("_", "")


_DENSE_KEYS = ("W_std", "b_std", "bias", "parameterization", "width")


def from_spec(spec: Sequence[Mapping[str, Any]], where: str = "layers") -> tuple:
    """Layers from plain data, as a TOML config or a JSON file writes them: a list of tables, each
    with a ``layer`` name and that layer's arguments:

        {layer = "dense", W_std = 1.5, b_std = 0.1, parameterization = "ntk", width = 512}
        {layer = "dense", bias = false}          # b_std = None: no bias parameter
        {layer = "layernorm"}
        {layer = "residual", block = [ ... ]}
        {layer = "erf", a = 1.0, b = 2.0}        # any activation by name: relu, leaky_relu,
                                                 # rectified_monomial, polynomial (coef = [...]) ...

    Args:
        spec: the list of tables.
        where: how errors name the list (e.g. "network.layers").

    Returns:
        The layers, a tuple (``Sequential(*from_spec(spec))`` is the network).

    Raises:
        TypeError, ValueError: an entry that is not a table, an unknown layer name or argument, or a
            value the layer refuses; the message names the entry, e.g. ``layers[2].block[0]``.

    Example:
        >>> import nngp_ntk as nk
        >>> nk.Sequential(*from_spec([{"layer": "dense", "W_std": 1.5}, {"layer": "relu"},
        ...                           {"layer": "dense", "bias": False}]))
        Sequential(Dense(W_std=1.5, b_std=0.0, parameterization='ntk', width=None), ReLU(a=0.0, b=1.0), Dense(W_std=1.0, b_std=None, parameterization='ntk', width=None))
    """
    if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence):
        raise TypeError(f"{where} must be a list of layer tables, got {type(spec).__name__}")
    activation_classes = _activation_classes()
    layers = []
    for index, entry in enumerate(spec):
        at = f"{where}[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("layer"), str):
            raise TypeError(f"{at} must be a table with a 'layer' name, got {entry!r}")
        kind = _normalized(entry["layer"])
        arguments = {key: value for key, value in entry.items() if key != "layer"}
        try:
            if kind == "dense":
                unknown = sorted(set(arguments) - set(_DENSE_KEYS))
                if unknown:
                    raise ValueError(f"unknown argument(s) {unknown} of a dense layer; valid: {list(_DENSE_KEYS)}")
                if arguments.pop("bias", True) is False:
                    if "b_std" in arguments:
                        raise ValueError("give b_std or bias = false, not both")
                    arguments["b_std"] = None
                layers.append(Dense(**arguments))
            elif kind == "layernorm":
                layers.append(LayerNorm(**arguments))
            elif kind == "residual":
                unknown = sorted(set(arguments) - {"block"})
                if unknown or "block" not in arguments:
                    raise ValueError("a residual layer takes one argument, block (a list of layer tables)")
                layers.append(Residual(*from_spec(arguments["block"], f"{at}.block")))
            elif kind in activation_classes:
                layers.append(activation_classes[kind](**arguments))
            else:
                raise ValueError(f"unknown layer {entry['layer']!r}; valid: dense, layernorm, residual, "
                                 f"{', '.join(sorted(activation_classes))}")
        except (TypeError, ValueError) as error:
            if str(error).startswith(f"{at}.block"):
                raise
            raise type(error)(f"{at}: {error}") from None
    return tuple(layers)
