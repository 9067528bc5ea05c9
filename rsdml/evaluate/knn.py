"""k-nearest-neighbour classification of query embeddings against a labelled database.

This is the papers' headline "kNN OA": scikit-learn's
``KNeighborsClassifier(n_neighbors=k, weights="distance")`` fitted on the (L2-normalised)
training embeddings and scored on the test embeddings (``docs/methods.md#knn-accuracy``). We
reproduce its predictions without materialising the distance matrix:

- a float32 chunked search by cosine similarity proposes the k + 8 most similar database
  items; their Euclidean distances are recomputed in float64 as ``||q - x||`` (exact zeros
  for duplicates, no cancellation error from ``sqrt(2 - 2 s)``) and the k nearest are kept,
  equal distances going to the lower database index (the set scikit-learn keeps when its
  distances tie exactly);
- each neighbour votes with weight ``1 / distance``; if some neighbours are at distance
  exactly 0 (duplicates), those get weight 1 and all others weight 0, as scikit-learn does;
- a tie in the summed votes goes to the smallest label (scikit-learn's ``weighted_mode``).

Identical vectors are at distance exactly 0 here, whereas scikit-learn's Gram-matrix formula
may give them a tiny non-zero distance; the prediction can then only differ when several
duplicates of a query carry different labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rsdml.evaluate.search import (
    DEFAULT_MEMORY_MB,
    TOP_K_BYTES_PER_ELEMENT,
    ArrayLike,
    as_embeddings,
    as_labels,
    check_ks,
    check_pair,
    chunk_rows,
    coded_problem,
    encode_labels,
    similarity_chunks,
    top_k_rows,
)
from rsdml.metric_names import KNN_KS
from rsdml.runtime import resolve_device

EXTRA_CANDIDATES = 8
"""Neighbours fetched beyond k by the float32 search, then re-ranked by float64 distance."""


def _neighbour_votes(
    distances: torch.Tensor,
    neighbour_codes: torch.Tensor,
    num_classes: int,
    weighted: bool,
) -> torch.Tensor:
    """Class codes predicted from sorted neighbour distances (B, k) and their class codes."""
    if weighted:
        at_zero = distances == 0
        has_zero = at_zero.any(dim=1, keepdim=True)
        weights = torch.where(has_zero, at_zero.to(torch.float64), 1.0 / distances)
    else:
        weights = torch.ones_like(distances)
    votes = torch.zeros(distances.shape[0], num_classes, dtype=torch.float64, device=weights.device)
    votes.scatter_add_(1, neighbour_codes, weights)
    # argmax returns the first maximum, i.e. the smallest label among tied classes.
    return votes.argmax(dim=1)


class NeighbourVotes:
    """kNN predictions of every query, gathered a chunk of similarity rows at a time.

    Called with ``(start, similarities)`` (a :data:`~rsdml.evaluate.search.SimilarityVisitor`),
    it predicts the class codes of queries ``start .. start + B - 1`` for every k. A search
    for other metrics can call it with its own chunks, so that one matrix product serves both;
    :meth:`search` runs a search for it alone.

    ``leave_one_out``: the queries are the database items themselves, row for row, and each
    one's own row is kept out of its neighbours (the search sets its similarity to -inf and
    stops short of it: the database holds N - 1 items for every query).
    """

    def __init__(
        self,
        queries: torch.Tensor,
        items: torch.Tensor,
        item_codes: np.ndarray,
        num_classes: int,
        ks: Sequence[int],
        weighted: bool,
        *,
        device: str | torch.device | None,
        leave_one_out: bool = False,
    ) -> None:
        target = resolve_device(device)
        self.queries, self.items = queries, items.to(target)
        self.items64 = self.items.to(torch.float64)  # converted once, not once per candidate
        self.codes = torch.as_tensor(item_codes, dtype=torch.int64, device=target)
        self.num_classes, self.ks, self.weighted = num_classes, tuple(ks), weighted
        self.leave_one_out = leave_one_out
        self.num_items = items.shape[0] - int(leave_one_out)
        largest = min(max(self.ks), self.num_items)
        self.candidates = min(largest + EXTRA_CANDIDATES, self.num_items)
        self.predictions = {k: np.empty(queries.shape[0], dtype=np.int64) for k in self.ks}
        self._voted = np.zeros(queries.shape[0], dtype=bool)

    def __call__(self, start: int, similarities: torch.Tensor) -> None:
        stop = start + similarities.shape[0]
        chunk = self.queries[start:stop].to(similarities.device)
        _, indices = top_k_rows(similarities, self.candidates)
        # Float64 distances of the candidates: exact zeros for duplicates, and no cancellation
        # error from 2 - 2s for close neighbours.
        differences = chunk.to(torch.float64)[:, None, :] - self.items64[indices]
        distances = torch.linalg.vector_norm(differences, dim=2)
        # Re-rank by (distance, database index): sort by index, then stably by distance.
        by_index = torch.argsort(indices, dim=1)
        indices, distances = indices.gather(1, by_index), distances.gather(1, by_index)
        by_distance = torch.argsort(distances, dim=1, stable=True)
        indices, distances = indices.gather(1, by_distance), distances.gather(1, by_distance)
        neighbour_codes = self.codes[indices]
        for k in self.ks:
            kept = min(k, self.num_items)
            predicted = _neighbour_votes(
                distances[:, :kept], neighbour_codes[:, :kept], self.num_classes, self.weighted
            )
            self.predictions[k][start:stop] = predicted.cpu().numpy()
        self._voted[start:stop] = True

    def search(self, *, memory_mb: float, chunk_size: int | None) -> NeighbourVotes:
        """Run a search of every query for these votes alone; returns ``self``."""
        # Per query row: the similarity row plus the float64 candidate differences (B, c, D).
        row_width = self.num_items + 2 * self.candidates * self.items.shape[1]
        rows = chunk_rows(
            row_width, TOP_K_BYTES_PER_ELEMENT, memory_mb=memory_mb, chunk_size=chunk_size
        )
        chunks = similarity_chunks(
            self.queries, self.items, rows, "kNN classification",
            leave_one_out=self.leave_one_out, visit=self,
        )  # fmt: skip
        for _ in chunks:
            pass
        return self

    def code_predictions(self) -> dict[int, np.ndarray]:
        """The predicted class code of every query for every k.

        Raises:
            RuntimeError: some query's similarities were never shown to the votes.
        """
        if not self._voted.all():
            missing = int((~self._voted).sum())
            raise RuntimeError(f"{missing} queries have no kNN votes: search every query first")
        return self.predictions


def knn_votes(
    query: ArrayLike,
    query_labels: ArrayLike,
    database: ArrayLike,
    database_labels: ArrayLike,
    ks: Sequence[int] = KNN_KS,
    weighted: bool = True,
    *,
    normalize: bool = True,
    device: str | torch.device | None = "auto",
    leave_one_out: bool = False,
) -> tuple[NeighbourVotes, np.ndarray]:
    """Empty :class:`NeighbourVotes` of a labelled problem and the queries' class codes, for a
    search to fill (arguments as in :func:`knn_accuracy`; ``ks`` must not be empty)."""
    queries, items, query_codes, item_codes, class_sizes = coded_problem(
        query, query_labels, database, database_labels, normalize, same_rows=leave_one_out
    )
    votes = NeighbourVotes(
        queries, items, item_codes, len(class_sizes), ks, weighted,
        device=device, leave_one_out=leave_one_out,
    )  # fmt: skip
    return votes, query_codes


def knn_scores(votes: NeighbourVotes, query_codes: np.ndarray) -> dict[str, float]:
    """``{"knn@k": accuracy}`` of filled votes against the queries' true class codes."""
    predictions = votes.code_predictions()
    return {f"knn@{k}": float(np.mean(predictions[k] == query_codes)) for k in votes.ks}


def knn_predict(
    query: ArrayLike,
    database: ArrayLike,
    database_labels: ArrayLike,
    k: int = 10,
    *,
    weighted: bool = True,
    normalize: bool = True,
    device: str | torch.device | None = "auto",
    memory_mb: float = DEFAULT_MEMORY_MB,
    chunk_size: int | None = None,
) -> np.ndarray:
    """Predict a label for each query by a (distance-weighted) vote of its k nearest neighbours.

    Args:
        query: (Q, D) query embeddings.
        database: (N, D) database embeddings.
        database_labels: (N,) labels of the database items (numpy, torch or a sequence).
        k: number of neighbours; capped at N when the database is smaller.
        weighted: ``1 / distance`` weights (scikit-learn ``weights="distance"``); False gives
            a plain majority vote (``weights="uniform"``).
        normalize: L2-normalise the embeddings first.
        device: "auto", "cpu", "cuda", ...
        memory_mb: working-memory budget of one query chunk, in MiB.
        chunk_size: query rows per chunk (default: from ``memory_mb``).

    Returns:
        (Q,) array of predicted labels, drawn from ``database_labels``.
    """
    (k,) = check_ks((k,))
    items = as_embeddings(database, "database", normalize=normalize)
    queries = as_embeddings(query, "query", normalize=normalize)
    check_pair(queries, items)
    labels = as_labels(database_labels, "database_labels", items.shape[0])
    classes, (codes,) = encode_labels(labels)
    votes = NeighbourVotes(queries, items, codes, len(classes), (k,), weighted, device=device)
    votes.search(memory_mb=memory_mb, chunk_size=chunk_size)
    return classes[votes.code_predictions()[k]]


def knn_accuracy(
    query: ArrayLike,
    query_labels: ArrayLike,
    database: ArrayLike,
    database_labels: ArrayLike,
    ks: Sequence[int] = KNN_KS,
    weighted: bool = True,
    *,
    normalize: bool = True,
    device: str | torch.device | None = "auto",
    memory_mb: float = DEFAULT_MEMORY_MB,
    chunk_size: int | None = None,
    leave_one_out: bool = False,
) -> dict[str, float]:
    """Overall accuracy of kNN classification of the queries, for each k in ``ks``.

    One search pass serves every k. A query whose class is absent from the database can never
    be predicted correctly and counts as an error. A k larger than the database is capped at
    the database size (scikit-learn would raise instead).

    With ``leave_one_out`` the queries are the database itself (the same rows, in the same
    order) and each query's neighbours are sought among the other N - 1 items: the same
    accuracies as N separate searches against the database without the query's row.

    Args:
        query: (Q, D) query (test) embeddings.
        query_labels: (Q,) their true labels.
        database: (N, D) database (train) embeddings.
        database_labels: (N,) database labels (clean or noisy, the caller's choice).
        ks: the neighbour counts to score (none: an empty result).
        weighted: distance-weighted vote (True, the papers' setting) or majority vote.
        normalize: L2-normalise the embeddings first.
        device: "auto", "cpu", "cuda", ...
        memory_mb: working-memory budget of one query chunk, in MiB.
        chunk_size: query rows per chunk (default: from ``memory_mb``).
        leave_one_out: see above; needs at least two items.

    Returns:
        ``{"knn@k": accuracy}`` with accuracies as floats in [0, 1].
    """
    ks = check_ks(ks)
    if not ks:
        # still checks the problem, as a search would
        coded_problem(
            query, query_labels, database, database_labels, normalize, same_rows=leave_one_out
        )
        return {}
    votes, query_codes = knn_votes(
        query, query_labels, database, database_labels, ks, weighted,
        normalize=normalize, device=device, leave_one_out=leave_one_out,
    )  # fmt: skip
    votes.search(memory_mb=memory_mb, chunk_size=chunk_size)
    return knn_scores(votes, query_codes)
