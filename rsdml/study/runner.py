"""Running a study: the grid's cells through papermill, then the report notebooks.

Each cell runs ``notebooks/<notebook>.py`` in its own folder (see :mod:`rsdml.study.grid`): a
finished cell is skipped, a failed cell is recorded in ``cell.json`` and the others carry on,
and a cell runs only under its lock (:mod:`rsdml.study.locks`). The report notebooks then read
every cell and regenerate the figures and tables (:func:`finish_study`, the same whichever
executor ran the cells: this process pool, or a submitit job array, :mod:`rsdml.study.executors`).
"""

from __future__ import annotations

import multiprocessing.util
import os
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rsdml.cpu_kernels import use_kernels_in_children
from rsdml.execution import WarmKernel, execute_notebook, notebook_path
from rsdml.rundir import CELL_RECORD, CorruptRunFile, read_json
from rsdml.runtime import progress
from rsdml.storage import atomic_write_json, content_key
from rsdml.study.grid import Cell, expand, is_done, select_cells, study_dir
from rsdml.study.locks import CellLock, lock_holder
from rsdml.study.plan import set_aside, settle_replaced
from rsdml.study.spec import Study, StudyError, load_study, stored_study

if TYPE_CHECKING:
    from rsdml.study.executors import ClusterOptions


def run_cell(
    notebook: Path,
    cell: Cell,
    threads: int,
    kernel: WarmKernel | None = None,
    job: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Execute one cell, recording success or failure in ``cell.json``; never raises.

    A record that cannot be written (a full disk, a read-only folder) turns the cell into a
    failure whose error says so; the study carries on with its other cells. ``job`` (the
    scheduler's job id and log file, when a job runs the cell) is kept in the record.
    """
    started = time.time()
    # readers (the report) find method, setting and seed at the top of "parameters"
    parameters = {"method": cell.method, "setting": cell.setting, "seed": cell.seed}
    record: dict[str, Any] = {"label": cell.label, "parameters": {**parameters, **cell.parameters}}
    record.update(job or {})
    try:
        # a cell's notebook is its log, written once at the end: papermill's saves before and
        # after each of its cells cost about 0.1 s a cell, and the run folder keeps the progress
        execute_notebook(
            notebook,
            cell.folder / "notebook.ipynb",
            cell.parameters,
            threads,
            kernel=kernel,
            save_each_cell=False,
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


def run_locked_cell(
    notebook: Path,
    cell: Cell,
    threads: int,
    kernel: WarmKernel | None = None,
    job: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """:func:`run_cell` under the cell's lock (:mod:`rsdml.study.locks`); never runs a cell twice.

    A cell that another process runs right now is left to it (status ``running``, no record
    written); one that finished meanwhile is not run again (status ``done``, ``skipped``). An
    interrupted cell runs again from its run folder's ``last.pt``, as training resumes there.
    """
    lock = CellLock(cell.folder)
    if not lock.acquire():
        holder = lock_holder(cell.folder) or {}
        who = ", ".join(f"{key} {value}" for key, value in holder.items() if value)
        return {
            "label": cell.label,
            "status": "running",
            "error": f"left alone: another process runs it ({who or 'unknown'})",
        }
    try:
        if is_done(cell):
            return {"label": cell.label, "status": "done", "skipped": True}
        return run_cell(notebook, cell, threads, kernel=kernel, job=job)
    finally:
        lock.release()


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
    return run_locked_cell(notebook, cell, threads, kernel=_WORKER_KERNEL if warm else None)


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
                kept = kernel if warm else None
                results.append(run_locked_cell(notebook, cell, threads, kernel=kept))
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


def shares_features(study: Study, cells: list[Cell]) -> bool:
    """Whether some of the cells read frozen-mode features that :func:`prepare_shared_features`
    computes (fine-tuned cells compute everything themselves)."""
    from rsdml.train import TrainConfig

    return study.notebook == "train" and any(
        TrainConfig.from_dict(cell.config).resolved().mode == "frozen" for cell in cells
    )


def run_report(study: Study, out: Path, figures: Path, workers: int = 1) -> list[dict[str, Any]]:
    """Execute the report notebooks over the study folder; they write into ``figures``.

    With ``workers`` > 1 that many notebooks run side by side, each on its share of the cores:
    they write files of their own, and most of their work (t-SNE, UMAP, rankings) runs on one
    thread. Each notebook is announced on stderr when it starts and timed when it ends: some
    take minutes with no other output. Returns one record per notebook, in the study's order.
    """
    figures.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(workers, len(study.report)))
    jobs = [
        (
            f"{number}/{len(study.report)}",
            name,
            notebook_path(name, out),
            out / "report" / f"{name}.ipynb",
            {
                **study.report_parameters.get(name, {}),
                "study_dir": str(out.resolve()),
                "figures_dir": str(figures.resolve()),
            },
            threads_per_worker(workers),
        )
        for number, name in enumerate(study.report, start=1)
    ]
    if workers == 1:
        return [_run_report_notebook(*job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_run_report_notebook, *zip(*jobs, strict=True)))


def _run_report_notebook(
    place: str, name: str, notebook: Path, output: Path, parameters: dict[str, Any], threads: int
) -> dict[str, Any]:
    """Run one report notebook (``place`` is its "i/n" in the report); its record."""
    print(f"report {place}: {name} ({notebook.name}) ...", file=sys.stderr, flush=True)
    started = time.time()
    record: dict[str, Any] = {"label": f"report/{name}"}
    try:
        execute_notebook(notebook, output, parameters, threads=threads)
        record["status"] = "done"
    except Exception as error:
        record["status"] = "failed"
        record["error"] = f"{type(error).__name__}: {error}"[:4000]
    record["seconds"] = time.time() - started
    print(
        f"report {place}: {name} {record['status']} in {record['seconds']:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return record


def threads_per_worker(workers: int) -> int:
    """The threads of each of ``workers`` cells running side by side on this machine's cores."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def run_study(
    spec: str | os.PathLike,
    out: str | os.PathLike | None = None,
    workers: int = 1,
    figures: str | os.PathLike | None = None,
    report: bool = True,
    fresh_kernels: bool = False,
    rerun: list[str] | None = None,
    device: str | None = None,
    executor: str = "local",
    cluster: ClusterOptions | None = None,
) -> dict[str, Any]:
    """Run every pending cell of a study, then its report; returns a summary.

    Cells run in one warm kernel per worker unless ``fresh_kernels`` asks for a new kernel per
    cell (slower; for checking that no state leaks between cells). A cell that another process
    runs right now (its lock is held, see :mod:`rsdml.study.locks`) is left to it.

    Args:
        rerun: patterns of finished cells to run again (see :func:`cell_matches`; ``"*"``:
            every cell). Their old folders are moved under ``<out>/replaced/`` first, deleted
            once the cell finished again, and kept (the summary's ``kept``) otherwise.
        device: the torch device of every cell (see :func:`expand`); None keeps the study's.
        executor: ``local`` (a process pool here), or ``submitit-local`` / ``slurm``: the
            cells as one submitit job array (:mod:`rsdml.study.executors`), shaped by
            ``cluster``. ``slurm`` returns once the jobs are submitted; the report then runs as
            a job after the array.

    Raises:
        StudyError: the study file is invalid, a ``rerun`` pattern names no cell, or the study
            folder cannot be written.
        ExecutorError: the executor cannot run here (submitit or sbatch missing).
    """
    from rsdml.study.executors import ClusterOptions, check_executor, submit_study

    check_executor(executor)
    study = load_study(spec)
    kernels = use_kernels_in_children(study.cpu_kernels)
    out = study_dir(study, out)
    figures = Path(figures or out / "figures")
    cells = expand(study, out, device)
    again = select_cells(cells, rerun) if rerun else []
    _write_study_file(out / "study.json", {**study.__dict__})
    moved = set_aside(again, out)
    pending = [cell for cell in cells if not is_done(cell)]
    busy = [cell.label for cell in pending if lock_holder(cell.folder) is not None]
    pending = [cell for cell in pending if cell.label not in busy]
    where = f"with {workers} worker(s)" if executor == "local" else f"as {executor} jobs"
    print(
        f"study {study.name}: {len(cells)} cells, {len(cells) - len(pending) - len(busy)} "
        f"already done, {len(busy)} running elsewhere, {len(pending)} to run "
        f"({len(moved)} again) {where}, {kernels} CPU kernels",
        file=sys.stderr,
    )
    if executor != "local":
        options = cluster or ClusterOptions()
        return submit_study(
            study, out, figures, cells, pending, moved, busy, report, executor, options, workers
        )
    if study.notebook == "train" and pending:
        prepare_shared_features(pending)
    results = (
        run_cells(
            notebook_path(study.notebook, out),
            pending,
            workers,
            threads_per_worker(workers),
            warm=not fresh_kernels,
        )
        if pending
        else []
    )
    return finish_study(study, out, figures, cells, results, moved, busy, report, workers)


def cell_records(cells: list[Cell]) -> list[dict[str, Any]]:
    """The outcome of cells that jobs ran, read from their folders (a job's own result may be
    lost with the job); a cell without a record did not finish its run."""
    records = []
    for cell in cells:
        try:
            record = read_json(cell.folder / CELL_RECORD, what="the cell record")
        except (OSError, CorruptRunFile):
            holder = lock_holder(cell.folder)
            record = {
                "label": cell.label,
                "status": "running" if holder is not None else "failed",
                "error": "its job ended before the cell did (cancelled, timed out, preempted "
                "or killed); run the study again to resume it from its last checkpoint",
            }
        if record.get("status") == "done" and not is_done(cell):
            record = {**record, "status": "failed", "error": "its run folder is incomplete"}
        records.append({**record, "label": cell.label})
    return records


def finish_study(
    study: Study,
    out: Path,
    figures: Path,
    cells: list[Cell],
    results: list[dict[str, Any]],
    moved: dict[str, tuple[Cell, Path]],
    busy: list[str],
    report: bool,
    workers: int = 1,
) -> dict[str, Any]:
    """After the cells: settle the replaced results, list the failures, run the report (its
    notebooks ``workers`` at a time) and write ``summary.json``; returns the summary (the same
    for every executor)."""
    kept = settle_replaced(moved, results)
    ran = [r for r in results if r["status"] in ("done", "failed") and not r.get("skipped")]
    busy = [*busy, *(r["label"] for r in results if r["status"] == "running")]
    failed = [r for r in ran if r["status"] != "done"]
    # printed again here, after the progress bar: a long study's failures end up together
    for record in failed:
        print(f"FAILED {record['label']}: {record['error']}", file=sys.stderr)
    if failed:
        print(
            "each failed cell's traceback is in cell.json and notebook.ipynb in its folder "
            f"under {out / 'cells'}",
            file=sys.stderr,
        )
    reports = run_report(study, out, figures, workers) if report else []
    summary = {
        "study": study.name,
        "cells": len(cells),
        "ran": len(ran),
        "skipped": len(cells) - len(ran) - len(busy),
        "running": busy,
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
    out: str | os.PathLike, figures: str | os.PathLike | None = None, workers: int = 1
) -> dict[str, Any]:
    """Re-run only the report notebooks of an existing study folder (no training), ``workers``
    notebooks at a time."""
    out = Path(out)
    stored = out / "study.json"
    if not stored.exists():
        raise StudyError(f"{out} is not a study folder (no study.json); run `rsdml study` first")
    study = stored_study(read_json(stored, what="the stored study"))
    use_kernels_in_children(study.cpu_kernels)
    figures = Path(figures or out / "figures")
    reports = run_report(study, out, figures, workers)
    return {
        "figures": str(figures),
        "report_failed": [r["label"] for r in reports if r["status"] != "done"],
    }
