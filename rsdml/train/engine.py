"""One training loop for every method.

The loop reads top to bottom: set up (:meth:`Trainer.__init__`), then per epoch
(:meth:`Trainer._epoch`) a step per batch (:meth:`Trainer._step`) and a validation
(:meth:`Trainer._validate`), then the final evaluation (:meth:`Trainer._finish`). A method plugs
in only through what its loss declares in ``loss.needs`` (:class:`rsdml.losses.Needs`, whose
docstring is the whole contract): an unlabelled batch, a memory updated after each step, a
momentum encoder, pruning at epoch start. Everything else -- sampling, optimisation,
validation-based model selection, checkpoints, resuming and the final evaluation -- is the same
for all of them, which is what makes the comparison fair.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rsdml.cpu_kernels import kernel_record
from rsdml.errors import UserError
from rsdml.evaluate import (
    KNN_KS,
    METRIC_NAMES,
    VALIDATION_METRICS,
    PrecisionRecall,
    evaluate_embeddings,
    evaluate_leave_one_out,
    knn_accuracy,
)
from rsdml.losses import (
    Batch,
    LossParameterError,
    MetricLoss,
    UnknownMethodError,
    check_params,
    create,
)
from rsdml.metric_names import PR_CURVE_POINTS
from rsdml.models import EmbeddingHead, EmbeddingModel, create_backbone
from rsdml.runtime import autocast, fixed_threads, progress, resolve_device, seed_everything
from rsdml.train import distributed
from rsdml.train.activity import Activity
from rsdml.train.checkpoint import RunFolder
from rsdml.train.config import TrainConfig, frozen_length
from rsdml.train.evaluation import (
    SELECTION_METRIC,
    EmbeddedSets,
    Embeddings,
    GatheredFeatures,
    embed,
    rank_stats,
    remembered_knn_accuracy,
    spectra,
)
from rsdml.train.inputs import FeatureInputs, ImageInputs
from rsdml.train.momentum import MomentumEncoder
from rsdml.train.prepare import RunData, build_inputs
from rsdml.train.reuse import LOADED
from rsdml.train.samplers import (
    BatchStream,
    balanced_batch_shape,
    balanced_batches,
    random_batches,
    shard,
    shard_sizes,
)
from rsdml.train.transfer import check_target, transfer_metrics


class TrainingDiverged(UserError, RuntimeError):
    """The loss became NaN or infinite."""


class TrainingSetupError(UserError, ValueError):
    """The method, its loss parameters or the batch size cannot train on this run's data."""


class Trainer:
    """One run: built and checked in ``__init__``; :meth:`run` trains, selects and evaluates.

    Opening ``out`` only checks it: ``config.json`` is written by :meth:`run`, so a set-up that
    fails (unknown method, bad loss parameter, impossible batch size) leaves nothing behind.
    With ``reuse_data`` the run takes the data of the previous such run in this process when it
    would build the same (:mod:`rsdml.train.reuse`).
    """

    def __init__(
        self, config: TrainConfig, out: str | Path | None = None, *, reuse_data: bool = False
    ):
        self.config = cfg = config.resolved()
        self.device = distributed.local_device(_check_setup(cfg))
        check_target(cfg)  # a missing transfer archive fails now, not after training
        # Rank 0 alone writes the run folder (and the others' share of it comes by broadcast).
        self.folder = RunFolder(out, cfg) if out is not None and distributed.is_main() else None
        with fixed_threads():
            with distributed.main_first():  # rank 0 fills the feature cache the others read
                self.data, self.inputs = LOADED.build(cfg) if reuse_data else build_inputs(cfg)
            # Frozen features meet the head's LayerNorm once, as a table, instead of at every
            # step and validation; the head then goes without it (the same numbers, tested).
            if isinstance(self.inputs, FeatureInputs) and cfg.layernorm:
                self.inputs = self.inputs.layer_normalised()
            self.epochs, self.patience = _run_length(cfg, len(self.data.train))
            # Seeded once, after the inputs: the model, the loss and every training draw.
            self.generator = seed_everything(cfg.seed)
            self.model = _build_model(cfg, self.inputs).to(self.device)
            self.loss = _create_loss(cfg, self.data).to(self.device)
        # what training steps call (DistributedDataParallel over several ranks, else the model)
        self.train_model = distributed.wrap_model(self.model, self.device)
        # what the evaluations embed from (training batches come from self.inputs)
        self.eval_inputs = (
            GatheredFeatures(self.inputs) if isinstance(self.inputs, FeatureInputs) else self.inputs
        )
        self.needs = self.loss.needs
        self._check_needs()
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.trainable += [p for p in self.loss.parameters() if p.requires_grad]
        # foreach: one call per update over all parameters, as on CUDA by default; on the CPU
        # the same per-tensor arithmetic, without a Python loop over the parameters.
        self.optimizer = torch.optim.SGD(
            self.trainable,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
            foreach=True,
        )
        # The papers' step schedule (x gamma every 30/130 of the run), in epochs.
        step = max(1, round(cfg.lr_step_fraction * self.epochs))
        self.scheduler = torch.optim.lr_scheduler.StepLR(
            self.optimizer, step_size=step, gamma=cfg.lr_gamma
        )
        self.momentum_encoder = (
            MomentumEncoder(self.model, cfg.ema_momentum, cfg.bn_splits).to(self.device)
            if self.needs.momentum_encoder
            else None
        )
        # The EMA encoder's batch-norm shuffle draws per rank's share: a rank's own generator,
        # so that the shared one stays in step on every rank.
        self.shuffle_generator = distributed.rank_generator(cfg.seed) or self.generator
        self.unlabelled_stream = (
            BatchStream(len(self.data.unlabelled), cfg.batch_size, self.generator)
            if self.needs.unlabelled
            else None
        )
        self.train_labels = torch.as_tensor(self.data.train_labels, dtype=torch.long)
        self.val_labels = self.data.scenes.labels[self.data.split.val]
        self.history: list[dict[str, Any]] = []
        self.activity = Activity()
        self.start_epoch = 0
        self.best_score = -math.inf
        self.best_epoch = -1
        self.best_state: dict[str, Any] | None = None
        # The embeddings the last validation computed, and those of the selected epoch: the
        # final evaluation takes them instead of embedding the same splits with the same
        # weights again (None after a resume: it embeds them).
        self._validated: EmbeddedSets | None = None
        self.best_embeddings: EmbeddedSets | None = None

    def _check_needs(self) -> None:
        """Refuse, before anything is written, a run that cannot give the loss what it needs."""
        cfg, needs = self.config, self.needs
        if needs.unlabelled and len(self.data.unlabelled) == 0:
            raise TrainingSetupError(
                f"{cfg.method} learns from unlabelled images: set label_fraction < 1 "
                "(e.g. --label-fraction 0.2) or unlabelled_pool='test'"
            )
        if needs.pairs:
            why = (
                "it needs a positive pair and a negative in every batch (two classes x two images)"
            )
        else:
            why = "the samplers skip a lone sample, so batches of one give no training step"
        if cfg.batch_size < needs.min_batch_size:
            raise TrainingSetupError(
                f"{cfg.method} cannot learn from batches of {cfg.batch_size}: {why}; set "
                f"--batch-size to {needs.min_batch_size} or more (e.g. 32)"
            )
        if not needs.pairs:
            return
        classes = len(np.unique(self.data.train_labels))
        if needs.sampler == "balanced":
            classes = balanced_batch_shape(cfg.batch_size, classes)[0]
        if classes < 2:
            raise TrainingSetupError(
                f"{cfg.method} needs two classes in every batch, but its batches can hold only "
                f"{classes}: use a dataset with more classes, more labelled images "
                "(--label-fraction) or a larger --batch-size"
            )

    # ------------------------------------------------------------------ run
    def run(self) -> dict[str, Any]:
        """Train (or resume), select on validation, evaluate on test; returns the metrics.

        Runs with :func:`rsdml.runtime.fixed_threads`: the same configuration gives the same
        history and metrics on any core count and in any study worker.
        """
        with fixed_threads():
            untrained = self._start()
            cfg = self.config
            epochs = progress(
                range(self.start_epoch, self.epochs),
                desc=f"{cfg.method} ({cfg.mode})",
                total=self.epochs - self.start_epoch,
                enabled=cfg.progress and distributed.is_main(),
                unit="epoch",
            )
            for epoch in epochs:
                if self._patience_ran_out():
                    break
                self._epoch(epoch)
            return distributed.from_main(lambda: self._finish(untrained))

    def _patience_ran_out(self) -> bool:
        """Whether the run's patience (epochs) has passed since the best validation score.

        Read from the history alone, so a run resumed after its last epoch stops where it
        would have stopped without the interruption.
        """
        return patience_ran_out(len(self.history), self.best_epoch, self.patience)

    def _start(self) -> dict[str, float]:
        """Record the run (set-up passed), resume from its last epoch, or evaluate the untrained
        model and fill the memory; returns the untrained test metrics."""
        resumed = distributed.from_main(self._resume_point)
        if resumed is not None:
            self._restore(resumed["state"])
            return resumed["untrained"]
        untrained = distributed.from_main(self._untrained_metrics)
        if self.needs.memory:
            train = embed(self.model, self.eval_inputs, self.data.train, self.device)
            self.loss.init_memory(
                train.embedding.to(self.device), self.train_labels.to(self.device)
            )
            distributed.broadcast_state(self.loss)  # one memory on every rank: rank 0's
        return untrained

    def _resume_point(self) -> dict[str, Any] | None:
        """Record the run in its folder and read its last checkpoint, if there is one."""
        if self.folder is None:
            return None
        self.folder.write_config()
        self.folder.write_split(self.data)
        state = self.folder.load_last()
        if state is None:
            return None
        return {"state": state, "untrained": self.folder.read_untrained()}

    def _untrained_metrics(self) -> dict[str, float]:
        """The untrained model's test kNN accuracies (what training has to improve on),
        recorded in the run folder. kNN only: a whole evaluation (K-means, the full ranking of
        the database) of an embedding nobody selects cost a EuroSAT run 13 s of its 45."""
        database = None
        if self.data.partition is None:  # unseen classes: the held-out images are their own
            database = embed(self.model, self.eval_inputs, self.data.split.train, self.device)
        untrained = self._evaluate("test", database, knn_only=True)
        if self.folder is not None:
            self.folder.write_untrained(untrained)
        return untrained

    def _epoch(self, epoch: int) -> None:
        """One epoch: pruning when due, the steps, validation, selection and, when due, the
        checkpoint (:meth:`RunFolder.checkpoint_due`)."""
        started = time.perf_counter()
        if self.needs.pruning and self.loss.pruning_due(epoch + 1, self.epochs):
            self._prune()
        record = {"epoch": epoch + 1, "lr": self.optimizer.param_groups[0]["lr"]}
        record.update(self._train_epoch(epoch))
        record.update(distributed.from_main(self._validate))  # rank 0 validates
        record.update(self.loss.stats())
        record["seconds"] = time.perf_counter() - started
        self.history.append(record)
        score = record[f"val_{SELECTION_METRIC}"]
        if score > self.best_score:
            self.best_score, self.best_epoch = score, epoch + 1
            self.best_state = self._snapshot()
            self.best_embeddings = self._validated
        self._validated = None
        last = epoch + 1 == self.epochs or self._patience_ran_out()
        if self.folder is not None and self.folder.checkpoint_due(last):
            self.folder.save_last(self._state(epoch))
            self.folder.write_history(self.history)

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        """Every batch of the epoch, then the learning-rate schedule; returns the mean loss."""
        self.activity.start_epoch(self.trainable, self.device)
        self.model.train()
        self.loss.train()
        self.loss.set_progress(epoch / self.epochs)
        distributed.seed_rank_augmentations(self.config.seed, epoch)
        if self.needs.sampler == "balanced":
            batches = balanced_batches(
                self.data.train_labels, self.config.batch_size, self.generator
            )
        else:
            batches = random_batches(len(self.data.train), self.config.batch_size, self.generator)
        losses = [self._step(positions, epoch) for positions in batches]
        self.activity.end_epoch(losses, self.trainable)
        self.scheduler.step()
        return {"loss": float(np.mean(losses)) if losses else float("nan")}

    def _step(self, positions: torch.Tensor, epoch: int) -> float:
        """One optimiser step on the training samples at ``positions``; returns the loss."""
        batch = self._batch(positions)
        value = self.loss(batch)
        loss = value.item()
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"{self.config.method}: the loss became {loss} at epoch {epoch + 1}; "
                f"lower the learning rate (now {self.optimizer.param_groups[0]['lr']:g}) "
                "or check the loss parameters"
            )
        self.optimizer.zero_grad(set_to_none=True)
        value.backward()
        if self.config.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.trainable, self.config.max_grad_norm)
        self.activity.observe_gradients(self.trainable)
        self.optimizer.step()
        if self.momentum_encoder is not None:
            self.momentum_encoder.update(self.model)
        if self.needs.memory:
            self.loss.after_step(batch)
        return loss

    def _batch(self, positions: torch.Tensor) -> Batch:
        """The model's outputs for one batch, with what the loss's needs ask for.

        Over several ranks each embeds its share of the batch and the outputs are gathered in
        rank order (:mod:`rsdml.train.distributed`): the loss sees the whole batch on every rank.
        """
        data, device = self.data, self.device
        sizes = shard_sizes(len(positions), distributed.world_size())
        global_indices = torch.as_tensor(data.train[positions.numpy()])
        inputs = self._share_of_inputs(global_indices).to(device, non_blocking=True)
        with autocast(device):
            out = self.train_model(inputs)
        batch = Batch(
            embeddings=distributed.gather_rows(out.embedding.float(), sizes),
            raw=distributed.gather_rows(out.raw.float(), sizes),
            labels=self.train_labels[positions].to(device),
            indices=positions.to(device),
        )
        if self.momentum_encoder is not None:
            with autocast(device):
                momentum = self.momentum_encoder(inputs, self.shuffle_generator).embedding
            batch.momentum = distributed.gather_rows(momentum.float(), sizes)
        if self.unlabelled_stream is not None:
            pool = data.unlabelled[next(self.unlabelled_stream).numpy()]
            u_inputs = self._share_of_inputs(torch.as_tensor(pool))
            with autocast(device):
                unlabelled = self.train_model(u_inputs.to(device)).embedding.float()
            batch.unlabelled = distributed.gather_rows(
                unlabelled, shard_sizes(len(pool), distributed.world_size())
            )
            if self.needs.unlabelled_labels:
                batch.unlabelled_labels = torch.as_tensor(
                    data.scenes.labels[pool], dtype=torch.long, device=device
                )
        return batch

    def _share_of_inputs(self, indices: torch.Tensor) -> torch.Tensor:
        """This rank's block (:func:`shard`) of the training inputs of a global batch.

        Feature views are drawn for the whole batch, from the generator every rank keeps in
        step (the draws of a single process); images are augmented for the block alone (their
        transforms draw from torch's global generator, and decoding the whole batch on every
        rank would undo the split).
        """
        rank, world = distributed.rank(), distributed.world_size()
        if isinstance(self.inputs, FeatureInputs):
            return shard(self.inputs.train_batch(indices, self.generator), rank, world)
        return self.inputs.train_batch(shard(indices, rank, world), self.generator)

    def _prune(self) -> None:
        """Needs ``pruning``: re-estimate which samples to keep with the validation-selected
        model (loaded into copies), then carry on from the weights ``needs.pruning_resume``
        names: the current ones (only the pruning decision is taken over), or the selected
        ones (with their loss state; the optimiser's momentum is cleared). Over several ranks
        rank 0 decides and the others take its decision."""
        selected_model, selected_loss = copy.deepcopy(self.model), copy.deepcopy(self.loss)
        if self.best_state is not None:
            selected_model.load_state_dict(self.best_state["model"])
            selected_loss.load_state_dict(self.best_state["loss"])
        if distributed.is_main():
            train = embed(selected_model, self.eval_inputs, self.data.train, self.device)
            selected_loss.update_pruning(
                train.embedding.to(self.device), self.train_labels.to(self.device)
            )
        distributed.broadcast_state(selected_loss)
        if self.needs.pruning_resume == "selected" and self.best_state is not None:
            self.model.load_state_dict(selected_model.state_dict())
            self.loss.load_state_dict(selected_loss.state_dict())  # its pruning weights too
            self.optimizer.state.clear()
        else:
            self.loss.copy_pruning_from(selected_loss)

    # ------------------------------------------------------------------ evaluate
    def _validate(self) -> dict[str, float]:
        """The selection score (validation kNN@10 against the labelled training set) and the
        ranks of the probe embeddings."""
        embedded = EmbeddedSets(self.model, self.eval_inputs, self.device)
        train, val = embedded(self.data.train), embedded(self.data.split.val)
        score = knn_accuracy(
            val.embedding, self.val_labels, train.embedding, self.data.train_labels, ks=(10,)
        )[SELECTION_METRIC]
        probe = self._probe_embeddings(embedded)
        self._validated = embedded  # kept by _epoch if this epoch is the best so far
        return {f"val_{SELECTION_METRIC}": score, **rank_stats(self.loss, probe.to(self.device))}

    def _probe_embeddings(self, embedded: EmbeddedSets) -> torch.Tensor:
        """Embeddings whose rank is tracked: the unlabelled pool when there is one (the matrix
        HR-S2DML's regulariser acts on), else the validation split."""
        if len(self.data.unlabelled):
            return embedded(self.data.unlabelled).embedding
        return embedded(self.data.split.val).embedding

    def _evaluate(
        self,
        split: str,
        database: Embeddings | None,
        queries: Embeddings | None = None,
        *,
        knn_only: bool = False,
        curve: PrecisionRecall | None = None,
    ) -> dict[str, float]:
        """Metrics of the ``split`` ("val" or "test") queries against the whole train split:
        every metric on test, the top-K ones on validation (:data:`VALIDATION_METRICS`), or
        with ``knn_only`` the kNN accuracies alone. ``curve`` (test, against the train split)
        gets the precision-recall curve of the test ranking.

        The database labels are the archive's clean ones by default, or the (noisy) labels the
        learner was given (``database_labels="noisy"``). Under the unseen-classes protocol the
        test split is the held-out classes' images, each a query against all the others
        (leave-one-out; ``database`` is not used).
        """
        data = self.data
        indices = getattr(data.split, split)
        if queries is None:
            queries = embed(self.model, self.eval_inputs, indices, self.device)
        if split == "test" and data.partition is not None:
            labels = data.scenes.labels[indices]
            if knn_only:
                return remembered_knn_accuracy(
                    queries.embedding, labels, queries.embedding, labels, KNN_KS,
                    device=self.device, leave_one_out=True,
                )  # fmt: skip
            return evaluate_leave_one_out(
                queries.embedding, labels, seed=self.config.seed, device=self.device
            )
        assert database is not None
        clean = self.config.database_labels == "clean"
        problem = (
            queries.embedding,
            data.scenes.labels[indices],
            database.embedding,
            data.database_clean if clean else data.database_given,
        )
        if knn_only:
            return remembered_knn_accuracy(*problem, KNN_KS, device=self.device)
        metrics = VALIDATION_METRICS if split == "val" else METRIC_NAMES
        return evaluate_embeddings(
            *problem, seed=self.config.seed, device=self.device, metrics=metrics, curve=curve
        )

    # ------------------------------------------------------------------ finish
    def _finish(self, untrained: dict[str, float] | None) -> dict[str, Any]:
        """Load the selected weights, evaluate them once on validation and test, and write the
        final files (metrics last)."""
        cfg, data = self.config, self.data
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state["model"])
            self.loss.load_state_dict(self.best_state["loss"])
        # the selected epoch's validation embedded some of these sets with these very weights
        # (val, the train split when every image is labelled, the unlabelled pool)
        sets = self.best_embeddings or EmbeddedSets(self.model, self.eval_inputs, self.device)
        embedded = {split: sets(getattr(data.split, split)) for split in ("train", "val", "test")}
        # the report's precision-recall curve: test against the clean-labelled train split,
        # from the test metrics' own ranking (a second ranking cost the report minutes)
        report_curve = cfg.database_labels == "clean" and data.partition is None
        curve = PrecisionRecall(PR_CURVE_POINTS) if report_curve else None
        evaluated = {
            "val": self._evaluate("val", embedded["train"], embedded["val"]),
            "test": self._evaluate("test", embedded["train"], embedded["test"], curve=curve),
        }
        probe = self._probe_embeddings(sets).to(self.device)
        metrics = {
            "config": cfg.to_dict(),
            "config_key": cfg.key(),
            "classes": list(data.scenes.classes),
            "split": data.split.summary(data.scenes.labels, data.scenes.classes),
            "best_epoch": self.best_epoch,
            # the epochs and patience the run was given (frozen mode counts them in steps,
            # rsdml.train.config.frozen_length) and how many epochs it ran before stopping
            "epochs": self.epochs,
            "patience": self.patience,
            "epochs_run": len(self.history),
            # the views the training batches drew from (a frozen run's config may leave them
            # to the archive-size rule, rsdml.train.config.frozen_views)
            "views": list(getattr(self.inputs, "view_names", cfg.views)),
            **evaluated,
            **({"pr_curve": _curve_record(curve)} if curve is not None else {}),
            "untrained": untrained,
            "noise": _noise_summary(cfg, data),
            **_protocol_summary(cfg, data),
            **self._transfer(),
            "history": self.history,
            "rank": {
                "probe": "unlabelled" if len(data.unlabelled) else "val",
                **spectra(self.loss, probe),
            },
            "seconds": float(sum(r["seconds"] for r in self.history)),
            # the same run on other kernels differs in the last bits (rsdml.cpu_kernels)
            "cpu_kernels": kernel_record(),
            "warnings": self.activity.warnings(cfg),
        }
        for message in metrics["warnings"]:
            _warn(message)
        if self.folder is not None:
            arrays = {split: embedded[split].embedding.numpy() for split in embedded}
            arrays.update({f"{split}_index": getattr(data.split, split) for split in embedded})
            arrays.update(
                train_labels=data.database_given,
                train_clean=data.database_clean,
                labelled_index=data.train,
                val_labels=data.scenes.labels[data.split.val],
                test_labels=data.scenes.labels[data.split.test],
            )
            self.folder.write_final(metrics, self._state(len(self.history) - 1), arrays)
        return metrics

    def _transfer(self) -> dict[str, Any]:
        """``{"transfer": ...}``: the selected model on ``eval_dataset``'s split, beside the
        frozen features alone there (:func:`rsdml.train.transfer.transfer_metrics`); nothing
        without ``eval_dataset``."""
        if self.config.eval_dataset is None:
            return {}
        return {"transfer": transfer_metrics(self.config, self.model, self.device)}

    # ------------------------------------------------------------------ state
    def _state(self, epoch: int) -> dict[str, Any]:
        """Everything a resume needs after ``epoch`` (0-based)."""
        return {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "loss": self.loss.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "momentum_encoder": None
            if self.momentum_encoder is None
            else self.momentum_encoder.state_dict(),
            "history": self.history,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "unlabelled_stream": None
            if self.unlabelled_stream is None
            else self.unlabelled_stream.state_dict(),
            "activity": self.activity.state_dict(),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`_state` checkpoint."""
        self.model.load_state_dict(state["model"])
        self.loss.load_state_dict(state["loss"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.momentum_encoder is not None and state["momentum_encoder"] is not None:
            self.momentum_encoder.load_state_dict(state["momentum_encoder"])
        self.history = state["history"]
        self.best_score = state["best_score"]
        self.best_epoch = state["best_epoch"]
        self.best_state = state["best_state"]
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if self.unlabelled_stream is not None and state.get("unlabelled_stream") is not None:
            self.unlabelled_stream.load_state_dict(state["unlabelled_stream"])
        self.activity.load_state_dict(state.get("activity"))
        self.start_epoch = state["epoch"] + 1

    def _snapshot(self) -> dict[str, Any]:
        """Copies of the weights that define the selected model (model + loss, e.g. prototypes)."""
        return {
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "loss": {k: v.detach().cpu().clone() for k, v in self.loss.state_dict().items()},
        }


def patience_ran_out(epochs_run: int, best_epoch: int, patience: int | None) -> bool:
    """The early-stopping rule: after ``epochs_run`` epochs whose best validation score came at
    (1-based) ``best_epoch``, ``patience`` epochs without a better one end the run (0 or None:
    never)."""
    return bool(patience and epochs_run) and epochs_run - best_epoch >= patience


def _run_length(cfg: TrainConfig, train_images: int) -> tuple[int, int]:
    """(epochs, patience): the configuration's, or in frozen mode those of a step budget over
    this run's labelled training images (:func:`rsdml.train.config.frozen_length`)."""
    if cfg.mode != "frozen":
        return cfg.epochs, cfg.patience
    return frozen_length(cfg.epochs, cfg.patience, train_images, cfg.batch_size, cfg.steps)


def _check_setup(cfg: TrainConfig) -> torch.device:
    """Check what can be checked before any data is read or a run folder is opened: the method,
    its parameter names and types (the registry's check names the closest ones), the device.

    Returns:
        The device the run will use.
    """
    try:
        check_params(cfg.method, cfg.loss_params)
    except (UnknownMethodError, LossParameterError) as error:
        raise TrainingSetupError(str(error)) from error
    return resolve_device(cfg.device)


def _build_model(cfg: TrainConfig, inputs: FeatureInputs | ImageInputs) -> nn.Module:
    """The embedding head on cached features (frozen mode), or backbone + head (fine-tune)."""
    if isinstance(inputs, FeatureInputs):
        # the inputs carry the LayerNorm the config asks for (Trainer.__init__); a checkpoint of
        # this head loads into EmbeddingHead(layernorm=True) alike (LayerNorm has no parameters)
        return EmbeddingHead(inputs.feature_dim, cfg.dim, layernorm=False)
    backbone = create_backbone(cfg.backbone, pretrained=cfg.pretrained, weights=cfg.weights)
    head = EmbeddingHead(backbone.feature_dim, cfg.dim, layernorm=cfg.layernorm)
    return EmbeddingModel(backbone, head)


def _create_loss(cfg: TrainConfig, data: RunData) -> MetricLoss:
    """The method's loss, sized for the data; a bad loss parameter names the option to fix."""
    try:
        return create(
            cfg.method,
            num_classes=data.num_classes,
            dim=cfg.dim,
            num_samples=len(data.train),
            **cfg.loss_params,
        )
    except UserError:
        raise
    except (TypeError, ValueError) as error:
        raise TrainingSetupError(
            f"{cfg.method}: bad loss parameter ({error}); fix loss_params (--param "
            f"KEY=VALUE); `rsdml methods` lists each method's parameters"
        ) from error


def _protocol_summary(cfg: TrainConfig, data: RunData) -> dict[str, Any]:
    """``{"protocol": ...}`` of an unseen-classes run for ``metrics.json`` (the classes trained
    and selected on, the held-out classes the test metrics score); nothing for the standard
    protocol, whose metrics stay as they were."""
    if data.partition is None:
        return {}
    return {"protocol": {"name": cfg.protocol, **data.partition.to_dict()}}


def _curve_record(curve: PrecisionRecall) -> dict[str, list[float]]:
    """A precision-recall curve as ``metrics.json`` keeps it (JSON floats read back exactly)."""
    recall, precision = curve.curve()
    return {"recall": recall.tolist(), "precision": precision.tolist()}


def _noise_summary(cfg: TrainConfig, data: RunData) -> dict[str, Any] | None:
    """The label noise of the run, as ``metrics.json`` records it."""
    if data.noise is None:
        return None
    return {
        "kind": cfg.noise,
        "rate": cfg.noise_rate,
        "realised_rate": float(data.noise.realised_rate),
        "transition": np.asarray(data.noise.transition).tolist(),
    }


def _warn(message: str) -> None:
    """Print a warning in one line on stderr, where it shows in a terminal and a notebook."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def prepare_features(config: TrainConfig | dict[str, Any]) -> None:
    """Compute and cache the frozen-mode backbone features that a run of ``config`` will read.

    Runs that share a dataset, backbone, image size and views share these features; a study
    prepares them once, before its workers start. A no-op in fine-tune mode.

    Extracted with :func:`rsdml.runtime.fixed_threads`, like a run's own: EfficientNet-Lite0's
    features of a small batch differ in the last bits between 1 and 2 threads, and the features
    a study prepares must be those its cells would have extracted themselves.
    """
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    config = config.resolved()
    if config.mode == "frozen":
        with fixed_threads():
            build_inputs(config)


def fit(
    config: TrainConfig | dict[str, Any],
    out: str | Path | None = None,
    *,
    reuse_data: bool = False,
) -> dict[str, Any]:
    """Train one method as configured and return its metrics (``val``, ``test``, ``history``...).

    Args:
        config: a :class:`TrainConfig` or a dictionary of its fields.
        out: optional run folder; with it the run writes ``metrics.json``, ``embeddings.npz``,
            checkpoints and history, resumes after an interruption, and returns at once when the
            same configuration has already finished there.
        reuse_data: keep the run's data loaded for the next run in this process, and take the
            previous run's when it would be the same (no image file changed since): what a
            study's warm kernel does from cell to cell (:mod:`rsdml.train.reuse`). The numbers
            are the same either way.
    """
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    resolved = config.resolved()
    device = _check_setup(resolved)  # a mistyped command is named before a folder conflict
    with distributed.process_group(device):  # under torchrun or srun: one rank of the run
        if out is not None:
            # Every rank reads (and refuses a conflicting folder) itself; none has written yet:
            # rank 0 writes only after the others joined it in Trainer (main_first).
            finished = RunFolder(out, resolved).finished_metrics()
            if finished is not None:
                for message in finished.get("warnings", []) if distributed.is_main() else []:
                    _warn(message)
                return finished
        return Trainer(config, out, reuse_data=reuse_data).run()


__all__ = [
    "TrainingDiverged",
    "TrainingSetupError",
    "Trainer",
    "fit",
    "patience_ran_out",
    "prepare_features",
]
