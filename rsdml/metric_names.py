"""The study's metric names, in the order tables show them: the one owner of that list.

A torch-free module of its own because the evaluation (which computes the metrics), the tables
and figures (which only format them), the report and the notebooks all need the same names.
"""

#: The neighbour counts of kNN classification (``knn@k``).
KNN_KS = (1, 5, 10)
#: The retrieval cut-offs (``map@K``, ``p@K``).
RETRIEVAL_KS = (5, 10, 20, 50, 100)
#: The recall levels of a run's precision-recall curve (0, 0.05, ..., 1), which the run
#: computes with its test metrics and the report draws.
PR_CURVE_POINTS = 21
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
#: What a run's final validation reports: the metrics a top-K search gives (kNN and the
#: retrieval cut-offs). The whole ranking (``map``) and K-means (``acc``, ``nmi``, ``ari``) are
#: the test split's: no selection or table reads them on validation, and on an archive of
#: EuroSAT's size they were a third of a frozen run's time.
VALIDATION_METRICS: tuple[str, ...] = tuple(
    name for name in METRIC_NAMES if name.startswith(("knn@", "map@", "p@"))
)
#: The Recall@K cut-offs of the deep-metric-learning benchmarks (CUB-200, Cars-196, SOP).
RECALL_KS = (1, 2, 4, 8)
#: The retrieval metrics of those benchmarks (Musgrave, Belongie and Lim, "A Metric Learning
#: Reality Check", ECCV 2020), which score classes never trained on: MAP@R, R-precision and
#: Recall@K (a query counts when one of its first K results is relevant).
DML_METRICS: tuple[str, ...] = ("map@r", "r_precision", *(f"recall@{k}" for k in RECALL_KS))
#: Every metric name rsdml reports, each a fraction in [0, 1] (tables show percentages), in table
#: order. A leave-one-out evaluation (the unseen-classes protocol) returns all of them, so that
#: its numbers read against both literatures.
ALL_METRICS: tuple[str, ...] = (*METRIC_NAMES, *DML_METRICS)
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
