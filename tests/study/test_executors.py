"""The grid as a submitit job array: what a Slurm submission holds (sbatch faked on PATH), the
resubmission of only what is not done, --cancel, the errors, and a small study run with
submitit's LocalExecutor giving the local executor's tables byte for byte."""

from __future__ import annotations

import json
import pickle
import re
import sys
from pathlib import Path

import pytest
import yaml

from rsdml.cli import main
from rsdml.rundir import FINAL_WRITE_ORDER
from rsdml.study import ClusterOptions, ExecutorError, expand, load_study, run_study
from rsdml.study.executors import CellTask, parse_slurm_options, slurm_parameters

STUDY = {
    "name": "three",
    "notebook": "train",
    "shared": {"dataset": "synthetic", "epochs": 1},
    "methods": ["nsl"],
    "seeds": [0, 1, 2],
    "settings": {"clean": {}},
}

# sbatch keeps a copy of each submission file and answers with the next job id; squeue lists
# the ids in $FAKE_SLURM/queue; scancel writes down what it was asked to cancel.
FAKE_TOOLS = {
    "sbatch": 'n=$(($(cat "$FAKE_SLURM/count" 2>/dev/null || echo 1000) + 1))\n'
    'echo $n > "$FAKE_SLURM/count"\ncp "$1" "$FAKE_SLURM/job$n.sh"\n'
    'echo "Submitted batch job $n"\n',
    "srun": "exit 0\n",
    "squeue": 'cat "$FAKE_SLURM/queue" 2>/dev/null || true\n',
    "scancel": 'echo "$@" >> "$FAKE_SLURM/scancel"\n',
}


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """Slurm's commands on PATH as small scripts; returns the folder they write into."""
    bin_dir, record = tmp_path / "bin", tmp_path / "slurm"
    bin_dir.mkdir()
    record.mkdir()
    for name, body in FAKE_TOOLS.items():
        script = bin_dir / name
        script.write_text("#!/bin/sh\n" + body)
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_SLURM", str(record))
    return record


def sbatch_lines(path: Path) -> set[str]:
    return {line for line in path.read_text().splitlines() if line.startswith("#SBATCH")}


def submitted_cells(out: Path, job: str) -> list[str]:
    """The cells of a submitted task, from the pickle submitit hands the task."""
    with open(out / "logs" / f"{job}_submitted.pkl", "rb") as file:
        task = pickle.load(file).function
    assert isinstance(task, CellTask)
    return [cell.label for cell in task.cells]


SLURM_FLAGS = [
    "--executor", "slurm", "--slurm-partition", "gpu", "--slurm-time", "90",
    "--slurm-gpus-per-task", "1", "--slurm-cpus-per-task", "8", "--slurm-mem", "32G",
    "--array-parallelism", "4", "--cells-per-task", "2",
    "--slurm-option", "account=geo", "--slurm-option", "qos=high",
]  # fmt: skip


def test_slurm_gets_a_features_job_an_array_after_it_and_a_report_after_the_array(
    tmp_path, fake_slurm, capsys
):
    spec, out = tmp_path / "three.yaml", tmp_path / "out"
    spec.write_text(yaml.safe_dump(STUDY))
    assert main(["study", str(spec), "--out", str(out), *SLURM_FLAGS]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["jobs"] == {"features": "1001", "array": "1002", "report": "1003"}
    assert (summary["submitted"], summary["tasks"]) == (3, 2)
    shared = {
        "#SBATCH --partition=gpu",
        "#SBATCH --time=90",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=32G",
        "#SBATCH --account=geo",
        "#SBATCH --qos=high",
    }
    features, array, report = (sbatch_lines(fake_slurm / f"job{n}.sh") for n in (1001, 1002, 1003))
    assert (
        shared | {"#SBATCH --gpus-per-task=1", "#SBATCH --job-name=rsdml-three-features"}
        <= features
    )
    assert not any("--array" in line or "--dependency" in line for line in features)
    assert (
        shared
        | {
            "#SBATCH --gpus-per-task=1",
            "#SBATCH --array=0-1%2",
            "#SBATCH --dependency=afterany:1001",
        }
        <= array
    )
    assert shared | {"#SBATCH --dependency=afterany:1002"} <= report
    assert not any("gpus" in line for line in report)
    # two cells in the first task, one in the second, as jobs.json records
    tasks = json.loads((out / "jobs.json").read_text())[0]["tasks"]
    assert [task["job"] for task in tasks] == ["1002_0", "1002_1"]
    assert submitted_cells(out, "1002_0") == ["nsl/clean/seed0", "nsl/clean/seed1"]
    assert submitted_cells(out, "1002_1") == tasks[1]["cells"] == ["nsl/clean/seed2"]


def test_a_second_submission_skips_done_and_queued_cells_and_cancel_stops_the_jobs(
    tmp_path, fake_slurm, capsys
):
    spec, out = tmp_path / "three.yaml", tmp_path / "out"
    spec.write_text(yaml.safe_dump(STUDY))
    argv = ["study", str(spec), "--out", str(out), "--executor", "slurm", "--no-report"]
    assert main(argv) == 0
    done, failed, queued = expand(load_study(spec), out)
    done.folder.mkdir(parents=True)
    for name in FINAL_WRITE_ORDER:
        (done.folder / name).write_text("{}")
    (done.folder / "cell.json").write_text(json.dumps({"status": "done"}))
    failed.folder.mkdir(parents=True)
    (failed.folder / "cell.json").write_text(json.dumps({"status": "failed", "error": "x"}))
    (fake_slurm / "queue").write_text("1002_2\n")  # seed2's task waits in the queue still
    capsys.readouterr()
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["submitted"], summary["queued"], summary["skipped"]) == (1, [queued.label], 1)
    # one cell: a single job, not an array
    assert summary["jobs"]["array"] == "1005"
    assert submitted_cells(out, "1005") == [failed.label]
    assert main(["study", str(spec), "--out", str(out), "--cancel"]) == 0
    assert (fake_slurm / "scancel").read_text().split() == [
        "1001",
        "1002",
        "1003",
        "1004",
        "1005",
        "1006",
    ]
    submissions = json.loads((out / "jobs.json").read_text())
    assert all(submission["cancelled"] for submission in submissions)


def test_fine_tuned_cells_get_no_features_job(tmp_path, fake_slurm, capsys):
    spec, out = tmp_path / "tuned.yaml", tmp_path / "out"
    spec.write_text(yaml.safe_dump({**STUDY, "shared": {**STUDY["shared"], "mode": "finetune"}}))
    assert main(["study", str(spec), "--out", str(out), "--executor", "slurm"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["jobs"] == {"features": None, "array": "1001", "report": "1002"}
    assert not any("--dependency" in line for line in sbatch_lines(fake_slurm / "job1001.sh"))


def test_slurm_parameters_follow_the_options():
    options = ClusterOptions(time_min=30, gpus_per_task=2, extra={"constraint": "a100"})
    assert slurm_parameters(options, "n", dependency="afterany:5") == {
        "job_name": "n",
        "time": 30,
        "gpus_per_task": 2,
        "dependency": "afterany:5",
        "additional_parameters": {"constraint": "a100"},
    }
    assert "gpus_per_task" not in slurm_parameters(options, "n", gpus=False)


def test_a_task_is_requeued_as_itself(tmp_path):
    task = CellTask(tmp_path / "train.ipynb", [], threads=None)
    assert task.checkpoint().function is task


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--executor", "slurm"], r"needs Slurm's sbatch and srun on PATH.*submitit-local"),
        (["--executor", "slurm", "--slurm-option", "exclusive"], "is not KEY=VALUE"),
        (["--executor", "slurm", "--slurm-mem", "lots"], "--slurm-mem 32G"),
        (["--executor", "submitit-local", "--cells-per-task", "0"], "--cells-per-task must be"),
    ],
)
def test_an_executor_that_cannot_run_is_explained_before_anything_is_written(
    tmp_path, monkeypatch, capsys, argv, message
):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch, no srun
    spec, out = tmp_path / "three.yaml", tmp_path / "out"
    spec.write_text(yaml.safe_dump(STUDY))
    assert main(["study", str(spec), "--out", str(out), *argv]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()


def test_without_submitit_the_error_names_the_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)
    spec = tmp_path / "three.yaml"
    spec.write_text(yaml.safe_dump(STUDY))
    with pytest.raises(ExecutorError, match="pip install submitit"):
        run_study(spec, out=tmp_path / "out", executor="submitit-local")
    assert not (tmp_path / "out").exists()


def test_slurm_options_are_key_value_pairs():
    assert parse_slurm_options(["account=geo", "--qos=high", "comment=a=b"]) == {
        "account": "geo",
        "qos": "high",
        "comment": "a=b",
    }
    with pytest.raises(ExecutorError, match="account=mylab"):
        parse_slurm_options(["=x"])


SMALL = {
    "name": "small",
    "notebook": "train",
    "shared": {
        "dataset": "synthetic",
        "dataset_options": {"num_classes": 4, "images_per_class": 20, "image_size": 48},
        "image_size": 64,
        "epochs": 2,
        "batch_size": 32,
        "views": ["plain"],
    },
    "methods": ["nsl", "trnsl"],
    "seeds": [0],
    "settings": {"clean": {}},
    "report": ["results"],
}


def test_submitit_local_writes_the_local_executors_tables_byte_for_byte(
    tmp_path, monkeypatch, capsys
):
    spec = tmp_path / "small.yaml"
    spec.write_text(yaml.safe_dump(SMALL))
    # the jobs inherit the environment: the cache is private to the test, shared by both runs
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path / "cache"))
    local = run_study(spec, out=tmp_path / "local", workers=1)
    argv = ["study", str(spec), "--out", str(tmp_path / "jobs"), "--executor", "submitit-local",
            "--array-parallelism", "1", "--cells-per-task", "2"]  # fmt: skip
    assert main(argv) == 0
    jobs = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert local["failed"] == jobs["failed"] == [] and jobs["ran"] == 2
    assert jobs["report_failed"] == local["report_failed"] == []
    figures = sorted(path.name for path in (tmp_path / "local" / "figures").iterdir())
    assert "results.csv" in figures and "results.md" in figures
    assert sorted(path.name for path in (tmp_path / "jobs" / "figures").iterdir()) == figures
    for name in figures:
        expected = (tmp_path / "local" / "figures" / name).read_bytes()
        assert (tmp_path / "jobs" / "figures" / name).read_bytes() == expected, name
    # one task ran both cells; each record names it and its log, which is in the study folder
    [submission] = json.loads((tmp_path / "jobs" / "jobs.json").read_text())
    [task] = submission["tasks"]
    for record_path in (tmp_path / "jobs").glob("cells/*/*/*/cell.json"):
        record = json.loads(record_path.read_text())
        assert record["job"] == task["job"]
        assert Path(record["log"]).is_relative_to(tmp_path / "jobs" / "logs")
        assert Path(record["log"]).is_file()
    assert main(["study", str(spec), "--out", str(tmp_path / "jobs"), "--status"]) == 0
    status = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (status["done"], status["pending"], status["running"], status["failed"]) == (2, 0, 0, 0)


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_cancel_interrupts_a_submitit_local_job_and_no_other_process(tmp_path, sigint):
    import os
    import signal
    import time

    import submitit

    from rsdml.study import cancel_study

    executor = submitit.LocalExecutor(folder=tmp_path / "logs")
    executor.update_parameters(timeout_min=5)
    # A study submitted from a background shell (`nohup rsdml study ... &`) hands its jobs SIGINT
    # ignored: the controller never sees the interrupt and must be stopped another way.
    previous = signal.getsignal(signal.SIGINT)
    if sigint == "ignored":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        job = executor.submit(time.sleep, 120)
    finally:
        signal.signal(signal.SIGINT, previous)
    tasks = [{"job": job.job_id, "cells": ["a"]}, {"job": str(os.getpid()), "cells": ["b"]}]
    submission = {"executor": "submitit-local", "submitted": "now", "tasks": tasks}
    (tmp_path / "jobs.json").write_text(json.dumps([submission]))
    try:
        deadline = time.time() + 30
        command = Path(f"/proc/{job.job_id}/cmdline")
        while b"submitit.local._local" not in command.read_bytes() and time.time() < deadline:
            time.sleep(0.1)  # the controller process is starting (forked, not yet exec'd)
        # this test's own pid is recorded too, but it is not a submitit controller: left alone
        assert cancel_study(tmp_path)["cancelled"] == [job.job_id]
        deadline = time.time() + 30
        while not job.done() and time.time() < deadline:
            time.sleep(0.2)
        assert job.done()
    finally:
        job.cancel()
    assert json.loads((tmp_path / "jobs.json").read_text())[0]["cancelled"]
