"""Tests for retrieval metrics against brute-force loops, scikit-learn and pytorch-metric-learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from rsdml.evaluate import retrieval
from rsdml.evaluate.retrieval import (
    PrecisionRecall,
    RankedHits,
    _count_not_above,
    _rank_keys,
    average_precision,
    cutoff_scores,
    precision_recall_curve,
    ranked_hits_chunks,
    recall_levels,
    retrieval_scores,
)

KS = (1, 3, 5, 10, 20, 500)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force_rankings(query, query_labels, database, database_labels):
    """Per query: the relevance list in rank order (-similarity, then database index)."""
    similarities = unit(np.asarray(query, float)) @ unit(np.asarray(database, float)).T
    rankings = []
    for i, row in enumerate(similarities):
        order = sorted(range(len(row)), key=lambda j, row=row: (-row[j], j))
        rankings.append([bool(database_labels[j] == query_labels[i]) for j in order])
    return rankings


def brute_force_scores(relevance_lists, ks, normalisation="retrieved"):
    """mAP, MAP@K (normalised by the hits in the top K, or by min(K, R)) and P@K with loops."""
    totals = {"map": 0.0, **{f"map@{k}": 0.0 for k in ks}, **{f"p@{k}": 0.0 for k in ks}}
    for relevant in relevance_lists:
        n, r = len(relevant), sum(relevant)
        hits, precisions = 0, []
        for rank, is_relevant in enumerate(relevant, start=1):
            hits += is_relevant
            precisions.append(hits / rank)
        if r:
            totals["map"] += sum(p for p, x in zip(precisions, relevant, strict=True) if x) / r
        for k in ks:
            cut = min(k, n)
            if r:
                kept = sum(precisions[j] for j in range(cut) if relevant[j])
                found = sum(relevant[:cut])
                denominator = found if normalisation == "retrieved" else min(cut, r)
                totals[f"map@{k}"] += kept / denominator if denominator else 0.0
            totals[f"p@{k}"] += sum(relevant[:cut]) / cut
    return {name: value / len(relevance_lists) for name, value in totals.items()}


def brute_force_curve(relevance_lists, levels):
    curve = np.zeros(len(levels))
    for relevant in relevance_lists:
        r = sum(relevant)
        if not r:
            continue
        hits, points = 0, []
        for rank, is_relevant in enumerate(relevant, start=1):
            hits += is_relevant
            points.append((hits / r, hits / rank))
        for i, level in enumerate(levels):
            curve[i] += max((p for rec, p in points if rec >= level - 1e-9), default=0.0)
    return curve / len(relevance_lists)


@pytest.fixture
def random_problem():
    """Random data where query class 9 is absent from the database (R = 0 for its queries)."""
    rng = np.random.default_rng(0)
    database = rng.normal(size=(70, 6))
    query = rng.normal(size=(40, 6))
    database_labels = rng.integers(0, 4, size=70)
    query_labels = rng.integers(0, 4, size=40)
    query_labels[:3] = 9
    return query, query_labels, database, database_labels


@pytest.mark.parametrize("chunk_size", [None, 1, 7])
@pytest.mark.parametrize("normalisation", ["retrieved", "possible"])
def test_scores_match_brute_force_loops(random_problem, chunk_size, normalisation):
    expected = brute_force_scores(brute_force_rankings(*random_problem), KS, normalisation)
    scores = retrieval_scores(
        *random_problem, KS, device="cpu", chunk_size=chunk_size, map_normalisation=normalisation
    )
    assert scores.keys() == expected.keys()
    for name, value in expected.items():
        assert scores[name] == pytest.approx(value, abs=1e-12), name
        assert isinstance(scores[name], float)


@pytest.mark.parametrize("chunk_size", [None, 1, 7])
@pytest.mark.parametrize("normalisation", ["retrieved", "possible"])
def test_cutoff_scores_from_a_top_k_search_match_brute_force_loops(
    random_problem, chunk_size, normalisation
):
    # the cut-off metrics alone, from the first max(K) ranks (500 > N: capped at the database)
    expected = brute_force_scores(brute_force_rankings(*random_problem), KS, normalisation)
    scores = cutoff_scores(
        *random_problem, KS, device="cpu", chunk_size=chunk_size, map_normalisation=normalisation
    )
    assert scores.keys() == {name for name in expected if name != "map"}
    for name, value in scores.items():
        assert value == pytest.approx(expected[name], abs=1e-12), name


def test_cutoff_scores_follow_the_tie_rule_of_the_ranking():
    # one-hot embeddings: every similarity ties, so each top K comes from the index rule alone
    eye = np.eye(3)
    database_labels = np.array([0, 1, 0, 0, 1, 1, 0, 2])
    database = eye[[0, 0, 1, 0, 2, 0, 1, 2]]
    query, query_labels = eye[[0, 1, 2, 0]], np.array([0, 0, 1, 5])
    problem = (query, query_labels, database, database_labels)
    expected = brute_force_scores(brute_force_rankings(*problem), (1, 2, 3, 5))
    scores = cutoff_scores(*problem, (1, 2, 3, 5), device="cpu", chunk_size=2)
    for name, value in scores.items():
        assert value == pytest.approx(expected[name], abs=1e-12), name


def test_hits_within_the_first_ranks_keep_every_cutoff_metric(random_problem):
    _, hits = next(iter(ranked_hits_chunks(*random_problem, device="cpu")))
    top = hits.first(10)
    assert bool((top.ranks < 10).all()) and len(top.ranks) < len(hits.ranks)
    for k in (1, 5, 10):
        for normalisation in ("retrieved", "possible"):
            assert torch.equal(
                top.average_precision(k, normalisation), hits.average_precision(k, normalisation)
            )
        assert torch.equal(top.precision_at(k), hits.precision_at(k))


def test_full_map_matches_sklearn_average_precision(random_problem):
    query, query_labels, database, database_labels = random_problem
    similarities = unit(query) @ unit(database).T
    per_query = []
    for i in range(len(query)):
        relevant = database_labels == query_labels[i]
        # Documented convention: no relevant item -> AP 0 (scikit-learn warns instead).
        per_query.append(
            average_precision_score(relevant, similarities[i]) if relevant.any() else 0
        )
    scores = retrieval_scores(*random_problem, ks=(), device="cpu")
    assert scores == {"map": pytest.approx(np.mean(per_query), abs=1e-12)}


def test_ties_are_ranked_by_database_index():
    # One-hot embeddings: every similarity is exactly 0 or 1, so ranks come from the tie rule.
    eye = np.eye(3)
    database_labels = np.array([0, 1, 0, 0, 1, 1, 0, 2])
    database = eye[[0, 0, 1, 0, 2, 0, 1, 2]]
    query, query_labels = eye[[0, 1, 2]], np.array([0, 0, 1])
    expected = brute_force_scores(
        brute_force_rankings(query, query_labels, database, database_labels), KS
    )
    scores = retrieval_scores(query, query_labels, database, database_labels, KS, device="cpu")
    for name, value in expected.items():
        assert scores[name] == pytest.approx(value, abs=1e-12), name
    # Query 0 ranks items 0, 1, 3, 5 (similarity 1) first: relevant, not, relevant, not.
    _, hits = next(iter(ranked_hits_chunks(query, query_labels, database, database_labels)))
    assert hits.ranks[hits.rows == 0].sort().values[:2].tolist() == [0, 2]


def test_duplicated_database_rows_tie_and_are_ranked_by_index():
    # Random data plus exact copies of some database rows (class 3): their similarities tie
    # exactly, and the ranking must follow the index rule of the brute-force loops.
    rng = np.random.default_rng(11)
    database = rng.normal(size=(50, 5))
    database[40:] = database[[3, 3, 7, 8, 8, 8, 20, 21, 30, 31]]
    database_labels = rng.integers(0, 3, size=50)
    database_labels[[3, 7, 8, 20, 21, 30, 31, *range(40, 50)]] = 3  # ties only matter for class 3
    query = np.concatenate([database[[3, 8, 21]], rng.normal(size=(12, 5))])
    query_labels = np.array([3, 0, 3, 1, 3, 2, 0, 1, 2, 3, 0, 1, 2, 3, 0])
    problem = (query, query_labels, database, database_labels)
    expected = brute_force_scores(brute_force_rankings(*problem), KS)
    scores = retrieval_scores(*problem, KS, device="cpu", chunk_size=4)
    for name, value in expected.items():
        assert scores[name] == pytest.approx(value, abs=1e-12), name


@pytest.mark.parametrize("max_tied_pairs", [0, 10**9])
def test_collapsed_embeddings_rank_by_index_either_way(monkeypatch, max_tied_pairs):
    """Every database row the same (a collapsed model): all similarities tie, so the ranking
    is the database order; ranked by integer keys (limit 0) or by the tied runs."""
    monkeypatch.setattr(retrieval, "MAX_TIED_PAIRS_PER_ROW", max_tied_pairs)
    rng = np.random.default_rng(3)
    # a unit axis: every similarity is the query's first coordinate, exactly, whatever order
    # the matrix product sums in (rows of another vector can differ in the last bit)
    database = np.tile([1.0, 0.0, 0.0, 0.0], (90, 1))
    database_labels = rng.integers(0, 3, size=90)
    query, query_labels = rng.normal(size=(12, 4)), rng.integers(0, 3, size=12)
    problem = (query, query_labels, database, database_labels)
    expected = brute_force_scores(brute_force_rankings(*problem), KS)
    scores = retrieval_scores(*problem, KS, device="cpu", chunk_size=5)
    assert scores == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("chunk_size", [None, 1, 6])
@pytest.mark.parametrize("max_tied_pairs", [-1, 10**9])
def test_small_integer_vectors_tie_everywhere_and_rank_like_brute_force(
    monkeypatch, chunk_size, max_tied_pairs
):
    """Unnormalised vectors of -1, 0 and 1: their dot products are small integers, exactly, so
    most relevant items tie with other items, relevant or not, in runs of every length; ranked
    by integer keys (limit -1) or by the tied runs."""
    monkeypatch.setattr(retrieval, "MAX_TIED_PAIRS_PER_ROW", max_tied_pairs)
    rng = np.random.default_rng(21)
    database = rng.integers(-1, 2, size=(80, 3)).astype(np.float32)
    query = rng.integers(-1, 2, size=(14, 3)).astype(np.float32)
    database_labels = rng.integers(0, 3, size=80)
    query_labels = rng.integers(0, 3, size=14)
    rankings = []
    for vector, label in zip(query, query_labels, strict=True):
        row = database @ vector
        order = sorted(range(len(row)), key=lambda j, row=row: (-row[j], j))
        rankings.append([bool(database_labels[j] == label) for j in order])
    expected = brute_force_scores(rankings, KS)
    problem = (query, query_labels, database, database_labels)
    scores = retrieval_scores(*problem, KS, normalize=False, device="cpu", chunk_size=chunk_size)
    assert scores == pytest.approx(expected, abs=1e-12)
    _, curve = precision_recall_curve(*problem, normalize=False, device="cpu", chunk_size=5)
    np.testing.assert_allclose(curve, brute_force_curve(rankings, recall_levels(11)), atol=1e-12)


def test_chunks_after_a_tied_one_go_by_keys_and_still_rank_like_brute_force(monkeypatch):
    """Once a chunk has too many ties, the later chunks skip the float ranking: the first
    queries (small integers) tie everywhere, the later ones (random) do not; every query is
    ranked as the brute force ranks it."""
    monkeypatch.setattr(retrieval, "MAX_TIED_PAIRS_PER_ROW", 1)
    tried = []
    float_ranks = retrieval._relevant_ranks
    monkeypatch.setattr(
        retrieval, "_relevant_ranks", lambda *args: tried.append(1) or float_ranks(*args)
    )
    rng = np.random.default_rng(8)
    database = rng.integers(-1, 2, size=(60, 3)).astype(np.float32)
    query = np.concatenate([rng.integers(-1, 2, size=(4, 3)), rng.normal(size=(8, 3))]).astype(
        np.float32
    )
    database_labels, query_labels = rng.integers(0, 3, size=60), rng.integers(0, 3, size=12)
    rankings = []
    for vector, label in zip(query, query_labels, strict=True):
        row = database @ vector
        order = sorted(range(len(row)), key=lambda j, row=row: (-row[j], j))
        rankings.append([bool(database_labels[j] == label) for j in order])
    problem = (query, query_labels, database, database_labels)
    scores = retrieval_scores(*problem, KS, normalize=False, device="cpu", chunk_size=4)
    assert scores == pytest.approx(brute_force_scores(rankings, KS), abs=1e-12)
    assert len(tried) == 1  # the first chunk's float ranking gave up; the other two went by keys


def test_count_not_above_agrees_with_torch_searchsorted():
    rng = np.random.default_rng(4)
    rows = torch.as_tensor(rng.integers(-3, 4, size=(6, 30)).astype(np.float32))
    rows[0, :4] = -torch.inf  # the -inf of a leave-one-out row, and padding-like values
    haystack = torch.sort(rows, dim=1).values
    for needles in (rows[:, ::3], torch.sort(rows[:, ::2], dim=1).values):
        needles = needles.contiguous()
        expected = torch.searchsorted(haystack, needles, right=True)
        assert torch.equal(_count_not_above(haystack, needles), expected)


def test_integer_keys_and_float_ranking_agree_on_random_data(monkeypatch, random_problem):
    fast = retrieval_scores(*random_problem, KS, device="cpu", benchmark_metrics=True)
    monkeypatch.setattr(retrieval, "MAX_TIED_PAIRS_PER_ROW", -1)  # every chunk by integer keys
    exact = retrieval_scores(*random_problem, KS, device="cpu", benchmark_metrics=True)
    assert fast == exact


def test_rank_keys_order_by_similarity_then_index():
    # Negative values, both zeros and repeated values: the keys must sort exactly like
    # (-similarity, index).
    similarities = torch.tensor([[-0.5, -0.0, 0.0, 0.25, -0.25, 0.25, -1.0, 1.0]])
    keys = _rank_keys(similarities.clone())
    order = torch.argsort(keys[0], descending=True).tolist()
    expected = sorted(range(8), key=lambda j: (-similarities[0, j].item(), j))
    assert order == expected == [7, 3, 5, 1, 2, 4, 0, 6]


def test_hand_computed_average_precision():
    relevance = torch.tensor([[1, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 1, 1, 1, 1]], dtype=torch.bool)
    torch.testing.assert_close(
        average_precision(relevance),
        torch.tensor(
            [(1 + 2 / 3) / 2, 0.0, (1 / 2 + 2 / 3 + 3 / 4 + 4 / 5) / 4], dtype=torch.float64
        ),
    )
    # AP@2 divides by the hits within the top 2: 1 for the first row (its only hit is first),
    # 1/2 for the third (one hit, at rank 2).
    torch.testing.assert_close(
        average_precision(relevance, 2), torch.tensor([1.0, 0.0, 0.5], dtype=torch.float64)
    )
    # ... or by min(2, R): 1/2 for the first row (one hit of two possible).
    torch.testing.assert_close(
        average_precision(relevance, 2, "possible"),
        torch.tensor([0.5, 0.0, 0.25], dtype=torch.float64),
    )
    # A cut-off beyond the list is capped at the list length.
    torch.testing.assert_close(average_precision(relevance, 50), average_precision(relevance))
    hits = RankedHits.from_relevance(relevance)
    torch.testing.assert_close(
        hits.precision_at(2), torch.tensor([0.5, 0.0, 0.5], dtype=torch.float64)
    )


def test_hand_computed_benchmark_metrics():
    relevance = torch.tensor([[1, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 1, 1, 1, 1]], dtype=torch.bool)
    hits = RankedHits.from_relevance(relevance)
    # MAP@R: row 0 has R = 2 and one hit within its first two ranks (P = 1 at rank 1): 1/2;
    # row 2 has R = 4, hits at ranks 2, 3, 4: (1/2 + 2/3 + 3/4) / 4.
    torch.testing.assert_close(
        hits.map_at_r(), torch.tensor([0.5, 0.0, (1 / 2 + 2 / 3 + 3 / 4) / 4], dtype=torch.float64)
    )
    # R-precision: 1 of the first 2, nothing, 3 of the first 4.
    torch.testing.assert_close(
        hits.r_precision(), torch.tensor([0.5, 0.0, 0.75], dtype=torch.float64)
    )
    # Recall@K: a relevant item among the first K.
    torch.testing.assert_close(
        hits.recall_at(1), torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    )
    torch.testing.assert_close(
        hits.recall_at(2), torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    )
    torch.testing.assert_close(hits.recall_at(99), hits.recall_at(5))


def brute_force_benchmark_scores(relevance_lists):
    """MAP@R, R-precision and Recall@1/2/4/8 with loops over each relevance list."""
    totals = {"map@r": 0.0, "r_precision": 0.0, **{f"recall@{k}": 0.0 for k in (1, 2, 4, 8)}}
    for relevant in relevance_lists:
        r = sum(relevant)
        if r:
            first_r = relevant[:r]
            totals["map@r"] += (
                sum(sum(first_r[: i + 1]) / (i + 1) for i in range(r) if first_r[i]) / r
            )
            totals["r_precision"] += sum(first_r) / r
        for k in (1, 2, 4, 8):
            totals[f"recall@{k}"] += float(any(relevant[:k]))
    return {name: value / len(relevance_lists) for name, value in totals.items()}


@pytest.mark.parametrize("chunk_size", [None, 7])
def test_benchmark_metrics_match_brute_force_loops(random_problem, chunk_size):
    expected = brute_force_benchmark_scores(brute_force_rankings(*random_problem))
    scores = retrieval_scores(
        *random_problem, KS, device="cpu", chunk_size=chunk_size, benchmark_metrics=True
    )
    for name, value in expected.items():
        assert scores[name] == pytest.approx(value, abs=1e-12), name
    # the study's metrics are the same with or without them
    plain = retrieval_scores(*random_problem, KS, device="cpu", chunk_size=chunk_size)
    assert {name: scores[name] for name in plain} == plain


def test_perfect_and_worst_rankings():
    # Two well separated classes: every metric of a perfect ranking is 1 where it can be.
    database = np.array([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 5)
    database_labels = np.array([0] * 3 + [1] * 5)
    query, query_labels = np.array([[1.0, 0.01], [0.01, 1.0]]), np.array([0, 1])
    scores = retrieval_scores(
        query, query_labels, database, database_labels, (2, 3, 5), device="cpu"
    )
    assert scores["map"] == 1.0 and scores["map@2"] == 1.0 and scores["map@5"] == 1.0
    # P@5: query 0 has only 3 relevant items -> 3/5; query 1 -> 5/5.
    assert scores["p@5"] == pytest.approx((3 / 5 + 1) / 2)
    # Labels swapped: every relevant item is ranked after every irrelevant one.
    swapped = retrieval_scores(query, [1, 0], database, database_labels, (3,), device="cpu")
    assert swapped["map@3"] == 0.0 and swapped["p@3"] == 0.0
    assert swapped["map"] == pytest.approx(
        (np.mean([1 / 4, 2 / 5, 3 / 6, 4 / 7, 5 / 8]) + np.mean([1 / 6, 2 / 7, 3 / 8])) / 2
    )


def test_k_larger_than_database_and_absent_class():
    database = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    scores = retrieval_scores(
        [[1.0, 0.1], [0.5, 0.5]], [0, 5], database, [0, 1, 0], (100,), device="cpu"
    )
    # Query 0: ranking [0 (rel), 2 (rel), 1] -> P@3 = 2/3, AP@3 = 1, AP = 1.
    # Query 1: class 5 is absent from the database -> 0 everywhere.
    assert scores == {"map": 0.5, "map@100": 0.5, "p@100": pytest.approx(1 / 3)}


def test_labels_as_torch_lists_and_numpy_agree(random_problem):
    query, query_labels, database, database_labels = random_problem
    reference = retrieval_scores(*random_problem, device="cpu")
    from_torch = retrieval_scores(
        torch.from_numpy(query),
        torch.from_numpy(query_labels),
        torch.from_numpy(database).float(),
        database_labels.tolist(),
        device="cpu",
    )
    for name, value in reference.items():
        assert from_torch[name] == pytest.approx(value, abs=1e-6)


@pytest.mark.parametrize("points", [11, [0.0, 0.25, 0.3, 0.9, 1.0], [0.2, 0.5, 1.0]])
def test_precision_recall_curve_matches_brute_force(random_problem, points):
    levels = recall_levels(points)
    expected = brute_force_curve(brute_force_rankings(*random_problem), levels)
    recall, precision = precision_recall_curve(*random_problem, points, device="cpu", chunk_size=6)
    np.testing.assert_array_equal(recall, levels)
    np.testing.assert_allclose(precision, expected, rtol=0, atol=1e-12)
    assert np.all(np.diff(precision) <= 1e-15)  # interpolated precision never increases


@pytest.mark.parametrize("chunk_size", [None, 5])
def test_a_curve_riding_on_the_scores_ranking_is_the_curve_of_its_own(random_problem, chunk_size):
    """A PrecisionRecall shown the ranking of retrieval_scores gives precision_recall_curve's
    curve bit for bit (the report reads the runs' kept curves instead of ranking again)."""
    curve = PrecisionRecall(21)
    scores = retrieval_scores(
        *random_problem, KS, device="cpu", chunk_size=chunk_size, visit_hits=curve
    )
    assert scores == retrieval_scores(*random_problem, KS, device="cpu", chunk_size=chunk_size)
    recall, precision = precision_recall_curve(
        *random_problem, 21, device="cpu", chunk_size=chunk_size
    )
    assert np.array_equal(curve.curve()[0], recall)
    assert np.array_equal(curve.curve()[1], precision)
    with pytest.raises(ValueError, match="no ranking"):
        PrecisionRecall(11).curve()


def test_precision_recall_curve_exact_recall_levels():
    # R = 10 relevant items at ranks 1..3 then 11..17: recall 0.3 is reached at rank 3 exactly
    # (3/10 must count as reaching the level 0.30000000000000004 of linspace).
    relevance = torch.zeros(1, 20, dtype=torch.bool)
    relevance[0, [0, 1, 2, *range(10, 17)]] = True
    curve = RankedHits.from_relevance(relevance).interpolated_precision(
        torch.as_tensor(recall_levels(11))
    )
    assert curve[0, 3].item() == 1.0
    # Beyond recall 0.3 the best precision is the last one, 10/17 (interpolation looks ahead).
    assert curve[0, 4:].tolist() == pytest.approx([10 / 17] * 7)


def test_recall_levels_validation():
    np.testing.assert_allclose(recall_levels(3), [0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="at least 2"):
        recall_levels(1)
    with pytest.raises(ValueError, match="increase"):
        recall_levels([0.5, 0.2])


def test_cross_check_with_pytorch_metric_learning(random_problem):
    accuracy_calculator = pytest.importorskip("pytorch_metric_learning.utils.accuracy_calculator")
    inference = pytest.importorskip("pytorch_metric_learning.utils.inference")
    distances = pytest.importorskip("pytorch_metric_learning.distances")
    query, query_labels, database, database_labels = random_problem
    # pytorch-metric-learning drops queries whose class is absent from the reference set.
    keep = np.isin(query_labels, database_labels)
    query, query_labels = query[keep], query_labels[keep]
    calculator = accuracy_calculator.AccuracyCalculator(
        include=("precision_at_1", "mean_average_precision_at_r", "mean_average_precision"),
        k=None,
        knn_func=inference.CustomKNN(distances.CosineSimilarity()),
    )
    reference = calculator.get_accuracy(
        torch.from_numpy(query).float(),
        torch.from_numpy(query_labels),
        torch.from_numpy(database).float(),
        torch.from_numpy(database_labels),
        ref_includes_query=False,
    )
    scores = retrieval_scores(query, query_labels, database, database_labels, (1,), device="cpu")
    assert scores["p@1"] == pytest.approx(reference["precision_at_1"], abs=1e-9)
    assert scores["map"] == pytest.approx(reference["mean_average_precision"], abs=1e-9)
    # MAP@R: our AP@K with the per-query cut-off K = R.
    at_r = []
    for _, hits in ranked_hits_chunks(query, query_labels, database, database_labels):
        at_r.append(hits.average_precision(hits.total, "possible"))
    assert torch.cat(at_r).mean().item() == pytest.approx(
        reference["mean_average_precision_at_r"], abs=1e-9
    )
    benchmark = retrieval_scores(
        query, query_labels, database, database_labels, (1,), benchmark_metrics=True
    )
    assert benchmark["map@r"] == pytest.approx(reference["mean_average_precision_at_r"], abs=1e-9)


def test_bad_cutoffs_raise():
    with pytest.raises(ValueError, match="positive"):
        retrieval_scores(np.ones((2, 2)), [0, 1], np.ones((3, 2)), [0, 1, 1], ks=(0,))
    with pytest.raises(ValueError, match="at least 1"):
        average_precision(torch.ones(1, 3, dtype=torch.bool), 0)
