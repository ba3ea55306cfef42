"""L(P, n) of one-pass SGD on random features and its compute-optimal frontier: predicted from the pool, measured.

    PYTHONPATH=. python benchmarks/sgd_compute.py            # the full grid on MNIST (minutes on 2 busy cores)
    PYTHONPATH=. python benchmarks/sgd_compute.py --quick    # digits, a small grid: checks that it runs

5,000 MNIST images (centered, rows at norm sqrt(784), one-hot labels), a fixed test set of 1,000
(``scaling.holdout_split``, seed 0) and the training pool of the other 4,000; the random hidden layer of
``FullyConnected(depth=1, W_std=2**0.5, b_std=0.1)``: f(x) = relu(x W sqrt(2/d) + 0.1 b) . w / sqrt(P),
one pass of batch-1 SGD, eta0 = 0.5, the geometric schedule eta_t = eta0 / 2^floor(t / K),
K = ceil(n / log2 n). Widths P in 25..1600 and pass lengths n in 125..4000 (factors of 2; ``--widths``,
``--samples`` for a reduced grid). Predicted: ``theory.predict_sgd_curve`` from the pool alone (the
Gaussian-feature risk recursion on the features' spectrum, with and without its variance term);
measured: ``scaling.sgd_curve`` (mean over draws of features and order, tested on the 1,000).
Goals: predicted within 10% of measured at every grid point; alpha_N (at the largest P) and alpha_P
(at the largest n) within 0.03; alpha_C within 0.03 and P*(C) within a factor 2 over C in [1e4, 1e6].
Also: is the variance term negligible under the geometric schedule (the recursion without it), and do
the exponents follow a - 1 and (a - 1)/a with a = 1 + alpha_K (alpha_K of the NNGP's operator,
``theory.operator_exponent`` of the pool's renormalized curve)? Saves ``sgd_compute.json``.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

import _harness
import nngp_ntk as nk
from nngp_ntk import data, scaling, theory

LOSS_TOLERANCE = 0.10
ALPHA_TOLERANCE = 0.03
WIDTH_FACTOR = 2.0


def alpha_k(net: nk.FullyConnected, X: np.ndarray, Y: np.ndarray, sizes: np.ndarray) -> dict:
    """alpha_K of the NNGP operator from the pool's renormalized curve at the given sizes."""
    with jax.enable_x64(True):
        gram = np.asarray(net.kernel(X, get="nngp"), dtype=np.float64)
    values, vectors = np.linalg.eigh(gram / len(X))
    values, vectors = values[::-1], vectors[:, ::-1]
    power = np.mean((vectors.T @ Y) ** 2, axis=1) / len(X)
    curve = theory.Renormalized(np.maximum(values, 0.0), power).curve(sizes)
    return theory.operator_exponent(curve).as_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="digits, a small grid")
    parser.add_argument("--draws", type=int, default=3, help="draws of features and order of the measured grid")
    parser.add_argument("--predicted-draws", type=int, default=2, help="draws of features of the prediction")
    parser.add_argument("--widths", type=int, nargs="+", help="widths P (default 25..1600, factors of 2)")
    parser.add_argument("--samples", type=int, nargs="+", help="pass lengths n (default 125..4000, factors of 2)")
    args = parser.parse_args()
    started = _harness.machine()
    if args.quick:
        X, Y = data.prepare(data.digits(1000, seed=0))
        test_size, widths, samples = 200, [25, 50, 100, 200], [100, 200, 400, 800]
    else:
        X, Y = data.prepare(data.mnist(5000, seed=0))
        test_size = 1000
        widths = [25 * 2**k for k in range(7)]
        samples = [125 * 2**k for k in range(6)]
    widths = np.array(args.widths or widths)
    samples = np.array(args.samples or samples)
    eta0 = 0.5
    net = nk.FullyConnected(depth=1, W_std=2**0.5, b_std=0.1)
    test, pool = scaling.holdout_split(len(X), test_size, seed=0)
    predicted, predicted_time = _harness.time_once(lambda: theory.predict_sgd_curve(
        net, X[pool], Y[pool], widths=widths, samples=samples, eta0=eta0, draws=args.predicted_draws))
    measured, measured_time = _harness.time_once(lambda: scaling.sgd_curve(
        net, X, Y, widths=widths, samples=samples, eta0=eta0, draws=args.draws, test=test, seed=0))
    ratio = predicted.losses / measured.losses
    bias_ratio = predicted.bias_losses / measured.losses
    worst = float(np.max(np.abs(ratio - 1)))
    variance_share = 1 - predicted.bias_losses / predicted.losses
    kernel_alpha = alpha_k(net, X[pool], Y[pool], np.unique(np.geomspace(50, len(pool) / 2, 8).astype(int)))
    a = 1 + kernel_alpha["alpha"]
    fp, fm = predicted.frontier, measured.frontier
    inside = (fm.compute >= fm.window[0]) & (fm.compute <= fm.window[1])
    width_factor = np.maximum(fp.widths / fm.widths, fm.widths / fp.widths)[inside]
    gaps = {"alpha_N": abs(predicted.alpha_N.alpha - measured.alpha_N.alpha),
            "alpha_P": abs(predicted.alpha_P.alpha - measured.alpha_P.alpha),
            "alpha_C": abs(fp.alpha_C.alpha - fm.alpha_C.alpha)}
    print(f"| P | n | predicted | bias only | measured (95% over {args.draws} draws) | predicted / measured |")
    print("|---|---|---|---|---|---|")
    for i, width in enumerate(widths):
        for j, n in enumerate(samples):
            low, high = measured.intervals[i, j]
            print(f"| {width} | {n} | {predicted.losses[i, j]:.5f} | {predicted.bias_losses[i, j]:.5f} | "
                  f"{measured.losses[i, j]:.5f} [{low:.5f}, {high:.5f}] | {ratio[i, j]:.3f} |")
    for name in ("alpha_N", "alpha_P"):
        p, m = getattr(predicted, name), getattr(measured, name)
        print(f"{name}: predicted {p.alpha:.3f} [{p.ci[0]:.3f}, {p.ci[1]:.3f}], measured {m.alpha:.3f} "
              f"[{m.ci[0]:.3f}, {m.ci[1]:.3f}], gap {gaps[name]:.3f}")
    print(f"alpha_C over C in {fm.window}: predicted {fp.alpha_C.alpha:.3f}, measured {fm.alpha_C.alpha:.3f}, "
          f"gap {gaps['alpha_C']:.3f}; P*(C) largest factor {float(np.max(width_factor)):.2f}")
    print(f"alpha_K {kernel_alpha['alpha']:.3f}: a - 1 = {a - 1:.3f}, (a - 1)/a = {(a - 1) / a:.3f}")
    print(f"variance share of the predicted loss: {variance_share.min():.3f}..{variance_share.max():.3f}")
    print(f"largest |predicted / measured - 1| {worst:.3f} (goal {LOSS_TOLERANCE}); predict {predicted_time.seconds:.1f} s,"
          f" measure {measured_time.seconds:.1f} s")

    def frontier(f: theory.ComputeFrontier) -> dict:
        return {"compute": f.compute.tolist(), "losses": f.losses.tolist(), "widths": f.widths.tolist(),
                "samples": f.samples.tolist(), "alpha_C": f.alpha_C.as_dict(), "window": list(f.window)}

    result = {
        "data": "digits 1000" if args.quick else "mnist 5000", "network": "FullyConnected(depth=1, W_std=2**0.5, "
        "b_std=0.1), hidden layer", "pool": len(pool), "test_size": test_size, "eta0": eta0,
        "schedule": "geometric", "widths": widths.tolist(), "samples": samples.tolist(), "draws": args.draws,
        "predicted_draws": args.predicted_draws,
        "predicted": {"losses": predicted.losses.tolist(), "bias_losses": predicted.bias_losses.tolist(),
                      "alpha_N": predicted.alpha_N.as_dict(), "alpha_P": predicted.alpha_P.as_dict(),
                      "frontier": frontier(fp)},
        "measured": {"losses": measured.losses.tolist(), "intervals": measured.intervals.tolist(),
                     "alpha_N": measured.alpha_N.as_dict(), "alpha_P": measured.alpha_P.as_dict(),
                     "frontier": frontier(fm)},
        "ratio": ratio.tolist(), "bias_ratio": bias_ratio.tolist(), "largest_relative_gap": worst,
        "largest_relative_gap_bias_only": float(np.max(np.abs(bias_ratio - 1))),
        "variance_share": [float(variance_share.min()), float(variance_share.max())],
        "loss_tolerance": LOSS_TOLERANCE, "alpha_tolerance": ALPHA_TOLERANCE, "gaps": gaps,
        "losses_ok": bool(worst <= LOSS_TOLERANCE),
        "alphas_ok": {k: bool(v <= ALPHA_TOLERANCE) for k, v in gaps.items()},
        "optimal_width_factor": float(np.max(width_factor)) if width_factor.size else None,
        "optimal_width_ok": bool(width_factor.size and np.max(width_factor) <= WIDTH_FACTOR),
        "alpha_K": kernel_alpha, "a_minus_1": a - 1, "a_minus_1_over_a": (a - 1) / a,
        "predict_seconds": predicted_time.seconds, "measure_seconds": measured_time.seconds,
    }
    _harness.write_result(_harness.result_path("sgd_compute.json", quick=args.quick), result, started)


if __name__ == "__main__":
    main()
