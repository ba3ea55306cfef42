"""The Gaussian-process evidence of a network's NNGP, and hyperparameters fitted by maximizing it.

An infinitely wide network with only its readout trained is the Gaussian process with covariance
K = NNGP. With observation noise of variance ``ridge``, A = K(X, X) + ridge I, and k output
columns Y = [y_1 .. y_k] (independent processes with the same kernel), the log evidence is

    log p(Y | X) = -1/2 tr(Y^T A^-1 Y) - k/2 log det A - N k/2 log(2 pi)

(Rasmussen & Williams, eq. 2.30). It is computed in JAX through ``net.kernel_fn``, so it is
differentiable with respect to the network's hyperparameters (the numeric leaves of its pytree:
W_std, b_std, activation parameters), the inputs and the ridge.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from nngp_ntk import _checks

#: Default bounds of fitted standard deviations (W_std, b_std) and of the ridge.
DEFAULT_STD_BOUNDS = (1e-3, 1e2)
DEFAULT_RIDGE_BOUNDS = (1e-8, 1e3)


def _check_network(net: Any) -> None:
    if not callable(getattr(net, "kernel_fn", None)):
        raise _checks.ArgumentTypeError(f"net must be an nngp_ntk network (with kernel_fn), got {type(net).__name__}")


def _targets(y: Any, n: int) -> jax.Array:
    """Y as an (N, k) array of the kernel's floating dtype."""
    y = jnp.asarray(y)
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise _checks.ArgumentValueError(
            f"y must have shape (N,) or (N, k) with N = {n} rows like x, got shape {y.shape}")
    return y.reshape(n, -1)


def log_marginal_likelihood(net: Any, x: Any, y: Any, ridge: float | jax.Array = 0.0) -> jax.Array:
    """The log evidence of targets y under the GP of ``net``'s NNGP with noise variance ``ridge``:

        log p(Y | X) = -1/2 tr(Y^T A^-1 Y) - k/2 log det A - N k/2 log(2 pi),   A = K(X, X) + ridge I

    Pure JAX: differentiable (``jax.grad``) with respect to ``net`` (a network of gradients), ``x``
    and ``ridge``, and usable under ``jit``.

    Args:
        net: an nngp_ntk network (``FullyConnected``, ``Sequential``).
        x: training inputs, shape (N, d).
        y: targets, shape (N,) or (N, k) (k independent output columns).
        ridge: the observation-noise variance added to the diagonal, >= 0.

    Returns:
        A scalar JAX array: the log evidence (summed over output columns).

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: bad shapes or a negative ridge.
        numpy.linalg.LinAlgError: A is not positive definite (called outside of a JAX transformation).

    Example:
        >>> import numpy as np, nngp_ntk as nk
        >>> x = np.linspace(-1, 1, 8).reshape(4, 2)
        >>> net = nk.FullyConnected(depth=1, W_std=1.5, b_std=0.1)
        >>> lml = nk.solver.log_marginal_likelihood(net, x, np.array([0.1, 0.2, -0.3, 0.4]), ridge=1e-2)
        >>> bool(np.isfinite(lml))
        True
    """
    _check_network(net)
    ridge = _checks.check_ridge(ridge)
    n = np.shape(x)[0] if np.ndim(x) == 2 else -1
    targets = _targets(y, n)
    kernel = net.kernel_fn(x, None, get="nngp")
    targets = targets.astype(kernel.dtype)
    matrix = kernel + ridge * jnp.eye(n, dtype=kernel.dtype)
    factor = jnp.linalg.cholesky(matrix)
    solved = jax.scipy.linalg.cho_solve((factor, True), targets)
    outputs = targets.shape[1]
    value = (-0.5 * jnp.sum(targets * solved) - outputs * jnp.sum(jnp.log(jnp.diagonal(factor)))
             - 0.5 * n * outputs * math.log(2 * math.pi))
    if _checks.is_concrete(value) and not np.isfinite(float(value)):
        raise np.linalg.LinAlgError("K(X, X) + ridge I is not positive definite in "
                                    f"{np.dtype(kernel.dtype).name} (duplicate points or ridge too small?): "
                                    "increase ridge, or use float64 (jax_enable_x64)")
    return value


def _leaf_name(path: tuple) -> str:
    """'layers[0].W_std'-style name of a pytree leaf path."""
    return jax.tree_util.keystr(path, simple=True, separator=".")


def _attribute(name: str) -> str:
    """The last attribute of a leaf name: 'b_std' for 'layers[2].b_std' and for 'b_std.1' (one entry of
    a per-layer sequence)."""
    parts = [part for part in re.split(r"[.\[\]]", name) if part and not part.isdigit()]
    return parts[-1] if parts else name


def _selected(path: tuple, names: Sequence[str]) -> bool:
    """True when the leaf's full name, or its attribute, is one of ``names``."""
    full = _leaf_name(path)
    return full in names or _attribute(full) in names


def _bounds_for(name: str, bounds: Mapping[str, tuple[float, float]], default: tuple[float, float]
                ) -> tuple[float, float]:
    low, high = bounds.get(name, bounds.get(_attribute(name), default))
    low, high = _checks.check_real(f"bounds[{name!r}][0]", low, positive=True), \
        _checks.check_real(f"bounds[{name!r}][1]", high, positive=True)
    if not low < high:
        raise _checks.ArgumentValueError(f"bounds[{name!r}] must be (low, high) with 0 < low < high, got {(low, high)}")
    return low, high


def fit_hyperparameters(net: Any, x: Any, y: Any, ridge: float = 1e-3,
                        fit: Sequence[str] = ("W_std", "b_std"), fit_ridge: bool = True,
                        bounds: Mapping[str, tuple[float, float]] | None = None,
                        maxiter: int = 200) -> tuple[Any, float]:
    """Hyperparameters of ``net`` (and the ridge) that maximize the GP evidence of (x, y):

        argmax over theta of  log p(Y | X; theta),   theta = (W_std, b_std, ..., ridge) > 0

    by L-BFGS-B (scipy) on the exact JAX gradient of ``log_marginal_likelihood``, computed in
    float64 whatever JAX's x64 setting (a float32 evidence is too coarse for its optimizer: it
    stops at poor optima). The variables optimized are

        log(theta)               for W_std, the ridge and activation parameters (scales),
        log(1 + b_std^2 / c)     for b_std,   c = mean(x^2) = the mean of x . x / d,

    each within the log (resp. log(1 + low^2 / c)) of its bounds. Only b_std^2 enters the kernel,
    added to W_std^2 times a variance of order c; log(b_std) would put b_std = 0 (the default of
    ``FullyConnected``) at the end of a plateau where the evidence's gradient vanishes like b_std^2,
    and the fit would never move it. log(1 + b_std^2 / c) is b_std^2 / c near 0, so the gradient
    there is c times that of the evidence in b_std^2, and log(b_std^2) for b_std^2 >> c. A value
    that starts below its lower bound (b_std = 0) starts at the bound.

    Args:
        net: an nngp_ntk network whose numeric hyperparameters are pytree leaves.
        x: training inputs (N, d).
        y: targets (N,) or (N, k).
        ridge: the observation-noise variance (its starting value when ``fit_ridge``).
        fit: which leaves to fit: a leaf's attribute name ("W_std", "b_std", "a", ...) selects it in
            every layer (and every entry of a per-layer sequence); a full path ("layers[0].W_std")
            selects one leaf.
        fit_ridge: fit the ridge too (else it stays fixed).
        bounds: (low, high) per name or path (and "ridge"), 0 < low < high; defaults DEFAULT_STD_BOUNDS
            for the network's leaves and DEFAULT_RIDGE_BOUNDS for the ridge.
        maxiter: the most L-BFGS-B iterations.

    Returns:
        (fitted_net, ridge): a network of the same structure with the fitted values (Python floats),
        and the ridge.

    Raises:
        TypeError, ValueError: bad arguments; ``fit`` selects no leaf; a selected value is negative.
        numpy.linalg.LinAlgError: the evidence is not finite at the starting point.

    Example:
        >>> import numpy as np, nngp_ntk as nk
        >>> rng = np.random.default_rng(0)
        >>> x = rng.standard_normal((20, 3)); y = np.sin(x[:, 0])
        >>> net, ridge = nk.solver.fit_hyperparameters(nk.FullyConnected(depth=1), x, y, maxiter=20)
        >>> bool(net.W_std > 0 and net.b_std > 0.01 and ridge > 0)
        True
    """
    _check_network(net)
    names = (fit,) if isinstance(fit, str) else tuple(fit)
    if not all(isinstance(n, str) for n in names):
        raise _checks.ArgumentTypeError(f"fit must be a leaf name or a sequence of leaf names, got {fit!r}")
    bounds = dict(bounds or {})
    maxiter = _checks.check_integer("maxiter", maxiter, minimum=1)
    ridge = _checks.check_ridge(ridge)
    x = _checks.check_points(x, "x")
    y = np.asarray(y, dtype=np.float64)
    second_moment = float(np.mean(x ** 2)) if x.size else 0.0
    scale = second_moment if np.isfinite(second_moment) and second_moment > 0 else 1.0
    leaves, treedef = jax.tree_util.tree_flatten_with_path(net)
    chosen = [i for i, (path, _) in enumerate(leaves) if _selected(path, names)]
    if not chosen and not fit_ridge:
        raise _checks.ArgumentValueError(f"fit={names!r} selects no hyperparameter of the network and fit_ridge=False; "
                                         f"its leaves are {[_leaf_name(p) for p, _ in leaves]}")
    values = [leaf for _, leaf in leaves]
    # Per optimized variable: c of the variable log(1 + theta^2 / c) (b_std), or None for log(theta).
    shifts: list[float | None] = []
    start, limits = [], []
    for i in chosen:
        name = _leaf_name(leaves[i][0])
        value = float(np.asarray(values[i]))
        if not value >= 0:
            raise _checks.ArgumentValueError(f"{name} = {value} cannot be fitted as a positive hyperparameter")
        low, high = _bounds_for(name, bounds, DEFAULT_STD_BOUNDS)
        shifts.append(scale if _attribute(name) == "b_std" else None)
        start.append(min(max(value, low), high))
        limits.append((low, high))
    if fit_ridge:
        low, high = _bounds_for("ridge", bounds, DEFAULT_RIDGE_BOUNDS)
        shifts.append(None)
        start.append(min(max(ridge, low), high))
        limits.append((low, high))

    def to_variable(value: float, shift: float | None) -> float:
        return math.log(value) if shift is None else math.log1p(value ** 2 / shift)

    def from_variable(variable: jax.Array, shift: float | None) -> jax.Array:
        return jnp.exp(variable) if shift is None else jnp.sqrt(shift * jnp.expm1(variable))

    def rebuild(variables: jax.Array) -> tuple[Any, jax.Array]:
        theta = [from_variable(variables[k], shift) for k, shift in enumerate(shifts)]
        new = list(values)
        for k, i in enumerate(chosen):
            new[i] = theta[k]
        return jax.tree_util.tree_unflatten(treedef, new), theta[-1] if fit_ridge else ridge

    with jax.enable_x64(True):
        inputs, targets = jnp.asarray(x), jnp.asarray(y)
        size = float(np.size(y))

        @jax.jit
        def objective(variables: jax.Array) -> tuple[jax.Array, jax.Array]:
            def loss(variables: jax.Array) -> jax.Array:
                network, noise = rebuild(variables)
                return -log_marginal_likelihood(network, inputs, targets, noise) / size
            return jax.value_and_grad(loss)(variables)

        def scipy_objective(variables: np.ndarray) -> tuple[float, np.ndarray]:
            value, gradient = objective(jnp.asarray(variables, dtype=jnp.float64))
            value, gradient = float(value), np.asarray(gradient, dtype=np.float64)
            if not (np.isfinite(value) and np.all(np.isfinite(gradient))):
                return np.inf, np.zeros_like(variables)
            return value, gradient

        initial = np.array([to_variable(v, c) for v, c in zip(start, shifts)], dtype=np.float64)
        first, _ = scipy_objective(initial)
        if not np.isfinite(first):
            raise np.linalg.LinAlgError("the evidence is not finite at the starting hyperparameters "
                                        "(K + ridge I not positive definite?): start from a larger ridge")
        variable_bounds = [(to_variable(low, c), to_variable(high, c)) for (low, high), c in zip(limits, shifts)]
        result = scipy.optimize.minimize(scipy_objective, initial, jac=True, method="L-BFGS-B",
                                         bounds=variable_bounds, options={"maxiter": maxiter})
        fitted = [float(from_variable(jnp.float64(v), c)) for v, c in zip(result.x, shifts)]
    new = list(values)
    for k, i in enumerate(chosen):
        new[i] = fitted[k]
    return jax.tree_util.tree_unflatten(treedef, new), fitted[-1] if fit_ridge else ridge
