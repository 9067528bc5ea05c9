"""Chunked nearest-neighbour search shared by the kNN, retrieval and gallery code.

Queries are processed a chunk of rows at a time, so the full query x database similarity
matrix is never held in memory: a chunk of ``B`` queries against ``N`` database items costs
about ``B * N * bytes_per_element`` bytes, and ``B`` is chosen from a memory budget
(``memory_mb``) unless a ``chunk_size`` is given. Embeddings are L2-normalised (by default),
so the cosine similarity is a dot product and the Euclidean distance is ``sqrt(2 - 2 s)``.

Tie rule of :func:`top_k` and of the retrieval ranking: items with exactly equal similarity
are ranked by their database index, lowest first (kNN applies the same rule to its float64
distances). This is also the neighbour set that scikit-learn's brute-force ``kneighbors``
keeps when its distances tie exactly at the k-th place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from rsdml.runtime import progress, resolve_device

DEFAULT_MEMORY_MB = 128.0
"""Default working-memory budget, in MiB, for one chunk of a search or ranking. Smaller chunks
were faster on the CPU: EuroSAT's 5,400 test queries against 18,900 items (one thread, 2-core
AMD EPYC) ranked in 3.7 s with 128 MiB against 5.7 s with 1 GiB, and the kNN search took
0.63 s against 1.12 s; 32-64 MiB were no faster than 128."""

TOP_K_BYTES_PER_ELEMENT = 8
"""Bytes per (query, database) pair while searching: the float32 similarity, with slack."""

ArrayLike = np.ndarray | torch.Tensor | Sequence[Any]

SimilarityVisitor = Callable[[int, torch.Tensor], None]
"""Called with ``(start, similarities)`` for each chunk of a search before the search uses it:
the (B, N) similarities of queries ``start .. start + B - 1``, not to be modified. One search
can so serve another metric (the kNN votes of :func:`rsdml.evaluate.knn.knn_votes`) without a
second matrix product."""


def check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    """Neighbour counts or cut-offs as ints, each at least 1; an empty sequence asks for none.

    Raises:
        ValueError: a k below 1.
    """
    ks = tuple(int(k) for k in ks)
    if any(k < 1 for k in ks):
        raise ValueError(f"every k must be a positive integer, got {ks}")
    return ks


def as_embeddings(
    values: ArrayLike, name: str = "embeddings", *, normalize: bool = True
) -> torch.Tensor:
    """Convert a 2-D numpy array or tensor to a float32 tensor, L2-normalising its rows.

    Normalisation is done in float64 before casting to float32; all-zero rows stay zero.

    Args:
        values: (N, D) embeddings (numpy array, torch tensor or nested sequence).
        name: what to call the argument in error messages.
        normalize: divide each row by its Euclidean norm.

    Returns:
        A contiguous (N, D) float32 tensor on the device the input was on.

    Raises:
        ValueError: if the input is not 2-D, is empty, or holds NaN / infinite values.
    """
    tensor = values.detach() if isinstance(values, torch.Tensor) else torch.as_tensor(values)
    if tensor.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D (items, dimensions) array, got shape {tuple(tensor.shape)}; "
            "reshape it (e.g. x.reshape(len(x), -1))"
        )
    if tensor.shape[0] == 0 or tensor.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(tensor.shape)}); pass at least one item")
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise ValueError(f"{name} must hold real numbers, got dtype {tensor.dtype}")
    # checked before the float64 copy: a cast keeps finiteness, and the narrower input is cheaper
    if tensor.is_floating_point() and not torch.isfinite(tensor).all():
        raise ValueError(f"{name} contains NaN or infinite values; check the model outputs")
    tensor = tensor.to(torch.float64)
    if normalize:
        norms = torch.linalg.vector_norm(tensor, dim=1, keepdim=True)
        tensor = tensor / norms.clamp_min(torch.finfo(torch.float64).tiny)
    return tensor.to(torch.float32).contiguous()


def as_labels(values: ArrayLike, name: str = "labels", length: int | None = None) -> np.ndarray:
    """Convert labels (numpy, torch or a sequence) to a 1-D numpy array, checking the length."""
    if isinstance(values, torch.Tensor):
        array = values.detach().cpu().numpy()
    else:
        array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per item), got shape {array.shape}")
    if length is not None and len(array) != length:
        raise ValueError(
            f"{name} has {len(array)} labels but there are {length} embeddings; "
            "pass one label per embedding row"
        )
    return array


def encode_labels(*label_arrays: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Map several label arrays onto shared codes 0..C-1 in sorted label order.

    Returns:
        ``(classes, codes)``: the sorted distinct labels of all arrays together, and one int64
        code array per input, so that ``classes[codes[i]] == label_arrays[i]``.
    """
    sizes = [len(labels) for labels in label_arrays]
    classes, inverse = np.unique(np.concatenate(label_arrays), return_inverse=True)
    splits = np.cumsum(sizes)[:-1]
    return classes, [part.astype(np.int64) for part in np.split(inverse.ravel(), splits)]


def check_pair(query: torch.Tensor, database: torch.Tensor) -> None:
    """Raise a clear error when query and database embeddings have different dimensions."""
    if query.shape[1] != database.shape[1]:
        raise ValueError(
            f"query embeddings have {query.shape[1]} dimensions but database embeddings have "
            f"{database.shape[1]}; embed both with the same model"
        )


def check_same_rows(query: torch.Tensor, database: torch.Tensor) -> None:
    """Raise a clear error unless a leave-one-out evaluation's queries are its database: the
    same number of rows (at least two, so that every query has another item to find)."""
    if query.shape[0] != database.shape[0]:
        raise ValueError(
            f"leave-one-out needs the queries to be the database, row for row; got "
            f"{query.shape[0]} queries and {database.shape[0]} database items"
        )
    if database.shape[0] < 2:
        raise ValueError("leave-one-out needs at least two embeddings")


def coded_problem(
    query: ArrayLike,
    query_labels: ArrayLike,
    database: ArrayLike,
    database_labels: ArrayLike,
    normalize: bool,
    *,
    same_rows: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray, np.ndarray]:
    """A retrieval problem checked and coded: (queries, database items) as CPU float32
    embeddings, their labels as shared codes 0..C-1, and the database size of each class
    (C entries, every code of either side). ``same_rows``: the queries must be the database
    (leave-one-out)."""
    items = as_embeddings(database, "database", normalize=normalize)
    queries = as_embeddings(query, "query", normalize=normalize)
    check_pair(queries, items)
    if same_rows:
        check_same_rows(queries, items)
    item_labels = as_labels(database_labels, "database_labels", items.shape[0])
    true_labels = as_labels(query_labels, "query_labels", queries.shape[0])
    _, (query_codes, item_codes) = encode_labels(true_labels, item_labels)
    num_classes = int(max(query_codes.max(), item_codes.max())) + 1
    class_sizes = np.bincount(item_codes, minlength=num_classes)
    return queries, items, query_codes, item_codes, class_sizes


def exclude_self(similarities: torch.Tensor, start: int) -> None:
    """Set, in place, each query's similarity to its own database row to -inf: row ``r`` of a
    chunk of queries starting at ``start`` is database item ``start + r`` (leave-one-out).
    Every other similarity is finite, so the own row ranks last, behind all N - 1 others."""
    rows = torch.arange(similarities.shape[0], device=similarities.device)
    similarities[rows, rows + start] = -torch.inf


def chunk_rows(
    num_columns: int,
    bytes_per_element: float,
    *,
    memory_mb: float = DEFAULT_MEMORY_MB,
    chunk_size: int | None = None,
) -> int:
    """How many query rows fit in one chunk.

    Args:
        num_columns: database size (the width of one row of the similarity matrix).
        bytes_per_element: working memory per (query, database) pair of the algorithm.
        memory_mb: budget in MiB for one chunk.
        chunk_size: explicit number of rows; overrides the budget when given.

    Returns:
        At least 1.
    """
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
        return int(chunk_size)
    if memory_mb <= 0:
        raise ValueError(f"memory_mb must be positive, got {memory_mb}")
    return max(1, int(memory_mb * 2**20 // (max(num_columns, 1) * bytes_per_element)))


def iter_chunks(num_rows: int, rows_per_chunk: int, desc: str) -> Iterator[tuple[int, int]]:
    """Yield ``(start, stop)`` row ranges, with a progress bar when there is more than one."""
    starts = range(0, num_rows, rows_per_chunk)
    enabled = None if len(starts) > 1 else False
    for start in progress(starts, desc=desc, total=len(starts), enabled=enabled, unit="chunk"):
        yield start, min(start + rows_per_chunk, num_rows)


def similarity_chunks(
    queries: torch.Tensor,
    items: torch.Tensor,
    rows_per_chunk: int,
    desc: str,
    *,
    leave_one_out: bool = False,
    visit: SimilarityVisitor | None = None,
) -> Iterator[tuple[int, torch.Tensor]]:
    """``(start, similarities)`` for each chunk of ``rows_per_chunk`` queries: their (B, N)
    dot products with every item, on the items' device, shown to ``visit`` first.

    Every chunk is written into the memory of the first (a chunk is the caller's only until it
    asks for the next one): fresh memory for each chunk cost more than the product, about
    0.1 s per search of EuroSAT's validation split, in page faults (2-core AMD EPYC VM).

    ``leave_one_out``: the queries are the items, row for row, and each query's similarity to
    itself is -inf (:func:`exclude_self`).
    """
    memory: torch.Tensor | None = None
    for start, stop in iter_chunks(queries.shape[0], rows_per_chunk, desc):
        block = queries[start:stop].to(items.device)
        if memory is None:
            memory = block.new_empty((stop - start, items.shape[0]))
        similarities = torch.mm(block, items.T, out=memory[: stop - start])
        if leave_one_out:
            exclude_self(similarities, start)
        if visit is not None:
            visit(start, similarities)
        yield start, similarities


#: Columns per block of the CPU's two-stage search for a few largest values (:func:`_largest`).
LARGEST_BLOCK = 64


def _largest(similarities: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``count`` largest values of each row, descending, and the columns holding them: the
    values of ``torch.topk(similarities, count, dim=1)``, and its columns wherever the set of
    the ``count`` largest is unique (a tie straddling the cut leaves the choice open, as topk
    does).

    On the CPU ``torch.topk`` reads a row at about 3 ns an element, the similarity rows of a
    search being 18,900 wide on EuroSAT. For a few values in a wide row the row's blocks of
    :data:`LARGEST_BLOCK` columns are ranked by their maximum instead (a vectorised pass), and
    topk looks only inside the ``count`` blocks with the largest maxima and the columns past
    the last whole block. The same values: the j-th largest value x of the row, if its block
    is not one of those looked in, is at most each of their ``count`` maxima, which are
    candidates, so the j-th largest candidate (j <= count) is at least x, and at most x since
    the candidates are a part of the row. When the ``count`` largest are unique (those above
    the next value), every one of them is a candidate by the same argument. Half the time of
    topk on EuroSAT's validation search (one thread).
    """
    num_rows, width = similarities.shape
    whole = width // LARGEST_BLOCK
    if similarities.device.type != "cpu" or count * LARGEST_BLOCK * 4 > width:
        return torch.topk(similarities, count, dim=1, largest=True, sorted=True)
    blocks = similarities[:, : whole * LARGEST_BLOCK].unflatten(1, (whole, LARGEST_BLOCK))
    _, chosen = torch.topk(blocks.amax(dim=2), count, dim=1, sorted=False)
    inside = blocks.gather(1, chosen[:, :, None].expand(-1, -1, LARGEST_BLOCK)).flatten(1)
    candidates = torch.cat([inside, similarities[:, whole * LARGEST_BLOCK :]], dim=1)
    values, places = torch.topk(candidates, count, dim=1, largest=True, sorted=True)
    # a place inside the chosen blocks is (block's rank, column in the block); past them, the
    # columns after the last whole block
    in_blocks = places < count * LARGEST_BLOCK
    block = chosen.gather(1, (places // LARGEST_BLOCK).clamp_(max=count - 1))
    columns = torch.where(
        in_blocks,
        block * LARGEST_BLOCK + places % LARGEST_BLOCK,
        places - count * LARGEST_BLOCK + whole * LARGEST_BLOCK,
    )
    return values, columns


def top_k_rows(similarities: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest entries of each row, by descending value, ties to the lowest column.

    ``torch.topk`` picks an arbitrary subset among equal values. One extra value tells whether
    a tie straddles the cut (the (k+1)-th largest equals the k-th); only those rows are redone
    with a stable sort, so the result is deterministic at the cost of a cheap check.
    """
    width = similarities.shape[1]
    fetched = min(k + 1, width)
    values, indices = _largest(similarities, fetched)
    if fetched > k:
        tied = values[:, k] == values[:, k - 1]
        values, indices = values[:, :k].clone(), indices[:, :k].clone()
        if tied.any():
            rows = tied.nonzero(as_tuple=True)[0]
            sorted_values, order = torch.sort(
                similarities[rows], dim=1, descending=True, stable=True
            )
            values[rows] = sorted_values[:, :k]
            indices[rows] = order[:, :k]
    # Within the k kept, order equal values by column: sort by column, then stably by value.
    by_column = torch.argsort(indices, dim=1)
    indices = indices.gather(1, by_column)
    values = values.gather(1, by_column)
    by_value = torch.argsort(values, dim=1, descending=True, stable=True)
    return values.gather(1, by_value), indices.gather(1, by_value)


def top_k(
    query: ArrayLike,
    database: ArrayLike,
    k: int,
    chunk_size: int | None = None,
    *,
    memory_mb: float = DEFAULT_MEMORY_MB,
    device: str | torch.device | None = "auto",
    normalize: bool = True,
    visit: SimilarityVisitor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k most similar database items of every query (cosine similarity), chunk by chunk.

    Args:
        query: (Q, D) query embeddings.
        database: (N, D) database embeddings.
        k: neighbours per query; capped at N when larger than the database.
        chunk_size: query rows per chunk (default: from ``memory_mb``).
        memory_mb: working-memory budget of one chunk, in MiB.
        device: "auto", "cpu", "cuda", ...
        normalize: L2-normalise both sides first (a no-op for normalised embeddings).
        visit: shown each chunk's similarities (:data:`SimilarityVisitor`).

    Returns:
        ``(similarities, indices)``: (Q, min(k, N)) float32 and int64 CPU tensors, sorted by
        descending similarity, ties by lower database index.
    """
    (k,) = check_ks((k,))
    target = resolve_device(device)
    queries = as_embeddings(query, "query", normalize=normalize)
    items = as_embeddings(database, "database", normalize=normalize).to(target)
    check_pair(queries, items)
    k = min(int(k), items.shape[0])
    rows = chunk_rows(
        items.shape[0], TOP_K_BYTES_PER_ELEMENT, memory_mb=memory_mb, chunk_size=chunk_size
    )
    all_values = torch.empty(queries.shape[0], k, dtype=torch.float32)
    all_indices = torch.empty(queries.shape[0], k, dtype=torch.int64)
    chunks = similarity_chunks(queries, items, rows, "nearest-neighbour search", visit=visit)
    for start, similarities in chunks:
        values, indices = top_k_rows(similarities, k)
        all_values[start : start + len(values)] = values.cpu()
        all_indices[start : start + len(values)] = indices.cpu()
    return all_values, all_indices
