"""The grid of a study: its cells (method x setting x seed), their folders and their state.

Each cell runs in its own folder ``<out>/cells/<method>/<setting>/seed<k>-<hash>``, keyed by a
hash of its notebook and configuration; a finished cell (:func:`rsdml.rundir.is_cell_done`) is
skipped by the next run of the study.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsdml.rundir import CELL_RECORD, METRICS, is_cell_done, read_json
from rsdml.storage import content_key
from rsdml.study.spec import Study, StudyError, cell_config


@dataclass
class Cell:
    """One notebook execution of the grid."""

    method: str
    setting: str
    seed: int
    config: dict[str, Any]
    folder: Path

    @property
    def label(self) -> str:
        """Human-readable name of the cell."""
        return f"{self.method}/{self.setting}/seed{self.seed}"

    @property
    def parameters(self) -> dict[str, Any]:
        """The notebook's parameters: the whole configuration, the setting's name, the folder."""
        return {
            "config": self.config,
            "setting": self.setting,
            "out_dir": str(self.folder.resolve()),
        }


def study_dir(study: Study, out: str | os.PathLike | None = None) -> Path:
    """The study folder: ``out`` when given, else ``runs/<name>`` (from the working folder)."""
    return Path(out or Path("runs") / study.name)


def expand(study: Study, out: str | os.PathLike, device: str | None = None) -> list[Cell]:
    """Every cell of the grid, with its parameters and folder.

    ``device`` (e.g. from ``rsdml study --device``) replaces every cell's ``device``; like
    TrainConfig's key it does not enter the cell's folder, so a study moved to another machine
    finds its finished cells.
    """
    cells = []
    for setting in study.settings:
        for method in study.only.get(setting, study.methods):
            for seed in study.seeds:
                config = cell_config(study, setting, method, seed)
                # the same hash as when cells took their parameters one by one: folders of
                # finished studies stay valid
                key = content_key(study.notebook, config)
                folder = Path(out) / "cells" / method / setting / f"seed{seed}-{key[:10]}"
                if device is not None:
                    config = {**config, "device": device}
                cells.append(Cell(method, setting, seed, config, folder))
    return cells


def cell_matches(cell: Cell, pattern: str) -> bool:
    """Whether ``pattern`` (shell wildcards) names the cell: its whole label
    (``method/setting/seedK``) or a leading part of it (``trnsl``, ``trnsl/clean``)."""
    return any(fnmatch.fnmatchcase(cell.label, pattern + suffix) for suffix in ("", "/*", "/*/*"))


def select_cells(cells: list[Cell], patterns: list[str]) -> list[Cell]:
    """The cells that one of ``patterns`` names (see :func:`cell_matches`).

    Raises:
        StudyError: a pattern names no cell (a typo would otherwise rerun nothing in silence).
    """
    for pattern in patterns:
        if not any(cell_matches(cell, pattern) for cell in cells):
            examples = ", ".join(cell.label for cell in cells[:3])
            raise StudyError(
                f"--rerun {pattern!r} matches no cell of the study; cells are named "
                f"method/setting/seedK (e.g. {examples}), and a pattern may name a method, "
                "method/setting or a whole label, with * wildcards"
            )
    return [cell for cell in cells if any(cell_matches(cell, p) for p in patterns)]


def is_done(cell: Cell) -> bool:
    """Whether a cell is done by the run-folder contract (:func:`rsdml.rundir.is_cell_done`)."""
    return is_cell_done(cell.folder)


def recorded_seconds(cell: Cell) -> float | None:
    """How long a finished cell took: from its record, else from its metrics; None if unknown."""
    for name in (CELL_RECORD, METRICS):
        try:
            seconds = read_json(cell.folder / name).get("seconds")
        except Exception:  # absent or damaged: the other file may still tell
            continue
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds >= 0:
            return float(seconds)
    return None
