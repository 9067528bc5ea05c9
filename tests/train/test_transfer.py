"""Transfer across archives: the selected model scored on another archive's split."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rsdml.data import generate_synthetic, load_scene_list, make_split
from rsdml.evaluate import evaluate_embeddings
from rsdml.reference import evaluate_backbone
from rsdml.train import TrainConfig, Trainer
from rsdml.train.evaluation import embed
from rsdml.train.inputs import FeatureInputs

TINY = {"num_classes": 4, "images_per_class": 16, "image_size": 32}


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("RSDML_PROGRESS", "0")


def test_transfer_metrics_equal_the_selected_head_evaluated_by_hand_on_the_target():
    # another archive: synthetic scenes of another seed and class count, read as a folder
    target_root = generate_synthetic(num_classes=4, images_per_class=15, image_size=32, seed=7)
    config = TrainConfig(
        method="nsl",
        dataset="synthetic",
        dataset_options=TINY,
        image_size=32,
        epochs=3,
        batch_size=32,
        progress=False,
        eval_dataset="folder",
        eval_root=str(target_root),
    )
    trainer = Trainer(config)
    metrics = trainer.run()
    transfer = metrics["transfer"]
    assert transfer["dataset"] == "folder"
    assert transfer["split"] == {"classes": 4, "database": 40, "queries": 12}

    # by hand: the target's plain features (the run's cache), layer-normalised, through the head
    scenes = load_scene_list("folder", target_root)
    split = make_split(scenes)
    on_target = dataclasses.replace(
        config, dataset="folder", root=str(target_root), dataset_options={}, eval_dataset=None,
        eval_root=None,
    )  # fmt: skip
    frozen_run = Trainer(on_target)
    features = frozen_run.inputs.views["plain"]  # already layer-normalised by the Trainer
    inputs = FeatureInputs({"plain": features}, split.train[:0])
    database = embed(trainer.model, inputs, split.train, torch.device("cpu")).embedding
    queries = embed(trainer.model, inputs, split.test, torch.device("cpu")).embedding
    expected = evaluate_embeddings(
        queries, scenes.labels[split.test], database, scenes.labels[split.train], device="cpu"
    )
    assert transfer["test"] == pytest.approx(expected, abs=1e-9)
    # the frozen features alone: what `rsdml embed-eval` reports on the target
    reference = evaluate_backbone("folder", "efficientnet_lite0", root=target_root, image_size=32)
    assert transfer["frozen"] == pytest.approx(reference, abs=1e-9)
    assert transfer["test"] != transfer["frozen"]


def test_no_transfer_key_without_an_eval_dataset():
    config = TrainConfig(
        method="nsl", dataset_options=TINY, image_size=32, epochs=1, progress=False
    )
    assert "transfer" not in Trainer(config).run()
