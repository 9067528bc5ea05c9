"""The run-folder contract: what a training run writes, in which order, and what "done" means.

One module owns these facts; the training engine writes by them, and the study runner, the
report and the notebooks read by them. It imports neither torch nor the training code, so the
report side can use it cheaply.

Layout of a run folder, in the order the files are first written::

    config.json      the resolved TrainConfig; written only after the configuration, dataset and
                     method were checked, and a different one refuses the folder
    split.json       train/val/test indices, labelled subset, labels given, skipped files
    untrained.json   test kNN accuracies of the untrained embedding (what training must beat)
    history.json     per-epoch records, rewritten with last.pt at each checkpoint
    last.pt          everything a resume reads (weights, optimiser, loss and sampler state, RNGs);
                     written at most every 30 s of training and after the last epoch
    best.pt          the validation-selected weights
    embeddings.npz   train/val/test embeddings of the selected model, with labels
    metrics.json     written LAST: a run is complete exactly when this file exists and parses

A study cell's folder adds ``cell.json`` (the runner's record: parameters, status, error) and
``notebook.ipynb`` (the executed notebook). A cell is done when its run is complete and its
record says ``"status": "done"``.

Every file is written atomically (a temporary ``.<name>.*.tmp`` beside it, renamed into
place), so a kill leaves either the old file or the new one; stale temporaries of a killed
write are removed when the folder is opened again (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from rsdml.errors import UserError

CONFIG = "config.json"
SPLIT = "split.json"
UNTRAINED = "untrained.json"
HISTORY = "history.json"
LAST = "last.pt"
BEST = "best.pt"
EMBEDDINGS = "embeddings.npz"
METRICS = "metrics.json"
CELL_RECORD = "cell.json"
NOTEBOOK = "notebook.ipynb"

# The order of the final writes: the completion mark (metrics.json) comes after everything a
# finished run promises to its readers.
FINAL_WRITE_ORDER = (BEST, EMBEDDINGS, METRICS)


class CorruptRunFile(UserError, ValueError):
    """A file of a run folder exists but cannot be read; the message names it and the fix."""


def read_json(path: str | os.PathLike, *, what: str = "file") -> Any:
    """Parse a JSON file, naming the file (not just the line) when it is damaged.

    Raises:
        CorruptRunFile: the file is empty, truncated or not JSON.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CorruptRunFile(
            f"{path} is damaged ({what} is not valid JSON: {error}); delete it (or its whole "
            "folder) and run the same command again to recompute it"
        ) from error


def final_files_present(folder: str | os.PathLike) -> bool:
    """Whether every file of a run's final writes (:data:`FINAL_WRITE_ORDER`) is there."""
    return all((Path(folder) / name).is_file() for name in FINAL_WRITE_ORDER)


def is_complete(folder: str | os.PathLike) -> bool:
    """Whether a run folder holds a finished run: ``metrics.json`` exists and parses, and every
    file written before it is there."""
    folder = Path(folder)
    if not final_files_present(folder):
        return False
    try:
        read_json(folder / METRICS)
    except CorruptRunFile:
        return False
    return True


def is_cell_done(folder: str | os.PathLike) -> bool:
    """Whether a study cell is done: its run is complete and its record says so."""
    folder = Path(folder)
    record_path = folder / CELL_RECORD
    if not record_path.is_file() or not is_complete(folder):
        return False
    try:
        return read_json(record_path).get("status") == "done"
    except CorruptRunFile:
        return False


def study_cell_folders(study_dir: str | os.PathLike) -> list[Path]:
    """Every cell folder of a study (``<study>/cells/<method>/<setting>/<seed-key>``), sorted."""
    return sorted(path.parent for path in Path(study_dir).glob(f"cells/*/*/*/{CELL_RECORD}"))


def remove_stale_temporaries(folder: str | os.PathLike, older_than: float = 0.0) -> list[Path]:
    """Delete the temporaries that a killed atomic write left in ``folder``; returns them.

    ``older_than`` (seconds) spares recent ones: in a folder that several processes share (a
    cache), a young temporary may belong to a write still in progress.
    """
    removed = []
    now = time.time()
    for path in Path(folder).glob(".*.tmp"):
        try:
            if older_than and now - path.stat().st_mtime < older_than:
                continue
            path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed
