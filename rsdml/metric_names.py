"""The study's metric names, in the order tables show them: the one owner of that list.

A torch-free module of its own because the evaluation (which computes the metrics), the tables
and figures (which only format them), the report and the notebooks all need the same names.
"""

#: The neighbour counts of kNN classification (``knn@k``).
KNN_KS = (1, 5, 10)
#: The retrieval cut-offs (``map@K``, ``p@K``).
RETRIEVAL_KS = (5, 10, 20, 50, 100)
#: Every metric of a run, as :func:`rsdml.evaluate.evaluate_embeddings` returns them.
METRIC_NAMES: tuple[str, ...] = (
    *(f"knn@{k}" for k in KNN_KS),
    "acc",
    "nmi",
    "ari",
    "map",
    *(f"map@{k}" for k in RETRIEVAL_KS),
    *(f"p@{k}" for k in RETRIEVAL_KS),
)
#: The metrics the reproduced papers report: the short tables (``results_paper.*``, the training
#: notebook's summary) show these.
PAPER_METRICS: tuple[str, ...] = (
    *(f"knn@{k}" for k in KNN_KS),
    "acc",
    "nmi",
    "map@20",
    "map@50",
    "map@100",
)
