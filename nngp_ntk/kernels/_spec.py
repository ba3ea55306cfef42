"""Layer lists from plain data (configs, reference files): ``from_spec``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


from nngp_ntk._checks import ArgumentTypeError, ArgumentValueError
from nngp_ntk.activations import Activation

from nngp_ntk.kernels._dense import Dense
from nngp_ntk.kernels._layernorm import LayerNorm
from nngp_ntk.kernels._residual import Residual


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
        raise ArgumentTypeError(f"{where} must be a list of layer tables, got {type(spec).__name__}")
    activation_classes = _activation_classes()
    layers = []
    for index, entry in enumerate(spec):
        at = f"{where}[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("layer"), str):
            raise ArgumentTypeError(f"{at} must be a table with a 'layer' name, got {entry!r}")
        kind = _normalized(entry["layer"])
        arguments = {key: value for key, value in entry.items() if key != "layer"}
        try:
            if kind == "dense":
                unknown = sorted(set(arguments) - set(_DENSE_KEYS))
                if unknown:
                    raise ArgumentValueError(
                        f"unknown argument(s) {unknown} of a dense layer; valid: {list(_DENSE_KEYS)}")
                if arguments.pop("bias", True) is False:
                    if "b_std" in arguments:
                        raise ArgumentValueError("give b_std or bias = false, not both")
                    arguments["b_std"] = None
                layers.append(Dense(**arguments))
            elif kind == "layernorm":
                layers.append(LayerNorm(**arguments))
            elif kind == "residual":
                unknown = sorted(set(arguments) - {"block"})
                if unknown or "block" not in arguments:
                    raise ArgumentValueError("a residual layer takes one argument, block (a list of layer tables)")
                layers.append(Residual(*from_spec(arguments["block"], f"{at}.block")))
            elif kind in activation_classes:
                layers.append(activation_classes[kind](**arguments))
            else:
                raise ArgumentValueError(f"unknown layer {entry['layer']!r}; valid: dense, layernorm, residual, "
                                         f"{', '.join(sorted(activation_classes))}")
        except (TypeError, ValueError) as error:
            if str(error).startswith(f"{at}.block"):
                raise
            raise type(error)(f"{at}: {error}") from None
    return tuple(layers)
