"""Predicted scaling exponents alpha_K, alpha_D, alpha_P of a network's kernel on a dataset.

From N points X (and targets y): the eigenlearning theory (``theory``) on the spectrum of K/N and
the targets' projections on its eigenvectors gives the learning curve L(n), whose slope over the
training sizes of interest is alpha_D, the operator's eigenvalue exponent alpha_K
(lambda_i ~ i^-(1 + alpha_K)) at the indices those sizes resolve, and, through the D <-> P duality
of random-feature models, L(P) and alpha_P. Compare with the measurements of ``scaling``.

Past ``max_points`` points (default ``DENSE_LIMIT``) no N x N matrix is formed: the prediction is
the mean over S disjoint random subsets of m points, each predicted densely (an m x m kernel at a
time). Least-squares slopes are linear in log L, so the mean of the subsets' alpha_D is the slope of
their curves' mean in log; its stated error adds, in quadrature to the subsets' own mean interval
half-width h, the spread of the subsets, t_{S-1} s / sqrt(S) (s: their standard deviation). The
spread is that of m-point predictions: an upper bound, up to the t factor, on the sampling error of
predicting from all N. Sizes beyond m are beyond each subset's sample ("extrapolated").

With ``out=folder`` the kernel K of all N points is computed once into the out-of-core store
``folder/<kernel>`` (resumable; under ``jax.distributed`` the processes share its tiles) and every
dense kernel is read from it: the subsets' m x m kernels are its blocks K[s, s], so the curves are
those above. The raw sample spectrum is then that of all N points: the top k eigenvalues of K/N by
randomized block Krylov on the stored rows (``spectrum.eigh`` with ``out``), k = min(N, 2 i_max) for the
fit window's upper index i_max (the automatic window's N / 10, k at most ``SAMPLE_TOP_K``; its
window is then [10, k / 2], the indices a top-k solve resolves), solved until they change by at most
``SAMPLE_TOL`` (relative) over a pass.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import jax
import numpy as np
import scipy.special

from nngp_ntk import data
from nngp_ntk.kernels import _tile_store as tile_store
from nngp_ntk.spectrum import _fits as fits
from nngp_ntk._checks import (DENSE_LIMIT, ArgumentValueError, check_choice, check_integer, check_kernel_name,
                              check_points, check_ridge, check_sizes)
from nngp_ntk.theory._eigenlearning import TheoryCurve, eigenlearning
from nngp_ntk.theory._extrapolation import MIN_POINTS, READ, extrapolate_gram
from nngp_ntk.spectrum._fits import PowerLawFit
from nngp_ntk.kernels._network import Network, check_network
from nngp_ntk.theory._tails import extend_spectrum
from nngp_ntk.finite._random_features import last_hidden_layer
from nngp_ntk.theory._random_features import RandomFeatureLeaveOneOut, sampled_layers_losses
from nngp_ntk.spectrum._eigenvalues import default_window, dense_eigh, eigh, fit_power_law, fit_window
from nngp_ntk.theory._samples import LeaveOneOut, Renormalized, operator_exponent

METHODS = ("auto", "leave-one-out", "renormalized", "power-law", "extrapolated")
MODEL_METHODS = ("auto", "sampled-layers", "leave-one-out", "duality", "none")
#: The fewest points of one dense prediction (one subset of the large-N path).
MIN_SUBSET = 20
#: The level of the intervals over subsets and draws (that of the least-squares ones).
CONFIDENCE = 0.95
#: With ``out`` past max_points and the automatic fit window: the most eigenvalues of all N points computed
#: for the raw sample fit (k = min(N, 2 N / 10, SAMPLE_TOP_K); the window is then [10, k / 2]).
SAMPLE_TOP_K = 1000
#: ... and the relative change over one Krylov pass at which their solve stops (``spectrum.randomized_eigh``).
SAMPLE_TOL = 1e-6


@dataclasses.dataclass(frozen=True)
class Exponents:
    """Predicted scaling exponents and curves.

    ``alpha_K``: the kernel operator's lambda_i ~ i^-(1 + alpha_K) at the indices i ~ n that the
    training sizes resolve, read off the predicted curve's kappa(n) ~ n^-(1 + alpha_K) (kappa, the
    effective regularization, sits at the eigenvalue of index ~n); ``beta``: the targets' power
    v_i^2 ~ i^-(1 + beta) there, from B(kappa) = MSE / E0 ~ kappa^(beta / (1 + alpha_K)); in the
    resolution-limited regime alpha_D = min(beta, 2 (1 + alpha_K)), and alpha_D = alpha_K for
    targets from the kernel's own GP (beta = alpha_K);
    ``sample_fit``: the power law of the raw sample eigenvalues of K/N (``spectrum.fit_power_law``);
    its exponent, alpha_K_sample = ``sample_fit.alpha``, differs from the operator's alpha_K where the
    sample's finite-N floor flattens its spectrum; above ``max_points`` the fit of ``eigenvalues``
    below, with ``n_samples`` N (with ``out``) or m (without);
    ``alpha_D``: slope of the predicted test MSE ``losses`` over training sizes ``sizes``;
    ``alpha_P``: slope of the predicted ``model_losses`` of random-feature models over ``widths``
    (None, with ``widths`` and ``model_losses`` empty, for model_method "none");
    ``ci``: intervals by name ("alpha_K", "beta", "alpha_D", and "alpha_P" unless model_method is
    "none"); ``method``: how the curves
    were obtained ("leave-one-out", "renormalized", "power-law" or "extrapolated", see
    ``predict_exponents``);
    ``eigenvalues``: the descending eigenvalues of K/N the prediction used (float64); above
    ``max_points``, without ``out``, the subsets' mean spectrum (the m eigenvalues of an m-point
    K/N, averaged index by index), and with ``out`` the top k eigenvalues of K/N of all N points
    (``predict_exponents``; module docstring);
    ``model_method``: how ``model_losses`` were obtained ("sampled-layers", "leave-one-out" or "duality"),
    or "none";
    ``subsets``: the number S of disjoint subsets of ``subset_size`` points the prediction averages
    (1: all N points in one dense spectrum; module docstring).

    Example:
        >>> import nngp_ntk as nk
        >>> ex = nk.predict_exponents(nk.FullyConnected(depth=1), nk.data.sphere(200, dim=3), sizes=[20, 40, 80])
        >>> sorted(ex.ci)
        ['alpha_D', 'alpha_K', 'alpha_P', 'beta']
    """

    alpha_K: float
    beta: float
    alpha_D: float
    alpha_P: float | None
    ci: dict[str, tuple[float, float]]
    sizes: np.ndarray
    losses: np.ndarray
    widths: np.ndarray
    model_losses: np.ndarray
    method: str
    kernel: str
    sample_fit: PowerLawFit
    eigenvalues: np.ndarray
    model_method: str = "duality"
    subsets: int = 1
    subset_size: int = 0


def _finite_data(losses: np.ndarray, widths: np.ndarray, train_size: int | None) -> np.ndarray:
    """L(P, D) = L(P, inf) (D - 1) / (D - P - 1): the variance of fitting P readout weights to D
    points, the residual of the best P-feature model acting as noise (exact for Gaussian features)."""
    return losses if train_size is None else losses * (train_size - 1) / (train_size - widths - 1)


def _curves(values: np.ndarray, power: np.ndarray, total_power: float | None, points: np.ndarray, ridge: float,
            method: str, window: tuple[int, int] | None, vectors: np.ndarray | None = None,
            projections: np.ndarray | None = None) -> list[TheoryCurve]:
    """Predicted curves at ``points``: [leave-one-out] or [renormalized] or [extrapolated, then one per
    corner of the tail exponents' ranges]. The extrapolation's tail exponents are the renormalized
    ones at n in [N/8, N/2] (``Renormalized.tail_exponents``): the farthest indices the sample resolves."""
    if method == "leave-one-out":
        return [LeaveOneOut(values, vectors, projections).curve(points, ridge)]
    renormalized = Renormalized(values, power)
    if method == "renormalized":
        return [renormalized.curve(points, ridge)]
    own = total_power is None           # targets from the kernel's GP: the target tail is the eigenvalue tail
    tails = renormalized.tail_exponents(len(values) / 8, len(values) / 2)
    options = dict(n_samples=len(values), trace=float(np.sum(values)), total_power=total_power, window=window)
    betas = [None] if own else list(tails.beta_range)
    corners = [(tails.alpha, None if own else tails.beta)] + [(a, b) for a in tails.alpha_range for b in betas]
    curves = []
    for alpha, beta in corners:
        extended = extend_spectrum(values, None if own else power, alpha=alpha, beta=beta, **options)
        curves.append(eigenlearning(extended.modes, points, ridge))
    return curves


def _read(x: np.ndarray, curves: list[np.ndarray], name: str) -> tuple[float, tuple[float, float]]:
    """alpha of the first curve over x, its Student-t interval widened to the other curves' alphas
    (NaN when the fit of the first is unreliable)."""
    central = fits.fit_loglog(x, curves[0], name=name)
    others = [fits.fit_loglog(x, curve, name=name).alpha for curve in curves[1:]]
    return central.alpha, (min([central.ci[0]] + others), max([central.ci[1]] + others))


def _with_spread(center: float, ci: tuple[float, float], samples: list[float]) -> tuple[float, float]:
    """center -+ sqrt(h^2 + (t_{S-1} s / sqrt(S))^2): the interval of half-width h widened by the
    standard error of a mean over S random draws whose own values have standard deviation s."""
    count = len(samples)
    t = float(scipy.special.stdtrit(count - 1, 0.5 + CONFIDENCE / 2))
    half = float(np.hypot((ci[1] - ci[0]) / 2, t * np.std(samples, ddof=1) / np.sqrt(count)))
    return center - half, center + half


def _operator_exponents(curve: TheoryCurve) -> tuple[float, tuple[float, float], float, tuple[float, float]]:
    """alpha_K (``theory.operator_exponent``) and beta from B ~ kappa^(beta / (1 + alpha_K)) over the
    curve's sizes (least squares in log-log, Student-t intervals)."""
    decay = operator_exponent(curve)
    bias = fits.fit_loglog(curve.kappa, curve.losses / curve.E0, name="kappa")
    scale = 1.0 + decay.alpha
    return decay.alpha, decay.ci, -bias.alpha * scale, (-bias.ci[1] * scale, -bias.ci[0] * scale)


def predict_exponents(net: Network, X: np.ndarray, y: np.ndarray | None = None, kernel: str = "ntk",
                      sizes: list[int] | np.ndarray | None = None, widths: list[int] | np.ndarray | None = None,
                      ridge: float = 0.0, method: str = "auto", train_size: int | None = None,
                      window: tuple[int, int] | None = None, model_method: str = "auto",
                      max_points: int = DENSE_LIMIT, subsets: int | None = None, seed: int = 0,
                      layer_draws: int = 4, out: str | os.PathLike | None = None,
                      readout_ridge: float = 0.0) -> Exponents:
    """alpha_K, alpha_D and alpha_P, with intervals and the predicted curves, from the N points X.

    The eigenvalues w_j of K/N (dense, float64) and, with ``y``, the target powers
    t_j = mean_k (u_j . y_k)^2 / N on the eigenvectors (``y=None``: the kernel's own GP,
    E[t_j] = w_j) give L(n) = E0 sum_i (1 - L_i)^2 v_i^2 by eigenlearning (``theory``).
    ``method``:

    * "leave-one-out": for n < N, the exact leave-one-out error of ridge regression on the N points
      at the ridge whose effective regularization is kappa(n), plus eigenlearning's growth of the
      variance from there to n samples (``theory.LeaveOneOut``); it holds for data whose points
      differ in leverage (real images) and becomes the leave-one-out error itself as n -> N;
    * "renormalized": the same from the sample spectrum alone, with the homogeneous (GCV)
      estimate in place of leave-one-out (``theory.Renormalized``), right for Gaussian-like data;
    * "power-law": the leave-one-out curve's power law L(n) = A n^-alpha_D read over
      n in [N/10, 0.9 N] and continued to the sizes, within and beyond N, with the interval of its
      jackknife over groups of the points and its backtest on subsets
      (``theory.extrapolate_learning_curve``); alpha_K and beta are then read off the leave-one-out
      curve over that window (the indices the sample resolves);
    * "extrapolated": the head plus power-law tails (``power_law_tails.extend_spectrum``), which also
      reaches n >= N;
    * "auto": "leave-one-out" when every size is below N, else "power-law" (the measured-best beyond
      the sample; "extrapolated" for fewer than 50 points).

    alpha_D is the least-squares slope of log L(n) over ``sizes`` (default: ``data.default_sizes`` of
    the N points less ``data.held_out_count``'s, the sizes a measured curve on them uses; real-data
    curves bend, so read it where it is measured). alpha_P is the slope of L(P, D), random-feature
    models of width P with their readout fitted on D = ``train_size`` points (None: infinitely
    many) by least squares, or by ridge regression with ``readout_ridge`` > 0 (``finite.fit_readout``;
    then D must be N, and the model method "sampled-layers" or "leave-one-out": a ridge makes the
    mean over draws finite where narrow ReLU layers give the ridgeless one a heavy tail,
    ``theory.RandomFeatureLeaveOneOut``), read over ``widths`` (default ``sizes``). ``model_method``:

    * "sampled-layers": for a network with hidden layers before its last one, all of width P as in
      the measured models: the earlier layers drawn at width P (``layer_draws`` draws per width),
      the last layer's random features averaged by "leave-one-out" below on the kernel they have
      given that draw, E[K_P | earlier layers] (``theory.sampled_layers_losses``); needs ``y``;
      uses the NNGP (the features' kernel) whatever ``kernel``;
    * "leave-one-out": the leave-one-out error of least squares on P Gaussian random features of
      the N points, averaged over the features by its deterministic equivalent, carried to D points
      by the finite-data factor (``theory.RandomFeatureLeaveOneOut``); it holds for data whose
      points differ in leverage; the earlier layers, if any, at infinite width;
    * "duality": a ridgeless random-feature model with P features on infinitely many points has the
      loss of ridgeless kernel regression on n = P points (the D <-> P duality of Maloney, Roberts &
      Sully 2022), read off the homogeneous "renormalized" curve (or "extrapolated" when
      ``method`` is or when a width reaches N) and multiplied by (D - 1) / (D - P - 1), the
      variance of fitting P weights to D points; exact for Gaussian-like data, low on real images;
    * "none": no model curve: alpha_K, beta and alpha_D alone, without the cost of L(P) (for
      "sampled-layers", an N x N eigendecomposition per width and draw); ``widths`` and
      ``readout_ridge`` are then not taken;
    * "auto": when every width is below N - 1, "sampled-layers" for a network with earlier hidden
      layers and targets ``y``, else "leave-one-out"; "duality" otherwise.

    Random features train the readout only: compare ``scaling.model_curve`` with kernel="nngp".
    alpha_K and beta are the operator's local exponents over ``sizes`` (``Exponents``), read off the
    same curve; the raw sample spectrum's power law is ``sample_fit`` (``spectrum.fit_power_law`` on
    ``window``). Intervals: Student-t of the least-squares slopes, for alpha_D and alpha_P widened
    for "extrapolated" to the slopes with the tail exponents at the ends of their ranges, for
    alpha_P with "sampled-layers" by the standard error of the mean over the draws,
    t_{S-1} s / sqrt(S) in quadrature (s: the standard deviation of the single draws' slopes).

    N above ``max_points``: the mean of the predictions from ``subsets`` disjoint random subsets of
    min(max_points, N // subsets) points (default: ceil(N / max_points) subsets, every point used),
    intervals widened by the subsets' spread (module docstring); no N x N matrix is formed.

    ``out=folder``: K of all N points is stored once in ``folder/<kernel>`` (float64, N^2 8 bytes of
    disk; ``net.kernel(X, get=kernel, out=...)``, resumed and reused by a later call with the same
    points and network) and every dense kernel is read from it instead of computed: the N-point one
    at N <= max_points, the subsets' blocks above. Above max_points the raw sample spectrum is then
    that of all N points: ``eigenvalues`` holds the top k = min(N, 2 i_max) eigenvalues of K/N
    (i_max: the upper index of ``window``; with the automatic window N / 10, and k at most
    ``SAMPLE_TOP_K`` = 1000), solved by randomized block Krylov on the stored rows to a relative
    change of ``SAMPLE_TOL`` = 1e-6 per pass, and ``sample_fit`` is their fit with n_samples = N
    (automatic window [10, k / 2]). Under ``jax.distributed`` every process makes the same call with
    a folder they all share: they compute the store's tiles and the Krylov products together and
    return the same result; processes whose arguments differ are refused, and so is
    "sampled-layers" (its finite-width kernels are computed in memory): give another model_method.

    Args:
        net: the network whose kernel is used.
        X: the N points, shape (N, d) (above max_points: the large-N path).
        y: their targets, shape (N,) or (N, k); None for targets drawn from the kernel's own GP.
        kernel: "ntk" or "nngp".
        sizes: training-set sizes n of L(n) (at least 3, spanning a factor 2).
        widths: random-feature widths P of L(P) (default ``sizes``).
        ridge: the ridge of the predicted kernel regression, >= 0.
        method: "auto", "leave-one-out", "renormalized", "power-law" or "extrapolated" (above).
        train_size: D, the training points of the random-feature models (None: infinitely many).
        window: the eigenvalue window of the raw sample fit (default ``spectrum.default_window``).
        model_method: "auto", "sampled-layers", "leave-one-out" or "duality" (above).
        layer_draws: with "sampled-layers", the draws of the earlier layers per width.
        max_points: the most points one dense spectrum takes (at least 20).
        subsets: with N > max_points, the number of disjoint subsets averaged (at least 2); None
            for ceil(N / max_points).
        seed: the seed of the random subsets.
        out: a folder for the out-of-core store of the kernel of X (above), or None to compute the
            dense kernels in memory.
        readout_ridge: the ridge of the random-feature models' readout, >= 0 (``scaling.model_curve``'s
            ridge).

    Returns:
        ``Exponents``: alpha_K, beta, alpha_D, alpha_P with intervals ``ci``, the predicted curves and
        the raw sample fit.

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: unknown methods or kernel, a negative ridge, sizes or widths that are too few or
            too short a span, a train_size not above the widths, targets with another row count,
            subsets of fewer than 20 points, model_method "sampled-layers" without targets or
            earlier hidden layers (or under several JAX processes), a readout_ridge > 0 with "duality"
            or a train_size other than the N points (a subset's), a window outside the eigenvalues
            of one dense spectrum, an ``out`` folder that holds another kernel, or JAX processes that
            called with different arguments.

    Example:
        >>> import nngp_ntk as nk
        >>> X = nk.data.sphere(200, dim=3, seed=0)
        >>> ex = predict_exponents(nk.FullyConnected(depth=1), X, sizes=[20, 40, 80])
        >>> ex.method, ex.sizes.tolist(), bool(ex.alpha_D > 0)
        ('leave-one-out', [20.0, 40.0, 80.0], True)
    """
    check_network(net)
    check_kernel_name(kernel)
    ridge = check_ridge(ridge)
    readout_ridge = check_ridge(readout_ridge, "readout_ridge")
    check_choice("method", method, METHODS)
    check_choice("model_method", model_method, MODEL_METHODS)
    X = check_points(X)
    n_points = len(X)
    targets = None if y is None else data.check_targets(X, y)
    default = data.default_sizes(n_points - data.held_out_count(n_points)) if sizes is None else sizes
    sizes = check_sizes("sizes", default).astype(np.float64)
    if model_method == "none":
        if widths is not None or readout_ridge:
            raise ArgumentValueError("model_method 'none' computes no model curve: give no widths and no "
                                     f"readout_ridge, got widths={widths!r}, readout_ridge={readout_ridge}")
        widths = np.empty(0)
    else:
        widths = sizes if widths is None else check_sizes("widths", widths).astype(np.float64)
    check_integer("train_size", train_size, minimum=int(widths.max(initial=0)) + 2, allow_none=True)
    max_points = check_integer("max_points", max_points, minimum=MIN_SUBSET)
    layer_draws = check_integer("layer_draws", layer_draws, minimum=1)
    if model_method == "sampled-layers" and (targets is None or last_hidden_layer(net) is None):
        raise ArgumentValueError("model_method 'sampled-layers' needs targets y and a network with hidden layers "
                                 "before its last one (a Dense, activations, then the Dense readout)")
    count, size = 1, n_points
    if n_points > max_points:
        count = check_integer("subsets", -(-n_points // max_points) if subsets is None else subsets, minimum=2)
        size = min(max_points, n_points // count)
        if size < MIN_SUBSET:
            raise ArgumentValueError(f"subsets = {count} of the N = {n_points} points leave {size} points each, "
                                     f"fewer than {MIN_SUBSET}")
    if window is not None:
        window = fit_window(size, window)[0]        # checked before any kernel is computed
    if jax.process_count() > 1 and _model_method(model_method, net, targets, widths, size) == "sampled-layers":
        chosen = "auto's choice for a deep network with targets" if model_method == "auto" else "given"
        raise ArgumentValueError(f"model_method 'sampled-layers' ({chosen}) computes finite-width kernels in memory, "
                                 "which several JAX processes cannot: pass model_method='leave-one-out' or 'duality'")
    if readout_ridge:
        chosen = _model_method(model_method, net, targets, widths, size)
        if chosen == "duality":
            raise ArgumentValueError(f"readout_ridge = {readout_ridge} needs model_method 'sampled-layers' or "
                                     f"'leave-one-out' (the duality is ridgeless), got '{model_method}' ('duality')")
        if train_size != size:
            raise ArgumentValueError(f"with readout_ridge > 0 the random-feature theory gives the loss of the readout "
                                     f"fitted on the N = {size} points it reads: train_size must be {size} (for a "
                                     f"readout fitted on D < N points, pass D of the points), got {train_size}")
    options = dict(kernel=kernel, ridge=ridge, method=method, train_size=train_size, window=window,
                   model_method=model_method, layer_draws=layer_draws, seed=seed, readout_ridge=readout_ridge)
    stored = folder = None
    if out is not None:
        folder = os.path.join(os.fspath(out), kernel)
        tile_store.agree_on_arguments("predict_exponents", net, X, targets, kernel, sizes, widths, ridge, method,
                                      train_size, window, model_method, max_points, subsets, seed, layer_draws,
                                      readout_ridge, folder)
        with jax.enable_x64(True):
            stored = net.kernel(X, get=kernel, out=folder)
    if count == 1:
        return _predict_dense(net, X, _gram(net, X, kernel, stored), targets, sizes, widths, **options)
    order = np.random.default_rng(seed).permutation(n_points)
    parts = []
    for k in range(count):
        keep = np.sort(order[k * size:(k + 1) * size])
        parts.append(_predict_dense(net, X[keep], _gram(net, X, kernel, stored, keep),
                                    None if targets is None else targets[keep], sizes, widths, **options))
    if folder is None:
        return _average(parts, window)
    return _average(parts, window, _sample_spectrum(net, X, kernel, window, folder), n_points)


def _gram(net: Network, X: np.ndarray, kernel: str, stored: np.ndarray | None,
          keep: np.ndarray | None = None) -> Callable[[], np.ndarray]:
    """A function returning the float64 kernel matrix of the points X[keep] (None: all): computed in
    memory at every call (a fresh array), or read from ``stored``, the stored K of all the points."""
    if stored is not None:
        return (lambda: stored) if keep is None else (lambda: stored[np.ix_(keep, keep)])
    points = X if keep is None else X[keep]

    def compute() -> np.ndarray:
        with jax.enable_x64(True):
            return np.asarray(net.kernel(points, get=kernel), dtype=np.float64)

    return compute


def _sample_spectrum(net: Network, X: np.ndarray, kernel: str, window: tuple[int, int] | None,
                     folder: str) -> np.ndarray:
    """The top k eigenvalues of K/N of all N points X, K stored in ``folder`` (module docstring: k =
    min(N, 2 i_max), at most SAMPLE_TOP_K for the automatic window; randomized block Krylov to SAMPLE_TOL)."""
    n_points = len(X)
    if window is None:
        top_k = min(n_points, 2 * default_window(n_points)[1], SAMPLE_TOP_K)
    else:
        top_k = min(n_points, 2 * window[1])
    with jax.enable_x64(True):
        return eigh(net, X, kernel, top_k=top_k, method="randomized", want_vectors=False, tol=SAMPLE_TOL,
                    out=folder).values


def _average(parts: list[Exponents], window: tuple[int, int] | None, values: np.ndarray | None = None,
             n_samples: int | None = None) -> Exponents:
    """The mean of the subsets' predictions: curves averaged in log, exponents averaged, intervals
    center -+ sqrt(h^2 + (t_{S-1} s / sqrt(S))^2) (h: the subsets' mean half-width, s: their spread);
    the raw sample fit on ``values`` from ``n_samples`` points (None: the subsets' mean spectrum)."""
    count = len(parts)

    def mean(name: str) -> tuple[float, tuple[float, float]]:
        values = [getattr(p, name) for p in parts]
        half = float(np.mean([(p.ci[name][1] - p.ci[name][0]) / 2 for p in parts]))
        center = float(np.mean(values))
        return center, _with_spread(center, (center - half, center + half), values)

    first = parts[0]
    names = ["alpha_K", "beta", "alpha_D"] + ([] if first.alpha_P is None else ["alpha_P"])
    means = {name: mean(name) for name in names}
    alpha_P = means["alpha_P"][0] if "alpha_P" in means else None
    size = first.subset_size
    if values is None:
        values, n_samples = np.mean([p.eigenvalues for p in parts], axis=0), size
    return Exponents(means["alpha_K"][0], means["beta"][0], means["alpha_D"][0], alpha_P,
                     {name: interval for name, (_, interval) in means.items()}, first.sizes,
                     np.exp(np.mean([np.log(p.losses) for p in parts], axis=0)), first.widths,
                     np.exp(np.mean([np.log(p.model_losses) for p in parts], axis=0)), first.method, first.kernel,
                     fit_power_law(values, window=window, n_samples=n_samples), values, first.model_method, count,
                     size)


def _model_method(model_method: str, net: Network, targets: np.ndarray | None, widths: np.ndarray,
                  n_points: int) -> str:
    """``model_method`` with "auto" resolved for a dense prediction from n_points points (``predict_exponents``)."""
    if model_method != "auto":
        return model_method
    if widths[-1] >= n_points - 1:
        return "duality"
    return "sampled-layers" if targets is not None and last_hidden_layer(net) is not None else "leave-one-out"


def _predict_dense(net: Network, X: np.ndarray, gram: Callable[[], np.ndarray], targets: np.ndarray | None,
                   sizes: np.ndarray, widths: np.ndarray, *, kernel: str, ridge: float, method: str,
                   train_size: int | None, window: tuple[int, int] | None, model_method: str, layer_draws: int,
                   seed: int, readout_ridge: float) -> Exponents:
    """``predict_exponents`` from the dense spectrum of all the points X, their kernel matrix ``gram()``
    (``_gram``; arguments checked there)."""
    n_points = len(X)
    if method == "auto":
        method = "leave-one-out" if sizes[-1] < n_points else "power-law" if n_points >= MIN_POINTS else "extrapolated"
    model_method = _model_method(model_method, net, targets, widths, n_points)
    duality = "extrapolated" if method == "extrapolated" or widths.max(initial=0) >= n_points else "renormalized"
    if method == "power-law":
        if ridge:
            raise ArgumentValueError(
                f"method 'power-law' reads the ridgeless leave-one-out curve: ridge must be 0, got {ridge}")
        reach = int(n_points * READ[1] * n_points / MIN_POINTS)
        if n_points < MIN_POINTS or sizes[-1] > reach:
            raise ArgumentValueError(
                f"method 'power-law' needs at least {MIN_POINTS} points and sizes up to {READ[1]} N / "
                f"{MIN_POINTS} times the N = {n_points} points (at most {reach}), got sizes up to "
                f"{int(sizes[-1])}")
    system = dense_eigh(gram(), want_vectors=targets is not None or method == "power-law"
                        or "leave-one-out" in (method, model_method), overwrite=True)
    values = system.values
    projections = None if targets is None else system.vectors.T @ targets
    power = values if targets is None else np.mean(projections**2, axis=1) / n_points
    sample_fit = fit_power_law(values, window=window, n_samples=n_points)
    total = None if targets is None else float(np.mean(targets**2))
    if method == "power-law":
        extrapolation = extrapolate_gram(gram(), None if targets is None else targets.reshape(n_points, -1), sizes,
                                         groups=max(3, min(10, n_points // 20)))
        curves = [LeaveOneOut(values, system.vectors, projections).curve(extrapolation.read_sizes)]
    else:
        curves = _curves(values, power, total, sizes, ridge, method, window, system.vectors, projections)
    if model_method == "sampled-layers":
        draws = sampled_layers_losses(net, X, targets, widths.astype(np.int64), train_size, layer_draws, seed,
                                      readout_ridge)
        model_losses = [np.mean(draws, axis=0)]
    elif model_method == "leave-one-out":
        features = RandomFeatureLeaveOneOut(values, system.vectors, projections)
        model_losses = [features.losses(widths.astype(np.int64), train_size, readout_ridge)]
    elif model_method == "none":
        model_losses = [np.empty(0)]
    else:
        model_curves = _curves(values, power, total, widths, 0.0, duality, window)
        model_losses = [_finite_data(c.losses, widths, train_size) for c in model_curves]
    alpha_K, ci_K, beta, ci_beta = _operator_exponents(curves[0])
    if method == "power-law":
        losses, alpha_D, ci_D = extrapolation.losses, extrapolation.alpha_D, extrapolation.ci
    else:
        losses = curves[0].losses
        alpha_D, ci_D = _read(sizes, [c.losses for c in curves], "sizes")
    ci = {"alpha_K": ci_K, "beta": ci_beta, "alpha_D": ci_D}
    alpha_P = None
    if model_method != "none":
        alpha_P, ci["alpha_P"] = _read(widths, model_losses, "widths")
    if model_method == "sampled-layers" and layer_draws > 1:
        slopes = [-np.polyfit(np.log(widths), np.log(losses), 1)[0] for losses in draws]
        ci["alpha_P"] = _with_spread(alpha_P, ci["alpha_P"], slopes)
    return Exponents(alpha_K, beta, alpha_D, alpha_P, ci,
                     sizes, losses, widths, model_losses[0], method, kernel, sample_fit, values, model_method,
                     1, n_points)
