"""L(P) and alpha_P of deep random-feature models on the bundled real datasets, predicted and measured.

    PYTHONPATH=. python benchmarks/deep_model_curves.py            # MNIST and digits, depths 1-3
    PYTHONPATH=. python benchmarks/deep_model_curves.py --quick    # digits, 600 points, results/quick/
    PYTHONPATH=. python benchmarks/deep_model_curves.py --folds 5  # MNIST, every point tested once
    PYTHONPATH=. python benchmarks/deep_model_curves.py --folds 5 --readout-ridge 1e-4   # ... with a ridge

Every hidden layer of the measured models is P wide (``scaling.model_curve``: ReLU, W_std = 1,
b_std = 0, the readout fitted by least squares on all D pool points, tested on a fixed held-out set:
MNIST 5,000 with 1,000 held out, digits 1,797 with 449). Predicted from the pool alone by
``predict_exponents(kernel="nngp", train_size=D)``: its default ("sampled-layers" for depth >= 2:
the earlier layers drawn at width P, the last layer averaged by the leave-one-out random-feature
theory; "leave-one-out" at depth 1) and the earlier layers at infinite width ("leave-one-out").
Also recorded: the relative standard error of a test MSE on the fixed held-out points (one draw per
width, from its per-point squared errors), the measurement's own resolution. Printed as a markdown
table; saved as deep_model_curves.json.

With ``--folds K`` (MNIST): every point is tested once instead. The 5,000 points fall in K random
folds; each fold is the test set of models fitted on the other K - 1 folds and of a prediction made
from those alone; measured and predicted L(P) are the means over the folds (``cross_fitted``), which
removes the one held-out set's own error. Saved as deep_model_curves_folds.json.

With ``--readout-ridge R`` as well, the readout of both the measured models and the prediction is
fitted with ridge R (``finite.fit_readout``; ``predict_exponents(readout_ridge=R)``), and the same
draws are also measured ridgeless: narrow deep ReLU layers give the ridgeless mean a heavy tail (a
unit active on one training point fits it with weight r / z, z its small pre-activation), which a
small ridge removes while moving the other draws by far less than their spread. Saved as
deep_model_curves_folds_ridge.json.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import _harness
import nngp_ntk as nk
from nngp_ntk import data, scaling
from nngp_ntk.finite import fit_readout, random_features

DATASETS = {"mnist": (data.mnist, 1000, [10, 20, 41, 82, 165, 333]),
            "digits": (data.digits, 449, [5, 10, 20, 40, 80, 160])}
QUICK = {"digits": (lambda: data.digits(n=600, seed=0), 150, [4, 8, 16, 32, 64])}


def run(name: str, load, test_size: int, widths: list[int], depth: int, repeats: int, draws: int) -> dict:
    X, Y = data.prepare(load())
    test, pool = scaling.holdout_split(len(X), test_size=test_size, seed=0)
    net = nk.FullyConnected(depth=depth, activation="relu", W_std=1.0, b_std=0.0)
    start = time.perf_counter()
    measured = scaling.model_curve(net, X, Y, widths=widths, train_size=len(pool), repeats=repeats, test=test)
    measured_s = time.perf_counter() - start
    standard_errors = []                          # the fixed test set's own sampling error, one draw per width
    for width in widths:
        features = random_features(net, X, width, seed=width)
        readout = fit_readout(features[pool], Y[pool])
        errors = np.mean((features[test] @ readout - Y[test]) ** 2, axis=1)
        standard_errors.append(float(np.std(errors, ddof=1) / np.sqrt(len(errors)) / np.mean(errors)))
    options = dict(kernel="nngp", sizes=widths, train_size=len(pool), layer_draws=draws)
    start = time.perf_counter()
    predicted = nk.predict_exponents(net, X[pool], Y[pool], **options)
    predicted_s = time.perf_counter() - start
    infinite = nk.predict_exponents(net, X[pool], Y[pool], model_method="leave-one-out", **options)
    row = {"dataset": name, "depth": depth, "points": len(X), "pool": len(pool), "test": len(test),
           "widths": list(widths), "repeats": repeats, "layer_draws": draws,
           "measured_alpha_P": measured.alpha, "measured_ci": list(measured.ci),
           "measured_losses": measured.losses.tolist(), "measured_errors": measured.errors.tolist(),
           "measured_s": measured_s, "test_set_relative_se": standard_errors}
    for key, prediction in (("predicted", predicted), ("infinite_earlier_layers", infinite)):
        ratio = prediction.model_losses / measured.losses
        row[key] = {"model_method": prediction.model_method, "alpha_P": prediction.alpha_P,
                    "ci": list(prediction.ci["alpha_P"]), "losses": prediction.model_losses.tolist(),
                    "ratio_to_measured": ratio.tolist(), "largest_gap": float(np.max(np.abs(ratio - 1))),
                    "alpha_P_gap": abs(prediction.alpha_P - measured.alpha)}
    row["predicted"]["seconds"] = predicted_s
    return row


def cross_fitted(name: str, load, folds: int, widths: list[int], depth: int, repeats: int, draws: int,
                 readout_ridge: float = 0.0) -> dict:
    """The same comparison with every point tested once: the points in ``folds`` random folds, each fold
    the test set of the models fitted on the others (``repeats`` draws per width and fold) and the
    prediction made from those others alone; measured and predicted L(P) are the means over the folds,
    alpha_P the fit through the measured mean (bootstrap over the fold x draw rows) and the mean of the
    folds' predicted alpha_P. With ``readout_ridge`` > 0 both sides fit the readout with that ridge,
    and the same draws are measured ridgeless too (``ridgeless_*`` keys)."""
    X, Y = data.prepare(load())
    order = np.random.default_rng(0).permutation(len(X))
    rows, ridgeless, predicted, infinite = [], [], [], []
    net = nk.FullyConnected(depth=depth, activation="relu", W_std=1.0, b_std=0.0)
    start = time.perf_counter()
    for fold in np.array_split(order, folds):
        test = np.sort(fold)
        pool = np.setdiff1d(np.arange(len(X)), test)
        measure = dict(widths=widths, train_size=len(pool), repeats=repeats, test=test, seed=len(rows))
        rows.append(scaling.model_curve(net, X, Y, ridge=readout_ridge, **measure).repeat_losses)
        if readout_ridge:                           # the same draws (same seed), ridgeless
            ridgeless.append(scaling.model_curve(net, X, Y, **measure).repeat_losses)
        options = dict(kernel="nngp", sizes=widths, train_size=len(pool), layer_draws=draws,
                       readout_ridge=readout_ridge)
        predicted.append(nk.predict_exponents(net, X[pool], Y[pool], **options))
        infinite.append(nk.predict_exponents(net, X[pool], Y[pool], model_method="leave-one-out", **options))
    seconds = time.perf_counter() - start
    repeat_losses = np.concatenate(rows)
    measured = repeat_losses.mean(axis=0)
    fit = nk.spectrum.fit_loglog(np.asarray(widths, np.float64), repeat_losses, interval="bootstrap",
                                 name="P", seed=0)
    row = {"dataset": name, "depth": depth, "points": len(X), "folds": folds, "widths": list(widths),
           "repeats": repeats, "layer_draws": draws, "measured_alpha_P": fit.alpha, "measured_ci": list(fit.ci),
           "measured_losses": measured.tolist(),
           "measured_errors": (repeat_losses.std(axis=0, ddof=1) / np.sqrt(len(repeat_losses))).tolist(),
           "fold_measured_losses": [r.mean(axis=0).tolist() for r in rows], "seconds": seconds,
           "readout_ridge": readout_ridge}
    if ridgeless:
        repeat_ridgeless = np.concatenate(ridgeless)
        row["ridgeless_measured_losses"] = repeat_ridgeless.mean(axis=0).tolist()
        row["fold_ridgeless_measured_losses"] = [r.mean(axis=0).tolist() for r in ridgeless]
        row["ridgeless_over_ridge_largest_draw"] = float(np.max(repeat_ridgeless / repeat_losses))
        row["ridgeless_over_ridge_median_draw"] = float(np.median(repeat_ridgeless / repeat_losses))
    for key, predictions in (("predicted", predicted), ("infinite_earlier_layers", infinite)):
        losses = np.mean([p.model_losses for p in predictions], axis=0)
        alpha = float(np.mean([p.alpha_P for p in predictions]))
        ratio = losses / measured
        row[key] = {"model_method": predictions[0].model_method, "alpha_P": alpha,
                    "fold_alpha_P": [p.alpha_P for p in predictions], "losses": losses.tolist(),
                    "ratio_to_measured": ratio.tolist(), "largest_gap": float(np.max(np.abs(ratio - 1))),
                    "alpha_P_gap": abs(alpha - fit.alpha)}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="digits, 600 points: checks the script runs")
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--repeats", type=int, default=8, help="measured draws per width")
    parser.add_argument("--draws", type=int, default=4, help="predicted draws of the earlier layers per width")
    parser.add_argument("--folds", type=int, default=0,
                        help="cross-fit over this many folds (MNIST; deep_model_curves_folds.json) instead of the "
                             "fixed split")
    parser.add_argument("--readout-ridge", type=float, default=0.0,
                        help="with --folds: fit the readout of the measured models and the prediction with this "
                             "ridge (deep_model_curves_folds_ridge.json)")
    args = parser.parse_args()
    if args.readout_ridge and not args.folds:
        parser.error("--readout-ridge is measured with --folds")
    started = _harness.machine()
    if args.folds:
        load, _, widths = DATASETS["mnist"]
        print("| depth | folds | measured alpha_P | predicted | gap | L(P) ratios | earlier layers infinite |")
        print("|---|---|---|---|---|---|---|")
        rows = []
        path = "deep_model_curves_folds_ridge.json" if args.readout_ridge else "deep_model_curves_folds.json"
        for depth in args.depths:
            row = cross_fitted("mnist", load, args.folds, widths, depth, args.repeats, args.draws, args.readout_ridge)
            rows.append(row)
            p, g = row["predicted"], row["infinite_earlier_layers"]
            print(f"| {depth} | {args.folds} | {row['measured_alpha_P']:.3f} [{row['measured_ci'][0]:.3f}, "
                  f"{row['measured_ci'][1]:.3f}] | {p['alpha_P']:.3f} ({p['model_method']}) | {p['alpha_P_gap']:.3f} | "
                  f"{min(p['ratio_to_measured']):.3f}..{max(p['ratio_to_measured']):.3f} | "
                  f"{g['alpha_P_gap']:.3f}, {g['largest_gap']:.1%} |", flush=True)
            _harness.write_result(_harness.result_path(path, args.quick), rows, started)
        return
    rows = []
    print("| dataset | depth | measured alpha_P | predicted (method) | gap | largest L(P) gap | "
          "earlier layers infinite: alpha_P, gap, largest L(P) gap | test-set standard error |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (load, test_size, widths) in (QUICK if args.quick else DATASETS).items():
        for depth in args.depths:
            row = run(name, load, test_size, widths, depth, args.repeats, args.draws)
            rows.append(row)
            p, g = row["predicted"], row["infinite_earlier_layers"]
            ci = row["measured_ci"]
            print(f"| {name} | {depth} | {row['measured_alpha_P']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] | "
                  f"{p['alpha_P']:.3f} ({p['model_method']}) | {p['alpha_P_gap']:.3f} | {p['largest_gap']:.1%} | "
                  f"{g['alpha_P']:.3f}, {g['alpha_P_gap']:.3f}, {g['largest_gap']:.1%} | "
                  f"{min(row['test_set_relative_se']):.1%}..{max(row['test_set_relative_se']):.1%} |", flush=True)
    _harness.write_result(_harness.result_path("deep_model_curves.json", args.quick), rows, started)


if __name__ == "__main__":
    main()
