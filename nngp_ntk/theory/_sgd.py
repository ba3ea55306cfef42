"""L(P, n): the test loss of one-pass SGD on the readout of a width-P random-feature model, and its compute frontier.

The model (the setting of Lin, Wu, Kakade, Bartlett & Lee 2024, "Scaling laws in linear regression:
compute, parameters, and data"): f(x) = phi(x) . w / sqrt(P), phi(x) the P units of the random hidden
layer of ``net`` (``finite.readout_features``; for ``FullyConnected(depth=1, W_std=2**0.5, b_std=0.1)``
phi(x) = relu(x W sqrt(2/d) + 0.1 b), W, b iid N(0, 1)), w = 0 at the start, one pass over n points in
random order with batch 1 and loss 0.5 |f(x) - y|^2 summed over the outputs, so that with
z = phi / sqrt(P)

    w <- w - eta_t z (z . w - y),   eta_t = eta0 / 2^floor(t / K), K = ceil(n / log2 n)   ("geometric")

or eta_t = eta0 ("constant"). Each n is its own pass: the schedule's phase length K is that of the
pass of n steps.

The expected risk (Gaussian-feature model). Let Sigma = E[z z^T] with eigenvalues mu_k and
eigenvectors v_k, w* the best linear readout, sigma^2 = E[(y - z . w*)^2] the part of y the P features
miss, and r_k = mu_k E[((w - w*) . v_k)^2] the risk in mode k (r_k = mu_k (w* . v_k)^2 at w = 0). For
Gaussian z (E[z z^T A z z^T] = 2 Sigma A Sigma + tr(Sigma A) Sigma) and a residual y - z . w*
independent of z, the diagonal of the error's second moment evolves on its own:

    r_k <- (1 - 2 eta_t mu_k + 2 eta_t^2 mu_k^2) r_k + eta_t^2 mu_k^2 (sum_j r_j + sigma^2),

and the test loss per output is R = sum_k r_k + sigma^2 (the discrete form of Paquette, Paquette, Xiao
& Pennington's Volterra equation; the second term is the variance that the one-sample gradient
injects, proportional to the current risk). Without it (``variance=False``) the recursion is
r_k <- (1 - eta_t mu_k)^2 r_k, gradient descent on the population loss: the bias alone.

From the N pool points alone: Sigma, w* and sigma^2 of the pool's empirical distribution, read off
one draw of the features Z (N, P) on the pool: mu_k, v_k the eigenpairs of Z^T Z / N, r_k(0) =
(v_k . Z^T y / N)^2 / mu_k and sigma^2 = mean(y^2) - sum_k r_k(0); for GP targets (y=None) their
expectation under the NNGP K: r_k(0) = v_k^T Z^T K Z v_k / (N^2 mu_k), mean(y^2) = tr(K) / N.

Assumptions, and where real data break them: (i) Gaussian features: ReLU features of real images
have heavier fourth moments (the leverage of single points varies), which the factor 2 of the
Gaussian fourth moment understates, so the variance term is a model; (ii) the residual independent
of the features (E[(y - z . w*)^2 z z^T] = sigma^2 Sigma): on real data the residual is larger where
the features are; (iii) the pool as the population: SGD draws fresh points from the data distribution
while the pool's spectrum is that of N points (exact for the pool, a sample of the population: it
matters only for the modes SGD learns, which at n <= N are the top ones, well estimated), and one pass
visits each point once (sampling without replacement) where the model draws with replacement;
(iv) one draw of the features per width (``draws`` averages more).

The compute frontier: with compute C = P n, L*(C) = min over the grid's (P, n) with P n <= C of
L(P, n), the optimal width P*(C) the P that reaches it, and alpha_C the exponent of L* ~ C^-alpha_C
(``compute_frontier``, for predicted and measured grids alike).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np

from nngp_ntk import data
from nngp_ntk._checks import (DENSE_LIMIT, ArgumentValueError, check_choice, check_integer, check_points,
                              check_real, check_sizes)
from nngp_ntk.finite import _networks as finite
from nngp_ntk.kernels._network import Network, check_network
from nngp_ntk.spectrum import _fits as fits
from nngp_ntk.spectrum._fits import PowerLawFit

#: The step-size schedules of ``sgd_schedule``.
SCHEDULES = ("geometric", "constant")
#: The compute window of alpha_C (where the grid covers it).
COMPUTE_WINDOW = (1e4, 1e6)


def sgd_schedule(n: int, eta0: float, schedule: str = "geometric") -> np.ndarray:
    """The step sizes eta_t, t = 0..n-1, of a pass of n steps.

    "geometric": eta_t = eta0 / 2^floor(t / K), K = ceil(n / log2 n) (K = 1 for n = 1); "constant":
    eta_t = eta0.

    Example:
        >>> sgd_schedule(8, 1.0).tolist()
        [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    """
    n = check_integer("n", n, minimum=1)
    eta0 = check_real("eta0", eta0, positive=True)
    schedule = check_choice("schedule", schedule, SCHEDULES)
    if schedule == "constant":
        return np.full(n, eta0)
    phase = max(1, math.ceil(n / math.log2(n))) if n > 1 else 1
    return eta0 / 2.0 ** (np.arange(n) // phase)


def sgd_risk(eigenvalues: np.ndarray, mode_risk: np.ndarray, residual: np.ndarray | float, etas: np.ndarray,
             variance: bool = True) -> np.ndarray:
    """The expected test loss of one-pass SGD with Gaussian features after the steps ``etas``.

    The recursion of the module docstring, per mode k and output:

        r_k <- (1 - 2 eta mu_k + 2 eta^2 mu_k^2) r_k + eta^2 mu_k^2 (sum_j r_j + sigma^2),
        R = sum_k r_k + sigma^2;

    with ``variance=False``, r_k <- (1 - eta mu_k)^2 r_k.

    Args:
        eigenvalues: mu_k, the covariance's eigenvalues, shape (P,).
        mode_risk: r_k at the start, shape (P,) or (P, k) for k outputs.
        residual: sigma^2, the loss no readout removes, scalar or shape (k,).
        etas: the step sizes.
        variance: keep the variance that the one-sample gradient injects.

    Returns:
        R per output after the steps, shape () or (k,).

    Example:
        >>> float(sgd_risk(np.array([1.0]), np.array([1.0]), 0.0, np.full(3, 0.1)))  # (1 - 0.2 + 0.03)^3
        0.571787
    """
    mu = np.asarray(eigenvalues, dtype=np.float64)
    r = np.asarray(mode_risk, dtype=np.float64)
    single = r.ndim == 1
    r = r.reshape(len(mu), -1).copy()
    noise = np.broadcast_to(np.asarray(residual, dtype=np.float64), r.shape[1:])
    mu_col = mu[:, None]
    for eta in np.asarray(etas, dtype=np.float64):
        if variance:
            total = r.sum(axis=0) + noise
            r = (1 - 2 * eta * mu_col + 2 * eta**2 * mu_col**2) * r + eta**2 * mu_col**2 * total
        else:
            r = (1 - eta * mu_col) ** 2 * r
    risk = r.sum(axis=0) + noise
    return risk[0] if single else risk


def sgd_features(net: Network, X: np.ndarray, width: int, seed: int) -> np.ndarray:
    """z(X) = phi(X) / sqrt(P): the P units of ``net``'s random hidden layer (``finite.readout_features``
    of one draw of the network at width P, in float64), scaled so that f = z . w."""
    with jax.enable_x64(True):
        params = finite.init_params(net, int(seed), X.shape[1], int(width), dtype=np.float64)
        hidden = np.asarray(finite.readout_features(net, params, jax.numpy.asarray(X)), dtype=np.float64)
    return hidden / np.sqrt(width)


def _stable(eta: float, mu: np.ndarray) -> bool:
    """Whether the constant-step recursion contracts: eta mu_k < 1 and sum_k eta mu_k / (2 (1 - eta mu_k)) < 1."""
    return bool(eta * mu.max() < 1 and np.sum(eta * mu / (2 * (1 - eta * mu))) < 1)


def check_step(eta0: float, features: np.ndarray, what: str) -> float:
    """``eta0`` checked against the stable range of batch-1 SGD on the features' covariance (eigenvalues mu_k
    of Z^T Z / N): the risk recursion at the constant step eta0, a diagonal plus a rank-one matrix, contracts iff

        eta0 mu_k < 1 for every k  and  sum_k eta0 mu_k / (2 (1 - eta0 mu_k)) < 1,

    about eta0 mean_x |phi(x)|^2 / P < 2 for a spread-out spectrum (both schedules start at eta0)."""
    eta0 = check_real("eta0", eta0, positive=True)
    gram = features.T @ features if features.shape[1] <= features.shape[0] else features @ features.T
    mu = np.clip(np.linalg.eigvalsh(gram / len(features)), 0.0, None)
    if not _stable(eta0, mu):
        low, high = 0.0, eta0
        for _ in range(50):
            low, high = ((low + high) / 2, high) if _stable((low + high) / 2, mu) else (low, (low + high) / 2)
        raise ArgumentValueError(f"eta0 must lie in the stable range of batch-1 SGD, eta0 mu_k < 1 and "
                                 f"sum_k eta0 mu_k / (2 (1 - eta0 mu_k)) < 1 over the eigenvalues mu_k of the "
                                 f"features' covariance (about eta0 * mean |phi(x)|^2 / P < 2): got eta0 = {eta0:g} "
                                 f"with mean |phi(x)|^2 / P = {float(mu.sum()):.4g} on {what} (eta0 below "
                                 f"{low:.4g})")
    return eta0


@dataclasses.dataclass(frozen=True)
class ComputeFrontier:
    """The compute-optimal frontier of a loss grid L(P, n), compute C = P n.

    ``compute``: the distinct C = P n of the grid, ascending; ``losses``: L*(C) = min over the grid's
    P n <= C; ``widths`` and ``samples``: the (P, n) that reach it, P*(C) = ``widths``; ``fit``: the
    ``PowerLawFit`` of L* ~ C^-alpha_C over the C in ``window``."""

    compute: np.ndarray
    losses: np.ndarray
    widths: np.ndarray
    samples: np.ndarray
    fit: PowerLawFit
    window: tuple[float, float]

    @property
    def alpha_C(self) -> PowerLawFit:
        """The fit of L*(C) ~ C^-alpha_C."""
        return self.fit

    def optimal_width(self, compute: float | np.ndarray) -> np.ndarray:
        """P*(C) at any C >= the smallest of the grid (the frontier is a step function of C)."""
        at = np.searchsorted(self.compute, np.asarray(compute, dtype=np.float64), side="right") - 1
        if np.any(at < 0):
            raise ArgumentValueError(f"compute must be at least {self.compute[0]:g}, the grid's smallest P n")
        return self.widths[at]


def compute_frontier(widths: np.ndarray | list, samples: np.ndarray | list, losses: np.ndarray,
                     window: tuple[float, float] = COMPUTE_WINDOW) -> ComputeFrontier:
    """L*(C) = min_{P n <= C} L(P, n), P*(C) and alpha_C of a grid of losses.

    Args:
        widths: the grid's widths P, ascending.
        samples: its pass lengths n, ascending.
        losses: L(P, n), shape (len(widths), len(samples)), positive.
        window: (low, high): the C over which alpha_C is fitted (clipped to the grid).

    Returns:
        A ``ComputeFrontier``.

    Raises:
        ValueError: losses of the wrong shape or not positive, or a bad window.

    Example:
        >>> P, n = np.array([10, 20, 40]), np.array([100, 200, 400])
        >>> frontier = compute_frontier(P, n, P[:, None] ** -0.5 + n[None, :] ** -0.5, window=(1e3, 2e4))
        >>> frontier.compute[:3].tolist(), frontier.widths[:3].tolist()
        ([1000.0, 2000.0, 4000.0], [10, 20, 40])
    """
    widths = np.asarray(widths)
    samples = np.asarray(samples)
    losses = np.asarray(losses, dtype=np.float64)
    if losses.shape != (len(widths), len(samples)):
        raise ArgumentValueError(f"losses must have shape (len(widths), len(samples)) = ({len(widths)}, "
                                 f"{len(samples)}), got {losses.shape}")
    if not np.all(np.isfinite(losses)) or np.any(losses <= 0):
        raise ArgumentValueError("losses must be finite and positive")
    low, high = (float(v) for v in window)
    if not 0 < low < high:
        raise ArgumentValueError(f"window must be (low, high) with 0 < low < high, got {window!r}")
    cost = widths[:, None].astype(np.float64) * samples[None, :].astype(np.float64)
    compute = np.unique(cost)
    best, best_w, best_n = np.empty(len(compute)), np.empty(len(compute), dtype=np.int64), \
        np.empty(len(compute), dtype=np.int64)
    for c, budget in enumerate(compute):
        within = np.where(cost <= budget, losses, np.inf)
        i, j = np.unravel_index(np.argmin(within), within.shape)
        best[c], best_w[c], best_n[c] = within[i, j], widths[i], samples[j]
    inside = (compute >= low) & (compute <= high)
    fit = fits.fit_loglog(compute[inside], best[inside], name="compute") if inside.any() else \
        fits.unreliable(PowerLawFit(np.nan, (np.nan, np.nan), np.nan, (low, high), 0), "no compute of the grid in "
                                                                                       "the window")
    return ComputeFrontier(compute, best, best_w, best_n, fit, (low, high))


class GridExponents:
    """The exponents of an L(P, n) grid: ``fits_N`` (L ~ n^-alpha per width) and ``fits_P`` (L ~ P^-alpha
    per n) of a result, read at the grid's edge."""

    fits_N: tuple[PowerLawFit, ...]
    fits_P: tuple[PowerLawFit, ...]

    @property
    def alpha_N(self) -> PowerLawFit:
        """The fit of L ~ n^-alpha_N at the largest width."""
        return self.fits_N[-1]

    @property
    def alpha_P(self) -> PowerLawFit:
        """The fit of L ~ P^-alpha_P at the largest n."""
        return self.fits_P[-1]


@dataclasses.dataclass(frozen=True)
class SgdPrediction(GridExponents):
    """Predicted test MSE ``losses`` (len(widths), len(samples)) of one-pass SGD on width-P random features.

    ``bias_losses``: the recursion without the variance term (module docstring); ``fits_N``: one
    ``PowerLawFit`` of L ~ n^-alpha per width, ``fits_P`` one of L ~ P^-alpha per n (least-squares
    intervals over the grid's points); ``alpha_N`` at the largest width, ``alpha_P`` at the largest n;
    ``frontier``: the ``ComputeFrontier`` of ``losses``."""

    widths: np.ndarray
    samples: np.ndarray
    losses: np.ndarray
    bias_losses: np.ndarray
    eta0: float
    schedule: str
    fits_N: tuple[PowerLawFit, ...]
    fits_P: tuple[PowerLawFit, ...]
    frontier: ComputeFrontier
    n_samples: int


def grid_fits(widths: np.ndarray, samples: np.ndarray, losses: np.ndarray,
              **options) -> tuple[tuple[PowerLawFit, ...], tuple[PowerLawFit, ...]]:
    """(fits over n per width, fits over P per n) of a loss grid; ``losses`` (..., len(widths), len(samples))
    with a leading axis of repeats for bootstrap intervals."""
    over_n = tuple(fits.fit_loglog(samples, losses[..., i, :], name="samples", **options) for i in range(len(widths)))
    over_p = tuple(fits.fit_loglog(widths, losses[..., :, j], name="widths", **options) for j in range(len(samples)))
    return over_n, over_p


def predict_sgd_curve(net: Network, X: np.ndarray, y: np.ndarray | None = None, *, widths: list[int] | np.ndarray,
                      samples: list[int] | np.ndarray, eta0: float, schedule: str = "geometric", draws: int = 1,
                      window: tuple[float, float] = COMPUTE_WINDOW, seed: int = 0) -> SgdPrediction:
    """Predicted L(P, n): the test MSE of one-pass SGD with n steps on the readout of width-P random features.

    f(x) = phi(x) . w / sqrt(P), w = 0 at the start, batch 1, loss 0.5 |f(x) - y|^2, steps
    eta_t = eta0 / 2^floor(t / K), K = ceil(n / log2 n) ("geometric") or eta0 ("constant"), each n its
    own pass. From the N pool points: per width, the eigenvalues mu_k of Z^T Z / N (Z = phi / sqrt(P)
    on the pool, one draw of the network per ``draws``) and the targets' risk r_k(0) in each mode,
    run through the Gaussian-feature recursion

        r_k <- (1 - 2 eta_t mu_k + 2 eta_t^2 mu_k^2) r_k + eta_t^2 mu_k^2 (sum_j r_j + sigma^2),
        L = sum_k r_k + sigma^2

    (mean over outputs and draws; module docstring: derivation, assumptions, where data break them).
    ``scaling.sgd_curve`` measures the same grid.

    Args:
        net: a network ending with a Dense readout (its hidden layer gives the features).
        X: the N pool points (N <= DENSE_LIMIT for GP targets).
        y: their targets, shape (N,) or (N, k); None for targets from the GP of the NNGP (their
            expected risk).
        widths: widths P, at least 3 spanning a factor 2, at most N.
        samples: pass lengths n, at least 3 spanning a factor 2, at most N.
        eta0: the first step size, in the stable range (``check_step``: about eta0 mean |phi|^2 / P < 2).
        schedule: "geometric" or "constant".
        draws: draws of the features per width to average over.
        window: the compute window of alpha_C.
        seed: seed of the features' draws.

    Returns:
        An ``SgdPrediction`` (``losses``, ``alpha_N``, ``alpha_P``, ``frontier``).

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: widths or samples beyond the pool or not positive, eta0 outside the stable range,
            an unknown schedule, bad targets.

    Example:
        >>> import nngp_ntk as nk
        >>> X = nk.data.sphere(120, dim=3, seed=0)
        >>> pred = predict_sgd_curve(nk.FullyConnected(depth=1), X, widths=[8, 16, 32], samples=[25, 50, 100],
        ...                          eta0=0.5)
        >>> pred.losses.shape, bool(np.all(np.diff(pred.losses, axis=1) < 0))
        ((3, 3), True)
    """
    check_network(net)
    X = check_points(X)
    n_points = len(X)
    widths = check_sizes("widths", widths, n_points, f"the N = {n_points} pool points")
    samples = check_sizes("samples", samples, n_points, f"the N = {n_points} pool points")
    schedule = check_choice("schedule", schedule, SCHEDULES)
    draws = check_integer("draws", draws, minimum=1)
    check_real("eta0", eta0, positive=True)
    if y is None:
        if n_points > DENSE_LIMIT:
            raise ArgumentValueError(f"GP targets need the N x N kernel: N = {n_points} is above {DENSE_LIMIT}")
        with jax.enable_x64(True):
            gram = np.asarray(net.kernel(X, get="nngp"), dtype=np.float64)
        power = np.array([np.trace(gram) / n_points])
    else:
        targets = data.check_targets(X, y).reshape(n_points, -1)
        power = np.mean(targets**2, axis=0)
    rng = np.random.default_rng(seed)
    losses = np.zeros((len(widths), len(samples)))
    bias = np.zeros_like(losses)
    for i, width in enumerate(widths):
        for _ in range(draws):
            Z = sgd_features(net, X, int(width), int(rng.integers(2**31 - 1)))
            eta0 = check_step(eta0, Z, "the pool")
            mu, V = np.linalg.eigh(Z.T @ Z / n_points)
            keep = mu > mu.max() * 1e-12
            mu, V = mu[keep], V[:, keep]
            if y is None:
                projected = Z @ V
                mode = np.einsum("ik,ij,jk->k", projected, gram, projected)[:, None] / n_points**2 / mu[:, None]
            else:
                mode = (V.T @ (Z.T @ targets / n_points)) ** 2 / mu[:, None]
            residual = np.maximum(power - mode.sum(axis=0), 0.0)
            for j, n in enumerate(samples):
                etas = sgd_schedule(int(n), eta0, schedule)
                losses[i, j] += np.mean(sgd_risk(mu, mode, residual, etas)) / draws
                bias[i, j] += np.mean(sgd_risk(mu, mode, residual, etas, variance=False)) / draws
    over_n, over_p = grid_fits(widths, samples, losses)
    return SgdPrediction(widths, samples, losses, bias, float(eta0), schedule, over_n, over_p,
                         compute_frontier(widths, samples, losses, window), n_points)
