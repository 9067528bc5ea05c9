"""Print the README's result tables for a study's figures folder, from its ``results.csv``.

The README quotes a study's numbers in four tables: clean labels (the papers' metrics), test
kNN@10 over uniform then label-dependent noise, and test kNN@10 and mAP@20 over the labelled
fractions. They are rendered here by the same code as the study's own tables
(:mod:`rsdml.tables`: mean ± std in %, best in bold), so that after a regeneration the README
is updated by pasting, not by retyping numbers.

    python docs/readme_tables.py figures/ucmerced
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from rsdml.tables import markdown_table, rate_frame

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figures", type=Path, help="a study's figures folder (with results.csv)")
    args = parser.parse_args()
    summary = pd.read_csv(args.figures / "results.csv")
    for title, table in readme_tables(summary):
        print(f"<!-- {title} -->\n{table}\n")


if __name__ == "__main__":
    main()
