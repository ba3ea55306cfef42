"""Measured L(P, n): one-pass SGD on random features, and the compute-optimal frontier of the grid.

``sgd_curve``: f(x) = phi(x) w / sqrt(P) on the width-P random hidden layer of a network, w = 0 at
the start, one pass of n samples at batch 1 under a geometric (or constant) step schedule; the
test loss of the last iterate for every (P, n) of a grid, mean over draws.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special

from nngp_ntk._checks import check_choice, check_integer, check_real, check_sizes
from nngp_ntk.spectrum._fits import PowerLawFit
from nngp_ntk.kernels._network import Network, check_network
from nngp_ntk.theory._sgd import (SCHEDULES, ComputeFrontier, GridExponents, check_step, compute_frontier, grid_fits,
                                  sgd_features, sgd_schedule)
from nngp_ntk.scaling._curves import CONFIDENCE, N_BOOTSTRAP, _held_out, _orders, _seeds, _targets



@dataclasses.dataclass(frozen=True)
class SgdCurve(GridExponents):
    """Measured test MSE of one-pass SGD on width-P random features: the mean ``losses`` over draws
    (len(widths), len(samples)), their standard ``errors`` and ``intervals`` (Student-t over draws,
    last axis (low, high)), the per-draw losses (draws, len(widths), len(samples)); ``fits_N``, one
    ``PowerLawFit`` of L ~ n^-alpha per width, ``fits_P`` one of L ~ P^-alpha per n (through the mean,
    interval bootstrap over draws); ``alpha_N`` at the largest width, ``alpha_P`` at the largest n;
    ``frontier``: the ``theory.ComputeFrontier`` of the mean losses."""

    widths: np.ndarray
    samples: np.ndarray
    losses: np.ndarray
    errors: np.ndarray
    intervals: np.ndarray
    repeat_losses: np.ndarray
    eta0: float
    schedule: str
    fits_N: tuple[PowerLawFit, ...]
    fits_P: tuple[PowerLawFit, ...]
    frontier: ComputeFrontier


@jax.jit
def _sgd_passes(features: jax.Array, targets: jax.Array, orders: jax.Array, etas: jax.Array,
                test: jax.Array) -> jax.Array:
    """Test MSE (draws, passes) of one-pass SGD: features (draws, N, P), targets (N, k), orders
    (draws, steps) point indices, etas (passes, steps) (0 after a pass's end), test indices (T,)."""
    draws, passes = orders.shape[0], etas.shape[0]
    weights = jnp.zeros((draws, passes) + (features.shape[2], targets.shape[1]), features.dtype)

    def step(w: jax.Array, inputs: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, None]:
        index, eta = inputs                                              # (draws,), (passes,)
        z = features[jnp.arange(draws), index]                           # (draws, P)
        error = jnp.einsum("dp,dspk->dsk", z, w) - targets[index][:, None, :]
        return w - eta[None, :, None, None] * z[:, None, :, None] * error[:, :, None, :], None

    weights, _ = jax.lax.scan(step, weights, (orders.T, etas.T))
    predictions = jnp.einsum("dtp,dspk->dstk", features[:, test], weights)
    return jnp.mean((predictions - targets[test][None, None]) ** 2, axis=(2, 3))


def sgd_curve(net: Network, X: np.ndarray, y: np.ndarray | None = None, *, widths: list[int] | np.ndarray,
              samples: list[int] | np.ndarray, eta0: float, schedule: str = "geometric", draws: int = 3,
              test_size: int | None = None, seed: int = 0, test: np.ndarray | list | None = None) -> SgdCurve:
    """Measured L(P, n): the test MSE of one-pass SGD with n steps on the readout of width-P random features.

    f(x) = phi(x) . w / sqrt(P), phi the P units of ``net``'s random hidden layer
    (``finite.readout_features``), w = 0 at the start; one pass over n training points in random
    order, batch 1, loss 0.5 |f(x) - y|^2 summed over outputs:

        w <- w - eta_t z (z . w - y),  z = phi / sqrt(P),  eta_t = eta0 / 2^floor(t / K), K = ceil(n / log2 n)

    ("geometric"; "constant": eta_t = eta0). Each n is its own pass (its schedule set by its own
    length n), over the first n points of the draw's random order of the pool; the last iterate's
    squared error averaged over the test points and outputs, then over ``draws`` draws of the
    features and the order. All passes of a width run in one ``lax.scan`` over the steps, vectorized
    over draws and pass lengths; the features are computed once per draw. Splits as ``flow_curve``:
    ``test_size`` held-out points (or the fixed ``test``), the pool the rest. ``y=None``: one draw
    from the GP of the NNGP. ``theory.predict_sgd_curve`` predicts the same grid.

    Args:
        net: a network ending with a Dense readout.
        X: the N points, shape (N, d).
        y: their targets, shape (N,) or (N, k); None for one draw from the GP of the NNGP.
        widths: widths P (at least 3, spanning a factor 2), at most the pool.
        samples: pass lengths n (at least 3, spanning a factor 2), at most the pool.
        eta0: the first step size, in the stable range on the drawn features (about
            eta0 mean |phi|^2 / P < 2: ``theory.predict_sgd_curve``).
        schedule: "geometric" or "constant".
        draws: draws of the features and the order to average over.
        test_size: held-out points (default ``data.held_out_count``).
        seed: seed of the split, the draws and the GP targets.
        test: indices of a fixed test set, or None.

    Returns:
        An ``SgdCurve`` (``losses``, ``alpha_N``, ``alpha_P``, ``frontier``).

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: widths or samples beyond the pool or not positive, eta0 outside the stable range,
            an unknown schedule.

    Example:
        >>> import nngp_ntk as nk
        >>> X = nk.data.sphere(150, dim=3, seed=0)
        >>> curve = sgd_curve(nk.FullyConnected(depth=1), X, widths=[8, 16, 32], samples=[25, 50, 100], eta0=0.5,
        ...                   draws=2, test_size=30)
        >>> curve.losses.shape, curve.repeat_losses.shape
        ((3, 3), (2, 3, 3))
    """
    check_network(net)
    draws = check_integer("draws", draws, minimum=1)
    X, test, test_size, pool = _held_out(X, test, test_size)
    what = f"the pool: N = {len(X)} points minus test_size = {test_size}"
    widths = check_sizes("widths", widths, pool, what)
    samples = check_sizes("samples", samples, pool, what)
    schedule = check_choice("schedule", schedule, SCHEDULES)
    check_real("eta0", eta0, positive=True)
    targets = _targets(net, X, y, "nngp", seed)
    order = _orders(len(X), 1, seed, test)[0]
    held_out, train_pool = order[:test_size], order[test_size:]
    rng = np.random.default_rng(seed)
    steps = int(samples[-1])
    etas = np.zeros((len(samples), steps))
    for j, n in enumerate(samples):
        etas[j, :n] = sgd_schedule(int(n), eta0, schedule)
    orders = np.stack([rng.permutation(train_pool)[:steps] for _ in range(draws)])
    losses = np.empty((draws, len(widths), len(samples)))
    for i, width in enumerate(widths):
        features = np.stack([sgd_features(net, X, int(width), seed) for seed in _seeds(rng, draws)])
        for draw in features:
            check_step(eta0, draw[train_pool], "the drawn features")
        with jax.enable_x64(True):
            losses[:, i] = np.asarray(_sgd_passes(jnp.asarray(features), jnp.asarray(targets), jnp.asarray(orders),
                                                  jnp.asarray(etas), jnp.asarray(held_out)))
    mean = losses.mean(axis=0)
    errors = losses.std(axis=0, ddof=1) / np.sqrt(draws) if draws > 1 else np.full(mean.shape, np.nan)
    half = scipy.special.stdtrit(max(draws - 1, 1), 0.5 + CONFIDENCE / 2) * errors
    over_n, over_p = grid_fits(widths, samples, losses, interval="bootstrap", confidence=CONFIDENCE,
                               n_bootstrap=N_BOOTSTRAP, seed=seed)
    return SgdCurve(widths, samples, mean, errors, np.stack([mean - half, mean + half], axis=-1), losses,
                    float(eta0), schedule, over_n, over_p, compute_frontier(widths, samples, mean))
