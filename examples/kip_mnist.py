"""KIP dataset distillation (Nguyen, Chen & Lee 2021) on MNIST-5k through ``kernel_fn``.

    pip install ".[examples]"                             # optax and matplotlib
    PYTHONPATH=. python examples/kip_mnist.py            # a few minutes on 2 cores
    PYTHONPATH=. python examples/kip_mnist.py --quick    # seconds: checks that it runs

A support set of 10 images per class (x_s, y_s) is learned so that kernel regression on it
predicts the training pool: with K the NTK of a fully connected ReLU network,

    loss(x_s) = 1/2 mean((K(x_t, x_s) (K(x_s, x_s) + lambda I)^-1 y_s - y_t)^2),
    lambda = reg * tr K(x_s, x_s) / n_s,

over random batches (x_t, y_t) of the training pool, minimized with Adam on the exact gradient
of ``net.kernel_fn`` with respect to x_s (the labels stay one-hot). The test accuracy of kernel
regression on the learned support set is compared with that of random support sets of the same
size (10 per class), on 1,000 held-out images never seen in training. Writes the result file
benchmarks/results/kip_mnist.json (the benchmarks' harness; the docs' results page reads it) and
docs/kip_mnist_support.png (the learned images).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import nngp_ntk as nk
from nngp_ntk import data

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import _harness  # noqa: E402  (the benchmarks' result writer)

RESULTS = _harness.result_path("kip_mnist.json")
FIGURE = ROOT / "docs" / "kip_mnist_support.png"


def regression(net, x_support: jax.Array, y_support: jax.Array, x: jax.Array, reg: float) -> jax.Array:
    """K(x, x_s) (K(x_s, x_s) + reg tr(K_ss)/n_s I)^-1 y_s with the network's NTK."""
    k_ss = net.kernel_fn(x_support, None, get="ntk")
    k_ts = net.kernel_fn(x, x_support, get="ntk")
    n = k_ss.shape[0]
    ridge = reg * jnp.trace(k_ss) / n
    return k_ts @ jnp.linalg.solve(k_ss + ridge * jnp.eye(n, dtype=k_ss.dtype), y_support)


def accuracy(prediction: jax.Array, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(np.asarray(prediction), axis=1) == labels))


def per_class(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``count`` random points of each class."""
    return np.concatenate([rng.choice(np.flatnonzero(labels == c), count, replace=False)
                           for c in np.unique(labels)])


def save_figure(images: np.ndarray, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = 10, images.shape[0] // 10
    figure, axes = plt.subplots(rows, cols, figsize=(cols, rows))
    for k, axis in enumerate(axes.T.reshape(-1)):
        axis.imshow(images[k].reshape(28, 28), cmap="gray")
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle("KIP support set learned through the NTK (10 per class; columns are classes)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=60)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1000, help="target points per step")
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--reg", type=float, default=1e-6, help="ridge relative to tr(K_ss) / n_s")
    parser.add_argument("--random-draws", type=int, default=20, help="random support sets to compare with")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="20 steps, no files written")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.random_draws = 20, 2
    started = _harness.machine()

    X, Y = data.prepare(data.mnist())
    labels = np.argmax(Y, axis=1)
    x_pool, y_pool, label_pool = X[:4000], Y[:4000], labels[:4000]
    x_test, label_test = jnp.asarray(X[4000:], jnp.float32), labels[4000:]
    net = nk.FullyConnected(depth=3, activation="relu", W_std=2 ** 0.5, b_std=0.1)
    rng = np.random.default_rng(args.seed)

    random_accuracies = []
    for _ in range(args.random_draws):
        chosen = per_class(label_pool, 10, rng)
        prediction = regression(net, jnp.asarray(x_pool[chosen], jnp.float32),
                                jnp.asarray(y_pool[chosen], jnp.float32), x_test, args.reg)
        random_accuracies.append(accuracy(prediction, label_test))

    start = per_class(label_pool, 10, rng)
    x_support = jnp.asarray(x_pool[start], jnp.float32)
    y_support = jnp.asarray(y_pool[start], jnp.float32)
    initial_accuracy = accuracy(regression(net, x_support, y_support, x_test, args.reg), label_test)

    def loss(x_s: jax.Array, x_t: jax.Array, y_t: jax.Array) -> jax.Array:
        return 0.5 * jnp.mean((regression(net, x_s, y_support, x_t, args.reg) - y_t) ** 2)

    optimizer = optax.adam(args.learning_rate)
    state = optimizer.init(x_support)

    @jax.jit
    def step(x_s, state, x_t, y_t):
        value, gradient = jax.value_and_grad(loss)(x_s, x_t, y_t)
        updates, state = optimizer.update(gradient, state, x_s)
        return optax.apply_updates(x_s, updates), state, value

    history = []
    clock = _harness.Stopwatch()
    for k in range(args.steps):
        batch = rng.choice(len(x_pool), args.batch, replace=False)
        x_support, state, value = step(x_support, state, jnp.asarray(x_pool[batch], jnp.float32),
                                       jnp.asarray(y_pool[batch], jnp.float32))
        if not np.isfinite(float(value)):
            raise FloatingPointError(f"the KIP loss is not finite at step {k}")
        if k % max(1, args.steps // 20) == 0 or k == args.steps - 1:
            history.append({"step": k, "loss": float(value)})
            print(f"step {k:5d}  loss {float(value):.5f}", flush=True)
    seconds = clock.seconds()
    learned_accuracy = accuracy(regression(net, x_support, y_support, x_test, args.reg), label_test)

    result = {
        "network": "FullyConnected(depth=3, relu, W_std=sqrt 2, b_std=0.1), NTK",
        "support_size": int(x_support.shape[0]), "train_pool": len(x_pool), "test_points": len(label_test),
        "steps": args.steps, "batch": args.batch, "learning_rate": args.learning_rate, "reg": args.reg,
        "test_accuracy_learned": learned_accuracy,
        "test_accuracy_initial_support": initial_accuracy,
        "test_accuracy_random_mean": float(np.mean(random_accuracies)),
        "test_accuracy_random_std": float(np.std(random_accuracies)),
        "random_draws": args.random_draws, "optimization_seconds": seconds, "history": history,
    }
    print(f"| support set (100 images) | test accuracy |\n|---|---|\n"
          f"| random, 10 per class ({args.random_draws} draws) | {result['test_accuracy_random_mean']:.3f} "
          f"+- {result['test_accuracy_random_std']:.3f} |\n"
          f"| KIP-learned ({args.steps} Adam steps, {seconds:.0f} s) | {learned_accuracy:.3f} |")
    if not args.quick:
        _harness.write_result(RESULTS, result, started)
        save_figure(np.asarray(x_support), FIGURE)


if __name__ == "__main__":
    main()
