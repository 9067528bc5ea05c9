"""The study runner end to end on a tiny grid: every notebook runs through papermill, a failed
cell is recorded without stopping the others, finished cells are skipped, figures regenerate.
A study file is checked whole before anything runs."""

from __future__ import annotations

import errno
import json
import os
import platform
import struct
from pathlib import Path

import jupytext
import pandas as pd
import pytest
import yaml
from papermill.translators import PythonTranslator

from rsdml import cpu_kernels
from rsdml.cpu_kernels import KERNELS_ENV, X86_64_MACHINES
from rsdml.errors import UserError
from rsdml.execution import NOTEBOOKS_DIR
from rsdml.study import (
    StudyError,
    expand,
    is_done,
    load_study,
    plan_study,
    prepare_shared_features,
    regenerate_figures,
    run_report,
    run_study,
)
from rsdml.study import runner as runner_module
from rsdml.study.spec import stored_study
from rsdml.train import TrainConfig

ON_X86_64 = platform.machine().lower() in X86_64_MACHINES

TINY_STUDY = {
    "name": "tiny",
    "notebook": "train",
    "shared": {
        "dataset": "synthetic",
        "dataset_options": {"num_classes": 4, "images_per_class": 20, "image_size": 48},
        "image_size": 64,
        "epochs": 4,
        "batch_size": 32,
        # not among the fields the train notebook once passed on one by one: it must reach the run
        "split_seed": 7,
    },
    # hr_s2dml on clean labels has no unlabelled images: that cell fails when it runs
    "methods": ["nsl", "trnsl", "hr_s2dml"],
    "seeds": [0],
    "settings": {
        "clean": {},
        "uniform-0.3": {"noise": "uniform", "noise_rate": 0.3},
        "labelled-0.5": {"label_fraction": 0.5},
    },
    "only": {"uniform-0.3": ["nsl", "trnsl"], "labelled-0.5": ["arcface", "hr_s2dml"]},
    "report": ["results", "embeddings", "noisy_embeddings", "rank_analysis", "data_overview"],
    # the kernels of its notebook kernels, whatever this process took (rsdml.cpu_kernels)
    "cpu_kernels": "portable",
    # t-SNE only: UMAP's first fit costs ~20 s of JIT compilation in every fresh kernel
    "report_parameters": {
        "embeddings": {"clean_methods": ["nsl"], "projections": ["tsne"]},
        "noisy_embeddings": {"noisy_setting": "uniform-0.3", "projections": ["tsne"]},
        "results": {"pr_settings": ["uniform-0.3"]},
    },
}


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    """Run the tiny study once (about a minute on 2 cores); tests read its folder."""
    base = tmp_path_factory.mktemp("study")
    spec = base / "tiny.yaml"
    spec.write_text(yaml.safe_dump(TINY_STUDY))
    # the kernels inherit the environment: keep the cache private to the test session
    patch = pytest.MonkeyPatch()
    patch.setenv("RSDML_CACHE", str(base / "cache"))
    # the study switches the kernels of the processes this one starts: only for its own run
    environment = dict(os.environ)
    patch.setattr(cpu_kernels, "_PINNED_HERE", dict(cpu_kernels._PINNED_HERE))
    summary = run_study(spec, out=base / "out", workers=2, figures=base / "figures")
    yield base, spec, summary
    patch.undo()
    os.environ.clear()
    os.environ.update(environment)


def test_failed_cell_is_recorded_and_the_others_finish(tiny_study):
    base, _, summary = tiny_study
    assert summary["cells"] == 7
    assert summary["failed"] == ["hr_s2dml/clean/seed0"]
    assert "unlabelled" in summary["errors"]["hr_s2dml/clean/seed0"]
    record_path = next((base / "out" / "cells" / "hr_s2dml" / "clean").glob("*/cell.json"))
    record = json.loads(record_path.read_text())
    assert record["status"] == "failed"
    assert "unlabelled" in record["error"]
    parameters = record["parameters"]  # the report reads these three at the top
    assert (parameters["method"], parameters["setting"], parameters["seed"]) == (
        "hr_s2dml",
        "clean",
        0,
    )
    done = [json.loads(p.read_text()) for p in (base / "out" / "cells").glob("*/*/*/cell.json")]
    assert sum(r["status"] == "done" for r in done) == 6


def test_each_cell_writes_its_metrics_and_executed_notebook(tiny_study):
    base, _, _ = tiny_study
    for metrics_path in (base / "out" / "cells").glob("*/*/*/metrics.json"):
        metrics = json.loads(metrics_path.read_text())
        assert 0.0 <= metrics["test"]["knn@10"] <= 1.0
        assert (metrics_path.parent / "notebook.ipynb").exists()
        assert (metrics_path.parent / "learning_curve.png").exists()
        assert (metrics_path.parent / "embeddings.npz").exists()


def finished_metrics(base: Path) -> list[dict]:
    """The metrics.json of every finished cell of the tiny study."""
    paths = (base / "out" / "cells").glob("*/*/*/metrics.json")
    return [json.loads(path.read_text()) for path in paths]


def test_the_cells_run_on_the_kernels_the_study_names(tiny_study):
    base, _, _ = tiny_study
    records = [metrics["cpu_kernels"] for metrics in finished_metrics(base)]
    assert len(records) == 6
    # the kernels a user names before importing rsdml win over the study's
    named = os.environ.get(KERNELS_ENV) if cpu_kernels._USER_NAMED_KERNELS else None
    expected = named or "portable"
    assert all(record[KERNELS_ENV] == expected for record in records)
    if expected == "portable" and ON_X86_64:
        assert all(record["MKL_CBWR"] == "COMPATIBLE" for record in records)


def test_every_configuration_field_of_the_study_reaches_the_run(tiny_study):
    base, _, _ = tiny_study
    configs = [metrics["config"] for metrics in finished_metrics(base)]
    assert len(configs) == 6
    assert all(config["split_seed"] == 7 for config in configs)


def test_report_writes_tables_and_figures(tiny_study):
    base, _, summary = tiny_study
    assert summary["report_failed"] == []
    figures = base / "figures"
    table = pd.read_csv(figures / "results.csv")
    assert {"method", "setting", "n_seeds", "knn@10_mean", "knn@10_std", "map@20_mean"} <= set(
        table.columns
    )
    assert set(table["setting"]) == {"clean", "uniform-0.3", "labelled-0.5"}
    assert table["knn@10_mean"].between(0, 1).all()
    for name in (
        "results.md",
        "results.tex",
        "results_paper.csv",
        "rank_analysis.csv",
        "by_uniform_knn10.md",
        "by_labelled_map20.tex",
    ):
        assert (figures / name).stat().st_size > 0, name
    for stem in (
        "learning_curves",
        "pr_curves",
        "retrieval_best",
        "class_examples",
        "transition_uniform-0.3",
        "rank_over_training_labelled-0.5",
        "singular_values_labelled-0.5",
        "embedding_nsl_uniform-0.3",
        "pr_curves_uniform-0.3",
        "knn10_by_uniform",
        "knn10_by_labelled",
    ):
        width, height = png_size(figures / f"{stem}.png")
        assert width > 200 and height > 100, stem
        assert (figures / f"{stem}.pdf").read_bytes()[:4] == b"%PDF", stem
    assert not (figures / "knn10_by_dependent.png").exists()  # no such settings in the grid


def test_second_run_skips_finished_cells(tiny_study):
    base, spec, _ = tiny_study
    summary = run_study(spec, out=base / "out", workers=1, report=False)
    assert summary["skipped"] == 6
    assert summary["ran"] == 1  # only the failed cell is tried again


def test_figures_regenerate_without_training_byte_for_byte_side_by_side(tiny_study, tmp_path):
    """The study's report ran its notebooks two at a time (workers=2, each on its share of the
    cores); one at a time they write the same files, byte for byte."""
    base, _, _ = tiny_study
    summary = regenerate_figures(base / "out", figures=tmp_path / "again", workers=1)
    assert summary["report_failed"] == []
    first = base / "figures"
    names = sorted(path.name for path in first.iterdir())
    assert sorted(path.name for path in (tmp_path / "again").iterdir()) == names
    for name in names:
        assert (tmp_path / "again" / name).read_bytes() == (first / name).read_bytes(), name


def test_cells_are_keyed_by_their_parameters(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(TINY_STUDY))
    cells = expand(load_study(spec), tmp_path / "out")
    assert len({cell.folder for cell in cells}) == len(cells)
    changed = dict(TINY_STUDY, shared={**TINY_STUDY["shared"], "epochs": 5})
    spec.write_text(yaml.safe_dump(changed))
    moved = expand(load_study(spec), tmp_path / "out")
    assert {c.folder for c in cells}.isdisjoint({c.folder for c in moved})


def test_bad_study_files_are_explained(tmp_path):
    with pytest.raises(StudyError, match="presets: .*quick"):
        load_study("no-such-study")
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({"methods": ["nsl"], "settings": {"a": {}}, "grid": 1}))
    with pytest.raises(StudyError, match="unknown key"):
        load_study(spec)
    spec.write_text(yaml.safe_dump({"methods": ["nsl"], "settings": {"a": {}}, "report": ["nope"]}))
    with pytest.raises(StudyError, match="notebook 'nope' not found"):
        load_study(spec)


@pytest.mark.parametrize("preset", ["quick", "ucmerced", "paper"])
def test_presets_load(preset):
    study = load_study(preset)
    assert study.methods and study.settings


def test_warm_kernels_give_the_same_results_as_fresh_ones(tiny_study, tmp_path):
    # the tiny study ran its cells in warm kernels; rerun two of them, one fresh kernel each
    base, _, _ = tiny_study
    spec = tmp_path / "fresh.yaml"
    fresh_study = {
        **TINY_STUDY,
        "methods": ["trnsl"],
        "settings": {"uniform-0.3": TINY_STUDY["settings"]["uniform-0.3"]},
        "seeds": [0],
        "only": {},
        "report": [],
    }
    spec.write_text(yaml.safe_dump(fresh_study))
    fresh = tmp_path / "out"
    # two workers, as in the tiny study: one thread per kernel, the same float summation order
    summary = run_study(spec, out=fresh, workers=2, fresh_kernels=True)
    assert summary["ran"] == 1 and summary["failed"] == []
    [fresh_metrics] = fresh.glob("cells/trnsl/uniform-0.3/*/metrics.json")
    warm_metrics = base / "out" / fresh_metrics.relative_to(fresh)
    fresh_run, warm_run = (json.loads(p.read_text()) for p in (fresh_metrics, warm_metrics))
    assert fresh_run["test"] == warm_run["test"]
    assert [r["loss"] for r in fresh_run["history"]] == [r["loss"] for r in warm_run["history"]]


def write_study(tmp_path, **changes):
    """A one-cell study file: TINY_STUDY with ``changes``, no report."""
    spec = tmp_path / "study.yaml"
    base = {**TINY_STUDY, "methods": ["nsl"], "settings": {"clean": {}}, "only": {}, "report": []}
    base.pop("report_parameters")
    spec.write_text(yaml.safe_dump({**base, **changes}))
    return spec


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # the typo that once ran 100 epochs and was marked done
        (
            {"shared": {"epoch": 2}},
            r"shared has unknown training option 'epoch' \(did you mean 'epochs'",
        ),
        (
            {"settings": {"noisy": {"noise": "uniform", "noise_rat": 0.3}}},
            r"setting 'noisy' has unknown training option 'noise_rat' \(did you mean 'noise_rate'",
        ),
        ({"shared": {"method": "nsl"}}, r"shared sets 'method', which the study's 'methods' list"),
        ({"settings": {"a": {"seed": 3}}}, r"setting 'a' sets 'seed'"),
        ({"methods": ["nls"]}, r"method 'nls': unknown method \(did you mean 'nsl'\?\)"),
        (
            {"settings": {"a": {"epochs": "abc"}}},
            r"setting 'a', method 'nsl': epochs must be an int",
        ),
        ({"settings": {"a": {"noise": "uniform"}}}, r"setting 'a'.*give noise_rate"),
        (
            {"settings": {"a": {"loss_params": {"temperatur": 2}}}},
            r"loss_params has 'temperatur' \(did you mean 'temperature'\?\), which nsl does not take",
        ),
        ({"seeds": ["zero"]}, "seeds must be integers"),
        (
            {"cpu_kernels": "portabel"},
            r"cpu_kernels 'portabel' \(did you mean 'portable'\?\) is not one of avx2, portable",
        ),
        ({"settings": {"a": ["noise"]}}, r"settings.a must be a mapping"),
        (
            {"report": ["results"], "report_parameters": {"results": {"pr_setting": ["a"]}}},
            r"report_parameters.results has unknown parameter 'pr_setting' \(did you mean "
            r"'pr_settings'",
        ),
        (
            {"report": ["results"], "report_parameters": {"embedings": {"seed": 1}}},
            r"names 'embedings' \(did you mean 'embeddings'\?\), which is not a notebook",
        ),
        (
            {"report": ["results"], "report_parameters": {"results": {"figures_dir": "x"}}},
            "which the runner sets",
        ),
    ],
)
def test_bad_keys_and_values_are_refused_before_anything_runs(tmp_path, changes, message):
    with pytest.raises(StudyError, match=message):
        load_study(write_study(tmp_path, **changes))


def test_a_valid_study_with_any_training_field_loads(tmp_path):
    shared = {**TINY_STUDY["shared"], "fractions": [0.6, 0.2, 0.2], "database_labels": "noisy"}
    spec = write_study(tmp_path, shared=shared, settings={"clean": {"pretrained": False}})
    [cell] = expand(load_study(spec), tmp_path / "out")
    assert set(cell.parameters) == {"config", "setting", "out_dir"}
    config = TrainConfig.from_dict(cell.parameters["config"]).resolved()
    assert (config.fractions, config.database_labels, config.pretrained) == (
        (0.6, 0.2, 0.2),
        "noisy",
        False,
    )


def test_study_errors_are_user_errors():
    assert issubclass(StudyError, UserError) and issubclass(StudyError, ValueError)


def test_the_train_notebooks_default_config_is_a_valid_training_configuration():
    notebook = jupytext.read(NOTEBOOKS_DIR / "train.py")
    [cell] = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    namespace: dict = {}
    exec(cell.source, namespace)  # plain literals: what papermill parses and replaces
    TrainConfig.from_dict(namespace["config"]).validate()
    assert {"config", "setting", "out_dir"} <= set(namespace)
    # papermill's own reading of the cell (what `papermill --help-notebook` shows) is complete
    inspected = {p.name: p.default for p in PythonTranslator.inspect(cell)}
    assert set(inspected) == {"config", "setting", "out_dir"}
    assert eval(inspected["config"]) == namespace["config"]


def test_shared_features_are_prepared_from_the_cells_whole_configuration(tmp_path, monkeypatch):
    import rsdml.train

    seen = []
    monkeypatch.setattr(rsdml.train, "prepare_features", seen.append)
    shared = {**TINY_STUDY["shared"], "weights": "backbone.pt", "pretrained": False}
    cells = expand(load_study(write_study(tmp_path, shared=shared)), tmp_path / "out")
    prepare_shared_features(cells)
    assert seen == [cells[0].config]
    assert seen[0]["weights"] == "backbone.pt" and seen[0]["pretrained"] is False


def test_a_cell_is_done_only_when_its_run_is_complete(tmp_path):
    [cell] = expand(load_study(write_study(tmp_path)), tmp_path / "out")
    cell.folder.mkdir(parents=True)
    (cell.folder / "cell.json").write_text(json.dumps({"status": "done"}))
    (cell.folder / "metrics.json").write_text("{}")
    assert not is_done(cell)  # best.pt and embeddings.npz, written before metrics.json, missing
    for name in ("best.pt", "embeddings.npz"):
        (cell.folder / name).write_bytes(b"x")
    assert is_done(cell)
    (cell.folder / "metrics.json").write_text('{"trunc')
    assert not is_done(cell)


def fake_cells(monkeypatch, unwritable):
    """Replace notebook execution: seed 0 fails, the others write metrics; the records of the
    seeds in ``unwritable`` cannot be written (no space left on the device)."""
    real_write = runner_module.atomic_write_json

    def execute(notebook, output, parameters, threads, kernel=None, save_each_cell=True):
        if parameters["config"]["seed"] == 0:
            raise RuntimeError("boom")
        output.parent.mkdir(parents=True, exist_ok=True)
        (output.parent / "metrics.json").write_text("{}")

    def write(path, data):
        if path.name == "cell.json" and data["parameters"]["seed"] in unwritable:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(path, data)

    monkeypatch.setattr(runner_module, "execute_notebook", execute)
    monkeypatch.setattr(runner_module, "atomic_write_json", write)
    monkeypatch.setattr(runner_module, "prepare_shared_features", lambda cells: None)


def test_a_record_that_cannot_be_written_fails_its_cell_and_the_study_goes_on(
    tmp_path, monkeypatch, capsys
):
    fake_cells(monkeypatch, unwritable={0, 1})
    spec = write_study(tmp_path, seeds=[0, 1, 2])
    summary = run_study(spec, out=tmp_path / "out", report=False)
    assert summary["failed"] == ["nsl/clean/seed0", "nsl/clean/seed1"]
    assert "boom" in summary["errors"]["nsl/clean/seed0"]
    for label in summary["failed"]:
        assert "No space left on device" in summary["errors"][label]
    assert "cell.json" in summary["errors"]["nsl/clean/seed1"]
    [done] = (tmp_path / "out").glob("cells/nsl/clean/seed2-*/cell.json")
    assert json.loads(done.read_text())["status"] == "done"
    stderr = capsys.readouterr().err
    assert "FAILED nsl/clean/seed1" in stderr and "No space left on device" in stderr


@pytest.mark.parametrize("name", ["study.json", "summary.json"])
def test_an_unwritable_study_file_is_a_user_error_naming_the_folder(tmp_path, monkeypatch, name):
    fake_cells(monkeypatch, unwritable=set())
    real_write = runner_module.atomic_write_json

    def write(path, data):
        if path.name == name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(path, data)

    monkeypatch.setattr(runner_module, "atomic_write_json", write)
    out = tmp_path / "out"
    with pytest.raises(StudyError, match=rf"cannot write {name} in the study folder {out}: No sp"):
        run_study(write_study(tmp_path, seeds=[1]), out=out, report=False)


def test_an_output_folder_that_cannot_be_made_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StudyError, match="cannot write study.json in the study folder"):
        run_study(write_study(tmp_path), out=blocker / "out", report=False)


def test_a_failed_cell_is_summarised_in_one_line():
    from rsdml.study.runner import _failure_line

    class NotebookFailed(Exception):  # the attributes papermill's execution error carries
        ename = "OSError"
        evalue = "[Errno 28] No space left on device: '/runs/x/last.pt'"

    notebook_error = NotebookFailed("---\nException encountered at In [4]\nTraceback ...\n")
    assert _failure_line(notebook_error) == (
        "OSError: [Errno 28] No space left on device: '/runs/x/last.pt'"
    )
    assert _failure_line(RuntimeError("two\nlines")) == "RuntimeError: two lines"


# ---- device, dry run, rerun, report progress (notebook execution replaced) ----


def finishing_cells(monkeypatch, failing=()):
    """Replace notebook execution by a complete fake run whose metrics.json counts the runs of
    its cell; the cells whose seed is in ``failing`` fail. Returns the configurations seen."""
    from rsdml.rundir import FINAL_WRITE_ORDER

    seen = []

    def execute(notebook, output, parameters, threads, kernel=None, save_each_cell=True):
        seen.append(parameters["config"])
        if parameters["config"]["seed"] in failing:
            raise RuntimeError("boom")
        folder = output.parent
        folder.mkdir(parents=True, exist_ok=True)
        for name in FINAL_WRITE_ORDER:
            (folder / name).write_text("{}")
        (folder / "metrics.json").write_text(json.dumps({"run": len(seen), "seconds": 30.0}))

    monkeypatch.setattr(runner_module, "execute_notebook", execute)
    monkeypatch.setattr(runner_module, "prepare_shared_features", lambda cells: None)
    return seen


def metrics_of(out, seed):
    [path] = out.glob(f"cells/nsl/clean/seed{seed}-*/metrics.json")
    return json.loads(path.read_text())


def test_device_reaches_every_cell_without_moving_its_folder(tmp_path, monkeypatch):
    seen = finishing_cells(monkeypatch)
    spec = write_study(tmp_path, seeds=[0, 1])
    plain = expand(load_study(spec), tmp_path / "out")
    on_cpu = expand(load_study(spec), tmp_path / "out", device="cpu")
    assert [c.folder for c in plain] == [c.folder for c in on_cpu]
    assert all(c.config["device"] == "cpu" for c in on_cpu)
    assert all("device" not in c.config for c in plain)
    run_study(spec, out=tmp_path / "out", report=False, device="cpu")
    assert [config["device"] for config in seen] == ["cpu", "cpu"]


def test_dry_run_lists_done_and_pending_cells_and_estimates_the_time(tmp_path, monkeypatch):
    finishing_cells(monkeypatch, failing={2})
    out = tmp_path / "out"
    plan = plan_study(write_study(tmp_path, seeds=[0, 1]), out=out)
    assert [c["status"] for c in plan["cells"]] == ["pending", "pending"]
    assert plan["estimated_seconds"] is None  # nothing finished yet: unknown
    assert not out.exists()  # a dry run writes nothing
    run_study(write_study(tmp_path, seeds=[0, 1, 2]), out=out, report=False)
    for seed, seconds in ((0, 40.0), (1, 20.0)):
        [record] = out.glob(f"cells/nsl/clean/seed{seed}-*/cell.json")
        record.write_text(json.dumps({**json.loads(record.read_text()), "seconds": seconds}))
    spec = write_study(tmp_path, seeds=[0, 1, 2, 3])
    plan = plan_study(spec, out=out, workers=2)
    statuses = {c["label"]: c["status"] for c in plan["cells"]}
    assert statuses == {
        "nsl/clean/seed0": "done",
        "nsl/clean/seed1": "done",
        "nsl/clean/seed2": "failed",
        "nsl/clean/seed3": "pending",
    }
    assert (plan["done"], plan["to_run"]) == (2, 2)
    assert [c["seconds"] for c in plan["cells"]] == [40.0, 20.0, None, None]
    # the two cells to run take the mean of their method's finished ones, shared by 2 workers
    assert plan["estimated_seconds"] == pytest.approx(30.0)
    # with a cell to run again, its own time counts: (40 + 30 + 30) / 1 worker
    rerun = plan_study(spec, out=out, rerun=["nsl/clean/seed0"])
    assert rerun["cells"][0]["status"] == "rerun" and rerun["to_run"] == 3
    assert rerun["estimated_seconds"] == pytest.approx(100.0)


def test_recorded_seconds_come_from_the_record_else_the_metrics(tmp_path):
    from rsdml.study import recorded_seconds

    [cell] = expand(load_study(write_study(tmp_path)), tmp_path / "out")
    cell.folder.mkdir(parents=True)
    assert recorded_seconds(cell) is None
    (cell.folder / "metrics.json").write_text('{"seconds": 12.5}')
    assert recorded_seconds(cell) == 12.5
    (cell.folder / "cell.json").write_text('{"status": "done", "seconds": 14}')
    assert recorded_seconds(cell) == 14.0


def test_rerun_replaces_the_matching_cells_only(tmp_path, monkeypatch):
    finishing_cells(monkeypatch)
    out, spec = tmp_path / "out", write_study(tmp_path, seeds=[0, 1])
    run_study(spec, out=out, report=False)
    assert run_study(spec, out=out, report=False)["ran"] == 0
    summary = run_study(spec, out=out, report=False, rerun=["nsl/*/seed1"])
    assert (summary["ran"], summary["rerun"], summary["kept"]) == (1, ["nsl/clean/seed1"], {})
    assert (metrics_of(out, 0)["run"], metrics_of(out, 1)["run"]) == (1, 3)
    assert not (out / "replaced").exists()  # the replaced result is gone, nothing else
    summary = run_study(spec, out=out, report=False, rerun=["*"])
    assert summary["ran"] == 2 and metrics_of(out, 0)["run"] == 4


def test_a_failed_rerun_keeps_the_previous_result(tmp_path, monkeypatch, capsys):
    finishing_cells(monkeypatch)
    out, spec = tmp_path / "out", write_study(tmp_path, seeds=[0, 1])
    run_study(spec, out=out, report=False)
    finishing_cells(monkeypatch, failing={0})
    summary = run_study(spec, out=out, report=False, rerun=["nsl"])
    assert summary["failed"] == ["nsl/clean/seed0"]
    kept = Path(summary["kept"]["nsl/clean/seed0"])
    assert kept.is_relative_to(out / "replaced")
    assert json.loads((kept / "metrics.json").read_text())["run"] == 1
    assert "previous result is kept in" in capsys.readouterr().err
    assert list(out.glob("replaced/*/nsl/clean/*")) == [kept]  # seed1's old result replaced


def test_a_rerun_pattern_that_names_no_cell_is_refused(tmp_path, monkeypatch):
    finishing_cells(monkeypatch)
    with pytest.raises(StudyError, match=r"--rerun 'nls' matches no cell.*nsl/clean/seed0"):
        run_study(write_study(tmp_path), out=tmp_path / "out", report=False, rerun=["nls"])
    assert not (tmp_path / "out").exists()


def test_the_report_announces_each_notebook_and_times_it(tmp_path, monkeypatch, capsys):
    ran = []
    monkeypatch.setattr(
        runner_module,
        "execute_notebook",
        lambda notebook, output, parameters, threads: ran.append(notebook.stem),
    )
    study = load_study(write_study(tmp_path, report=["results", "embeddings"]))
    run_report(study, tmp_path / "out", tmp_path / "figures")
    lines = capsys.readouterr().err.splitlines()
    assert ran == ["results", "embeddings"]
    assert lines[0].startswith("report 1/2: results") and lines[0].endswith("...")
    assert lines[1].startswith("report 1/2: results done in ") and lines[1].endswith(" s")
    assert lines[2].startswith("report 2/2: embeddings")


def test_a_study_folder_from_before_the_maps_were_split_draws_both_kinds_of_maps():
    """study.json of a folder written when one notebook drew the clean and the noisy maps: read
    back, the noisy maps' notebook runs after it with the parameters that moved."""
    old = {
        **TINY_STUDY,
        "report": ["results", "embeddings", "rank_analysis"],
        "report_parameters": {
            "embeddings": {
                "noisy_setting": "uniform-0.3",
                "noisy_methods": ["nsl", "trnsl"],
                "clean_methods": ["nsl"],
                "max_points": 500,
            },
            "results": {"pr_settings": ["uniform-0.3"]},
        },
    }
    study = stored_study(json.loads(json.dumps(old)))
    assert study.report == ["results", "embeddings", "noisy_embeddings", "rank_analysis"]
    assert study.report_parameters == {
        "embeddings": {"clean_methods": ["nsl"], "max_points": 500},
        "noisy_embeddings": {
            "noisy_setting": "uniform-0.3",
            "noisy_methods": ["nsl", "trnsl"],
            "max_points": 500,
        },
        "results": {"pr_settings": ["uniform-0.3"]},
    }
    current = {**TINY_STUDY, "report": ["embeddings", "noisy_embeddings"]}
    assert stored_study(json.loads(json.dumps(current))).report == current["report"]
