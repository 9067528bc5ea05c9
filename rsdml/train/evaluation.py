"""What the loop measures of a model: embeddings of index sets, the selection score and ranks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rsdml.evaluate import rank_analysis
from rsdml.losses import MetricLoss
from rsdml.runtime import autocast
from rsdml.train.inputs import FeatureInputs, ImageInputs

#: The validation metric that selects the epoch whose weights a run keeps.
SELECTION_METRIC = "knn@10"


@dataclass
class Embeddings:
    """L2-normalised embeddings of one index set, on the CPU."""

    embedding: torch.Tensor
    raw: torch.Tensor


class GatheredFeatures:
    """Frozen-mode inputs whose evaluation chunks are gathered once per index set.

    A run embeds the same training and validation images after every epoch; gathering their
    rows of the feature table (a copy) took a sixth of each validation. The chunks hold the
    same values as :meth:`FeatureInputs.eval_chunks`, so the embeddings are the same.
    """

    def __init__(self, inputs: FeatureInputs) -> None:
        self.inputs = inputs
        self._chunks: dict[bytes, list[torch.Tensor]] = {}

    def eval_chunks(self, indices: np.ndarray) -> Iterator[torch.Tensor]:
        """Plain features of ``indices`` in chunks, gathered on the first call."""
        key = np.asarray(indices, dtype=np.int64).tobytes()
        if key not in self._chunks:
            self._chunks[key] = list(self.inputs.eval_chunks(indices))
        return iter(self._chunks[key])


def embed(
    model: nn.Module,
    inputs: FeatureInputs | GatheredFeatures | ImageInputs,
    indices: np.ndarray,
    device: torch.device,
) -> Embeddings:
    """Embed ``indices`` with ``model`` in evaluation mode."""
    was_training = model.training
    model.eval()
    embeddings, raws = [], []
    with torch.inference_mode(), autocast(device):
        for chunk in inputs.eval_chunks(indices):
            out = model(chunk.to(device, non_blocking=True))
            embeddings.append(out.embedding.float().cpu())
            raws.append(out.raw.float().cpu())
    model.train(was_training)
    return Embeddings(torch.cat(embeddings), torch.cat(raws))


def spectra(loss: MetricLoss, embeddings: torch.Tensor) -> dict[str, list[float]]:
    """Singular values of the embeddings and, for prototype losses, of the class-probability
    matrix, for the rank-analysis figures."""
    values = {"embedding": rank_analysis(embeddings)["singular_values"].tolist()}
    if loss.has_class_probabilities:
        with torch.no_grad():
            probabilities = loss.class_probabilities(embeddings)
        values["prediction"] = rank_analysis(probabilities)["singular_values"].tolist()
    return values


def rank_stats(loss: MetricLoss, embeddings: torch.Tensor) -> dict[str, float]:
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
