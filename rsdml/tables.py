"""Result tables: per-seed metric records in, paper-style tables (CSV, Markdown, LaTeX) out.

A run reports one record per (method, setting, seed), e.g.
``{"method": "t-RNSL", "setting": "U 0.5", "seed": 0, "knn@10": 0.895, "map@20": 0.905}``.
:func:`summarise` folds the seeds into mean and standard deviation per (method, setting);
:func:`write_tables` writes that summary three ways:

- ``<stem>.csv``: the summary frame at full precision (one row per method and setting,
  columns ``method``, ``setting``, ``n_seeds``, ``<metric>_mean``, ``<metric>_std``);
- ``<stem>.md`` and ``<stem>.tex``: the same numbers as "mean ± std" in percent with one
  decimal, the best method of each setting in bold, ready for a report or a paper (booktabs).

Metric values are fractions in [0, 1] everywhere in rsdml; only the Markdown and LaTeX views
show percentages.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from rsdml.metric_names import ALL_METRICS
from rsdml.storage import atomic_write_text

__all__ = [
    "KEY_COLUMNS",
    "latex_table",
    "markdown_table",
    "metric_label",
    "rate_frame",
    "rate_series",
    "setting_rate",
    "summarise",
    "table_metrics",
    "write_tables",
]

#: Columns of a summary frame that identify a row rather than measure something.
KEY_COLUMNS: tuple[str, ...] = ("method", "setting", "n_seeds")

_RECORD_KEYS = frozenset({"method", "setting", "seed"})
_LABEL_PREFIXES = {"knn": "kNN", "map": "mAP", "p": "P", "recall": "Recall"}
_LABELS = {"map": "mAP", "map@r": "MAP@R", "r_precision": "R-precision"}
_UPPER_CASE = {"acc", "nmi", "ari"}

Layout = Literal["auto", "long", "wide"]


def metric_label(name: str) -> str:
    """How a metric name is printed in tables and axis labels (``"map@20"`` -> ``"mAP@20"``)."""
    if name in _UPPER_CASE:
        return name.upper()
    if name in _LABELS:
        return _LABELS[name]
    head, sep, tail = name.partition("@")
    if sep and head in _LABEL_PREFIXES:
        return f"{_LABEL_PREFIXES[head]}@{tail}"
    return name


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _ordered(values: Iterable[str], order: Sequence[str] | None) -> list[str]:
    """Unique values: those named in ``order`` first (in that order), the rest as first seen."""
    seen = list(dict.fromkeys(values))
    if order is None:
        return seen
    first = [value for value in order if value in seen]
    return first + [value for value in seen if value not in first]


def _record_metrics(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Numeric keys of the records: the study's metrics in canonical order, then any others."""
    numeric: dict[str, bool] = {}
    for record in records:
        for key, value in record.items():
            if key in _RECORD_KEYS:
                continue
            numeric[key] = numeric.get(key, True) and (value is None or _is_number(value))
    names = [key for key, is_numeric in numeric.items() if is_numeric]
    return [name for name in ALL_METRICS if name in names] + [
        name for name in names if name not in ALL_METRICS
    ]


def summarise(
    records: Sequence[Mapping[str, Any]],
    *,
    method_order: Sequence[str] | None = None,
    setting_order: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Fold per-seed records into one row per (method, setting) with mean and std of each metric.

    The standard deviation is the sample standard deviation (``ddof=1``) over the seeds that
    report the metric, because a handful of seeds estimates the spread of a population of
    runs; with a single value it is 0.0 (and the Markdown/LaTeX views then print the mean only).
    Missing or ``None`` values are skipped; a metric no seed of a group reports is NaN.

    Args:
        records: dicts with ``method``, ``setting``, optionally ``seed``, and metric values.
        method_order: methods in the order the rows should list them; unlisted methods follow
            in order of first appearance.
        setting_order: the same for settings (rows are grouped by setting, then method).
        metrics: which metrics to summarise; default every numeric key of the records
            (the study's metrics first in :data:`ALL_METRICS`, then any others).

    Returns:
        A frame with columns ``method``, ``setting``, ``n_seeds``, then ``<metric>_mean`` and
        ``<metric>_std`` for each metric.

    Raises:
        ValueError: when there are no records, a record lacks ``method`` or ``setting``, a
            requested metric is absent, or the same seed appears twice for a method and setting.
    """
    names = _summarised_metrics(records, metrics)
    groups = _group_records(records)
    methods = _ordered((method for method, _ in groups), method_order)
    settings = _ordered((setting for _, setting in groups), setting_order)
    rows = [
        _summary_row(method, setting, groups[(method, setting)], names)
        for setting in settings
        for method in methods
        if groups.get((method, setting))
    ]
    columns = list(KEY_COLUMNS) + [f"{name}_{part}" for name in names for part in ("mean", "std")]
    return pd.DataFrame(rows, columns=columns)


def _summarised_metrics(
    records: Sequence[Mapping[str, Any]], metrics: Sequence[str] | None
) -> list[str]:
    """The metrics :func:`summarise` folds, after checking every record names its run."""
    if not records:
        raise ValueError("summarise() got no records; pass one dict per (method, setting, seed)")
    for position, record in enumerate(records):
        missing = [key for key in ("method", "setting") if key not in record]
        if missing:
            raise ValueError(
                f"record {position} has no {' or '.join(missing)!s} key: {dict(record)!r}; "
                "every record needs 'method' and 'setting' (use setting='' for a single setting)"
            )
    names = list(metrics) if metrics is not None else _record_metrics(records)
    absent = [name for name in names if not any(name in record for record in records)]
    if absent:
        raise ValueError(
            f"metrics {absent} appear in no record; available: {_record_metrics(records)}"
        )
    return names


def _group_records(
    records: Sequence[Mapping[str, Any]],
) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """The records by (method, setting), refusing a seed that appears twice in a group."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault((str(record["method"]), str(record["setting"])), []).append(record)
    for (method, setting), members in groups.items():
        seeds = [member["seed"] for member in members if member.get("seed") is not None]
        duplicates = sorted({seed for seed in seeds if seeds.count(seed) > 1}, key=str)
        if duplicates:
            raise ValueError(
                f"method {method!r}, setting {setting!r} has seed(s) {duplicates} more than once; "
                "drop the repeated records (a re-run should replace its earlier record)"
            )
    return groups


def _summary_row(
    method: str, setting: str, members: Sequence[Mapping[str, Any]], names: Sequence[str]
) -> dict[str, Any]:
    """One row of the summary: the mean and sample std over the seeds of each metric."""
    row: dict[str, Any] = {"method": method, "setting": setting, "n_seeds": len(members)}
    for name in names:
        values = np.array(
            [float(m[name]) for m in members if m.get(name) is not None], dtype=np.float64
        )
        if values.size == 0:
            mean = std = math.nan
        else:
            mean = float(values.mean())
            std = float(values.std(ddof=1)) if values.size > 1 else 0.0
        row[f"{name}_mean"] = mean
        row[f"{name}_std"] = std
    return row


def table_metrics(frame: pd.DataFrame) -> list[str]:
    """The metrics a summary frame holds (those with both ``_mean`` and ``_std`` columns)."""
    return [
        column[: -len("_mean")]
        for column in frame.columns
        if column.endswith("_mean") and f"{column[: -len('_mean')]}_std" in frame.columns
    ]


def _check_frame(frame: pd.DataFrame, metrics: Sequence[str] | None) -> list[str]:
    missing = [column for column in KEY_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(
            f"the frame lacks column(s) {missing}; build it with rsdml.tables.summarise(records)"
        )
    available = table_metrics(frame)
    names = list(metrics) if metrics is not None else available
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ValueError(f"metrics {unknown} are not in the frame; available: {available}")
    if not names:
        raise ValueError("the frame holds no <metric>_mean/<metric>_std columns to tabulate")
    return names


# A table cell before formatting: mean and std in display units, whether it shows "± std",
# and whether it is the best of its setting.
_Cell = tuple[float, float, bool, bool]


def _display_value(name: str, value: float) -> float:
    """Percent for the study's metrics (fractions), the raw value for anything else."""
    return 100.0 * value if name in ALL_METRICS else value


def _cells(frame: pd.DataFrame, names: Sequence[str]) -> dict[tuple[int, str], _Cell]:
    """Display values of every (row, metric), with the best of each setting marked."""
    cells: dict[tuple[int, str], _Cell] = {}
    for name in names:
        for _, block in frame.groupby("setting", sort=False):
            shown = {
                index: round(_display_value(name, float(block.at[index, f"{name}_mean"])), 1)
                for index in block.index
            }
            finite = [value for value in shown.values() if math.isfinite(value)]
            # Every study metric is higher-is-better; ties at the printed precision are all bold.
            best = max(finite) if finite and name in ALL_METRICS else None
            for index in block.index:
                std = _display_value(name, float(block.at[index, f"{name}_std"]))
                with_std = int(block.at[index, "n_seeds"]) > 1 and math.isfinite(std)
                is_best = best is not None and shown[index] == best
                cells[(index, name)] = (shown[index], std, with_std, is_best)
    return cells


def _resolve_layout(frame: pd.DataFrame, names: Sequence[str], layout: Layout) -> str:
    if layout not in ("auto", "long", "wide"):
        raise ValueError(f"layout must be 'auto', 'long' or 'wide', not {layout!r}")
    if layout != "auto":
        return layout
    return "wide" if len(names) == 1 and frame["setting"].nunique() > 1 else "long"


def _grid(
    frame: pd.DataFrame, names: Sequence[str], layout: str
) -> tuple[list[str], list[list[str | _Cell | None]]]:
    """Header and rows of the table (text for key columns, cells for numbers, None = no run)."""
    settings = list(dict.fromkeys(frame["setting"]))
    methods = list(dict.fromkeys(frame["method"]))
    cells = _cells(frame, names)
    if layout == "wide":
        index = {
            (row.method, row.setting): i
            for i, row in zip(frame.index, frame.itertuples(), strict=True)
        }
        columns = [(setting, name) for setting in settings for name in names]
        header = ["Method"] + [
            setting if len(names) == 1 else f"{setting} {metric_label(name)}".strip()
            for setting, name in columns
        ]
        rows: list[list[str | _Cell | None]] = []
        for method in methods:
            row: list[str | _Cell | None] = [method]
            for setting, name in columns:
                position = index.get((method, setting))
                row.append(None if position is None else cells[(position, name)])
            rows.append(row)
        return header, rows
    with_setting = len(settings) > 1
    header = (["Setting"] if with_setting else []) + ["Method"] + [metric_label(n) for n in names]
    rows = []
    for position, record in zip(frame.index, frame.itertuples(), strict=True):
        keys: list[str | _Cell | None] = [str(record.setting)] if with_setting else []
        rows.append(keys + [str(record.method)] + [cells[(position, name)] for name in names])
    return header, rows


def _note(frame: pd.DataFrame, names: Sequence[str]) -> str:
    counts = sorted({int(n) for n in frame["n_seeds"]})
    if counts == [1]:
        spread = "single seed"
    else:
        seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        spread = f"mean ± sample std over {seeds} seeds"
    units = " in %" if any(name in ALL_METRICS for name in names) else ""
    return f"Values: {spread}{units}; bold: best per setting."


def _format_number(cell: _Cell, plus_minus: str) -> str:
    mean, std, with_std, _ = cell
    return f"{mean:.1f}{plus_minus}{std:.1f}" if with_std else f"{mean:.1f}"


def markdown_table(
    frame: pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    caption: str = "",
    layout: Layout = "auto",
) -> str:
    """A Markdown (pipe) table of a :func:`summarise` frame: mean ± std in %, best per setting bold.

    Args:
        frame: the output of :func:`summarise`.
        metrics: which metrics to show (default: all in the frame).
        caption: plain text printed above the table.
        layout: ``"long"`` (rows = setting and method, columns = metrics), ``"wide"`` (rows =
            methods, columns = settings, or setting x metric), or ``"auto"``: wide when exactly
            one metric is shown over several settings (the papers' layout), else long.

    Returns:
        The table as Markdown text, ending with a note on what the numbers are.
    """
    names = _check_frame(frame, metrics)
    frame = frame.reset_index(drop=True)
    header, rows = _grid(frame, names, _resolve_layout(frame, names, layout))

    def render(value: str | _Cell | None) -> str:
        if value is None:
            return "–"
        if isinstance(value, str):
            return value.replace("|", "\\|")
        if not math.isfinite(value[0]):
            return "–"
        text = _format_number(value, " ± ")
        return f"**{text}**" if value[3] else text

    numeric = [any(isinstance(row[i], tuple) for row in rows) for i in range(len(header))]
    lines = [
        "| " + " | ".join(render(h) for h in header) + " |",
        "|" + "|".join("---:" if is_num else ":---" for is_num in numeric) + "|",
    ]
    lines += ["| " + " | ".join(render(value) for value in row) + " |" for row in rows]
    text = "\n".join(lines) + "\n\n" + f"*{_note(frame, names)}*\n"
    return (f"{caption}\n\n" if caption else "") + text


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(char, char) for char in text)


def latex_table(
    frame: pd.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    caption: str = "",
    layout: Layout = "auto",
    label: str | None = None,
) -> str:
    """A booktabs LaTeX table with the same content as :func:`markdown_table`.

    Args:
        frame: the output of :func:`summarise`.
        metrics: which metrics to show (default: all in the frame).
        caption: plain text (LaTeX special characters are escaped).
        layout: see :func:`markdown_table`.
        label: an optional ``\\label`` key.

    Returns:
        A ``table`` environment; the document needs ``\\usepackage{booktabs}``.
    """
    names = _check_frame(frame, metrics)
    frame = frame.reset_index(drop=True)
    chosen = _resolve_layout(frame, names, layout)
    header, rows = _grid(frame, names, chosen)
    numeric = [any(isinstance(row[i], tuple) for row in rows) for i in range(len(header))]

    def render(value: str | _Cell | None) -> str:
        if value is None:
            return "--"
        if isinstance(value, str):
            return _latex_escape(value)
        if not math.isfinite(value[0]):
            return "--"
        text = _format_number(value, r" $\pm$ ")
        return rf"\textbf{{{text}}}" if value[3] else text

    full_caption = " ".join(part for part in (caption.strip(), _note(frame, names)) if part)
    lines = [
        "% requires \\usepackage{booktabs}",
        r"\begin{table}[htbp]",
        r"  \centering",
        rf"  \caption{{{_latex_escape(full_caption)}}}",
    ]
    if label:
        lines.append(rf"  \label{{{label}}}")
    lines += [
        r"  \begin{tabular}{" + "".join("r" if is_num else "l" for is_num in numeric) + "}",
        r"    \toprule",
        "    " + " & ".join(render(h) for h in header) + r" \\",
        r"    \midrule",
    ]
    grouped = chosen == "long" and header[0] == "Setting"
    previous: str | _Cell | None = None
    for row in rows:
        cells = [render(value) for value in row]
        if grouped:
            # Print each setting once, on the first row of its block, with a rule between blocks.
            if previous is not None and row[0] != previous:
                lines.append(r"    \midrule")
            if row[0] == previous:
                cells[0] = ""
            previous = row[0]
        lines.append("    " + " & ".join(cells) + r" \\")
    lines += [r"    \bottomrule", r"  \end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _stem(path_stem: str | os.PathLike, suffixes: Iterable[str]) -> Path:
    """The path without one of our own suffixes (other dots, as in ``eta0.5``, are kept)."""
    stem = Path(path_stem)
    return stem.with_suffix("") if stem.suffix.lower() in set(suffixes) else stem


def write_tables(
    frame: pd.DataFrame,
    path_stem: str | os.PathLike,
    *,
    metrics: Sequence[str] | None = None,
    caption: str = "",
    layout: Layout = "auto",
) -> list[Path]:
    """Write ``<stem>.csv`` (full precision), ``<stem>.md`` and ``<stem>.tex`` atomically.

    Args:
        frame: the output of :func:`summarise`.
        path_stem: the output path without extension (folders are created).
        metrics: which metrics the Markdown and LaTeX tables show (the CSV keeps the whole frame).
        caption: plain-text caption for the Markdown and LaTeX tables.
        layout: see :func:`markdown_table`.

    Returns:
        The three written paths: CSV, Markdown, LaTeX.
    """
    _check_frame(frame, metrics)
    stem = _stem(path_stem, (".csv", ".md", ".tex"))
    named = stem.parent / stem.name
    outputs = {
        ".csv": frame.to_csv(index=False),
        ".md": markdown_table(frame, metrics=metrics, caption=caption, layout=layout),
        ".tex": latex_table(frame, metrics=metrics, caption=caption, layout=layout),
    }
    return [
        atomic_write_text(named.with_name(named.name + suffix), text)
        for suffix, text in outputs.items()
    ]


def setting_rate(setting: str, kind: str) -> float | None:
    """The rate in a setting named ``<kind>-<rate>``, or None for any other setting."""
    if not setting.startswith(f"{kind}-"):
        return None
    try:
        return float(setting[len(kind) + 1 :])
    except ValueError:
        return None


def rate_frame(
    summary: pd.DataFrame, kind: str, *, zero_setting: str | None = None
) -> pd.DataFrame:
    """The rows of a summary whose setting is ``<kind>-<rate>``, sorted by rate, with the
    ``zero_setting`` (rate 0, e.g. ``"clean"`` for label noise) in front.

    The zero setting's rows are kept only for methods that also have a ``kind`` setting, so a
    wide table (:func:`write_tables` with ``layout="wide"``) reads like the RNSL paper's:
    ``clean``, then each noise rate. Row order within a setting is the summary's.

    Args:
        summary: a frame from :func:`summarise`.
        kind: the setting prefix, e.g. ``"uniform"``, ``"dependent"`` or ``"labelled"``.
        zero_setting: the setting at rate 0; None for kinds without one (labelled fractions).

    Returns:
        A frame with the summary's columns (empty when no setting is of ``kind``).
    """
    settings = [str(setting) for setting in summary["setting"]]
    rates = [setting_rate(setting, kind) for setting in settings]
    of_kind = [rate is not None for rate in rates]
    methods = {str(m) for m, keep in zip(summary["method"], of_kind, strict=True) if keep}
    zero = [
        zero_setting is not None and setting == zero_setting and str(method) in methods
        for setting, method in zip(settings, summary["method"], strict=True)
    ]
    order = [
        (0.0 if is_zero else 1.0, rate or 0.0, position)
        for position, (rate, is_zero) in enumerate(zip(rates, zero, strict=True))
    ]
    keep = [position for _, _, position in sorted(order) if of_kind[position] or zero[position]]
    return summary.iloc[keep].reset_index(drop=True)


def rate_series(
    summary: pd.DataFrame, kind: str, metric: str = "knn@10", *, zero_setting: str | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A metric against the rate of settings named ``<kind>-<rate>``, one series per method.

    Settings such as ``uniform-0.3`` or ``labelled-0.1`` carry their rate in their name; this
    reads it back so that a summary (:func:`summarise`) can be drawn as curves over the rate.
    The rows are those of :func:`rate_frame`, so the curves and the wide tables agree.

    Args:
        summary: a frame from :func:`summarise`.
        kind: the setting prefix, e.g. ``"uniform"``, ``"dependent"`` or ``"labelled"``.
        metric: which metric's mean and std to return.
        zero_setting: a setting to place at rate 0 (e.g. ``"clean"`` for the noise curves);
            it is used only for methods that also have a ``kind`` setting.

    Returns:
        method -> (rates, means, stds), sorted by rate; methods in the summary's row order.
    """
    rows: dict[str, list[tuple[float, float, float]]] = {
        str(method): [] for method in summary["method"]
    }
    for record in rate_frame(summary, kind, zero_setting=zero_setting).to_dict("records"):
        setting = str(record["setting"])
        rate = 0.0 if setting == zero_setting else setting_rate(setting, kind)
        rows[str(record["method"])].append(
            (rate, record[f"{metric}_mean"], record[f"{metric}_std"])
        )
    series = {}
    for method, points in rows.items():
        if not points:
            continue
        rates, means, stds = np.array(sorted(points), dtype=float).T
        series[method] = (rates, means, stds)
    return series
