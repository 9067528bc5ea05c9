"""The training engine on tiny synthetic data: every method learns, runs resume, errors are clear."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rsdml.evaluate import (
    METRIC_NAMES,
    VALIDATION_METRICS,
    evaluate_embeddings,
    precision_recall_curve,
)
from rsdml.losses import available
from rsdml.metric_names import PR_CURVE_POINTS
from rsdml.models import EmbeddingHead
from rsdml.models.features import VIEWS
from rsdml.train import (
    RunFolderConflict,
    TrainConfig,
    Trainer,
    TrainingDiverged,
    TrainingSetupError,
    fit,
)
from rsdml.train.engine import patience_ran_out

TINY = {"num_classes": 5, "images_per_class": 24, "image_size": 48}


def tiny_config(method: str = "nsl", **overrides) -> TrainConfig:
    """A run that takes a few seconds: 5 synthetic classes, 64 px, frozen EfficientNet-Lite0."""
    values = {
        "method": method,
        "dataset": "synthetic",
        "dataset_options": TINY,
        "image_size": 64,
        "epochs": 8,
        "batch_size": 32,
        "progress": False,
    }
    if method == "hr_s2dml":
        values["label_fraction"] = 0.5
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """One cache for the whole module run (features are shared between tests, never the user's)."""
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.mark.parametrize("method", available())
def test_every_method_beats_the_untrained_embedding(method):
    metrics = fit(tiny_config(method, epochs=12))
    assert metrics["test"]["knn@10"] > metrics["untrained"]["knn@10"], metrics["history"][-1]
    assert len(metrics["history"]) == 12
    assert 1 <= metrics["best_epoch"] <= 12
    assert all(0.0 <= value <= 1.0 for value in metrics["test"].values())


def test_same_seed_gives_same_numbers():
    first = fit(tiny_config("snca_ce_mb", epochs=3))
    second = fit(tiny_config("snca_ce_mb", epochs=3))
    assert first["test"] == second["test"]
    assert [r["loss"] for r in first["history"]] == [r["loss"] for r in second["history"]]


def test_a_cold_feature_cache_gives_the_same_run_as_a_warm_one(tmp_path, monkeypatch):
    # a cache miss builds the backbone (drawing random numbers); the run must not notice
    monkeypatch.setenv("RSDML_CACHE", str(tmp_path / "fresh-cache"))
    cold = fit(tiny_config("nsl", epochs=3))
    warm = fit(tiny_config("nsl", epochs=3))
    assert cold["test"] == warm["test"]
    assert [r["loss"] for r in cold["history"]] == [r["loss"] for r in warm["history"]]


def test_run_folder_contents(tmp_path):
    out = tmp_path / "run"
    metrics = fit(tiny_config("trnsl", epochs=6, noise="uniform", noise_rate=0.3), out=out)
    for name in (
        "config.json",
        "split.json",
        "history.json",
        "last.pt",
        "best.pt",
        "embeddings.npz",
    ):
        assert (out / name).exists(), name
    stored = json.loads((out / "metrics.json").read_text())
    assert stored["test"] == pytest.approx(metrics["test"])
    assert set(stored) >= {"config", "val", "test", "history", "untrained", "noise", "views"}
    # the config leaves the views to the archive-size rule; the metrics name those it chose
    assert stored["config"]["views"] is None
    assert stored["views"] == list(VIEWS)
    assert 0.15 < stored["noise"]["realised_rate"] < 0.45
    # trnsl prunes in a 6-epoch run and records how many samples it kept
    assert any("kept_fraction" in record for record in stored["history"])


def test_the_run_keeps_the_precision_recall_curve_of_its_test_ranking(tmp_path):
    out = tmp_path / "run"
    metrics = fit(tiny_config("nsl", epochs=2), out=out)
    arrays = np.load(out / "embeddings.npz")
    problem = (arrays["test"], arrays["test_labels"], arrays["train"], arrays["train_clean"])
    recall, precision = precision_recall_curve(*problem, points=PR_CURVE_POINTS)
    kept = json.loads((out / "metrics.json").read_text())["pr_curve"]
    assert kept == metrics["pr_curve"]
    assert np.array_equal(kept["recall"], recall) and np.array_equal(kept["precision"], precision)
    # against the noisy labels the test ranking is not the report's: no curve is kept
    noisy = fit(tiny_config("nsl", epochs=2, noise="uniform", noise_rate=0.3,
                            database_labels="noisy"))  # fmt: skip
    assert "pr_curve" not in noisy


def test_finished_run_is_returned_without_training(tmp_path, monkeypatch):
    out = tmp_path / "run"
    metrics = fit(tiny_config(epochs=2), out=out)
    monkeypatch.setattr(Trainer, "__init__", lambda *args: pytest.fail("trained again"))
    assert fit(tiny_config(epochs=2), out=out)["test"] == metrics["test"]


def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    monkeypatch.setattr("rsdml.train.checkpoint.CHECKPOINT_SECONDS", 0.0)  # after every epoch
    reference = fit(tiny_config("snca_mb", epochs=5), out=tmp_path / "reference")

    original = Trainer._train_epoch

    def interrupt_at_third(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return original(self, epoch)

    monkeypatch.setattr(Trainer, "_train_epoch", interrupt_at_third)
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_config("snca_mb", epochs=5), out=tmp_path / "resumed")
    assert len(json.loads((tmp_path / "resumed" / "history.json").read_text())) == 2
    monkeypatch.setattr(Trainer, "_train_epoch", original)
    resumed = fit(tiny_config("snca_mb", epochs=5), out=tmp_path / "resumed")
    assert resumed["test"] == reference["test"]
    assert [r["loss"] for r in resumed["history"]] == [r["loss"] for r in reference["history"]]


@pytest.mark.parametrize("method", ["nsl", "hr_s2dml"])
def test_the_final_evaluation_takes_the_selected_epochs_embeddings(method, tmp_path, monkeypatch):
    # hr_s2dml: half the training images labelled, so the validation's database (the labelled
    # ones) is not the train split of the final evaluation, and an unlabelled pool is probed
    from rsdml.train import engine, evaluation

    counted = []
    original_embed = evaluation.embed

    def counting_embed(model, inputs, indices, device):
        counted.append(len(indices))
        return original_embed(model, inputs, indices, device)

    monkeypatch.setattr(evaluation, "embed", counting_embed)
    config = tiny_config(method, epochs=3, patience=0)
    kept = fit(config, out=tmp_path / "kept")
    embedded_when_kept = len(counted)
    counted.clear()

    def embed_every_time(self, indices):
        return evaluation.embed(self.model, self.inputs, indices, self.device)

    monkeypatch.setattr(engine.EmbeddedSets, "__call__", embed_every_time)
    fresh = fit(config, out=tmp_path / "fresh")
    # the same numbers as embedding the selected weights again, with fewer embeddings
    for part in ("val", "test", "rank", "pr_curve"):
        assert kept[part] == fresh[part], part
    untimed = [[{**record, "seconds": 0} for record in run["history"]] for run in (kept, fresh)]
    assert untimed[0] == untimed[1]
    arrays = [np.load(tmp_path / name / "embeddings.npz") for name in ("kept", "fresh")]
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(arrays[0][split], arrays[1][split])
    # val, and the train split or the unlabelled pool, were not embedded a second time
    assert len(counted) >= embedded_when_kept + 2


def test_embedded_sets_embed_equal_positions_once(monkeypatch):
    from rsdml.train import evaluation

    calls = []

    def fake_embed(model, inputs, indices, device):
        calls.append(list(indices))
        return evaluation.Embeddings(torch.as_tensor(indices)[:, None].float(), torch.zeros(0))

    monkeypatch.setattr(evaluation, "embed", fake_embed)
    sets = evaluation.EmbeddedSets(None, None, torch.device("cpu"))
    first = sets(np.array([3, 1, 2]))
    assert sets(np.array([3, 1, 2])) is first  # an equal array, not the same object
    assert sets(np.array([1, 2, 3])) is not first  # another order is another set
    indices = np.array([5, 6])
    sets(indices)
    indices[0] = 7  # the caller's array changed afterwards: the set kept its own copy
    sets(np.array([7, 6]))
    assert calls == [[3, 1, 2], [1, 2, 3], [5, 6], [7, 6]]


def test_a_different_configuration_refuses_the_folder(tmp_path):
    fit(tiny_config(epochs=1), out=tmp_path / "run")
    with pytest.raises(RunFolderConflict, match="different configuration"):
        fit(tiny_config(epochs=2), out=tmp_path / "run")


def test_non_finite_loss_stops_with_a_clear_message():
    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        fit(tiny_config("ce", lr=1e30, epochs=3))


def test_semi_supervised_method_needs_unlabelled_images():
    with pytest.raises(ValueError, match="label-fraction"):
        fit(tiny_config("hr_s2dml", label_fraction=None))


def test_unknown_method_lists_the_available_ones():
    with pytest.raises(ValueError, match="available: .*nsl"):
        fit(tiny_config("no_such_loss"))


def test_label_fraction_restricts_the_labelled_images():
    metrics = fit(tiny_config("arcface", label_fraction=0.25, epochs=2))
    split = metrics["split"]
    assert split["train"] > 0
    # the database of a semi-supervised run is its labelled part only (labels it was given)
    assert metrics["config"]["label_fraction"] == 0.25


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="noise must be one of"):
        TrainConfig(noise="gaussian").resolved()
    with pytest.raises(ValueError, match="unknown training option"):
        TrainConfig.from_dict({"methd": "nsl"})


@pytest.mark.parametrize("method", ["nsl", "snca_mu"])
def test_finetune_mode_trains_the_backbone(method):
    """Fine-tuning runs the papers' augmentation and, for MU, the momentum encoder with
    shuffled batch norm over a real backbone (EfficientNet-Lite0 has batch norm)."""
    config = tiny_config(method, mode="finetune", epochs=1, batch_size=16, lr=0.01)
    trainer = Trainer(config)
    metrics = trainer.run()
    assert len(metrics["history"]) == 1
    assert all(0.0 <= value <= 1.0 for value in metrics["test"].values())
    assert any(p.requires_grad for p in trainer.model.backbone.parameters())
    if method == "snca_mu":
        assert trainer.momentum_encoder.has_batch_norm


def test_label_dependent_noise_on_a_dataset_without_a_table():
    """Synthetic scenes have no published noise table: the transition comes from the class
    confusion of pretrained features, with the requested rate off the diagonal."""
    metrics = fit(tiny_config("nsl", noise="dependent", noise_rate=0.3, epochs=2))
    transition = np.asarray(metrics["noise"]["transition"])
    assert np.allclose(transition.sum(axis=1), 1.0)
    assert np.allclose(np.diag(transition), 0.7)
    assert 0.1 < metrics["noise"]["realised_rate"] < 0.5


@pytest.mark.parametrize("resume", ["current", "selected"])
def test_pruning_resumes_from_the_weights_asked_for(resume):
    trainer = Trainer(
        tiny_config("trnsl", noise="uniform", noise_rate=0.3, loss_params={"resume": resume})
    )
    trainer.best_state = trainer._snapshot()  # the "selected" model: the initial weights
    selected = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    for parameter in trainer.model.parameters():  # training moved on since the selection
        parameter.data.add_(0.5)
    moved = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.optimizer.state[trainer.trainable[0]]["momentum_buffer"] = torch.ones(1)
    trainer._prune()
    expected = selected if resume == "selected" else moved
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, expected[name]), name
    assert (len(trainer.optimizer.state) == 0) == (resume == "selected")
    # either way the pruning decision comes from the selected model
    assert trainer.loss.stats()["kept_fraction"] < 1.0


def test_an_unknown_pruning_resume_is_refused():
    with pytest.raises(ValueError, match="resume must be one of"):
        fit(tiny_config("trnsl", loss_params={"resume": "best"}))


def test_an_effective_run_records_no_warnings(capsys):
    metrics = fit(tiny_config("nsl", epochs=2))
    assert metrics["warnings"] == []
    assert "warning:" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "overrides, cause",
    [
        ({"lr": 0.0}, "learning rate is 0"),
        # an overflowing gradient norm is clipped to nothing: every gradient is 0
        ({"loss_params": {"temperature": 1e-30}}, "temperature"),
    ],
)
def test_training_that_changes_nothing_is_reported(tmp_path, capsys, overrides, cause):
    metrics = fit(tiny_config("nsl", epochs=2, **overrides), out=tmp_path / "run")
    # what the warning is about: the test kNN accuracies are the untrained ones
    assert {name: metrics["test"][name] for name in metrics["untrained"]} == metrics["untrained"]
    (message,) = metrics["warnings"]
    assert "changed nothing" in message and cause in message
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["warnings"] == [message]
    err = capsys.readouterr().err
    assert f"warning: {message}\n" in err
    # a finished run says it again when it is asked for its metrics
    fit(tiny_config("nsl", epochs=2, **overrides), out=tmp_path / "run")
    assert f"warning: {message}" in capsys.readouterr().err


def test_a_loss_that_is_zero_at_every_step_is_reported(monkeypatch):
    from rsdml.losses import TripletLoss

    # a loss that vanishes at every step, as a degenerate loss parameter can make it
    monkeypatch.setattr(TripletLoss, "forward", lambda self, batch: batch.embeddings.sum() * 0.0)
    metrics = fit(tiny_config("triplet", epochs=1))
    (message,) = metrics["warnings"]
    assert "loss was exactly 0" in message and "--batch-size 32" in message


@pytest.mark.parametrize(
    "method, batch_size", [("triplet", 1), ("triplet", 3), ("dcnn", 2), ("srl", 3), ("nsl", 1)]
)
def test_a_batch_size_the_loss_cannot_learn_from_is_refused(tmp_path, method, batch_size):
    with pytest.raises(TrainingSetupError, match=f"batches of {batch_size}.*--batch-size"):
        fit(tiny_config(method, batch_size=batch_size), out=tmp_path / "run")
    assert not (tmp_path / "run" / "config.json").exists()


def test_the_smallest_accepted_pair_batch_trains():
    metrics = fit(tiny_config("triplet", batch_size=4, epochs=1))
    assert metrics["warnings"] == []
    assert metrics["history"][0]["loss"] > 0


def test_pair_losses_need_two_labelled_classes(monkeypatch):
    from rsdml.train import prepare as prepare_module

    original = prepare_module.prepare_data

    def one_class(config, backbone=None):
        data = original(config, backbone)
        data.train_labels = np.zeros_like(data.train_labels)
        return data

    monkeypatch.setattr("rsdml.train.prepare.prepare_data", one_class)
    with pytest.raises(TrainingSetupError, match="two classes"):
        fit(tiny_config("dcnn", epochs=1))


def scripted_validation(monkeypatch, scores):
    """Make each epoch's validation score the next of ``scores`` (the rule under test is the
    engine's, not the model's)."""

    def validate(self):
        return {"val_knn@10": scores[len(self.history)]}

    monkeypatch.setattr(Trainer, "_validate", validate)


def test_a_step_budget_and_the_final_validation_metrics(tmp_path):
    # 5 classes x 24 images, 16 of each for training: 80 images, 3 steps of 32 an epoch; 7 steps are
    # 3 epochs (whole epochs, at least the budget)
    metrics = fit(tiny_config(epochs=None, steps=7, patience=0), out=tmp_path / "run")
    assert metrics["split"]["train"] == 80
    assert (metrics["epochs"], metrics["epochs_run"]) == (3, 3)
    # validation reports the top-K metrics, test every one, each as the evaluation module
    # gives them from the saved embeddings (clean training labels as the database)
    arrays = np.load(tmp_path / "run" / "embeddings.npz")
    for split, names in (("val", VALIDATION_METRICS), ("test", METRIC_NAMES)):
        expected = evaluate_embeddings(
            arrays[split], arrays[f"{split}_labels"], arrays["train"], arrays["train_clean"],
            device="cpu", metrics=names,
        )  # fmt: skip
        assert metrics[split] == pytest.approx(expected, abs=1e-9), split


def test_the_untrained_knn_of_a_seed_is_searched_once_in_a_process(monkeypatch):
    from rsdml.evaluate import knn_accuracy
    from rsdml.storage import ContentMemo
    from rsdml.train import evaluation

    monkeypatch.setattr(evaluation, "_KNN_MEMO", ContentMemo(evaluation.REMEMBERED_KNN_PROBLEMS))
    searched = []
    monkeypatch.setattr(
        evaluation, "knn_accuracy", lambda *a, **k: searched.append(1) or knn_accuracy(*a, **k)
    )
    # the untrained head of seed 0 is the same for both methods; seed 1 draws another
    first = fit(tiny_config("nsl", epochs=1))["untrained"]
    assert fit(tiny_config("arcface", epochs=1))["untrained"] == first
    assert len(searched) == 1
    assert fit(tiny_config("nsl", epochs=1, seed=1))["untrained"] != first
    assert len(searched) == 2


def test_patience_stops_the_run_that_many_epochs_after_the_best(tmp_path, monkeypatch):
    scripted_validation(monkeypatch, [0.5, 0.7, 0.6, 0.6, 0.6, 0.9, 0.9, 0.9])
    metrics = fit(tiny_config(epochs=8, patience=3), out=tmp_path / "run")
    assert metrics["best_epoch"] == 2
    assert metrics["epochs_run"] == len(metrics["history"]) == 5
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["epoch"] == 4
    # patience 0 runs every epoch and finds the later, better score
    every = fit(tiny_config(epochs=8, patience=0))
    assert (every["best_epoch"], every["epochs_run"]) == (6, 8)


def test_a_run_resumed_after_its_patience_ran_out_stops_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr("rsdml.train.checkpoint.CHECKPOINT_SECONDS", 0.0)  # after every epoch
    scripted_validation(monkeypatch, [0.5, 0.7, 0.6, 0.6, 0.6, 0.9, 0.9, 0.9])
    reference = fit(tiny_config(epochs=8, patience=2), out=tmp_path / "reference")
    assert reference["epochs_run"] == 4
    original = Trainer._finish
    monkeypatch.setattr(Trainer, "_finish", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_config(epochs=8, patience=2), out=tmp_path / "resumed")
    monkeypatch.setattr(Trainer, "_finish", original)
    trained = []
    monkeypatch.setattr(Trainer, "_epoch", lambda self, epoch: trained.append(epoch))
    resumed = fit(tiny_config(epochs=8, patience=2), out=tmp_path / "resumed")
    assert trained == []  # nothing left to train: the resumed run stops where it stopped
    assert resumed["test"] == reference["test"]
    assert resumed["epochs_run"] == 4


def test_a_stopped_run_is_the_full_run_cut_short():
    full = fit(tiny_config("snca_ce_mb", epochs=10, patience=0))
    for patience in (1, 3):
        stopped = fit(tiny_config("snca_ce_mb", epochs=10, patience=patience))
        ran = stopped["epochs_run"]
        assert ran <= 10
        same = ("loss", "val_knn@10")
        assert [[r[k] for k in same] for r in stopped["history"]] == [
            [r[k] for k in same] for r in full["history"][:ran]
        ]
        scores = [r["val_knn@10"] for r in full["history"][:ran]]
        assert stopped["best_epoch"] == 1 + int(np.argmax(scores))
        if ran < 10:
            assert ran - stopped["best_epoch"] == patience


def test_frozen_runs_give_the_numbers_of_a_head_that_normalises_each_batch(monkeypatch):
    prenormalised = fit(tiny_config("snca_ce_mu", epochs=3))
    monkeypatch.setattr("rsdml.train.engine.FeatureInputs.layer_normalised", lambda self: self)
    monkeypatch.setattr(
        "rsdml.train.engine._build_model",
        lambda cfg, inputs: EmbeddingHead(inputs.feature_dim, cfg.dim, layernorm=cfg.layernorm),
    )
    per_batch = fit(tiny_config("snca_ce_mu", epochs=3))
    assert prenormalised["test"] == per_batch["test"]
    assert prenormalised["history"][-1]["loss"] == per_batch["history"][-1]["loss"]


def test_the_patience_rule_counts_epochs_since_the_best():
    # (epochs run, best epoch, patience) -> stop
    assert patience_ran_out(5, 2, 3) and not patience_ran_out(4, 2, 3)
    assert not patience_ran_out(100, 1, 0) and not patience_ran_out(100, 1, None)
    assert not patience_ran_out(0, -1, 1)  # nothing has run yet: no best to count from


# ---- the unseen-classes protocol ----


def test_held_out_classes_never_reach_training_or_model_selection(monkeypatch):
    from rsdml.train import engine

    trainer = Trainer(tiny_config("nsl", epochs=3, protocol="unseen-classes"))
    data = trainer.data
    trained = len(data.partition.train)
    assert trained == 2 and data.num_classes == 2  # floor(5 / 2) of the tiny scenes
    labels = data.scenes.labels
    assert labels[data.train].max() < trained and labels[data.split.val].max() < trained
    assert labels[data.split.test].min() >= trained
    assert len(data.split.test) == 3 * TINY["images_per_class"]  # every held-out image
    batches, selections = [], []
    original_batch = Trainer._batch

    def spy_batch(self, positions):
        batches.append(self.data.train[positions.numpy()])
        return original_batch(self, positions)

    def spy_knn(query, query_labels, database, database_labels, *args, **kwargs):
        selections.append((np.asarray(query_labels), np.asarray(database_labels)))
        return original_knn(query, query_labels, database, database_labels, *args, **kwargs)

    original_knn = engine.knn_accuracy
    monkeypatch.setattr(Trainer, "_batch", spy_batch)
    monkeypatch.setattr(engine, "knn_accuracy", spy_knn)
    trainer._train_epoch(0)
    trainer._validate()
    assert batches and all(labels[indices].max() < trained for indices in batches)
    assert selections and all(
        q.max() < trained and d.max() < trained for q, d in selections
    )  # validation queries and database: training classes alone


def test_unseen_classes_partition_is_saved_and_test_is_leave_one_out(tmp_path):
    from rsdml.evaluate import evaluate_leave_one_out

    out = tmp_path / "run"
    metrics = fit(tiny_config("nsl", epochs=3, protocol="unseen-classes", class_seed=1), out=out)
    protocol = metrics["protocol"]
    assert protocol["name"] == "unseen-classes" and protocol["seed"] == 1
    assert len(protocol["train"]) == 2 and len(protocol["held_out"]) == 3
    assert metrics["classes"] == protocol["train"] + protocol["held_out"]
    split = json.loads((out / "split.json").read_text())
    assert split["class_partition"] == {k: protocol[k] for k in ("train", "held_out", "seed")}
    again = fit(tiny_config("nsl", epochs=3, protocol="unseen-classes", class_seed=1))
    assert again["protocol"] == protocol and again["test"] == metrics["test"]
    # the test metrics: the held-out images against each other, leave-one-out, by hand
    arrays = np.load(out / "embeddings.npz")
    assert set(arrays["test_labels"]) == {2, 3, 4}
    expected = evaluate_leave_one_out(arrays["test"], arrays["test_labels"], device="cpu")
    assert metrics["test"] == pytest.approx(expected, abs=1e-9)
    assert set(metrics["untrained"]) == {"knn@1", "knn@5", "knn@10"}
    # named training classes choose the partition; a standard run's numbers have no protocol
    named = fit(tiny_config("nsl", epochs=1, protocol="unseen-classes",
                            train_classes=tuple(protocol["held_out"][:2])))  # fmt: skip
    assert named["protocol"]["train"] == protocol["held_out"][:2]
    assert "protocol" not in fit(tiny_config("nsl", epochs=1))


def test_an_unknown_training_class_is_one_user_error():
    from rsdml.errors import UserError

    with pytest.raises(UserError, match="unknown training class.*'airport'.*the classes are"):
        Trainer(tiny_config("nsl", protocol="unseen-classes", train_classes=("airport", "x")))
