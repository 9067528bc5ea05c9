"""What every loss in rsdml sees and offers: the `Batch` it is given and the `MetricLoss` hooks.

The training engine (``rsdml.train``) runs one loop for every method. A loss plugs into that loop
through a few narrow hooks, declared in its ``hooks`` class attribute:

- ``"unlabelled"``: the engine also embeds an unlabelled batch and passes it as
  ``Batch.unlabelled`` (HR-S2DML);
- ``"memory"``: the loss keeps one slot per training sample; the engine calls
  :meth:`MetricLoss.init_memory` once before training and :meth:`MetricLoss.after_step` after each
  optimiser step (SNCA);
- ``"momentum_encoder"``: the engine runs an EMA copy of the encoder and passes its embeddings of
  the same images as ``Batch.momentum`` (SNCA MU);
- ``"pruning"``: the engine asks :meth:`MetricLoss.pruning_due` at each epoch start and, when due,
  calls :meth:`MetricLoss.update_pruning` with the train embeddings of the selected model (t-RNSL).

Every hook has a no-op default here, so the engine may call all of them on every loss. The notation
(v, f, prototypes, temperatures, memory) is defined in ``docs/methods.md#notation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

HOOK_NAMES = frozenset({"unlabelled", "memory", "momentum_encoder", "pruning"})
SAMPLERS = ("random", "balanced")


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
    """Base class of every rsdml loss: ``forward(batch) -> scalar`` plus no-op engine hooks.

    Class attributes:
        hooks: the engine hooks the loss needs (subset of ``HOOK_NAMES``).
        sampler: the batch sampler the method expects, ``"random"`` or ``"balanced"`` (pairwise
            in-batch losses need several samples per class in every batch).
        has_class_probabilities: whether :meth:`class_probabilities` is implemented.
        min_batch_size: the smallest batch size the loss can learn from; the engine refuses a
            smaller one before training. 2 by default: the samplers skip a lone sample, so a
            batch size of 1 would give no batches at all.
        needs_pairs: whether every batch must hold a positive pair and a negative (two
            classes, two images each) for the loss to be non-zero; the engine checks that the
            sampler can form them from the training labels.
    """

    hooks: ClassVar[frozenset[str]] = frozenset()
    sampler: ClassVar[str] = "random"
    has_class_probabilities: ClassVar[bool] = False
    min_batch_size: ClassVar[int] = 2
    needs_pairs: ClassVar[bool] = False

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
        """Hook "memory": receive all N training embeddings (L2) and their training labels."""

    def after_step(self, batch: Batch) -> None:
        """Hook "memory": update per-sample state after the optimiser step (no gradient)."""

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
        """Hook "pruning": re-estimate per-sample weights from all N train embeddings."""

    def copy_pruning_from(self, other: MetricLoss) -> None:
        """Hook "pruning": take over the pruning decision of ``other`` (a copy holding the
        validation-selected prototypes), keeping this loss's own prototypes."""

    def pruning_due(self, epoch: int, total_epochs: int) -> bool:
        """Hook "pruning": whether :meth:`update_pruning` should run before ``epoch`` (1-based)."""
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
