"""Sphinx configuration: the API reference is generated from the docstrings (Google style), and the
results page from the result files of the benchmarks.

Build (warnings are errors):

    pip install ".[docs]" && sphinx-build -W -b html docs docs/_build/html
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
sys.path.insert(0, ROOT)

import nngp_ntk  # noqa: E402

project = "nngp_ntk"
author = "the nngp_ntk authors"
copyright = "the nngp_ntk authors"
release = version = nngp_ntk.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

# The API reference: one page per module of the package, nngp_ntk.cli included, generated at build
# time into api/ (ignored by git) from the templates in _templates/autosummary.
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
    # Networks get kernel / kernel_fn / diagonal from their base class (kernels.BaseNetwork): show inherited members,
    # except those of the standard library's and scikit-learn's bases (documented there).
    "inherited-members": "object,tuple,Exception,BaseEstimator,RegressorMixin,ClassifierMixin",
    # scikit-learn's metadata-routing methods, on every estimator (documented by scikit-learn), and the
    # constructors (their arguments are the class's).
    "exclude-members": "set_fit_request,set_predict_request,set_score_request,get_metadata_routing,"
                       "__init__,__new__",
}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_class_signature = "separated"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

html_theme = "alabaster"
html_theme_options = {
    "description": "Infinite-width NNGP and NTK kernels, gradient-flow predictions and neural scaling laws, in JAX",
    "fixed_sidebar": True,
}
html_static_path: list[str] = []


# Docstrings write formulas and tables in plain text. Two hooks keep them from being read as
# reStructuredText markup they never meant:
#   * before napoleon: an indented block after a paragraph ending in ":" (a formula) becomes a
#     literal block, as if the colon were "::" (Google section headers such as "Args:" excepted);
#   * after napoleon: "|" (an absolute value or a norm: |x|) and a trailing "_" (scikit-learn's
#     fitted attributes: classes_) are escaped in prose, never in inline literals, literal blocks
#     or doctests.
_SECTION = re.compile(r"\s*(Args|Arguments|Attributes|Example|Examples|Keyword Args|Methods|Note|Notes|"
                      r"Other Parameters|Parameters|Raises|References|Returns|See Also|Todo|Warning|"
                      r"Warnings|Warns|Yields):\s*$")
_BULLET = re.compile(r"\s*([-*+]|\d+\.|>>>)\s")
_INLINE_LITERAL = re.compile(r"(``.*?``)")
_REFERENCE = re.compile(r"(?<=\w)_(?=\W|$)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def formulas_as_literal_blocks(app, what, name, obj, options, lines: list[str]) -> None:
    """autodoc-process-docstring, before napoleon: "text:" + blank + indented block -> "text::"."""
    for i in range(len(lines) - 2):
        line = lines[i].rstrip()
        following = next((later for later in lines[i + 1:] if later.strip()), "")
        if (line.endswith(":") and not line.endswith("::") and not _SECTION.fullmatch(line)
                and not lines[i + 1].strip() and _indent(following) > _indent(line)
                and not _BULLET.match(following)):
            lines[i] = line + ":"


def _escape(line: str) -> str:
    parts = _INLINE_LITERAL.split(line)
    return "".join(part if i % 2 else _REFERENCE.sub(r"\\_", part.replace("|", "\\|"))
                   for i, part in enumerate(parts))


def escape_plain_text_math(app, what, name, obj, options, lines: list[str]) -> None:
    """autodoc-process-docstring, after napoleon: escape | and trailing _ in prose (see above)."""
    literal_indent = None  # indentation of the paragraph that opened a literal block with "::"
    in_doctest = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if literal_indent is not None and stripped and _indent(line) <= literal_indent:
            literal_indent = None
        if stripped.startswith(">>>"):
            in_doctest = True
        elif not stripped:
            in_doctest = False
        if literal_indent is None and not in_doctest and not stripped.startswith(".. "):
            lines[i] = _escape(line)
        if literal_indent is None and stripped.endswith("::"):
            literal_indent = _indent(line)


def write_results_page(app) -> None:
    """builder-inited: render results.rst from benchmarks/results/*.json (benchmarks/report.py), before
    Sphinx reads the sources, so that the page always shows the committed files."""
    spec = importlib.util.spec_from_file_location("benchmarks_report", os.path.join(ROOT, "benchmarks", "report.py"))
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    report.write()


def setup(app) -> None:
    app.connect("builder-inited", write_results_page)
    app.connect("autodoc-process-docstring", formulas_as_literal_blocks, priority=400)
    app.connect("autodoc-process-docstring", escape_plain_text_math, priority=600)
