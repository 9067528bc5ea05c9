"""The same run gives the same numbers whatever thread count its caller left behind.

A study's worker inherits ``cpu_count // workers`` threads, its main process (which prepares the
shared backbone features) every core, a notebook or the command line the library default; a
float sum split over another number of threads is added in another order. Before training and
feature extraction fixed their own thread count, one cell of the quick study (``ce`` at
uniform-0.4, seed 0) reached test kNN@10 86.7 with 1 thread and 83.3 with 2, and the committed
tables could not be regenerated on another machine.
"""

from __future__ import annotations

from functools import partial

import pytest
import torch

from rsdml.errors import UserError
from rsdml.models import extract_features
from rsdml.runtime import REPRODUCIBLE_THREADS, THREADS_ENV, fixed_threads
from rsdml.train import TrainConfig, fit, inputs, prepare_features

TINY = {"num_classes": 5, "images_per_class": 24, "image_size": 48}


@pytest.fixture(autouse=True)
def restore_threads(monkeypatch):
    """Leave torch's thread count as the test found it; no thread setting from the user.

    Features are extracted in batches of 16: EfficientNet-Lite0's output for batches that small
    changes with the thread count (by 1e-5), as a study's last, partial batch may.
    """
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.setattr(inputs, "extract_features", partial(extract_features, batch_size=16))
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def tiny_config() -> TrainConfig:
    """A few seconds of frozen-mode training on 5 synthetic classes, with label noise: noisy
    labels make model selection sensitive to the last bits of the loss, as in the study."""
    return TrainConfig(
        method="ce",
        dataset="synthetic",
        dataset_options=TINY,
        image_size=64,
        epochs=4,
        batch_size=32,
        noise="uniform",
        noise_rate=0.4,
        progress=False,
    )


def _comparable(metrics: dict) -> dict:
    """What a run reports, without the wall-clock seconds."""
    history = [{k: v for k, v in record.items() if k != "seconds"} for record in metrics["history"]]
    return {
        "test": metrics["test"],
        "val": metrics["val"],
        "untrained": metrics["untrained"],
        "best_epoch": metrics["best_epoch"],
        "history": history,
    }


def _run(monkeypatch, cache, threads: int, prepared_with: int | None = None) -> dict:
    """A fresh run in ``cache`` with ``threads`` left by the caller; its features extracted by
    the run itself, or first by :func:`prepare_features` with ``prepared_with`` threads (the
    study's main process)."""
    monkeypatch.setenv("RSDML_CACHE", str(cache))
    if prepared_with is not None:
        torch.set_num_threads(prepared_with)
        prepare_features(tiny_config())
    torch.set_num_threads(threads)
    return _comparable(fit(tiny_config()))


def test_a_run_does_not_depend_on_the_callers_thread_count(tmp_path, monkeypatch):
    one = _run(monkeypatch, tmp_path / "one", threads=1)
    two = _run(monkeypatch, tmp_path / "two", threads=2)
    # exact equality: the study's tables must regenerate byte for byte
    assert one == two


def test_features_prepared_with_every_core_give_the_run_a_worker_would(tmp_path, monkeypatch):
    alone = _run(monkeypatch, tmp_path / "alone", threads=1)
    prepared = _run(monkeypatch, tmp_path / "prepared", threads=1, prepared_with=2)
    assert alone == prepared


def test_training_restores_the_callers_thread_count(tmp_path, monkeypatch):
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path))
    torch.set_num_threads(2)
    fit(tiny_config())
    assert torch.get_num_threads() == 2


def test_fixed_threads_sets_and_restores(monkeypatch):
    torch.set_num_threads(2)
    with fixed_threads() as count:
        assert count == REPRODUCIBLE_THREADS == torch.get_num_threads()
    assert torch.get_num_threads() == 2
    monkeypatch.setenv(THREADS_ENV, "3")
    with fixed_threads() as count:
        assert count == 3 == torch.get_num_threads()


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_thread_setting_names_the_variable(monkeypatch, value):
    monkeypatch.setenv(THREADS_ENV, value)
    with pytest.raises(UserError, match=THREADS_ENV), fixed_threads():
        pass
