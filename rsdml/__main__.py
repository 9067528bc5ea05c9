"""``python -m rsdml``: the ``rsdml`` command, for environments without the console script
(e.g. ``torchrun -m rsdml`` or a job script that only knows the interpreter)."""

import sys

from rsdml.cli import main

if __name__ == "__main__":
    sys.exit(main())
