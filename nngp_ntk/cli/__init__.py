"""The ``nngp-ntk`` application: the command (``command``), typed configs (``config``; their keys
and dataclasses in ``schema``), the tasks and experiments they run (``tasks``, ``experiments``) and
their figures (``plots``).

The library never imports this subpackage; it imports the library.
"""

from nngp_ntk.cli._command import console_main, main

__all__ = ["console_main", "main"]
