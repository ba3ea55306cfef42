"""Power-law fits: exact laws recovered, intervals that cover, and fits that say nothing reported as
unreliable (NaN with a reason) rather than as numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nngp_ntk import fits


def test_least_squares_fit_and_its_interval():
    x = np.array([10.0, 20, 40, 80, 160])
    fit = fits.fit_power_law(x, 3.0 * x**-0.7)
    assert fit.alpha == pytest.approx(0.7) and fit.amplitude == pytest.approx(3.0) and fit.reliable
    assert fit.ci[0] == pytest.approx(0.7) and fit.ci[1] == pytest.approx(0.7)
    assert fit.window == (10.0, 160.0) and fit.n_points == 5 and fit.interval == "least-squares"
    np.testing.assert_allclose(fit(x), 3.0 * x**-0.7)
    noisy = fits.fit_power_law(x, 3.0 * x**-0.7 * np.exp([0.05, -0.05, 0.02, -0.04, 0.03]))
    assert noisy.ci[0] < noisy.alpha < noisy.ci[1]
    # the Student-t interval of the slope: scipy's linregress on the same points
    import scipy.stats
    line = scipy.stats.linregress(np.log(x), np.log(3.0 * x**-0.7 * np.exp([0.05, -0.05, 0.02, -0.04, 0.03])))
    half = scipy.stats.t.ppf(0.975, 3) * line.stderr
    assert noisy.alpha == pytest.approx(-line.slope) and noisy.ci[1] - noisy.alpha == pytest.approx(half)


def test_shift_and_weights_read_an_eigenvalue_exponent():
    index = np.arange(10, 201, dtype=np.float64)
    values = 2.0 * index ** -(1 + 0.4)
    fit = fits.fit_power_law(index, values, shift=1.0, weights=1 / index, interval="bootstrap", n_bootstrap=50)
    assert fit.alpha == pytest.approx(0.4) and fit.alpha_K == fit.alpha and fit.interval == "bootstrap"
    np.testing.assert_allclose(fit(index), values, rtol=1e-10)
    assert fits.log_slope(index, values, 1 / index) == pytest.approx(-1.4)


def test_bootstrap_over_repeats_goes_through_their_mean():
    x = np.array([10.0, 20, 40, 80, 160])
    rng = np.random.default_rng(0)
    repeats = 2.0 * x**-0.5 * np.exp(rng.normal(0, 0.05, (8, 5)))
    fit = fits.fit_power_law(x, repeats, interval="bootstrap", n_bootstrap=500, seed=1)
    assert fit.alpha == pytest.approx(fits.fit_power_law(x, repeats.mean(axis=0)).alpha)
    assert fit.ci[0] < fit.alpha < fit.ci[1] and fit.ci[1] - fit.ci[0] < 0.2
    single = fits.fit_power_law(x, repeats[:1], interval="bootstrap")
    assert single.interval == "least-squares"          # one repeat: nothing to resample


def test_fits_on_too_little_are_unreliable_not_numbers():
    cases = [(fits.fit_power_law([10, 20], [1.0, 0.5]), "at least 3"),
             (fits.fit_power_law([10, 11, 12], [1.0, 0.9, 0.8]), "too short"),
             (fits.fit_power_law([10, 20, 40], [1.0, 0.0, 0.5]), "not positive"),
             # three points that do not decay at all: an interval across zero
             (fits.fit_power_law([10, 20, 40], [1.0, 0.5, 1.0]), "across zero")]
    for fit, reason in cases:
        assert not fit.reliable and reason in fit.reason, fit.reason
        assert np.isnan(fit.alpha) and np.isnan(fit.ci).all() and np.isnan(fit.amplitude)
        assert np.isnan(fit(np.array([10.0]))).all()
        assert json.loads(json.dumps(fit.as_dict()))["alpha"] is None


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="x must be"):
        fits.fit_power_law([10, -20, 40], [1.0, 0.5, 0.2])
    with pytest.raises(ValueError, match="one value per entry"):
        fits.fit_power_law([10, 20, 40], [1.0, 0.5])
    with pytest.raises(ValueError, match="finite"):
        fits.fit_power_law([10, 20, 40], [1.0, np.nan, 0.2])
    with pytest.raises(ValueError, match="interval"):
        fits.fit_power_law([10, 20, 40], [1.0, 0.5, 0.2], interval="jackknife")
    with pytest.raises(ValueError, match="confidence"):
        fits.fit_power_law([10, 20, 40], [1.0, 0.5, 0.2], confidence=1.5)
    with pytest.raises(ValueError, match="weights"):
        fits.fit_power_law([10, 20, 40], [1.0, 0.5, 0.2], weights=[1.0, -1.0, 1.0])


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
    fit = fits.fit_offset_power_law(x, curves)
    assert fit.ci[0] < 1.0 < fit.ci[1] and fit.ci[1] - fit.ci[0] < 0.2      # levels spread by 1, excess ~0.2
    assert fit.limit == pytest.approx(curves[:, -1].mean() - 2.0 / 320, abs=0.01)
    exact = fits.fit_offset_power_law(x, _paired_curves(x, 5, seed=1, noise=0.0, correction=8.0),
                                                next_order=True)
    assert exact.alpha == pytest.approx(1.0, abs=1e-5) and exact.correction == pytest.approx(8.0, rel=1e-4)
    assert exact.amplitude == pytest.approx(2.0, rel=1e-4)
    one_term = fits.fit_offset_power_law(x, _paired_curves(x, 5, seed=1, noise=0.0, correction=8.0))
    assert one_term.alpha > 1.1                                             # the next order steepens one term


@pytest.mark.slow
def test_paired_fit_interval_covers():
    x = np.array([10.0, 20, 40, 80, 160, 320])
    fitted = [fits.fit_offset_power_law(x, _paired_curves(x, 20, seed=s, noise=0.05)) for s in range(60)]
    reported = [fit.ci for fit in fitted if fit.reliable]     # the rest: intervals across zero, said so
    assert len(reported) >= 45
    assert np.mean([low <= 1.0 <= high for low, high in reported]) >= 0.85


def test_paired_fit_refuses_bad_input_and_reports_what_it_cannot_fit():
    x = np.array([10.0, 20, 40, 80])
    curves = _paired_curves(x, 4, seed=0)
    with pytest.raises(ValueError, match="at least 2 repeats"):
        fits.fit_offset_power_law(x, curves[:1])
    with pytest.raises(ValueError, match="shape"):
        fits.fit_offset_power_law(x, curves[:, :3])
    with pytest.raises(ValueError, match="finite"):
        fits.fit_offset_power_law(x, np.where(curves > 0, np.nan, curves))
    for fit, reason in [(fits.fit_offset_power_law(x[:3], curves[:, :3]), "at least 4"),
                        (fits.fit_offset_power_law(x, curves, next_order=True), "at least 5"),
                        (fits.fit_offset_power_law(x, curves[:, ::-1]), "no approach to a limit")]:
        assert not fit.reliable and reason in fit.reason
        assert np.isnan(fit.alpha) and np.isnan(fit.ci).all() and np.isnan(fit.amplitude) and np.isnan(fit.limit)


def test_paired_fit_with_a_degenerate_optimum_is_unreliable():
    # a step down after the first point and flat beyond: the steepest law the search allows fits best
    x = np.array([100.0, 200, 400, 800])
    rng = np.random.default_rng(0)
    curves = 1.0 + rng.normal(0, 1, (3, 1)) + np.array([0.5, 0.0, 0.0, 0.0]) + rng.normal(0, 1e-3, (3, 4))
    fit = fits.fit_offset_power_law(x, curves)
    assert not fit.reliable and "search range" in fit.reason and np.isnan(fit.alpha)
    # few noisy repeats: the jackknife interval reaches across zero
    noisy = 1.0 + 2.0 / x + rng.normal(0, 0.05, (3, 4))
    wide = fits.fit_offset_power_law(x, noisy)
    assert not wide.reliable and np.isnan(wide.alpha)
