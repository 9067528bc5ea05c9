"""The command line: JSON on the last line of stdout, one-line errors with exit status 2."""

from __future__ import annotations

import json

import pytest

from rsdml.cli import main

TINY = ["--dataset-option", "num_classes=4", "--dataset-option", "images_per_class=20",
        "--dataset-option", "image_size=48"]  # fmt: skip


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path_factory.getbasetemp() / "cli-cache"))
    monkeypatch.setenv("RSDML_PROGRESS", "0")


def last_json(capsys) -> object:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_datasets_lists_every_known_dataset(capsys, tmp_path):
    assert main(["datasets", "--root", str(tmp_path)]) == 0
    rows = {row["name"]: row for row in last_json(capsys)}
    assert {
        "ucmerced",
        "aid",
        "nwpu_resisc45",
        "patternnet",
        "eurosat",
        "folder",
        "synthetic",
    } <= set(rows)
    assert rows["ucmerced"]["present"] is False
    assert str(tmp_path) in rows["ucmerced"]["path"]


def test_split_prints_the_sizes(capsys):
    assert main(["split", "--dataset", "synthetic"]) == 0
    summary = last_json(capsys)
    # default synthetic: 10 classes x 60 images -> 42/6/12 per class
    assert (summary["classes"], summary["train"], summary["val"], summary["test"]) == (
        10,
        420,
        60,
        120,
    )


def test_missing_dataset_is_one_clear_line(capsys, tmp_path):
    assert main(["split", "--dataset", "ucmerced", "--root", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "rsdml split: error:" in error and str(tmp_path) in error
    assert "RSDML_DATA" in error and "Traceback" not in error


def test_train_writes_the_run_and_prints_test_metrics(capsys, tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--method", "arcface", "--epochs", "3", "--image-size", "64", *TINY,
            "--param", "margin=0.3", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    test = last_json(capsys)
    assert 0.0 <= test["knn@10"] <= 1.0
    stored = json.loads((out / "metrics.json").read_text())
    assert stored["config"]["loss_params"] == {"margin": 0.3}
    assert stored["test"] == pytest.approx(test)


def test_bad_parameter_is_reported(capsys, tmp_path):
    argv = ["train", "--method", "nsl", "--param", "tau", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
