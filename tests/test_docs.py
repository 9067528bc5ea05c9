"""The package's references to its documentation resolve, and it cites nothing outside the project.

Docstrings cite sections as ``docs/methods.md#t-rnsl``: the file must exist and hold a heading
whose GitHub-style anchor is ``t-rnsl``. Files outside the repository (a sibling ``shared/``
folder, its ``METHODS.md``) are not installed with rsdml, so nothing under ``rsdml/`` may cite them.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rsdml"
DOCS = ROOT / "docs"
REFERENCE = re.compile(r"docs/[\w./-]+?\.md(?:#[\w-]+)?")
FORBIDDEN = ("METHODS.md", "shared/")


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown text (code blocks skipped).

    Lower case, punctuation dropped (letters, digits, spaces, hyphens and underscores kept),
    spaces turned into hyphens; a repeated anchor gets ``-1``, ``-2``, ... Explicit
    ``<a id="...">`` / ``<a name="...">`` targets count too.
    """
    anchors: set[str] = set()
    seen: Counter[str] = Counter()
    in_code = False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_code = not in_code
            continue
        if in_code:
            continue
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
            seen[slug] += 1
        anchors.update(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", line))
    return anchors


def package_files() -> list[Path]:
    """Every text file under rsdml/ (sources, study presets), caches left out."""
    files = []
    for path in sorted(PACKAGE.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".so"):
            continue
        files.append(path)
    return files


def references() -> list[tuple[Path, str]]:
    """(file, reference) for every ``docs/...md[#anchor]`` cited under rsdml/."""
    found = []
    for path in package_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [(path, match) for match in REFERENCE.findall(text)]
    return found


def test_anchor_rules():
    text = "# Methods\n## t-RNSL\n### mAP@K normalisation\n```\n# not a heading\n```\n## t-RNSL\n"
    assert github_anchors(text) == {"methods", "t-rnsl", "mapk-normalisation", "t-rnsl-1"}


def test_package_cites_the_docs():
    cited = {reference for _, reference in references()}
    # the loss and evaluation modules point at their definitions
    assert "docs/methods.md#t-rnsl" in cited
    assert "docs/methods.md#mapk-normalisation" in cited


def test_doc_references_resolve():
    problems = []
    for path, reference in references():
        target, _, anchor = reference.partition("#")
        document = ROOT / target
        where = path.relative_to(ROOT)
        if not document.is_file():
            problems.append(f"{where} cites {reference}, but {target} does not exist")
        elif anchor and anchor not in github_anchors(document.read_text(encoding="utf-8")):
            problems.append(f"{where} cites {reference}, but {target} has no heading #{anchor}")
    assert not problems, "\n".join(problems)


def test_docs_internal_links_resolve():
    problems = []
    for document in sorted(DOCS.glob("*.md")):
        text = document.read_text(encoding="utf-8")
        anchors = github_anchors(text)
        problems += [
            f"{document.name} links to #{anchor}, which is no heading"
            for anchor in re.findall(r"\]\(#([\w-]+)\)", text)
            if anchor not in anchors
        ]
    assert not problems, "\n".join(problems)


def test_nothing_outside_the_project_is_cited():
    problems = []
    for path in [*package_files(), *sorted(DOCS.glob("*.md"))]:
        text = path.read_text(encoding="utf-8", errors="replace")
        problems += [
            f"{path.relative_to(ROOT)} mentions {word!r}" for word in FORBIDDEN if word in text
        ]
    assert not problems, (
        "not part of the installed project; cite docs/methods.md (with a section anchor) or "
        "the paper instead:\n" + "\n".join(problems)
    )


def _readme_section(heading: str) -> str:
    """The README's text from ``heading`` to the next heading of the same or a higher level."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    level = heading.split(" ")[0]
    start = text.index(f"\n{heading}\n")
    ends = [m.start() for m in re.finditer(rf"\n#{{1,{len(level)}}} ", text) if m.start() > start]
    return text[start : ends[0] if ends else len(text)]


def _readme_tables_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_tables", DOCS / "readme_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tables_in(section: str) -> list[str]:
    return [
        table.strip() for table in re.findall(r"(?:^\|.*\n)+", section + "\n", flags=re.MULTILINE)
    ]


@pytest.mark.parametrize(
    ("study", "heading"),
    [("ucmerced", "## Results on UC Merced"), ("eurosat", "## Results on EuroSAT")],
)
def test_readme_result_tables_are_the_committed_figures(study, heading):
    """The README's numbers are figures/<study>'s, as docs/readme_tables.py renders them: a
    regeneration that leaves the README behind fails here."""
    import pandas as pd

    summary = pd.read_csv(ROOT / "figures" / study / "results.csv")
    expected = [table for _, table in _readme_tables_module().readme_tables(summary)]
    assert _tables_in(_readme_section(heading)) == expected


def test_readme_claims_table_is_the_committed_figures():
    """The side-by-side table of the papers' claims is computed from both studies' results."""
    import pandas as pd

    module = _readme_tables_module()
    summaries = {
        module.study_title(study): pd.read_csv(ROOT / "figures" / study / "results.csv")
        for study in ("ucmerced", "eurosat")
    }
    expected = module.claims_table(summaries)
    assert _tables_in(_readme_section("## The papers' claims at archive scale")) == [expected]
