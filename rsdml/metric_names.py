"""The study's metric names, in the order tables show them.

A torch-free module of its own because both the evaluation room (which computes the metrics)
and the tables (which only format them) need the same list.
"""

KNN_KS = (1, 5, 10)
RETRIEVAL_KS = (5, 10, 20, 50, 100)
METRIC_NAMES: tuple[str, ...] = (
    *(f"knn@{k}" for k in KNN_KS),
    "acc",
    "nmi",
    "ari",
    "map",
    *(f"map@{k}" for k in RETRIEVAL_KS),
    *(f"p@{k}" for k in RETRIEVAL_KS),
)
