"""Content-based image retrieval scores: mAP, MAP@K, P@K and a precision-recall curve.

Every query (test image) ranks the whole database (training images) by cosine similarity;
a database item is relevant when its label equals the query's label
(``docs/methods.md#retrieval``). With ``R`` the number of relevant database items of a query,
``rel(k)`` whether the item at rank ``k`` is relevant and ``P(k)`` the precision of the first
``k`` items:

- ``map``: mean over queries of the full average precision
  ``AP = (1/R) * sum_{k<=N} P(k) rel(k)`` over the whole ranked database. Without tied
  similarities it equals ``sklearn.metrics.average_precision_score(relevant, similarity)``.
- ``map@K``: mean of ``AP@K = (1/H_K) * sum_{k<=K} P(k) rel(k)``, where ``H_K`` is the number
  of relevant items among the first K (0 when there is none). This is the normalisation of
  the content-based remote-sensing retrieval literature the reproduced papers belong to, and
  the one behind rsdml's reference point on UC Merced (frozen EfficientNet-Lite0: MAP@20 =
  85.1 %, in the README); dividing by ``min(K, R)`` instead gives 67.2 % on the same ranking
  (``docs/methods.md#mapk-normalisation``). It measures how early the retrieved relevant
  images come, not how many are retrieved (that is ``p@K``'s job): one hit at rank 1 followed
  by misses scores 1. The alternative, ``min(K, R)`` (the relevant items a perfect top-K list
  holds), is available as ``map_normalisation="possible"``.
- ``p@K``: mean fraction of relevant items among the first K.

Conventions: a K larger than the database is capped at the database size N. A query whose
class is absent from the database (R = 0) scores 0 in every metric, and precision 0 at every
recall level, and still counts in the mean (pytorch-metric-learning drops such "lone"
queries instead). Items with equal similarity are ranked by lower database index.

The ranking is computed a chunk of queries at a time, so memory stays bounded for
30,000 x 30,000 evaluations; only the ranks of the relevant items are kept
(:class:`RankedHits`), found by binary search in each row sorted by value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from rsdml.evaluate.search import (
    DEFAULT_MEMORY_MB,
    ArrayLike,
    SimilarityVisitor,
    check_ks,
    chunk_rows,
    coded_problem,
    similarity_chunks,
    top_k,
)
from rsdml.metric_names import DML_METRICS, RECALL_KS, RETRIEVAL_KS
from rsdml.runtime import resolve_device

RANKING_BYTES_PER_ELEMENT = 28
"""Working bytes per (query, database) pair of a ranking: the float32 similarity, its int64
rank keys, their sorted copy and temporaries (relevant-item tables are much smaller unless one
class holds most of the database)."""

RECALL_TOLERANCE = 1e-9
"""A recall counts as reaching a level within this tolerance (3/10 reaches 0.30000000000000004)."""


class RankedHits:
    """Where the relevant items of B queries sit in their rankings, and the metrics from that.

    Every metric of this module depends only on the ranks of the relevant items, so a ranking
    is stored as its M "hits" (flat tensors, any order), not as a dense B x N matrix.

    Args:
        rows: (M,) int64 query row (0..B-1) of each hit.
        ranks: (M,) int64 0-based rank of the hit in its query's ranking.
        hits: (M,) int64 1-based count of relevant items at or above that rank.
        total: (B,) int64 number R of relevant items of each query.
        num_columns: database size N (the length of every ranking).
    """

    def __init__(
        self,
        rows: torch.Tensor,
        ranks: torch.Tensor,
        hits: torch.Tensor,
        total: torch.Tensor,
        num_columns: int,
    ) -> None:
        self.rows, self.ranks, self.hits, self.total = rows, ranks, hits, total
        self.num_rows, self.num_columns = total.shape[0], int(num_columns)
        self.device = total.device
        self.precision = hits.to(torch.float64) / (ranks + 1).to(torch.float64)

    @classmethod
    def from_relevance(cls, relevance: torch.Tensor | np.ndarray) -> RankedHits:
        """Hits of a dense (B, N) boolean matrix whose rows are full rankings in rank order."""
        relevance = torch.as_tensor(relevance).to(torch.bool)
        if relevance.ndim != 2:
            raise ValueError(f"relevance must be 2-D (queries, ranks), got {relevance.ndim}-D")
        total = relevance.sum(dim=1)
        rows, ranks = relevance.nonzero(as_tuple=True)
        # nonzero is row-major, so the i-th hit of a row sits i places after the row's first.
        first_hit = torch.cumsum(total, dim=0) - total
        hits = torch.arange(rows.numel(), device=relevance.device) - first_hit[rows] + 1
        return cls(rows, ranks, hits, total, relevance.shape[1])

    def first(self, limit: int) -> RankedHits:
        """The hits within the first ``limit`` ranks, with the same R and N: every metric cut
        off at K <= ``limit`` is the same on it, and costs a pass over far fewer hits."""
        inside = self.ranks < limit
        return RankedHits(
            self.rows[inside], self.ranks[inside], self.hits[inside], self.total, self.num_columns
        )

    def average_precision(
        self, cutoff: int | torch.Tensor | None = None, normalisation: str = "retrieved"
    ) -> torch.Tensor:
        """(B,) float64 AP of each row: over all ranks, or the first ``cutoff`` ranks (AP@K).

        ``cutoff`` may be one int or a (B,) tensor (e.g. R for MAP@R); it is capped at N. The
        truncated sum is divided by the number of relevant items within the cut-off
        (``normalisation="retrieved"``) or by ``min(cutoff, R)`` (``"possible"``). Rows without
        relevant items give 0.
        """
        if normalisation not in ("retrieved", "possible"):
            raise ValueError(
                f"normalisation must be 'retrieved' or 'possible', got {normalisation!r}"
            )
        if cutoff is None:
            kept = self.precision
            denominator = self.total
        else:
            limit = torch.as_tensor(cutoff, device=self.device, dtype=torch.int64)
            limit = limit.expand(self.num_rows).clamp(max=self.num_columns)
            if (limit < 1).any():
                raise ValueError("cutoff must be at least 1 for every row")
            inside = self.ranks < limit[self.rows]
            kept = self.precision * inside
            if normalisation == "possible":
                denominator = torch.minimum(limit, self.total)
            else:
                denominator = torch.zeros_like(self.total)
                denominator.index_add_(0, self.rows, inside.to(self.total.dtype))
        sums = torch.zeros(self.num_rows, dtype=torch.float64, device=self.device)
        sums.index_add_(0, self.rows, kept)
        return torch.where(denominator > 0, sums / denominator.clamp(min=1), 0.0)

    def precision_at(self, k: int) -> torch.Tensor:
        """(B,) float64 fraction of relevant items among the first ``min(k, N)`` ranks."""
        k = min(int(k), self.num_columns)
        counts = torch.zeros(self.num_rows, dtype=torch.float64, device=self.device)
        counts.index_add_(0, self.rows, (self.ranks < k).to(torch.float64))
        return counts / k

    def map_at_r(self) -> torch.Tensor:
        """(B,) float64 MAP@R: AP over the first R ranks divided by R, R each row's relevant
        count (Musgrave et al., ECCV 2020). Rows without relevant items give 0."""
        return self.average_precision(self.total.clamp(min=1), normalisation="possible")

    def r_precision(self) -> torch.Tensor:
        """(B,) float64 fraction of relevant items among the first R ranks (0 when R = 0)."""
        inside = torch.zeros(self.num_rows, dtype=torch.float64, device=self.device)
        inside.index_add_(0, self.rows, (self.ranks < self.total[self.rows]).to(torch.float64))
        return inside / self.total.clamp(min=1)

    def recall_at(self, k: int) -> torch.Tensor:
        """(B,) float64 Recall@K of the metric-learning benchmarks: 1 when a relevant item is
        among the first ``min(k, N)`` ranks, else 0."""
        k = min(int(k), self.num_columns)
        found = torch.zeros(self.num_rows, dtype=torch.float64, device=self.device)
        found.index_fill_(0, self.rows[self.ranks < k], 1.0)
        return found

    def interpolated_precision(self, levels: torch.Tensor) -> torch.Tensor:
        """(B, L) interpolated precision ``max{P(k) : recall(k) >= level}`` at each recall level.

        The maximum is always reached at a relevant rank, so only the hits are visited: each
        hit lands in the highest level its recall reaches, then a suffix maximum over levels
        spreads it to all lower levels. Rows without relevant items stay 0.
        """
        levels = levels.to(device=self.device, dtype=torch.float64).contiguous()
        recall = self.hits.to(torch.float64) / self.total[self.rows].to(torch.float64)
        bucket = torch.searchsorted(levels, recall + RECALL_TOLERANCE, right=True) - 1
        num_levels = levels.numel()
        flat, precision = self.rows * num_levels + bucket, self.precision
        if levels[0] > 0:  # hits below the first level count at none (every hit reaches 0)
            reached = bucket >= 0
            flat, precision = flat[reached], precision[reached]
        best = torch.zeros(self.num_rows * num_levels, dtype=torch.float64, device=self.device)
        best.scatter_reduce_(0, flat, precision, reduce="amax", include_self=True)
        best = best.view(self.num_rows, num_levels)
        return torch.flip(torch.cummax(torch.flip(best, dims=[1]), dim=1).values, dims=[1])


def average_precision(
    relevance: torch.Tensor | np.ndarray,
    cutoff: int | torch.Tensor | None = None,
    normalisation: str = "retrieved",
) -> torch.Tensor:
    """Average precision of each row of a ranked relevance matrix.

    Args:
        relevance: (B, N) booleans, rank order along each row (a full ranking of the database).
        cutoff: None for the full AP; an int K or (B,) tensor for AP@K.
        normalisation: AP@K divided by the hits within K (``"retrieved"``) or by ``min(K, R)``
            (``"possible"``); see the module doc.

    Returns:
        (B,) float64 tensor; 0 for rows without any relevant item.
    """
    return RankedHits.from_relevance(relevance).average_precision(cutoff, normalisation)


def _rank_keys(similarities: torch.Tensor) -> torch.Tensor:
    """Unique int64 sort keys: larger key = better rank (higher similarity, then lower index).

    The float32 similarity's bits, made order-preserving as a signed integer, fill the high
    32 bits and ``N - 1 - index`` the low 32 bits, so a plain sort of the keys applies the tie
    rule exactly. ``similarities`` is overwritten (its memory is reused for the bits).
    """
    num_items = similarities.shape[1]
    similarities.add_(0.0)  # -0.0 + 0.0 = +0.0, so that both zeros get one key
    bits = similarities.view(torch.int32)
    # Negative floats order backwards as integers: flip their magnitude bits.
    bits.bitwise_xor_(torch.bitwise_right_shift(bits, 31).bitwise_and_(0x7FFFFFFF))
    keys = bits.to(torch.int64)
    keys.bitwise_left_shift_(32)
    keys.add_(torch.arange(num_items - 1, -1, -1, device=keys.device))
    return keys


def _sorted_rows(values: torch.Tensor) -> torch.Tensor:
    """Each row sorted ascending (values only; NumPy's SIMD sort is much faster on the CPU)."""
    if values.device.type == "cpu":
        return torch.from_numpy(np.sort(values.numpy(), axis=1))
    return torch.sort(values, dim=1).values


def _count_not_above(sorted_rows: torch.Tensor, needles: torch.Tensor) -> torch.Tensor:
    """(B, M) int64: how many entries of each ascending row of ``sorted_rows`` are <= each of
    the row's ``needles``.

    On the CPU each row is one NumPy binary search, which starts each needle where the
    previous one landed when they ascend: with sorted needles, 0.3 s against 0.9 s for one
    batched ``torch.searchsorted`` on EuroSAT's test split (one thread, 2-core AMD EPYC).
    """
    if sorted_rows.device.type != "cpu":
        return torch.searchsorted(sorted_rows, needles, right=True)
    haystacks, keys = sorted_rows.numpy(), needles.numpy()
    counts = np.empty(keys.shape, dtype=np.int64)
    for row, row_keys in enumerate(keys):
        counts[row] = np.searchsorted(haystacks[row], row_keys, side="right")
    return torch.from_numpy(counts)


#: A chunk is ranked by exact integer keys instead when more than this many relevant items per
#: query tie in similarity with another item (a collapsed embedding): each distinct tied value
#: is looked up in its whole row. Real embeddings of 18,900 items tie about twice a query.
MAX_TIED_PAIRS_PER_ROW = 16


def _relevant_ranks(
    similarities: torch.Tensor,
    members: torch.Tensor,
    query_codes: np.ndarray,
    item_codes: np.ndarray,
) -> torch.Tensor | None:
    """The 0-based ranks of each row's relevant items in ascending order, then ``N`` for
    padding: a (B, R_max) int64 tensor, from a sort of the float32 similarities (2-3x faster
    than one of 64-bit keys).

    ``members`` lists each row's relevant database indices (-1 = padding); an item is relevant
    to a row when its class code (``item_codes``) is the row's (``query_codes``). An item's
    rank is the number of items with a larger similarity, plus those with an equal one and a
    lower index (the tie rule). The first count is a binary search in the sorted row for each
    relevant value, the values themselves sorted; the second is 0 unless the value occurs more
    than once in the row (the sorted row holds it twice in a row), and the items holding it
    are then found in the row.
    Returns None when more than :data:`MAX_TIED_PAIRS_PER_ROW` relevant items a row tie, for
    the caller to rank by :func:`_rank_keys`.
    """
    num_rows, num_items = similarities.shape
    similarities.add_(0.0)  # -0.0 + 0.0 = +0.0: both zeros one value, as in _rank_keys
    sorted_values = _sorted_rows(similarities)
    needles, real = _sorted_needles(similarities, members, -torch.inf)
    not_above = _count_not_above(sorted_values, needles)
    # the needle's run of equal values ends at not_above - 1; it ties when the run is longer
    before = sorted_values.gather(1, (not_above - 2).clamp(min=0))
    tied = (not_above >= 2) & (before == needles) & real
    del sorted_values, before
    ranks = num_items - not_above  # the rank of the first item of each needle's run
    tied_rows, tied_places = (part.cpu().numpy() for part in tied.nonzero(as_tuple=True))
    if len(tied_rows) > MAX_TIED_PAIRS_PER_ROW * num_rows:
        return None
    if len(tied_rows):
        host_ranks = ranks.cpu()
        _rank_tied_runs(
            similarities.cpu().numpy(),
            needles.cpu().numpy(),
            query_codes,
            item_codes,
            (tied_rows, tied_places),
            host_ranks.numpy(),
        )
        ranks = host_ranks.to(ranks.device)
    return _ascending_ranks(ranks, real, num_items)


def _sorted_needles(
    values: torch.Tensor, members: torch.Tensor, lowest: float | int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's ``values`` at its relevant items (``members``, -1 = padding), ascending, the
    padding as ``lowest`` sorting first; and which places hold a relevant item (place p of a
    row does when p >= R_max - R)."""
    padding = members < 0
    needles = _sorted_rows(values.gather(1, members.clamp(min=0)).masked_fill_(padding, lowest))
    places = torch.arange(needles.shape[1], device=needles.device)
    return needles, places >= padding.sum(dim=1, keepdim=True)


def _ascending_ranks(ranks: torch.Tensor, real: torch.Tensor, num_items: int) -> torch.Tensor:
    """The ranks of ascending needles descend: reversed, with ``num_items`` for the padding,
    the relevant items come first, in ascending rank."""
    return torch.flip(ranks.masked_fill_(~real, num_items), dims=[1])


def _rank_tied_runs(
    values: np.ndarray,
    needles: np.ndarray,
    query_codes: np.ndarray,
    item_codes: np.ndarray,
    tied: tuple[np.ndarray, np.ndarray],
    ranks: np.ndarray,
) -> None:
    """Rank the relevant items of each run of tied similarities, in place.

    ``ranks[r, p]`` holds the rank of the first item of the run of needle p's value; the run's
    items take the ranks from there in database-index order. The needles of one value sit side
    by side in their sorted row, the first of them listed first in ``tied`` (row, place pairs
    in row order), and they get the relevant items' ranks in descending order, like the rest of
    the row before it is reversed.
    """
    previous: tuple[int, float] | None = None
    for row, place in zip(*(part.tolist() for part in tied), strict=True):
        value = float(needles[row, place])
        if previous == (row, value):
            continue  # a later needle of a run already ranked
        previous = (row, value)
        run = np.flatnonzero(values[row] == needles[row, place])  # database indices, ascending
        offsets = np.flatnonzero(item_codes[run] == query_codes[row])  # the relevant ones
        ranks[row, place : place + len(offsets)] = ranks[row, place] + offsets[::-1]


def _relevant_ranks_by_keys(similarities: torch.Tensor, members: torch.Tensor) -> torch.Tensor:
    """:func:`_relevant_ranks` for rows with many ties: each relevant item's rank is the count
    of the row's keys (:func:`_rank_keys`, unique, the tie rule built in) above its own, found
    by binary search in the row's sorted keys with the relevant keys sorted. ``similarities``
    is consumed."""
    num_items = similarities.shape[1]
    keys = _rank_keys(similarities)
    needles, real = _sorted_needles(keys, members, torch.iinfo(torch.int64).min)
    ranks = num_items - _count_not_above(_sorted_rows(keys), needles)
    del keys
    return _ascending_ranks(ranks, real, num_items)


def _chunk_hits(
    similarities: torch.Tensor,
    query_codes: np.ndarray,
    item_codes: np.ndarray,
    member_table: torch.Tensor,
    own_rows: torch.Tensor | None = None,
    *,
    by_keys: bool = False,
) -> tuple[RankedHits, bool]:
    """The hits of a (B, N) similarity chunk (consumed), without a full argsort, and whether
    they were ranked by exact integer keys (the many-ties path).

    A relevant item's 0-based rank is the number of database items ranked before it, found by
    binary search in the row sorted by value (:func:`_relevant_ranks`), or, with ``by_keys`` or
    when the chunk has many ties, in the row's sorted rank keys
    (:func:`_relevant_ranks_by_keys`). ``query_codes`` and ``item_codes`` are the class codes
    of the chunk's queries and of the database; ``member_table[c]`` lists the database indices
    of class c, padded with -1 to the largest class size.

    ``own_rows`` (leave-one-out): each query's own database index, whose similarity the caller
    set to -inf. It ranks last, so no other item's rank moves; it is dropped from the relevant
    items and the rankings are N - 1 long.
    """
    num_rows, num_items = similarities.shape
    members = member_table[torch.as_tensor(query_codes, device=member_table.device)]
    if own_rows is not None:
        members = members.masked_fill(members == own_rows[:, None], -1)
    total = (members >= 0).sum(dim=1)
    ranks = None if by_keys else _relevant_ranks(similarities, members, query_codes, item_codes)
    if ranks is None:
        by_keys = True
        ranks = _relevant_ranks_by_keys(similarities, members)
    del similarities
    is_hit = torch.arange(members.shape[1], device=members.device) < total[:, None]
    rows, positions = is_hit.nonzero(as_tuple=True)
    length = num_items - int(own_rows is not None)
    return RankedHits(rows, ranks[rows, positions], positions + 1, total, length), by_keys


def ranked_hits_chunks(
    query: ArrayLike,
    query_labels: ArrayLike,
    database: ArrayLike,
    database_labels: ArrayLike,
    *,
    normalize: bool = True,
    device: str | torch.device | None = "auto",
    memory_mb: float = DEFAULT_MEMORY_MB,
    chunk_size: int | None = None,
    leave_one_out: bool = False,
    visit: SimilarityVisitor | None = None,
) -> Iterator[tuple[int, RankedHits]]:
    """Rank the database for each query (descending cosine similarity, ties by lower index).

    The work is done a chunk of queries at a time; memory is about
    ``chunk * N * RANKING_BYTES_PER_ELEMENT`` bytes. With ``leave_one_out`` the queries are the
    database (the same rows in the same order) and each query ranks the other N - 1 items.
    ``visit`` is shown each chunk's similarities before they are ranked
    (:data:`~rsdml.evaluate.search.SimilarityVisitor`).

    Yields:
        ``(start, hits)``: the :class:`RankedHits` of queries ``start .. start + B - 1``.
    """
    target = resolve_device(device)
    queries, items, query_codes, item_codes, class_sizes = coded_problem(
        query, query_labels, database, database_labels, normalize, same_rows=leave_one_out
    )
    items = items.to(target)
    num_classes = len(class_sizes)
    # Row c lists the database indices of class c in increasing order, padded with -1.
    by_class = np.argsort(item_codes, kind="stable")
    slot = np.arange(len(item_codes)) - np.repeat(np.cumsum(class_sizes) - class_sizes, class_sizes)
    member_table = np.full((num_classes, int(class_sizes.max())), -1, dtype=np.int64)
    member_table[item_codes[by_class], slot] = by_class
    member_table_t = torch.as_tensor(member_table, device=target)
    rows = chunk_rows(
        items.shape[0], RANKING_BYTES_PER_ELEMENT, memory_mb=memory_mb, chunk_size=chunk_size
    )
    chunks = similarity_chunks(
        queries, items, rows, "retrieval ranking", leave_one_out=leave_one_out, visit=visit
    )
    # Ties come from the embeddings (tight clusters whose similarities round to one float32
    # value), so once a chunk needed the exact keys the later chunks go there directly.
    by_keys = False
    for start, similarities in chunks:
        stop = start + similarities.shape[0]
        own_rows = torch.arange(start, stop, device=target) if leave_one_out else None
        hits, by_keys = _chunk_hits(
            similarities, query_codes[start:stop], item_codes, member_table_t, own_rows,
            by_keys=by_keys,
        )  # fmt: skip
        yield start, hits


HitsVisitor = Callable[[RankedHits], None]
"""Shown the :class:`RankedHits` of each chunk of queries as a ranking is scored, in query
order: a second score (:class:`PrecisionRecall`) rides on a ranking done for the first."""


class QueryMean:
    """The mean over queries of a per-query score vector, from its sums over each chunk."""

    def __init__(self, chunk_sums: Callable[[RankedHits], np.ndarray]) -> None:
        self.chunk_sums = chunk_sums
        self.total: np.ndarray | float = 0.0
        self.num_queries = 0

    def __call__(self, hits: RankedHits) -> None:
        self.num_queries += hits.num_rows
        self.total = self.total + self.chunk_sums(hits)

    def mean(self) -> np.ndarray:
        if not self.num_queries:
            raise ValueError("no ranking was shown to this mean")
        return np.asarray(self.total, dtype=np.float64) / self.num_queries


class PrecisionRecall(QueryMean):
    """The precision-recall curve of :func:`precision_recall_curve`, taken from a ranking done
    for other scores: pass it as ``visit_hits`` (:data:`HitsVisitor`), then read :meth:`curve`.
    ``points``: as in :func:`precision_recall_curve`."""

    def __init__(self, points: int | Sequence[float] = 11) -> None:
        self.levels = recall_levels(points)
        levels = torch.as_tensor(self.levels)
        super().__init__(lambda hits: hits.interpolated_precision(levels).sum(dim=0).cpu().numpy())

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """``(recall, precision)``: two float64 arrays of the same length."""
        return self.levels, self.mean()


def _show_rankings(
    problem: tuple[ArrayLike, ArrayLike, ArrayLike, ArrayLike],
    visitors: Sequence[HitsVisitor | None],
    **search: Any,
) -> None:
    """Rank ``problem`` (``(query, query_labels, database, database_labels)``) chunk by chunk
    and show each chunk's hits to every visitor (None: none), e.g. :class:`QueryMean` s;
    ``search``: the keyword arguments of :func:`ranked_hits_chunks`."""
    for _, hits in ranked_hits_chunks(*problem, **search):
        for visitor in visitors:
            if visitor is not None:
                visitor(hits)


def retrieval_scores(
    query: ArrayLike,
    query_labels: ArrayLike,
    database: ArrayLike,
    database_labels: ArrayLike,
    ks: Sequence[int] = RETRIEVAL_KS,
    *,
    normalize: bool = True,
    device: str | torch.device | None = "auto",
    memory_mb: float = DEFAULT_MEMORY_MB,
    chunk_size: int | None = None,
    map_normalisation: str = "retrieved",
    leave_one_out: bool = False,
    benchmark_metrics: bool = False,
    visit: SimilarityVisitor | None = None,
    visit_hits: HitsVisitor | None = None,
) -> dict[str, float]:
    """Retrieval quality of the queries against the database (definitions in the module doc).

    Args:
        query: (Q, D) query (test) embeddings.
        query_labels: (Q,) their labels.
        database: (N, D) database (train) embeddings.
        database_labels: (N,) database labels (clean or noisy, the caller's choice).
        ks: cut-offs for ``map@K`` and ``p@K``; each is capped at N.
        normalize: L2-normalise the embeddings first.
        device: "auto", "cpu", "cuda", ...
        memory_mb: working-memory budget of one query chunk, in MiB.
        chunk_size: query rows per chunk (default: from ``memory_mb``).
        map_normalisation: ``"retrieved"`` (default) or ``"possible"``, see the module doc.
        leave_one_out: the queries are the database itself, row for row; each query ranks
            the other N - 1 items (K is capped at N - 1), as N separate evaluations against
            the database without the query's row would.
        benchmark_metrics: also the metric-learning benchmarks' ``map@r``, ``r_precision``
            and ``recall@K`` for K in :data:`~rsdml.metric_names.RECALL_KS`
            (:data:`~rsdml.metric_names.DML_METRICS`), from the same ranking.
        visit: shown each chunk's similarities before they are ranked
            (:data:`~rsdml.evaluate.search.SimilarityVisitor`).
        visit_hits: shown each chunk's ranking (:data:`HitsVisitor`), e.g. a
            :class:`PrecisionRecall` that takes the curve from the same ranking.

    Returns:
        ``{"map": ..., "map@K": ..., "p@K": ...}`` (and the benchmark metrics) as floats in
        [0, 1].
    """
    ks = check_ks(ks)
    names = ["map", *(f"map@{k}" for k in ks), *(f"p@{k}" for k in ks)]
    if benchmark_metrics:
        names += DML_METRICS  # map@r, r_precision, recall@K: the order of the sums below

    def chunk_sums(hits: RankedHits) -> np.ndarray:
        """The sums over one chunk's queries, in the order of ``names``."""
        sums = [hits.average_precision().sum().item()]
        top = hits.first(max(ks)) if ks else hits
        sums += [top.average_precision(k, map_normalisation).sum().item() for k in ks]
        sums += [top.precision_at(k).sum().item() for k in ks]
        if benchmark_metrics:
            sums += [hits.map_at_r().sum().item(), hits.r_precision().sum().item()]
            sums += [hits.recall_at(k).sum().item() for k in RECALL_KS]
        return np.array(sums, dtype=np.float64)

    means = QueryMean(chunk_sums)
    _show_rankings(
        (query, query_labels, database, database_labels),
        (means, visit_hits),
        normalize=normalize,
        device=device,
        memory_mb=memory_mb,
        chunk_size=chunk_size,
        leave_one_out=leave_one_out,
        visit=visit,
    )
    return {name: float(mean) for name, mean in zip(names, means.mean(), strict=True)}


def cutoff_scores(
    query: ArrayLike,
    query_labels: ArrayLike,
    database: ArrayLike,
    database_labels: ArrayLike,
    ks: Sequence[int] = RETRIEVAL_KS,
    *,
    normalize: bool = True,
    device: str | torch.device | None = "auto",
    memory_mb: float = DEFAULT_MEMORY_MB,
    chunk_size: int | None = None,
    map_normalisation: str = "retrieved",
    visit: SimilarityVisitor | None = None,
) -> dict[str, float]:
    """``map@K`` and ``p@K`` of :func:`retrieval_scores`, the same numbers, from the first
    ``max(ks)`` items of each ranking alone (a top-k search) instead of the whole ranking.

    Both metrics look no further than rank K, so a top-k search with the ranking's tie rule
    (:func:`~rsdml.evaluate.search.top_k`) gives them exactly: a validation split scored
    after training needs no full sort of its rankings. Arguments as in
    :func:`retrieval_scores`.
    """
    ks = check_ks(ks)
    queries, items, query_codes, item_codes, class_sizes = coded_problem(
        query, query_labels, database, database_labels, normalize
    )
    # R of each query: the database items of its class (the "possible" normalisation's min(K, R))
    total = torch.as_tensor(class_sizes[query_codes], dtype=torch.int64)
    _, neighbours = top_k(
        queries, items, max(ks), chunk_size,
        memory_mb=memory_mb, device=device, normalize=False, visit=visit,
    )  # fmt: skip
    relevance = torch.as_tensor(item_codes)[neighbours] == torch.as_tensor(query_codes)[:, None]
    first = RankedHits.from_relevance(relevance)
    hits = RankedHits(first.rows, first.ranks, first.hits, total, items.shape[0])
    scores = {f"map@{k}": hits.average_precision(k, map_normalisation).mean().item() for k in ks}
    scores.update({f"p@{k}": hits.precision_at(k).mean().item() for k in ks})
    return scores


def recall_levels(points: int | Sequence[float] = 11) -> np.ndarray:
    """Recall levels: ``points`` equally spaced values from 0 to 1, or the given values."""
    if isinstance(points, int | np.integer):
        if points < 2:
            raise ValueError(f"points must be at least 2 (0 and 1), got {points}")
        return np.linspace(0.0, 1.0, int(points))
    levels = np.asarray(points, dtype=np.float64)
    if levels.ndim != 1 or levels.size == 0:
        raise ValueError("recall levels must be a non-empty 1-D sequence")
    if np.any(np.diff(levels) <= 0) or levels[0] < 0 or levels[-1] > 1:
        raise ValueError(f"recall levels must increase strictly within [0, 1], got {levels}")
    return levels


def precision_recall_curve(
    query: ArrayLike,
    query_labels: ArrayLike,
    database: ArrayLike,
    database_labels: ArrayLike,
    points: int | Sequence[float] = 11,
    *,
    normalize: bool = True,
    device: str | torch.device | None = "auto",
    memory_mb: float = DEFAULT_MEMORY_MB,
    chunk_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean interpolated precision over the queries at fixed recall levels.

    The interpolated precision of a query at recall level ``r`` is the best precision at any
    rank whose recall is at least ``r`` (the usual 11-point curve with ``points=11``).

    Args:
        query, query_labels, database, database_labels: as in :func:`retrieval_scores`.
        points: number of equally spaced recall levels in [0, 1], or the levels themselves.
        normalize, device, memory_mb, chunk_size: as in :func:`retrieval_scores`.

    Returns:
        ``(recall, precision)``: two float64 arrays of the same length.
    """
    curve = PrecisionRecall(points)
    _show_rankings(
        (query, query_labels, database, database_labels),
        (curve,),
        normalize=normalize,
        device=device,
        memory_mb=memory_mb,
        chunk_size=chunk_size,
    )
    return curve.curve()
