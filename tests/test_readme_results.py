"""The README's numbers about the real model are written from the committed tables by code: its marked block is
exactly what `figures.summary.readme_block` makes of results/real/tables, and the rest of its results section
quotes no number of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDER = "results/real"


def results_section() -> str:
    text = (REPO / "README.md").read_text()
    return text[text.index("## Results on the real model"):text.index("## From Python")]


@pytest.mark.skipif(not (REPO / FOLDER / "tables").is_dir(), reason=f"{FOLDER}/tables is not in this checkout")
def test_the_readme_block_is_the_tables():
    pytest.importorskip("pandas")
    from tsft.analysis.tables import read_tables
    from tsft.figures.summary import marked_block, readme_block

    text = (REPO / "README.md").read_text()
    where = marked_block(text, FOLDER)
    assert where is not None, f"README.md has no block for {FOLDER}"
    expected = readme_block(read_tables(REPO / FOLDER / "tables"))
    assert text[where[0]:where[1]].strip() == expected.strip(), (
        f"README.md's block differs from {FOLDER}/tables: run `tsft figures {FOLDER} --readme README.md`")


def test_no_number_outside_the_block():
    from tsft.figures.summary import BEGIN, END

    section = results_section()
    start, end = section.index(BEGIN.format(folder=FOLDER)), section.index(END)
    outside = section[:start] + section[end:]
    assert not re.findall(r"(?<![\w.])-?\d+\.\d+", outside), "quote numbers inside the generated block only"
