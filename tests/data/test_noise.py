"""Label-noise models: matrices re-derived by hand and from the RNSL paper's tables, sampling
checked empirically."""

from __future__ import annotations

import re

import numpy as np
import pytest

from rsdml.data import (
    AID,
    DATASETS,
    DATASETS_WITH_NOISE_TABLES,
    NWPURESISC45,
    add_label_noise,
    has_noise_table,
    transition_matrix,
)
from rsdml.data.noise import DEPENDENT_TABLES

# The RNSL paper's Table V (Kang et al., IEEE TGRS 2021, doi:10.1109/TGRS.2020.3042607): AID at
# eta = 0.5, retyped here row by row as printed there.
AID_TABLE_05 = """
Airport | BareLand, Industrial, Parking, RailwayStation, StorageTanks 0.1 each
BareLand | Desert 0.3, Mountain 0.2
BaseballField | Meadow 0.2, SparseResidential 0.1, Farmland 0.2
Beach | Bridge 0.1, Pond 0.2, Port 0.2
Bridge | Beach 0.1, Pond 0.2, Port 0.2
Center | Church 0.3, Commercial 0.1, Square 0.1
Church | Center 0.3, Commercial 0.1, Square 0.1
Commercial | Center 0.2, Church 0.1, Square 0.1, DenseResidential 0.1
DenseResidential | Center 0.2, Church 0.1, Square 0.1, Resort 0.1
Desert | BareLand 0.3, Mountain 0.2
Farmland | BaseballField 0.2, Forest 0.2, Meadow 0.1
Forest | BaseballField 0.2, Farmland 0.2, Meadow 0.1
Industrial | Airport 0.1, Square 0.1, Viaduct 0.1, StorageTanks 0.2
Meadow | BaseballField 0.1, Farmland 0.1, Forest 0.2, River 0.1
MediumResidential | SparseResidential 0.3, DenseResidential 0.2
Mountain | BareLand 0.2, Meadow 0.2, Farmland 0.1
Park | School 0.2, SparseResidential 0.2, Square 0.1
Parking | Airport 0.2, RailwayStation 0.2, BareLand 0.1
Playground | Stadium 0.4, Park 0.1
Pond | Bridge 0.2, Port 0.1, River 0.2
Port | Pond 0.2, Beach 0.1, River 0.2
Resort | Center 0.2, Square 0.1, Church 0.2
River | Bridge 0.2, Forest 0.1, Meadow 0.1, Pond 0.1
School | Resort 0.2, Stadium 0.1, Square 0.1, Center 0.1
SparseResidential | MediumResidential 0.3, DenseResidential 0.2
Square | Viaduct 0.2, Airport 0.2, Parking 0.1
Stadium | Playground 0.4, School 0.1
StorageTanks | Industrial 0.2, Airport 0.1, Parking 0.2
Viaduct | Square 0.3, RailwayStation 0.2
RailwayStation | Square 0.3, Viaduct 0.2
"""

# Four rows of the same paper's Table VI (NWPU-RESISC45, eta = 0.5), retyped as printed there.
NWPU_EXAMPLES_05 = {
    "beach": {"bridge": 0.1, "harbor": 0.1, "island": 0.1, "lake": 0.1, "river": 0.1},
    "chaparral": {"desert": 0.4, "terrace": 0.1},
    "basketball_court": {"ground_track_field": 0.3, "baseball_diamond": 0.1, "tennis_court": 0.1},
    "storage_tank": {"industrial_area": 0.4, "mobile_home_park": 0.1},
}


def parse_paper_table(text: str) -> dict[str, dict[str, float]]:
    rows = {}
    for line in text.strip().splitlines():
        true, flips = (part.strip() for part in line.split("|"))
        each = re.fullmatch(r"(.*) ([\d.]+) each", flips)
        if each:
            rows[true] = {name.strip(): float(each.group(2)) for name in each.group(1).split(",")}
        else:
            rows[true] = {
                item.rsplit(" ", 1)[0].strip(): float(item.rsplit(" ", 1)[1])
                for item in flips.split(",")
            }
    return rows


def test_uniform_and_pairflip_by_hand():
    uniform = transition_matrix("uniform", 4, 0.3)
    expected = np.full((4, 4), 0.1)
    np.fill_diagonal(expected, 0.7)
    np.testing.assert_allclose(uniform, expected)
    pair = transition_matrix("pairflip", 3, 0.2)
    np.testing.assert_allclose(pair, [[0.8, 0.2, 0], [0, 0.8, 0.2], [0.2, 0, 0.8]])


def test_aid_table_matches_paper_table_v_at_half():
    matrix = transition_matrix("dependent", 30, 0.5, dataset="aid", classes=AID.classes)
    rows = parse_paper_table(AID_TABLE_05)
    assert sorted(rows) == list(AID.classes)
    for i, true in enumerate(AID.classes):
        expected = np.zeros(30)
        expected[i] = 0.5
        for name, mass in rows[true].items():
            expected[AID.classes.index(name)] = mass
        np.testing.assert_allclose(matrix[i], expected, atol=1e-12, err_msg=true)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.7, 0.25])
def test_aid_off_diagonal_mass_scales_with_rate(rate):
    half = transition_matrix("dependent", 30, 0.5, dataset="AID")
    matrix = transition_matrix("dependent", 30, rate, dataset="AID")
    off = ~np.eye(30, dtype=bool)
    np.testing.assert_allclose(matrix[off], half[off] * rate / 0.5)
    np.testing.assert_allclose(np.diag(matrix), 1 - rate)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)


def test_aid_at_point_seven_outweighs_the_true_class_in_ten_rows():
    matrix = transition_matrix("dependent", 30, 0.7, dataset="aid")
    playground, stadium = AID.classes.index("Playground"), AID.classes.index("Stadium")
    assert matrix[playground, stadium] == pytest.approx(0.56)
    off = matrix - np.diag(np.diag(matrix))
    assert int(np.sum(off.max(axis=1) > np.diag(matrix))) == 10


def test_nwpu_table_complete_and_matches_the_quoted_rows():
    matrix = transition_matrix(
        "dependent", 45, 0.5, dataset="nwpu_resisc45", classes=NWPURESISC45.classes
    )
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.diag(matrix), 0.5)
    assert np.all(matrix >= 0)
    # Every row spreads eta over 2-5 classes in multiples of eta/5.
    off = matrix - np.diag(np.diag(matrix))
    assert all(2 <= np.count_nonzero(row) <= 5 for row in off)
    np.testing.assert_allclose(np.round(off / 0.1) * 0.1, off, atol=1e-12)
    for true, flips in NWPU_EXAMPLES_05.items():
        row = matrix[NWPURESISC45.classes.index(true)]
        for name, mass in flips.items():
            assert row[NWPURESISC45.classes.index(name)] == pytest.approx(mass)
        assert off[NWPURESISC45.classes.index(true)].sum() == pytest.approx(sum(flips.values()))


def test_table_rows_follow_the_given_class_order():
    order = list(AID.classes)[::-1]
    reordered = transition_matrix("dependent", 30, 0.5, dataset="aid", classes=order)
    canonical = transition_matrix("dependent", 30, 0.5, dataset="aid")
    permutation = [AID.classes.index(name) for name in order]
    np.testing.assert_allclose(reordered, canonical[np.ix_(permutation, permutation)])
    # Names are matched ignoring case and punctuation.
    loose = transition_matrix(
        "dependent", 30, 0.5, dataset="aid", classes=[c.lower() for c in AID.classes]
    )
    np.testing.assert_allclose(loose, canonical)
    with pytest.raises(ValueError, match="not in the label-dependent"):
        transition_matrix("dependent", 30, 0.5, dataset="aid", classes=["Lake", *AID.classes[1:]])


def test_confusion_construction_by_hand():
    confusion = np.array(
        [
            [50, 6, 2, 0],
            [1, 40, 1, 8],
            [0, 0, 30, 0],
            [3, 3, 3, 20],
        ]
    )
    matrix = transition_matrix("dependent", 4, 0.4, confusion=confusion, top_k=2)
    expected = np.array(
        [
            [0.6, 0.4 * 6 / 8, 0.4 * 2 / 8, 0],
            [0.4 * 1 / 9, 0.6, 0, 0.4 * 8 / 9],  # ties (1, 1): the lower index wins
            [0.4 / 3, 0.4 / 3, 0.6, 0.4 / 3],  # never confused: spread uniformly
            [0.2, 0.2, 0, 0.6],
        ]
    )
    np.testing.assert_allclose(matrix, expected)


def test_empirical_rates_match_the_matrix():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 60_000)
    for kind in ("uniform", "pairflip"):
        noisy = add_label_noise(labels, kind, 0.3, seed=1, num_classes=10)
        assert noisy.realised_rate == pytest.approx(0.3, abs=0.01)
        assert noisy.realised_rate == pytest.approx(np.mean(noisy.labels != labels))
        empirical = np.zeros((10, 10))
        np.add.at(empirical, (labels, noisy.labels), 1)
        empirical /= empirical.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(empirical, noisy.transition, atol=0.025)
        np.testing.assert_array_equal(noisy.clean, labels)


def test_dependent_noise_empirically_on_aid_labels():
    labels = np.repeat(np.arange(30), 1500)
    noisy = add_label_noise(labels, "dependent", 0.5, seed=3, dataset="aid", classes=AID.classes)
    assert noisy.realised_rate == pytest.approx(0.5, abs=0.01)
    stadium, playground = AID.classes.index("Stadium"), AID.classes.index("Playground")
    went = np.mean(noisy.labels[labels == stadium] == playground)
    assert went == pytest.approx(0.4, abs=0.04)
    assert set(np.unique(noisy.labels[labels == stadium])) == {
        stadium,
        playground,
        AID.classes.index("School"),
    }


def test_deterministic_by_seed_and_rate_zero_is_clean():
    labels = np.arange(500) % 7
    a = add_label_noise(labels, "uniform", 0.4, seed=11)
    b = add_label_noise(labels, "uniform", 0.4, seed=11)
    c = add_label_noise(labels, "uniform", 0.4, seed=12)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.labels, c.labels)
    assert a.transition.shape == (7, 7)  # inferred from the labels
    clean = add_label_noise(labels, "pairflip", 0.0, seed=11)
    np.testing.assert_array_equal(clean.labels, labels)
    assert clean.realised_rate == 0.0 and not clean.flipped.any()


def test_helpful_errors():
    labels = np.arange(10) % 5
    with pytest.raises(ValueError, match="unknown noise kind"):
        add_label_noise(labels, "symmetric", 0.2)
    with pytest.raises(ValueError, match="confusion"):
        add_label_noise(labels, "dependent", 0.2, dataset="ucmerced")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        transition_matrix("uniform", 5, 1.5)
    with pytest.raises(ValueError, match="num_classes"):
        transition_matrix("dependent", 21, 0.2, dataset="aid")
    with pytest.raises(ValueError, match="must lie in"):
        add_label_noise(labels, "uniform", 0.2, num_classes=3)


def test_the_noise_tables_own_the_list_of_datasets_that_have_one():
    assert DATASETS_WITH_NOISE_TABLES == tuple(DEPENDENT_TABLES) == ("aid", "nwpu_resisc45")
    assert set(DATASETS_WITH_NOISE_TABLES) <= set(DATASETS)
    assert [name for name in DATASETS if has_noise_table(name)] == list(DATASETS_WITH_NOISE_TABLES)
    assert has_noise_table("NWPU-RESISC45") and has_noise_table("resisc45")
    assert not has_noise_table("ucmerced") and not has_noise_table("")
