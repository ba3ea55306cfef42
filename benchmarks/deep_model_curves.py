"""L(P) and alpha_P of deep random-feature models on the bundled real datasets, predicted and measured.

    PYTHONPATH=. python benchmarks/deep_model_curves.py            # MNIST and digits, depths 1-3
    PYTHONPATH=. python benchmarks/deep_model_curves.py --quick    # digits, 600 points, results/quick/

Every hidden layer of the measured models is P wide (``scaling.model_curve``: ReLU, W_std = 1,
b_std = 0, the readout fitted by least squares on all D pool points, tested on a fixed held-out set:
MNIST 5,000 with 1,000 held out, digits 1,797 with 449). Predicted from the pool alone by
``predict_exponents(kernel="nngp", train_size=D)``: its default ("sampled-layers" for depth >= 2:
the earlier layers drawn at width P, the last layer averaged by the leave-one-out random-feature
theory; "leave-one-out" at depth 1) and the earlier layers at infinite width ("leave-one-out").
Also recorded: the relative standard error of a test MSE on the fixed held-out points (one draw per
width, from its per-point squared errors), the measurement's own resolution. Printed as a markdown
table; saved as deep_model_curves.json.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="digits, 600 points: checks the script runs")
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--repeats", type=int, default=8, help="measured draws per width")
    parser.add_argument("--draws", type=int, default=4, help="predicted draws of the earlier layers per width")
    args = parser.parse_args()
    started = _harness.machine()
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
