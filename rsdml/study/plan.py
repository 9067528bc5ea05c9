"""Planning a run: the dry run's report, and setting aside the finished cells to rerun."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from rsdml.rundir import CELL_RECORD
from rsdml.study.grid import Cell, expand, is_done, recorded_seconds, select_cells, study_dir
from rsdml.study.locks import lock_holder
from rsdml.study.spec import StudyError, load_study

FINISHED = ("done", "rerun")


def cell_status(cell: Cell, rerun: frozenset[Path] | set[Path] = frozenset()) -> str:
    """``done``, ``rerun`` (done, but among ``rerun``), ``running`` (its lock is held),
    ``failed`` (it has a record but is not done) or ``pending``."""
    if is_done(cell):
        return "rerun" if cell.folder in rerun else "done"
    if lock_holder(cell.folder) is not None:
        return "running"
    return "failed" if (cell.folder / CELL_RECORD).is_file() else "pending"


def plan_study(
    spec: str | os.PathLike,
    out: str | os.PathLike | None = None,
    workers: int = 1,
    rerun: list[str] | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """What :func:`run_study` would do with the same arguments, without doing or writing anything.

    Returns a summary: each cell's label, folder and status (``done``: skipped; ``rerun``:
    done, but run again for ``rerun``; ``failed``: failed before, run again; ``pending``:
    never finished; ``running``: another process runs it now, left alone), the counts, and
    ``estimated_seconds``: the wall time of the cells to run, estimated from the seconds that finished cells recorded (a cell's own time, else the mean
    of its method's finished cells, else of all of them) and shared by ``workers``; None
    (unknown) when no finished cell recorded its time.
    """
    study = load_study(spec)
    out = study_dir(study, out)
    cells = expand(study, out, device)
    again = {cell.folder for cell in select_cells(cells, rerun)} if rerun else set()
    status = {cell.label: cell_status(cell, again) for cell in cells}
    seconds = {
        cell.label: recorded_seconds(cell) for cell in cells if status[cell.label] in FINISHED
    }
    known = {label: value for label, value in seconds.items() if value is not None}
    to_run = [cell for cell in cells if status[cell.label] not in ("done", "running")]
    estimate: float | None = 0.0 if not to_run else None
    if to_run and known:
        total = 0.0
        for cell in to_run:
            same = [known[c.label] for c in cells if c.method == cell.method and c.label in known]
            fallback = same or list(known.values())
            total += known.get(cell.label, sum(fallback) / len(fallback))
        estimate = total / min(max(1, workers), len(to_run))
    return {
        "study": study.name,
        "out": str(out),
        "cells": [
            {
                "label": cell.label,
                "status": status[cell.label],
                "seconds": seconds.get(cell.label),
                "folder": str(cell.folder),
            }
            for cell in cells
        ],
        "done": sum(value == "done" for value in status.values()),
        "to_run": len(to_run),
        "workers": workers,
        "estimated_seconds": estimate,
    }


def set_aside(cells: list[Cell], out: Path) -> dict[str, tuple[Cell, Path]]:
    """Move the finished folders of the cells to rerun under ``<out>/replaced/<time>/``.

    The report reads only ``<out>/cells``, so an old result leaves the tables while it is kept;
    :func:`settle_replaced` deletes it once its cell has finished again, and only then.
    Returns the moved cells and where each old folder went, by label.
    """
    done = [cell for cell in cells if is_done(cell)]
    if not done:
        return {}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base, suffix = out / "replaced" / stamp, 1
    while base.exists():
        base, suffix = out / "replaced" / f"{stamp}-{suffix}", suffix + 1
    moved = {}
    for cell in done:
        target = base / cell.folder.relative_to(out / "cells")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            cell.folder.rename(target)
        except OSError as error:
            raise StudyError(
                f"cannot move the finished cell {cell.folder} aside to {target} before running "
                f"it again: {error.strerror or error}"
            ) from error
        moved[cell.label] = (cell, target)
    return moved


def settle_replaced(
    moved: dict[str, tuple[Cell, Path]], records: list[dict[str, Any]]
) -> dict[str, str]:
    """Delete the old results whose cell finished again; return the kept ones by label."""
    finished = {record["label"] for record in records if record["status"] == "done"}
    kept = {}
    for label, (_, old) in moved.items():
        if label in finished:
            shutil.rmtree(old, ignore_errors=True)
            # the setting, method, time and replaced folders, as far as they are left empty
            for folder in old.parents[:4]:
                if any(folder.iterdir()):
                    break
                folder.rmdir()
        else:
            kept[label] = str(old)
            print(
                f"the rerun of {label} did not finish: its previous result is kept in {old}",
                file=sys.stderr,
            )
    return kept
