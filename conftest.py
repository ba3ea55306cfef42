"""pytest configuration for the whole checkout: the docstring examples of nngp_ntk run as doctests
(``--doctest-modules`` in pyproject.toml); modules whose optional dependencies are missing are not
collected, so that a minimal install still runs the suite."""

import importlib.util

collect_ignore = ["docs/conf.py"]
if importlib.util.find_spec("matplotlib") is None:
    collect_ignore.append("nngp_ntk/cli/_plots.py")
