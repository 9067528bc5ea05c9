"""Synthetic label noise for the training split: uniform, pair-flip and label-dependent.

A noise model is a row-stochastic transition matrix T (T[i, j] = probability that a sample of
true class i is labelled j); :func:`add_label_noise` samples noisy labels from it with a seeded
generator. Label-dependent noise follows the RNSL paper (Kang et al., TGRS 2021, Tables V and VI):
the diagonal is 1 - eta and the mass eta goes to 2-5 semantically close classes in multiples of
eta/5. The AID and NWPU-RESISC45 tables below are transcribed from the paper's Table V (AID,
eta = 0.5) and from the released code's matrices
(``utils/AID_LB_Dependent_P.py``, ``utils/NWPU45_Dependent_P.py``), whose rows for eta in
{0.1, 0.3, 0.5, 0.7} are exactly eta * (weight / 5); we use the same scaling for any eta. Other
datasets get the general construction from a class-confusion matrix. Definitions:
``docs/methods.md#label-noise``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

NOISE_KINDS = ("uniform", "pairflip", "dependent")

# Row c: {neighbour: weight}, weights in units of eta / 5 (each row sums to 5).
AID_DEPENDENT: dict[str, dict[str, int]] = {
    "Airport": {
        "BareLand": 1,
        "Industrial": 1,
        "Parking": 1,
        "RailwayStation": 1,
        "StorageTanks": 1,
    },
    "BareLand": {"Desert": 3, "Mountain": 2},
    "BaseballField": {"Meadow": 2, "SparseResidential": 1, "Farmland": 2},
    "Beach": {"Bridge": 1, "Pond": 2, "Port": 2},
    "Bridge": {"Beach": 1, "Pond": 2, "Port": 2},
    "Center": {"Church": 3, "Commercial": 1, "Square": 1},
    "Church": {"Center": 3, "Commercial": 1, "Square": 1},
    "Commercial": {"Center": 2, "Church": 1, "Square": 1, "DenseResidential": 1},
    "DenseResidential": {"Center": 2, "Church": 1, "Square": 1, "Resort": 1},
    "Desert": {"BareLand": 3, "Mountain": 2},
    "Farmland": {"BaseballField": 2, "Forest": 2, "Meadow": 1},
    "Forest": {"BaseballField": 2, "Farmland": 2, "Meadow": 1},
    "Industrial": {"Airport": 1, "Square": 1, "Viaduct": 1, "StorageTanks": 2},
    "Meadow": {"BaseballField": 1, "Farmland": 1, "Forest": 2, "River": 1},
    "MediumResidential": {"SparseResidential": 3, "DenseResidential": 2},
    "Mountain": {"BareLand": 2, "Meadow": 2, "Farmland": 1},
    "Park": {"School": 2, "SparseResidential": 2, "Square": 1},
    "Parking": {"Airport": 2, "RailwayStation": 2, "BareLand": 1},
    "Playground": {"Stadium": 4, "Park": 1},
    "Pond": {"Bridge": 2, "Port": 1, "River": 2},
    "Port": {"Pond": 2, "Beach": 1, "River": 2},
    "RailwayStation": {"Square": 3, "Viaduct": 2},
    "Resort": {"Center": 2, "Square": 1, "Church": 2},
    "River": {"Bridge": 2, "Forest": 1, "Meadow": 1, "Pond": 1},
    "School": {"Resort": 2, "Stadium": 1, "Square": 1, "Center": 1},
    "SparseResidential": {"MediumResidential": 3, "DenseResidential": 2},
    "Square": {"Viaduct": 2, "Airport": 2, "Parking": 1},
    "Stadium": {"Playground": 4, "School": 1},
    "StorageTanks": {"Industrial": 2, "Airport": 1, "Parking": 2},
    "Viaduct": {"Square": 3, "RailwayStation": 2},
}

# Paper Table VI as released with the code (it keeps the table's oddities, such as
# medium_residential -> forest); the table prints its rows at eta = 0.5.
NWPU_DEPENDENT: dict[str, dict[str, int]] = {
    "airplane": {"airport": 2, "freeway": 1, "industrial_area": 1, "runway": 1},
    "airport": {"airplane": 1, "freeway": 1, "industrial_area": 1, "runway": 1, "storage_tank": 1},
    "baseball_diamond": {
        "basketball_court": 1,
        "circular_farmland": 1,
        "golf_course": 2,
        "rectangular_farmland": 1,
    },
    "basketball_court": {"baseball_diamond": 1, "ground_track_field": 3, "tennis_court": 1},
    "beach": {"bridge": 1, "harbor": 1, "island": 1, "lake": 1, "river": 1},
    "bridge": {"beach": 1, "wetland": 1, "island": 1, "lake": 1, "river": 1},
    "chaparral": {"desert": 4, "terrace": 1},
    "church": {"commercial_area": 2, "industrial_area": 1, "palace": 2},
    "circular_farmland": {
        "baseball_diamond": 1,
        "forest": 1,
        "meadow": 1,
        "rectangular_farmland": 2,
    },
    "cloud": {"island": 1, "sea_ice": 2, "snowberg": 2},
    "commercial_area": {
        "church": 1,
        "dense_residential": 2,
        "industrial_area": 1,
        "roundabout": 1,
    },
    "dense_residential": {
        "mobile_home_park": 1,
        "commercial_area": 2,
        "thermal_power_station": 1,
        "intersection": 1,
    },
    "desert": {"chaparral": 3, "terrace": 2},
    "forest": {"golf_course": 1, "meadow": 2, "wetland": 1, "rectangular_farmland": 1},
    "freeway": {"bridge": 1, "intersection": 1, "overpass": 1, "railway": 1, "runway": 1},
    "golf_course": {"baseball_diamond": 1, "sparse_residential": 1, "forest": 1, "meadow": 2},
    "ground_track_field": {
        "tennis_court": 1,
        "stadium": 1,
        "basketball_court": 1,
        "baseball_diamond": 2,
    },
    "harbor": {"beach": 1, "island": 1, "mobile_home_park": 2, "ship": 1},
    "industrial_area": {
        "storage_tank": 1,
        "thermal_power_station": 1,
        "railway_station": 2,
        "roundabout": 1,
    },
    "intersection": {"roundabout": 1, "railway_station": 1, "overpass": 2, "commercial_area": 1},
    "island": {"beach": 2, "wetland": 1, "lake": 2},
    "lake": {"beach": 2, "wetland": 2, "island": 1},
    "meadow": {"forest": 2, "wetland": 3},
    "medium_residential": {
        "forest": 2,
        "ground_track_field": 1,
        "tennis_court": 1,
        "sparse_residential": 1,
    },
    "mobile_home_park": {
        "railway_station": 2,
        "commercial_area": 1,
        "dense_residential": 1,
        "industrial_area": 1,
    },
    "mountain": {"meadow": 2, "snowberg": 1, "terrace": 2},
    "overpass": {"freeway": 2, "intersection": 1, "railway": 1, "runway": 1},
    "palace": {"church": 3, "commercial_area": 1, "dense_residential": 1},
    "parking_lot": {"mobile_home_park": 3, "railway_station": 1, "runway": 1},
    "railway": {"freeway": 2, "intersection": 1, "runway": 1, "railway_station": 1},
    "railway_station": {"railway": 2, "industrial_area": 1, "airport": 1, "runway": 1},
    "rectangular_farmland": {
        "baseball_diamond": 2,
        "circular_farmland": 1,
        "meadow": 1,
        "wetland": 1,
    },
    "river": {"bridge": 1, "meadow": 1, "lake": 1, "wetland": 2},
    "roundabout": {"intersection": 4, "ground_track_field": 1},
    "runway": {"airport": 1, "freeway": 2, "intersection": 1, "overpass": 1},
    "sea_ice": {"island": 1, "cloud": 2, "wetland": 1, "snowberg": 1},
    "ship": {"harbor": 2, "bridge": 2, "river": 1},
    "snowberg": {"cloud": 3, "sea_ice": 2},
    "sparse_residential": {"baseball_diamond": 2, "golf_course": 2, "meadow": 1},
    "stadium": {"tennis_court": 2, "basketball_court": 3},
    "storage_tank": {"industrial_area": 4, "mobile_home_park": 1},
    "tennis_court": {"baseball_diamond": 2, "basketball_court": 1, "stadium": 2},
    "terrace": {"circular_farmland": 2, "chaparral": 1, "rectangular_farmland": 2},
    "thermal_power_station": {"industrial_area": 2, "cloud": 1, "storage_tank": 2},
    "wetland": {"bridge": 1, "forest": 1, "lake": 2, "river": 1},
}

DEPENDENT_TABLES: dict[str, dict[str, dict[str, int]]] = {
    "aid": AID_DEPENDENT,
    "nwpu_resisc45": NWPU_DEPENDENT,
}
# The datasets (registry names) with a published noise table; everything else reads the tables.
DATASETS_WITH_NOISE_TABLES: tuple[str, ...] = tuple(DEPENDENT_TABLES)


@dataclass(frozen=True, eq=False)
class NoisyLabels:
    """Noisy labels with everything needed to evaluate against the clean ones."""

    labels: np.ndarray
    clean: np.ndarray
    transition: np.ndarray
    realised_rate: float

    @property
    def flipped(self) -> np.ndarray:
        """Boolean mask of the samples whose label was changed."""
        return self.labels != self.clean


def _normalise_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _dataset_key(dataset: str) -> str:
    key = _normalise_name(dataset)
    aliases = {"aid": "aid", "nwpuresisc45": "nwpu_resisc45", "resisc45": "nwpu_resisc45"}
    if key not in aliases:
        raise KeyError(dataset)
    return aliases[key]


def has_noise_table(dataset: str) -> bool:
    """Whether ``dataset`` has a published class-dependent noise table (the ``dependent`` kind)."""
    try:
        return _dataset_key(dataset) in DEPENDENT_TABLES
    except KeyError:
        return False


def table_matrix(
    table: Mapping[str, Mapping[str, float]],
    rate: float,
    classes: Sequence[str] | None = None,
) -> np.ndarray:
    """Transition matrix from a {class: {neighbour: weight}} table: T_ii = 1 - rate and the
    rate spread over the neighbours in proportion to their weights.

    Class names are matched exactly, else ignoring case and punctuation (``"Bare Land"`` matches
    ``"BareLand"``); ``classes`` gives the row order (default: the table's sorted keys).
    """
    order = list(classes) if classes is not None else sorted(table)
    lookup = {_normalise_name(name): name for name in table}
    resolved = []
    for name in order:
        found = name if name in table else lookup.get(_normalise_name(name))
        if found is None:
            raise ValueError(
                f"class {name!r} is not in the label-dependent noise table (classes there: "
                f"{sorted(table)}); pass the dataset's own class names"
            )
        resolved.append(found)
    if sorted(resolved) != sorted(table):
        missing = sorted(set(table) - set(resolved))
        raise ValueError(f"the noise table needs every one of its classes; missing: {missing}")
    position = {name: i for i, name in enumerate(resolved)}
    matrix = np.zeros((len(order), len(order)))
    for i, name in enumerate(resolved):
        weights = table[name]
        total = float(sum(weights.values()))
        matrix[i, i] = 1.0 - rate
        for neighbour, weight in weights.items():
            matrix[i, position[neighbour]] += rate * weight / total
    return matrix


def confusion_matrix_noise(confusion: np.ndarray, rate: float, top_k: int = 3) -> np.ndarray:
    """Label-dependent transitions from a class-confusion matrix (any dataset).

    Row i keeps 1 - rate on the diagonal and spreads ``rate`` over the ``top_k`` classes that
    class i is most often confused with (largest off-diagonal ``confusion[i, j]``, e.g. counts of
    kNN votes on pretrained features), proportionally to those counts -- the same shape as the
    RNSL tables, where the mass goes to a few semantically close classes. A row without any
    off-diagonal confusion spreads the rate uniformly over the other classes.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be a square C x C matrix, got shape {confusion.shape}")
    if (confusion < 0).any():
        raise ValueError("confusion must be non-negative")
    classes = confusion.shape[0]
    if classes < 2:
        raise ValueError("label noise needs at least 2 classes")
    top_k = max(1, min(int(top_k), classes - 1))
    matrix = np.zeros((classes, classes))
    for i in range(classes):
        others = confusion[i].copy()
        others[i] = -np.inf
        # Stable ordering: ties go to the lower class index.
        order = np.argsort(-others, kind="stable")[:top_k]
        weights = np.clip(others[order], 0.0, None)
        if weights.sum() > 0:
            matrix[i, order] = rate * weights / weights.sum()
        else:
            matrix[i] = rate / (classes - 1)
        matrix[i, i] = 1.0 - rate
    return matrix


def transition_matrix(
    kind: str,
    num_classes: int,
    rate: float,
    *,
    dataset: str | None = None,
    classes: Sequence[str] | None = None,
    confusion: np.ndarray | None = None,
    top_k: int = 3,
) -> np.ndarray:
    """The C x C row-stochastic transition matrix of a noise model.

    Args:
        kind: ``"uniform"`` (T_ii = 1 - eta, T_ij = eta / (C - 1)), ``"pairflip"`` (eta to the
            next class, cyclically) or ``"dependent"`` (the RNSL tables for ``dataset`` "aid" /
            "nwpu_resisc45", else built from ``confusion``).
        num_classes: C.
        rate: eta in [0, 1].
        dataset: dataset name selecting a published table (dependent only).
        classes: class names in label order, to align a table's rows (default: the table's sorted
            class names, which is the datasets' folder order).
        confusion: C x C class-confusion counts for the general construction.
        top_k: number of confusable classes per row in the general construction.

    Raises:
        ValueError: unknown kind, bad rate, or a dependent model with neither table nor confusion.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"noise rate must be in [0, 1], got {rate}")
    if num_classes < 2:
        raise ValueError(f"label noise needs at least 2 classes, got {num_classes}")
    if kind == "uniform":
        matrix = np.full((num_classes, num_classes), rate / (num_classes - 1))
        np.fill_diagonal(matrix, 1.0 - rate)
    elif kind == "pairflip":
        matrix = np.eye(num_classes) * (1.0 - rate)
        matrix[np.arange(num_classes), (np.arange(num_classes) + 1) % num_classes] += rate
    elif kind == "dependent":
        table = None
        if dataset is not None and confusion is None:
            try:
                table = DEPENDENT_TABLES[_dataset_key(dataset)]
            except KeyError:
                raise ValueError(
                    f"no published label-dependent table for dataset {dataset!r} (tables exist for "
                    "'aid' and 'nwpu_resisc45'); pass confusion= (e.g. the class confusion of kNN "
                    "on pretrained features) for the general construction"
                ) from None
        if table is not None:
            matrix = table_matrix(table, rate, classes)
        elif confusion is not None:
            matrix = confusion_matrix_noise(confusion, rate, top_k)
        else:
            raise ValueError(
                "label-dependent noise needs dataset='aid' / 'nwpu_resisc45' or a confusion matrix"
            )
    else:
        raise ValueError(f"unknown noise kind {kind!r}; choose one of {NOISE_KINDS}")
    if matrix.shape != (num_classes, num_classes):
        raise ValueError(
            f"the {kind} noise matrix is {matrix.shape[0]} x {matrix.shape[1]} but num_classes is "
            f"{num_classes}"
        )
    return matrix


def sample_noisy_labels(
    labels: np.ndarray, transition: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draw one noisy label per sample from row ``labels[i]`` of ``transition`` (inverse CDF)."""
    labels = np.asarray(labels, dtype=np.int64)
    cumulative = np.cumsum(transition, axis=1)
    uniforms = rng.random(len(labels))
    noisy = (uniforms[:, None] >= cumulative[labels]).sum(axis=1)
    return np.minimum(noisy, transition.shape[1] - 1).astype(np.int64)


def add_label_noise(
    labels: np.ndarray,
    kind: str,
    rate: float,
    seed: int = 42,
    *,
    num_classes: int | None = None,
    **matrix_options: object,
) -> NoisyLabels:
    """Corrupt ``labels`` (the caller passes the training labels only) with a seeded noise model.

    Labels are drawn from ``np.random.default_rng(seed)``: the same labels, kind, rate and seed
    always give the same noisy labels.

    Args:
        labels: clean integer labels.
        kind: see :func:`transition_matrix`.
        rate: eta.
        seed: generator seed.
        num_classes: C (default: from ``classes`` / ``confusion`` / the table, else max label + 1).
        **matrix_options: ``dataset``, ``classes``, ``confusion``, ``top_k``.

    Returns:
        :class:`NoisyLabels` with the noisy and clean labels, T and the realised flip rate.
    """
    clean = np.asarray(labels, dtype=np.int64)
    if num_classes is None:
        classes = matrix_options.get("classes")
        confusion = matrix_options.get("confusion")
        dataset = matrix_options.get("dataset")
        if classes is not None:
            num_classes = len(classes)  # type: ignore[arg-type]
        elif confusion is not None:
            num_classes = int(np.asarray(confusion).shape[0])
        elif kind == "dependent" and isinstance(dataset, str):
            try:
                num_classes = len(DEPENDENT_TABLES[_dataset_key(dataset)])
            except KeyError:
                num_classes = None  # transition_matrix explains what is missing
        if num_classes is None:
            num_classes = int(clean.max()) + 1 if len(clean) else 2
    if len(clean) and (clean.min() < 0 or clean.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got {clean.min()}..{clean.max()}")
    matrix = transition_matrix(kind, num_classes, rate, **matrix_options)  # type: ignore[arg-type]
    noisy = sample_noisy_labels(clean, matrix, np.random.default_rng(seed))
    realised = float(np.mean(noisy != clean)) if len(clean) else 0.0
    return NoisyLabels(labels=noisy, clean=clean, transition=matrix, realised_rate=realised)
