"""How good are the embeddings: kNN classification, clustering, retrieval and rank analysis.

The protocol of the papers (``docs/methods.md#queries-and-database``): the queries are the test
embeddings, the database is the training embeddings with labels chosen by the caller (clean by
default in the study; noisy labels may be passed). Everything runs as chunked torch matrix
products on the CPU or a GPU, so memory stays bounded for 30,000 x 30,000 evaluations.

- :mod:`~rsdml.evaluate.search`: the shared chunked top-k search and input conversion;
- :mod:`~rsdml.evaluate.knn`: distance-weighted kNN accuracy (scikit-learn's predictions);
- :mod:`~rsdml.evaluate.clustering`: K-means ACC / NMI / ARI;
- :mod:`~rsdml.evaluate.retrieval`: mAP, MAP@K, P@K and precision-recall curves;
- :mod:`~rsdml.evaluate.rank`: singular values, nuclear norm, effective and numerical rank.

:func:`evaluate_embeddings` computes every number of :data:`METRIC_NAMES` (or those asked for) in one
call;
:func:`evaluate_leave_one_out` the same numbers for one set of embeddings in which every item is
a query against all the others (the unseen-classes protocol, ``docs/methods.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rsdml.evaluate.clustering import clustering_accuracy, clustering_scores, kmeans_assignments
from rsdml.evaluate.knn import knn_accuracy, knn_predict, knn_scores, knn_votes
from rsdml.evaluate.rank import effective_rank, rank_analysis
from rsdml.evaluate.retrieval import (
    PrecisionRecall,
    RankedHits,
    average_precision,
    cutoff_scores,
    precision_recall_curve,
    ranked_hits_chunks,
    recall_levels,
    retrieval_scores,
)
from rsdml.evaluate.search import DEFAULT_MEMORY_MB, ArrayLike, top_k
from rsdml.metric_names import (
    ALL_METRICS,
    KNN_KS,
    METRIC_NAMES,
    RETRIEVAL_KS,
    VALIDATION_METRICS,
)

__all__ = [
    "DEFAULT_MEMORY_MB",
    "KNN_KS",
    "METRIC_NAMES",
    "RETRIEVAL_KS",
    "VALIDATION_METRICS",
    "PrecisionRecall",
    "RankedHits",
    "average_precision",
    "clustering_accuracy",
    "clustering_scores",
    "cutoff_scores",
    "effective_rank",
    "evaluate_embeddings",
    "evaluate_leave_one_out",
    "kmeans_assignments",
    "knn_accuracy",
    "knn_predict",
    "precision_recall_curve",
    "rank_analysis",
    "ranked_hits_chunks",
    "recall_levels",
    "retrieval_scores",
    "top_k",
]


def evaluate_embeddings(
    query: ArrayLike,
    query_labels: ArrayLike,
    database: ArrayLike,
    database_labels: ArrayLike,
    *,
    seed: int = 0,
    device: str | torch.device | None = "auto",
    clustering_on: str = "query",
    n_init: int = 10,
    normalize: bool = True,
    memory_mb: float = DEFAULT_MEMORY_MB,
    chunk_size: int | None = None,
    metrics: Sequence[str] = METRIC_NAMES,
    curve: PrecisionRecall | None = None,
) -> dict[str, float]:
    """Every metric of :data:`METRIC_NAMES`, or those of ``metrics``, for query embeddings
    against a labelled database.

    Args:
        query: (Q, D) query (test) embeddings, numpy or torch.
        query_labels: (Q,) their true labels.
        database: (N, D) database (train) embeddings.
        database_labels: (N,) database labels (clean or noisy, the caller's choice); used by
            kNN and retrieval.
        seed: K-means ``random_state``.
        device: "auto", "cpu", "cuda", ... for the kNN search and the ranking.
        clustering_on: "query" (default, the papers' protocol) clusters the query embeddings
            against ``query_labels``; "database" clusters the database against
            ``database_labels``.
        n_init: K-means restarts.
        normalize: L2-normalise the embeddings first.
        memory_mb: working-memory budget of one query chunk, in MiB.
        chunk_size: query rows per chunk (default: from ``memory_mb``).
        metrics: the names to compute, from :data:`METRIC_NAMES`. Only what they need is
            done: K-means for ``acc``/``nmi``/``ari``, the whole ranking for ``map``, a top-K
            search for the kNN and retrieval cut-offs (``VALIDATION_METRICS``, the cheap set).
        curve: filled with the precision-recall curve of the same ranking; needs ``map``
            among ``metrics`` (the whole ranking).

    Returns:
        ``{name: value}`` in the order of :data:`METRIC_NAMES`, Python floats. All lie in
        [0, 1] except ``ari``, which can dip slightly below 0 for worse-than-chance clusters.
    """
    if clustering_on not in ("query", "database"):
        raise ValueError(f"clustering_on must be 'query' or 'database', got {clustering_on!r}")
    wanted = set(metrics)
    unknown = sorted(wanted - set(METRIC_NAMES))
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {', '.join(METRIC_NAMES)}")
    if curve is not None and "map" not in wanted:
        raise ValueError("a precision-recall curve needs the whole ranking: ask for 'map' too")
    search = {
        "normalize": normalize,
        "device": device,
        "memory_mb": memory_mb,
        "chunk_size": chunk_size,
    }
    problem = (query, query_labels, database, database_labels)
    scores: dict[str, float] = {}
    votes = None
    if any(name.startswith("knn@") for name in wanted):
        # filled by the retrieval's search below when there is one: one matrix product for both
        votes, query_codes = knn_votes(*problem, KNN_KS, normalize=normalize, device=device)
    if wanted & {"acc", "nmi", "ari"}:
        if clustering_on == "query":
            clustered, clustered_labels = query, query_labels
        else:
            clustered, clustered_labels = database, database_labels
        scores.update(
            clustering_scores(
                clustered, clustered_labels, seed=seed, n_init=n_init, normalize=normalize
            )
        )
    if "map" in wanted:
        scores.update(
            retrieval_scores(*problem, RETRIEVAL_KS, visit=votes, visit_hits=curve, **search)
        )
    elif any(name.startswith(("map@", "p@")) for name in wanted):
        scores.update(cutoff_scores(*problem, RETRIEVAL_KS, visit=votes, **search))
    elif votes is not None:
        votes.search(memory_mb=memory_mb, chunk_size=chunk_size)
    if votes is not None:
        scores.update(knn_scores(votes, query_codes))
    return {name: float(scores[name]) for name in METRIC_NAMES if name in wanted}


def evaluate_leave_one_out(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    seed: int = 0,
    device: str | torch.device | None = "auto",
    n_init: int = 10,
    normalize: bool = True,
    memory_mb: float = DEFAULT_MEMORY_MB,
    chunk_size: int | None = None,
) -> dict[str, float]:
    """Every metric of :data:`~rsdml.metric_names.ALL_METRICS` with each embedding a query
    against all the others.

    The protocol of the deep-metric-learning benchmarks on unseen classes (Musgrave et al.,
    "A Metric Learning Reality Check", ECCV 2020): there is no separate database, so item i is
    scored against the N - 1 items other than itself (kNN and retrieval, with the conventions of
    :func:`evaluate_embeddings`; K is capped at N - 1), and K-means clusters all N embeddings
    against ``labels``. The numbers equal N separate evaluations of one query against the other
    items (tested against that brute force). Besides the study's metrics it reports the
    benchmarks' MAP@R, R-precision and Recall@K (:data:`~rsdml.metric_names.DML_METRICS`).

    Args:
        embeddings: (N, D) embeddings, numpy or torch; N >= 2.
        labels: (N,) their true labels.
        seed, device, n_init, normalize, memory_mb, chunk_size: as in
            :func:`evaluate_embeddings`.

    Returns:
        ``{name: value}`` in the order of :data:`~rsdml.metric_names.ALL_METRICS`, Python
        floats.
    """
    search = {
        "normalize": normalize,
        "device": device,
        "memory_mb": memory_mb,
        "chunk_size": chunk_size,
        "leave_one_out": True,
    }
    problem = (embeddings, labels, embeddings, labels)
    votes, codes = knn_votes(
        *problem, KNN_KS, normalize=normalize, device=device, leave_one_out=True
    )
    scores = retrieval_scores(
        *problem, RETRIEVAL_KS, benchmark_metrics=True, visit=votes, **search
    )  # one search serves the kNN votes too
    scores.update(knn_scores(votes, codes))
    scores.update(
        clustering_scores(embeddings, labels, seed=seed, n_init=n_init, normalize=normalize)
    )
    return {name: float(scores[name]) for name in ALL_METRICS}
