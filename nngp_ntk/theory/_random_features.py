"""Learning-curve theory of random-feature models, L(P, D), on data whose points differ in leverage.

A random-feature model f(x) = z(x) . a has P features z_1..z_P with Gaussian weights; in the
limit of wide earlier layers each z_j is an independent draw of the Gaussian process of the
network's NNGP kernel K, z_j(x) = sum_i sqrt(lambda_i) g_ij e_i(x) with g_ij standard normal.
Only the readout a is fitted, by ridgeless least squares on D training points. With P < D the
loss is that of the best P-feature predictor, carried to D points by the variance of fitting P
weights.

Along the weights everything is Gaussian, so random-matrix deterministic equivalents hold
there exactly as P grows (Bach 2023, "High-dimensional analysis of double descent for linear
regression with random projections"; Simon, Karkada, Ghosh & Belkin 2023, "More is better";
Atanasov, Zavatone-Veth & Pehlevan 2024). The data side is not: real images differ in leverage,
and the homogeneous forms (the D <-> P duality read off a renormalized sample spectrum,
``prediction.predict_exponents(model_method="duality")``) run low there. ``RandomFeatureLeaveOneOut``
takes the data side from the N sample points themselves: the exact leave-one-out error of least
squares on them, averaged over the Gaussian weights by its deterministic equivalent. With
A = K/N on the N points (eigenvalues w_j, unit eigenvectors u_j), Z = [z_1..z_P] on the points and
the projection Q = I - Z (Z^T Z)^-1 Z^T onto the residuals (P < N):

    gamma > 0 solves   sum_j w_j / (w_j + gamma) = P,
    E Q          = Qbar = gamma (A + gamma)^-1,
    E Q y y^T Q  = Qbar y y^T Qbar + c Qbar A Qbar,   c = y^T Qbar (I - Qbar) y / tr(Qbar A Qbar),

the second-order term fixed by the identity tr E[Q y y^T Q] = E[y^T Q y] = y^T Qbar y (Q^2 = Q).
With a readout ridge lambda (``finite.fit_readout``: features Phi = Z / sqrt(P), Phi Phi^T -> K) the
residual map is Q = mu (W + mu)^-1, W = A^1/2 G G^T A^1/2, mu = P lambda / N, and the same forms hold with

    gamma (P - sum_j w_j / (w_j + gamma)) = mu,
    c = y^T Qbar A Qbar y / (gamma (mu + tr(Qbar A Qbar))),

the first- and second-order deterministic equivalents of the resolvent of a sum of P rank-one terms
(Bach 2023); at mu = 0 they are the ridgeless ones above. The residuals r = Q y and leverages
h_ii = 1 - Q_ii of the fit (ridge or not) give its leave-one-out error
mean_i (r_i / Q_ii)^2; Q_ii concentrates at Qbar_ii, so over the weights

    L_N(P) = mean_i,k ((Qbar y_k)_i^2 + c_k (Qbar A Qbar)_ii) / Qbar_ii^2,

the test error of least squares on the N points (N - 1 of them, the difference O(1/N)). For D
training points other than N it is carried by the Gaussian finite-data factor,
L(P, D) = L_N(P) [(D - 1) / (D - P - 1)] / [(N - 1) / (N - P - 1)] (D = infinity: the factor 1); with a
ridge that factor does not hold, and the theory gives the loss at D = N only.

Why a ridge: the mean over draws of the ridgeless readout's test loss need not be finite. A ReLU unit
active on exactly one training point, with pre-activation z > 0 there, fits that point alone with
weight r / z (r its residual under the other units), and z has a positive density at 0, so
E[(r / z)^2] diverges on test points where the unit is active. Narrow deep layers make such units
common enough to be seen (a depth-3 MNIST draw at P = 82: one unit active on 1 of 4,000 training
points at z = 2e-4, weight 3e3, test loss 8x the other draws'). A ridge bounds the weight by
r / (2 sqrt(lambda)) and makes the mean finite; the deterministic equivalents describe the typical
draw, which at a small ridge is the ridgeless one.
On points of even leverage (uniform points on a sphere) it agrees with the duality; the tests
check both against Monte Carlo of Gaussian features on clustered points, where they part.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.optimize

from nngp_ntk import data
from nngp_ntk._checks import ArgumentValueError, check_integer, check_points, check_ridge
from nngp_ntk.finite._random_features import conditional_nngp
from nngp_ntk.kernels._network import Network

#: Rows of U per block when forming the per-point sums (bounds the temporary memory).
ROW_BLOCK = 2048

#: ``sampled_layers_losses`` decomposes each K_F / N in float32 (LAPACK's single-precision solver) when
#: the effective regularization gamma is at least this fraction of its largest eigenvalue; below it,
#: where float32's eigenvalue error (~1e-7 of the largest) enters the sums, in float64.
SINGLE_PRECISION_GAMMA = 1e-4


class RandomFeatureLeaveOneOut:
    """L(P, D) of random-feature regression, its readout fitted by least squares or with a ridge,
    from the eigensystem of K/N on N points (module docstring): ``losses(widths, train_size, ridge)``.

    Args:
        eigenvalues: the N eigenvalues w_j of K/N (any order; negative round-off is set to 0).
        vectors: the (N, N) unit eigenvectors, columns in the order of ``eigenvalues``.
        projections: U^T y, shape (N,) or (N, outputs), the targets' projections on the
            eigenvectors; None for targets drawn from the GP of K (the expectation over them,
            E[(U^T y)_j^2] = N w_j).

    Raises:
        ValueError: for shapes that do not match, non-finite values, or fewer than 2 positive
            eigenvalues.

    Example:
        >>> import numpy as np
        >>> x = np.linspace(-1, 1, 40)[:, None]
        >>> K = np.exp(-np.abs(x - x.T))
        >>> w, U = np.linalg.eigh(K / 40)
        >>> theory = RandomFeatureLeaveOneOut(w, U, U.T @ np.sin(3 * x))
        >>> losses = theory.losses([4, 8, 16])
        >>> bool(np.all(np.diff(losses) < 0))
        True
    """

    def __init__(self, eigenvalues: np.ndarray, vectors: np.ndarray, projections: np.ndarray | None = None) -> None:
        eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
        vectors = np.asarray(vectors, dtype=np.float64)
        n = len(eigenvalues)
        if eigenvalues.ndim != 1 or vectors.shape != (n, n):
            raise ArgumentValueError(f"vectors must be the ({n}, {n}) eigenvectors (columns) of the {n} eigenvalues, "
                                     f"got shapes {eigenvalues.shape} and {vectors.shape}")
        if not (np.all(np.isfinite(eigenvalues)) and np.all(np.isfinite(vectors))):
            raise ArgumentValueError("eigenvalues and vectors must be finite")
        if projections is not None:
            projections = np.asarray(projections, dtype=np.float64).reshape(n, -1)
            if not np.all(np.isfinite(projections)):
                raise ArgumentValueError("projections must be finite")
        self.eigenvalues = np.maximum(eigenvalues, 0.0)
        self.rank = int(np.sum(self.eigenvalues > np.finfo(np.float64).eps * max(float(self.eigenvalues.max()), 0)))
        if self.rank < 2:
            raise ArgumentValueError(f"the spectrum needs at least 2 positive eigenvalues, got {self.rank}")
        self.vectors = vectors
        self.projections = projections
        self.n_samples = n

    def gamma(self, width: float, ridge: float = 0.0) -> float:
        """gamma > 0 with gamma (P - sum_j w_j / (w_j + gamma)) = mu = P ridge / N (the effective
        regularization of P random projections, read out with ``ridge``; ridgeless: the sum is P);
        ValueError unless 0 < P < the number of positive eigenvalues."""
        ridge = check_ridge(ridge)
        if not 0 < width < self.rank:
            raise ArgumentValueError(
                f"width must be in (0, {self.rank}), the rank of the kernel on the {self.n_samples} "
                f"points, got {width!r}")
        values = self.eigenvalues

        def excess(log_gamma: float) -> float:
            return float(np.sum(values / (values + np.exp(log_gamma)))) - width

        top = np.log(float(values.max()))
        low, high = top - 2.0, top + np.log(4.0 * self.n_samples)
        while excess(low) < 0:
            low -= 4.0
        ridgeless = float(np.exp(scipy.optimize.brentq(excess, low, high, xtol=1e-13, rtol=1e-13)))
        mu = width * ridge / self.n_samples
        if mu == 0:
            return ridgeless

        def balance(log_gamma: float) -> float:      # increasing in gamma above the ridgeless root
            gamma = np.exp(log_gamma)
            return gamma * (width - float(np.sum(values / (values + gamma)))) - mu

        low, high = np.log(ridgeless), np.log(ridgeless + mu / width) + 1.0
        while balance(high) < 0:
            high += 4.0
        return float(np.exp(scipy.optimize.brentq(balance, low, high, xtol=1e-13, rtol=1e-13)))

    def sample_loss(self, width: float, ridge: float = 0.0) -> float:
        """L_N(P): the leave-one-out error of the readout on P random features of the N points,
        fitted with ``ridge`` (0: least squares), averaged over the features (module docstring), per
        output: mean_i,k ((Qbar y_k)_i^2 + c_k (Qbar A Qbar)_ii) / Qbar_ii^2."""
        values = self.eigenvalues
        gamma = self.gamma(width, ridge)
        mu = width * ridge / self.n_samples
        shrink = gamma / (values + gamma)                          # eigenvalues of Qbar
        spread = values * shrink**2                                # eigenvalues of Qbar A Qbar
        denominator = gamma * (mu + float(np.sum(spread)))
        if self.projections is None:                               # y ~ GP(0, K): E[(U^T y)_j^2] = N w_j
            scale = self.n_samples * float(np.sum(values * spread)) / denominator
        else:
            power = self.projections**2
            scale = (power.T @ spread) / denominator               # c_k, per output
        total = 0.0
        for start in range(0, self.n_samples, ROW_BLOCK):
            rows = self.vectors[start:start + ROW_BLOCK]
            squares = rows**2
            diagonal = squares @ shrink
            variance = squares @ spread
            if self.projections is None:
                mean_sq = self.n_samples * variance                # E (Qbar y)_i^2 = N (Qbar A Qbar)_ii
                residual_sq = (mean_sq + scale * variance)[:, None]
            else:
                mean_sq = (rows @ (self.projections * shrink[:, None])) ** 2
                residual_sq = mean_sq + variance[:, None] * scale[None, :]
            total += float(np.sum(np.mean(residual_sq, axis=1) / diagonal**2))
        return total / self.n_samples

    def losses(self, widths: np.ndarray | list, train_size: int | None = None, ridge: float = 0.0) -> np.ndarray:
        """L(P, D) at each P in ``widths`` for D = ``train_size`` training points (None: infinitely
        many): L_N(P) [(D - 1) / (D - P - 1)] / [(N - 1) / (N - P - 1)]; with a readout ``ridge``
        > 0, L_N(P) at D = N (``sample_loss``).

        Raises:
            ValueError: for widths that are not positive integers below the kernel's rank on the
                N points, a train_size not above max(widths) + 1, a negative ridge, or a ridge > 0
                with a train_size other than N.
        """
        widths = np.asarray(widths)
        if widths.ndim != 1 or widths.size == 0 or not np.issubdtype(widths.dtype, np.number) \
                or np.any(widths != np.round(widths)) or np.any(widths < 1) or np.any(widths >= self.rank):
            raise ArgumentValueError(f"widths must be a 1-D sequence of positive integers below {self.rank}, the "
                                     f"numerical rank of the kernel on the {self.n_samples} points (a kernel of low "
                                     "rank, e.g. the linear kernel of a depth-0 network, has rank at most the number "
                                     f"of features, +1 with a bias), got {widths.tolist()}")
        widths = widths.astype(np.float64)
        check_integer("train_size", train_size, minimum=int(widths.max()) + 2, allow_none=True)
        ridge = check_ridge(ridge)
        n = self.n_samples
        if ridge and train_size != n:
            raise ArgumentValueError(f"with a readout ridge the theory gives the loss of the readout fitted on the N = "
                                     f"{n} points: train_size must be {n}, got {train_size}")
        own = (n - 1) / (n - widths - 1)
        target = 1.0 if train_size is None else (train_size - 1) / (train_size - widths - 1)
        return np.array([self.sample_loss(float(p), ridge) for p in widths]) * target / own


def sampled_layers_losses(net: Network, X: np.ndarray, y: np.ndarray, widths: np.ndarray | list,
                          train_size: int | None = None, draws: int = 4, seed: int = 0,
                          ridge: float = 0.0) -> np.ndarray:
    """L(P, D) of deep random-feature models, the earlier layers at width P sampled, the last one averaged.

    All hidden layers of the measured models (``scaling.model_curve``) have width P. Given a draw F of
    the layers before the last hidden layer, the last layer's P units are independent with the kernel
    K_F = E[K_P | F] (``finite.conditional_nngp``): the model is a one-layer random-feature model of
    K_F, whose loss over the last layer's weights is ``RandomFeatureLeaveOneOut`` on the eigensystem of
    K_F / N. Over the earlier layers the loss is averaged by sampling S = ``draws`` draws F_s:

        L(P, D) = E_F[L(P, D; K_F)] ~ (1/S) sum_s RandomFeatureLeaveOneOut(K_{F_s} / N).losses(P, D, ridge).

    The earlier layers' finite width enters through K_F: its fluctuations about the NNGP, O(1/sqrt(P))
    per entry, cost the model accuracy at every width, most at small P. As P -> infinity K_F tends to
    the NNGP and L(P, D) to ``RandomFeatureLeaveOneOut`` on the NNGP's eigensystem.

    Each K_F / N is decomposed in float32 where gamma >= ``SINGLE_PRECISION_GAMMA`` times its largest
    eigenvalue, else in float64. The float32 eigenvectors' error enters the leave-one-out sums through
    1 / Qbar_ii^2, most on points of leverage near 1 (small Qbar_ii); a draw's loss then moves by far
    less than the spread of the loss over draws, which the mean over ``draws`` carries.

    Args:
        net: a network with hidden layers before its last one (``finite`` tier's ``last_hidden_layer``).
        X: the N points, shape (N, d).
        y: their targets, shape (N,) or (N, outputs).
        widths: widths P (positive integers below N - 1).
        train_size: D, the readout's training points (None: infinitely many).
        draws: S, the draws of the earlier layers per width.
        seed: seed of the draws.
        ridge: the readout's ridge (``finite.fit_readout``); > 0 needs train_size = N.

    Returns:
        The losses of each draw, shape (draws, len(widths)); their mean over axis 0 is L(P, D).

    Raises:
        TypeError: ``net`` is not a network.
        ValueError: a network without earlier hidden layers, targets with another row count or NaN, widths
            that are not positive integers below the kernels' rank, a train_size not above
            max(widths) + 1, draws < 1, or a ridge > 0 with a train_size other than N.

    Example:
        >>> import nngp_ntk as nk
        >>> X = nk.data.sphere(60, dim=3, seed=0)
        >>> sampled_layers_losses(nk.FullyConnected(depth=2), X, X[:, 0], [4, 8, 16], draws=2).shape
        (2, 3)
    """
    X = check_points(X)
    targets = data.check_targets(X, y)
    draws = check_integer("draws", draws, minimum=1)
    ridge = check_ridge(ridge)
    if ridge and train_size != len(X):
        raise ArgumentValueError(f"with a readout ridge the theory gives the loss of the readout fitted on the N = "
                                 f"{len(X)} points: train_size must be {len(X)}, got {train_size}")
    widths = np.asarray(widths)
    if widths.ndim != 1 or widths.size == 0 or not np.issubdtype(widths.dtype, np.number) \
            or np.any(widths != np.round(widths)) or np.any(widths < 1):
        raise ArgumentValueError(f"widths must be a 1-D sequence of positive integers, got {widths.tolist()}")
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2**31 - 1, (draws, len(widths)))
    losses = np.empty((draws, len(widths)))
    for k, width in enumerate(widths):
        for s in range(draws):
            kernel = conditional_nngp(net, X, int(width), int(seeds[s, k])) / len(X)
            theory = _eigensystem(kernel.astype(np.float32), targets)
            if theory.gamma(float(width), ridge) < SINGLE_PRECISION_GAMMA * float(theory.eigenvalues.max()):
                theory = _eigensystem(kernel, targets)
            losses[s, k] = theory.losses(np.array([width]), train_size, ridge)[0]
    return losses


def _eigensystem(gram: np.ndarray, targets: np.ndarray) -> RandomFeatureLeaveOneOut:
    """``RandomFeatureLeaveOneOut`` of the eigensystem of ``gram`` (decomposed in its own precision,
    overwritten) with the projections of ``targets``."""
    values, vectors = scipy.linalg.eigh(gram, check_finite=False, overwrite_a=True)
    return RandomFeatureLeaveOneOut(values, vectors, vectors.T.astype(np.float64) @ targets)
