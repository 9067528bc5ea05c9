"""One training loop for every method.

Methods plug into the loop through a few narrow hooks declared by their loss
(``rsdml.losses``): an unlabelled stream, a memory of training embeddings updated after each
step, a momentum encoder, and periodic sample pruning. Everything else -- sampling,
optimisation, validation-based model selection, checkpoints, resuming and the final
evaluation -- is the same for all of them, which is what makes the comparison fair.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rsdml.errors import UserError
from rsdml.evaluate import evaluate_embeddings, knn_accuracy, rank_analysis
from rsdml.losses import METHODS, Batch, MetricLoss, create
from rsdml.models import EmbeddingHead, EmbeddingModel, create_backbone, defer_backbone
from rsdml.runtime import fixed_threads, progress, resolve_device, seed_everything
from rsdml.train.checkpoint import RunFolder
from rsdml.train.config import TrainConfig
from rsdml.train.inputs import FeatureInputs, ImageInputs
from rsdml.train.momentum import MomentumEncoder
from rsdml.train.prepare import RunData, prepare_data
from rsdml.train.samplers import (
    BatchStream,
    balanced_batch_shape,
    balanced_batches,
    random_batches,
)

SELECTION_METRIC = "knn@10"


class TrainingDiverged(UserError, RuntimeError):
    """The loss became NaN or infinite."""


class TrainingSetupError(UserError, ValueError):
    """The method, its loss parameters or the batch size cannot train on this run's data."""


@dataclass
class Embeddings:
    """L2-normalised embeddings of one index set, on the CPU."""

    embedding: torch.Tensor
    raw: torch.Tensor


def _embed(
    model: nn.Module, inputs: FeatureInputs | ImageInputs, indices: np.ndarray, device: torch.device
) -> Embeddings:
    """Embed ``indices`` with ``model`` in evaluation mode."""
    was_training = model.training
    model.eval()
    embeddings, raws = [], []
    with torch.inference_mode(), _autocast(device):
        for chunk in inputs.eval_chunks(indices):
            out = model(chunk.to(device, non_blocking=True))
            embeddings.append(out.embedding.float().cpu())
            raws.append(out.raw.float().cpu())
    model.train(was_training)
    return Embeddings(torch.cat(embeddings), torch.cat(raws))


def _autocast(device: torch.device):
    """Mixed precision on CUDA (bf16 where supported), full precision on the CPU."""
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast("cpu", enabled=False)


def _lr_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    """The papers' step schedule (x gamma every 30/130 of the run), in epochs."""
    step = max(1, round(config.lr_step_fraction * config.epochs))
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=config.lr_gamma)


def _spectra(loss: MetricLoss, embeddings: torch.Tensor) -> dict[str, list[float]]:
    """Singular values of the embeddings and, for prototype losses, of the class-probability
    matrix, for the rank-analysis figures."""
    spectra = {"embedding": rank_analysis(embeddings)["singular_values"].tolist()}
    if loss.has_class_probabilities:
        with torch.no_grad():
            probabilities = loss.class_probabilities(embeddings)
        spectra["prediction"] = rank_analysis(probabilities)["singular_values"].tolist()
    return spectra


def _rank_stats(loss: MetricLoss, embeddings: torch.Tensor) -> dict[str, float]:
    """Effective rank of the embeddings and, for prototype losses, of the class-probability
    matrix (the quantity HR-S2DML's regulariser raises)."""
    if len(embeddings) < 2:
        return {}
    stats = {"embedding_effective_rank": float(rank_analysis(embeddings)["effective_rank"])}
    if not loss.has_class_probabilities:
        return stats
    with torch.no_grad():
        probabilities = loss.class_probabilities(embeddings)
    analysis = rank_analysis(probabilities)
    stats["prediction_effective_rank"] = float(analysis["effective_rank"])
    stats["prediction_nuclear_norm_per_sample"] = float(analysis["nuclear_norm"]) / len(embeddings)
    return stats


class Trainer:
    """Holds the state of one run; :meth:`run` trains, selects and evaluates."""

    def __init__(self, config: TrainConfig, out: str | Path | None = None):
        self.config = config.resolved()
        self.info = METHODS[self.config.method] if self.config.method in METHODS else None
        if self.info is None:
            raise TrainingSetupError(
                f"unknown method {self.config.method!r}; available: {', '.join(sorted(METHODS))}"
            )
        # Opening the folder only checks it: config.json is written once the set-up passed.
        self.folder = RunFolder(out, self.config) if out is not None else None
        self.device = resolve_device(self.config.device)

    # ------------------------------------------------------------------ set-up
    def _setup_inputs(self) -> None:
        """Data, split and model inputs (in frozen mode: the cached backbone features)."""
        cfg = self.config
        self.generator = seed_everything(cfg.seed)
        # Frozen mode reads cached features: the network is built only if some are missing.
        make_backbone = defer_backbone if cfg.mode == "frozen" else create_backbone
        self.backbone = make_backbone(cfg.backbone, pretrained=cfg.pretrained, weights=cfg.weights)

        def plain_features(images: np.ndarray, files_key: str) -> torch.Tensor:
            return self._feature_inputs(
                images, files_key, augmented=np.array([], dtype=np.int64)
            ).views["plain"]

        self.data: RunData = prepare_data(cfg, plain_features=plain_features)
        data = self.data
        if cfg.mode == "frozen":
            self.inputs = self._feature_inputs(
                data.images, data.files_key, augmented=data.split.train
            )
            # Seeded again here: a cache miss builds the backbone, whose random initialisation
            # (overwritten by the pretrained weights) draws from torch's generator; the head and
            # the training draws must not depend on whether the features were cached.
            self.generator = seed_everything(cfg.seed)
        else:
            self.inputs = ImageInputs(data.images, cfg.image_size)

    def _setup(self) -> None:
        self._setup_inputs()
        cfg, data = self.config, self.data
        if cfg.mode == "frozen":
            head = EmbeddingHead(self.inputs.feature_dim, cfg.dim, layernorm=cfg.layernorm)
            self.model: nn.Module = head
        else:
            head = EmbeddingHead(self.backbone.feature_dim, cfg.dim, layernorm=cfg.layernorm)
            self.model = EmbeddingModel(self.backbone, head)
        self.model.to(self.device)
        try:
            loss = create(
                cfg.method,
                num_classes=data.num_classes,
                dim=cfg.dim,
                num_samples=len(data.train),
                **cfg.loss_params,
            )
        except UserError:
            raise
        except (TypeError, ValueError) as error:
            # the loss classes check their own parameters; say which option to fix
            raise TrainingSetupError(
                f"{cfg.method}: bad loss parameter ({error}); fix loss_params (--param "
                f"KEY=VALUE); `rsdml methods` lists each method's parameters"
            ) from error
        self.loss = loss.to(self.device)
        self.hooks = self.loss.hooks
        if "unlabelled" in self.hooks and len(data.unlabelled) == 0:
            raise TrainingSetupError(
                f"{cfg.method} learns from unlabelled images: set label_fraction < 1 "
                "(e.g. --label-fraction 0.2) or unlabelled_pool='test'"
            )
        self._check_batch_size()
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        trainable += [p for p in self.loss.parameters() if p.requires_grad]
        self.trainable = trainable
        self.optimizer = torch.optim.SGD(
            trainable,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
        self.scheduler = _lr_scheduler(self.optimizer, cfg)
        self.momentum_encoder = (
            MomentumEncoder(self.model, cfg.ema_momentum, cfg.bn_splits).to(self.device)
            if "momentum_encoder" in self.hooks
            else None
        )
        self.train_labels = torch.as_tensor(data.train_labels, dtype=torch.long)
        self.selection_labels = data.train_labels
        self.val_labels = data.scenes.labels[data.split.val]
        self.unlabelled_stream = (
            BatchStream(len(data.unlabelled), cfg.batch_size, self.generator)
            if "unlabelled" in self.hooks
            else None
        )
        self.history: list[dict[str, Any]] = []
        # Whether training did anything at all, kept across resumes (see _ineffective_training).
        self.parameters_moved = False
        self.gradient_seen = False
        self.steps = 0
        self.zero_loss_steps = 0
        self.start_epoch = 0
        self.best_score = -math.inf
        self.best_epoch = -1
        self.best_state: dict[str, Any] | None = None

    def _check_batch_size(self) -> None:
        """Refuse, before anything is written, a batch size the loss cannot learn from."""
        cfg, loss = self.config, self.loss
        if loss.needs_pairs:
            why = (
                "it needs a positive pair and a negative in every batch (two classes x two images)"
            )
        else:
            why = "the samplers skip a lone sample, so batches of one give no training step"
        if cfg.batch_size < loss.min_batch_size:
            raise TrainingSetupError(
                f"{cfg.method} cannot learn from batches of {cfg.batch_size}: {why}; set "
                f"--batch-size to {loss.min_batch_size} or more (e.g. 32)"
            )
        if not loss.needs_pairs:
            return
        classes = len(np.unique(self.data.train_labels))
        if self.info.sampler == "balanced":
            classes = balanced_batch_shape(cfg.batch_size, classes)[0]
        if classes < 2:
            raise TrainingSetupError(
                f"{cfg.method} needs two classes in every batch, but its batches can hold only "
                f"{classes}: use a dataset with more classes, more labelled images "
                "(--label-fraction) or a larger --batch-size"
            )

    def _feature_inputs(
        self, images: np.ndarray, files_key: str, augmented: np.ndarray
    ) -> FeatureInputs:
        cfg = self.config
        views = cfg.views if len(augmented) else ("plain",)
        return FeatureInputs.build(
            self.backbone,
            images,
            files_key=files_key,
            image_size=cfg.image_size,
            views=views,
            augmented=augmented,
            device=str(self.device),
            progress=cfg.progress,
        )

    # ------------------------------------------------------------------ state
    def _state(self, epoch: int) -> dict[str, Any]:
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
            "activity": {
                "parameters_moved": self.parameters_moved,
                "gradient_seen": self.gradient_seen,
                "steps": self.steps,
                "zero_loss_steps": self.zero_loss_steps,
            },
        }

    def _restore(self, state: dict[str, Any]) -> None:
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
        # A checkpoint from before these counters existed cannot tell: assume training worked.
        activity = state.get("activity", {"parameters_moved": True, "steps": 1})
        self.parameters_moved = activity["parameters_moved"]
        self.gradient_seen = activity.get("gradient_seen", True)
        self.steps = activity["steps"]
        self.zero_loss_steps = activity.get("zero_loss_steps", 0)
        self.start_epoch = state["epoch"] + 1

    def _snapshot(self) -> dict[str, Any]:
        """Copies of the weights that define the selected model (model + loss, e.g. prototypes)."""
        return {
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "loss": {k: v.detach().cpu().clone() for k, v in self.loss.state_dict().items()},
        }

    # ------------------------------------------------------------------ loop
    def _batches(self):
        if self.info.sampler == "balanced":
            return balanced_batches(self.data.train_labels, self.config.batch_size, self.generator)
        return random_batches(len(self.data.train), self.config.batch_size, self.generator)

    def _train_epoch(self, epoch: int, unlabelled_stream: BatchStream | None) -> dict[str, float]:
        cfg, data = self.config, self.data
        # Compared after the epoch; once something moved there is nothing left to check.
        before = None if self.parameters_moved else [p.detach().clone() for p in self.trainable]
        # Weight decay moves parameters even without a gradient, so whether any gradient got
        # through is tracked too: the largest |gradient| entry, kept on the device (no sync).
        largest_gradient = torch.zeros((), device=self.device)
        self.model.train()
        self.loss.train()
        self.loss.set_progress(epoch / cfg.epochs)
        losses = []
        for positions in self._batches():
            global_indices = data.train[positions.numpy()]
            inputs = self.inputs.train_batch(torch.as_tensor(global_indices), self.generator)
            inputs = inputs.to(self.device, non_blocking=True)
            with _autocast(self.device):
                out = self.model(inputs)
            batch = Batch(
                embeddings=out.embedding.float(),
                raw=out.raw.float(),
                labels=self.train_labels[positions].to(self.device),
                indices=positions.to(self.device),
            )
            if self.momentum_encoder is not None:
                with _autocast(self.device):
                    batch.momentum = self.momentum_encoder(inputs, self.generator).embedding.float()
            if unlabelled_stream is not None:
                rows = next(unlabelled_stream)
                pool = data.unlabelled[rows.numpy()]
                u_inputs = self.inputs.train_batch(torch.as_tensor(pool), self.generator)
                with _autocast(self.device):
                    batch.unlabelled = self.model(u_inputs.to(self.device)).embedding.float()
                if self.loss_wants_unlabelled_labels:
                    batch.unlabelled_labels = torch.as_tensor(
                        data.scenes.labels[pool], dtype=torch.long, device=self.device
                    )
            value = self.loss(batch)
            if not torch.isfinite(value):
                raise TrainingDiverged(
                    f"{cfg.method}: the loss became {value.item()} at epoch {epoch + 1}; "
                    f"lower the learning rate (now {self.optimizer.param_groups[0]['lr']:g}) "
                    "or check the loss parameters"
                )
            self.optimizer.zero_grad(set_to_none=True)
            value.backward()
            if cfg.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(self.trainable, cfg.max_grad_norm)
            if not self.gradient_seen:
                largest_gradient = torch.stack(
                    [largest_gradient]
                    + [
                        p.grad.detach().abs().amax().float()
                        for p in self.trainable
                        if p.grad is not None
                    ]
                ).amax()
            self.optimizer.step()
            if self.momentum_encoder is not None:
                self.momentum_encoder.update(self.model)
            if "memory" in self.hooks:
                self.loss.after_step(batch)
            losses.append(value.item())
        self.steps += len(losses)
        self.zero_loss_steps += sum(1 for value in losses if value == 0.0)
        self.gradient_seen = self.gradient_seen or bool(largest_gradient > 0)
        if before is not None:
            self.parameters_moved = any(
                not torch.equal(old, new.detach())
                for old, new in zip(before, self.trainable, strict=True)
            )
        self.scheduler.step()
        return {"loss": float(np.mean(losses)) if losses else float("nan")}

    @property
    def loss_wants_unlabelled_labels(self) -> bool:
        """Only the released-code reproduction of HR-S2DML reads labels of unlabelled images."""
        return bool(getattr(self.loss, "leak_labels", False))

    def _validate(self) -> dict[str, float]:
        data = self.data
        train = _embed(self.model, self.inputs, data.train, self.device)
        val = _embed(self.model, self.inputs, data.split.val, self.device)
        score = knn_accuracy(
            val.embedding, self.val_labels, train.embedding, self.selection_labels, ks=(10,)
        )[SELECTION_METRIC]
        probe_embeddings = self._probe_embeddings(val.embedding)
        return {
            f"val_{SELECTION_METRIC}": score,
            **_rank_stats(self.loss, probe_embeddings.to(self.device)),
        }

    def _probe_embeddings(self, val_embeddings: torch.Tensor) -> torch.Tensor:
        """Embeddings whose rank is tracked: the unlabelled pool when there is one (the matrix
        HR-S2DML's regulariser acts on), else the validation split."""
        if len(self.data.unlabelled):
            return _embed(self.model, self.inputs, self.data.unlabelled, self.device).embedding
        return val_embeddings

    def _initialise_memory(self) -> None:
        train = _embed(self.model, self.inputs, self.data.train, self.device)
        self.loss.init_memory(train.embedding.to(self.device), self.train_labels.to(self.device))

    def _prune(self) -> None:
        """t-RNSL: re-estimate which samples to keep with the validation-selected model.

        The selected model and its prototypes are loaded into copies, so by default the current
        weights (and optimiser state) carry on untouched and only the pruning decision is
        transferred. With the loss's ``resume="selected"`` training continues from the selected
        weights instead, with the optimiser's momentum cleared.
        """
        selected_model, selected_loss = copy.deepcopy(self.model), copy.deepcopy(self.loss)
        if self.best_state is not None:
            selected_model.load_state_dict(self.best_state["model"])
            selected_loss.load_state_dict(self.best_state["loss"])
        train = _embed(selected_model, self.inputs, self.data.train, self.device)
        selected_loss.update_pruning(
            train.embedding.to(self.device), self.train_labels.to(self.device)
        )
        if self.loss.resume == "selected" and self.best_state is not None:
            self.model.load_state_dict(selected_model.state_dict())
            self.loss.load_state_dict(selected_loss.state_dict())  # its pruning weights too
            self.optimizer.state.clear()
        else:
            self.loss.copy_pruning_from(selected_loss)

    def run(self) -> dict[str, Any]:
        """Train (or resume), select on validation, evaluate on test; returns the metrics.

        Runs with :func:`rsdml.runtime.fixed_threads`: the same configuration gives the same
        history and metrics on any core count and in any study worker.
        """
        with fixed_threads():
            return self._run()

    def _run(self) -> dict[str, Any]:
        if self.folder is not None:
            finished = self.folder.finished_metrics()
            if finished is not None:
                for message in finished.get("warnings", []):
                    _warn(message)
                return finished
        self._setup()
        cfg = self.config
        if self.folder is not None:
            self.folder.write_config()
            self.folder.write_split(self.data)
            state = self.folder.load_last()
            if state is not None:
                self._restore(state)
        untrained = None
        if self.start_epoch == 0:
            untrained = self._evaluate_current()
            if "memory" in self.hooks:
                self._initialise_memory()
        else:
            untrained = self.folder.read_untrained()
        if self.folder is not None and self.start_epoch == 0:
            self.folder.write_untrained(untrained)
        epochs = progress(
            range(self.start_epoch, cfg.epochs),
            desc=f"{cfg.method} ({cfg.mode})",
            total=cfg.epochs - self.start_epoch,
            enabled=cfg.progress,
            unit="epoch",
        )
        for epoch in epochs:
            started = time.perf_counter()
            if "pruning" in self.hooks and self.loss.pruning_due(epoch + 1, cfg.epochs):
                self._prune()
            record = {"epoch": epoch + 1, "lr": self.optimizer.param_groups[0]["lr"]}
            record.update(self._train_epoch(epoch, self.unlabelled_stream))
            record.update(self._validate())
            record.update(self.loss.stats())
            record["seconds"] = time.perf_counter() - started
            self.history.append(record)
            score = record[f"val_{SELECTION_METRIC}"]
            if score > self.best_score:
                self.best_score, self.best_epoch = score, epoch + 1
                self.best_state = self._snapshot()
            if self.folder is not None:
                self.folder.save_last(self._state(epoch))
                self.folder.write_history(self.history)
        return self._finish(untrained)

    def _database_labels(self) -> np.ndarray:
        """Labels of the evaluation database: the archive's clean labels by default, or the
        (noisy) labels the learner was given."""
        data = self.data
        return (
            data.database_clean if self.config.database_labels == "clean" else data.database_given
        )

    def _evaluate_current(self) -> dict[str, float]:
        """Test metrics of the model as it stands (before training: the untrained embedding)."""
        data = self.data
        database = _embed(self.model, self.inputs, data.split.train, self.device)
        test = _embed(self.model, self.inputs, data.split.test, self.device)
        return evaluate_embeddings(
            test.embedding,
            data.scenes.labels[data.split.test],
            database.embedding,
            self._database_labels(),
            seed=self.config.seed,
            device=self.device,
        )

    def _finish(self, untrained: dict[str, float] | None) -> dict[str, Any]:
        cfg, data = self.config, self.data
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state["model"])
            self.loss.load_state_dict(self.best_state["loss"])
        train = _embed(self.model, self.inputs, data.split.train, self.device)
        val = _embed(self.model, self.inputs, data.split.val, self.device)
        test = _embed(self.model, self.inputs, data.split.test, self.device)
        database_labels = self._database_labels()
        test_labels = data.scenes.labels[data.split.test]
        val_labels = data.scenes.labels[data.split.val]
        metrics = {
            "config": cfg.to_dict(),
            "config_key": cfg.key(),
            "classes": list(data.scenes.classes),
            "split": data.split.summary(data.scenes.labels, data.scenes.classes),
            "best_epoch": self.best_epoch,
            "val": evaluate_embeddings(
                val.embedding,
                val_labels,
                train.embedding,
                database_labels,
                seed=cfg.seed,
                device=self.device,
            ),
            "test": evaluate_embeddings(
                test.embedding,
                test_labels,
                train.embedding,
                database_labels,
                seed=cfg.seed,
                device=self.device,
            ),
            "untrained": untrained,
            "noise": None
            if data.noise is None
            else {
                "kind": cfg.noise,
                "rate": cfg.noise_rate,
                "realised_rate": float(data.noise.realised_rate),
                "transition": np.asarray(data.noise.transition).tolist(),
            },
            "history": self.history,
            "rank": {
                "probe": "unlabelled" if len(data.unlabelled) else "val",
                **_spectra(self.loss, self._probe_embeddings(val.embedding).to(self.device)),
            },
            "seconds": float(sum(r["seconds"] for r in self.history)),
            "warnings": self._ineffective_training(),
        }
        for message in metrics["warnings"]:
            _warn(message)
        if self.folder is not None:
            embeddings = {
                "train": train.embedding.numpy(),
                "val": val.embedding.numpy(),
                "test": test.embedding.numpy(),
                "train_index": data.split.train,
                "val_index": data.split.val,
                "test_index": data.split.test,
                "train_labels": data.database_given,
                "train_clean": data.database_clean,
                "labelled_index": data.train,
                "val_labels": val_labels,
                "test_labels": test_labels,
            }
            self.folder.write_final(metrics, self._state(cfg.epochs - 1), embeddings)
        return metrics

    def _ineffective_training(self) -> list[str]:
        """One message per sign that training did nothing, naming the likely cause."""
        cfg = self.config
        prefix = f"{cfg.method}: training changed nothing"
        if self.steps == 0:
            return [
                f"{prefix}: no training step was taken (every batch was skipped); raise "
                f"--batch-size (now {cfg.batch_size}) or label more images"
            ]
        if self.zero_loss_steps == self.steps:
            return [
                f"{prefix}: the loss was exactly 0 at all {self.steps} steps; likely cause: "
                f"batches too small to form pairs (--batch-size {cfg.batch_size}) or a loss "
                f"parameter that makes every term vanish (loss_params {cfg.loss_params})"
            ]
        if not self.gradient_seen:
            return [
                f"{prefix}: every gradient was exactly 0 in {self.steps} steps; likely cause: a "
                f"loss parameter that makes the gradients vanish or overflow (loss_params "
                f"{cfg.loss_params}; an overflowing gradient is clipped to 0)"
            ]
        if not self.parameters_moved:
            cause = "the learning rate is 0 (--lr 0)" if cfg.lr == 0 else f"--lr {cfg.lr:g}"
            return [
                f"{prefix}: no trainable parameter moved in {self.steps} steps; likely cause: "
                f"{cause}"
            ]
        return []


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
    if config.resolved().mode == "frozen":
        with fixed_threads():
            Trainer(config)._setup_inputs()


def fit(config: TrainConfig | dict[str, Any], out: str | Path | None = None) -> dict[str, Any]:
    """Train one method as configured and return its metrics (``val``, ``test``, ``history``...).

    Args:
        config: a :class:`TrainConfig` or a dictionary of its fields.
        out: optional run folder; with it the run writes ``metrics.json``, ``embeddings.npz``,
            checkpoints and history, resumes after an interruption, and returns at once when the
            same configuration has already finished there.
    """
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    return Trainer(config, out).run()


__all__ = ["TrainingDiverged", "TrainingSetupError", "Trainer", "fit", "prepare_features"]
