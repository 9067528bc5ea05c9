"""Print the README's result tables for a study's figures folder, from its ``results.csv``.

The README quotes a study's numbers in four tables: clean labels (the papers' metrics), test
kNN@10 over uniform then label-dependent noise, and test kNN@10 and mAP@20 over the labelled
fractions. They are rendered here by the same code as the study's own tables
(:mod:`rsdml.tables`: mean ± std in %, best in bold), so that after a regeneration the README
is updated by pasting, not by retyping numbers. With several folders it also prints the table
of the papers' claims side by side, one column a study.

    python docs/readme_tables.py figures/ucmerced
    python docs/readme_tables.py figures/ucmerced figures/eurosat
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from rsdml.tables import markdown_table, metric_label, rate_frame, setting_rate

CLEAN_METRICS = ["knn@1", "knn@10", "acc", "nmi", "map@20", "map@100"]


def table_lines(text: str) -> str:
    """The table of a :func:`markdown_table` output, without its caption and note."""
    return "\n".join(line for line in text.splitlines() if line.startswith("|"))


def readme_tables(summary: pd.DataFrame) -> list[tuple[str, str]]:
    """(title, Markdown table) for each README table the summary has rows for."""
    tables = []
    clean = summary[summary["setting"] == "clean"].reset_index(drop=True)
    if len(clean):
        tables.append(("clean labels", markdown_table(clean, metrics=CLEAN_METRICS, layout="long")))
    noise = pd.concat(
        [rate_frame(summary, "uniform", zero_setting="clean"), rate_frame(summary, "dependent")]
    ).reset_index(drop=True)
    if len(noise):
        tables.append(
            ("label noise, kNN@10", markdown_table(noise, metrics=["knn@10"], layout="wide"))
        )
    labelled = rate_frame(summary, "labelled")
    if len(labelled):
        tables += [
            (
                f"labelled fractions, {metric}",
                markdown_table(labelled, metrics=[metric], layout="wide"),
            )
            for metric in ("knn@10", "map@20")
        ]
    return [(title, table_lines(text)) for title, text in tables]


FEWEST_LABELS = "fewest labels"
"""Stands for a study's smallest labelled fraction (UC Merced's grid starts at 5 %, EuroSAT's at 1 %)."""
BEST_OTHER = "the best other method"
"""Stands for the method, other than the claim's, with the highest mean in that setting."""

#: The papers' claims, each as (claim, metric, (method, setting), (method, setting)): the table
#: shows the first mean minus the second, in points, with both means.
CLAIMS: list[tuple[str, str, tuple[str, str], tuple[str, str]]] = [
    *(
        (f"t-RNSL − NSL, {title} {rate}", "knn@10", ("trnsl", setting), ("nsl", setting))
        for kind, title in (("uniform", "uniform"), ("dependent", "label-dependent"))
        for rate in ("0.5", "0.7")
        for setting in [f"{kind}-{rate}"]
    ),
    ("RNSL, uniform 0.7 − uniform 0.5", "knn@10", ("rnsl", "uniform-0.7"), ("rnsl", "uniform-0.5")),
    *(
        (
            "HR-S2DML − ArcFace (λ = 0), fewest labels",
            metric,
            ("hr_s2dml", FEWEST_LABELS),
            ("arcface", FEWEST_LABELS),
        )
        for metric in ("knn@10", "map@20")
    ),
    *(
        (
            f"SNCA-CE − SNCA, clean, {memory}",
            "knn@10",
            (f"snca_ce_{m}", "clean"),
            (f"snca_{m}", "clean"),
        )
        for m, memory in (("mb", "memory bank"), ("mu", "momentum update"))
    ),
    ("SRL − the best other method, clean", "map@20", ("srl", "clean"), (BEST_OTHER, "clean")),
]


def _claim_mean(
    summary: pd.DataFrame, metric: str, method: str, setting: str, other_than: str
) -> tuple[str, float]:
    """(method, mean in %) of one side of a claim; FEWEST_LABELS and BEST_OTHER resolved."""
    if setting == FEWEST_LABELS:
        rates = {name: setting_rate(name, "labelled") for name in summary["setting"]}
        setting = min((name for name, rate in rates.items() if rate is not None), key=rates.get)
    rows = summary[summary["setting"] == setting]
    if method == BEST_OTHER:
        rows = rows[rows["method"] != other_than]
        best = rows.loc[rows[f"{metric}_mean"].idxmax()]
        return str(best["method"]), 100 * float(best[f"{metric}_mean"])
    (value,) = rows.loc[rows["method"] == method, f"{metric}_mean"]
    return method, 100 * float(value)


def claims_table(summaries: dict[str, pd.DataFrame]) -> str:
    """The papers' claims in each study (columns: the studies' names), as a Markdown table."""
    header = "| Claim | metric | " + " | ".join(summaries) + " |"
    lines = [header, "|:---|:---|" + "---:|" * len(summaries)]
    for claim, metric, (method, setting), (other, other_setting) in CLAIMS:
        cells = []
        for summary in summaries.values():
            _, first = _claim_mean(summary, metric, method, setting, other_than=method)
            name, second = _claim_mean(summary, metric, other, other_setting, other_than=method)
            against = f" {name}" if other == BEST_OTHER else ""
            cells.append(f"{first - second:+.1f} ({first:.1f} vs{against} {second:.1f})")
        lines.append(f"| {claim} | {metric_label(metric)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


STUDY_TITLES = {"ucmerced": "UC Merced", "eurosat": "EuroSAT"}


def study_title(folder_name: str) -> str:
    """A study's column title in the claims table (its figures folder's name when unknown)."""
    return STUDY_TITLES.get(folder_name, folder_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "figures", type=Path, nargs="+", help="studies' figures folders (with results.csv)"
    )
    args = parser.parse_args()
    summaries = {
        study_title(folder.name): pd.read_csv(folder / "results.csv") for folder in args.figures
    }
    for name, summary in summaries.items():
        for title, table in readme_tables(summary):
            print(f"<!-- {name}: {title} -->\n{table}\n")
    if len(summaries) > 1:
        print(f"<!-- the papers' claims -->\n{claims_table(summaries)}")


if __name__ == "__main__":
    main()
