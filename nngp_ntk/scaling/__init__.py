"""Measured scaling laws of the test loss: L(D), L(P), L(D, t) and the variance-limited regimes.

Bahri, Dyer, Kaplan, Lee & Sharma, "Explaining Neural Scaling Laws": with lambda_i ~ i^-(1 + alpha_K)
the loss falls as D^-alpha_D with D training points and as P^-alpha_P with P features
(resolution-limited, alpha_D = alpha_P = alpha_K for GP targets), and approaches its limit as 1/D
or 1/P when the other resource is the bottleneck (variance-limited).

* ``learning_curve``: kernel regression on nested training subsets; L(D) and alpha_D.
* ``model_curve``: random-feature models of P features; L(P) and alpha_P.
* ``variance_limited_data``, ``variance_limited_width``: L - L_inf ~ 1/D at fixed width, ~ 1/P at fixed D.
* ``sgd_curve``: one-pass SGD on width-P random features; L(P, n) and its compute frontier (``SgdCurve``).
* ``flow_curve``: gradient flow for a time t on D points; L(D, t) and alpha_T (``TimeCurve``).
* ``Curve``, ``OffsetCurve``: their results; ``holdout_split``: the held-out test split they use.
"""

from nngp_ntk.scaling._curves import Curve, holdout_split, learning_curve, model_curve
from nngp_ntk.scaling._flow import TimeCurve, flow_curve
from nngp_ntk.scaling._regimes import OffsetCurve, variance_limited_data, variance_limited_width
from nngp_ntk.scaling._sgd import SgdCurve, sgd_curve

__all__ = [
    "Curve", "OffsetCurve", "SgdCurve", "TimeCurve", "flow_curve", "holdout_split", "learning_curve", "model_curve",
    "sgd_curve", "variance_limited_data", "variance_limited_width",
]
