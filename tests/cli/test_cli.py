"""End-to-end tests of the nngp-ntk command on small inputs: every subcommand and every config in
configs/ (in fast mode), the files they write checked against the library, and every kind of bad
input answered with one line on stderr and exit status 2.

A subprocess pays a few seconds to import JAX and compile, so the successful runs share one
subprocess (``batch``; the longer ones another, ``slow_batch``, under ``-m slow``), which calls the
console script's entry point ``nngp_ntk.cli:main`` once per command line and reports exit status,
stdout and stderr of each; ``python -m nngp_ntk.cli`` runs on its own once, for a refusal. The
other refusals run in-process through ``cli.main``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

import nngp_ntk as nk
from nngp_ntk import data, solver
from nngp_ntk.cli import _command as cli
from nngp_ntk.cli import _config as configs
from nngp_ntk.cli import _text as text

ROOT = pathlib.Path(__file__).parents[2]
CONFIGS = ROOT / "configs"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DRIVER = """
import contextlib, io, json, sys, time, traceback
from nngp_ntk.cli import main
reports = {}
for name, argv in json.loads(sys.stdin.read()).items():
    start = time.perf_counter()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exit_:
            status = exit_.code
        except Exception:
            status, err = "crashed", io.StringIO(traceback.format_exc())
    reports[name] = {"status": status, "stdout": out.getvalue(), "stderr": err.getvalue(),
                     "seconds": round(time.perf_counter() - start, 1)}
print(json.dumps(reports))
"""


def environment():
    """The test's environment for a subprocess: this checkout first, no compilation cache written."""
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                NNGP_NTK_COMPILE_CACHE="off")


def assert_png(path):
    assert path.read_bytes()[:8] == PNG_MAGIC, path


def assert_no_temporaries(folder):
    """No temporary file is left behind by the atomic writes."""
    assert not list(pathlib.Path(folder).rglob("*.tmp"))


def write_cifar_stand_in(folder, n_per_batch=250, batches=2, seed=0):
    """A tiny CIFAR-10 python-batch folder: data_batch_k pickles of {b"data": (n, 3072) uint8 in
    channel-major order, b"labels": [int]}, the images a class-dependent color plus noise."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    colors = rng.uniform(40, 215, size=(10, 3))
    for k in range(1, batches + 1):
        labels = rng.integers(0, 10, n_per_batch)
        images = colors[labels][:, :, None, None] + rng.normal(0, 30, (n_per_batch, 3, 32, 32))
        batch = {b"data": np.clip(images, 0, 255).astype(np.uint8).reshape(n_per_batch, 3072),
                 b"labels": labels.tolist(), b"batch_label": f"stand-in batch {k}".encode()}
        with open(folder / f"data_batch_{k}", "wb") as handle:
            pickle.dump(batch, handle)
    return folder


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small data files: points (.npy), a labelled train / test split (.npz), a CSV, a CIFAR-10 stand-in."""
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 6))
    labels = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(np.int64)
    np.save(folder / "x.npy", X)
    np.savez(folder / "train.npz", X=X[:300], y=labels[:300])
    np.savez(folder / "test.npz", X=X[300:], y=labels[300:])
    np.savetxt(folder / "table.csv", np.column_stack([X, labels]), delimiter=",", header="a,b,c,d,e,f,label",
               comments="")
    np.save(folder / "table.npy", np.column_stack([X, labels]))      # labels in the last column
    np.savez(folder / "all.npz", X=X, y=labels)
    np.savez(folder / "unlabelled.npz", X=X)
    np.save(folder / "small.npy", X[:100])
    write_cifar_stand_in(folder / "cifar")
    return folder


#: A small exponents run: few points, four sizes, two repeats, no L(P), no plots.
SMALL_EXPONENTS = ["--n", "240", "--sizes", "20", "40", "80", "160", "--test-size", "60", "--repeats", "2", "--widths",
                   "--no-plots"]
#: Every built-in dataset, and labelled and unlabelled files, as the arguments that choose them.
SOURCES = {"mnist": ["--dataset", "mnist"], "digits": ["--dataset", "digits"], "sphere": ["--dataset", "sphere"],
           "npz_labels": ["{files}/all.npz"], "npz_unlabelled": ["{files}/unlabelled.npz"], "npy": ["{files}/x.npy"],
           "csv_labels": ["{files}/table.csv", "--label-column", "-1"]}
#: The subcommands every source must run (``run`` runs the same tasks from configs).
SUBCOMMANDS = ("exponents", "regimes", "spectrum", "kernel", "regress")


def every_source(files, out):
    """Every subcommand on every source (SOURCES) in fast mode, by name "<subcommand>-<source>"."""
    runs = {}
    for command in SUBCOMMANDS:
        for source, arguments in SOURCES.items():
            name = f"{command}-{source}"
            plots = [] if command in ("kernel", "regress") else ["--no-plots"]
            runs[name] = [command, *(a.format(files=files) for a in arguments), "--fast", *plots, "--out", out / name]
    return runs


def command_lines(files, out):
    """The successful runs, by name."""
    return {**every_source(files, out),
        "kernel": ["kernel", files / "x.npy", "--out", out / "kernel" / "K.npy", "--depth", "2", "--activation",
                   "erf", "--w-std", "1.5", "--b-std", "0.1"],
        "kernel_store": ["kernel", files / "x.npy", "--out", out / "store", "--out-of-core", "--get", "both"],
        "regress": ["regress", files / "train.npz", files / "test.npz", "--out", out / "regress", "--depth", "1",
                    "--ridge", "1e-3"],
        "spectrum": ["spectrum", files / "table.csv", "--label-column", "-1", "--kernel", "nngp", "--out",
                     out / "spectrum"],
        "exponents_options": ["exponents", "--dataset", "digits", "--n", "500", "--depth", "1", "--activation", "erf",
                              "--kernel", "nngp", "--sizes", "20", "40", "80", "160", "--test-size", "100",
                              "--repeats", "1", "--widths", "--seed", "3", "--no-plots", "--out", out / "options"],
        "exponents_ridge": ["exponents", "--dataset", "digits", "--n", "300", "--depth", "2", "--kernel", "nngp",
                            "--sizes", "20", "40", "80", "160", "--test-size", "60", "--repeats", "1", "--widths", "8",
                            "16", "32", "--ridge", "0.05", "--no-plots", "--out", out / "exponents_ridge"],
        # data without labels: targets from the GP of the kernel; labels from a column of an .npy table
        "exponents_sphere": ["exponents", "--dataset", "sphere", *SMALL_EXPONENTS, "--out", out / "exponents_sphere"],
        "exponents_npy_gp": ["exponents", files / "x.npy", "--targets", "gp", *SMALL_EXPONENTS, "--out",
                             out / "exponents_npy_gp"],
        "exponents_npy_labels": ["exponents", files / "table.npy", "--label-column", "-1", *SMALL_EXPONENTS, "--out",
                                 out / "exponents_npy_labels"],
        "regress_nystrom": ["regress", files / "train.npz", files / "test.npz", "--out", out / "regress_nystrom",
                            "--depth", "1", "--ridge", "1e-3", "--method", "nystrom", "--centers", "300", "--store",
                            out / "regress_store"],
        "regress_sphere": ["regress", "--dataset", "sphere", "--n", "150", "--test-size", "50", "--out",
                           out / "regress_sphere"],
        "regress_npy_labels": ["regress", files / "table.npy", "--label-column", "-1", "--test-size", "100",
                               "--depth", "1", "--out", out / "regress_npy_labels"],
        "spectrum_fast_small_file": ["spectrum", files / "small.npy", "--fast", "--no-plots", "--out",
                                     out / "spectrum_small"],
        "mnist_relu_ntk": ["run", CONFIGS / "mnist_relu_ntk.toml", "--fast", "--out", out / "mnist_relu_ntk"],
        "digits_erf_nngp": ["run", CONFIGS / "digits_erf_nngp.toml", "--fast", "--out", out / "digits_erf_nngp"],
        "cifar10_pooled": ["run", CONFIGS / "cifar10_pooled.toml", "--fast", "--out", out / "cifar10_pooled",
                           "--set", f"data.path={json.dumps(str(files / 'cifar'))}"],
        "sphere_teacher_student": ["run", CONFIGS / "sphere_teacher_student.toml", "--fast", "--out",
                                   out / "sphere_teacher_student"],
        "regimes_ridge": ["regimes", "--dataset", "sphere", "--fast", "--ridge", "0.5", "--no-plots", "--out",
                          out / "regimes_ridge"],
    }


#: The longer runs: the configs in fast mode and every subcommand on every source, checked with
#: ``-m slow`` (every subcommand stays in the default run; ``exponents`` through ``exponents_options``).
SLOW_RUNS = ("mnist_relu_ntk", "digits_erf_nngp", "cifar10_pooled", "sphere_teacher_student", "regimes_ridge",
             *(f"{command}-{source}" for command in SUBCOMMANDS for source in SOURCES))


def run_batch(files, out, slow: bool) -> dict:
    """The successful runs (the slow ones, or the others) in one subprocess: {"out": folder, "reports":
    {name: status, stdout, stderr, seconds}}."""
    runs = {name: [str(a) for a in argv] for name, argv in command_lines(files, out).items()
            if (name in SLOW_RUNS) == slow}
    process = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(runs), capture_output=True, text=True,
                             env=environment(), timeout=900)
    assert process.returncode == 0, process.stderr
    return {"out": out, "reports": json.loads(process.stdout)}


@pytest.fixture(scope="module")
def batch(files, tmp_path_factory):
    """Every successful run but SLOW_RUNS, in one subprocess; ``report`` asserts exit status 0 and an
    empty stderr (no warnings, no progress bars off a terminal)."""
    return run_batch(files, tmp_path_factory.mktemp("out"), slow=False)


@pytest.fixture(scope="module")
def slow_batch(files, tmp_path_factory):
    """The runs of SLOW_RUNS, in one subprocess."""
    return run_batch(files, tmp_path_factory.mktemp("slow_out"), slow=True)


def report(batch, name):
    entry = batch["reports"][name]
    assert entry["status"] == 0, entry["stderr"]
    assert entry["stderr"] == ""
    return entry["stdout"]


def test_kernel_to_npy_matches_the_library(batch, files):
    stdout = report(batch, "kernel")
    path = batch["out"] / "kernel" / "K.npy"
    assert f"wrote {path} (400 x 400, float32)" in stdout
    expected = nk.FullyConnected(depth=2, activation="erf", W_std=1.5, b_std=0.1).kernel(
        np.load(files / "x.npy").astype(np.float32), get="ntk")
    np.testing.assert_allclose(np.load(path), expected, rtol=1e-6, atol=1e-6)
    assert_no_temporaries(path.parent)


def test_kernel_out_of_core_folder(batch, files):
    report(batch, "kernel_store")
    out = batch["out"] / "store"
    assert {"nngp.npy", "ntk.npy", "manifest.json"} <= {p.name for p in out.iterdir()}
    expected = nk.FullyConnected(depth=3).kernel(np.load(files / "x.npy"))
    np.testing.assert_allclose(np.load(out / "nngp.npy"), expected.nngp, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.load(out / "ntk.npy"), expected.ntk, rtol=1e-6, atol=1e-6)


def test_regress_files_and_metrics(batch, files):
    stdout = report(batch, "regress")
    out = batch["out"] / "regress"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_train"] == 300 and metrics["n_test"] == 100 and metrics["config"]["regress"]["ridge"] == 1e-3
    predictions = np.load(out / "predictions.npy")
    with np.load(files / "train.npz") as train, np.load(files / "test.npz") as test:
        mean = train["X"].mean(axis=0)
        x_train = data.normalize_rows(train["X"] - mean)
        x_test = data.normalize_rows(test["X"] - mean)
        expected = solver.predict(nk.FullyConnected(depth=1), x_train, data.one_hot(train["y"]), x_test, ridge=1e-3)
        np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-5)
        assert metrics["mse"] == pytest.approx(np.mean((expected - data.one_hot(test["y"], 2)) ** 2), rel=1e-5)
        assert metrics["accuracy"] == pytest.approx(np.mean(np.argmax(expected, 1) == test["y"]))
    np.testing.assert_array_equal(np.load(out / "labels.npy"), np.argmax(predictions, axis=1))
    assert metrics["accuracy"] > 0.8
    assert f"accuracy {metrics['accuracy']:.4f}" in stdout


def test_regress_nystrom_on_all_points_is_the_exact_prediction_and_keeps_its_store(batch):
    report(batch, "regress_nystrom")
    out = batch["out"]
    nystrom, exact = np.load(out / "regress_nystrom" / "predictions.npy"), np.load(out / "regress" / "predictions.npy")
    np.testing.assert_allclose(nystrom, exact, rtol=0, atol=1e-3 * np.abs(exact).max())   # M = N: exact KRR
    assert {"centers.npz", "cg_state.npz", "k_nm"} <= {p.name for p in (out / "regress_store").iterdir()}
    config = json.loads((out / "regress_nystrom" / "metrics.json").read_text())["config"]["regress"]
    assert (config["method"], config["centers"]) == ("nystrom", 300)


def test_spectrum_of_a_csv_file(batch):
    stdout = report(batch, "spectrum")
    out = batch["out"] / "spectrum"
    summary = json.loads((out / "spectrum.json").read_text())
    values = np.load(out / "eigenvalues.npy")
    assert values.shape == (400,) and np.all(np.diff(values) <= 0)
    assert summary["n_points"] == 400 and summary["window"] == [10, 40]
    assert summary["config"]["spectrum"]["kernel"] == "nngp"
    # one name per quantity: alpha_K the kernel operator's, alpha_K_sample the fit of the sample eigenvalues
    assert f"alpha_K_sample = {summary['alpha_K_sample']:.3f}" in stdout and summary["alpha_K_sample_reason"] is None
    assert summary["alpha_K_sample_ci"][0] <= summary["alpha_K_sample"] <= summary["alpha_K_sample_ci"][1]
    assert f"alpha_K        = {summary['alpha_K']:.3f}" in stdout and summary["alpha_K_indices"] == [37, 296]
    assert summary["alpha_K_ci"][0] <= summary["alpha_K"] <= summary["alpha_K_ci"][1]
    assert_png(out / "spectrum.png")


def check_exponents(out, with_model=True):
    """exponents.json holds exponents inside their intervals, or null with a null interval where a fit
    is unreliable (never for alpha_D), and curves of matching lengths."""
    result = json.loads((out / "exponents.json").read_text())
    assert set(result) >= {"predicted", "measured", "config", "seconds", "stage_seconds"}
    predicted, measured = result["predicted"], result["measured"]
    for group, names in ((predicted, ("alpha_K", "alpha_D", "alpha_P")), (measured, ("alpha_D", "alpha_P"))):
        for name in names[:None if with_model else -1]:
            low, high = group[f"{name}_ci"]
            if group[name] is None:
                assert name != "alpha_D" and low is None and high is None, name
            else:
                assert np.isfinite(group[name]) and low <= group[name] <= high, name
    curve = measured["learning_curve"]
    assert len(curve["x"]) == len(curve["losses"]) == len(predicted["losses"]) >= 3
    assert all(loss > 0 for loss in curve["losses"])
    if not with_model:
        assert predicted["alpha_P"] is None and measured["model_curve"] is None
    assert_no_temporaries(out)
    return result


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist_relu_ntk", "digits_erf_nngp", "cifar10_pooled"])
def test_exponent_configs_in_fast_mode(request, name):
    batch = request.getfixturevalue("slow_batch" if name in SLOW_RUNS else "batch")
    stdout = report(batch, name)
    out = batch["out"] / name
    result = check_exponents(out)
    for figure in ("spectrum.png", "learning_curve.png", "model_curve.png"):
        assert_png(out / figure)
    assert f"{result['predicted']['alpha_D']:.3f}" in stdout and f"{result['measured']['alpha_P']:.3f}" in stdout
    config = configs.fast(configs.load(CONFIGS / f"{name}.toml", {"out": str(out)}))
    if name == "cifar10_pooled":
        assert result["config"]["data"]["pool"] == 4
        config["data"]["path"] = result["config"]["data"]["path"]
    assert result["config"] == config


def test_exponents_options_build_the_config(batch):
    stdout = report(batch, "exponents_options")
    out = batch["out"] / "options"
    result = check_exponents(out, with_model=False)
    curve, predicted = result["measured"]["learning_curve"], result["predicted"]
    assert curve["disagrees"] is text.disagrees(curve["alpha"], curve["ci"], predicted["alpha_D"], predicted["alpha_D_ci"])
    assert ("(disagrees)" in stdout) is curve["disagrees"] and ("flags: " in stdout) is (
        curve["disagrees"] or "unreliable" in stdout or "poor fit" in stdout)
    assert not list(out.glob("*.png"))
    config = result["config"]
    assert config["seed"] == 3 and config["data"] == {**config["data"], "source": "digits", "n": 500}
    assert config["network"]["activation"] == "erf" and config["network"]["depth"] == 1
    assert config["exponents"]["sizes"] == [20, 40, 80, 160] and config["exponents"]["widths"] == []
    assert result["measured"]["learning_curve"]["x"] == [20, 40, 80, 160]


def test_exponents_ridge_reaches_the_predicted_readout(batch):
    """[exponents] ridge is the measured models' readout ridge, and the prediction's (readout_ridge)."""
    from nngp_ntk.cli import _tasks as tasks
    report(batch, "exponents_ridge")
    result = check_exponents(batch["out"] / "exponents_ridge")
    config = configs.typed(result["config"])
    net = tasks.build_network(config)
    problem = tasks.load_problem(config, net, "nngp")
    test, train = nk.scaling.holdout_split(len(problem.X), 60, config.seed)
    options = dict(kernel="nngp", sizes=[8, 16, 32], ridge=0.05, train_size=len(train), seed=config.seed)
    expected = nk.predict_exponents(net, problem.X[train], problem.Y[train], readout_ridge=0.05, **options)
    assert result["predicted"]["model_method"] == "sampled-layers"
    np.testing.assert_allclose(result["predicted"]["model_losses"], expected.model_losses, rtol=1e-10)
    ridgeless = nk.predict_exponents(net, problem.X[train], problem.Y[train], **options)
    assert not np.allclose(result["predicted"]["model_losses"], ridgeless.model_losses, rtol=1e-3)


def test_exponents_without_labels_use_gp_targets(batch):
    """The sphere and an .npy of points have no labels: the targets are a draw from the GP of the
    kernel, and the output says so (and, for a file, how to give labels)."""
    for name in ("exponents_sphere", "exponents_npy_gp"):
        stdout = report(batch, name)
        result = check_exponents(batch["out"] / name, with_model=False)
        assert result["targets"] == "gp"
        assert "targets: one draw from the GP of the NTK at the points (teacher = student)" in stdout
        assert result["measured"]["learning_curve"]["x"] == [20, 40, 80, 160]
    assert "sphere has no labels" in report(batch, "exponents_sphere")
    note = report(batch, "exponents_npy_gp").splitlines()[1]
    assert "x.npy has no labels; --label-column J (data.label_column) reads the labels from column J" in note


def test_labels_from_a_column_of_an_npy_table(batch, files):
    stdout = report(batch, "exponents_npy_labels")
    result = check_exponents(batch["out"] / "exponents_npy_labels", with_model=False)
    assert result["targets"] == "labels" and "targets:" not in stdout
    stdout = report(batch, "regress_npy_labels")
    metrics = json.loads((batch["out"] / "regress_npy_labels" / "metrics.json").read_text())
    assert metrics["targets"] == "labels" and metrics["n_train"] == 300 and metrics["accuracy"] > 0.8
    assert "accuracy" in stdout


def test_regress_without_labels_fits_a_gp_draw(batch):
    stdout = report(batch, "regress_sphere")
    metrics = json.loads((batch["out"] / "regress_sphere" / "metrics.json").read_text())
    assert metrics["targets"] == "gp" and metrics["n_train"] == 100 and metrics["n_test"] == 50
    assert stdout.startswith("targets: one draw from the GP of the NTK at the training and test points")
    assert 0 < metrics["mse"] < 1 and "accuracy" not in metrics     # the draw has unit variance: learned
    assert not (batch["out"] / "regress_sphere" / "labels.npy").exists()


def test_fast_takes_every_row_of_a_small_file(batch):
    """--fast takes at most 400 points; a file of 100 rows gives all of them, not an error."""
    report(batch, "spectrum_fast_small_file")
    summary = json.loads((batch["out"] / "spectrum_small" / "spectrum.json").read_text())
    assert summary["n_points"] == 100 and summary["config"]["fast"] is True
    assert summary["config"]["data"]["n"] is None


@pytest.mark.slow
@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_runs_on_every_source(slow_batch, command):
    """Each subcommand, in fast mode, on MNIST, digits, the sphere, labelled and unlabelled files."""
    for source in SOURCES:
        stdout = report(slow_batch, f"{command}-{source}")
        assert stdout.strip()
        if command == "exponents":
            result = check_exponents(slow_batch["out"] / f"{command}-{source}")
            labelled = source in ("mnist", "digits", "npz_labels", "csv_labels")
            assert result["targets"] == ("labels" if labelled else "gp"), source
            assert ("targets: one draw from the GP" in stdout) is not labelled


@pytest.mark.slow
def test_regimes_config_in_fast_mode(slow_batch):
    batch = slow_batch
    stdout = report(batch, "sphere_teacher_student")
    out = batch["out"] / "sphere_teacher_student"
    summary = json.loads((out / "regimes.json").read_text())
    regimes = summary["regimes"]
    assert set(regimes) == {"resolution_limited_D", "resolution_limited_P", "variance_limited_D",
                            "variance_limited_P"}
    for entry in regimes.values():
        assert len(entry["x"]) == len(entry["losses"]) >= 3
        if entry["reason"] is None:
            assert entry["ci"][0] <= entry["alpha"] <= entry["ci"][1]
        else:               # --fast has few points and repeats: a fit that says nothing is no number
            assert entry["alpha"] is None and entry["ci"] == [None, None]
    for name in ("variance_limited_D", "variance_limited_P"):
        limit = regimes[name]["limit"]
        assert regimes[name]["predicted"] == 1.0 and (limit is None or limit >= 0)
    flagged = 0
    for entry in regimes.values():         # a measured exponent whose interval misses the prediction is flagged
        assert entry["disagrees"] is text.disagrees(entry["alpha"], entry["ci"], entry["predicted"],
                                                    entry.get("predicted_ci"))
        flagged += entry["disagrees"]
    assert stdout.count("(disagrees)") == flagged and ("disagrees = the measured interval" in stdout) is (flagged > 0)
    assert_png(out / "regimes.png")
    assert "variance-limited in P (D = 20)" in stdout


@pytest.mark.slow
def test_regimes_ridge_reaches_the_predicted_readout(slow_batch):
    """[regimes] ridge is the measured models' readout ridge, and the prediction's (readout_ridge)."""
    from nngp_ntk.cli import _tasks as tasks
    report(slow_batch, "regimes_ridge")
    summary = json.loads((slow_batch["out"] / "regimes_ridge" / "regimes.json").read_text())
    config = configs.typed(summary["config"])
    entry = summary["regimes"]["resolution_limited_P"]
    net, X = tasks.build_network(config), tasks.load_problem(config).X
    _, train = nk.scaling.holdout_split(len(X), config.regimes.test_size, config.seed)
    options = dict(kernel="nngp", sizes=config.regimes.widths, ridge=0.5, train_size=entry["train_size"])
    expected = nk.predict_exponents(net, X[train], None, readout_ridge=0.5, **options)
    np.testing.assert_allclose(entry["predicted_losses"], expected.model_losses, rtol=1e-10)
    ridgeless = nk.predict_exponents(net, X[train], None, **options)
    assert not np.allclose(entry["predicted_losses"], ridgeless.model_losses, rtol=1e-3)


def test_no_arguments_is_the_main_job():
    args = cli.build_parser().parse_args(["exponents"])
    assert cli.config_from_options(args) == configs.load(CONFIGS / "mnist_relu_ntk.toml")


def subcommands():
    """{name: parser} of every subcommand of nngp-ntk."""
    (action,) = [a for a in cli.build_parser()._actions if a.dest == "command"]
    return action.choices


#: Options whose help names no default: they have none (labels, overrides) or are the data itself.
NO_DEFAULT = {"--label-column", "--set", "data.path", "config"}


@pytest.mark.parametrize("command", ["exponents", "regimes", "spectrum", "kernel", "regress", "compute", "run"])
def test_every_option_of_every_subcommand_has_help(command):
    """Help text for every option and positional, a default named wherever one applies, and every
    positional in its group (regress's TEST beside TRAIN under "data", none left to argparse's
    "positional arguments")."""
    parser = subcommands()[command]
    for action in parser._actions:
        name = action.option_strings[-1] if action.option_strings else action.dest
        assert action.help and action.help != argparse.SUPPRESS and len(action.help) > 10, (command, name)
        takes_value = action.nargs != 0 and not isinstance(action, argparse.BooleanOptionalAction)
        if takes_value and name not in NO_DEFAULT and action.dest != "help":
            assert "default" in action.help, (command, name, action.help)
    groups = {group.title: [a.dest for a in group._group_actions] for group in parser._action_groups}
    assert not groups.get("positional arguments"), (command, groups)
    if command == "regress":
        assert groups["data"][:2] == ["data.path", "regress.test_path"]
    if command != "run":        # --targets only where there are targets
        assert ("--targets" in parser.format_help()) is (command in ("exponents", "regress", "compute"))


@pytest.mark.parametrize("command", ["exponents", "regimes", "spectrum", "kernel", "regress", "compute", "run"])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: nngp-ntk {command}") and "--quiet" in text and "--out" in text
    if command == "run":
        assert "[network]" in text and "depth (int) = 3" in text


def refusal(args, capsys):
    """(exit status, stderr) of cli.main(args); stdout must stay empty."""
    try:
        status = cli.main([str(a) for a in args])
    except SystemExit as exit_:  # argparse's own refusals
        status = exit_.code
    captured = capsys.readouterr()
    assert captured.out == ""
    return status, captured.err


@pytest.fixture
def bad_files(tmp_path, monkeypatch):
    """Broken inputs; the working folder is tmp_path, so default output folders land there."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "garbage.npy").write_bytes(b"not an array")
    (tmp_path / "unknown_key.toml").write_text('task = "spectrum"\n[network]\ndepht = 3\n')
    (tmp_path / "wrong_type.toml").write_text('[network]\ndepth = "three"\n')
    (tmp_path / "bad_syntax.toml").write_text("[network\n")
    (tmp_path / "a_file").write_text("")
    (tmp_path / "cifar").mkdir()
    (tmp_path / "cifar" / "data_batch_1").write_bytes(b"\x80\x04truncated")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((20, 3)))
    np.save(tmp_path / "x4.npy", np.random.default_rng(0).standard_normal((20, 4)))
    np.savez(tmp_path / "unlabelled.npz", X=np.ones((20, 3)))
    table = np.column_stack([np.random.default_rng(1).standard_normal((20, 3)), np.arange(20) % 2])
    np.savetxt(tmp_path / "labels_last.csv", table, delimiter=",")
    np.savetxt(tmp_path / "signs.csv", np.column_stack([table[:, :3], 2 * table[:, 3] - 1]), delimiter=",")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("not a kernel")
    return tmp_path


@pytest.mark.parametrize("args, message", [
    (["kernel", "{d}/missing.npy"], "no such file or folder"),
    (["kernel", "{d}/garbage.npy", "--out", "{d}/k.npy"], "garbage.npy"),
    (["spectrum", "{d}/cifar", "--out", "{d}/o"], "cannot read '{d}/cifar'"),
    (["kernel", "{d}/x.npy", "--depth", "-1"], "network.depth must be in [0, 1000], got -1"),
    (["kernel", "{d}/x.npy", "--activation", "swish"], "network.activation must be one of"),
    (["kernel", "{d}/x.npy", "--w-std", "1,2"], "network.W_std has 2 values"),
    (["kernel", "{d}/x.npy", "--out", "{d}/k.npy", "--get", "both"], "give a folder"),
    (["kernel"], "kernel needs a data file (DATA) or --dataset"),
    (["spectrum", "{d}/x.npy", "--dataset", "digits"], "either a data file or --dataset"),
    (["spectrum", "--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["spectrum", "--dataset", "digits", "--n", "0"], "data.n must be >= 1, got 0"),
    (["spectrum", "--dataset", "digits", "--n", "5000", "--out", "{d}/o"], "n must be at most 1797"),
    (["spectrum", "{d}/x.npy", "--pool", "2", "--out", "{d}/o"], "data.pool needs images"),
    (["spectrum", "--depth", "three"], "argument --depth: invalid int value: 'three'"),
    (["exponents", "--dataset", "digits", "--sizes", "100", "200", "3000", "--out", "{d}/o"],
     "the largest training-set size 3000 exceeds"),
    (["exponents", "--dataset", "digits", "--sizes", "100", "200", "5000", "--fast", "--out", "{d}/o"],
     "the largest training-set size 5000 exceeds"),          # --fast keeps explicit sizes, refused as without it
    (["regress", "{d}/x.npy", "{d}/x4.npy", "--out", "{d}/o"], "the test data has 4 features but the training data 3"),
    # labels asked for where there are none: the message says how to give them
    (["regress", "{d}/unlabelled.npz", "--targets", "labels", "--out", "{d}/o"],
     "unlabelled.npz has no labels: --label-column J (data.label_column) reads the labels from column J"),
    (["exponents", "{d}/labels_last.csv", "--targets", "labels", "--out", "{d}/o"],
     "(its last column holds only the whole numbers 0..1: labels? then add --label-column -1)"),
    (["spectrum", "{d}/unlabelled.npz", "--label-column", "-1", "--out", "{d}/o"],
     "names a column of a CSV or .npy table, not of"),
    (["spectrum", "--dataset", "sphere", "--label-column", "0"], "points on the sphere have no labels"),
    (["regress", "{d}/signs.csv", "--label-column", "-1", "--test-size", "5", "--out", "{d}/o"],
     "integer labels are classes 0, 1, 2, ...; got -1"),
    # a depth-0 network's kernel is linear, of rank <= d + 1: the message says so
    (["exponents", "--dataset", "digits", "--depth", "0", "--n", "200", "--sizes", "80", "120", "160", "--test-size",
      "20", "--widths", "--no-plots", "--out", "{d}/o"], "is beyond the numerical rank of the kernel matrix"),
    # a size that reaches the pool extrapolates the spectrum, which 16 points cannot
    (["exponents", "{d}/x.npy", "--sizes", "4", "8", "16", "--test-size", "4", "--widths", "--no-plots", "--out",
      "{d}/o"], "extending the spectrum of 16 samples by a power-law tail, as sizes that reach the sample need"),
    # the library's own argument checks are the user's error too
    (["spectrum", "--dataset", "digits", "--n", "50", "--top-k", "60", "--out", "{d}/o"],
     "top_k must be at most the number of points 50, got 60"),
    (["kernel", "{d}/x.npy", "--out", "{d}/junk", "--out-of-core"], "is not empty and holds no manifest.json"),
    (["run", "{d}/missing.toml"], "does not exist"),
    (["run", "{d}/unknown_key.toml"], "unknown key 'network.depht' in section [network]; valid keys: depth"),
    (["run", "{d}/wrong_type.toml"], "network.depth must be an integer, got 'three'"),
    (["run", "{d}/bad_syntax.toml"], "is not valid TOML"),
    (["run", "{d}/unknown_key.toml", "--set", "novalue"], "expected KEY=VALUE"),
])
def test_bad_input_is_one_line_and_status_2(bad_files, capsys, args, message):
    status, err = refusal([a.format(d=bad_files) for a in args], capsys)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("nngp-ntk"), err
    assert message.format(d=bad_files) in err
    assert "Traceback" not in err


@pytest.mark.parametrize("error", [TypeError("'NoneType' object is not subscriptable"),
                                   ValueError("operands could not be broadcast together"),
                                   np.linalg.LinAlgError("Matrix is singular"), KeyError("alpha")])
def test_an_internal_error_says_so_and_asks_for_a_report(bad_files, capsys, monkeypatch, error):
    """An exception that is not the user's error (not a check's, a config's or a file's), whatever its
    type, is a bug: one line says so, asks for a report and quotes it, exit status 70; --debug adds
    the traceback."""
    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(cli.tasks, "run_spectrum", broken)
    args = ["spectrum", "--dataset", "digits", "--out", bad_files / "o"]
    status, err = refusal(args, capsys)
    assert status == cli.EXIT_INTERNAL == 70
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("nngp-ntk spectrum: internal error, a bug in nngp_ntk rather than in your input")
    assert f"({type(error).__name__}: " in err and "please report it" in err and "--debug" in err
    status, err = refusal(args + ["--debug"], capsys)
    assert status == 70 and err.startswith("Traceback (most recent call last)")
    assert err.splitlines()[-1].startswith("nngp-ntk spectrum: internal error") and "the traceback above" in err


def test_debug_shows_the_traceback_of_a_user_error(bad_files, capsys):
    status, err = refusal(["kernel", bad_files / "x.npy", "--depth", "-1", "--debug"], capsys)
    assert status == 2 and err.startswith("Traceback (most recent call last)") and "ConfigError" in err
    assert err.splitlines()[-1] == "nngp-ntk kernel: error: network.depth must be in [0, 1000], got -1"


def test_regress_with_a_linear_kernel_warns_of_its_rank(bad_files, capsys):
    """depth 0: the train kernel has rank <= d + 1 < n; the warning says so (no 'duplicate points?')."""
    status = cli.main([str(a) for a in ["regress", bad_files / "labels_last.csv", "--label-column", "-1", "--depth",
                                        "0", "--test-size", "5", "--quiet", "--out", bad_files / "o"]])
    err = capsys.readouterr().err
    assert status == 0 and err.count("\n") == 1
    assert re.match(r"nngp-ntk: warning: the 15 x 15 train kernel is singular, of numerical rank \d: ", err), err
    assert "a kernel of low rank, e.g. the linear kernel of a depth-0 network" in err and "duplicate" in err


def test_unwritable_output_folder_is_refused_before_any_work(bad_files, capsys):
    status, err = refusal(["kernel", bad_files / "x.npy", "--out", bad_files / "a_file" / "sub"], capsys)
    assert status == 2 and "cannot create output folder" in err and "a_file" in err
    if os.geteuid() != 0:  # root writes anywhere
        locked = bad_files / "locked"
        locked.mkdir(mode=0o500)
        status, err = refusal(["spectrum", "--dataset", "digits", "--out", locked], capsys)
        assert status == 2 and "cannot write into output folder" in err


@pytest.mark.slow
def test_a_refusal_through_python_m_has_no_traceback(bad_files):
    process = subprocess.run([sys.executable, "-m", "nngp_ntk.cli", "run", str(bad_files / "unknown_key.toml")],
                             capture_output=True, text=True, env=environment(), timeout=300)
    assert process.returncode == 2 and process.stdout == ""
    assert process.stderr.count("\n") == 1 and "valid keys: depth" in process.stderr


def test_compilation_cache_folder_and_switches(tmp_path, monkeypatch):
    """The console script's cache: NNGP_NTK_COMPILE_CACHE names the folder or turns it off; a
    JAX_COMPILATION_CACHE_DIR already set wins; an unwritable folder leaves it off."""
    updates = {}
    monkeypatch.setattr(cli.jax.config, "update", lambda name, value: updates.__setitem__(name, value))
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("NNGP_NTK_COMPILE_CACHE", "off")
    assert cli.enable_compilation_cache() is None and not updates
    monkeypatch.setenv("NNGP_NTK_COMPILE_CACHE", str(tmp_path / "cache"))
    assert cli.enable_compilation_cache() == str(tmp_path / "cache") and (tmp_path / "cache").is_dir()
    assert updates == {"jax_compilation_cache_dir": str(tmp_path / "cache"),
                       "jax_persistent_cache_min_compile_time_secs": 0.1}
    updates.clear()
    monkeypatch.delenv("NNGP_NTK_COMPILE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cli.enable_compilation_cache() == str(tmp_path / "xdg" / "nngp_ntk" / "jax")
    updates.clear()
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("NNGP_NTK_COMPILE_CACHE", str(tmp_path / "file" / "cache"))   # under a file
    assert cli.enable_compilation_cache() is None and not updates
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax"))
    assert cli.enable_compilation_cache() == str(tmp_path / "jax") and not updates


@pytest.mark.slow
def test_python_m_fills_the_compilation_cache(tmp_path, files):
    """Two runs of the command: the first stores the compiled programs, the second gives the same
    kernel from them."""
    cache = tmp_path / "cache"
    for run in ("first", "second"):
        process = subprocess.run([sys.executable, "-m", "nngp_ntk", "kernel", str(files / "x.npy"), "--out",
                                  str(tmp_path / f"{run}.npy"), "--quiet"], capture_output=True, text=True,
                                 env=dict(environment(), NNGP_NTK_COMPILE_CACHE=str(cache)), timeout=300)
        assert process.returncode == 0 and process.stderr == "", process.stderr
        assert any(cache.iterdir())
    np.testing.assert_array_equal(np.load(tmp_path / "first.npy"), np.load(tmp_path / "second.npy"))
