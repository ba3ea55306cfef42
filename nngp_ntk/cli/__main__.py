"""``python -m nngp_ntk.cli``: the ``nngp-ntk`` command."""

import sys

from nngp_ntk.cli._command import console_main

if __name__ == "__main__":
    sys.exit(console_main())
