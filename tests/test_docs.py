"""The README (its set-up commands are CI's, its code runs without a warning), the results page (rendered
from the benchmarks' result files) and the Sphinx site under docs/: it builds with warnings as errors,
and its docstring hooks."""

import importlib.util
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
README = os.path.join(ROOT, "README.md")
BENCHMARKS = os.path.join(ROOT, "benchmarks")
needs_sphinx = pytest.mark.skipif(importlib.util.find_spec("sphinx") is None,
                                  reason="sphinx not installed (pip install '.[docs]')")


def _conf():
    spec = importlib.util.spec_from_file_location("docs_conf", os.path.join(DOCS, "conf.py"))
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


def _load(name: str):
    """A module of benchmarks/ by file (the folder is no package)."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", os.path.join(BENCHMARKS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_results_page_cites_every_committed_result_file():
    """Every file under benchmarks/results/ is a harness record, and the page renders from them all,
    naming each file with the command that wrote it."""
    report = _load("report")
    records = report.load()
    assert records
    page = report.render(records)
    for name, record in records.items():
        assert f"``benchmarks/results/{name}``, written by ``{record['command']}``" in page, name
    assert set(os.listdir(report.RESULTS)) - {"quick"} == set(records)   # quick/: --quick runs, not committed


def test_harness_writes_records_that_the_report_reads(tmp_path):
    harness = _load("_harness")
    timing = harness.time_calls(lambda: sum(range(100)), repeats=3, statistic="min")
    assert timing.statistic == "min of 3" and timing.seconds == min(timing.samples) and len(timing.samples) == 3
    with pytest.raises(ValueError, match="statistic"):
        harness.time_calls(lambda: None, repeats=3, statistic="mean")
    assert harness.peak_rss_bytes() > 2**20
    machine = harness.machine()
    path = harness.write_result(tmp_path / "x.json", {"seconds": timing.seconds}, machine,
                                command="python benchmarks/x.py")
    record = _load("report").load(tmp_path)["x.json"]
    assert record["command"] == "python benchmarks/x.py" and record["machine"] == machine
    assert record["results"] == {"seconds": timing.seconds} and path == tmp_path / "x.json"
    done = harness.run_process([sys.executable, "-c", "print('{\"a\": 1}')"])
    assert done.returncode == 0 and done.peak_rss_bytes > 0 and not done.timed_out
    assert harness.run_worker([sys.executable, "-c", "print('{\"a\": 1}')"]) == {"a": 1}
    assert "timed out" in harness.run_worker([sys.executable, "-c", "import time; time.sleep(30)"],
                                             timeout=0.5)["error"]


def _readme() -> str:
    with open(README, encoding="utf-8") as file:
        return file.read()


def _section(text: str, title: str) -> str:
    """The body of the README section "## title", up to the next "## "."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def test_readme_is_short_and_its_set_up_commands_are_those_ci_runs():
    text = _readme()
    assert len(text.splitlines()) <= 200
    commands = [line.strip() for line in _section(text, "Set up").splitlines() if line.startswith("    ")]
    assert commands == ['pip install ".[test]"', "pytest -q"]
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as file:
        ci = [line.strip() for line in file]
    for command in commands:
        assert command in ci, f"CI (.ci/run) does not run the README's {command!r}"


@pytest.mark.slow
def test_readme_code_runs_without_a_warning():
    """The README's Python blocks, in order, as one script in a fresh process: exit status 0 and
    nothing on stderr that a user would read as a warning."""
    blocks = re.findall(r"^```python\n(.*?)^```", _readme(), flags=re.M | re.S)
    assert len(blocks) >= 3
    done = subprocess.run([sys.executable, "-"], input="\n".join(blocks), capture_output=True, text=True,
                          cwd=ROOT, timeout=600,
                          env={**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Warning" not in done.stderr and "warn" not in done.stderr.lower(), done.stderr[-3000:]


@needs_sphinx
def test_plain_text_formulas_become_literal_blocks():
    lines = ["The recursion:", "", "    K = W^2 K + b^2,", "        continued", "", "Args:", "", "    x: input."]
    _conf().formulas_as_literal_blocks(None, "function", "f", None, {}, lines)
    assert lines[0] == "The recursion::"
    assert lines[5] == "Args:"          # a Google section header is left to napoleon


@needs_sphinx
def test_bars_and_trailing_underscores_escaped_in_prose_only():
    lines = ["x / |x| and classes_ sorted, ``|y|`` kept", "A block::", "", "    |z| = 1", "",
             ">>> abs(-1) | 0", "1", "", "after |w|"]
    _conf().escape_plain_text_math(None, "function", "f", None, {}, lines)
    assert lines[0] == "x / \\|x\\| and classes\\_ sorted, ``|y|`` kept"
    assert lines[3] == "    |z| = 1"
    assert lines[5] == ">>> abs(-1) | 0"
    assert lines[8] == "after \\|w\\|"


@needs_sphinx
@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    """sphinx-build -W (every warning an error) of the whole site, the API reference included."""
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           "-d", str(tmp_path / "doctrees"), DOCS, str(tmp_path / "html")],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")})
    assert done.returncode == 0, done.stderr[-5000:]
    for page in ("index", "quickstart", "tutorial", "large_n", "theory", "results", "benchmarks", "api"):
        assert (tmp_path / "html" / f"{page}.html").exists()
    # the public API only: one page per subpackage, none for the private modules
    pages = {path.name for path in (tmp_path / "html" / "api").glob("*.html")}
    assert {"nngp_ntk.solver.html", "nngp_ntk.kernels.html", "nngp_ntk.theory.html"} <= pages
    assert not [page for page in pages if "._" in page], pages
    assert "predict_exponents" in (tmp_path / "html" / "api" / "nngp_ntk.theory.html").read_text()
