"""Power-law fits: exact laws recovered, intervals that cover, and fits that say nothing reported as
unreliable (NaN with a reason) rather than as numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nngp_ntk import spectrum
from nngp_ntk.spectrum import _fits as fits


def test_least_squares_fit_and_its_interval():
    x = np.array([10.0, 20, 40, 80, 160])
    fit = fits.fit_loglog(x, 3.0 * x**-0.7)
    assert fit.alpha == pytest.approx(0.7) and fit.amplitude == pytest.approx(3.0) and fit.reliable
    assert fit.ci[0] == pytest.approx(0.7) and fit.ci[1] == pytest.approx(0.7)
    assert fit.window == (10.0, 160.0) and fit.n_points == 5 and fit.interval == "least-squares"
    np.testing.assert_allclose(fit(x), 3.0 * x**-0.7)
    noisy = fits.fit_loglog(x, 3.0 * x**-0.7 * np.exp([0.05, -0.05, 0.02, -0.04, 0.03]))
    assert noisy.ci[0] < noisy.alpha < noisy.ci[1]
    # the Student-t interval of the slope: scipy's linregress on the same points
    import scipy.stats
    line = scipy.stats.linregress(np.log(x), np.log(3.0 * x**-0.7 * np.exp([0.05, -0.05, 0.02, -0.04, 0.03])))
    half = scipy.stats.t.ppf(0.975, 3) * line.stderr
    assert noisy.alpha == pytest.approx(-line.slope) and noisy.ci[1] - noisy.alpha == pytest.approx(half)


def test_shift_and_weights_read_an_eigenvalue_exponent():
    index = np.arange(10, 201, dtype=np.float64)
    values = 2.0 * index ** -(1 + 0.4)
    fit = fits.fit_loglog(index, values, shift=1.0, weights=1 / index, interval="bootstrap", n_bootstrap=50)
    assert fit.alpha == pytest.approx(0.4) and fit.alpha_K == fit.alpha and fit.interval == "bootstrap"
    np.testing.assert_allclose(fit(index), values, rtol=1e-10)
    assert fits.log_slope(index, values, 1 / index) == pytest.approx(-1.4)


def test_bootstrap_over_repeats_goes_through_their_mean():
    x = np.array([10.0, 20, 40, 80, 160])
    rng = np.random.default_rng(0)
    repeats = 2.0 * x**-0.5 * np.exp(rng.normal(0, 0.05, (8, 5)))
    fit = fits.fit_loglog(x, repeats, interval="bootstrap", n_bootstrap=500, seed=1)
    assert fit.alpha == pytest.approx(fits.fit_loglog(x, repeats.mean(axis=0)).alpha)
    assert fit.ci[0] < fit.alpha < fit.ci[1] and fit.ci[1] - fit.ci[0] < 0.2
    single = fits.fit_loglog(x, repeats[:1], interval="bootstrap")
    assert single.interval == "least-squares"          # one repeat: nothing to resample


def test_fits_on_too_little_are_unreliable_not_numbers():
    cases = [(fits.fit_loglog([10, 20], [1.0, 0.5]), "at least 3"),
             (fits.fit_loglog([10, 11, 12], [1.0, 0.9, 0.8]), "too short"),
             (fits.fit_loglog([10, 20, 40], [1.0, 0.0, 0.5]), "not positive"),
             # three points that do not decay at all: a wide interval across zero
             (fits.fit_loglog([10, 20, 40], [1.0, 0.5, 1.0]), "not determined")]
    for fit, reason in cases:
        assert not fit.reliable and reason in fit.reason, fit.reason
        assert np.isnan(fit.alpha) and np.isnan(fit.ci).all() and np.isnan(fit.amplitude)
        assert np.isnan(fit(np.array([10.0]))).all()
        assert json.loads(json.dumps(fit.as_dict()))["alpha"] is None


def test_a_fit_is_judged_by_its_interval_not_by_its_sign():
    x = np.geomspace(10, 400, 12)
    noise = np.exp(np.random.default_rng(0).normal(0, 0.01, len(x)))
    tight = fits.fit_loglog(x, x**-0.001 * noise)               # an exponent near zero, known to +-0.004
    assert tight.reliable and tight.ci[0] < 0 < tight.ci[1] and tight.ci[1] - tight.ci[0] < 0.02
    assert tight.alpha == pytest.approx(0.001, abs=0.004)
    wide = fits.fit_loglog(x, x**-0.001 * noise**20)            # the same law, noise 20 times larger
    assert not wide.reliable and "not determined" in wide.reason and np.isnan(wide.alpha)
    clear = fits.fit_loglog(x, x**-0.5 * noise**20)             # a wide interval that keeps its sign
    assert clear.reliable and clear.ci[0] > 0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="x must be"):
        fits.fit_loglog([10, -20, 40], [1.0, 0.5, 0.2])
    with pytest.raises(ValueError, match="one value per entry"):
        fits.fit_loglog([10, 20, 40], [1.0, 0.5])
    with pytest.raises(ValueError, match="finite"):
        fits.fit_loglog([10, 20, 40], [1.0, np.nan, 0.2])
    with pytest.raises(ValueError, match="interval"):
        fits.fit_loglog([10, 20, 40], [1.0, 0.5, 0.2], interval="profile")
    with pytest.raises(ValueError, match="half_width"):
        fits.fit_loglog([10, 20, 40], [1.0, 0.5, 0.2], interval="jackknife")
    given = fits.fit_loglog([10, 20, 40], [1.0, 0.5, 0.3], interval="jackknife", half_width=0.01)
    assert given.interval == "jackknife" and given.ci == pytest.approx((given.alpha - 0.01, given.alpha + 0.01))
    with pytest.raises(ValueError, match="confidence"):
        fits.fit_loglog([10, 20, 40], [1.0, 0.5, 0.2], confidence=1.5)
    with pytest.raises(ValueError, match="weights"):
        fits.fit_loglog([10, 20, 40], [1.0, 0.5, 0.2], weights=[1.0, -1.0, 1.0])


def _paired_curves(x, repeats, seed, level_spread=1.0, noise=0.02, correction=0.0):
    """Curves 3 + level_r + 2/x (1 + correction/x) (1 + noise e_r(x)), e_r a random walk over x (nested
    training sets make one repeat's points correlated), levels far larger than the x-dependence
    (positive losses: the fit holds L_inf >= 0)."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0, noise, (repeats, len(x)))[:, ::-1], axis=1)[:, ::-1]
    return 3.0 + level_spread * rng.normal(size=(repeats, 1)) + 2.0 / x * (1 + correction / x) * (1 + walk)


def test_paired_fit_cancels_each_repeats_level():
    x = np.array([10.0, 20, 40, 80, 160, 320])
    curves = _paired_curves(x, 20, seed=0)
    fit = spectrum.fit_offset_power_law(x, curves)
    assert fit.ci[0] < 1.0 < fit.ci[1] and fit.ci[1] - fit.ci[0] < 0.2      # levels spread by 1, excess ~0.2
    assert fit.limit == pytest.approx(curves[:, -1].mean() - 2.0 / 320, abs=0.01)
    exact = spectrum.fit_offset_power_law(x, _paired_curves(x, 5, seed=1, noise=0.0, correction=8.0),
                                                next_order=True)
    assert exact.alpha == pytest.approx(1.0, abs=1e-5) and exact.correction == pytest.approx(8.0, rel=1e-4)
    assert exact.amplitude == pytest.approx(2.0, rel=1e-4)
    one_term = spectrum.fit_offset_power_law(x, _paired_curves(x, 5, seed=1, noise=0.0, correction=8.0))
    assert one_term.alpha > 1.1                                             # the next order steepens one term


@pytest.mark.slow
def test_paired_fit_interval_covers():
    x = np.array([10.0, 20, 40, 80, 160, 320])
    fitted = [spectrum.fit_offset_power_law(x, _paired_curves(x, 20, seed=s, noise=0.05)) for s in range(60)]
    reported = [fit.ci for fit in fitted if fit.reliable]     # the rest: intervals across zero, said so
    assert len(reported) >= 45
    assert np.mean([low <= 1.0 <= high for low, high in reported]) >= 0.85


def test_paired_fit_refuses_bad_input_and_reports_what_it_cannot_fit():
    x = np.array([10.0, 20, 40, 80])
    curves = _paired_curves(x, 4, seed=0)
    with pytest.raises(ValueError, match="at least 2 repeats"):
        spectrum.fit_offset_power_law(x, curves[:1])
    with pytest.raises(ValueError, match="shape"):
        spectrum.fit_offset_power_law(x, curves[:, :3])
    with pytest.raises(ValueError, match="finite"):
        spectrum.fit_offset_power_law(x, np.where(curves > 0, np.nan, curves))
    for fit, reason in [(spectrum.fit_offset_power_law(x[:3], curves[:, :3]), "at least 4"),
                        (spectrum.fit_offset_power_law(x, curves, next_order=True), "at least 5"),
                        (spectrum.fit_offset_power_law(x, curves[:, ::-1]), "no approach to a limit")]:
        assert not fit.reliable and reason in fit.reason
        assert np.isnan(fit.alpha) and np.isnan(fit.ci).all() and np.isnan(fit.amplitude) and np.isnan(fit.limit)


def test_paired_fit_with_a_degenerate_optimum_is_unreliable():
    # a step down after the first point and flat beyond: the steepest law the search allows fits best
    x = np.array([100.0, 200, 400, 800])
    rng = np.random.default_rng(0)
    curves = 1.0 + rng.normal(0, 1, (3, 1)) + np.array([0.5, 0.0, 0.0, 0.0]) + rng.normal(0, 1e-3, (3, 4))
    fit = spectrum.fit_offset_power_law(x, curves)
    assert not fit.reliable and "search range" in fit.reason and np.isnan(fit.alpha)
    # few noisy repeats: the jackknife interval reaches across zero
    noisy = 1.0 + 2.0 / x + rng.normal(0, 0.05, (3, 4))
    wide = spectrum.fit_offset_power_law(x, noisy)
    assert not wide.reliable and np.isnan(wide.alpha)


# ----------------------------------------------------------------------------- lack of fit

OCTAVES = 10.0 * 2.0 ** np.arange(6)


def test_an_exact_power_law_is_not_a_poor_fit():
    for y in (3.0 * OCTAVES**-0.7,                                               # points
              np.array([[1.0], [2.0], [0.5]]) * OCTAVES**-0.7):                 # repeats at their own levels
        fit = fits.fit_loglog(OCTAVES, y)
        assert fit.reliable and not fit.poor and fit.poor_reason == ""
        assert fit.curvature == pytest.approx(0.0, abs=1e-12) and fit.max_residual < 1e-12
        np.testing.assert_allclose(fit.local_alpha, 0.7)
    three = fits.fit_loglog(OCTAVES[:3], OCTAVES[:3] ** -0.5 + 0.3)         # nothing left to test against
    assert three.reliable and np.isnan(three.lack_of_fit_p) and not three.poor


def test_a_bending_curve_is_a_poor_fit_that_keeps_its_numbers():
    curves = {"offset": OCTAVES**-0.5 + 0.3,                                     # flattens: alpha falls with x
              "log-quadratic": np.exp(-0.5 * np.log(OCTAVES) - 0.05 * np.log(OCTAVES / 10) ** 2)}  # steepens
    for name, y in curves.items():
        fit = fits.fit_loglog(OCTAVES, y)
        assert fit.poor and fit.reliable and np.isfinite(fit.alpha) and not fit.reason, name
        assert fit.lack_of_fit_p < fits.LACK_OF_FIT_LEVEL and fit.max_residual > fits.MIN_MISS
        assert "bends" in fit.poor_reason and f"{fit.lack_of_fit_p:.2g}" in fit.poor_reason
        start, end = fit.local_alpha
        assert (start > fit.alpha > end) if name == "offset" else (start < fit.alpha < end)
    # the log-quadratic's local exponent is exact: 0.5 + 0.1 log(x / 10) at the window's ends
    assert fit.curvature == pytest.approx(-0.05) and fit.local_alpha[1] == pytest.approx(0.5 + 0.1 * np.log(32))
    # repeats at the level of the noise: the curvature's error from their scatter (jackknife)
    rng = np.random.default_rng(0)
    repeats = fits.fit_loglog(OCTAVES, curves["offset"] * np.exp(rng.normal(0, 0.02, (5, 6))),
                                 interval="bootstrap", n_bootstrap=100)
    assert repeats.poor and repeats.ci[1] - repeats.ci[0] < 0.05         # a narrow interval, a poor fit
    record = json.loads(json.dumps(repeats.as_dict()))
    assert record["poor"] and "bends" in record["poor_reason"] and record["lack_of_fit_p"] < 0.01
    assert record["alpha"] == pytest.approx(repeats.alpha) and len(record["local_alpha"]) == 2


def test_noise_at_the_level_of_the_error_bars_is_not_a_poor_fit():
    noisy_repeats = [fits.fit_loglog(OCTAVES, 2.0 * OCTAVES**-0.5 * np.exp(
        np.random.default_rng(seed).normal(0, 0.05, (5, 6)))) for seed in range(40)]
    noisy_points = [fits.fit_loglog(OCTAVES, 2.0 * OCTAVES**-0.5 * np.exp(
        np.random.default_rng(seed).normal(0, 0.05, 6))) for seed in range(40)]
    for fitted in (noisy_repeats, noisy_points):                    # p < 0.01 in about 1% of seeds
        assert all(np.isfinite(fit.lack_of_fit_p) for fit in fitted if fit.reliable)
        assert sum(fit.poor for fit in fitted) <= 4
    assert spectrum.fit_offset_power_law(OCTAVES, _paired_curves(OCTAVES, 5, seed=0)).poor is False   # not tested
