"""The command line: JSON on the last line of stdout, one-line errors with exit status 2."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest
import torch

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


# ---- user and environment errors: one line, exit status 2, no traceback ----


def one_line_error(capsys, command: str) -> str:
    """The stderr of a failed command, checked to be a short error report without traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith(f"rsdml {command}: error: ")]
    assert len(lines) == 1, err
    return lines[0]


def make_read_only(monkeypatch, folder: Path, code: int) -> None:
    """New folders and files under ``folder`` fail with ``code``, as on a read-only mount or
    a folder of another user (chmod does not stop root, who runs many CI containers)."""
    folder = folder.resolve()
    real_mkdir, real_open = os.mkdir, os.open

    def blocked(path) -> bool:
        return isinstance(path, (str, os.PathLike)) and Path(path).resolve().is_relative_to(folder)

    def mkdir(path, *args, **kwargs):
        if blocked(path) and not os.path.exists(path):
            raise OSError(code, os.strerror(code), os.fspath(path))
        return real_mkdir(path, *args, **kwargs)

    def open_(path, flags, *args, **kwargs):
        if blocked(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(code, os.strerror(code), os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "open", open_)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network and an empty torch hub cache; records the URLs a download was tried for."""
    tried = []

    def no_network(url, dst, *args, **kwargs):
        tried.append(url)
        raise urllib.error.URLError("simulated: no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tried


def test_unknown_dataset_is_one_line(capsys):
    assert main(["split", "--dataset", "ucmercd"]) == 2
    line = one_line_error(capsys, "split")
    assert "ucmercd" in line and "ucmerced" in line


def test_unknown_loss_parameter_names_the_closest_one(capsys, tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--method", "nsl", "--param", "temprature=0.1", "--out", str(out)]
    assert main(argv) == 2
    line = one_line_error(capsys, "train")
    assert "'temprature'" in line and "did you mean 'temperature'" in line
    assert not out.exists()  # refused before a run folder is made


def test_loss_parameter_of_the_wrong_type_is_refused(capsys, tmp_path):
    argv = ["train", "--method", "nsl", "--param", "temperature=abc", "--out", str(tmp_path)]
    assert main(argv) == 2
    line = one_line_error(capsys, "train")
    assert "'temperature'" in line and "must be a number" in line and "'abc'" in line


def test_unknown_method_suggests_the_closest_one(capsys, tmp_path):
    assert main(["train", "--method", "nls", "--out", str(tmp_path / "run")]) == 2
    assert "did you mean 'nsl'" in one_line_error(capsys, "train")


def test_noise_without_a_rate_is_refused(capsys, tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--method", "nsl", "--noise", "uniform", *TINY, "--out", str(out)]
    assert main(argv) == 2
    assert "--noise-rate" in one_line_error(capsys, "train")
    assert not out.exists()


def test_offline_resnet_suggests_no_pretrained_or_weights(capsys, tmp_path, offline):
    argv = ["train", "--method", "nsl", "--backbone", "resnet18", "--epochs", "1",
            "--image-size", "32", *TINY, "--out", str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 2
    line = one_line_error(capsys, "train")
    assert offline and "resnet18" in line
    assert "--no-pretrained" in line and "--weights FILE" in line


def test_no_pretrained_trains_without_downloading(capsys, tmp_path, offline):
    out = tmp_path / "run"
    argv = ["train", "--method", "nsl", "--backbone", "resnet18", "--no-pretrained",
            "--epochs", "1", "--image-size", "32", *TINY, "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert not offline
    assert json.loads((out / "metrics.json").read_text())["config"]["pretrained"] is False


def test_embed_eval_without_pretrained_weights(capsys, offline):
    argv = ["embed-eval", "--dataset", "synthetic", "--backbone", "resnet18", "--no-pretrained",
            "--image-size", "32", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    assert not offline
    assert 0.0 <= last_json(capsys)["knn@10"] <= 1.0


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"this is not a state dict", "cannot read weights file"), (None, "do not fit")],
)
def test_bad_weights_file_is_named(capsys, tmp_path, content, expected):
    path = tmp_path / "weights.pt"
    if content is None:  # a readable state dict of some other network
        torch.save({"conv.weight": torch.zeros(4, 3, 1, 1)}, path)
    else:
        path.write_bytes(content)
    argv = ["train", "--method", "nsl", "--backbone", "resnet18", "--weights", str(path),
            "--epochs", "1", "--image-size", "32", *TINY, "--out", str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 2
    line = one_line_error(capsys, "train")
    assert str(path) in line and expected in line


def test_cuda_without_a_cuda_device(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "run"
    argv = ["train", "--method", "nsl", "--device", "cuda", *TINY, "--out", str(out)]
    assert main(argv) == 2
    line = one_line_error(capsys, "train")
    assert "no CUDA device" in line and "--device cpu" in line
    assert not out.exists()


def test_read_only_out_folder(capsys, monkeypatch, tmp_path):
    (tmp_path / "ro").mkdir()
    make_read_only(monkeypatch, tmp_path / "ro", errno.EROFS)
    out = tmp_path / "ro" / "run"
    argv = ["train", "--method", "nsl", "--epochs", "1", *TINY, "--out", str(out)]
    assert main(argv) == 2
    line = one_line_error(capsys, "train")
    assert str(out) in line and "read-only" in line and "--out" in line


def test_read_only_cache_folder(capsys, monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    make_read_only(monkeypatch, cache, errno.EACCES)
    monkeypatch.setenv("RSDML_CACHE", str(cache))
    assert main(["split", "--dataset", "synthetic"]) == 2
    line = one_line_error(capsys, "split")
    assert "permission denied" in line and str(cache) in line and "RSDML_CACHE" in line


def test_other_os_errors_keep_their_traceback(monkeypatch):
    def broken(args):
        raise OSError(errno.EIO, "Input/output error", "/dev/sda")

    monkeypatch.setattr("rsdml.cli.commands.cmd_methods", broken)
    with pytest.raises(OSError, match="Input/output"):
        main(["methods"])


def test_bugs_keep_their_traceback(monkeypatch):
    def broken(args):
        raise AttributeError("a bug")

    monkeypatch.setattr("rsdml.cli.commands.cmd_methods", broken)
    with pytest.raises(AttributeError, match="a bug"):
        main(["methods"])


@pytest.mark.parametrize(
    "argv",
    [
        ["--debug", "train", "--method", "nls", "--out", "unused"],
        ["train", "--method", "nls", "--out", "unused", "--debug"],
    ],
)
def test_debug_shows_the_traceback(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "UnknownMethodError" in err
    assert "rsdml train: error: unknown method 'nls'" in err


def test_debug_environment_variable_shows_the_traceback(capsys, monkeypatch):
    monkeypatch.setenv("RSDML_DEBUG", "1")
    assert main(["train", "--method", "nls", "--out", "unused"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_console_script_prints_one_line(tmp_path):
    # The real entry point in a fresh interpreter: nothing but the error line on stderr.
    command = [sys.executable, "-m", "rsdml", "train", "--method", "nsl",
               "--noise", "uniform", "--out", str(tmp_path / "run")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "rsdml train: error: --noise uniform needs --noise-rate RATE, the fraction of corrupted "
        "training labels (e.g. --noise-rate 0.4)"
    ]


def test_split_fractions_must_cover_every_image_unless_allowed(capsys):
    assert main(["split", "--dataset", "synthetic", "--fractions", "0.5", "0.2", "0.2"]) == 2
    assert "--allow-unused" in one_line_error(capsys, "split")
    argv = ["split", "--dataset", "synthetic", "--fractions", "0.5", "0.2", "0.2", "--allow-unused"]
    assert main(argv) == 0
    summary = last_json(capsys)
    assert (summary["train"], summary["val"], summary["test"]) == (300, 120, 120)


def test_out_that_is_a_file_is_one_line(capsys, tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    argv = ["train", "--method", "nsl", "--epochs", "1", "--image-size", "32",
            "--out", str(blocker)]  # fmt: skip
    assert main(argv) == 2
    assert "is a file, not a folder" in one_line_error(capsys, "train")


@pytest.mark.parametrize(
    "option", ["--lr=-1", "--lr=nan", "--image-size=0", "--patience=-1", "--steps=0"]
)
def test_out_of_range_numbers_are_one_line(capsys, tmp_path, option):
    argv = ["train", "--method", "nsl", "--epochs", "1", option, "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    name = option.split("=")[0].lstrip("-").replace("-", "_")
    assert name in one_line_error(capsys, "train")
    assert not (tmp_path / "run").exists()


def test_embed_eval_takes_dataset_options(capsys, tmp_path):
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for index in range(10):
            Image.new("RGB", (16, 16), (index * 20, 0, 0)).save(tmp_path / name / f"{index}.png")
    (tmp_path / "a" / "broken.png").write_bytes(b"not an image")
    argv = ["embed-eval", "--dataset", "folder", "--root", str(tmp_path), "--backbone",
            "resnet18", "--no-pretrained", "--image-size", "32", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 2
    assert "on_error=skip" in one_line_error(capsys, "embed-eval")
    assert main([*argv, "--dataset-option", "on_error=skip"]) == 0
    captured = capsys.readouterr()
    assert "skipped 1 of 21" in captured.err
    assert 0.0 <= json.loads(captured.out.strip().splitlines()[-1])["knn@1"] <= 1.0


# ---- help, version and human summaries ----


def sub_parsers(parser):
    """The top-level parser and every sub-command's parser, by name."""
    import argparse

    [choices] = [a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"rsdml": parser, **choices}


def test_every_option_of_every_command_has_a_help_text():
    from rsdml.cli import build_parser

    parsers = sub_parsers(build_parser())
    assert {"datasets", "split", "embed-eval", "methods", "train", "study", "figures"} <= set(
        parsers
    )
    for name, parser in parsers.items():
        for action in parser._actions:
            if action.dest in ("help", "command"):
                continue
            text = action.help or ""
            assert len(text) > 10 and text != "==SUPPRESS==", (name, action.option_strings)


def test_help_reads_allowed_values_and_defaults_from_their_owners(capsys):
    from rsdml.cli import build_parser
    from rsdml.data import DATASETS
    from rsdml.losses import METHODS
    from rsdml.models import VIEWS
    from rsdml.models.backbones import list_backbones
    from rsdml.train.config import FINETUNE_DEFAULTS, FROZEN_DEFAULTS, FROZEN_STEPS, TrainConfig

    train = sub_parsers(build_parser())["train"]
    options = {a.dest: " ".join(a.help.split()) for a in train._actions}
    assert all(name in options["method"] for name in METHODS)
    assert all(name in options["dataset"] for name in DATASETS)
    assert all(name in options["backbone"] for name in list_backbones())
    assert all(name in options["views"] for name in VIEWS)
    for name in ("epochs", "patience", "batch_size", "lr"):
        assert (
            f"{FROZEN_DEFAULTS[name]:g} frozen, {FINETUNE_DEFAULTS[name]:g} finetune"
            in (options[name])
        )
    assert f"(default: {FROZEN_STEPS:,})" in options["steps"]
    assert f"(default: {TrainConfig.seed})" in options["seed"]
    assert f"(default: {TrainConfig.device})" in options["device"]
    with pytest.raises(SystemExit) as done:
        main(["split", "--help"])
    assert done.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert "(default: 42, the papers' split)" in shown  # rsdml.data.splits.DEFAULT_SEED
    assert "(default: 0.7 0.1 0.2)" in shown


def test_version_comes_from_the_package_metadata(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"rsdml {version('rsdml')}"


def test_methods_prints_an_aligned_table_and_json_last(capsys):
    from rsdml.losses import METHODS

    assert main(["methods"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0].split() == ["name", "paper", "hooks", "defaults"]
    rows = {line.split()[0]: line for line in lines[1 : 1 + len(METHODS)]}
    assert list(rows) == list(METHODS)
    for column in ("paper", "hooks", "defaults"):  # every row's column starts where its title does
        start = lines[0].index(column)
        assert all(row[start - 2 : start] == "  " and row[start] != " " for row in rows.values())
    assert "pruning" in rows["trnsl"] and "q=0.7" in rows["trnsl"]
    assert "in frozen mode trnsl defaults to prune_start=0.05" in captured.err
    assert [row["name"] for row in json.loads(captured.out.splitlines()[-1])] == list(METHODS)


@pytest.mark.parametrize("where", ["before", "after"])
def test_no_progress_sets_what_the_environment_variable_sets(monkeypatch, capsys, where):
    monkeypatch.setenv("RSDML_PROGRESS", "1")
    argv = ["--no-progress", "methods"] if where == "before" else ["methods", "--no-progress"]
    assert main(argv) == 0
    assert os.environ["RSDML_PROGRESS"] == "0"


def test_split_out_writes_the_split_and_says_so(capsys, tmp_path):
    out = tmp_path / "splits" / "synthetic.json"
    assert main(["split", "--dataset", "synthetic", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    stored = json.loads(out.read_text())
    assert len(stored["train"]) == summary["train"] == 420
    assert (stored["seed"], stored["dataset"], len(stored["files"])) == (42, "synthetic", 600)
    assert len(stored["labels"]) == 600 and len(stored["classes"]) == 10
    assert "420 training, 60 validation and 120 test images" in captured.err
    assert f"written to {out}" in captured.err
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary left behind


def test_train_summarises_the_headline_metrics_in_percent(capsys, tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--method", "nsl", "--epochs", "1", "--image-size", "32", *TINY,
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    test = json.loads(captured.out.strip().splitlines()[-1])
    knn, mean_ap = f"{100 * test['knn@10']:.1f} %", f"{100 * test['map@20']:.1f} %"
    [line] = [line for line in captured.err.splitlines() if line.startswith("nsl on synthetic")]
    assert f"kNN@10 {knn}" in line and f"mAP@20 {mean_ap}" in line and str(out) in line


def write_one_cell_study(tmp_path) -> Path:
    import yaml

    spec = tmp_path / "study.yaml"
    shared = {"dataset": "synthetic", "epochs": 1}
    study = {"name": "one", "shared": shared, "methods": ["nsl"], "seeds": [0, 1],
             "settings": {"clean": {}}}  # fmt: skip
    spec.write_text(yaml.safe_dump(study))
    return spec


def test_study_dry_run_lists_the_cells_and_runs_nothing(capsys, tmp_path):
    out = tmp_path / "out"
    argv = ["study", str(write_one_cell_study(tmp_path)), "--out", str(out), "--dry-run"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    plan = json.loads(captured.out.strip().splitlines()[-1])
    assert [c["status"] for c in plan["cells"]] == ["pending", "pending"]
    assert "nsl/clean/seed0" in captured.err and "time unknown" in captured.err
    assert "nothing was run" in captured.err
    assert not out.exists()


def test_study_passes_device_and_rerun_on(capsys, tmp_path, monkeypatch):
    seen = {}

    # the parser reads the defaults of workers and executor
    def fake_run_study(spec, workers=1, executor="local", **kwargs):
        seen.update(kwargs)
        return {"study": "one", "cells": 2, "ran": 1, "skipped": 1, "failed": [],
                "report_failed": [], "out": "o", "figures": "f"}  # fmt: skip

    monkeypatch.setattr("rsdml.study.run_study", fake_run_study)
    argv = ["study", "one.yaml", "--device", "cpu", "--rerun", "--rerun", "nsl/clean"]
    assert main(argv) == 0
    assert (seen["device"], seen["rerun"]) == ("cpu", ["*", "nsl/clean"])
    err = capsys.readouterr().err
    assert "study one: 2 cells, 1 ran, 1 already done" in err and "o/cells" in err
    assert main(["study", "one.yaml"]) == 0
    assert (seen["device"], seen["rerun"]) == (None, None)


def test_study_refuses_an_unknown_device_before_anything_runs(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "out"
    argv = ["study", str(write_one_cell_study(tmp_path)), "--out", str(out), "--device", "cuda"]
    assert main(argv) == 2
    assert "--device cpu" in one_line_error(capsys, "study")
    assert not out.exists()


def test_python_dash_m_rsdml_is_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "rsdml", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("rsdml ")


def test_train_under_unseen_classes_names_the_held_out_classes(capsys, tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--method", "nsl", "--epochs", "1", "--image-size", "32", *TINY,
            "--protocol", "unseen-classes", "--train-classes", "chaparral", "forest",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    stored = json.loads((out / "metrics.json").read_text())
    assert stored["protocol"]["train"] == ["chaparral", "forest"]
    assert stored["config"]["train_classes"] == ["chaparral", "forest"]
    assert "2 held-out classes (trained on 2), leave-one-out" in captured.err


def test_train_with_an_unknown_training_class_is_one_line(capsys, tmp_path):
    argv = ["train", "--method", "nsl", "--image-size", "32", *TINY, "--protocol",
            "unseen-classes", "--train-classes", "beach", "airport", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 2
    assert "unknown training class" in one_line_error(capsys, "train")


def test_train_classes_without_the_protocol_is_one_line(capsys, tmp_path):
    argv = ["train", "--method", "nsl", "--train-classes", "a", "b", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "--protocol unseen-classes" in one_line_error(capsys, "train")


def test_train_prints_one_line_about_the_transfer(capsys, tmp_path):
    from rsdml.data import generate_synthetic

    target = generate_synthetic(num_classes=3, images_per_class=10, image_size=32, seed=5)
    argv = ["train", "--method", "nsl", "--epochs", "1", "--image-size", "32", *TINY,
            "--eval-dataset", "folder", "--eval-root", str(target), "--out", str(tmp_path / "r")]  # fmt: skip
    assert main(argv) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "transfer to" in line]
    assert len(lines) == 1 and "its frozen features alone: kNN@10" in lines[0]
