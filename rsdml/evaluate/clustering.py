"""Clustering quality of embeddings: K-means, then ACC, NMI and ARI against the true labels.

Following the papers' protocol (``docs/methods.md#clustering``), K-means (scikit-learn,
k = number of classes by default, seeded) runs on the L2-normalised test embeddings. ACC is the
accuracy of the best one-to-one matching of clusters to classes (Hungarian algorithm,
``scipy.optimize.linear_sum_assignment``); NMI (arithmetic normalisation) and ARI are
scikit-learn's. NMI and ACC lie in [0, 1];
ARI lies in [-0.5, 1] and is slightly negative for worse-than-chance clusterings.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from rsdml.evaluate.search import ArrayLike, as_embeddings, as_labels


def clustering_accuracy(labels: ArrayLike, assignments: ArrayLike) -> float:
    """Fraction of items whose cluster maps to their class under the best one-to-one matching.

    Clusters and classes are matched by the Hungarian algorithm on their contingency table.
    With more clusters than classes (or the reverse) the unmatched ones count as errors.

    Args:
        labels: (N,) true labels (any values).
        assignments: (N,) cluster ids (any values).

    Returns:
        ACC in [0, 1].
    """
    labels = as_labels(labels, "labels")
    assignments = as_labels(assignments, "assignments", len(labels))
    if len(labels) == 0:
        raise ValueError("clustering_accuracy needs at least one item")
    _, class_codes = np.unique(labels, return_inverse=True)
    _, cluster_codes = np.unique(assignments, return_inverse=True)
    contingency = np.zeros((cluster_codes.max() + 1, class_codes.max() + 1), dtype=np.int64)
    np.add.at(contingency, (cluster_codes.ravel(), class_codes.ravel()), 1)
    matched_clusters, matched_classes = linear_sum_assignment(contingency, maximize=True)
    return float(contingency[matched_clusters, matched_classes].sum() / len(labels))


def kmeans_assignments(
    embeddings: ArrayLike,
    num_clusters: int,
    *,
    seed: int = 0,
    n_init: int = 10,
    normalize: bool = True,
) -> np.ndarray:
    """Cluster ids from scikit-learn K-means (``random_state=seed``, k-means++ init)."""
    points = as_embeddings(embeddings, "embeddings", normalize=normalize).cpu().numpy()
    if not 1 <= num_clusters <= len(points):
        raise ValueError(
            f"num_clusters must be between 1 and the number of embeddings ({len(points)}), "
            f"got {num_clusters}"
        )
    model = KMeans(n_clusters=num_clusters, n_init=n_init, random_state=seed)
    return model.fit_predict(points.astype(np.float64))


def clustering_scores(
    embeddings: ArrayLike,
    labels: ArrayLike,
    num_clusters: int | None = None,
    seed: int = 0,
    n_init: int = 10,
    *,
    normalize: bool = True,
) -> dict[str, float]:
    """K-means on the embeddings, scored against the labels.

    Args:
        embeddings: (N, D) embeddings (numpy or torch), usually the test split.
        labels: (N,) true labels.
        num_clusters: k of K-means; default the number of distinct labels.
        seed: K-means ``random_state``.
        n_init: K-means restarts (the best inertia is kept).
        normalize: L2-normalise the embeddings first.

    Returns:
        ``{"acc": ..., "nmi": ..., "ari": ...}`` as floats.
    """
    points = as_embeddings(embeddings, "embeddings", normalize=normalize).cpu()
    true_labels = as_labels(labels, "labels", len(points))
    if num_clusters is None:
        num_clusters = len(np.unique(true_labels))
    assignments = kmeans_assignments(
        points, num_clusters, seed=seed, n_init=n_init, normalize=False
    )
    return {
        "acc": clustering_accuracy(true_labels, assignments),
        "nmi": float(normalized_mutual_info_score(true_labels, assignments)),
        "ari": float(adjusted_rand_score(true_labels, assignments)),
    }
