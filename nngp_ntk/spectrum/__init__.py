"""Spectra of the NNGP and NTK, and the power-law fits their exponents are read with.

On N points the eigenvalues of K(X, X) / N approximate those of the kernel's integral operator;
if lambda_i ~ A i^-(1 + alpha_K) the test loss falls as D^-alpha_K in the resolution-limited
regime (Bahri et al.). On the sphere the operator's eigenvalues are exact (Funk-Hecke).

* ``eigenvalues`` / ``eigh``: dense, or randomized block Krylov on row blocks of K (``kernel_product``,
  ``randomized_eigh``) so that K is never held in memory.
* ``fit_power_law``: alpha_K from eigenvalues, on a window of indices, with a bootstrap interval.
* ``sphere_eigenvalues``, ``multiplicity``: Mercer eigenvalues per degree on the sphere.
* ``PowerLawFit``: the one result type of every exponent fit; ``fit_loglog`` fits y = A x^-alpha
  to any (x, y), ``fit_offset_power_law`` y = L + A x^-alpha.
"""

from nngp_ntk._checks import UnreliableFitWarning
from nngp_ntk.spectrum._eigenvalues import (Eigensystem, default_window, eigenvalues, eigh, fit_power_law,
                                            kernel_product, randomized_eigh)
from nngp_ntk.spectrum._fits import PowerLawFit, fit_loglog
from nngp_ntk.spectrum._offset_fits import fit_offset_power_law
from nngp_ntk.spectrum._sphere import SphereSpectrum, multiplicity, sphere_eigenvalues

__all__ = [
    "Eigensystem", "PowerLawFit", "SphereSpectrum", "UnreliableFitWarning", "default_window", "eigenvalues",
    "eigh", "fit_loglog", "fit_offset_power_law", "fit_power_law", "kernel_product", "multiplicity",
    "randomized_eigh", "sphere_eigenvalues",
]
