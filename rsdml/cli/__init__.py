"""The ``rsdml`` command line: thin wrappers over the package, one sub-command per job.

Machine-readable results go to stdout, the last line being one JSON object (metrics as
fractions in [0, 1]); progress bars, tables and a short human summary (metrics in %) go to
stderr, so ``rsdml ... | tail -n 1`` is always parseable.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

from rsdml.cli.commands import (
    cmd_datasets,
    cmd_embed_eval,
    cmd_figures,
    cmd_methods,
    cmd_split,
    cmd_study,
    cmd_train,
)
from rsdml.cli.common import CommandLineError
from rsdml.cli.errors import user_error_message
from rsdml.cli.parser import build_parser
from rsdml.cpu_kernels import cpu_kernels_choice
from rsdml.errors import debug_enabled


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rsdml`` console script."""
    try:
        cpu_kernels_choice()  # read (and pinned) at import; a typo must not pass unnoticed
    except ValueError as error:
        print(f"rsdml: error: {error}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "no_progress", False):
        from rsdml.runtime import PROGRESS_ENV

        # the environment, not an argument: the study's notebook kernels inherit it
        os.environ[PROGRESS_ENV] = "0"
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("rsdml: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    except Exception as error:
        message = user_error_message(error, out=getattr(args, "out", None))
        if message is None:
            raise
        if debug_enabled(getattr(args, "debug", False)):
            traceback.print_exception(error, file=sys.stderr)
        print(f"rsdml {args.command}: error: {message}", file=sys.stderr)
        return 2


__all__ = [
    "CommandLineError",
    "build_parser",
    "cmd_datasets",
    "cmd_embed_eval",
    "cmd_figures",
    "cmd_methods",
    "cmd_split",
    "cmd_study",
    "cmd_train",
    "main",
    "user_error_message",
]
