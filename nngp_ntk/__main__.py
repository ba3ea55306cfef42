"""``python -m nngp_ntk``: the ``nngp-ntk`` command."""

import sys

from nngp_ntk.cli.command import main

if __name__ == "__main__":
    sys.exit(main())
