"""Tests of rsdml.tables: seed summaries against hand-computed values, and the three table files."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from rsdml.tables import (
    latex_table,
    markdown_table,
    metric_label,
    rate_frame,
    rate_series,
    summarise,
    table_metrics,
    write_tables,
)


def _records() -> list[dict]:
    """Two methods x two settings; hand-picked values with easy means and sample stds."""
    return [
        # NSL, "U 0.1": knn@10 0.80, 0.90, 0.85 -> mean 0.85, sample std 0.05
        {"method": "nsl", "setting": "U 0.1", "seed": 0, "knn@10": 0.80, "map@20": 0.70},
        {"method": "nsl", "setting": "U 0.1", "seed": 1, "knn@10": 0.90, "map@20": 0.74},
        {"method": "nsl", "setting": "U 0.1", "seed": 2, "knn@10": 0.85, "map@20": 0.72},
        # t-RNSL, "U 0.1": 0.90, 0.94 -> mean 0.92, sample std sqrt(0.0008) = 0.028284...
        {"method": "trnsl", "setting": "U 0.1", "seed": 0, "knn@10": 0.90, "map@20": 0.60},
        {"method": "trnsl", "setting": "U 0.1", "seed": 1, "knn@10": 0.94, "map@20": 0.62},
        # "U 0.5": one seed each, NSL wins knn@10, t-RNSL wins map@20
        {"method": "trnsl", "setting": "U 0.5", "seed": 0, "knn@10": 0.50, "map@20": 0.55},
        {"method": "nsl", "setting": "U 0.5", "seed": 0, "knn@10": 0.60, "map@20": 0.45},
    ]


def test_summarise_means_and_sample_stds_by_hand() -> None:
    frame = summarise(_records())
    assert list(frame.columns) == [
        "method",
        "setting",
        "n_seeds",
        "knn@10_mean",
        "knn@10_std",
        "map@20_mean",
        "map@20_std",
    ]
    rows = {(r.method, r.setting): r for r in frame.itertuples(index=False)}
    assert len(rows) == 4
    nsl = frame[(frame.method == "nsl") & (frame.setting == "U 0.1")].iloc[0]
    assert nsl["n_seeds"] == 3
    assert nsl["knn@10_mean"] == pytest.approx(0.85)
    assert nsl["knn@10_std"] == pytest.approx(0.05)
    assert nsl["map@20_mean"] == pytest.approx(0.72)
    assert nsl["map@20_std"] == pytest.approx(0.02)
    trnsl = frame[(frame.method == "trnsl") & (frame.setting == "U 0.1")].iloc[0]
    assert trnsl["knn@10_mean"] == pytest.approx(0.92)
    assert trnsl["knn@10_std"] == pytest.approx(math.sqrt(0.0008))
    single = frame[(frame.method == "trnsl") & (frame.setting == "U 0.5")].iloc[0]
    assert single["n_seeds"] == 1
    assert single["knn@10_mean"] == pytest.approx(0.50)
    assert single["knn@10_std"] == 0.0


def test_summarise_orders_rows_by_setting_then_method() -> None:
    frame = summarise(_records(), method_order=["trnsl", "nsl"])
    assert list(zip(frame.setting, frame.method, strict=True)) == [
        ("U 0.1", "trnsl"),
        ("U 0.1", "nsl"),
        ("U 0.5", "trnsl"),
        ("U 0.5", "nsl"),
    ]
    frame = summarise(_records(), setting_order=["U 0.5"])
    # Unlisted methods keep their first-seen order; unlisted settings follow the listed ones.
    assert list(zip(frame.setting, frame.method, strict=True)) == [
        ("U 0.5", "nsl"),
        ("U 0.5", "trnsl"),
        ("U 0.1", "nsl"),
        ("U 0.1", "trnsl"),
    ]


def test_summarise_metric_selection_and_missing_values() -> None:
    records = [
        {"method": "a", "setting": "", "seed": 0, "nmi": 0.5, "knn@1": 0.9, "dataset": "ucm"},
        {"method": "a", "setting": "", "seed": 1, "nmi": 0.7, "knn@1": None, "epochs": 3},
        {"method": "b", "setting": "", "seed": 0, "knn@1": 0.4},
    ]
    frame = summarise(records)
    # Study metrics in canonical order, then other numeric keys; strings are not metrics.
    assert table_metrics(frame) == ["knn@1", "nmi", "epochs"]
    a = frame[frame.method == "a"].iloc[0]
    assert a["knn@1_mean"] == pytest.approx(0.9)
    assert a["knn@1_std"] == 0.0  # a single reported value
    assert a["nmi_std"] == pytest.approx(math.sqrt(0.02))
    b = frame[frame.method == "b"].iloc[0]
    assert math.isnan(b["nmi_mean"]) and math.isnan(b["nmi_std"])
    assert table_metrics(summarise(records, metrics=["nmi"])) == ["nmi"]


@pytest.mark.parametrize(
    ("records", "options", "message"),
    [
        ([], {}, "no records"),
        ([{"method": "a", "seed": 0, "acc": 0.5}], {}, "setting"),
        ([{"method": "a", "setting": "", "acc": 0.5}], {"metrics": ["nmi"]}, "appear in no record"),
        (
            [
                {"method": "a", "setting": "s", "seed": 3, "acc": 0.5},
                {"method": "a", "setting": "s", "seed": 3, "acc": 0.6},
            ],
            {},
            "more than once",
        ),
    ],
)
def test_summarise_rejects_bad_records(records: list, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        summarise(records, **options)


def test_metric_labels() -> None:
    assert [metric_label(n) for n in ("knn@10", "acc", "nmi", "ari", "map", "map@20", "p@5")] == [
        "kNN@10",
        "ACC",
        "NMI",
        "ARI",
        "mAP",
        "mAP@20",
        "P@5",
    ]
    assert metric_label("loss") == "loss"


def test_tables_do_not_import_torch() -> None:
    """Formatting a table must stay cheap: no torch import behind rsdml.tables."""
    import subprocess
    import sys

    code = "import sys, rsdml.tables; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_markdown_long_layout_cells_and_bold_best() -> None:
    frame = summarise(_records())
    text = markdown_table(frame, caption="Noisy labels, AID")
    lines = text.splitlines()
    assert lines[0] == "Noisy labels, AID"
    assert "| Setting | Method | kNN@10 | mAP@20 |" in lines
    # U 0.1: t-RNSL best knn@10 (92.0 vs 85.0), NSL best map@20 (72.0 vs 61.0).
    assert "| U 0.1 | nsl | 85.0 ± 5.0 | **72.0 ± 2.0** |" in lines
    assert "| U 0.1 | trnsl | **92.0 ± 2.8** | 61.0 ± 1.4 |" in lines
    # U 0.5: single seeds print the mean only; the winners differ from U 0.1.
    assert "| U 0.5 | nsl | **60.0** | 45.0 |" in lines
    assert "| U 0.5 | trnsl | 50.0 | **55.0** |" in lines
    assert "over 1-3 seeds in %" in text


def test_markdown_wide_layout_for_one_metric_over_settings() -> None:
    frame = summarise(_records())
    text = markdown_table(frame, metrics=["knn@10"])
    lines = text.splitlines()
    assert lines[0] == "| Method | U 0.1 | U 0.5 |"
    assert lines[1] == "|:---|---:|---:|"
    assert lines[2] == "| nsl | 85.0 ± 5.0 | **60.0** |"
    assert lines[3] == "| trnsl | **92.0 ± 2.8** | 50.0 |"
    long = markdown_table(frame, metrics=["knn@10"], layout="long")
    assert "| Setting | Method | kNN@10 |" in long


def test_markdown_ties_missing_runs_and_single_setting() -> None:
    records = [
        {"method": "a", "setting": "x", "seed": 0, "acc": 0.9001},
        {"method": "b", "setting": "x", "seed": 0, "acc": 0.8999},  # both print as 90.0
        {"method": "c", "setting": "y", "seed": 0, "acc": 0.5},
    ]
    frame = summarise(records)
    wide = markdown_table(frame).splitlines()
    assert wide[2] == "| a | **90.0** | – |"
    assert wide[3] == "| b | **90.0** | – |"
    assert wide[4] == "| c | – | **50.0** |"
    single = markdown_table(summarise(records[:2])).splitlines()
    assert single[0] == "| Method | ACC |"  # one setting: no setting column


def test_latex_table_content() -> None:
    records = [dict(r, method=r["method"].replace("nsl", "snca_ce")) for r in _records()]
    text = latex_table(summarise(records), caption="50% noise & more", label="tab:noise")
    assert "\\usepackage{booktabs}" in text
    assert "\\toprule" in text and "\\bottomrule" in text
    assert "\\caption{50\\% noise \\& more Values:" in text
    assert "\\label{tab:noise}" in text
    assert "\\begin{tabular}{llrr}" in text
    assert "Setting & Method & kNN@10 & mAP@20 \\\\" in text
    assert "U 0.1 & snca\\_ce & 85.0 $\\pm$ 5.0 & \\textbf{72.0 $\\pm$ 2.0} \\\\" in text
    assert " & trsnca\\_ce & \\textbf{92.0 $\\pm$ 2.8} & 61.0 $\\pm$ 1.4 \\\\" in text
    # A rule between the two setting blocks, and each setting named once.
    body = text.split("\\midrule", 1)[1]
    assert body.count("\\midrule") == 1
    assert text.count("U 0.5") == 1


def test_tables_reject_frames_without_metrics() -> None:
    frame = summarise(_records())
    with pytest.raises(ValueError, match="not in the frame"):
        markdown_table(frame, metrics=["nmi"])
    with pytest.raises(ValueError, match="summarise"):
        latex_table(frame.drop(columns="n_seeds"))
    with pytest.raises(ValueError, match="layout"):
        markdown_table(frame, layout="diagonal")  # type: ignore[arg-type]


def test_write_tables_files(tmp_path) -> None:
    records = _records() + [
        {"method": "ce", "setting": "U 0.1", "seed": 0, "knn@10": 1 / 3, "map@20": 2 / 3}
    ]
    frame = summarise(records)
    paths = write_tables(frame, tmp_path / "out" / "aid_eta0.5", caption="AID")
    assert [p.name for p in paths] == ["aid_eta0.5.csv", "aid_eta0.5.md", "aid_eta0.5.tex"]
    assert all(p.stat().st_size > 0 for p in paths)
    # The CSV keeps full precision: it reads back exactly.
    pd.testing.assert_frame_equal(pd.read_csv(paths[0], keep_default_na=False), frame)
    assert paths[1].read_text(encoding="utf-8") == markdown_table(frame, caption="AID")
    assert paths[2].read_text(encoding="utf-8") == latex_table(frame, caption="AID")
    # A known suffix on the stem is dropped, and no temporary files are left behind.
    again = write_tables(frame, tmp_path / "out" / "aid_eta0.5.csv")
    assert again == paths
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)


def _knn10(method: str, setting: str, seed: int, value: float) -> dict:
    """A per-seed record holding only kNN@10."""
    return {"method": method, "setting": setting, "seed": seed, "knn@10": value}


def test_rate_series_reads_rates_from_setting_names():
    records = [
        _knn10("nsl", "clean", 0, 0.95),
        _knn10("nsl", "uniform-0.5", 0, 0.70),
        _knn10("nsl", "uniform-0.5", 1, 0.80),
        _knn10("nsl", "uniform-0.1", 0, 0.90),
        _knn10("nsl", "dependent-0.1", 0, 0.5),
        _knn10("srl", "clean", 0, 0.96),  # no noisy runs
        _knn10("trnsl", "uniform-0.5", 0, 0.85),
    ]
    series = rate_series(summarise(records), "uniform", zero_setting="clean")
    assert list(series) == ["nsl", "trnsl"]
    rates, means, stds = series["nsl"]
    assert rates.tolist() == [0.0, 0.1, 0.5]
    assert means.tolist() == pytest.approx([0.95, 0.90, 0.75])
    assert stds[2] == pytest.approx(math.sqrt(0.005))  # sample std of 0.70 and 0.80
    assert series["trnsl"][0].tolist() == [0.5]  # no clean run: no point at 0
    assert rate_series(summarise(records), "labelled") == {}


def test_rate_tables_start_with_the_clean_column():
    records = [
        _knn10("ce", "clean", 0, 0.923),
        _knn10("ce", "uniform-0.3", 0, 0.893),
        _knn10("ce", "uniform-0.1", 0, 0.897),
        _knn10("ce", "labelled-0.1", 0, 0.5),
        _knn10("srl", "clean", 0, 0.948),  # no noisy run
        _knn10("rnsl", "uniform-0.1", 0, 0.929),
    ]
    frame = rate_frame(summarise(records), "uniform", zero_setting="clean")
    # clean labels are noise rate 0: the first column, then the rates in increasing order
    assert list(dict.fromkeys(frame["setting"])) == ["clean", "uniform-0.1", "uniform-0.3"]
    assert sorted(set(frame["method"])) == ["ce", "rnsl"]
    header = markdown_table(frame, metrics=["knn@10"], layout="wide").splitlines()[0]
    assert header == "| Method | clean | uniform-0.1 | uniform-0.3 |"
    rows = markdown_table(frame, metrics=["knn@10"], layout="wide").splitlines()[2:4]
    assert rows == ["| ce | **92.3** | 89.7 | **89.3** |", "| rnsl | – | **92.9** | – |"]
    # the curves read the same rows as the table
    series = rate_series(summarise(records), "uniform", zero_setting="clean")
    assert series["ce"][0].tolist() == [0.0, 0.1, 0.3]
    # kinds without a rate-0 setting keep only their own rows
    labelled = rate_frame(summarise(records), "labelled")
    assert labelled["setting"].tolist() == ["labelled-0.1"]
