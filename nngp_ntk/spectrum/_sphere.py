"""The exact spectrum of a network's kernel on the sphere: Mercer eigenvalues per degree (Funk-Hecke).

For uniform points on the sphere of radius sqrt(d) a dot-product kernel k(x, x') = kappa(x . x' / d)
has the eigenfunctions of the spherical harmonics and the Mercer eigenvalues (Funk-Hecke)

    mu_k = int_0^pi kappa(cos th) P_k(cos th) sin^{d-2} th dth / int_0^pi sin^{d-2} th dth,

each with multiplicity N(d, k) (the spherical harmonics of degree k), P_k the Gegenbauer
polynomial of dimension d normalized to P_k(1) = 1.

* ``multiplicity``: N(d, k).
* ``sphere_eigenvalues``: mu_0..mu_K of ``net``'s NNGP or NTK by Gauss-Legendre quadrature in th,
  as a ``SphereSpectrum`` (its ``decay`` fits mu_k ~ k^-alpha over a range of degrees; its
  ``expanded`` lists the operator's eigenvalues with their multiplicities, comparable with the
  eigenvalues of K/N on sampled points of ``spectrum.eigenvalues``).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import scipy.special

from nngp_ntk.spectrum import _fits as fits
from nngp_ntk._checks import ArgumentValueError, check_integer, check_kernel_name
from nngp_ntk.spectrum._fits import PowerLawFit

VANISHING_PARITY = 1e-3  # a parity class of degrees this far below the other is treated as zero


def multiplicity(dim: int, degree: int) -> float:
    """N(d, k) = (2k + d - 2) / k * C(k + d - 3, k - 1): the spherical harmonics of degree k on S^{d-1}.

    Args:
        dim: d, the dimension of the ambient space.
        degree: k >= 0 (N(d, 0) = 1).

    Returns:
        N(d, k) as a float (inf if it overflows).

    Example:
        >>> [multiplicity(3, k) for k in range(4)]
        [1.0, 3.0, 5.0, 7.0]
    """
    if degree == 0:
        return 1.0
    return (2 * degree + dim - 2) / degree * float(scipy.special.comb(degree + dim - 3, degree - 1))


@dataclasses.dataclass(frozen=True)
class SphereSpectrum:
    """Mercer eigenvalues of a kernel on the sphere of radius sqrt(dim), one per degree.

    ``eigenvalues[k]`` belongs to degree k in ``degrees``, with ``multiplicities[k]`` = N(dim, k)
    eigenfunctions (``sphere_eigenvalues`` computes it).

    Example:
        >>> spectrum = SphereSpectrum(3, "ntk", np.arange(3), np.array([1.0, 0.5, 0.1]), np.array([1.0, 3.0, 5.0]))
        >>> spectrum.expanded(5)
        array([1. , 0.5, 0.5, 0.5, 0.1])
    """

    dim: int
    kernel: str
    degrees: np.ndarray
    eigenvalues: np.ndarray
    multiplicities: np.ndarray

    def decay(self, k_min: int = 40, k_max: int = 200) -> PowerLawFit:
        """mu_k ~ amplitude k^-alpha: least squares of log mu_k on log k over degrees k_min..k_max.

        Parity: for ReLU-type kernels with b_std = 0 and depth 1, mu_k = 0 for odd k >= 3 (and the
        quadrature returns rounding noise there). A parity class whose median |mu_k| over the range is
        below VANISHING_PARITY times the other's is left out; otherwise both are fitted.

        Args:
            k_min: the first degree of the fit.
            k_max: the last degree, at most the largest computed.

        Returns:
            A ``fits.PowerLawFit`` (``n_points``: the degrees used); unreliable (NaN with a reason)
            when an eigenvalue in the range is not positive.

        Raises:
            ValueError: degrees out of range.
        """
        check_integer("k_min", k_min, minimum=1)
        check_integer("k_max", k_max, minimum=k_min + 2, maximum=int(self.degrees[-1]))
        degrees = self.degrees[k_min:k_max + 1]
        values = self.eigenvalues[k_min:k_max + 1]
        magnitude = [np.median(np.abs(values[degrees % 2 == parity])) for parity in (0, 1)]
        keep = np.ones(len(degrees), dtype=bool)
        for parity in (0, 1):
            if magnitude[parity] < VANISHING_PARITY * magnitude[1 - parity]:
                keep &= degrees % 2 != parity
        degrees, values = degrees[keep], values[keep]
        fit = fits.fit_loglog(degrees, values, name="degrees")
        if np.any(values <= 0):
            return fits.unreliable(fit, f"mu_k <= 0 at degrees {degrees[values <= 0][:5].tolist()} in "
                                        f"[{k_min}, {k_max}]: the eigenvalues there are below the quadrature's accuracy")
        return fit

    def expanded(self, count: int) -> np.ndarray:
        """The ``count`` largest eigenvalues of the operator, each repeated by its multiplicity, descending.

        Valid while every degree above the maximum computed has a smaller eigenvalue.

        Args:
            count: how many eigenvalues.

        Returns:
            The eigenvalues, shape (count,).

        Raises:
            ValueError: more eigenvalues than the computed degrees hold.
        """
        check_integer("count", count, minimum=1)
        order = np.argsort(-self.eigenvalues, kind="stable")
        repeats = np.minimum(self.multiplicities[order], count).astype(np.int64)
        if repeats.sum() < count:
            raise ArgumentValueError(f"count={count} exceeds the {int(repeats.sum())} eigenvalues up to degree "
                                     f"{int(self.degrees[-1])}; raise max_degree")
        return np.repeat(self.eigenvalues[order], repeats)[:count]


def sphere_eigenvalues(net, dim: int, max_degree: int, kernel: str = "ntk",
                       n_nodes: int | None = None) -> SphereSpectrum:
    """Exact Mercer eigenvalues mu_0..mu_max_degree of ``net``'s kernel for the uniform distribution on the sphere.

    The sphere has radius sqrt(dim); the formula (Funk-Hecke) is in the module docstring. kappa(t)
    is evaluated with net.kernel on points x = sqrt(d) e_1, x' = sqrt(d) (cos th e_1 + sin th e_2)
    (so |x|^2 = |x'|^2 = d, x . x' = d cos th) in float64 (JAX x64 switched on for the call). The
    integral over th in [0, pi] uses Gauss-Legendre nodes: in th the kernel is smooth even where
    kappa(t) has (1 - t)^{1/2} singularities (ReLU), so the rule converges fast; P_k comes from the
    three-term recurrence P_k = ((2k + d - 4) t P_{k-1} - (k - 1) P_{k-2}) / (k + d - 3).

    Args:
        net: the network.
        dim: d >= 2.
        max_degree: the largest degree k.
        kernel: "nngp" or "ntk".
        n_nodes: Gauss-Legendre nodes (default 2 max_degree + 500).

    Returns:
        A ``SphereSpectrum``.

    Raises:
        ValueError: an unknown kernel, arguments out of range, or a kernel that is not finite on the
            sphere.

    Example:
        >>> import nngp_ntk as nk
        >>> spectrum = sphere_eigenvalues(nk.FullyConnected(depth=1, activation="identity"), dim=3, max_degree=3)
        >>> np.round(spectrum.eigenvalues, 6) + 0.0       # a linear kernel: degree 1 only
        array([0.      , 0.666667, 0.      , 0.      ])
    """
    check_kernel_name(kernel)
    check_integer("dim", dim, minimum=2)
    check_integer("max_degree", max_degree, minimum=0)
    check_integer("n_nodes", n_nodes, minimum=max_degree + 1, allow_none=True)
    dim, max_degree = int(dim), int(max_degree)
    nodes, weights = scipy.special.roots_legendre(n_nodes or 2 * max_degree + 500)
    angle = 0.5 * np.pi * (nodes + 1.0)
    cosine, sine = np.cos(angle), np.sin(angle)
    weights = weights * sine ** (dim - 2)
    weights /= weights.sum()
    anchor = np.zeros((1, dim))
    anchor[0, 0] = np.sqrt(dim)
    points = np.zeros((len(angle), dim))
    points[:, 0], points[:, 1] = np.sqrt(dim) * cosine, np.sqrt(dim) * sine
    with jax.enable_x64(True):
        kappa = np.asarray(net.kernel(anchor, points, get=kernel), dtype=np.float64)[0]
    if not np.all(np.isfinite(kappa)):
        raise ArgumentValueError(f"the {kernel} kernel is not finite on the sphere of radius sqrt({dim})")
    weighted = weights * kappa
    values = np.empty(max_degree + 1)
    older, old = np.ones_like(cosine), cosine
    values[0] = weighted.sum()
    if max_degree >= 1:
        values[1] = weighted @ cosine
    for k in range(2, max_degree + 1):
        older, old = old, ((2 * k + dim - 4) * cosine * old - (k - 1) * older) / (k + dim - 3)
        values[k] = weighted @ old
    degrees = np.arange(max_degree + 1)
    counts = np.array([multiplicity(dim, int(k)) for k in degrees])
    return SphereSpectrum(dim, kernel, degrees, values, counts)
