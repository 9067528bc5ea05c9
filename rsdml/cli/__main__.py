"""``python -m rsdml.cli``: the same as the ``rsdml`` console script."""

import sys

from rsdml.cli import main

sys.exit(main())
