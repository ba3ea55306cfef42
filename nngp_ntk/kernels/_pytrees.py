"""Pytree plumbing shared by the layers (``layers``) and the networks (``kernels``, ``fully_connected``).

A network's pytree leaves are only its numbers (W_std, b_std, activation parameters): layers
that are not registered pytrees (a user's hashable instance) travel in the static auxiliary data,
and every leaf carries a path such as ``layers[0].W_std`` (scikit-learn's nested parameter names
are built from it). Unflattening builds instances without running their checks, since JAX passes
gradients, tracers and placeholders through ``tree_unflatten``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

from nngp_ntk.activations._base import static_or_tree


def key(name: str) -> jax.tree_util.GetAttrKey:
    """The path entry of a named field, so that leaves read as ``layers[0].W_std``.

    Example:
        >>> key("W_std")
        GetAttrKey(name='W_std')
    """
    return jax.tree_util.GetAttrKey(name)


def flatten_layers_with_keys(layers: Sequence) -> tuple[list, tuple]:
    """(keyed children, aux data) of a layer list: child i is keyed ``layers[i]``; a layer that
    is not a registered pytree is a None child and goes to the (static) aux data.

    Example:
        >>> import nngp_ntk as nk
        >>> children, aux = flatten_layers_with_keys((nk.Dense(), nk.activations.ReLU()))
        >>> [jax.tree_util.keystr((path,)) for path, _ in children]
        ['.layers[0]', '.layers[1]']
    """
    children, aux = [], []
    for layer in layers:
        _, static = static_or_tree(layer)
        if static[0] == "instance":
            children.append(None)
            aux.append(static)
            continue
        children.append(layer)
        aux.append(None)
    return [(key(f"layers[{i}]"), child) for i, child in enumerate(children)], tuple(aux)


def unflatten_layers(aux: tuple, children: Sequence) -> tuple:
    """The layer tuple from ``flatten_layers_with_keys``'s aux data and (unkeyed) children.

    Example:
        >>> import nngp_ntk as nk
        >>> layers = (nk.Dense(), nk.activations.ReLU())
        >>> children, aux = flatten_layers_with_keys(layers)
        >>> unflatten_layers(aux, [child for _, child in children]) == layers
        True
    """
    return tuple(static[1] if static is not None else child for static, child in zip(aux, children))


def unchecked(cls: type, **fields: Any) -> Any:
    """An instance of a frozen dataclass without running its checks (pytree unflattening gets
    gradients, tracers and placeholders, which are not hyperparameters to validate).

    Example:
        >>> import nngp_ntk as nk
        >>> unchecked(nk.Dense, W_std=-1.0, b_std=None, parameterization="ntk", width=None).W_std
        -1.0
    """
    instance = object.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(instance, name, value)
    return instance
