"""The grid as a submitit job array: on a Slurm cluster, or with submitit's LocalExecutor here.

``rsdml study NAME --executor slurm`` submits three kinds of job, each through submitit:

1. one job that computes the frozen features the cells share
   (:func:`~rsdml.study.runner.prepare_shared_features`, as the local runner does first);
2. one job array of the pending cells, ``--cells-per-task`` cells per task run one after the
   other in a warm kernel (:class:`CellTask`), that starts after the features job;
3. one job after the array that reads the cells' records, runs the report notebooks and writes
   ``summary.json`` (:func:`finish_submitted`), as the local runner does after its cells.

``--executor submitit-local`` runs the same jobs, in that order, with submitit's LocalExecutor on
this machine and waits for them (at most ``--array-parallelism`` tasks at a time, else
``--workers``, each with its explicit time limit: submitit's default of 2 minutes would kill a
long cell). The report then runs in this process.

What the study folder keeps: ``jobs.json`` (every submission: its job ids and which cells each
task runs, for ``--status`` and ``--cancel``) and ``logs/`` (submitit's pickles and each task's
stdout and stderr). A cell never runs twice at once (its lock, :mod:`rsdml.study.locks`); a
preempted or timed-out task is requeued by submitit (:meth:`CellTask.checkpoint`), skips its
finished cells and resumes the interrupted one from its ``last.pt``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsdml.errors import UserError
from rsdml.execution import WarmKernel, notebook_path
from rsdml.rundir import read_json
from rsdml.storage import atomic_write_json
from rsdml.study.grid import Cell
from rsdml.study.locks import current_job
from rsdml.study.runner import (
    cell_records,
    finish_study,
    prepare_shared_features,
    run_locked_cell,
    shares_features,
    threads_per_worker,
)
from rsdml.study.spec import Study

EXECUTORS = ("local", "submitit-local", "slurm")
JOBS = "jobs.json"
LOGS = "logs"
# A task's wall-time limit when --slurm-time is not given: long enough for a fine-tuned cell of
# the paper preset on one GPU; a task that runs out is requeued and resumes from last.pt.
DEFAULT_TIME_MIN = 240


class ExecutorError(UserError, RuntimeError):
    """An executor that cannot run here, or an option of it that cannot work."""


# The options that must be positive, by the command-line flag that sets them.
POSITIVE_OPTIONS = {
    "time_min": "--slurm-time",
    "cpus_per_task": "--slurm-cpus-per-task",
    "array_parallelism": "--array-parallelism",
    "cells_per_task": "--cells-per-task",
}


@dataclass
class ClusterOptions:
    """How the cells are cut into tasks and what each task asks Slurm for.

    ``time_min`` is also the submitit-local time limit; ``array_parallelism`` (None: Slurm
    runs as many tasks at once as it can) also caps the submitit-local tasks running at once.
    ``extra`` holds further ``sbatch`` options by their long name (``account``, ``qos``...).
    """

    partition: str | None = None
    time_min: int = DEFAULT_TIME_MIN
    gpus_per_task: int = 1
    cpus_per_task: int | None = None
    mem: str | None = None
    array_parallelism: int | None = None
    cells_per_task: int = 1
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, flag in POSITIVE_OPTIONS.items():
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ExecutorError(f"{flag} must be at least 1, got {value}")
        if self.gpus_per_task < 0:
            raise ExecutorError(
                f"--slurm-gpus-per-task must be 0 or more, got {self.gpus_per_task}"
            )
        if self.mem is not None and not re.fullmatch(r"\d+[KMGT]?", self.mem):
            raise ExecutorError(
                f"--slurm-mem {self.mem!r} is not a memory size as sbatch --mem takes it; give a "
                "number with an optional unit K, M, G or T (e.g. --slurm-mem 32G)"
            )


def parse_slurm_options(pairs: list[str]) -> dict[str, str]:
    """``["account=geo", "qos=high"]`` as ``{"account": "geo", "qos": "high"}``.

    Raises:
        ExecutorError: an item that is not ``KEY=VALUE`` with a key of letters, digits and
            dashes (sbatch's long option names).
    """
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lstrip("-")
        if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key):
            raise ExecutorError(
                f"--slurm-option {pair!r} is not KEY=VALUE with KEY an sbatch option's long name; "
                "write e.g. --slurm-option account=mylab --slurm-option qos=normal"
            )
        options[key] = value.strip()
    return options


def check_executor(kind: str) -> None:
    """Refuse an executor that cannot run here, before anything is written.

    Raises:
        ExecutorError: an unknown executor, submitit not installed, or for ``slurm`` no
            ``sbatch``/``srun`` on PATH.
    """
    if kind not in EXECUTORS:
        raise ExecutorError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
    if kind == "local":
        return
    try:
        import submitit  # noqa: F401
    except ImportError as error:
        raise ExecutorError(
            f"--executor {kind} needs submitit, which is not installed in this environment; "
            "install it with `pip install submitit` (or `make venv`), or use --executor local"
        ) from error
    if kind == "slurm":
        missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
        if missing:
            raise ExecutorError(
                f"--executor slurm needs Slurm's {' and '.join(missing)} on PATH, and "
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not there: run "
                "the command on the cluster's login node (or load its Slurm module), or use "
                "--executor submitit-local on this machine"
            )


def slurm_parameters(
    options: ClusterOptions, name: str, dependency: str | None = None, gpus: bool = True
) -> dict[str, Any]:
    """The parameters of submitit's SlurmExecutor for one job (or array) of a study."""
    parameters: dict[str, Any] = {"job_name": name, "time": options.time_min}
    if options.partition:
        parameters["partition"] = options.partition
    if gpus and options.gpus_per_task:
        parameters["gpus_per_task"] = options.gpus_per_task
    if options.cpus_per_task:
        parameters["cpus_per_task"] = options.cpus_per_task
    if options.mem:
        parameters["mem"] = options.mem
    if options.array_parallelism:
        parameters["array_parallelism"] = options.array_parallelism
    if dependency:
        parameters["dependency"] = dependency
    if options.extra:
        parameters["additional_parameters"] = dict(options.extra)
    return parameters


def make_executor(
    kind: str,
    folder: Path,
    options: ClusterOptions,
    name: str,
    dependency: str | None = None,
    gpus: bool = True,
) -> Any:
    """A submitit executor writing into ``folder``: SlurmExecutor or LocalExecutor."""
    import submitit

    if kind == "slurm":
        executor = submitit.SlurmExecutor(folder=folder)
        executor.update_parameters(**slurm_parameters(options, name, dependency, gpus))
        return executor
    executor = submitit.LocalExecutor(folder=folder)
    executor.update_parameters(timeout_min=options.time_min, **_local_gpus())
    return executor


def _local_gpus() -> dict[str, Any]:
    """LocalExecutor parameters that leave a task the GPUs this process sees.

    LocalExecutor sets ``CUDA_VISIBLE_DEVICES`` to the GPUs it is given (none by default, which
    would hide every GPU from the cells); the local runner's cells see them all, so do these.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [item.strip() for item in visible.split(",") if item.strip()]
        if all(item.isdigit() for item in ids):
            return {"gpus_per_node": len(ids), "visible_gpus": [int(item) for item in ids]}
    import torch

    return {"gpus_per_node": torch.cuda.device_count()}


class CellTask:
    """One task of the array: its cells one after the other in one warm kernel.

    submitit calls :meth:`checkpoint` when the task is preempted or reaches its time limit and
    requeues the task with what it returns: the same cells, of which the finished ones are then
    skipped and the interrupted one resumes from its ``last.pt``.
    """

    def __init__(self, notebook: Path, cells: list[Cell], threads: int | None) -> None:
        self.notebook = notebook
        self.cells = cells
        self.threads = threads

    def __call__(self) -> list[dict[str, Any]]:
        # on a cluster node: the cores Slurm gave this task, not the whole node's
        threads = self.threads or len(os.sched_getaffinity(0))
        job = {"job": current_job(), "log": _task_log()}
        with WarmKernel() as kernel:
            return [
                run_locked_cell(self.notebook, cell, threads, kernel=kernel, job=job)
                for cell in self.cells
            ]

    def checkpoint(self) -> Any:
        """What submitit requeues after a preemption or a timeout: this same task."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self)


def _task_log() -> str | None:
    """The stderr log of the submitit task running this process, if any."""
    try:
        import submitit

        return str(submitit.JobEnvironment().paths.stderr)
    except Exception:  # not inside a submitit job
        return None


def finish_submitted(
    study: Study,
    out: Path,
    figures: Path,
    cells: list[Cell],
    pending: list[Cell],
    moved: dict[str, tuple[Cell, Path]],
    busy: list[str],
    report: bool,
) -> dict[str, Any]:
    """After the array: the cells' records read from their folders, then what the local
    runner does after its cells (:func:`~rsdml.study.runner.finish_study`)."""
    return finish_study(study, out, figures, cells, cell_records(pending), moved, busy, report)


def read_submissions(out: str | os.PathLike) -> list[dict[str, Any]]:
    """Every submission of a study recorded in ``<out>/jobs.json``, oldest first."""
    path = Path(out) / JOBS
    return read_json(path, what="the study's job record") if path.is_file() else []


def _record(out: Path, submission: dict[str, Any]) -> None:
    """Add or update (by its ``submitted`` time) a submission in ``<out>/jobs.json``."""
    others = [s for s in read_submissions(out) if s["submitted"] != submission["submitted"]]
    atomic_write_json(out / JOBS, [*others, submission])


def job_ids(submission: dict[str, Any]) -> list[str]:
    """The ids of a submission's jobs: the features job, every task, the report job."""
    ids = [submission.get("features"), *(t["job"] for t in submission["tasks"])]
    return [str(i) for i in [*ids, submission.get("finish")] if i]


def active_jobs(submission: dict[str, Any]) -> set[str]:
    """The ids of a submission's jobs that still wait or run (Slurm: from squeue; local: the
    controller process is alive); empty when that cannot be told."""
    ids = job_ids(submission)
    if submission["executor"] != "slurm":
        return {i for i in ids if _local_controller(i) is not None}
    if not ids or shutil.which("squeue") is None:
        return set()
    bases = sorted({i.split("_")[0] for i in ids})
    done = subprocess.run(
        ["squeue", "--noheader", "--array", "--format", "%i", "--jobs", ",".join(bases)],
        capture_output=True,
        text=True,
        check=False,
    )
    listed = {line.strip() for line in done.stdout.splitlines() if line.strip()}
    return {i for i in ids if i in listed}


def queued_cells(out: Path) -> dict[str, str]:
    """The cells that a still active task of an earlier submission will run: label -> job id."""
    queued = {}
    for submission in read_submissions(out):
        if submission.get("cancelled"):
            continue
        active = active_jobs(submission)
        for task in submission["tasks"]:
            if str(task["job"]) in active:
                queued.update({label: str(task["job"]) for label in task["cells"]})
    return queued


def _local_controller(job_id: str) -> int | None:
    """The pid of a live submitit LocalExecutor controller with this job id, else None.

    The pid is checked to run submitit's controller, so a recycled pid is never signalled.
    """
    if not job_id.isdigit():
        return None
    try:
        command = Path(f"/proc/{job_id}/cmdline").read_bytes()
    except OSError:
        return None
    return int(job_id) if b"submitit.local._local" in command else None


# How long an interrupted submitit-local controller gets to stop its tasks and exit.
CONTROLLER_GRACE_S = 5.0


def _child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a controller's tasks), from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if fields[1] == str(pid):
            children.append(int(stat.parent.name))
    return children


def _stop_local_controllers(pids: list[int], grace_s: float = CONTROLLER_GRACE_S) -> None:
    """Interrupt submitit-local controllers; kill those still running after ``grace_s``.

    SIGINT is what submitit's own ``LocalJob.cancel`` sends: the controller stops its tasks and
    exits. A controller started from a background shell (``nohup ... &``) inherits SIGINT
    ignored and never sees it; its tasks are then killed, and it with them.
    """
    for pid in pids:
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + grace_s
    running = list(pids)
    while running and time.monotonic() < deadline:
        time.sleep(0.1)
        # an exited controller is gone or a zombie (empty cmdline): no longer found
        running = [pid for pid in running if _local_controller(str(pid)) is not None]
    for pid in running:
        for victim in [*_child_pids(pid), pid]:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass


def submit_study(
    study: Study,
    out: Path,
    figures: Path,
    cells: list[Cell],
    pending: list[Cell],
    moved: dict[str, tuple[Cell, Path]],
    busy: list[str],
    report: bool,
    kind: str,
    options: ClusterOptions,
    workers: int,
) -> dict[str, Any]:
    """Submit the pending cells (and the features and report jobs) with ``kind``'s executor.

    ``submitit-local`` waits for the jobs and returns :func:`finish_study`'s summary; ``slurm``
    returns at once with the job ids, the report following as a dependent job. Cells that a
    still active task of an earlier submission will run are not submitted again.
    """
    queued = queued_cells(out)
    pending = [cell for cell in pending if cell.label not in queued]
    notebook = notebook_path(study.notebook, out)
    logs = out / LOGS
    submission: dict[str, Any] = {
        "executor": kind,
        "submitted": time.strftime("%Y-%m-%dT%H:%M:%S") + f".{time.time_ns() % 10**9:09d}",
        "logs": str(logs),
        "features": None,
        "tasks": [],
        "finish": None,
    }
    step = options.cells_per_task
    groups = [pending[i : i + step] for i in range(0, len(pending), step)]
    features = shares_features(study, pending)
    if kind == "slurm":
        return _submit_to_slurm(
            study, out, figures, cells, pending, moved, busy, report, options, groups, features,
            notebook, submission, queued,
        )  # fmt: skip
    parallel = options.array_parallelism or workers
    threads = threads_per_worker(parallel)
    try:
        if features:
            executor = make_executor(kind, logs, options, f"{study.name}-features")
            job = executor.submit(prepare_shared_features, pending)
            submission["features"] = job.job_id
            _record(out, submission)
            _wait([job])
        _run_local_array(kind, out, logs, options, groups, notebook, threads, parallel, submission)
    except KeyboardInterrupt:
        cancel_study(out)
        raise
    return finish_submitted(study, out, figures, cells, pending, moved, busy, report)


def _run_local_array(
    kind: str,
    out: Path,
    logs: Path,
    options: ClusterOptions,
    groups: list[list[Cell]],
    notebook: Path,
    threads: int,
    parallel: int,
    submission: dict[str, Any],
) -> None:
    """The array's tasks with LocalExecutor, ``parallel`` at a time, as Slurm's ``%N`` would."""
    executor = make_executor(kind, logs, options, "cells")
    waiting, running, finished = list(groups), [], 0
    while waiting or running:
        while waiting and len(running) < parallel:
            group = waiting.pop(0)
            job = executor.submit(CellTask(notebook, group, threads))
            submission["tasks"].append({"job": job.job_id, "cells": [c.label for c in group]})
            _record(out, submission)
            running.append(job)
        time.sleep(0.5)
        for job in [job for job in running if job.done()]:
            running.remove(job)
            finished += 1
            print(f"task {finished}/{len(groups)} ended (job {job.job_id})", file=sys.stderr)


def _wait(jobs: list[Any]) -> None:
    while not all(job.done() for job in jobs):
        time.sleep(0.5)


def _submit_to_slurm(
    study: Study,
    out: Path,
    figures: Path,
    cells: list[Cell],
    pending: list[Cell],
    moved: dict[str, tuple[Cell, Path]],
    busy: list[str],
    report: bool,
    options: ClusterOptions,
    groups: list[list[Cell]],
    features: bool,
    notebook: Path,
    submission: dict[str, Any],
    queued: dict[str, str],
) -> dict[str, Any]:
    logs = out / LOGS
    name = f"rsdml-{study.name}"
    after = None
    if features:
        executor = make_executor("slurm", logs, options, f"{name}-features")
        submission["features"] = executor.submit(prepare_shared_features, pending).job_id
        after = f"afterany:{submission['features']}"
        _record(out, submission)
    array_id = None
    if groups:
        executor = make_executor("slurm", logs, options, f"{name}-cells", dependency=after)
        # the threads of a task are the cores Slurm gives it (CellTask reads them there)
        jobs = executor.submit_array([CellTask(notebook, group, None) for group in groups])
        for job, group in zip(jobs, groups, strict=True):
            submission["tasks"].append({"job": job.job_id, "cells": [c.label for c in group]})
        array_id = jobs[0].job_id.split("_")[0]
        _record(out, submission)
    # afterany: the report also runs when some cells failed, as the local runner's does
    executor = make_executor(
        "slurm",
        logs,
        options,
        f"{name}-report",
        dependency=f"afterany:{array_id}" if array_id else None,
        gpus=False,
    )
    submission["finish"] = executor.submit(
        finish_submitted, study, out, figures, cells, pending, moved, busy, report
    ).job_id
    _record(out, submission)
    return {
        "study": study.name,
        "executor": "slurm",
        "cells": len(cells),
        "submitted": len(pending),
        "tasks": len(groups),
        "running": busy,
        "queued": sorted(queued),
        "skipped": len(cells) - len(pending) - len(busy) - len(queued),
        "jobs": {
            "features": submission["features"],
            "array": array_id,
            "report": submission["finish"],
        },  # fmt: skip
        "logs": str(logs),
        "failed": [],
        "report_failed": [],
        "out": str(out),
        "figures": str(figures),
    }


def cancel_study(out: str | os.PathLike) -> dict[str, Any]:
    """Cancel every job of the study recorded in ``<out>/jobs.json``; returns their ids.

    Slurm jobs through ``scancel``; a submitit-local job by interrupting its controller, which
    stops its task (what submitit's own ``LocalJob.cancel`` does), or, if it is still running a
    few seconds later, by killing its task and it.

    Raises:
        ExecutorError: Slurm jobs to cancel and no ``scancel`` on PATH.
    """
    out = Path(out)
    submissions = read_submissions(out)
    cancelled: list[str] = []
    controllers: list[int] = []
    for submission in submissions:
        if submission.get("cancelled"):
            continue
        ids = job_ids(submission)
        if submission["executor"] == "slurm":
            if shutil.which("scancel") is None:
                raise ExecutorError(
                    "cannot cancel the study's Slurm jobs: scancel is not on PATH; run "
                    f"--cancel on the cluster's login node, or `scancel {' '.join(ids)}` there"
                )
            bases = sorted({i.split("_")[0] for i in ids})
            subprocess.run(["scancel", *bases], check=False)
            cancelled += bases
        else:
            for job_id in ids:
                pid = _local_controller(job_id)
                if pid is not None:
                    controllers.append(pid)
                    cancelled.append(job_id)
        submission["cancelled"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    _stop_local_controllers(controllers)
    if submissions:
        atomic_write_json(out / JOBS, submissions)
    return {"out": str(out), "cancelled": cancelled}
