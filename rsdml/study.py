"""The study runner: a grid of notebook executions, then the report notebooks.

A study is a YAML file (or the name of a preset in ``rsdml/studies/``)::

    name: quick
    notebook: train              # notebooks/train.py, run once per grid cell
    shared: {dataset: synthetic, mode: frozen, epochs: 30}
    methods: [nsl, arcface, trnsl]
    seeds: [0, 1]
    settings:                    # named settings: parameter overrides
      clean: {}
      uniform-0.5: {noise: uniform, noise_rate: 0.5}
    only: {uniform-0.5: [nsl, trnsl]}   # optional: restrict a setting to some methods
    report: [results, embeddings, rank_analysis, data_overview]
    report_parameters: {embeddings: {noisy_setting: uniform-0.5}}   # optional overrides

Each cell (method x setting x seed) runs ``notebooks/<notebook>.py`` through papermill in its own
folder ``<out>/cells/<method>/<setting>/seed<k>-<hash>``, keyed by a hash of its parameters:
a cell whose folder already holds a finished ``metrics.json`` is skipped, a failed cell is
recorded in ``cell.json`` and the others carry on. The report notebooks then read every cell
and regenerate the figures and tables.
"""

from __future__ import annotations

import json
import multiprocessing.util
import os
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rsdml.execution import NOTEBOOKS_DIR, WarmKernel, execute_notebook, notebook_path
from rsdml.runtime import progress
from rsdml.storage import atomic_write_json, content_key

PRESETS_DIR = Path(__file__).with_name("studies")


class StudyError(ValueError):
    """A study file that cannot be run as written."""


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
    parameters: dict[str, Any]
    folder: Path

    @property
    def label(self) -> str:
        """Human-readable name of the cell."""
        return f"{self.method}/{self.setting}/seed{self.seed}"


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
        raise StudyError(f"{path}: unknown key(s) {unknown}; known keys: {sorted(known)}")
    for required in ("methods", "settings"):
        if not raw.get(required):
            raise StudyError(f"{path}: '{required}' is missing or empty")
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
    return study


def expand(study: Study, out: str | os.PathLike) -> list[Cell]:
    """Every cell of the grid, with its parameters and folder."""
    cells = []
    for setting, overrides in study.settings.items():
        methods = study.only.get(setting, study.methods)
        for method in methods:
            for seed in study.seeds:
                parameters = {**study.shared, **overrides, "method": method, "seed": seed}
                key = content_key(study.notebook, parameters)
                folder = Path(out) / "cells" / method / setting / f"seed{seed}-{key[:10]}"
                parameters = {**parameters, "setting": setting, "out_dir": str(folder.resolve())}
                cells.append(Cell(method, setting, seed, parameters, folder))
    return cells


def is_done(cell: Cell) -> bool:
    """A cell is done when its record says so and its metrics exist."""
    record = cell.folder / "cell.json"
    if not record.exists() or not (cell.folder / "metrics.json").exists():
        return False
    return json.loads(record.read_text()).get("status") == "done"


def run_cell(
    notebook: Path, cell: Cell, threads: int, kernel: WarmKernel | None = None
) -> dict[str, Any]:
    """Execute one cell, recording success or failure in ``cell.json``; never raises."""
    started = time.time()
    record: dict[str, Any] = {"label": cell.label, "parameters": cell.parameters}
    try:
        execute_notebook(
            notebook, cell.folder / "notebook.ipynb", cell.parameters, threads, kernel=kernel
        )
        if not (cell.folder / "metrics.json").exists():
            raise RuntimeError("the notebook finished without writing metrics.json")
        record["status"] = "done"
    except Exception as error:  # a failed cell must not stop the study
        record["status"] = "failed"
        record["error"] = f"{type(error).__name__}: {error}"[:4000]
        record["traceback"] = traceback.format_exc()[-8000:]
    record["seconds"] = time.time() - started
    atomic_write_json(cell.folder / "cell.json", record)
    return record


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


# The train notebook's parameters that decide which backbone features a frozen-mode run reads.
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
    from rsdml.train import TrainConfig, prepare_features

    fields = set(TrainConfig.__dataclass_fields__)
    prepared, reported = set(), set()
    for cell in cells:
        key = content_key({k: v for k, v in cell.parameters.items() if k in FEATURE_PARAMETERS})
        if key in prepared:
            continue
        try:
            prepare_features({k: v for k, v in cell.parameters.items() if k in fields})
            prepared.add(key)
        except Exception as error:  # e.g. an unknown method: the next cell may still succeed
            if key not in reported:
                reported.add(key)
                print(f"could not prepare features for {cell.label}: {error}", file=sys.stderr)


def run_report(study: Study, out: Path, figures: Path) -> list[dict[str, Any]]:
    """Execute the report notebooks over the study folder; they write into ``figures``."""
    figures.mkdir(parents=True, exist_ok=True)
    results = []
    for name in study.report:
        notebook = notebook_path(name, out)
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
        print(f"report {name}: {record['status']} in {record['seconds']:.0f} s", file=sys.stderr)
        results.append(record)
    return results


def run_study(
    spec: str | os.PathLike,
    out: str | os.PathLike | None = None,
    workers: int = 1,
    figures: str | os.PathLike | None = None,
    report: bool = True,
    fresh_kernels: bool = False,
) -> dict[str, Any]:
    """Run every pending cell of a study, then its report; returns a summary.

    Cells run in one warm kernel per worker unless ``fresh_kernels`` asks for a new kernel per
    cell (slower; for checking that no state leaks between cells).
    """
    study = load_study(spec)
    out = Path(out or Path("runs") / study.name)
    figures = Path(figures or out / "figures")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "study.json", {**study.__dict__})
    cells = expand(study, out)
    pending = [cell for cell in cells if not is_done(cell)]
    print(
        f"study {study.name}: {len(cells)} cells, {len(cells) - len(pending)} already done, "
        f"{len(pending)} to run with {workers} worker(s)",
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
    failed = [r for r in results if r["status"] != "done"]
    for record in failed:
        print(f"FAILED {record['label']}: {record['error']}", file=sys.stderr)
    reports = run_report(study, out, figures) if report else []
    summary = {
        "study": study.name,
        "cells": len(cells),
        "ran": len(results),
        "skipped": len(cells) - len(pending),
        "failed": [r["label"] for r in failed],
        "report_failed": [r["label"] for r in reports if r["status"] != "done"],
        "out": str(out),
        "figures": str(figures),
    }
    atomic_write_json(out / "summary.json", summary)
    return summary


def regenerate_figures(
    out: str | os.PathLike, figures: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Re-run only the report notebooks of an existing study folder (no training)."""
    out = Path(out)
    stored = out / "study.json"
    if not stored.exists():
        raise StudyError(f"{out} is not a study folder (no study.json); run `rsdml study` first")
    study = Study(**json.loads(stored.read_text()))
    figures = Path(figures or out / "figures")
    reports = run_report(study, out, figures)
    return {
        "figures": str(figures),
        "report_failed": [r["label"] for r in reports if r["status"] != "done"],
    }


def collect_metrics(study_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """One record per finished cell: method, setting, seed, and its test metrics."""
    records = []
    for path in sorted(Path(study_dir).glob("cells/*/*/*/metrics.json")):
        record_path = path.parent / "cell.json"
        if record_path.exists() and json.loads(record_path.read_text()).get("status") != "done":
            continue
        metrics = json.loads(path.read_text())
        parameters = (
            json.loads(record_path.read_text())["parameters"] if record_path.exists() else {}
        )
        records.append(
            {
                "method": parameters.get("method", metrics["config"]["method"]),
                "setting": parameters.get("setting", "default"),
                "seed": metrics["config"]["seed"],
                "folder": str(path.parent),
                **metrics["test"],
            }
        )
    return records
