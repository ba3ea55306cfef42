"""The predicted alpha_P of depth-3 random features on MNIST, with the earlier layers at infinite width.

    PYTHONPATH=. python benchmarks/deep_random_features.py        # ~40 s on 2 cores

The prediction is ``predict_exponents``'s (its default leave-one-out random-feature theory) at
D = 4000. The features are phi(z) / sqrt(P) with z (N, P) drawn from the exact infinite-width GP
of the first two layers (z = S^1/2 g, S the NNGP of the depth-2 network, g standard normal), so they are
independent draws whose kernel is the depth-3 NNGP: the finite width of the earlier layers is out
of the picture. The readout is fitted by least squares on D = 1000, 2000, 4000 points of the
training pool, tested on a fixed held-out 1000 (``scaling.holdout_split``); the prediction sees
only the pool. Printed: alpha_P measured at each D, the prediction (``predict_exponents``), and the
ratio of each L(P, D) to L(P, 4000) carried to D by the Gaussian finite-data factor (1 = the factor
holds), as a markdown table; saved as a result file (``benchmarks/_harness.py``).
"""

from __future__ import annotations

import jax
import numpy as np
import scipy.linalg

import _harness
import nngp_ntk as nk
from nngp_ntk import data, scaling
from nngp_ntk.spectrum import fit_loglog


def main(repeats: int = 4, seed: int = 0) -> None:
    started = _harness.machine()
    X, Y = data.prepare(data.mnist())
    widths = np.array([10, 20, 42, 83, 167, 333])
    train_sizes = (1000, 2000, 4000)
    with jax.enable_x64(True):
        first_layers = nk.FullyConnected(depth=2, activation="relu", W_std=1.0, b_std=0.0)
        values, vectors = np.linalg.eigh(np.asarray(first_layers.kernel(X, get="nngp")))
    root = vectors * np.sqrt(np.maximum(values, 0.0))
    rng = np.random.default_rng(seed)
    test, training_pool = scaling.holdout_split(len(X), test_size=1000, seed=seed)
    losses = np.zeros((len(train_sizes), len(widths)))
    for _ in range(repeats):
        pool = rng.permutation(training_pool)
        for k, width in enumerate(widths):
            features = np.maximum(root @ rng.standard_normal((len(X), width)), 0.0) / np.sqrt(width)
            for j, size in enumerate(train_sizes):
                readout = scipy.linalg.lstsq(features[pool[:size]], Y[pool[:size]])[0]
                losses[j, k] += np.mean((features[test] @ readout - Y[test]) ** 2) / repeats
    net = nk.FullyConnected(depth=3, activation="relu", W_std=1.0, b_std=0.0)
    predicted = nk.predict_exponents(net, X[training_pool], Y[training_pool], kernel="nngp", sizes=widths,
                                     train_size=4000)
    result = {"widths": widths.tolist(), "train_sizes": list(train_sizes), "repeats": repeats,
              "predicted_alpha_P_D4000": predicted.alpha_P, "predicted_losses_D4000": predicted.model_losses.tolist(),
              "measured": {}}
    print("| D | measured alpha_P | predicted alpha_P (D = 4000, from the pool) | L(P, D) / (L(P, 4000) x factor) |")
    print("|---|---|---|---|")
    for j, size in enumerate(train_sizes):
        factor = (size - 1) / (size - widths - 1) / ((4000 - 1) / (4000 - widths - 1))
        ratio = losses[j] / (losses[-1] * factor)
        alpha = fit_loglog(widths, losses[j], name="widths")
        result["measured"][str(size)] = {"alpha_P": alpha.alpha, "ci": list(alpha.ci), "losses": losses[j].tolist(),
                                         "ratio_to_D4000_by_factor": ratio.tolist()}
        print(f"| {size} | {alpha.alpha:.3f} [{alpha.ci[0]:.3f}, {alpha.ci[1]:.3f}] | {predicted.alpha_P:.3f} | "
              f"{', '.join(f'{r:.3f}' for r in ratio)} |")
    _harness.write_result(_harness.result_path("deep_random_features.json"), result, started)


if __name__ == "__main__":
    main()
