"""The Sphinx site under docs/: it builds with warnings as errors, and its docstring hooks."""

import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
needs_sphinx = pytest.mark.skipif(importlib.util.find_spec("sphinx") is None,
                                  reason="sphinx not installed (pip install '.[docs]')")


def _conf():
    spec = importlib.util.spec_from_file_location("docs_conf", os.path.join(DOCS, "conf.py"))
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


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
    for page in ("index", "quickstart", "tutorial", "large_n", "theory", "api"):
        assert (tmp_path / "html" / f"{page}.html").exists()
    # the public API only: one page per subpackage, none for the private modules
    pages = {path.name for path in (tmp_path / "html" / "api").glob("*.html")}
    assert {"nngp_ntk.solver.html", "nngp_ntk.kernels.html", "nngp_ntk.theory.html"} <= pages
    assert not [page for page in pages if "._" in page], pages
    assert "predict_exponents" in (tmp_path / "html" / "api" / "nngp_ntk.theory.html").read_text()
