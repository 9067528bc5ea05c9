"""What every command shares: its one error type, the JSON line on stdout, the summary on stderr
and ``KEY=VALUE`` options."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from rsdml.errors import UserError


class CommandLineError(UserError, ValueError):
    """An option of the command line has a value (or a combination) that cannot work."""


# The metrics a command's human summary shows, as the README's tables lead with them.
HEADLINE_METRICS = ("knn@10", "map@20")


def print_json(obj: Any) -> None:
    print(json.dumps(obj, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))


def say(message: str) -> None:
    """One line of the human summary, on stderr."""
    print(message, file=sys.stderr, flush=True)


def percent(metrics: dict[str, Any], names: Sequence[str] = HEADLINE_METRICS) -> str:
    """``"kNN@10 92.3 %, mAP@20 85.1 %"`` for the named metrics present in ``metrics``."""
    from rsdml.tables import metric_label

    shown = [
        f"{metric_label(name)} {100 * metrics[name]:.1f} %" for name in names if name in metrics
    ]
    return ", ".join(shown) or "no metrics"


def duration(seconds: float) -> str:
    """A readable duration: ``"45 s"``, ``"12 min"``, ``"3.5 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def table(rows: Sequence[Sequence[str]]) -> str:
    """Rows of text as columns aligned on their widest cell (the last column is not padded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*map(str.ljust, row[:-1], widths), row[-1]]).rstrip() for row in rows
    )


def parse_value(text: str) -> Any:
    """Interpret a ``key=value`` parameter: JSON when it parses (numbers, booleans, lists), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def key_values(pairs: Sequence[str]) -> dict[str, Any]:
    params = {}
    for pair in pairs:
        if "=" not in pair:
            raise CommandLineError(f"expected KEY=VALUE, got {pair!r} (e.g. --param tau=0.1)")
        key, value = pair.split("=", 1)
        params[key.strip()] = parse_value(value.strip())
    return params
