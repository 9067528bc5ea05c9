"""What every loss in rsdml sees and offers: the `Batch` it is given, the `Needs` it declares and
the `MetricLoss` base class.

The training engine (``rsdml.train``) runs one loop for every method. A loss tells the loop what
it needs through one value, its :class:`Needs` (``loss.needs``); the docstring of :class:`Needs`
is the whole contract. The notation (v, f, prototypes, temperatures, memory) is defined in
``docs/methods.md#notation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

HOOK_NAMES = frozenset({"unlabelled", "memory", "momentum_encoder", "pruning"})
SAMPLERS = ("random", "balanced")
PRUNING_RESUMES = ("current", "selected")


@dataclass(frozen=True)
class Needs:
    """What a method asks of the training loop: the whole contract between a loss and the loop.

    Every epoch the loop calls ``loss.set_progress(epoch / epochs)``, then for every batch builds
    a :class:`Batch`, calls ``loss(batch)`` (a scalar), steps the optimiser over the model's and
    the loss's parameters, and after the epoch logs ``loss.stats()``. Prototype losses
    (``has_class_probabilities``) also get their class-probability rank tracked. Beyond that the
    loop does exactly what the fields below ask, and nothing else. In a run over several
    processes every rank's loss gets the whole batch, gathered in rank order, so per-sample
    state updated from a :class:`Batch` stays the same on every rank
    (:mod:`rsdml.train.distributed`); a loss needs no code of its own for it.

    Attributes:
        sampler: how batches are drawn: ``"random"``, or ``"balanced"`` (a few classes with
            several images each, for in-batch pair losses).
        min_batch_size: the smallest batch the loss learns from; the loop refuses a smaller
            ``batch_size`` before anything is written (the samplers skip a lone sample).
        pairs: every batch must hold a positive pair and a negative (two classes, two images
            each); the loop checks that the sampler can form them from the training labels.
        unlabelled: each step also embeds a batch of unlabelled images, ``Batch.unlabelled``
            (the run needs ``label_fraction < 1`` or ``unlabelled_pool="test"``).
        unlabelled_labels: also pass their true labels, ``Batch.unlabelled_labels``: only the
            released HR-S2DML code's label leak (``leak_labels=True``) asks for this.
        memory: the loss keeps a slot per training sample; the loop calls
            :meth:`MetricLoss.init_memory` with the untrained embeddings of the whole training
            set before the first epoch, and :meth:`MetricLoss.after_step` after every optimiser
            step.
        momentum_encoder: the loop keeps an EMA copy of the model (updated after every step)
            and passes its embeddings of the same images, ``Batch.momentum``.
        pruning: before each epoch the loop asks :meth:`MetricLoss.pruning_due`; when due it
            embeds the training set with the validation-selected model, calls
            :meth:`MetricLoss.update_pruning` on a copy of the loss holding the selected weights,
            and :meth:`MetricLoss.copy_pruning_from` that copy.
        pruning_resume: after pruning, training carries on from the ``"current"`` weights, or
            from the ``"selected"`` ones (loaded with their loss state, optimiser momentum
            cleared; no copy is made then).
    """

    sampler: Literal["random", "balanced"] = "random"
    min_batch_size: int = 2
    pairs: bool = False
    unlabelled: bool = False
    unlabelled_labels: bool = False
    memory: bool = False
    momentum_encoder: bool = False
    pruning: bool = False
    pruning_resume: Literal["current", "selected"] = "current"

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}.")
        if self.pruning_resume not in PRUNING_RESUMES:
            raise ValueError(
                f"resume must be one of {PRUNING_RESUMES}, got {self.pruning_resume!r}."
            )
        if self.unlabelled_labels and not self.unlabelled:
            raise ValueError("unlabelled_labels needs unlabelled=True.")

    @property
    def hooks(self) -> frozenset[str]:
        """The names (from ``HOOK_NAMES``) of the optional steps the loop runs for this loss."""
        return frozenset(name for name in sorted(HOOK_NAMES) if getattr(self, name))


@dataclass
class Batch:
    """One training step's worth of model outputs, as the engine hands them to a loss.

    Attributes:
        embeddings: (B, D) L2-normalised embeddings f = v / ||v|| (with gradient).
        raw: (B, D) the head's output v before normalisation (with gradient); classifier heads
            (CE, SNCA-CE) act on it.
        labels: (B,) int64 training labels (possibly noisy).
        indices: (B,) int64 positions of the samples in the training set (0..N-1); memory and
            pruning losses key their per-sample state on them.
        unlabelled: (Bu, D) L2-normalised embeddings of an unlabelled batch (hook "unlabelled").
        unlabelled_labels: (Bu,) true labels of the unlabelled batch; only read by the released
            code's label-leak option of ``hr_s2dml`` (never pass them otherwise).
        momentum: (B, D) L2-normalised embeddings of the same images from the EMA encoder, without
            gradient (hook "momentum_encoder").
    """

    embeddings: Tensor
    raw: Tensor
    labels: Tensor
    indices: Tensor
    unlabelled: Tensor | None = None
    unlabelled_labels: Tensor | None = None
    momentum: Tensor | None = None

    def __post_init__(self) -> None:
        if self.embeddings.ndim != 2:
            raise ValueError(
                f"Batch.embeddings must be (B, D), got shape {tuple(self.embeddings.shape)}."
            )
        size = self.embeddings.shape[0]
        for name in ("raw", "labels", "indices", "momentum"):
            value = getattr(self, name)
            if value is not None and value.shape[0] != size:
                raise ValueError(
                    f"Batch.{name} has {value.shape[0]} rows but Batch.embeddings has {size}; "
                    "every per-sample field must describe the same B samples."
                )
        if self.labels.ndim != 1 or self.indices.ndim != 1:
            raise ValueError("Batch.labels and Batch.indices must be 1-D int64 tensors of size B.")


class MetricLoss(nn.Module):
    """Base class of every rsdml loss: ``forward(batch) -> scalar`` plus no-op hook methods.

    Attributes:
        needs: what the loss asks of the training loop (:class:`Needs`, the contract). A class
            attribute; a loss whose needs depend on its options replaces it in ``__init__``
            (``dataclasses.replace(self.needs, ...)``).
        has_class_probabilities: whether :meth:`class_probabilities` is implemented.
    """

    needs: Needs = Needs()
    has_class_probabilities: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self.progress = 0.0

    def forward(self, batch: Batch) -> Tensor:  # pragma: no cover - abstract
        """Return the scalar loss of one batch."""
        raise NotImplementedError

    def set_progress(self, fraction: float) -> None:
        """Tell the loss how far training is: completed epochs / total epochs (0 at the start).

        The engine calls it at the start of every epoch with ``epoch / total_epochs`` for a
        0-based ``epoch``; schedules expressed as fractions of the run read ``self.progress``.
        """
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"progress fraction must lie in [0, 1], got {fraction}.")
        self.progress = float(fraction)

    def init_memory(self, embeddings: Tensor, labels: Tensor) -> None:
        """Needs ``memory``: receive all N training embeddings (L2) and their training labels."""

    def after_step(self, batch: Batch) -> None:
        """Needs ``memory``: update per-sample state after the optimiser step (no gradient)."""

    def stats(self) -> dict[str, float]:
        """Scalars worth logging in the training history (e.g. memory momentum)."""
        return {}

    def class_probabilities(self, embeddings: Tensor) -> Tensor:
        """Softmax class probabilities of L2 embeddings; only for prototype losses."""
        raise NotImplementedError(
            f"{type(self).__name__} has no class prototypes, so it cannot give class "
            "probabilities; check `has_class_probabilities` before calling."
        )

    def update_pruning(self, embeddings: Tensor, labels: Tensor) -> None:
        """Needs ``pruning``: re-estimate per-sample weights from all N train embeddings."""

    def copy_pruning_from(self, other: MetricLoss) -> None:
        """Needs ``pruning``: take over the pruning decision of ``other`` (a copy holding the
        validation-selected prototypes), keeping this loss's own prototypes."""

    def pruning_due(self, epoch: int, total_epochs: int) -> bool:
        """Needs ``pruning``: whether :meth:`update_pruning` should run before ``epoch`` (1-based)."""
        return False


class PrototypeLoss(MetricLoss):
    """Base of the normalised-softmax family: learnable class prototypes W (C x D).

    The prototypes are an ``nn.Parameter`` owned by the loss (the engine adds
    ``loss.parameters()`` to the optimiser) and are L2-normalised in every forward, so only their
    direction matters. They start Xavier-uniform, like common ArcFace/NSL implementations.

    Args:
        num_classes: number of classes C.
        dim: embedding dimension D.
        temperature: softmax temperature tau; logits are cos(theta) / tau.
    """

    has_class_probabilities: ClassVar[bool] = True

    def __init__(self, num_classes: int, dim: int, temperature: float) -> None:
        super().__init__()
        _check_positive(num_classes=num_classes, dim=dim, temperature=temperature)
        self.num_classes = num_classes
        self.dim = dim
        self.temperature = float(temperature)
        self.prototypes = nn.Parameter(torch.empty(num_classes, dim))
        nn.init.xavier_uniform_(self.prototypes)

    def cosines(self, embeddings: Tensor) -> Tensor:
        """Cosines (B, C) between L2-normalised embeddings and the normalised prototypes."""
        return embeddings @ F.normalize(self.prototypes, dim=1).t()

    def class_probabilities(self, embeddings: Tensor) -> Tensor:
        """Return p_ic = softmax_c(cos(theta_ic) / tau), shape (B, C)."""
        return torch.softmax(self.cosines(embeddings) / self.temperature, dim=1)


def linear_classifier(dim: int, num_classes: int) -> nn.Linear:
    """A Linear(D, C) classifier on the raw vector v: Kaiming-normal weight, zero bias.

    Kaiming-normal follows the Kang et al. reference code, which initialises every linear layer
    that way.
    """
    classifier = nn.Linear(dim, num_classes)
    nn.init.kaiming_normal_(classifier.weight)
    nn.init.zeros_(classifier.bias)
    return classifier


def euclidean_distances(x: Tensor, squared: bool = False) -> Tensor:
    """Pairwise Euclidean distances (B, B) between the rows of ``x``.

    Built from the Gram matrix (fast on GPU). The square root is taken of a value clamped at the
    dtype's machine epsilon, so coincident points (the diagonal, duplicates) get a large but finite
    gradient instead of an infinite one; callers mask the diagonal out anyway.
    """
    norms = (x * x).sum(dim=1)
    squared_distances = (norms[:, None] + norms[None, :] - 2.0 * (x @ x.t())).clamp_min(0.0)
    if squared:
        return squared_distances
    return squared_distances.clamp_min(torch.finfo(x.dtype).eps).sqrt()


def same_label_masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Boolean (B, B) masks of positive pairs (same label, j != i) and negative pairs."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def _check_positive(**values: float) -> None:
    """Raise a ValueError naming the first argument that is not strictly positive."""
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}.")
