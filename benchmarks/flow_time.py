"""L(D, t) of gradient flow on MNIST: predicted from the training pool against the solver's exact flow.

    PYTHONPATH=. python benchmarks/flow_time.py            # ~10 minutes on 2 busy cores
    PYTHONPATH=. python benchmarks/flow_time.py --quick    # digits, small sizes: checks that it runs

5,000 MNIST images (centered, rows at norm sqrt(784), one-hot labels), a fixed test set of 1,000
(``scaling.holdout_split``, seed 0) and the training pool of the other 4,000, as in the main job;
the NTK of a depth-3 ReLU network with W_std^2 = 2, b_std^2 = 0.01. Predicted:
``theory.predict_flow_curve`` from the pool alone; measured: ``scaling.flow_curve``, the exact flow on
nested training sets drawn from the pool, tested on the 1,000. D in {400, 1600, 3200}, t in
geomspace(10, 1e5, 17), alpha_T the slope of log L over t in [100, 1000]. Goals: predicted within 5% of
measured at every (D, t), alpha_T at D = 3200 within 0.02. Also timed: the prediction without
intervals (the speed goal: under 60 s) and with them. Prints a markdown table and the verdicts;
saves ``flow_time.json`` (``benchmarks/_harness.py``) and the figure of the docs' tutorial,
docs/mnist_flow_curve.png (``--figure-only`` redraws it from the saved file).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import _harness
import nngp_ntk as nk
from nngp_ntk import data, scaling
from nngp_ntk.theory import predict_flow_curve

LOSS_TOLERANCE = 0.05
ALPHA_TOLERANCE = 0.02
FIGURE = _harness.ROOT / "docs" / "mnist_flow_curve.png"


def figure(result: dict, path: Path = FIGURE) -> None:
    """L(t) per size: measured (points, 95% bars over training sets) and predicted (lines, jackknife band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = np.array(result["times"])
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for k, size in enumerate(result["sizes"]):
        color = f"C{k}"
        measured = np.array(result["measured"]["losses"][k])
        bars = np.abs(np.array(result["measured"]["intervals"][k]).T - measured)
        ax.errorbar(times, measured, yerr=bars, fmt="o", ms=4, color=color, label=f"measured, D = {size}")
        predicted = np.array(result["predicted"]["losses"][k])
        band = np.array(result["predicted"]["intervals"][k])
        ax.plot(times, predicted, "-", color=color, label=f"predicted from the pool, D = {size}")
        if np.isfinite(band).all():
            ax.fill_between(times, band[:, 0], band[:, 1], color=color, alpha=0.15, lw=0)
    low, high = result["window"]
    ax.axvspan(low, high, color="0.9", zorder=0, label=f"alpha_T window t = {low:g}..{high:g}")
    ax.set(xscale="log", yscale="log", xlabel="training time t (learning rate 1)", ylabel="test MSE",
           title=f"L(D, t): gradient flow of the NTK, {result['data']}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="digits, small sizes")
    parser.add_argument("--repeats", type=int, default=5, help="training sets per size of the measured curve")
    parser.add_argument("--figure-only", action="store_true", help="redraw the figure from the saved result file")
    args = parser.parse_args()
    if args.figure_only:
        figure(_harness.read_result(_harness.result_path("flow_time.json"))["results"])
        return
    started = _harness.machine()
    if args.quick:
        X, Y = data.prepare(data.digits(700, seed=0))
        test_size, sizes, times = 200, np.array([100, 200, 400]), np.geomspace(3, 3e3, 7)
        window, subsets = (30.0, 300.0), 4
    else:
        X, Y = data.prepare(data.mnist(5000, seed=0))
        test_size, sizes, times = 1000, np.array([400, 1600, 3200]), np.geomspace(10, 1e5, 17)
        window, subsets = (100.0, 1000.0), 10
    net = nk.FullyConnected(depth=3, activation="relu", W_std=2**0.5, b_std=0.1)
    test, pool = scaling.holdout_split(len(X), test_size, seed=0)
    options = dict(sizes=sizes, times=times, window=window)
    bare, bare_time = _harness.time_once(lambda: predict_flow_curve(net, X[pool], Y[pool], subsets=0, **options))
    predicted, predicted_time = _harness.time_once(
        lambda: predict_flow_curve(net, X[pool], Y[pool], subsets=subsets, **options))
    measured, measured_time = _harness.time_once(
        lambda: scaling.flow_curve(net, X, Y, repeats=args.repeats, test=test, seed=0, **options))
    ratio = predicted.losses / measured.losses
    worst = float(np.max(np.abs(ratio - 1)))
    alpha_gap = abs(predicted.alpha_T.alpha - measured.alpha_T.alpha)
    print(f"| D | t | predicted | measured (95% over {args.repeats} training sets) | predicted / measured |")
    print("|---|---|---|---|---|")
    for i, size in enumerate(sizes):
        for j, t in enumerate(times):
            low, high = measured.intervals[i, j]
            print(f"| {size} | {t:.3g} | {predicted.losses[i, j]:.5f} | {measured.losses[i, j]:.5f} "
                  f"[{low:.5f}, {high:.5f}] | {ratio[i, j]:.3f} |")
    print()
    print("| D | predicted alpha_T | measured alpha_T |")
    print("|---|---|---|")
    for i, size in enumerate(sizes):
        p, m = predicted.fits[i], measured.fits[i]
        print(f"| {size} | {p.alpha:.3f} [{p.ci[0]:.3f}, {p.ci[1]:.3f}] | {m.alpha:.3f} [{m.ci[0]:.3f}, {m.ci[1]:.3f}] |")
    print(f"note: largest |predicted / measured - 1| = {worst:.3f} (goal {LOSS_TOLERANCE}): "
          f"{'met' if worst <= LOSS_TOLERANCE else 'not met'}")
    print(f"note: alpha_T at D = {sizes[-1]} over t = {window[0]:g}..{window[1]:g}: predicted "
          f"{predicted.alpha_T.alpha:.3f}, measured {measured.alpha_T.alpha:.3f}, gap {alpha_gap:.3f} "
          f"(goal {ALPHA_TOLERANCE}): {'met' if alpha_gap <= ALPHA_TOLERANCE else 'not met'}")
    print(f"note: predict_flow_curve on {len(pool)} points: {bare_time.seconds:.1f} s without intervals, "
          f"{predicted_time.seconds:.1f} s with {subsets} jackknife subsets; measured curve "
          f"{measured_time.seconds:.1f} s")
    covered = (predicted.intervals[..., 0] <= measured.losses) & (measured.losses <= predicted.intervals[..., 1])
    result = {
        "data": "digits 700" if args.quick else "mnist 5000", "network": "FullyConnected(depth=3, relu, W_std^2=2, "
        "b_std^2=0.01), NTK", "pool": len(pool), "test_size": test_size, "sizes": sizes.tolist(),
        "times": times.tolist(), "window": list(window), "repeats": args.repeats, "subsets": subsets,
        "predicted": {"losses": predicted.losses.tolist(), "intervals": predicted.intervals.tolist(),
                      "gaussian_losses": predicted.gaussian_losses.tolist(),
                      "fits": [fit.as_dict() for fit in predicted.fits]},
        "measured": {"losses": measured.losses.tolist(), "intervals": measured.intervals.tolist(),
                     "errors": measured.errors.tolist(), "fits": [fit.as_dict() for fit in measured.fits]},
        "ratio": ratio.tolist(), "largest_relative_gap": worst, "loss_tolerance": LOSS_TOLERANCE,
        "losses_ok": bool(worst <= LOSS_TOLERANCE), "alpha_T_gap": alpha_gap, "alpha_tolerance": ALPHA_TOLERANCE,
        "alpha_T_ok": bool(alpha_gap <= ALPHA_TOLERANCE), "predicted_intervals_cover_measured": int(covered.sum()),
        "points": int(covered.size), "seconds_without_intervals": bare_time.seconds,
        "seconds_with_intervals": predicted_time.seconds, "measured_seconds": measured_time.seconds,
        "same_without_intervals": bool(np.allclose(bare.losses, predicted.losses, rtol=1e-12)),
    }
    path = _harness.result_path("flow_time.json", quick=args.quick)
    _harness.write_result(path, result, started)
    if not args.quick:
        figure(result)


if __name__ == "__main__":
    main()
