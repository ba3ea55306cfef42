"""Activations as JAX pytrees: numeric parameters are leaves, degrees and functions static; jit,
vmap and grad through the parameters (against central differences in float64)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nngp_ntk import activations as act

# (activation, its leaves in order)
WITH_PARAMETERS = [
    (act.ABReLU(a=-0.4, b=1.3), [-0.4, 1.3]),
    (act.LeakyReLU(negative_slope=0.2), [0.2]),
    (act.Erf(a=1.3, b=0.7, c=0.4), [1.3, 0.7, 0.4]),
    (act.Sin(a=1.2, b=0.8, c=0.3), [1.2, 0.8, 0.3]),
    (act.Cos(a=0.9, b=1.1, c=-0.2), [0.9, 1.1, -0.2]),
    (act.Gaussian(a=1.3, b=-0.7), [1.3, -0.7]),
    (act.Exp(a=0.8, b=0.6), [0.8, 0.6]),
    (act.Polynomial([0.3, -1.0, 0.5, 0.2]), [0.3, -1.0, 0.5, 0.2]),
]
WITHOUT_PARAMETERS = [act.ReLU(), act.Abs(), act.GELU(), act.Identity(), act.Sign(), act.Tanh(degree=16),
                      act.Custom(jnp.sin, degree=8), act.Monomial(3), act.RectifiedMonomial(2), act.Hermite(4)]
IDS = [type(a).__name__ for a, _ in WITH_PARAMETERS]

# Pairs (x, y) with rho in {1, -1, 0.6, 0} and unequal variances; K11 = K22 = K12 on the first entry.
K11 = np.array([0.7, 0.7, 1.2, 0.4, 1.5])
K22 = np.array([0.7, 0.7, 0.5, 0.9, 0.3])
K12 = np.array([0.7, -0.7, 0.6 * np.sqrt(0.6), 0.0, 0.2])


def _kernels(dtype=jnp.float64):
    return tuple(jnp.asarray(k, dtype) for k in (K11, K12, K22))


def test_leaves_are_the_numeric_parameters():
    for activation, leaves in WITH_PARAMETERS:
        assert jax.tree_util.tree_leaves(activation) == leaves, type(activation).__name__
        rebuilt = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(activation), leaves)
        assert rebuilt == activation
    for activation in WITHOUT_PARAMETERS:
        assert jax.tree_util.tree_leaves(activation) == [], type(activation).__name__
        assert jax.tree_util.tree_map(lambda x: x, activation) == activation


def test_static_fields_are_part_of_the_structure():
    assert jax.tree_util.tree_structure(act.Monomial(2)) != jax.tree_util.tree_structure(act.Monomial(3))
    assert jax.tree_util.tree_structure(act.Tanh(degree=16)) != jax.tree_util.tree_structure(act.Tanh())
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(act.Erf())[0]]
    assert paths == [".a", ".b", ".c"]


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("activation", [a for a, _ in WITH_PARAMETERS] + [
    pytest.param(a, marks=pytest.mark.slow) if isinstance(a, (act.Tanh, act.Custom)) else a for a in WITHOUT_PARAMETERS],
                         ids=IDS + [type(a).__name__ for a in WITHOUT_PARAMETERS])
def test_jit_with_the_activation_as_argument(activation):
    k = _kernels()
    traced = jax.jit(lambda a, *k: a.dual(*k))(activation, *k)
    for got, expected in zip(traced, activation.dual(*k), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-13, atol=1e-15)
    variance = jax.jit(lambda a, k: a.variance(k))(activation, k[0])
    np.testing.assert_allclose(np.asarray(variance), np.asarray(activation.variance(k[0])), rtol=1e-13)


def _loss(activation: act.Activation) -> jax.Array:
    nngp, derivative = activation.dual(*_kernels())
    weights = jnp.linspace(0.5, 1.5, len(K11))
    return jnp.sum(weights * nngp) + jnp.sum(weights[::-1] * derivative) + jnp.sum(activation.variance(_kernels()[0]))


@pytest.mark.slow
@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("activation, leaves", WITH_PARAMETERS, ids=IDS)
def test_grad_with_respect_to_parameters_matches_central_differences(activation, leaves):
    gradient = jax.tree_util.tree_leaves(jax.grad(_loss)(activation))
    structure = jax.tree_util.tree_structure(activation)
    step = 1e-6
    for i in range(len(leaves)):
        plus, minus = list(leaves), list(leaves)
        plus[i] += step
        minus[i] -= step
        difference = (_loss(jax.tree_util.tree_unflatten(structure, plus))
                      - _loss(jax.tree_util.tree_unflatten(structure, minus))) / (2 * step)
        name = type(activation).__name__
        assert gradient[i] == pytest.approx(float(difference), rel=1e-7, abs=1e-8), f"{name} leaf {i}"


@pytest.mark.slow
@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("activation, leaves", WITH_PARAMETERS, ids=IDS)
def test_vmap_over_parameters_in_the_constructor(activation, leaves):
    """The constructor takes tracers: vmap over a batch of parameters, each scaled by 0.9, 1, 1.1."""
    factors = jnp.asarray([0.9, 1.0, 1.1])

    def build(factor):
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(activation), [factor * x for x in leaves])

    def construct(factor):
        if isinstance(activation, act.Polynomial):
            return act.Polynomial([factor * x for x in leaves])
        names = [f.name for f in dataclasses.fields(activation) if not f.metadata.get("static")]
        return type(activation)(**{name: factor * x for name, x in zip(names, leaves, strict=True)})

    batched = jax.vmap(lambda f: construct(f).dual(*_kernels()))(factors)
    for j, factor in enumerate([0.9, 1.0, 1.1]):
        for got, expected in zip(batched, build(factor).dual(*_kernels()), strict=True):
            np.testing.assert_allclose(np.asarray(got[j]), np.asarray(expected), rtol=1e-13, atol=1e-15)


def test_constructor_checks_skip_tracers_but_not_values():
    jax.jit(lambda s: act.LeakyReLU(s).dual(*_kernels(jnp.float32))[0])(0.1)  # no error for a tracer
    with pytest.raises(ValueError, match="LeakyReLU.negative_slope"):
        act.LeakyReLU(float("nan"))
