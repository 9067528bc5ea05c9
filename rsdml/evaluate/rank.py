"""Spectral rank analysis of a prediction or embedding matrix.

HR-S2DML argues that a higher-rank prediction matrix on unlabelled data (its nuclear norm,
as in BNM) means more diverse and more discriminable predictions; we track the spectrum, the
nuclear norm, the effective rank and the numerical rank of such matrices.

Effective rank (Roy & Vetterli, EUSIPCO 2007): with singular values ``s_i`` normalised to
``p_i = s_i / sum_j s_j``, ``erank = exp(-sum_i p_i log p_i)`` (``0 log 0 = 0``). It is 1 for
a rank-one matrix and n for a matrix whose n singular values are all equal
(``docs/methods.md#effective-rank``).
"""

from __future__ import annotations

import numpy as np
import torch

from rsdml.evaluate.search import ArrayLike


def effective_rank(singular_values: ArrayLike) -> float:
    """Roy & Vetterli's effective rank of a spectrum; 0.0 for an all-zero spectrum."""
    values = torch.as_tensor(np.ascontiguousarray(singular_values, dtype=np.float64))
    total = values.sum()
    if total <= 0:
        return 0.0
    share = values[values > 0] / total
    return float(torch.exp(-(share * torch.log(share)).sum()))


def rank_analysis(matrix: ArrayLike, *, tol: float | None = None) -> dict:
    """Singular values, nuclear norm, effective rank and numerical rank of a 2-D matrix.

    The SVD runs in float64 on the CPU (``torch.linalg.svdvals``) whatever the input dtype.

    Args:
        matrix: (M, N) numpy array or torch tensor, e.g. softmax predictions on unlabelled data
            or a set of embeddings.
        tol: singular values above ``tol`` count towards the numerical rank. Default, as in
            ``numpy.linalg.matrix_rank``: ``s_max * max(M, N) * eps`` with the machine epsilon
            of the input's floating dtype (float32 inputs carry only float32 precision).

    Returns:
        ``{"singular_values": np.ndarray (descending, float64), "nuclear_norm": float,
        "effective_rank": float, "rank": int}``.
    """
    tensor = matrix.detach() if isinstance(matrix, torch.Tensor) else torch.as_tensor(matrix)
    if tensor.ndim != 2 or tensor.numel() == 0:
        raise ValueError(
            f"rank_analysis needs a non-empty 2-D matrix, got shape {tuple(tensor.shape)}"
        )
    input_dtype = tensor.dtype if tensor.is_floating_point() else torch.float64
    values = tensor.cpu().to(torch.float64)
    if not torch.isfinite(values).all():
        raise ValueError("the matrix contains NaN or infinite values")
    singular = torch.linalg.svdvals(values)
    if tol is None:
        eps = torch.finfo(input_dtype).eps
        tol = float(singular.max()) * max(values.shape) * eps
    return {
        "singular_values": singular.numpy(),
        "nuclear_norm": float(singular.sum()),
        "effective_rank": effective_rank(singular),
        "rank": int((singular > tol).sum()),
    }
