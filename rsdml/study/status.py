"""Where a study stands, read from its folder alone: ``rsdml study NAME --status``.

Each cell is ``done``, ``running`` (a live process holds its lock, :mod:`rsdml.study.locks`),
``failed`` (its record says so) or ``pending``; the jobs come from ``jobs.json``
(:mod:`rsdml.study.executors`). A cell that a job ran names that job and its log file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rsdml.rundir import CELL_RECORD, NOTEBOOK, CorruptRunFile, read_json
from rsdml.study.executors import LOGS, job_ids, queued_cells, read_submissions
from rsdml.study.grid import expand
from rsdml.study.locks import lock_holder
from rsdml.study.plan import cell_status
from rsdml.study.spec import StudyError, stored_study

STATES = ("done", "running", "pending", "failed")


def task_log(out: Path, job: str) -> Path:
    """The stderr log submitit writes for a task (or a whole job) of the study."""
    return out / LOGS / f"{job}_0_log.err"


def study_status(out: str | os.PathLike) -> dict[str, Any]:
    """Each cell's state, the counts per state and the study's jobs; runs and writes nothing.

    Raises:
        StudyError: ``out`` holds no ``study.json`` (no study ran there).
    """
    out = Path(out)
    stored = out / "study.json"
    if not stored.is_file():
        raise StudyError(
            f"{out} is not a study folder (no study.json): run `rsdml study` first, or give "
            "the study's folder with --out"
        )
    study = stored_study(read_json(stored, what="the stored study"))
    submissions = read_submissions(out)
    # the last task that was given each cell
    last_job = {
        label: str(task["job"])
        for submission in submissions
        for task in submission["tasks"]
        for label in task["cells"]
    }
    queued = queued_cells(out)
    rows = []
    for cell in expand(study, out):
        state = cell_status(cell)
        row: dict[str, Any] = {"label": cell.label, "status": state, "folder": str(cell.folder)}
        if state == "running":
            row.update(lock_holder(cell.folder) or {})
        elif state == "failed":
            try:
                record = read_json(cell.folder / CELL_RECORD)
            except CorruptRunFile:
                record = {"error": f"{CELL_RECORD} is damaged"}
            row["error"] = record.get("error")
            row["job"] = record.get("job") or last_job.get(cell.label)
            row["log"] = record.get("log") or str(cell.folder / NOTEBOOK)
        elif state == "pending" and cell.label in last_job:
            row["job"] = last_job[cell.label]
            row["log"] = str(task_log(out, row["job"]))
            row["queued"] = cell.label in queued
        rows.append(row)
    counts = {state: sum(row["status"] == state for row in rows) for state in STATES}
    jobs = [
        {
            "executor": submission["executor"],
            "submitted": submission["submitted"],
            "jobs": job_ids(submission),
            "cancelled": submission.get("cancelled"),
        }
        for submission in submissions
    ]
    return {"study": study.name, "out": str(out), **counts, "cells": rows, "submissions": jobs}
