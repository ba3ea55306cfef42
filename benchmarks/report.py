"""Render the documentation's results page from the result files under benchmarks/results/.

    python benchmarks/report.py                       # writes docs/results.rst
    python benchmarks/report.py --out /tmp/results.rst

The docs build (docs/conf.py) runs ``write`` before Sphinx reads the sources, so the page is never
edited by hand and never disagrees with the files: every number on it is read from a result file
(``benchmarks/_harness.py``'s form: command, date, machine, results), and every section names its
file, the command that wrote it, the date and the machine. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PAGE = HERE.parent / "docs" / "results.rst"

Record = dict[str, Any]


# ---------------------------------------------------------------------------------------------- helpers

def _escape(text: str) -> str:
    """Text for a reStructuredText paragraph or table cell: "*" and "|" (emphasis, substitutions) escaped;
    ``double backquotes`` stay inline literals."""
    return str(text).replace("\\", "\\\\").replace("*", "\\*").replace("|", "\\|")


def _ci(value: float | None, ci: Sequence[float | None] | None = None, digits: int = 3) -> str:
    """"value [low, high]", or "" when there is no value."""
    if value is None:
        return ""
    text = f"{value:.{digits}f}"
    if ci is not None and None not in ci:
        text += f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
    return text


def _gib(count: float) -> str:
    return f"{count / 2**30:.2f} GiB"


def _join(values: Iterable[float], digits: int = 3) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def _range(values: Sequence[float], digits: int = 3) -> str:
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], widths: str | None = None) -> list[str]:
    """A list-table: the header row, then the rows (cells are plain text, escaped)."""
    lines = [".. list-table::", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {widths}")
    lines.append("")
    for row in [header, *rows]:
        for k, cell in enumerate(row):
            lines.append(f"   {'*' if k == 0 else ' '} - {_escape(cell) if str(cell) else ' '}")
    return [*lines, ""]


def _source(name: str, record: Record) -> list[str]:
    """Where a section's numbers come from: the file, its command, date and machine."""
    machine = record["machine"]
    described = [machine.get("platform", "")]
    if machine.get("cpus"):
        described.append(f"{machine['cpus']} CPUs")
    if machine.get("devices"):
        described.append(machine["devices"])
    if machine.get("load_average_before") is not None:
        described.append(f"load average {machine['load_average_before']:.2f} before the run")
    if machine.get("note"):
        described.append(machine["note"])
    return [f"*Source:* ``benchmarks/results/{name}``, written by ``{record['command']}`` on {record['date']}; "
            f"machine: {_escape('; '.join(d for d in described if d))}.", ""]


def _section(title: str, underline: str = "-") -> list[str]:
    return [title, underline * len(title), ""]


def _paragraph(*sentences: str) -> list[str]:
    return [" ".join(sentences), ""]


# ---------------------------------------------------------------------------------------------- sections

def main_job(records: dict[str, Record]) -> list[str]:
    record = records["main_job.json"]
    job = record["results"]
    result = job["result"]
    p, spectrum_only, m = result["predicted"], result["predicted_spectrum_only"], result["measured"]
    sizes, widths = p["sizes"], p["widths"]
    model = m["model_curve"]
    lines = _section("The main job: scaling exponents on MNIST")
    lines += _paragraph(
        f"``{job['job']}`` (ReLU depth {result['config']['network']['depth']}, "
        f"{result['config']['exponents']['kernel'].upper()}, {m['n_points']} MNIST images), run by "
        "``benchmarks/cli_jobs.py`` in a fresh process as a new user would run it (JAX start, data loading and "
        f"compilation included): {job['wall_seconds']:.0f} s wall, {_gib(job['peak_rss_bytes'])} peak resident "
        f"memory. A test set of {m['test_size']} points is held out first (``scaling.holdout_split``); every "
        f"prediction uses only the {m['train_size']} training points, and the measured curves are tested on the "
        f"{m['test_size']}. The anchored prediction of alpha_D (method ``{p['method']}``) uses the training points, "
        "the spectrum of their kernel, the labels' projections on its eigenvectors and the labels' exact "
        "leave-one-out error; the spectrum-only prediction (method "
        f"``{spectrum_only['method']}``) does without the leave-one-out error. alpha_P uses the NNGP and the "
        f"labels (``model_method={p['model_method']!r}``"
        + ("; the earlier layers drawn at each width P, one dense eigendecomposition per width and draw, most of "
           "the wall time)." if p["model_method"] == "sampled-layers" else ")."))
    sample = (_ci(p["alpha_K_sample"], p["alpha_K_sample_ci"]) if p["alpha_K_sample"] is not None
              else f"unreliable: {p['alpha_K_sample_reason']}")
    measured_p = _ci(m["alpha_P"], m["alpha_P_ci"]) + (", poor fit" if model["poor"] else "")
    lines += _table(["quantity", "predicted", "measured"], [
        [f"alpha_K, kernel operator at i ~ {sizes[0]:.0f}..{sizes[-1]:.0f}", _ci(p["alpha_K"], p["alpha_K_ci"]), ""],
        [f"alpha_K_sample, power law of the raw sample eigenvalues, i = {p['window'][0]}..{p['window'][1]}",
         sample, ""],
        [f"beta, the labels' power v_i^2 ~ i^-(1 + beta) at i ~ {sizes[0]:.0f}..{sizes[-1]:.0f}",
         _ci(p["beta"], p["beta_ci"]), ""],
        [f"alpha_D (D = {sizes[0]:.0f}..{sizes[-1]:.0f}), anchored ({p['method']})", _ci(p["alpha_D"], p["alpha_D_ci"]),
         _ci(m["alpha_D"], m["alpha_D_ci"])],
        [f"alpha_D, spectrum only ({spectrum_only['method']})",
         _ci(spectrum_only["alpha_D"], spectrum_only["alpha_D_ci"]), ""],
        [f"alpha_P (P = {widths[0]:.0f}..{widths[-1]:.0f}, D = {m['train_size']}), random features of the network",
         _ci(p["alpha_P"], p["alpha_P_ci"]), measured_p],
    ], widths="50 25 25")
    if model["poor"]:
        lines += _paragraph(f"The measured L(P) is flagged as a poor fit for one exponent: {_escape(model['poor_reason'])} "
                            "(``measured.model_curve.poor_reason`` in the command's ``exponents.json``); the "
                            "command's figure draws no line through it.")
    lines += _source("main_job.json", record)
    lines += [".. figure:: mnist_learning_curve.png",
              "   :alt: Measured and predicted learning curve L(D) of the depth-3 ReLU NTK on 5,000 MNIST images",
              "   :width: 560", "",
              "   The learning curve of that run, measured and predicted (``learning_curve.png`` of "
              "``nngp-ntk exponents``).", ""]
    return lines


def regimes(records: dict[str, Record]) -> list[str]:
    record = records["regimes.json"]
    job = record["results"]
    result = job["result"]
    stages = result["stage_seconds"]
    config = result["config"]
    lines = _section("The four regimes")
    lines += _paragraph(
        f"``{job['job']}``: teacher = student, {config['network']['activation']} "
        f"{config['regimes']['kernel'].upper()} depth {config['network']['depth']} on {config['data']['n']} points "
        f"of the sphere in R^{config['data']['dim']}, the four regimes of Bahri et al. Run by "
        f"``benchmarks/cli_jobs.py`` in a fresh process: {job['wall_seconds']:.0f} s wall "
        f"({stages['variance-limited in P']:.0f} s of it the variance-limited L(P), many networks of width up to "
        f"{max(result['regimes']['variance_limited_P']['x']):.0f} per point), {_gib(job['peak_rss_bytes'])} peak.")
    names = {"resolution_limited_D": "resolution-limited in D (infinite width)",
             "resolution_limited_P": "resolution-limited in P",
             "variance_limited_D": "variance-limited in D", "variance_limited_P": "variance-limited in P"}
    rows = []
    for key, title in names.items():
        entry = result["regimes"][key]
        x = entry["x"]
        where = {"resolution_limited_D": f", D = {x[0]:.0f}..{x[-1]:.0f}",
                 "resolution_limited_P": f" (D = {entry.get('train_size')}), P = {x[0]:.0f}..{x[-1]:.0f}",
                 "variance_limited_D": f" (P = {entry.get('width')}), D = {x[0]:.0f}..{x[-1]:.0f}",
                 "variance_limited_P": f" (D = {entry.get('train_size')}), P = {x[0]:.0f}..{x[-1]:.0f}"
                 + (", with the control variate" if entry.get("control_variate") else "")}[key]
        rows.append([title + where, _ci(entry["predicted"], entry.get("predicted_ci")),
                     _ci(entry["alpha"], entry["ci"]) if entry["alpha"] is not None else f"unreliable: {entry['reason']}"])
    lines += _table(["regime", "predicted", "measured"], rows, widths="50 25 25")
    lines += _source("regimes.json", record)
    return lines


def scaling_report(records: dict[str, Record]) -> list[str]:
    record = records["scaling_report.json"]
    parts = record["results"]["parts"]
    lines = _section("Predicted against measured exponents")
    lines += _paragraph(
        "``benchmarks/scaling_report.py``: every prediction sees the training pool only; the measured curves are "
        "tested on a fixed held-out set. The sphere rows fit the exact per-degree eigenvalues "
        "(``spectrum.sphere_eigenvalues``) against the theory's decay.")
    rows = []
    for row in parts.get("sphere", []):
        rows.append([row["target"], f"{row['predicted']:.0f}", f"{row['measured']:.3f}"])
    for part in ("teacher", "mnist", "mnist_gp"):
        for row in parts.get(part, []):
            rows.append([row["target"], _ci(row["predicted"], row.get("predicted_ci")),
                         _ci(row["measured"], row.get("measured_ci"))])
            if "alpha_K" in row:
                rows.append(["same: alpha_K (operator) / beta (targets) / alpha_K_sample, i = "
                             f"{row['alpha_K_sample_fit_window'][0]}..{row['alpha_K_sample_fit_window'][1]}",
                             f"{row['alpha_K']:.3f} / {row['beta']:.3f} / {row['alpha_K_sample_fit']:.3f}", ""])
    for row in parts.get("regimes", []):
        rows.append([row["target"] + f", {row['repeats']} draws", f"{row['predicted']:.0f}",
                     _ci(row["measured"], row["measured_ci"])])
    lines += _table(["target", "predicted", "measured"], rows, widths="60 20 20")
    mnist = next(row for row in parts["mnist"] if "renormalized_losses" in row)
    ratio = mnist["renormalized_losses"][-1] / mnist["measured_losses"][-1]
    lines += _paragraph(
        "alpha_K is the kernel operator's exponent at the indices the training sizes resolve, read off the "
        "renormalized learning curve; the raw sample eigenvalues of K/N flatten towards a floor at large indices, "
        f"and a power law fitted to them (alpha_K_sample) reads {mnist['alpha_K_sample_fit']:.3f} on MNIST. On real "
        "labels alpha_D follows the labels' own power beta, not alpha_K; for targets drawn from the kernel's GP, "
        "beta = alpha_K = alpha_D. The homogeneous (GCV) anchor of the renormalized curve "
        f"(``method=\"renormalized\"``) reads alpha_D {mnist['predicted_renormalized']:.3f} on MNIST: its L(D) at "
        f"D = {mnist['sizes'][-1]} is {ratio:.2f} of the measured one, where the leave-one-out anchor gives "
        f"{mnist['predicted_losses'][-1] / mnist['measured_losses'][-1]:.2f}.")
    lines += _source("scaling_report.json", record)
    return lines


def random_features(records: dict[str, Record]) -> list[str]:
    record = records["scaling_report.json"]
    rows = record["results"]["parts"].get("random_features", [])
    lines = _section("Random features: alpha_P and L(P)")
    first = rows[0]
    lines += _paragraph(
        "Part ``random_features`` of ``benchmarks/scaling_report.py``: every hidden layer P wide, ReLU, readout by "
        f"least squares on D = 4000 pool points, tested on held-out points, P = {first['widths'][0]}.."
        f"{first['widths'][-1]}, mean of {first['repeats']} draws; predicted from the pool only, by the "
        "leave-one-out random-feature theory (the default) and by the D <-> P duality.")
    table = []
    for row in rows:
        name = row["target"].split(" random features")[0].replace("(every hidden layer P wide)", "")
        table.append([name, f"{row['predicted']:.3f}", f"{row['predicted_duality']:.3f}",
                      _ci(row["measured"], row["measured_ci"]), _range(row["loss_ratio_predicted_to_measured"])])
    lines += _table(["ReLU random features", "alpha_P predicted (leave-one-out)", "duality", "measured",
                     "predicted / measured L(P)"], table, widths="34 16 12 22 16")
    lines += _paragraph(
        "The theory averages over the last layer's weights with the earlier layers at infinite width; at width P "
        "the last layer sees one draw of the earlier ones, which is where deeper networks' L(P) falls below the "
        "prediction. On inputs in R^4 each ReLU feature is a ridge function relu(w . x + b), far from a draw of "
        "the kernel's Gaussian process, which the theory assumes; the ratio there alternates with P as P crosses "
        "the blocks of equal eigenvalues of the sphere's harmonics.")
    lines += _source("scaling_report.json", record)
    deep = records["deep_random_features.json"]
    result = deep["results"]
    lines += _paragraph(
        "With the earlier layers at infinite width, ``benchmarks/deep_random_features.py`` draws depth-3 features "
        "as the GP of the depth-2 NNGP on MNIST (W_std = 1, b_std = 0, readout on D points of the pool, tested on "
        f"a fixed held-out 1000, {result['repeats']} draws): predicted alpha_P "
        f"{result['predicted_alpha_P_D4000']:.3f} at D = 4000 (from the pool only), measured:")
    table = [[size, _ci(entry["alpha_P"], entry["ci"]), _join(entry["ratio_to_D4000_by_factor"])]
             for size, entry in result["measured"].items()]
    lines += _table(["D", f"measured alpha_P, P = {result['widths'][0]}..{result['widths'][-1]}",
                     "L(P, D) / (L(P, 4000) x finite-data factor)"], table, widths="10 30 60")
    lines += _source("deep_random_features.json", deep)
    return lines


def _folds_row(row: dict) -> list:
    """The cells a cross-fitted comparison's table starts with: depth, widths, measured and predicted
    alpha_P, their gap, the L(P) ratios and the largest gap."""
    predicted = row["predicted"]
    return [row["depth"], f"{row['widths'][0]}..{row['widths'][-1]}", _ci(row["measured_alpha_P"], row["measured_ci"]),
            f"{predicted['alpha_P']:.3f} ({predicted['model_method']})", f"{predicted['alpha_P_gap']:.3f}",
            _range(predicted["ratio_to_measured"]), f"{predicted['largest_gap']:.1%}"]


def deep_models(records: dict[str, Record]) -> list[str]:
    record = records["deep_model_curves.json"]
    rows = record["results"]
    first = rows[0]
    lines = _section("Deep random features: the earlier layers at width P")
    lines += _paragraph(
        "``benchmarks/deep_model_curves.py``: ReLU random-feature models with every hidden layer P wide (W_std = 1, "
        "b_std = 0), the readout fitted by least squares on all D pool points and tested on a fixed held-out set, "
        f"mean of {first['repeats']} draws per width; predicted from the pool alone by ``predict_exponents`` "
        "(kernel \"nngp\", train_size = D): its default (``sampled-layers`` at depth >= 2, "
        f"{first['layer_draws']} draws of the earlier layers per width; ``leave-one-out`` at depth 1) and the "
        "theory with the earlier layers at infinite width (``leave-one-out``). Gap: the absolute value of "
        "predicted / measured - 1 at the worst width. The last column is the measurement's own resolution: the relative standard error of a "
        "test MSE on the fixed held-out points (one draw per width, from its per-point errors); the held-out set is "
        "common to every width and depth, so its error shifts a whole measured curve up or down together.")
    table = []
    for row in rows:
        predicted, infinite = row["predicted"], row["infinite_earlier_layers"]
        table.append([f"{row['dataset']} (pool {row['pool']}, test {row['test']})", row["depth"],
                      f"{row['widths'][0]}..{row['widths'][-1]}", _ci(row["measured_alpha_P"], row["measured_ci"]),
                      f"{_ci(predicted['alpha_P'], predicted['ci'])} ({predicted['model_method']})",
                      f"{predicted['largest_gap']:.1%}", f"{infinite['alpha_P']:.3f}",
                      f"{infinite['largest_gap']:.1%}", _range([100 * e for e in row["test_set_relative_se"]], 1)])
    lines += _table(["data", "depth", "P", "measured alpha_P", "predicted alpha_P (method)", "largest L(P) gap",
                     "infinite earlier layers: alpha_P", "its largest L(P) gap", "test-set standard error (%)"], table,
                    widths="18 5 9 16 20 9 11 10 10")
    lines += _source("deep_model_curves.json", record)
    folds = records.get("deep_model_curves_folds.json")
    if folds:
        first = folds["results"][0]
        lines += _paragraph(
            f"Every point tested once (``--folds {first['folds']}``): the {first['points']:,} MNIST points in "
            f"{first['folds']} random folds, each the test set of models fitted on the other folds "
            f"({first['repeats']} draws per width and fold) and of a prediction from those other folds alone; "
            "measured and predicted L(P) are the means over the folds. This removes the one held-out set's own "
            "error, common to the whole curve above.")
        table = []
        for row in folds["results"]:
            infinite = row["infinite_earlier_layers"]
            table.append(_folds_row(row) + [f"{infinite['alpha_P']:.3f}", f"{infinite['largest_gap']:.1%}"])
        lines += _table(["depth", "P", "measured alpha_P", "predicted alpha_P (mean of the folds)", "alpha_P gap",
                         "L(P) predicted / measured", "largest L(P) gap", "infinite earlier layers: alpha_P",
                         "its largest L(P) gap"], table, widths="6 9 16 18 8 12 9 11 10")
        outliers = []
        for row in folds["results"]:
            means = row["fold_measured_losses"]
            for k, width in enumerate(row["widths"]):
                for f, fold in enumerate(means):
                    others = [other[k] for g, other in enumerate(means) if g != f]
                    if fold[k] > 1.5 * statistics.median(others):
                        outliers.append(f"depth {row['depth']}, P = {width}: fold {f + 1}'s mean {fold[k]:.3f} "
                                        f"against {min(others):.3f}-{max(others):.3f} in the others")
        if outliers:
            lines += _paragraph(
                "Folds whose mean test MSE at a width is more than 1.5 times the other folds' median (a heavy tail "
                "of the least-squares readout over draws, which a mean over a few draws meets rarely): "
                + "; ".join(outliers) + ".")
        lines += _source("deep_model_curves_folds.json", folds)
    ridged = records.get("deep_model_curves_folds_ridge.json")
    if ridged:
        first = ridged["results"][0]
        lines += _paragraph(
            f"The same folds with the readout fitted with a small ridge, {first['readout_ridge']:g} "
            f"(``--readout-ridge {first['readout_ridge']:g}``), in the measured models and in the prediction "
            "(``predict_exponents(readout_ridge=...)``). The ridgeless mean over draws has a heavy tail: a ReLU unit "
            "active on a single training point fits it with weight r / z, z its pre-activation there, whose square "
            "has no finite mean; the ridge bounds the weight by r / (2 sqrt(ridge)). The same draws measured "
            "ridgeless: the ratio of the ridgeless to the ridge mean (worst width), and of the single draws (median "
            "and largest).")
        table = []
        for row in sorted(ridged["results"], key=lambda row: row["depth"]):
            ratio = [a / b for a, b in zip(row["ridgeless_measured_losses"], row["measured_losses"])]
            table.append(_folds_row(row) + [f"{max(ratio):.3f}", f"{row['ridgeless_over_ridge_median_draw']:.4f}, "
                                                                 f"{row['ridgeless_over_ridge_largest_draw']:.2f}"])
        lines += _table(["depth", "P", "measured alpha_P", "predicted alpha_P (mean of the folds)", "alpha_P gap",
                         "L(P) predicted / measured", "largest L(P) gap", "ridgeless / ridge mean",
                         "ridgeless / ridge draws: median, largest"], table, widths="6 9 16 18 8 12 9 10 14")
        lines += _source("deep_model_curves_folds_ridge.json", ridged)
    return lines


def beyond(records: dict[str, Record]) -> list[str]:
    record = records["scaling_report.json"]
    rows = record["results"]["parts"].get("beyond", [])
    lines = _section("Beyond the sample")
    lines += _paragraph(
        "``extrapolate_learning_curve`` predicts L(D) for D beyond the N points given: the power law of "
        "the leave-one-out curve over n = N/10..0.9N, continued, with intervals from a jackknife over the points "
        "and a backtest of the extrapolation itself. Part ``beyond`` of ``benchmarks/scaling_report.py`` (random "
        f"draws of the N points; measured curves train on the pool and test on held-out points; "
        f"{sum(row['seconds'] for row in rows):.0f} s in all). The practitioner's baseline is a power law through "
        "learning curves measured on subsamples of the N points, extrapolated.")
    groups: dict[str, list[Record]] = {}
    for row in rows:
        groups.setdefault(row["target"].split(": from")[0], []).append(row)
    table = []
    for name, draws in groups.items():
        head = draws[0]
        n = head["target"].split("N=")[1].split(" ")[0]
        covered = sum(sum(row["intervals_cover_measured"]) for row in draws)
        points = sum(len(row["intervals_cover_measured"]) for row in draws)
        alphas = sum(row["alpha_ci_covers_measured"] for row in draws)
        table.append([f"{name}, from N = {n} to D = {head['sizes'][-1]} (measured alpha_D {head['measured']:.3f})",
                      _join(row["predicted"] for row in draws), _join((row["last_loss_ratio"] for row in draws), 2),
                      f"L at {covered} of {points} sizes, alpha_D {alphas} of {len(draws)}"])
        table.append(["practitioner's baseline, same draws", _join(row["baseline_alpha"] for row in draws),
                      _join((row["baseline_loss_ratio"][-1] for row in draws), 2), ""])
        table.append(["``predict_exponents`` spectral tails, same draws",
                      _join(row["spectral_tails_alpha"] for row in draws),
                      _join((row["spectral_tails_loss_ratio"][-1] for row in draws), 2), ""])
    lines += _table(["", "alpha_D per draw", "L(D_max) predicted / measured", "95% intervals cover the measured"],
                    table, widths="40 20 20 20")
    lines += _source("scaling_report.json", record)

    large = record["results"]["parts"].get("large_n", [])
    lines += _section("Large N: predictions from subsets")
    for row in large:
        lines += _paragraph(
            "``predict_exponents`` forms no N x N matrix past ``max_points`` points: it averages the predictions "
            "from disjoint random subsets, its intervals widened by their spread. Part ``large_n`` of "
            f"``benchmarks/scaling_report.py``: {_escape(row['target'].removeprefix('large N: '))}; predicted in "
            f"{row['predict_seconds']:.0f} s (load average "
            f"{row['load_average_1min_at_end']} at the end), measured where it fits here.")
        lines += _table(["predicted alpha_D", "measured alpha_D", "stated error of the prediction",
                         "L(D) predicted / measured"],
                        [[f"{row['predicted']:.3f}", _ci(row["measured"], row["measured_ci"]),
                          f"+-{row['predicted_alpha_D_stated_error']:.3f}", _join(row["loss_ratio"], 2)]])
        lines += _paragraph(
            f"With sizes beyond the subsets this run read the curve by ``method={row['method']!r}``"
            + (", eigenlearning on the subset spectrum with power-law tails; the spectrum of the sphere in R^16 is a "
               "staircase of degree blocks, not a power law, and L falls too fast with D. The default beyond the "
               "sample is ``method=\"power-law\"`` (the leave-one-out curve's power law, section above), which this "
               "run did not use." if row["method"] == "extrapolated" else "."))
    lines += _source("scaling_report.json", record)
    return lines


def flow_time(records: dict[str, Record]) -> list[str]:
    record = records["flow_time.json"]
    result = record["results"]
    sizes, times = result["sizes"], result["times"]
    predicted, measured = result["predicted"], result["measured"]
    lines = _section("Training time: L(D, t)")
    lines += _paragraph(
        f"The test loss of the infinitely wide network after gradient flow for time t on D points "
        f"(``theory.predict_flow_curve``, from the {result['pool']} training points alone) against the solver's "
        f"exact flow on training sets drawn from them (``scaling.flow_curve``, {result['repeats']} per size, tested "
        f"on the other {result['test_size']}): {_escape(result['data'])} images, {_escape(result['network'])}. "
        f"Goals: within {result['loss_tolerance']:.0%} at every (D, t), and alpha_T (the slope over "
        f"t = {result['window'][0]:g}..{result['window'][1]:g}) at D = {sizes[-1]} within "
        f"{result['alpha_tolerance']}. Largest gap {result['largest_relative_gap']:.1%} "
        f"({'met' if result['losses_ok'] else 'not met'}); alpha_T gap {result['alpha_T_gap']:.3f} "
        f"({'met' if result['alpha_T_ok'] else 'not met'}). The jackknife intervals of the prediction "
        f"({result['subsets']} subsets) hold the measured loss at {result['predicted_intervals_cover_measured']} of "
        f"{result['points']} points: they measure the sampling of the pool, not the theory's own error.")
    shown = range(0, len(times), 2)
    rows = []
    for i, size in enumerate(sizes):
        for j in shown:
            rows.append([f"{size}", f"{times[j]:.3g}", f"{predicted['losses'][i][j]:.5f}",
                         _ci(measured["losses"][i][j], measured["intervals"][i][j], 5),
                         f"{result['ratio'][i][j]:.3f}"])
    lines += _table(["D", "t", "predicted", "measured [95%]", "predicted / measured"], rows, widths="10 15 20 35 20")
    lines += _table(["D", "predicted alpha_T", "measured alpha_T"],
                    [[f"{size}", _ci(p["alpha"], p["ci"]), _ci(m["alpha"], m["ci"])]
                     for size, p, m in zip(sizes, predicted["fits"], measured["fits"])])
    lines += _paragraph(
        f"``predict_flow_curve`` on the {result['pool']} points took {result['seconds_without_intervals']:.0f} s "
        f"without intervals and {result['seconds_with_intervals']:.0f} s with them (the kernel, one dense "
        f"eigendecomposition of the pool, and {result['subsets']} of a quarter of it); the measured curve "
        f"{result['measured_seconds']:.0f} s.")
    lines += _source("flow_time.json", record)
    return lines


def _speed_rows(rows: list[Record]) -> list[list[str]]:
    table = []
    for row in rows:
        ours, floor, nt = row["nngp_ntk"], row["gemm"], row["neural_tangents"]
        n, depth = row["n"], row["depth"]
        if "time_s" not in ours:
            continue
        nt_time = f"{nt['time_s']:.2f} ({nt['first_s']:.2f})" if "time_s" in nt else nt.get("error", "")
        table.append([depth, f"{ours['time_s']:.2f} ({ours['first_s']:.2f})", f"{ours['time_s'] / floor['time_s']:.2f}",
                      f"{ours['time_s'] / n**2 / depth * 1e9:.1f} ({floor['time_s'] / n**2 * 1e9:.1f})",
                      f"{ours['first_s'] - ours['time_s']:.2f}", _gib(ours["peak_bytes"]), nt_time,
                      f"{nt['time_s'] / floor['time_s']:.2f}" if "time_s" in nt else "",
                      _gib(nt["peak_bytes"]) if "peak_bytes" in nt else "",
                      f"{nt['time_s'] / ours['time_s']:.1f}x" if "time_s" in nt else ""])
    return table


def sgd_compute(records: dict[str, Record]) -> list[str]:
    record = records["sgd_compute.json"]
    result = record["results"]
    widths, samples = result["widths"], result["samples"]
    predicted, measured = result["predicted"], result["measured"]
    gaps, oks = result["gaps"], result["alphas_ok"]
    lines = _section("Compute: L(P, n) of one-pass SGD on random features")
    lines += _paragraph(
        f"The test loss of one pass of batch-1 SGD with n steps on the readout of a width-P random-feature model "
        f"(``theory.predict_sgd_curve``, from the {result['pool']} pool points alone, {result['predicted_draws']} "
        f"draws of the features per width) against SGD itself (``scaling.sgd_curve``, {result['draws']} draws of "
        f"features and order, tested on the other {result['test_size']}): {_escape(result['data'])} images, "
        f"{_escape(result['network'])}, eta0 = {result['eta0']}, the {result['schedule']} schedule. Goals: within "
        f"{result['loss_tolerance']:.0%} at every grid point; alpha_N (largest P), alpha_P (largest n) and alpha_C "
        f"within {result['alpha_tolerance']}; P\\*(C) within a factor 2 over C in [1e4, 1e6]. Largest gap "
        f"{result['largest_relative_gap']:.1%} ({'met' if result['losses_ok'] else 'not met'}); "
        + "; ".join(f"{name} gap {gap:.3f} ({'met' if oks[name] else 'not met'})" for name, gap in gaps.items())
        + f"; P\\*(C) within a factor {result['optimal_width_factor']:.2f} "
        f"({'met' if result['optimal_width_ok'] else 'not met'}).")
    rows = []
    for i, width in enumerate(widths):
        for j, n in enumerate(samples):
            rows.append([f"{width}", f"{n}", f"{predicted['losses'][i][j]:.5f}", f"{predicted['bias_losses'][i][j]:.5f}",
                         _ci(measured["losses"][i][j], measured["intervals"][i][j], 5), f"{result['ratio'][i][j]:.3f}"])
    lines += _table(["P", "n", "predicted", "bias only", "measured [95%]", "predicted / measured"], rows,
                    widths="8 8 15 15 30 15")
    lines += _table(["exponent", "predicted", "measured"], [
        ["alpha_N (largest P)", _ci(predicted["alpha_N"]["alpha"], predicted["alpha_N"]["ci"]),
         _ci(measured["alpha_N"]["alpha"], measured["alpha_N"]["ci"])],
        ["alpha_P (largest n)", _ci(predicted["alpha_P"]["alpha"], predicted["alpha_P"]["ci"]),
         _ci(measured["alpha_P"]["alpha"], measured["alpha_P"]["ci"])],
        ["alpha_C", _ci(predicted["frontier"]["alpha_C"]["alpha"], predicted["frontier"]["alpha_C"]["ci"]),
         _ci(measured["frontier"]["alpha_C"]["alpha"], measured["frontier"]["alpha_C"]["ci"])]])
    fp, fm = predicted["frontier"], measured["frontier"]
    lines += _table(["C = P n", "predicted P*(C)", "measured P*(C)", "predicted L*(C)", "measured L*(C)"],
                    [[f"{c:.3g}", f"{p}", f"{m}", f"{lp:.5f}", f"{lm:.5f}"]
                     for c, p, m, lp, lm in zip(fm["compute"], fp["widths"], fm["widths"], fp["losses"], fm["losses"])
                     if fm["window"][0] <= c <= fm["window"][1]])
    share = result["variance_share"]
    lines += _paragraph(
        f"The variance term (the noise of the one-sample gradient) makes {share[0]:.1%} to {share[1]:.1%} of the "
        f"predicted loss under this schedule; without it the largest gap to the measurement is "
        f"{result['largest_relative_gap_bias_only']:.1%}. With alpha_K = {result['alpha_K']['alpha']:.3f} of the NNGP "
        f"operator (a = 1 + alpha_K), Lin et al.'s exponents read a - 1 = {result['a_minus_1']:.3f} (in P) and "
        f"(a - 1)/a = {result['a_minus_1_over_a']:.3f} (in n, up to the log of N_eff = n / log n), against the "
        f"measured alpha_P and alpha_N above. ``predict_sgd_curve`` took {result['predict_seconds']:.0f} s and the "
        f"measured grid {result['measure_seconds']:.0f} s.")
    lines += _source("sgd_compute.json", record)
    return lines


def kernel_speed(records: dict[str, Record]) -> list[str]:
    main = records["kernel_speed_n10000_float32_depth1_3_10.json"]
    deep = records["kernel_speed_n10000_float32_depth30.json"]
    busy = records["kernel_speed_n10000_float32_busy_machine.json"]
    first = main["results"]["rows"][0]
    lines = _section("Kernel speed and memory against neural-tangents")
    lines += _paragraph(
        f"N = {first['n']}, d = {first['dim']}, ReLU, W_std = 1.5, b_std = 0.1, NNGP and NTK together, "
        f"{first['dtype']}, each measurement in a fresh process. Times are the "
        f"{first['nngp_ntk']['time_statistic']} calls after the first (neural-tangents 0.6.5: "
        f"{first['neural_tangents'].get('time_statistic', 'the second call')}), the first call (with compilation) in "
        "brackets; \"x floor\" is the time over the GEMM floor, one ``X @ X.T`` "
        f"({first['gemm']['time_s']:.2f} s; {deep['results']['rows'][0]['gemm']['time_s']:.2f} s in the depth-30 "
        "run); ns per entry per layer beside the floor's ns per entry; \"first - second\" is the compilation and "
        "first touch of memory in a fresh process.")
    header = ["depth", "nngp_ntk s", "x floor", "ns/entry/layer (floor)", "first - second s", "peak RSS",
              "neural-tangents s", "x floor", "peak RSS", "speed-up"]
    rows = _speed_rows(main["results"]["rows"]) + _speed_rows(deep["results"]["rows"])
    for row in busy["results"]["table"]:
        if row["depth"] == "30":
            rows[-1][6] = f"{row['NT s (first)']}, on a busy machine ({busy['date']})"
    lines += _table(header, rows)
    lines += _paragraph("Only the upper-triangle tiles are computed; each tile runs all layers as one compiled loop "
                        "of fused passes; arccos is a vectorizable polynomial (below).")
    lines += _source("kernel_speed_n10000_float32_depth1_3_10.json", main)
    lines += _source("kernel_speed_n10000_float32_depth30.json", deep)
    lines += _paragraph(f"{_escape(busy['results']['note'])}.")
    lines += _source("kernel_speed_n10000_float32_busy_machine.json", busy)
    return lines


def compilation(records: dict[str, Record]) -> list[str]:
    cache = records["kernel_speed_n10000_float32_compilation_cache.json"]
    cli = records["cli_cache.json"]
    lines = _section("Compilation and JAX's persistent cache")
    lines += _paragraph(
        "With ``JAX_COMPILATION_CACHE_DIR=<folder>`` and ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0`` in the "
        "environment, later processes load the compiled kernel programs. First minus second call of "
        "``net.kernel`` (N = 10000, float32), in runs in a row with the cache in a new folder:")
    table = []
    for number, series in enumerate(cache["results"]["series"], 1):
        for depth_index, depth in enumerate(series["depths"]):
            def gap(run: Record) -> str:
                ours = run["rows"][depth_index]["nngp_ntk"]
                return f"{ours['first_s'] - ours['time_s']:.2f}"
            table.append([f"series {number}", depth, gap(series["fills_cache"]),
                          ", ".join(gap(run) for run in series["from_cache"]),
                          gap(series["without_cache"]) if "without_cache" in series else ""])
    lines += _table(["", "depth", "fills the cache s", "from the cache s", "without a cache s"], table)
    lines += [f"* Series {k}: ``{series['command']}``, {_escape(series['runs'])}."
              for k, series in enumerate(cache["results"]["series"], 1)]
    lines += [""]
    lines += _source("kernel_speed_n10000_float32_compilation_cache.json", cache)
    result = cli["results"]
    runs = result["cached_runs_s"]
    lines += _paragraph(
        "The ``nngp-ntk`` command keeps that cache in ``~/.cache/nngp_ntk/jax``. ``nngp-ntk kernel`` of "
        f"{result['n']} points (d = {result['dim']}, depth {result['depth']}, "
        f"{4 * result['n'] ** 2 / 1e6:.0f} MB written), each run a fresh process timed to its exit: "
        f"{runs[0]:.2f} s with an empty cache, {_join(runs[1:], 2)} s from it, {result['off_s']:.2f} s with the "
        f"cache off ({result['programs_stored']} programs stored); most of the rest is importing JAX, reading the "
        "points and writing the result.")
    lines += _source("cli_cache.json", cli)
    return lines


def layer_algebra(records: dict[str, Record]) -> list[str]:
    record = records["kernel_speed_n2000_layer_algebra.json"]
    layers = {entry["name"]: entry for entry in record["results"]["layers"]}
    fc10, mixed = layers["fc10"], layers["mixed10"]
    lines = _section("The layer algebra: Sequential, kernel_fn and its gradient")
    lines += _paragraph(
        f"N = {fc10['n']}, d = {fc10['dim']}, float32, steady times the {fc10['time_statistic']} calls, each "
        f"measurement in its own process; ``FullyConnected(depth=10)``: {fc10['time_s']:.3f} s. ``kernel_fn`` runs "
        "all layers on blocks of at most 256 x 256 points, as one jitted function.")

    def ratio(entry: Record, reference: Record, key: str = "time_s") -> str:
        return f"{entry[key] / reference['time_s']:.2f}x ({entry[key]:.3f} s vs {reference['time_s']:.3f} s)"

    grad, grad_layers = layers["grad10"], layers["grad_layers10"]
    rows = [
        ["Sequential of 10 (Dense, ReLU) pairs vs FullyConnected(depth=10)", ratio(layers["sequential10"], fc10)],
        ["mixed Sequential (ReLU / LeakyReLU / Abs, 10 pairs) vs FullyConnected(depth=10)", ratio(mixed, fc10)],
        ["jit(kernel_fn) vs net.kernel, depth 10", ratio(layers["kernel_fn10"], fc10)],
        ["jit(kernel_fn) compile, depth 10", f"{layers['kernel_fn10']['compile_s']:.2f} s"],
        ["jit(kernel_fn) vs net.kernel, mixed Sequential of 10 pairs", ratio(layers["kernel_fn_mixed10"], mixed)],
        ["grad of sum(NTK) w.r.t. W_std (one scalar: forward mode) vs forward kernel_fn, depth 10",
         f"{grad['time_s'] / grad['forward_s']:.2f}x ({grad['time_s']:.3f} s vs {grad['forward_s']:.3f} s)"],
        ["grad of sum(NTK) w.r.t. each layer's W_std (11 scalars: reverse mode) vs forward kernel_fn",
         f"{grad_layers['time_s'] / grad_layers['forward_s']:.2f}x "
         f"({grad_layers['time_s']:.3f} s vs {grad_layers['forward_s']:.3f} s)"],
    ]
    fc3 = layers.get("fc3")
    if fc3 and "new_n_first_s" in fc3:
        rows.append(["FullyConnected(depth=3): first minus second call; a new N (N - 7) reusing the compiled code",
                     f"{fc3['first_s'] - fc3['time_s']:.2f} s; {fc3['new_n_first_s'] - fc3['new_n_time_s']:.2f} s"])
    lines += _table(["measurement", "value"], rows, widths="65 35")
    lines += _source("kernel_speed_n2000_layer_algebra.json", record)
    return lines


def accuracy(records: dict[str, Record]) -> list[str]:
    record = records["accuracy.json"]
    result = record["results"]
    lines = _section("Accuracy")
    first = result["float32_vs_float64"][0]
    lines += _paragraph(
        f"Relative Frobenius error of float32 kernels against float64 ones, depth-{first['depth']} ReLU, "
        f"{first['n']} points in R^{first['dim']}; neural-tangents' own columns need its environment.")

    def cell(value: float | None) -> str:
        return "not run" if value is None else f"{value:.1e}"
    lines += _table(["W_std, b_std", "nngp_ntk NNGP", "nngp_ntk NTK", "neural-tangents NNGP", "neural-tangents NTK"],
                    [[f"{row['W_std']:.4g}, {row['b_std']}", cell(row["ours_nngp"]), cell(row["ours_ntk"]),
                      cell(row["nt_nngp"]), cell(row["nt_ntk"])] for row in result["float32_vs_float64"]])
    reference = result["reference"]
    lines += _paragraph(
        f"float64 kernels against neural-tangents 0.6.5 over the {reference['cases']} reference networks of "
        "``tests/data/nt_kernels.npz`` (``max|ours - NT| / max|NT|`` per case): the largest "
        f"{reference['max_rel_error']:.1e}; per activation "
        + ", ".join(f"{name} {value:.1e}" for name, value in reference["max_rel_error_per_activation"].items()) + ".")
    lines += _source("accuracy.json", record)
    arccos = records["arccos.json"]
    result = arccos["results"]
    lines += _paragraph(
        f"arccos, the inner loop of the ReLU-like activations, on {result['entries']} float32 entries "
        f"({result['statistic']} calls): nngp_ntk's vectorizable polynomial {result['ns_per_entry']['ours']:.2f} ns "
        f"per entry, {result['accuracy']['ours_float32_ulp']:.0f} float32 ulp at most, against XLA's "
        f"``jnp.arccos`` {result['ns_per_entry']['xla']:.2f} ns, {result['accuracy']['xla_float32_ulp']:.0f} ulps; in "
        f"float64 within {result['accuracy']['ours_float64_ulp_vs_numpy']:.0f} ulps of NumPy's.")
    lines += _source("arccos.json", arccos)
    return lines


def scale(records: dict[str, Record]) -> list[str]:
    record = records["scale.json"]
    result = record["results"]
    core = result["out_of_core"]
    lines = _section("Out of core and several devices")
    lines += _paragraph(
        f"``net.kernel(x, out=...)`` of N = {core['n']} points, d = {core['dim']}, depth {core['depth']}, float32 "
        f"({core['bytes_written'] / 1e9:.0f} GB written): {core['seconds']:.1f} s, peak resident memory "
        f"{_gib(core['peak_bytes'])}; the disk took {core['write_GBps']:.2f} GB/s and the GEMM floor of the upper "
        f"triangle reads {core['gemm_floor_s']:.1f} s, {core['gemm_fraction']:.2f} of the time: the disk sets the "
        f"pace. A sample of the result equals the in-memory kernel to {core['sample_max_rel_error_vs_in_memory']:.1e}.")
    devices = result["devices"]
    lines += _table([f"forced CPU devices (N = {devices[0]['n']}, in memory)", "time s", "max difference to one device"],
                    [[f"{row['devices']} ({row.get('platform', '')})", f"{row.get('seconds', float('nan')):.2f}",
                      f"{row['max_diff_vs_first']:.1e}"] for row in devices])
    lines += _source("scale.json", record)
    spectrum = records["spectrum_speed.json"]
    runs = spectrum["results"]["runs"]
    lines += _paragraph(
        "Top eigenvalues of the depth-3 ReLU NTK on the sphere in R^16 without the matrix in memory (randomized "
        "block Krylov on kernel row blocks, ``benchmarks/spectrum_speed.py``), one row per run:")
    lines += _table(["N", "top k", "passes", "converged", "total s", "kernel products s", "load average",
                     "max relative error vs dense"],
                    [[run["n"], run["top_k"], run["passes"], run["converged"], run["total_s"], run["product_s"],
                      f"{run['load_average']:.2f}",
                      f"{run['max_rel_error']:.1e}" if "max_rel_error" in run else ""] for run in runs])
    lines += _source("spectrum_speed.json", spectrum)
    return lines


def solver(records: dict[str, Record]) -> list[str]:
    record = records["solver_speed.json"]
    result = record["results"]
    lines = _section("The solver")
    dense = result["dense"]
    threads = ", ".join(f"{name}={value}" for name, value in dense["environment"]["threads"].items() if value)
    lines += _paragraph(
        "``benchmarks/solver_speed.py``: points on the sphere in R^20, a depth-2 ReLU NTK in float32"
        + (f", {threads}" if threads else "") + ". The t = None mean (ridge 1e-3) by "
        "``solver.gradient_flow`` against SciPy's ``solve`` and scikit-learn's ``KernelRidge`` on the same "
        "kernel, and three finite times by one eigendecomposition; the largest difference from SciPy relative to "
        "its largest entry:")
    lines += _table(["N train", "ours, t = None s", "ours, 3 times s", "SciPy s", "scikit-learn s",
                     "ours vs SciPy", "scikit-learn vs SciPy"],
                    [[row["n"], f"{row['ours_t_none_s']:.3f}", f"{row['ours_3_times_eigh_s']:.3f}",
                      f"{row['scipy_solve_s']:.3f}", f"{row['sklearn_kernel_ridge_s']:.3f}",
                      f"{row['ours_vs_scipy']:.1e}", f"{row['sklearn_vs_scipy']:.1e}"] for row in dense["rows"]])
    large = result.get("large")
    if large:
        sub = large["subproblem"]
        lines += _paragraph(
            f"N = {large['n']} training points, {large['m']} test points ({large['dtype']} kernel, "
            f"{large['kernel_s']:.0f} s): the t = None mean at ridge {large['ridge']} by {large['method']} "
            f"(preconditioned conjugate gradients, rank-{large['rank']} preconditioner) in "
            f"{large['setup_s'] + large['solve_s']:.0f} s, {large['cg_iterations']} iterations, test R^2 "
            f"{large['test_r2']:.3f}; the means at t = {_join(large['times'], 0)} by Lanczos in "
            f"{large['lanczos_s']:.0f} s (test R^2 {_join(large['test_r2_at_times'])}). On the first {sub['n']} "
            f"points the iterative mean equals the dense float64 one to {sub['iterative_vs_dense']:.1e} "
            f"({sub['iterative_s']:.1f} s against {sub['dense_s']:.1f} s).")
    lines += _source("solver_speed.json", record)
    return lines


#: The exact references of ``benchmarks/large_n.py``'s comparison, by the name its result file records.
_REFERENCES = {"dense": "dense float64 Cholesky factorization of the N x N kernel",
               "stored": "preconditioned conjugate gradients on the N x N float32 kernel in the out-of-core store, "
                         "``predict(..., out=folder)``"}


def large_n(records: dict[str, Record]) -> list[str]:
    record = records["large_n.json"]
    result = record["results"]
    lines = _section("Large N: Nystrom against the exact solver")
    compare = result.get("compare")
    if compare:
        exact = compare["exact"]
        lines += _paragraph(
            "``benchmarks/large_n.py``: N = " f"{compare['n']:,} shifted, noisy copies of 4,000 bundled MNIST digits "
            f"(d = {compare['dim']}), {compare['test_points']:,} held-out digits, one-hot targets; "
            f"depth-{compare['depth']} ReLU NTK in {compare['dtype']}, ridge {compare['ridge']}"
            + "".join(f", {name}={value}" for name, value in result.get("machines", {}).get("compare", {}).items()
                      if name.endswith("_THREADS"))
            + f". The exact t = None mean ({_REFERENCES[exact['reference']]}) against ``method=\"nystrom\"`` with M "
            "centers drawn uniformly or by approximate ridge leverage scores; one run each, wall clock, the machine "
            "shared (load average per row), in one process (its peak resident memory so far counts the pages of a "
            "memory-mapped kernel store it has read). The Nystrom solver's time grows as N M (and M^3 for its factors) where "
            "the exact one's grows as N^2 for the kernel and N^2 per CG iteration (N^3 for a dense factorization), "
            "and its memory as M^2 instead of N^2.")
        rows = [[f"exact ({exact['reference']})", "", f"{exact['test_mse']:.5f}", "1.000",
                 f"{exact['test_accuracy']:.3f}", "", f"{exact['seconds']:.0f}", "", f"{exact['load_average']:.1f}"]]
        for row in compare["nystrom"]:
            steps = row["steps_s"]
            rows.append([f"M = {row['m']:,}", row["centers"], f"{row['test_mse']:.5f}",
                         f"{row['mse_ratio_to_exact']:.3f}", f"{row['test_accuracy']:.3f}", row["iterations"],
                         f"{row['seconds']:.0f} (centers {steps['centers']:.0f}, kernel {steps['kernel']:.0f}, "
                         f"factors {steps['preconditioner']:.0f}, CG {steps['solve']:.0f})",
                         _gib(row["peak_rss_bytes_so_far"]), f"{row['load_average']:.1f}"])
        lines += _table(["solver", "centers", "test MSE", "MSE / exact", "test accuracy", "CG iterations",
                         "seconds (steps)", "peak resident so far", "load average"], rows,
                        widths="12 9 9 9 9 9 25 9 9")
    references = result.get("references")
    if references:
        dense, stored = references["dense"], references["stored"]
        lines += _paragraph(
            f"The two exact references on the same problem at N = {references['n']:,} (part ``references``): test MSE "
            f"{dense['test_mse']:.6f} dense ({dense['seconds']:.1f} s) and {stored['test_mse']:.6f} stored "
            f"({stored['seconds']:.1f} s), a relative difference of {references['test_mse_rel_diff']:.1e}; their "
            f"predictions differ by at most {references['max_abs_diff']:.1e} (largest absolute prediction "
            f"{references['max_abs_prediction']:.2f}), the conjugate gradients' tolerance.")
    lines += _diagnose(result.get("diagnose"))
    panels = result.get("panels")
    if panels:
        lines += _paragraph(
            f"One product K_nm^T (K_nm V) with N = {panels['n']}, M = {panels['m']}, {panels['outputs']} outputs "
            f"({panels['kernel_bytes'] / 1e9:.2f} GB of float32 kernel): "
            + "; ".join(f"{mode} {panels[mode]['product_s']:.2f} s ({panels[mode]['statistic']}, after "
                        f"{panels[mode]['setup_s']:.1f} s of setup)" for mode in ("memory", "disk", "recompute"))
            + ". Held or stored panels are computed once; recomputed ones cost a kernel pass per iteration, so the "
              "solver keeps K(X, C) in memory when it takes at most half the available memory, in the store with "
              "``out=``, and recomputes it only otherwise.")
    runs = sorted(result.get("large", {}).values(), key=lambda run: run["n"])
    for large in runs:
        if "error" in large:
            lines += _paragraph(f"The large-N run at N = {large['n']:,}, M = {large['m']:,} failed: {large['error']}.")
            continue
        steps = large["steps_s"]
        lines += _paragraph(
            f"Nystrom at N = {large['n']:,}, M = {large['m']:,} ({large['centers']} centers, K(X, C) in the "
            f"out-of-core store: {large['store_bytes'] / 1e9:.1f} GB): {large['process_s']:.0f} s "
            f"({large['process_s'] / 60:.1f} min) from start to exit, "
            f"the fit {large['fit_s']:.0f} s (kernel {steps['kernel']:.0f} s, factors {steps['preconditioner']:.0f} s, "
            f"{large['iterations']} CG iterations {steps['solve']:.0f} s), peak resident memory "
            f"{_gib(large['peak_rss_bytes'])}; test MSE {large['test_mse']:.5f}, accuracy {large['test_accuracy']:.3f} "
            f"(load average {large['load_average_at_end']:.1f} at the end). Per kernel entry: "
            f"{steps['kernel'] / large['kernel_entries'] * 1e9:.0f} ns to compute and store, "
            f"{steps['solve'] / (large['kernel_entries'] * large['iterations']) * 1e9:.1f} ns per CG iteration "
            "(the store's panels mapped from the file, two float32 products).")
    lines += _estimates(result.get("estimates"))
    lines += _distributed(result.get("distributed"))
    commands = result.get("commands", {})
    if len(set(commands.values())) > 1:
        lines += _paragraph("The parts were written by " + "; ".join(
            f"{part}: ``{command}`` (load average {result['machines'][part]['load_average_before']:.2f} before)"
            for part, command in commands.items()) + ".")
    lines += _source("large_n.json", record)
    return lines


def _diagnose(row: dict | None) -> list[str]:
    """Why Nystrom falls short: the effective dimension and the MSE ratio against the ridge, and a tighter CG."""
    if not row:
        return []
    tight = row["tight_cg"]
    default = next((r for r in row["ridges"] if r["ridge"] == tight["ridge"]), None)
    lines = _paragraph(
        f"Why Nystrom falls short at N = {row['n']:,} (part ``diagnose``, M = {row['m']:,} {row['centers']} centers): "
        "for each ridge the exact mean (CG on the stored kernel), the effective dimension d_eff = "
        f"tr(K (K + ridge I)^-1) (Hutchinson's estimator over {row['probes']} random sign vectors, solved in the same "
        "CG, +- its standard error) and Nystrom's test MSE. Nystrom needs M of the order of d_eff before its "
        "restriction to the span of the centers stops costing accuracy.")
    lines += _table(["ridge", "d_eff", "d_eff / N", "exact test MSE", "exact CG iterations", "Nystrom test MSE",
                     "MSE / exact", "load average"],
                    [[f"{r['ridge']:g}", f"{r['effective_dimension']:,.0f} +- {r['effective_dimension_stderr']:.0f}",
                      f"{r['effective_dimension'] / row['n']:.3f}", f"{r['exact']['test_mse']:.5f}",
                      r["exact"]["iterations"], f"{r['nystrom']['test_mse']:.5f}", f"{r['mse_ratio_to_exact']:.3f}",
                      f"{r['load_average']:.1f}"] for r in row["ridges"]])
    if default:
        lines += _paragraph(
            f"CG tolerance: at ridge {tight['ridge']:g}, Nystrom run to a relative residual {tight['residual']:.1e} "
            f"(tol {tight['tol']:g}, {tight['iterations']} iterations) has test MSE {tight['test_mse']:.8f} against "
            f"{default['nystrom']['test_mse']:.8f} at the default tolerance ({default['nystrom']['iterations']} "
            f"iterations), a relative difference of {abs(tight['test_mse'] / default['nystrom']['test_mse'] - 1):.1e}.")
    return lines


def _estimates(estimate: dict | None) -> list[str]:
    """The on-paper times and memory at large N on one GPU and on a cluster (``large_n.estimates``)."""
    if not estimate:
        return []
    per_entry, gpu, cpu = estimate["per_entry"], estimate["gpu"], estimate["cpu"]
    lines = _paragraph(
        f"**Estimated on paper, not measured** (part ``estimates``, ``large_n.estimates``): Nystrom with M = "
        f"{estimate['m']:,} at larger N on this machine (at N = {estimate['from_n']:,} its row is the measured run), "
        f"on one GPU ({gpu['name']}) and on a cluster, from the "
        f"per-entry costs measured here: {per_entry['kernel_store_s'] * 1e9:.0f} ns per kernel entry into the store "
        f"(the N = {estimate['from_n']:,} run), {per_entry['kernel_memory_s'] * 1e9:.0f} ns in memory (the panels "
        f"part: the kernel engine alone), {per_entry['cg_s'] * 1e9:.1f} ns per entry per CG iteration, "
        f"{estimate['iterations']} iterations, {estimate['other_s']:.0f} s for the rest (start, data, centers, the "
        f"factors of K_mm, prediction). GPU to this CPU: {estimate['gpu_to_cpu_fp32']:.0f} x, the ratio of the FP32 "
        f"peaks ({gpu['fp32_flops'] / 1e12:.0f} TFLOP/s, {gpu['source']}, against {cpu['fp32_flops'] / 1e9:.0f} "
        f"GFLOP/s for {cpu['name']}); GPU memory {gpu['memory_bytes_per_s'] / 1e12:.2f} TB/s, "
        f"FP64 {gpu['fp64_flops'] / 1e12:.0f} TFLOP/s, host link {gpu['host_link_bytes_per_s'] / 1e9:.0f} GB/s; "
        f"cluster network {estimate['network']['name']}. Assumptions: " + "; ".join(estimate["assumptions"]) + ".")

    def seconds(value: float) -> str:
        return f"{value:.0f}" if value >= 10 else f"{value:.2g}"

    def memory(row: dict) -> str:
        text = f"{_gib(row['resident_bytes'])} resident"
        if "store_bytes" in row:
            return text + f", {row['store_bytes'] / 1e9:.0f} GB store"
        if "host_panel_bytes" in row:
            return text + f" + {row['host_panel_bytes'] / 1e9:.0f} GB panels in host memory"
        if "device_panel_bytes" in row:
            return text + f", {row['device_panel_bytes'] / 1e9:.0f} GB panels in GPU memory"
        return text + f" and {row['store_bytes_per_process'] / 1e9:.1f} GB of store a process"

    return lines + _table(["setting (estimate)", "N", "minutes", "kernel s", "CG s", "rest s", "memory"],
                          [[row["setting"], f"{row['n']:,}", f"{row['seconds'] / 60:.1f}", seconds(row["kernel_s"]),
                            seconds(row["cg_s"]), seconds(row["other_s"]), memory(row)] for row in estimate["rows"]],
                          widths="24 10 8 8 8 8 34")


def _distributed(row: dict | None) -> list[str]:
    """The exact solver on the stored kernel, 1 process against 2 ``jax.distributed`` processes."""
    if not row:
        return []
    runs = {p: row[f"processes_{p}"] for p in (1, 2)}
    failed = [run["error"] for p in runs for run in runs[p] if "error" in run]
    if failed:
        return _paragraph(f"The distributed exact solver at N = {row['n']:,} failed: {failed[0]}.")
    table = [[str(p), str(run["process"]), f"{run['kernel_s']:.0f}", f"{run['solve_s']:.0f}", f"{run['process_s']:.0f}",
              _gib(run["peak_rss_bytes"]), f"{run['test_mse']:.5f}", f"{run['load_average_at_end']:.1f}"]
             for p in runs for run in runs[p]]
    lines = _paragraph(
        f"The exact t = None mean on the stored kernel (``predict(..., out=folder)``, :doc:`beyond_one_machine`) at "
        f"N = {row['n']:,} (the same MNIST-like points, depth-{row['depth']} ReLU NTK, {row['dtype']}, ridge "
        f"{row['ridge']}; {row['store_bytes'] / 1e9:.2f} GB of stored train kernel): one process, then 2 "
        "``jax.distributed`` processes on this machine (localhost coordinator, CPU, gloo), which share the kernel's "
        "tiles and the rows of every CG product. The 2 processes' predictions differ from one process's by at most "
        f"{row['max_abs_diff_to_one_process']:.1e} (largest absolute prediction {row['max_abs_prediction']:.2f}), and from "
        f"each other by {row['max_abs_diff_between_processes']:.1e}. Peak resident memory counts the pages of the "
        "memory-mapped store a process has read. One run each, wall clock, the 2 cores shared with other work.")
    return lines + _table(["processes", "process", "kernel s", "test kernel + CG s", "start to exit s",
                           "peak resident", "test MSE", "load average"], table,
                          widths="10 8 10 14 12 12 10 10")


def kip(records: dict[str, Record]) -> list[str]:
    record = records["kip_mnist.json"]
    result = record["results"]
    lines = _section("KIP dataset distillation")
    lines += _paragraph(
        "KIP (Nguyen, Chen & Lee 2021) through ``kernel_fn``: ``examples/kip_mnist.py`` learns "
        f"{result['support_size']} support images (10 per class, labels fixed) from {result['train_pool']} MNIST "
        f"images by Adam on the exact gradient of the kernel regression loss ({_escape(result['network'])}), "
        f"{result['steps']} steps, and tests on {result['test_points']} held-out images.")
    lines += _table([f"support set, {result['support_size']} images", "test accuracy"], [
        [f"random, 10 per class ({result['random_draws']} draws)",
         f"{result['test_accuracy_random_mean']:.3f} +- {result['test_accuracy_random_std']:.3f}"],
        ["learned by KIP", f"{result['test_accuracy_learned']:.3f}"]])
    lines += _source("kip_mnist.json", record)
    lines += [".. image:: kip_mnist_support.png", "   :alt: The KIP support set learned through the NTK", "   :width: 480",
              ""]
    return lines


SECTIONS: tuple[Callable[[dict[str, Record]], list[str]], ...] = (
    main_job, regimes, scaling_report, random_features, deep_models, beyond, flow_time, sgd_compute, kernel_speed,
    compilation, layer_algebra, accuracy, scale, solver, large_n, kip)


def load(folder: Path = RESULTS) -> dict[str, Record]:
    """Every result file in ``folder`` (not its subfolders), by file name."""
    records = {}
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        missing = {"command", "date", "machine", "results"} - set(record)
        if missing:
            raise ValueError(f"{path}: not a result file of benchmarks/_harness.py (no {sorted(missing)})")
        records[path.name] = record
    return records


def render(records: dict[str, Record]) -> str:
    """The results page, reStructuredText."""
    lines = ["..", "   Written by benchmarks/report.py from benchmarks/results/*.json when the docs are built:",
             "   edit those, not this file.", ""]
    lines += _section("Results", "=")
    lines += _paragraph(
        "Every number on this page is read from a result file under ``benchmarks/results/`` when the "
        "documentation is built (``benchmarks/report.py``); each section names the file, the command that wrote "
        "it, the day and the machine. ``python benchmarks/run_all.py`` reruns the scripts (see "
        ":doc:`benchmarks`). Timings on a shared virtual machine vary from run to run: compare ratios taken in "
        "the same run.")
    for section in SECTIONS:
        lines += section(records)
    return "\n".join(lines).rstrip("\n") + "\n"


def write(path: Path = PAGE, folder: Path = RESULTS) -> Path:
    """Render the page from ``folder`` into ``path``; the file is rewritten only when its text changes."""
    text = render(load(folder))
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=PAGE, help=f"the page (default {PAGE})")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the folder of result files")
    args = parser.parse_args()
    print(f"wrote {write(args.out, args.results)}")


if __name__ == "__main__":
    main()
