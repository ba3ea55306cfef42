"""Learning-curve theory: the test loss and the scaling exponents predicted from a kernel's spectrum.

Eigenlearning gives the test MSE of kernel ridge regression on n points from the operator's
eigenvalues lambda_i and the target's powers v_i^2:

    kappa: sum_i lambda_i / (lambda_i + kappa) + ridge / kappa = n,
    L_i = lambda_i / (lambda_i + kappa),  E0 = n / (n - sum_i L_i^2),  MSE = E0 (sum_i (1 - L_i)^2 v_i^2 + sigma^2).

* ``eigenlearning``, ``solve_kappa``, ``ModeSpectrum``, ``TheoryCurve``: the theory on given modes.
* ``Renormalized``, ``LeaveOneOut``, ``operator_exponent``: the theory read off an N-point sample.
* ``extend_spectrum``, ``ExtendedSpectrum``: a sample spectrum continued by power-law tails.
* ``RandomFeatureLeaveOneOut``: L(P, D) of random-feature models.
* ``extrapolate_learning_curve``, ``Extrapolation``: L(D) beyond the sample, with intervals.
* ``predict_flow_curve``, ``FlowCurve``, ``FlowLeaveOneOut``: L(D, t) of gradient flow for a time t.
* ``predict_sgd_curve``, ``SgdPrediction``, ``sgd_risk``, ``sgd_schedule``: L(P, n) of one-pass SGD on
  width-P random features (the Gaussian-feature risk recursion).
* ``compute_frontier``, ``ComputeFrontier``: L*(C), P*(C) and alpha_C of a loss grid, compute C = P n.
* ``predict_exponents``, ``Exponents``: alpha_K, alpha_D and alpha_P of a network on a dataset.
"""

from nngp_ntk.theory._eigenlearning import ModeSpectrum, TheoryCurve, eigenlearning, solve_kappa
from nngp_ntk.theory._exponents import Exponents, predict_exponents
from nngp_ntk.theory._extrapolation import Extrapolation, extrapolate_learning_curve
from nngp_ntk.theory._flow_curve import FlowCurve, FlowLeaveOneOut, predict_flow_curve
from nngp_ntk.theory._random_features import RandomFeatureLeaveOneOut
from nngp_ntk.theory._sgd import (ComputeFrontier, SgdPrediction, compute_frontier, predict_sgd_curve, sgd_risk,
                                  sgd_schedule)
from nngp_ntk.theory._samples import LeaveOneOut, Renormalized, operator_exponent
from nngp_ntk.theory._tails import ExtendedSpectrum, extend_spectrum

__all__ = [
    "ComputeFrontier", "ExtendedSpectrum", "Exponents", "Extrapolation", "FlowCurve", "FlowLeaveOneOut", "LeaveOneOut", "ModeSpectrum",
    "RandomFeatureLeaveOneOut", "Renormalized", "SgdPrediction", "TheoryCurve", "compute_frontier", "eigenlearning", "extend_spectrum",
    "extrapolate_learning_curve", "operator_exponent", "predict_exponents", "predict_flow_curve", "predict_sgd_curve",
    "sgd_risk", "sgd_schedule", "solve_kappa",
]
