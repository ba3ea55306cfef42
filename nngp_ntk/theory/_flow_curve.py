"""L(D, t): the test loss of an infinitely wide network after gradient flow for time t on D points, from N points.

Convention (``solver``): the loss 0.5 mean((f(X) - Y)^2) over the n = D k entries of Y (k outputs),
learning rate 1, the mean over initializations, f_t = Theta(x, X) Theta^-1 (I - exp(-Theta t / n)) Y.
In a feature basis psi(x) with E[psi psi^T] = Lambda (the kernel operator's eigenvalues lambda_i)
and targets y = psi^T beta (target power v_i^2 = lambda_i beta_i^2 on mode i), the flow's error is
-exp(-S s) beta with S = Psi^T Psi / D the empirical covariance of the D points and s = D t / n = t / k,
so the test MSE (per output) is

    E(s) = beta^T exp(-S s) Lambda exp(-S s) beta.

Its double Laplace transform in (s1, s2) is beta^T (S + r1)^-1 Lambda (S + r2)^-1 beta, whose
deterministic equivalent (Gaussian features; the two-point form of the one that gives eigenlearning)
is, with kappa(r) solving kappa - r = (kappa / D) sum_i lambda_i / (lambda_i + kappa) and
G(kappa) = sum_i v_i^2 / (lambda_i + kappa),

    A(r1, r2) = kappa1 kappa2 / (r1 r2) * (G(kappa1) - G(kappa2)) / (r2 - r1),
    A(r, r)   = (kappa / r)^2 (-dG/dr),

so E(s) is the inverse double Laplace transform of A on the diagonal s1 = s2 = s, computed by the
fixed Talbot contour (Abate & Valko 2004) in each variable. As s -> infinity only the pole at
r1 = r2 = 0 remains: E = E0 sum_i (1 - L_i)^2 v_i^2, ridgeless eigenlearning; at s = 0 the initial
value theorem gives E = sum_i v_i^2, the null predictor's loss.

From the N points alone: the sums over the operator's modes are read off the spectrum w_j of K/N
and the target powers t_j = mean_k (u_j . y_k)^2 / N as in ``theory.Renormalized``: at the sample
ridge lam (complex here), kappa = N / sum_j 1 / (w_j + lam), sum_i lambda_i / (lambda_i + kappa) =
sum_j w_j / (w_j + lam) and G(kappa) = sum_j t_j / (w_j + lam), so r = kappa (1 - F / D) is a
rational function of lam, solved for lam at each contour node by Newton's method continued along
the contour from the real axis. This is the Gaussian curve (``gaussian_losses``).

Real data are not Gaussian: their points differ in leverage, and at t -> infinity the Gaussian curve
runs low where the exact leave-one-out error of ``theory.LeaveOneOut`` follows measured losses. The
anchored curve adds the same leave-one-out excess at the ridge of equal effective regularization:
the flow on D points has learned df(s) = E tr(I - exp(-S s)) = D (1 - L^-1[1 / kappa(r)](s)) modes,
the ridge-lam regression on the N points with sum_j w_j / (w_j + lam) = df(s) as many, and

    L(D, t) = E(s) + T_N(lam) - N / (N - Q(lam)) B(lam)     (``LeaveOneOut``: T_N, Q, B at lam),

which is the leave-one-out curve at t = infinity and the Gaussian curve at early times (large lam:
leverages even out). Assumptions: the Gaussian deterministic equivalent for the sums and their
two-point form; N points drawn from the distribution the D training points come from; the
non-Gaussian excess of the flow at time t equal to that of ridge regression of the same effective
regularization (exact at t = 0 and t = infinity, a model in between).

Intervals: a delete-d jackknife (Shao & Wu 1989) over S random subsets of m = N / 4 of the points,
each predicting at the same ratio D / N (sizes D m / N): the variance of log L (and of alpha_T) is
m / (N - m) times the subsets' sample variance, which for a statistic of variance ~ 1 / (points)
estimates that of the prediction from all N (the subsets vary by c (1/m - 1/N) about the sample's
own); Student-t with S - 1 degrees of freedom. Subsets of N / 4 points keep it to S small
eigendecompositions. It measures the sampling of the N points, not the error of the theory itself.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import scipy.optimize
import scipy.special

from nngp_ntk import data
from nngp_ntk._checks import (DENSE_LIMIT, ArgumentValueError, check_counts, check_integer, check_kernel_name,
                              check_points, check_positive_times, check_real, check_window)
from nngp_ntk.kernels._network import Network, check_network
from nngp_ntk.spectrum import _fits as fits
from nngp_ntk.spectrum._fits import PowerLawFit
from nngp_ntk.theory._samples import LeaveOneOut

#: Nodes of the fixed Talbot contour on each side of the real axis (relative error ~ 10^(-0.6 M)).
TALBOT_NODES = 16
#: Newton sub-steps between consecutive contour nodes (the continuation from the real axis).
SUBSTEPS = 6
#: Contour nodes whose weight exp(Re c) is below exp(-CUTOFF) are left out (they add nothing).
CUTOFF = 60.0
#: The jackknife's subsets hold this fraction of the points.
SUBSET_FRACTION = 0.25


def _talbot(nodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(angles, c, omega): the fixed Talbot contour r = c / s, c = (2M/5) a (cot a + i) at angles
    a = j pi / M, j = 0..M-1, and weights with f(s) = (1/s) sum_j omega_j F(c_j / s) over the whole
    contour (the nodes of negative angle are the complex conjugates)."""
    angles = np.arange(nodes) * np.pi / nodes
    with np.errstate(divide="ignore", invalid="ignore"):
        cot = np.where(angles > 0, 1.0 / np.tan(angles), 0.0)
        c = np.where(angles > 0, (2 * nodes / 5) * angles * (cot + 1j), 2 * nodes / 5 + 0j)
        sigma = np.where(angles > 0, angles / np.sin(angles) ** 2 - cot, 0.0)
    return angles, c, (1 + 1j * sigma) * np.exp(c) / 5


class FlowLeaveOneOut(LeaveOneOut):
    """``theory.LeaveOneOut`` extended to gradient flow for a finite time (module docstring).

    Args:
        eigenvalues: w, the N eigenvalues of K/N.
        vectors: U, their (N, N) unit eigenvectors as columns.
        projections: C = U^T y, shape (N,) or (N, k), or None for targets from the kernel's GP.
        outputs: k, the number of outputs of y (the loss is a mean over the D k entries).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> U = np.linalg.qr(rng.standard_normal((200, 200)))[0]
        >>> w = 1.0 / np.arange(1, 201) ** 1.5
        >>> theory = FlowLeaveOneOut(w, U)
        >>> gaussian, anchored = theory.losses(50, np.array([1e-3, 1e6]))
        >>> bool(np.isclose(gaussian[0], w.sum(), rtol=1e-3)), bool(np.isclose(anchored[1], theory.curve([50]).losses[0]))
        (True, True)
    """

    def __init__(self, eigenvalues: np.ndarray, vectors: np.ndarray, projections: np.ndarray | None = None,
                 outputs: int = 1) -> None:
        super().__init__(eigenvalues, vectors, projections)
        self.outputs = check_integer("outputs", outputs, minimum=1)

    def _functions(self, lam: np.ndarray, size: float) -> tuple[np.ndarray, ...]:
        """(kappa, G, dG/dlam, r, dr/dlam) at sample ridges lam (any shape, complex)."""
        inverse = 1.0 / (self.eigenvalues + lam[..., None])
        first, second = inverse.sum(axis=-1), (inverse**2).sum(axis=-1)
        kappa = self.n_samples / first
        effective = self.n_samples - lam * first
        g = inverse @ self.target_power
        dg = -(inverse**2) @ self.target_power
        dkappa = self.n_samples * second / first**2
        r = kappa * (1 - effective / size)
        dr = dkappa * (1 - effective / size) - kappa * (second * lam - first) / size
        return kappa, g, dg, r, dr

    def _ridge(self, effective: float) -> float:
        """The real lam > 0 with sum_j w_j / (w_j + lam) = effective (0 < effective < rank)."""
        def excess(log_lam: float) -> float:
            lam = np.exp(log_lam)
            return float(np.sum(self.eigenvalues / (self.eigenvalues + lam))) - effective

        low = np.log(self.floor)
        high = np.log(float(np.max(self.eigenvalues)) * (self.n_samples / effective + 1.0))
        if excess(low) <= 0:
            rank = int(np.sum(self.eigenvalues > self.floor))
            raise ArgumentValueError(
                f"size {effective:.6g} is not below the {rank} modes the N = {self.n_samples} points "
                f"resolve")
        return float(np.exp(scipy.optimize.brentq(excess, low, high, xtol=1e-13, rtol=1e-13)))

    def _newton(self, lam: np.ndarray, target: np.ndarray, size: float) -> np.ndarray:
        """lam with r(lam) = target, Newton's method from ``lam`` with step halving."""
        for _ in range(60):
            r, dr = self._functions(lam, size)[3:]
            residual = r - target
            if np.all(np.abs(residual) <= 1e-11 * np.abs(target)):
                return lam
            step = residual / dr
            trial = lam - step
            worse = np.abs(self._functions(trial, size)[3] - target) > np.abs(residual)
            for _ in range(30):
                if not worse.any():
                    break
                step = np.where(worse, step / 2, step)
                trial = lam - step
                worse = np.abs(self._functions(trial, size)[3] - target) > np.abs(residual)
            lam = trial
        r = self._functions(lam, size)[3]
        if not np.all(np.abs(r - target) <= 1e-7 * np.abs(target)):
            raise ArithmeticError(f"the contour of the flow curve at size {size:.6g} did not converge "
                                  f"(relative residual {np.max(np.abs(r - target) / np.abs(target)):.2g})")
        return lam

    def _contour(self, size: float, s: np.ndarray) -> np.ndarray:
        """Sample ridges lam at the Talbot nodes (times, nodes) with r(lam) = c_j / s."""
        angles, c, _ = _talbot(TALBOT_NODES)
        start = self._ridge(size)
        lam = np.empty((len(s), TALBOT_NODES), dtype=np.complex128)
        for k, scale in enumerate(s):       # node 0 on the real axis: r = c_0 / s > 0, lam > lam(r = 0)
            target = c[0].real / scale
            g = lambda log_lam: float(self._functions(np.array(np.exp(log_lam)), size)[3].real) - target
            low, high = np.log(start), np.log(start) + 1.0
            while g(high) < 0:
                high += 1.0
            lam[k, 0] = np.exp(scipy.optimize.brentq(g, low, high, xtol=1e-14, rtol=1e-14))
        current, previous = lam[:, 0].copy(), 0.0
        for j in range(1, TALBOT_NODES):
            if c[j].real < -CUTOFF:
                lam[:, j:] = np.nan
                break
            for step in range(1, SUBSTEPS + 1):
                angle = previous + (angles[j] - previous) * step / SUBSTEPS
                node = (2 * TALBOT_NODES / 5) * angle * (1 / np.tan(angle) + 1j)
                current = self._newton(current, node / s, size)
            lam[:, j], previous = current, angles[j]
        return lam

    def losses(self, size: float, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Gaussian, anchored) predicted test MSE of the flow on ``size`` points at each time.

        Args:
            size: D, below N.
            times: t > 0 (inf allowed: the leave-one-out curve).

        Returns:
            Two arrays of the times' length (module docstring).
        """
        times = np.asarray(times, dtype=np.float64)
        gaussian, anchored = np.empty(len(times)), np.empty(len(times))
        finite = np.isfinite(times)
        if not finite.all():
            start = self._ridge(size)
            theta, _, squares, bias = self.sums(start)
            gaussian[~finite] = size / (size - squares) * bias
            anchored[~finite] = gaussian[~finite] + self._excess(start)
        if not finite.any():
            return gaussian, anchored
        s = times[finite] / self.outputs
        _, c, omega = _talbot(TALBOT_NODES)
        used = c.real >= -CUTOFF
        c, omega = c[used], omega[used]
        lam = self._contour(size, s)[:, used]
        kappa, g, dg, r, dr = self._functions(lam, size)

        def whole(a: np.ndarray) -> np.ndarray:        # the nodes of both halves of the contour
            return np.concatenate([a, np.conj(a[..., 1:])], axis=-1)

        m, g, r, slope = whole(kappa / r), whole(g), whole(r), whole(dg / dr)
        weights = whole(omega)
        with np.errstate(divide="ignore", invalid="ignore"):
            pair = m[:, :, None] * m[:, None, :] * (g[:, :, None] - g[:, None, :]) / (r[:, None, :] - r[:, :, None])
        diagonal = np.arange(pair.shape[1])
        pair[:, diagonal, diagonal] = -(m**2) * slope
        gaussian[finite] = np.einsum("a,b,tab->t", weights, weights, pair).real / s**2
        learned = size * (1 - (whole(1 / kappa) * weights).sum(axis=1).real / s)
        anchored[finite] = gaussian[finite] + np.array([self._excess(self._ridge(float(np.clip(d, 1e-9, size))))
                                                        if d > 1e-6 else 0.0 for d in learned])
        return gaussian, anchored

    def _excess(self, lam: float) -> float:
        """T_N(lam) - E0(N) B(theta(lam)): the leave-one-out error less the Gaussian one at ridge lam."""
        _, _, squares, bias = self.sums(lam)
        return self.leave_one_out(lam) - self.n_samples / (self.n_samples - squares) * bias


@dataclasses.dataclass(frozen=True)
class FlowCurve:
    """Predicted test MSE ``losses`` (len(sizes), len(times)) of gradient flow for time t on D points.

    ``intervals`` (len(sizes), len(times), 2) at ``confidence`` from the jackknife over ``subsets``
    random subsets of the N = ``n_samples`` points (NaN with subsets = 0); ``gaussian_losses``, the curve
    without the leave-one-out anchor; ``fits``, one ``PowerLawFit`` of L ~ t^-alpha_T per size over
    the times in ``window`` (interval: the jackknife's, or least squares with subsets = 0);
    ``alpha_T``, that of the largest size; ``jackknife_se_log``, the standard errors of log L."""

    sizes: np.ndarray
    times: np.ndarray
    losses: np.ndarray
    intervals: np.ndarray
    confidence: float
    gaussian_losses: np.ndarray
    fits: tuple[PowerLawFit, ...]
    window: tuple[float, float]
    n_samples: int
    subsets: int
    jackknife_se_log: np.ndarray

    @property
    def alpha_T(self) -> PowerLawFit:
        """The fit of L ~ t^-alpha_T at the largest size."""
        return self.fits[-1]


def _predict(gram: np.ndarray, targets: np.ndarray | None, sizes: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, ...]:
    """(Gaussian, anchored) losses (sizes, times) from the points' kernel matrix and targets."""
    values, vectors = np.linalg.eigh(gram / len(gram))
    values, vectors = values[::-1], vectors[:, ::-1]
    outputs = 1 if targets is None else targets.shape[1]
    theory = FlowLeaveOneOut(values, vectors, None if targets is None else vectors.T @ targets, outputs)
    pairs = [theory.losses(float(size), times) for size in sizes]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def predict_flow_curve(net: Network, X: np.ndarray, y: np.ndarray | None = None, *, sizes: list[int] | np.ndarray,
                       times: list[float] | np.ndarray, kernel: str = "ntk", window: tuple[float, float] | None = None,
                       subsets: int = 10, confidence: float = 0.95, seed: int = 0) -> FlowCurve:
    """Predicted L(D, t): the test MSE of the infinitely wide network after gradient flow for time t on D points.

    In the solver's convention (loss 0.5 mean((f(X) - Y)^2) over the D k entries, learning rate 1,
    the mean over initializations), reported as the measured curves are (mean over test points and
    outputs of the squared error). From the N points X and their targets alone: with s = t / k,

        L(D, t) = E(s) + T_N(lam(s)) - E0(N) B(lam(s)),
        E(s) = L^-1[ kappa1 kappa2 / (r1 r2) (G(kappa1) - G(kappa2)) / (r2 - r1) ](s, s),

    the Gaussian deterministic equivalent of the flow (E(0) = the targets' power, E(inf) =
    eigenlearning) plus the leave-one-out excess of ridge regression on the N points at the ridge
    lam(s) of equal effective regularization (module docstring: formulas and assumptions).
    ``scaling.flow_curve`` measures the same curve.

    Args:
        net: the network whose kernel is used (any network).
        X: the N points (N <= DENSE_LIMIT: the eigendecompositions are dense).
        y: their targets, shape (N,) or (N, k); None for targets from the GP of the kernel (k = 1).
        sizes: training-set sizes D, positive integers below N.
        times: training times t > 0 (inf allowed: the converged network).
        kernel: "ntk" (the trained network) or "nngp" (only the readout trained).
        window: (low, high), the times over which alpha_T is fitted (default: all finite times).
        subsets: S, random subsets of N / 4 points for the jackknife intervals (at least 3), or 0 for
            none.
        confidence: the level of the intervals, in (0, 1).
        seed: the seed of the random subsets.

    Returns:
        A ``FlowCurve``.

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: times <= 0, sizes not below N, a bad window, subsets, confidence or targets.
        ArithmeticError: the contour of the inverse Laplace transform did not converge.

    Example:
        >>> import nngp_ntk as nk
        >>> X = nk.data.sphere(150, dim=3, seed=0)
        >>> curve = predict_flow_curve(nk.FullyConnected(depth=1), X, sizes=[30, 60], times=[1.0, 10.0, 100.0],
        ...                            subsets=0)
        >>> curve.losses.shape, bool(np.all(np.diff(curve.losses[1]) < 0))
        ((2, 3), True)
    """
    check_network(net)
    check_kernel_name(kernel)
    X = check_points(X)
    n_points = len(X)
    if not 3 <= n_points <= DENSE_LIMIT:
        raise ArgumentValueError(f"predict_flow_curve needs 3 <= N <= {DENSE_LIMIT} points, got N = {n_points}")
    targets = None if y is None else data.check_targets(X, y).reshape(n_points, -1)
    sizes = check_counts("sizes", sizes, n_points - 1, f"below the N = {n_points} points: the prediction reads "
                                                        f"the sample")
    times = check_positive_times("times", times)
    inside, window = check_window("window", window, times)
    subsets = check_integer("subsets", subsets, minimum=0)
    if subsets in (1, 2):
        raise ArgumentValueError(f"subsets must be 0 (no intervals) or at least 3, got {subsets}")
    subset = int(SUBSET_FRACTION * n_points)
    if subsets and subset < 3:
        raise ArgumentValueError(
            f"the jackknife's subsets of N / 4 points need N >= 12, got N = {n_points} (pass subsets=0)")
    confidence = check_real("confidence", confidence, positive=True)
    if not confidence < 1:
        raise ArgumentValueError(f"confidence must be in (0, 1), got {confidence!r}")
    with jax.enable_x64(True):
        gram = np.asarray(net.kernel(X, get=kernel), dtype=np.float64)
    gaussian, losses = _predict(gram, targets, sizes, times)

    def slopes(curves: np.ndarray) -> list[float]:
        return [-fits.log_slope(times[inside], curve[inside]) if inside.sum() >= 2 else np.nan for curve in curves]

    nan = np.full(losses.shape, np.nan)
    se_log, intervals, se_alpha = nan, np.stack([nan, nan], axis=-1), np.full(len(sizes), np.nan)
    if subsets:
        rng = np.random.default_rng(seed)
        logs, exponents = [], []
        for _ in range(subsets):
            keep = np.sort(rng.choice(n_points, subset, replace=False))
            part = _predict(gram[np.ix_(keep, keep)], None if targets is None else targets[keep],
                            sizes * subset / n_points, times)[1]
            logs.append(np.log(part))
            exponents.append(slopes(part))
        logs, exponents = np.array(logs), np.array(exponents)
        scale = subset / (n_points - subset)
        se_log = np.sqrt(scale * np.var(logs, axis=0, ddof=1))
        se_alpha = np.sqrt(scale * np.var(exponents, axis=0, ddof=1))
        t = float(scipy.special.stdtrit(subsets - 1, 0.5 + confidence / 2))
        intervals = np.exp(np.log(losses)[..., None] + np.array([-1.0, 1.0]) * t * se_log[..., None])
        se_alpha = t * se_alpha
    central = [fits.fit_loglog(times[inside], curve[inside], name="times", interval="jackknife", half_width=half,
                               confidence=confidence) if np.isfinite(half) else
               fits.fit_loglog(times[inside], curve[inside], name="times", confidence=confidence)
               for curve, half in zip(losses, se_alpha)]
    return FlowCurve(sizes.astype(np.float64), times, losses, intervals, confidence, gaussian, tuple(central),
                     window, n_points, subsets, se_log)
