"""The study runner: a grid of notebook executions, then the report notebooks.

A study is a YAML file (or the name of a preset in ``rsdml/studies/``)::

    name: quick
    notebook: train              # notebooks/train.py, run once per grid cell
    shared: {dataset: synthetic, mode: frozen, epochs: 30}
    methods: [nsl, arcface, trnsl]
    seeds: [0, 1]
    settings:                    # named settings: TrainConfig overrides
      clean: {}
      uniform-0.5: {noise: uniform, noise_rate: 0.5}
    only: {uniform-0.5: [nsl, trnsl]}   # optional: restrict a setting to some methods
    report: [results, embeddings, rank_analysis, data_overview]
    report_parameters: {embeddings: {noisy_setting: uniform-0.5}}   # optional overrides

Every key of ``shared`` and of a setting is a :class:`~rsdml.train.TrainConfig` field: a cell's
configuration is ``{**shared, **setting, method, seed}``, passed to the notebook as its one
``config`` parameter and to ``TrainConfig.from_dict`` unchanged. :func:`load_study` checks every
key, every cell's configuration and every report parameter before anything runs.

Each cell (method x setting x seed) runs ``notebooks/<notebook>.py`` through papermill in its own
folder ``<out>/cells/<method>/<setting>/seed<k>-<hash>``, keyed by a hash of its configuration:
a finished cell (:func:`rsdml.rundir.is_cell_done`) is skipped, a failed cell is recorded in
``cell.json`` and the others carry on. The report notebooks then read every cell and regenerate
the figures and tables.
"""

from __future__ import annotations

import fnmatch
import multiprocessing.util
import os
import shutil
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rsdml.errors import UserError
from rsdml.execution import (
    NOTEBOOKS_DIR,
    WarmKernel,
    execute_notebook,
    notebook_path,
    parameter_names,
)
from rsdml.rundir import CELL_RECORD, METRICS, is_cell_done, read_json
from rsdml.runtime import progress
from rsdml.storage import atomic_write_json, content_key
from rsdml.train.config import ConfigError, closest, field_names

PRESETS_DIR = Path(__file__).with_name("studies")

# The parameters a grid notebook takes (see notebooks/train.py) and those the runner sets itself.
GRID_PARAMETERS = ("config", "setting", "out_dir")
# Set by the grid (``methods``, ``seeds``): the same key in shared or a setting would be overridden.
GRID_KEYS = ("method", "seed")
# Set by the runner for every report notebook.
REPORT_RUNNER_PARAMETERS = ("study_dir", "figures_dir")


class StudyError(UserError, ValueError):
    """A study file that cannot be run as written, or a study folder that cannot be written."""


@dataclass
class Study:
    """A parsed study file."""

    name: str
    notebook: str
    shared: dict[str, Any]
    methods: list[str]
    seeds: list[int]
    settings: dict[str, dict[str, Any]]
    only: dict[str, list[str]] = field(default_factory=dict)
    report: list[str] = field(default_factory=list)
    report_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = ""


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


def available_presets() -> list[str]:
    """Names of the studies shipped with rsdml."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_study(spec: str | os.PathLike) -> Study:
    """Read a study from a YAML file or a preset name, validating every key."""
    path = Path(spec)
    if not path.exists():
        preset = PRESETS_DIR / f"{spec}.yaml"
        if not preset.exists():
            raise StudyError(
                f"no study file {str(spec)!r} and no preset of that name; "
                f"presets: {', '.join(available_presets())}"
            )
        path = preset
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise StudyError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise StudyError(f"{path}: a study file is a mapping of keys (name, shared, methods...)")
    known = {
        "name",
        "notebook",
        "shared",
        "methods",
        "seeds",
        "settings",
        "only",
        "report",
        "report_parameters",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        hints = ", ".join(f"{name!r}{closest(str(name), known)}" for name in unknown)
        raise StudyError(f"{path}: unknown key(s) {hints}; known keys: {sorted(known)}")
    for required in ("methods", "settings"):
        if not raw.get(required):
            raise StudyError(f"{path}: '{required}' is missing or empty")
    _check_shapes(path, raw)
    study = Study(
        name=str(raw.get("name", path.stem)),
        notebook=str(raw.get("notebook", "train")),
        shared=dict(raw.get("shared") or {}),
        methods=[str(m) for m in raw["methods"]],
        seeds=[int(s) for s in raw.get("seeds", [0])],
        settings={str(k): dict(v or {}) for k, v in raw["settings"].items()},
        only={str(k): [str(m) for m in v] for k, v in (raw.get("only") or {}).items()},
        report=[str(r) for r in raw.get("report", [])],
        report_parameters={
            str(k): dict(v or {}) for k, v in (raw.get("report_parameters") or {}).items()
        },
        source=str(path),
    )
    for setting in study.only:
        if setting not in study.settings:
            raise StudyError(
                f"{path}: 'only' names setting {setting!r}, which is not in 'settings'"
            )
    for name in [study.notebook, *study.report]:
        if not (NOTEBOOKS_DIR / f"{name}.py").exists():
            raise StudyError(f"{path}: notebook {name!r} not found in {NOTEBOOKS_DIR}")
    _check_grid(path, study)
    _check_report_parameters(path, study)
    return study


def _check_shapes(path: Path, raw: dict[str, Any]) -> None:
    """Refuse values of the wrong kind before they are converted (a list where a mapping goes)."""
    for key in ("shared", "settings", "only", "report_parameters"):
        if raw.get(key) is not None and not isinstance(raw[key], dict):
            raise StudyError(f"{path}: '{key}' must be a mapping, got {raw[key]!r}")
    for key in ("methods", "seeds", "report"):
        if raw.get(key) is not None and not isinstance(raw[key], list):
            raise StudyError(f"{path}: '{key}' must be a list, got {raw[key]!r}")
    for seed in raw.get("seeds") or []:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise StudyError(f"{path}: seeds must be integers, got {seed!r}")
    for group in ("settings", "only", "report_parameters"):
        for name, value in (raw.get(group) or {}).items():
            kind = list if group == "only" else dict
            if value is not None and not isinstance(value, kind):
                what = "a list of methods" if kind is list else "a mapping of parameters"
                raise StudyError(f"{path}: {group}.{name} must be {what}, got {value!r}")


def cell_config(study: Study, setting: str, method: str, seed: int) -> dict[str, Any]:
    """The whole training configuration of one cell, as ``TrainConfig.from_dict`` takes it."""
    return {**study.shared, **study.settings[setting], "method": method, "seed": seed}


def _check_grid(path: Path, study: Study) -> None:
    """Check every key of ``shared`` and the settings, and every cell's configuration."""
    from rsdml.losses import METHODS
    from rsdml.train import TrainConfig

    takes = parameter_names(NOTEBOOKS_DIR / f"{study.notebook}.py")
    missing = [name for name in GRID_PARAMETERS if name not in takes]
    if missing:
        raise StudyError(
            f"{path}: notebook {study.notebook!r} cannot run a grid: its parameters cell lacks "
            f"{missing}; a grid notebook takes {list(GRID_PARAMETERS)} like notebooks/train.py"
        )
    fields = field_names()
    places = {"shared": study.shared, **{f"setting {k!r}": v for k, v in study.settings.items()}}
    for place, values in places.items():
        for key in values:
            if key in GRID_KEYS:
                raise StudyError(
                    f"{path}: {place} sets {key!r}, which the study's '{key}s' list sets for "
                    f"every cell; remove it there and list the {key}s under '{key}s'"
                )
            if key not in fields:
                raise StudyError(
                    f"{path}: {place} has unknown training option {key!r}"
                    f"{closest(str(key), fields)}; any TrainConfig field is accepted: {fields}"
                )
    for setting in study.settings:
        for method in study.only.get(setting, study.methods):
            where = f"{path}: setting {setting!r}, method {method!r}"
            if method not in METHODS:
                raise StudyError(
                    f"{where}: unknown method{closest(method, METHODS)}; "
                    f"available: {', '.join(METHODS)}"
                )
            config = cell_config(study, setting, method, study.seeds[0] if study.seeds else 0)
            try:
                TrainConfig.from_dict(config).validate()
            except ConfigError as error:
                raise StudyError(f"{where}: {error}") from error
            accepted = METHODS[method].defaults
            for name in config.get("loss_params") or {}:
                if name not in accepted:
                    raise StudyError(
                        f"{where}: loss_params has {name!r}{closest(name, accepted)}, which "
                        f"{method} does not take; its parameters: {sorted(accepted)}"
                    )


def _check_report_parameters(path: Path, study: Study) -> None:
    """Check that every report parameter names a notebook and one of its parameters."""
    # a notebook left out of 'report' may keep its parameters (switched off for a while); a
    # misspelt one would be ignored for good
    notebooks = sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.py"))
    for name, parameters in study.report_parameters.items():
        if name not in notebooks:
            raise StudyError(
                f"{path}: report_parameters names {name!r}{closest(name, notebooks)}, which is "
                f"not a notebook (they are {notebooks}); fix or remove it"
            )
        takes = parameter_names(NOTEBOOKS_DIR / f"{name}.py")
        for key in parameters:
            if key in REPORT_RUNNER_PARAMETERS:
                raise StudyError(
                    f"{path}: report_parameters.{name} sets {key!r}, which the runner sets "
                    "(the study folder and --figures); remove it"
                )
            if key not in takes:
                options = [p for p in takes if p not in REPORT_RUNNER_PARAMETERS]
                raise StudyError(
                    f"{path}: report_parameters.{name} has unknown parameter {key!r}"
                    f"{closest(str(key), options)}; notebook {name} takes {options}"
                )


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


def run_cell(
    notebook: Path, cell: Cell, threads: int, kernel: WarmKernel | None = None
) -> dict[str, Any]:
    """Execute one cell, recording success or failure in ``cell.json``; never raises.

    A record that cannot be written (a full disk, a read-only folder) turns the cell into a
    failure whose error says so; the study carries on with its other cells.
    """
    started = time.time()
    # readers (the report) find method, setting and seed at the top of "parameters"
    parameters = {"method": cell.method, "setting": cell.setting, "seed": cell.seed}
    record: dict[str, Any] = {"label": cell.label, "parameters": {**parameters, **cell.parameters}}
    try:
        execute_notebook(
            notebook, cell.folder / "notebook.ipynb", cell.parameters, threads, kernel=kernel
        )
        if not (cell.folder / "metrics.json").exists():
            raise RuntimeError("the notebook finished without writing metrics.json")
        record["status"] = "done"
    except Exception as error:  # a failed cell must not stop the study
        record["status"] = "failed"
        record["error"] = _failure_line(error)
        # papermill's message carries the notebook's own traceback: kept here, not on stderr
        record["traceback"] = f"{error}\n{traceback.format_exc()}"[-8000:]
    record["seconds"] = time.time() - started
    try:
        atomic_write_json(cell.folder / CELL_RECORD, record)
    except OSError as error:
        # without its record the cell is not done (rundir's contract): the next run repeats it
        reason = f"could not write {cell.folder / CELL_RECORD}: {error}"
        record["error"] = f"{record['error']}; {reason}" if "error" in record else reason
        record["status"] = "failed"
        print(f"FAILED {cell.label}: {reason}", file=sys.stderr)
    return record


def _failure_line(error: BaseException, limit: int = 600) -> str:
    """One line naming why a cell failed: the notebook's own exception when papermill raised."""
    name = getattr(error, "ename", None) or type(error).__name__
    value = getattr(error, "evalue", None) if hasattr(error, "ename") else str(error)
    line = " ".join(str(value or "").split())
    return f"{name}: {line}"[:limit] if line else name


# The warm kernel of a worker process, started by its first cell and shut down when the worker
# exits (multiprocessing runs its finalizers then).
_WORKER_KERNEL: WarmKernel | None = None


def _run_cell_in_worker(notebook: Path, cell: Cell, threads: int, warm: bool) -> dict[str, Any]:
    global _WORKER_KERNEL
    if warm and _WORKER_KERNEL is None:
        _WORKER_KERNEL = WarmKernel()
        multiprocessing.util.Finalize(None, _WORKER_KERNEL.close, exitpriority=10)
    return run_cell(notebook, cell, threads, kernel=_WORKER_KERNEL if warm else None)


def run_cells(
    notebook: Path, cells: list[Cell], workers: int, threads: int, warm: bool = True
) -> list[dict[str, Any]]:
    """Run cells in worker processes, with one overall progress bar on stderr.

    With ``warm`` each worker reuses one kernel for all its cells (see :mod:`rsdml.execution`);
    otherwise every cell gets a fresh kernel.
    """
    results = []
    if workers <= 1:
        with WarmKernel() as kernel:
            for cell in progress(cells, desc="study cells", total=len(cells), unit="cell"):
                results.append(run_cell(notebook, cell, threads, kernel=kernel if warm else None))
        return results
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(_run_cell_in_worker, notebook, cell, threads, warm) for cell in cells
        ]
        for future in progress(
            as_completed(futures), desc="study cells", total=len(futures), unit="cell"
        ):
            results.append(future.result())
    return results


# The configuration fields that decide which backbone features a frozen-mode run reads.
FEATURE_PARAMETERS = (
    "dataset",
    "root",
    "dataset_options",
    "mode",
    "backbone",
    "image_size",
    "views",
    "pretrained",
    "weights",
)


def prepare_shared_features(cells: list[Cell]) -> None:
    """Compute the frozen-mode features the cells will read, once each, in this process.

    Cells that share a dataset and backbone read the same cached features. Computed here first
    with every core, they are not extracted by several workers at once on one thread each. A
    failure is only reported: the cells then fail with the same error, each in its record.
    """
    from rsdml.train import prepare_features

    prepared, reported = set(), set()
    for cell in cells:
        key = content_key({k: v for k, v in cell.config.items() if k in FEATURE_PARAMETERS})
        if key in prepared:
            continue
        try:
            # the cell's own configuration, exactly as its notebook will build it
            prepare_features(cell.config)
            prepared.add(key)
        except Exception as error:  # e.g. missing data: the next cell may still succeed
            if key not in reported:
                reported.add(key)
                print(f"could not prepare features for {cell.label}: {error}", file=sys.stderr)


def run_report(study: Study, out: Path, figures: Path) -> list[dict[str, Any]]:
    """Execute the report notebooks over the study folder; they write into ``figures``.

    Each notebook is announced on stderr before it runs and timed after: some take minutes
    (t-SNE and UMAP over every cell) with no other output.
    """
    figures.mkdir(parents=True, exist_ok=True)
    results = []
    for number, name in enumerate(study.report, start=1):
        notebook = notebook_path(name, out)
        print(
            f"report {number}/{len(study.report)}: {name} ({notebook.name}) ...",
            file=sys.stderr,
            flush=True,
        )
        started = time.time()
        output = out / "report" / f"{name}.ipynb"
        parameters = {
            **study.report_parameters.get(name, {}),
            "study_dir": str(out.resolve()),
            "figures_dir": str(figures.resolve()),
        }
        record: dict[str, Any] = {"label": f"report/{name}"}
        try:
            execute_notebook(notebook, output, parameters, threads=max(1, os.cpu_count() or 1))
            record["status"] = "done"
        except Exception as error:
            record["status"] = "failed"
            record["error"] = f"{type(error).__name__}: {error}"[:4000]
        record["seconds"] = time.time() - started
        print(
            f"report {number}/{len(study.report)}: {name} {record['status']} in "
            f"{record['seconds']:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        results.append(record)
    return results


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


# The statuses of cells whose run finished (see plan_study).
FINISHED = ("done", "rerun")


def _cell_status(cell: Cell, rerun: set[Path]) -> str:
    if is_done(cell):
        return "rerun" if cell.folder in rerun else "done"
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
    never finished), the counts, and ``estimated_seconds``: the wall time of the cells to run,
    estimated from the seconds that finished cells recorded (a cell's own time, else the mean
    of its method's finished cells, else of all of them) and shared by ``workers``; None
    (unknown) when no finished cell recorded its time.
    """
    study = load_study(spec)
    out = Path(out or Path("runs") / study.name)
    cells = expand(study, out, device)
    again = {cell.folder for cell in select_cells(cells, rerun)} if rerun else set()
    status = {cell.label: _cell_status(cell, again) for cell in cells}
    seconds = {
        cell.label: recorded_seconds(cell) for cell in cells if status[cell.label] in FINISHED
    }
    known = {label: value for label, value in seconds.items() if value is not None}
    to_run = [cell for cell in cells if status[cell.label] != "done"]
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


def _set_aside(cells: list[Cell], out: Path) -> dict[str, tuple[Cell, Path]]:
    """Move the finished folders of the cells to rerun under ``<out>/replaced/<time>/``.

    The report reads only ``<out>/cells``, so an old result leaves the tables while it is kept;
    :func:`_settle_replaced` deletes it once its cell has finished again, and only then.
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


def _settle_replaced(
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


def run_study(
    spec: str | os.PathLike,
    out: str | os.PathLike | None = None,
    workers: int = 1,
    figures: str | os.PathLike | None = None,
    report: bool = True,
    fresh_kernels: bool = False,
    rerun: list[str] | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Run every pending cell of a study, then its report; returns a summary.

    Cells run in one warm kernel per worker unless ``fresh_kernels`` asks for a new kernel per
    cell (slower; for checking that no state leaks between cells).

    Args:
        rerun: patterns of finished cells to run again (see :func:`cell_matches`; ``"*"``:
            every cell). Their old folders are moved under ``<out>/replaced/`` first, deleted
            once the cell finished again, and kept (the summary's ``kept``) otherwise.
        device: the torch device of every cell (see :func:`expand`); None keeps the study's.

    Raises:
        StudyError: the study file is invalid, a ``rerun`` pattern names no cell, or the study
            folder cannot be written.
    """
    study = load_study(spec)
    out = Path(out or Path("runs") / study.name)
    figures = Path(figures or out / "figures")
    cells = expand(study, out, device)
    again = select_cells(cells, rerun) if rerun else []
    _write_study_file(out / "study.json", {**study.__dict__})
    moved = _set_aside(again, out)
    pending = [cell for cell in cells if not is_done(cell)]
    print(
        f"study {study.name}: {len(cells)} cells, {len(cells) - len(pending)} already done, "
        f"{len(pending)} to run ({len(moved)} again) with {workers} worker(s)",
        file=sys.stderr,
    )
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    if study.notebook == "train" and pending:
        prepare_shared_features(pending)
    results = (
        run_cells(
            notebook_path(study.notebook, out), pending, workers, threads, warm=not fresh_kernels
        )
        if pending
        else []
    )
    kept = _settle_replaced(moved, results)
    failed = [r for r in results if r["status"] != "done"]
    # printed again here, after the progress bar: a long study's failures end up together
    for record in failed:
        print(f"FAILED {record['label']}: {record['error']}", file=sys.stderr)
    if failed:
        print(
            "each failed cell's traceback is in cell.json and notebook.ipynb in its folder "
            f"under {out / 'cells'}",
            file=sys.stderr,
        )
    reports = run_report(study, out, figures) if report else []
    summary = {
        "study": study.name,
        "cells": len(cells),
        "ran": len(results),
        "skipped": len(cells) - len(pending),
        "rerun": sorted(moved),
        "kept": kept,
        "failed": [r["label"] for r in failed],
        "errors": {r["label"]: r["error"] for r in failed},
        "report_failed": [r["label"] for r in reports if r["status"] != "done"],
        "out": str(out),
        "figures": str(figures),
    }
    _write_study_file(out / "summary.json", summary)
    return summary


def _write_study_file(path: Path, data: dict[str, Any]) -> None:
    """Write a study-level JSON file; a disk or permission problem becomes a :class:`StudyError`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, data)
    except OSError as error:
        raise StudyError(
            f"cannot write {path.name} in the study folder {path.parent}: "
            f"{error.strerror or error}; free space there or make it writable, or choose "
            "another folder with --out"
        ) from error


def regenerate_figures(
    out: str | os.PathLike, figures: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Re-run only the report notebooks of an existing study folder (no training)."""
    out = Path(out)
    stored = out / "study.json"
    if not stored.exists():
        raise StudyError(f"{out} is not a study folder (no study.json); run `rsdml study` first")
    study = Study(**read_json(stored, what="the stored study"))
    figures = Path(figures or out / "figures")
    reports = run_report(study, out, figures)
    return {
        "figures": str(figures),
        "report_failed": [r["label"] for r in reports if r["status"] != "done"],
    }
