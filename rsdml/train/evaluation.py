"""What the loop measures of a model: embeddings of index sets, the selection score and ranks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rsdml.evaluate import knn_accuracy, rank_analysis
from rsdml.losses import MetricLoss
from rsdml.runtime import autocast
from rsdml.storage import ContentMemo
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


class EmbeddedSets:
    """Embeddings of index sets by one model with fixed weights, each set embedded once.

    Asked again for the same positions (equal arrays), it answers from memory: a run's
    validation embeds the labelled training images, the validation split and the unlabelled
    pool, and the final evaluation of the selected epoch needs the same sets with the same
    weights (embedding is deterministic, so the numbers are those of a second embedding).
    The weights must not change while the sets are in use.
    """

    def __init__(
        self,
        model: nn.Module,
        inputs: FeatureInputs | GatheredFeatures | ImageInputs,
        device: torch.device,
    ) -> None:
        self.model, self.inputs, self.device = model, inputs, device
        self._embedded: list[tuple[np.ndarray, Embeddings]] = []

    def __call__(self, indices: np.ndarray) -> Embeddings:
        """The embeddings of ``indices`` (global positions), in their order."""
        for known, embeddings in self._embedded:
            if np.array_equal(known, indices):
                return embeddings
        embeddings = embed(self.model, self.inputs, indices, self.device)
        self._embedded.append((np.array(indices, copy=True), embeddings))
        return embeddings


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


#: Problems :func:`remembered_knn_accuracy` keeps the answer of, most recent last.
REMEMBERED_KNN_PROBLEMS = 16
_KNN_MEMO = ContentMemo(REMEMBERED_KNN_PROBLEMS)


def remembered_knn_accuracy(
    query: torch.Tensor,
    query_labels: np.ndarray,
    database: torch.Tensor,
    database_labels: np.ndarray,
    ks: Sequence[int],
    *,
    device: torch.device,
    leave_one_out: bool = False,
) -> dict[str, float]:
    """:func:`~rsdml.evaluate.knn_accuracy`, answered from memory when this process has scored
    the same problem before: the same embeddings, labels, ``ks``, device and protocol, compared
    by content (:class:`~rsdml.storage.ContentMemo`).

    The untrained model of a seed is the same for every method and setting of a study, so its
    test kNN was computed again in every cell of a worker (about 1 s of a EuroSAT cell); the
    embeddings are still computed, and anything that changes them misses the memory.
    """
    arrays = [
        torch.as_tensor(array).cpu().numpy()
        for array in (query, query_labels, database, database_labels)
    ]
    answer = _KNN_MEMO.recall(
        arrays,
        (list(ks), str(device), leave_one_out),
        lambda: knn_accuracy(
            query,
            query_labels,
            database,
            database_labels,
            ks,
            device=device,
            leave_one_out=leave_one_out,
        ),  # fmt: skip
    )
    return dict(answer)
