"""The scaling-law experiments of the ``nngp-ntk`` command: ``exponents`` (the main job) and ``regimes``.

The experiments::

    exponents: on the data of ``[data]`` (default: 5,000 MNIST images, one-hot labels) and the
        network of ``[network]`` (default: ReLU, depth 3),
          predicted  alpha_D, alpha_P, and the operator's alpha_K (lambda_i ~ i^-(1 + alpha_K)) and the
                     labels' beta (v_i^2 ~ i^-(1 + beta)) at the indices the sizes resolve, read off the
                     eigenlearning curves (``predict_exponents``; alpha_P from the NNGP, the kernel of
                     random-feature models, with their finite training set); alpha_K_sample, the
                     power-law fit of the raw sample eigenvalues of K/N, beside them; all from the
                     training pool only, points and labels: the "anchored" prediction uses the labels'
                     leave-one-out error on it, the "spectrum only" one only its spectrum and the
                     labels' projections; the measured curves are tested on the other points, a fixed
                     test set;
          measured   alpha_D of L(D) ~ D^-alpha_D, kernel regression on D training points
                     (``scaling.learning_curve``), and alpha_P of L(P) ~ P^-alpha_P, random-feature models of
                     width P with the readout fitted on all training points (``scaling.model_curve``);
        written to exponents.json and spectrum.png, learning_curve.png, model_curve.png.

    regimes: the four regimes of Bahri et al. for targets drawn from the kernel's own GP (teacher =
        student), written to regimes.json and regimes.png:
          resolution-limited in D  L(D) ~ D^-alpha_D at infinite width     (alpha_D = alpha_K in theory)
          resolution-limited in P  L(P) ~ P^-alpha_P with D >> P           (alpha_P = alpha_K of the NNGP)
          variance-limited in D    L(D) = L_inf + c D^-alpha at fixed P << D  (alpha = 1)
          variance-limited in P    L(P) = L_inf + c P^-alpha at fixed D << P  (alpha = 1)

    compute: one-pass SGD on the readout of the network's random hidden layer of width P for n steps,
        L(P, n) predicted from the training pool (``theory.predict_sgd_curve``) and measured on the
        held-out points (``scaling.sgd_curve``), alpha_N, alpha_P and the compute-optimal frontier
        L*(C) = min over P n <= C with alpha_C and the optimal width P*(C); written to compute.json
        and compute.png.

Every measured exponent printed or plotted carries its flags (``text``): unreliable, poor fit, and
disagrees when its interval and its prediction's do not overlap; the printed table ends with a
line that explains the flags it uses, and the JSON holds them (reason, poor, disagrees).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from nngp_ntk import data, scaling
from nngp_ntk.cli._config import ConfigError
from nngp_ntk.cli._schema import Config
from nngp_ntk.cli._text import DISAGREES, POOR, UNRELIABLE, disagrees, fit_interval, flagged, interval, legend
from nngp_ntk.theory._exponents import Exponents, predict_exponents
from nngp_ntk.theory._sgd import ComputeFrontier, predict_sgd_curve
from nngp_ntk.cli._tasks import Output, build_network, describe_run, load_problem

#: The exponent of the variance-limited regimes, L - L_inf ~ x^-1 (Bahri et al.).
VARIANCE_EXPONENT = 1.0


class Stages:
    """A progress bar over the named stages of an experiment (off when ``progress`` is False, and
    when stderr is not a terminal) that records the seconds each stage took."""

    def __init__(self, names: Sequence[str], progress: bool | None) -> None:
        self.names = list(names)
        self.seconds: dict[str, float] = {}
        self._current = 0
        self._started = time.perf_counter()
        self._bar = tqdm(total=len(self.names), desc=self.names[0], disable=True if progress is False else None,
                         leave=False, bar_format="{desc:<26} {n_fmt}/{total_fmt} stages [{elapsed}]")

    def done(self) -> None:
        """The current stage is finished: record its time, show the next one."""
        now = time.perf_counter()
        self.seconds[self.names[self._current]] = round(now - self._started, 2)
        self._started = now
        self._current += 1
        if self._current < len(self.names):
            self._bar.set_description_str(self.names[self._current], refresh=False)
        self._bar.update(1)
        if self._current == len(self.names):
            self._bar.close()


def default_split(n_points: int, test_size: int | None, sizes: list[int] | None) -> tuple[int, list[int]]:
    """(test_size, sizes) with the library's defaults where not given.

    ``data.held_out_count``: a quarter of the points, at most 1000, held out; ``data.default_sizes``:
    100, 200, 400, ... below the training pool (a size that reaches the pool needs the spectrum
    extrapolated, which a small sample cannot do).

    Args:
        n_points: N, the number of points.
        test_size: held-out points, or None for the default.
        sizes: training-set sizes D, or None for the default.

    Returns:
        (test_size, sizes).

    Raises:
        ConfigError: a test_size that leaves fewer than 3 training points, or sizes beyond the pool.

    Example:
        >>> default_split(5000, None, None)
        (1000, [100, 200, 400, 800, 1600, 3200])
    """
    if test_size is not None and test_size >= n_points - 2:
        raise ConfigError(f"test_size = {test_size} leaves {n_points - test_size} training points of {n_points}")
    test_size = data.held_out_count(n_points, test_size)
    pool = n_points - test_size
    if sizes is None:
        sizes = data.default_sizes(pool - 1).tolist()
    if max(sizes) > pool:
        raise ConfigError(f"the largest training-set size {max(sizes)} exceeds the {pool} points left beside "
                          f"test_size = {test_size} (of {n_points})")
    return test_size, sizes


def _curve_json(curve: scaling.Curve, predicted: float | None = None,
                predicted_ci: Sequence[float] | None = None) -> dict[str, Any]:
    """A measured curve and its power-law fit for JSON, with the fit's lack-of-fit diagnostic
    (``fits.PowerLawFit.lack_of_fit``: poor, poor_reason, curvature, lack_of_fit_p, ...) and whether
    it disagrees with its prediction (``text.disagrees``)."""
    return {"alpha": curve.alpha, "ci": list(curve.ci), "amplitude": curve.fit.amplitude,
            "window": list(curve.fit.window), "reason": curve.fit.reason or None, **curve.fit.lack_of_fit(),
            "disagrees": disagrees(curve.alpha, curve.ci, predicted, predicted_ci),
            "x": curve.x, "losses": curve.losses, "errors": curve.errors}


def _measured_plot(curve: scaling.Curve, name: str, label: str, predicted: float | None = None,
                   predicted_ci: Sequence[float] | None = None):
    """A ``plots.Curve`` of measured losses with error bars and the power law fitted through them,
    drawn on its fit window; no line for an unreliable fit, nor for a poor one (a line through a
    curve that bends): then the window is shaded, its label saying how the curve bends. The label
    flags a fit that disagrees with the prediction given (``text.flagged``)."""
    from nngp_ntk.cli import _plots as plots

    errors = None if np.isnan(curve.errors).all() else curve.errors
    measured = f"measured, $\\alpha_{name}$ = {flagged(curve.fit, predicted, predicted_ci)}"
    if not curve.fit.reliable:          # no line where the fit says nothing
        return plots.Curve(curve.x, curve.losses, errors, measured)
    low, high = curve.fit.window
    if curve.fit.poor:                  # no line through a curve that bends
        start, end = curve.fit.local_alpha
        bends = f"no line: the curve bends, local $\\alpha_{name}$ {start:.2f} to {end:.2f}"
        return plots.Curve(curve.x, curve.losses, errors, measured, window=(low, high),
                           window_label=f"fit window {name} = {low:.0f}..{high:.0f}\n{bends}")
    inside = curve.x[(curve.x >= low) & (curve.x <= high)]
    return plots.Curve(curve.x, curve.losses, errors, measured, inside, curve.fit(inside),
                       f"fit {label} on {name} = {low:.0f}..{high:.0f}")


def _predicted_plot(x: np.ndarray, losses: np.ndarray, name: str, alpha: float, ci: Sequence[float]):
    from nngp_ntk.cli import _plots as plots

    return plots.Curve(x, losses, None, "", x, losses,
                       f"predicted (eigenlearning), $\\alpha_{name}$ = {interval(alpha, ci)}")


# ----------------------------------------------------------------------------- exponents

def run_exponents(config: Config, progress: bool | None, plots: bool) -> list[str]:
    """The main job (module docstring): predicted and measured exponents, exponents.json and figures.

    Args:
        config: a typed config of task "exponents".
        progress: show progress bars (None: when stderr is a terminal).
        plots: write spectrum.png, learning_curve.png and model_curve.png.

    Returns:
        The table to print.

    Raises:
        ConfigError: sizes beyond the training pool, or bad data.
    """
    start = time.perf_counter()
    section, seed = config.exponents, config.seed
    net = build_network(config)
    output = Output(config.out)
    with_model = section.widths is None or len(section.widths) > 0
    names = ["loading data", "spectrum and predicted L(D)", "spectrum-only L(D)", "measured L(D)"]
    names += ["measured L(P)", "predicted L(P)"] if with_model else []
    names += ["plots"] if plots else []
    stages = Stages(names, progress)
    problem = load_problem(config, net, section.kernel)
    X, Y, kernel = problem.X, problem.Y, section.kernel
    test_size, sizes = default_split(len(X), section.test_size, section.sizes)
    test, train = scaling.holdout_split(len(X), test_size, seed)
    pool = len(train)
    stages.done()
    # The predictions see the training pool only (its points and labels), never the test points. alpha_P
    # comes from the NNGP call below.
    predicted = predict_exponents(net, X[train], Y[train], kernel=kernel, sizes=sizes, ridge=section.ridge,
                                  window=section.window, method="auto", model_method="none")
    stages.done()
    spectrum_only = predict_exponents(net, X[train], Y[train], kernel=kernel, sizes=sizes, ridge=section.ridge,
                                      window=section.window, model_method="none",
                                      method="renormalized" if max(sizes) < pool else "extrapolated")
    stages.done()
    measured = scaling.learning_curve(net, X, Y, sizes=sizes, kernel=kernel, ridge=section.ridge,
                                      repeats=section.repeats, seed=seed, test=test)
    stages.done()
    model = model_prediction = None
    if with_model:
        model = scaling.model_curve(net, X, Y, widths=section.widths, train_size=pool, ridge=section.ridge,
                                    repeats=section.repeats, seed=seed, test=test)
        stages.done()
        model_prediction = predict_exponents(net, X[train], Y[train], kernel="nngp",
                                             sizes=model.widths.astype(np.int64), ridge=section.ridge,
                                             train_size=pool, window=section.window, seed=seed,
                                             readout_ridge=section.ridge)
        stages.done()

    result = {
        "predicted": _predicted_json(predicted, model_prediction),
        "predicted_spectrum_only": _spectrum_only_json(spectrum_only),
        "measured": {"alpha_D": measured.alpha, "alpha_D_ci": list(measured.ci),
                     "alpha_P": None if model is None else model.alpha,
                     "alpha_P_ci": None if model is None else list(model.ci),
                     "learning_curve": _curve_json(measured, predicted.alpha_D, predicted.ci["alpha_D"]),
                     "model_curve": None if model is None else _curve_json(model, model_prediction.alpha_P,
                                                                           model_prediction.ci["alpha_P"]),
                     "n_points": len(X), "test_size": test_size, "train_size": pool},
        "targets": "gp" if problem.note else "labels",
        "config": config.as_dict(),
    }
    written = ["exponents.json"]
    if plots:
        written += _exponent_figures(output, config, predicted.eigenvalues, predicted, measured, model_prediction, model)
        stages.done()
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["stage_seconds"] = stages.seconds
    output.json("exponents.json", result)
    table = _exponent_table(config, predicted, spectrum_only, measured, model_prediction, model, len(X), pool)
    return table[:1] + ([problem.note] if problem.note else []) + table[1:] + [
        f"wrote {output.folder}/ ({', '.join(written)}) in {result['seconds']:.0f} s"]


ANCHORED = ("anchored: the training pool's points and labels; the spectrum of its kernel, the labels' projections "
            "and their exact leave-one-out error (method leave-one-out; when a size reaches the pool, power-law: the "
            "leave-one-out curve's power law with its jackknife and backtest interval); "
            "alpha_P from the NNGP and the labels (model_method: sampled-layers, the earlier layers drawn at "
            "width P and the last one averaged by the leave-one-out random-feature theory; leave-one-out, that "
            "theory on the NNGP's spectrum; or the D <-> P duality)")
SPECTRUM_ONLY = ("spectrum only: the training pool's kernel spectrum and the labels' projections on its "
                 "eigenvectors, no leave-one-out anchor (method renormalized; extrapolated when a size reaches the pool)")


def _spectrum_only_json(predicted: Exponents) -> dict[str, Any]:
    return {"inputs": SPECTRUM_ONLY, "method": predicted.method,
            "alpha_K": predicted.alpha_K, "alpha_K_ci": list(predicted.ci["alpha_K"]),
            "beta": predicted.beta, "beta_ci": list(predicted.ci["beta"]),
            "alpha_D": predicted.alpha_D, "alpha_D_ci": list(predicted.ci["alpha_D"]),
            "sizes": predicted.sizes, "losses": predicted.losses}


def _predicted_json(predicted: Exponents, model: Exponents | None) -> dict[str, Any]:
    return {"inputs": ANCHORED, "alpha_K": predicted.alpha_K, "alpha_K_ci": list(predicted.ci["alpha_K"]),
            "beta": predicted.beta, "beta_ci": list(predicted.ci["beta"]),
            "alpha_K_sample": predicted.sample_fit.alpha, "alpha_K_sample_ci": list(predicted.sample_fit.ci),
            "alpha_K_sample_reason": predicted.sample_fit.reason or None,
            "alpha_K_sample_poor_reason": predicted.sample_fit.poor_reason or None,
            "alpha_D": predicted.alpha_D, "alpha_D_ci": list(predicted.ci["alpha_D"]),
            "alpha_P": None if model is None else model.alpha_P,
            "alpha_P_ci": None if model is None else list(model.ci["alpha_P"]),
            "alpha_K_nngp": None if model is None else model.alpha_K,
            "alpha_K_nngp_ci": None if model is None else list(model.ci["alpha_K"]),
            "window": list(predicted.sample_fit.window), "method": predicted.method, "kernel": predicted.kernel,
            "sizes": predicted.sizes, "losses": predicted.losses,
            "widths": None if model is None else model.widths,
            "model_losses": None if model is None else model.model_losses,
            "model_method": None if model is None else model.model_method}


def _exponent_table(config: Config, predicted: Exponents, spectrum_only: Exponents, measured: scaling.Curve,
                    model_prediction: Exponents | None, model: scaling.Curve | None, n_points: int,
                    pool: int) -> list[str]:
    window, sizes = predicted.sample_fit.window, predicted.sizes
    resolved = f"i ~ {sizes[0]:.0f}..{sizes[-1]:.0f}"
    rows = [(f"alpha_K         operator, {resolved}", interval(predicted.alpha_K, predicted.ci["alpha_K"]), ""),
            (f"alpha_K_sample  K/N, i = {window[0]}..{window[1]}", fit_interval(predicted.sample_fit), ""),
            (f"beta            targets, {resolved}", interval(predicted.beta, predicted.ci["beta"]), ""),
            (f"alpha_D         D = {measured.x[0]:.0f}..{measured.x[-1]:.0f}, anchored",
             interval(predicted.alpha_D, predicted.ci["alpha_D"]),
             flagged(measured.fit, predicted.alpha_D, predicted.ci["alpha_D"])),
            ("alpha_D         spectrum only", interval(spectrum_only.alpha_D, spectrum_only.ci["alpha_D"]), "")]
    if model is not None:
        rows.append((f"alpha_P         P = {model.x[0]:.0f}..{model.x[-1]:.0f}, D = {pool}",
                     interval(model_prediction.alpha_P, model_prediction.ci["alpha_P"]),
                     flagged(model.fit, model_prediction.alpha_P, model_prediction.ci["alpha_P"])))
    lines = [f"{describe_run(config)}, {n_points} points: predicted from the {pool} training points, "
             f"measured on the {n_points - pool} others",
             f"{'':<42} {'predicted':<24} measured"]
    lines += [f"{name:<42} {left:<24} {right:<24}".rstrip() for name, left, right in rows]
    fitted = [("alpha_K_sample", predicted.sample_fit), ("measured alpha_D", measured.fit)]
    fitted += [] if model is None else [("measured alpha_P", model.fit)]
    lines += [f"{name}: {UNRELIABLE}, {fit.reason}" if fit.reason else f"{name}: {POOR}, {fit.poor_reason}"
              for name, fit in fitted if fit.reason or fit.poor]
    return lines + legend(lines)


def _exponent_figures(output: Output, config: Config, values: np.ndarray, predicted: Exponents,
                      measured: scaling.Curve, model_prediction: Exponents | None,
                      model: scaling.Curve | None) -> list[str]:
    from nngp_ntk.cli import _plots as plots

    title, sizes = describe_run(config), predicted.sizes
    figures: dict[str, Callable] = {
        "spectrum.png": lambda path: plots.spectrum_figure(path, values, predicted.sample_fit, title=title,
                                                           operator=(interval(predicted.alpha_K,
                                                                              predicted.ci["alpha_K"]),
                                                                     (sizes[0], sizes[-1]))),
        "learning_curve.png": lambda path: plots.curve_figure(
            path, [_measured_plot(measured, "D", "$D^{-\\alpha_D}$", predicted.alpha_D, predicted.ci["alpha_D"]),
                   _predicted_plot(predicted.sizes, predicted.losses, "D", predicted.alpha_D,
                                   predicted.ci["alpha_D"])],
            xlabel="training-set size D", ylabel="test MSE", title=f"L(D): {title}")}
    if model is not None:
        figures["model_curve.png"] = lambda path: plots.curve_figure(
            path, [_measured_plot(model, "P", "$P^{-\\alpha_P}$", model_prediction.alpha_P,
                                  model_prediction.ci["alpha_P"]),
                   _predicted_plot(model_prediction.widths, model_prediction.model_losses, "P",
                                   model_prediction.alpha_P, model_prediction.ci["alpha_P"])],
            xlabel="random features P (hidden width)", ylabel="test MSE",
            title=f"L(P): random features, {title.replace('NTK', 'NNGP')}")
    for name, draw in figures.items():
        output.figure(name, draw)
    return list(figures)


# ----------------------------------------------------------------------------- regimes

def run_regimes(config: Config, progress: bool | None, plots: bool) -> list[str]:
    """The four regimes (module docstring): regimes.json and regimes.png.

    Args:
        config: a typed config of task "regimes".
        progress: show progress bars (None: when stderr is a terminal).
        plots: write regimes.png.

    Returns:
        The table to print.

    Raises:
        ConfigError: too few points for the sizes and the test set.
    """
    start = time.perf_counter()
    section, seed = config.regimes, config.seed
    net = build_network(config)
    output = Output(config.out)
    names = ["loading data", "resolution-limited in D", "resolution-limited in P", "variance-limited in D",
             "variance-limited in P"] + (["plots"] if plots else [])
    stages = Stages(names, progress)
    X = load_problem(config).X
    kernel, test_size, repeats = section.kernel, section.test_size, section.repeats
    pool = len(X) - test_size
    if pool < max(section.sizes[-1], section.variance_sizes[-1], section.fixed_size):
        raise ConfigError(f"regimes needs more than max(sizes, variance_sizes, fixed_size) training points beside "
                          f"test_size = {test_size}; data.n = {len(X)} leaves {pool}")
    common = dict(test_size=test_size, ridge=section.ridge, repeats=repeats, seed=seed)
    test, train = scaling.holdout_split(len(X), test_size, seed)
    fixed = dict(ridge=section.ridge, repeats=repeats, seed=seed, test=test)
    stages.done()
    # The predictions see the training pool only; the resolution-limited curves are tested on the others.
    data_curve = scaling.learning_curve(net, X, None, sizes=section.sizes, kernel=kernel, **fixed)
    data_theory = predict_exponents(net, X[train], None, kernel=kernel, sizes=section.sizes, ridge=section.ridge,
                                    model_method="none")
    stages.done()
    model_curve = scaling.model_curve(net, X, None, widths=section.widths, train_size=pool, **fixed)
    model_theory = predict_exponents(net, X[train], None, kernel="nngp", sizes=section.widths,
                                     ridge=section.ridge, train_size=pool, readout_ridge=section.ridge)
    stages.done()
    variance = dict(common, repeats=section.variance_repeats)
    data_variance = scaling.variance_limited_data(net, X, None, width=section.fixed_width,
                                                  sizes=section.variance_sizes, **variance)
    stages.done()
    width_variance = scaling.variance_limited_width(net, X, None, size=section.fixed_size,
                                                    widths=section.variance_widths, **variance)
    stages.done()
    regimes = {
        "resolution_limited_D": {**_curve_json(data_curve, data_theory.alpha_D, data_theory.ci["alpha_D"]),
                                 "predicted": data_theory.alpha_D,
                                 "predicted_ci": list(data_theory.ci["alpha_D"]), "alpha_K": data_theory.alpha_K,
                                 "predicted_losses": data_theory.losses, "width": "infinite"},
        "resolution_limited_P": {**_curve_json(model_curve, model_theory.alpha_P, model_theory.ci["alpha_P"]),
                                 "predicted": model_theory.alpha_P,
                                 "predicted_ci": list(model_theory.ci["alpha_P"]),
                                 "alpha_K": model_theory.alpha_K, "predicted_losses": model_theory.model_losses,
                                 "train_size": pool},
        "variance_limited_D": {**_offset_json(data_variance), "predicted": VARIANCE_EXPONENT,
                               "width": section.fixed_width},
        "variance_limited_P": {**_offset_json(width_variance), "predicted": VARIANCE_EXPONENT,
                               "train_size": section.fixed_size},
    }
    written = ["regimes.json"]
    if plots:
        output.figure("regimes.png", lambda path: _regimes_figure(path, config, pool, data_curve, data_theory,
                                                                  model_curve, model_theory, data_variance,
                                                                  width_variance))
        written.append("regimes.png")
        stages.done()
    seconds = round(time.perf_counter() - start, 1)
    output.json("regimes.json", {"regimes": regimes, "config": config.as_dict(), "seconds": seconds,
                                 "stage_seconds": stages.seconds})
    lines = [f"{describe_run(config)}, {len(X)} points, teacher = student",
             f"{'regime':<44} {'predicted':<24} measured"]
    labels = {"resolution_limited_D": "resolution-limited in D (width inf)",
              "resolution_limited_P": f"resolution-limited in P (D = {pool})",
              "variance_limited_D": f"variance-limited in D (P = {section.fixed_width})",
              "variance_limited_P": f"variance-limited in P (D = {section.fixed_size})"}
    notes = []
    for key, label in labels.items():
        entry = regimes[key]
        predicted = interval(entry["predicted"], entry.get("predicted_ci"))
        measured = interval(entry["alpha"], entry["ci"]) + (f" ({POOR})" if entry.get("poor") else "")
        measured += f" ({DISAGREES})" if entry["disagrees"] else ""
        lines.append(f"{label:<44} {predicted:<24} {measured:<24}".rstrip())
        if entry["reason"]:
            notes.append(f"{label}: {UNRELIABLE}, {entry['reason']}")
        elif entry.get("poor"):
            notes.append(f"{label}: {POOR}, {entry['poor_reason']}")
    lines += notes
    return lines + legend(lines) + [f"wrote {output.folder}/ ({', '.join(written)}) in {seconds:.0f} s"]


def _offset_json(curve: scaling.OffsetCurve) -> dict[str, Any]:
    return {"alpha": curve.alpha, "ci": list(curve.ci), "limit": curve.limit, "amplitude": curve.fit.amplitude,
            "reason": curve.fit.reason or None, "disagrees": disagrees(curve.alpha, curve.ci, VARIANCE_EXPONENT),
            "x": curve.x, "losses": curve.losses, "errors": curve.errors,
            "control_variate": curve.controls is not None}


def _excess_plot(curve: scaling.OffsetCurve, name: str):
    """L - L_inf with the fitted c x^-alpha: a straight line of slope -1 in the variance-limited regimes.
    No error bars: the spread of L over repeats is mostly the spread of L_inf itself (one network or
    split per repeat), common to every x of a repeat; alpha's interval carries the uncertainty. The
    label flags an exponent that disagrees with the theory's 1 (``text.disagrees``)."""
    from nngp_ntk.cli import _plots as plots

    theory = f"theory {VARIANCE_EXPONENT:g}" + (f": {DISAGREES}" if disagrees(curve.alpha, curve.ci, VARIANCE_EXPONENT)
                                               else "")
    label = f"measured $L - L_\\infty$, $\\alpha$ = {fit_interval(curve.fit)} ({theory})"
    if not curve.fit.reliable:          # no limit to subtract, no line: the losses themselves
        return plots.Curve(curve.x, curve.losses, None, label.replace("$L - L_\\infty$", "$L$"))
    excess = curve.losses - curve.limit
    keep = excess > 0
    return plots.Curve(curve.x[keep], excess[keep], None, label, curve.x, curve.fit(curve.x) - curve.limit,
                       f"fit $c\\,{name}^{{-\\alpha}}$")


def _regimes_figure(path, config: Config, pool: int, data_curve: scaling.Curve, data_theory: Exponents,
                    model_curve: scaling.Curve, model_theory: Exponents, data_variance: scaling.OffsetCurve,
                    width_variance: scaling.OffsetCurve) -> None:
    from nngp_ntk.cli import _plots as plots

    section = config.regimes
    panels = [
        ("resolution-limited in D (infinite width)", "training-set size D",
         [_measured_plot(data_curve, "D", "$D^{-\\alpha_D}$", data_theory.alpha_D, data_theory.ci["alpha_D"]),
          _predicted_plot(data_theory.sizes, data_theory.losses, "D", data_theory.alpha_D, data_theory.ci["alpha_D"])]),
        (f"resolution-limited in P (D = {pool})",
         "random features P",
         [_measured_plot(model_curve, "P", "$P^{-\\alpha_P}$", model_theory.alpha_P, model_theory.ci["alpha_P"]),
          _predicted_plot(model_theory.widths, model_theory.model_losses, "P", model_theory.alpha_P,
                          model_theory.ci["alpha_P"])]),
        (f"variance-limited in D (P = {section.fixed_width})", "training-set size D",
         [_excess_plot(data_variance, "D")]),
        (f"variance-limited in P (D = {section.fixed_size})", "random features P",
         [_excess_plot(width_variance, "P")]),
    ]
    plots.panels_figure(path, panels, title=f"four scaling regimes: {describe_run(config)}, teacher = student")


# ----------------------------------------------------------------------------- compute

def _frontier_json(frontier: ComputeFrontier) -> dict[str, Any]:
    return {"compute": frontier.compute.tolist(), "losses": frontier.losses.tolist(),
            "widths": frontier.widths.tolist(), "samples": frontier.samples.tolist(),
            "alpha_C": frontier.alpha_C.as_dict(), "window": list(frontier.window)}


def _compute_figure(path, config: Config, predicted, measured) -> None:
    """Left: L against C = P n, one line per width (measured points, predicted lines) and both frontiers;
    right: the optimal width P*(C)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    samples = predicted.samples.astype(np.float64)
    for i, width in enumerate(predicted.widths):
        color = f"C{i % 10}"
        left.plot(width * samples, predicted.losses[i], "-", color=color, lw=1, label=f"P = {width}")
        left.plot(width * samples, measured.losses[i], "o", color=color, ms=3)
    for frontier, style, name in ((predicted.frontier, "k-", "predicted"), (measured.frontier, "k--", "measured")):
        left.step(frontier.compute, frontier.losses, style, where="post", lw=2,
                  label=f"{name} L*(C), alpha_C = {frontier.alpha_C.alpha:.3f}")
        right.step(frontier.compute, frontier.widths, style, where="post", lw=1.5, label=f"{name} P*(C)")
    low, high = measured.frontier.window
    for axes in (left, right):
        axes.axvspan(low, high, color="0.93", zorder=0)
        axes.set(xscale="log", yscale="log", xlabel="compute C = P n")
    left.set(ylabel="test MSE", title=f"L(P, n): lines predicted, points measured ({describe_run(config)})")
    right.set(ylabel="optimal width P*(C)", title="compute-optimal width")
    left.legend(fontsize=6, ncol=2)
    right.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=110)
    plt.close(figure)


def run_compute(config: Config, progress: bool | None, plots: bool) -> list[str]:
    """L(P, n) of one-pass SGD, predicted and measured, and its frontier (module docstring): compute.json
    and compute.png.

    Args:
        config: a typed config of task "compute".
        progress: show progress bars (None: when stderr is a terminal).
        plots: write compute.png.

    Returns:
        The table to print.

    Raises:
        ConfigError: too few points for the grid and the test set.
    """
    start = time.perf_counter()
    section, seed = config.compute, config.seed
    net = build_network(config)
    output = Output(config.out)
    stages = Stages(["loading data", "predicted grid", "measured grid"] + (["plots"] if plots else []), progress)
    problem = load_problem(config, net, kernel="nngp")
    X, Y = problem.X, problem.Y
    pool_size = len(X) - section.test_size
    largest = max(section.widths[-1], section.samples[-1])
    if pool_size < largest:
        raise ConfigError(f"compute needs at least max(widths, samples) = {largest} training points beside "
                          f"test_size = {section.test_size}; data.n = {len(X)} leaves {pool_size}")
    test, pool = scaling.holdout_split(len(X), section.test_size, seed)
    grid = dict(widths=section.widths, samples=section.samples, eta0=section.eta0, schedule=section.schedule)
    stages.done()
    predicted = predict_sgd_curve(net, X[pool], Y[pool], draws=section.predicted_draws, seed=seed, **grid)
    stages.done()
    measured = scaling.sgd_curve(net, X, Y, draws=section.draws, test=test, seed=seed, **grid)
    stages.done()
    written = ["compute.json"]
    if plots:
        output.figure("compute.png", lambda path: _compute_figure(path, config, predicted, measured))
        written.append("compute.png")
        stages.done()
    seconds = round(time.perf_counter() - start, 1)
    fits = {name: {"predicted": getattr(predicted, name).as_dict(), "measured": getattr(measured, name).as_dict()}
            for name in ("alpha_N", "alpha_P")}
    fits["alpha_C"] = {"predicted": predicted.frontier.alpha_C.as_dict(),
                       "measured": measured.frontier.alpha_C.as_dict()}
    output.json("compute.json", {
        "widths": predicted.widths.tolist(), "samples": predicted.samples.tolist(),
        "predicted": {"losses": predicted.losses.tolist(), "bias_losses": predicted.bias_losses.tolist(),
                      "frontier": _frontier_json(predicted.frontier)},
        "measured": {"losses": measured.losses.tolist(), "intervals": measured.intervals.tolist(),
                     "frontier": _frontier_json(measured.frontier)},
        "exponents": fits, "config": config.as_dict(), "seconds": seconds, "stage_seconds": stages.seconds})
    lines = [f"{describe_run(config)}, {len(X)} points ({len(pool)} pool, {len(test)} test), one-pass SGD, "
             f"eta0 = {section.eta0:g}, {section.schedule} schedule",
             f"{'exponent':<28} {'predicted':<24} measured"]
    labels = {"alpha_N": f"alpha_N (P = {predicted.widths[-1]})", "alpha_P": f"alpha_P (n = {predicted.samples[-1]})",
              "alpha_C": "alpha_C (frontier)"}
    pairs = {"alpha_N": (predicted.alpha_N, measured.alpha_N), "alpha_P": (predicted.alpha_P, measured.alpha_P),
             "alpha_C": (predicted.frontier.alpha_C, measured.frontier.alpha_C)}
    notes = []
    for name, (p, m) in pairs.items():
        lines.append(f"{labels[name]:<28} {fit_interval(p):<24} {flagged(m, p.alpha, p.ci)}".rstrip())
        notes += [f"{labels[name]}, {which}: {UNRELIABLE}, {fit.reason}" for which, fit in (("predicted", p),
                                                                                         ("measured", m)) if fit.reason]
    lines += notes
    lines.append(f"{'C = P n':>10} {'P* predicted':>13} {'P* measured':>12} {'L* predicted':>13} {'L* measured':>12}")
    for c, wp, wm, lp, lm in zip(measured.frontier.compute, predicted.frontier.widths, measured.frontier.widths,
                                 predicted.frontier.losses, measured.frontier.losses):
        lines.append(f"{c:>10.4g} {wp:>13} {wm:>12} {lp:>13.5f} {lm:>12.5f}")
    return lines + legend(lines) + [f"wrote {output.folder}/ ({', '.join(written)}) in {seconds:.0f} s"]
