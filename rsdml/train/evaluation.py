"""What the loop measures of a model: embeddings of index sets, the selection score and ranks."""

from __future__ import annotations

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


def embed(
    model: nn.Module, inputs: FeatureInputs | ImageInputs, indices: np.ndarray, device: torch.device
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
