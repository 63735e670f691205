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


def test_the_decisive_runs_stated_reading_is_the_codes():
    """results/real-decisive/README.md states, before the evaluation, how the run will be read: each setting it
    names is the one the code and the preset hold."""
    from tsft.analysis.accuracy import surface_kinds
    from tsft.analysis.claims import ClaimSettings
    from tsft.tasks.world.perturb import KINDS

    from tsft.presets import preset

    text = " ".join((REPO / "results/real-decisive/README.md").read_text().split())
    stated = text[text.index("## How it will be read"):]
    real, settings = preset("real"), ClaimSettings()
    expected = [f"patience {real.patience} evaluations", f"all {real.n_test} test originals",
                f"determined above {settings.learned}", f"margin of {settings.margin} either way",
                f"in fp32 on {real.patch_limit} pairs of each of {real.patch_seeds} seeds",
                f"the first {real.curve_size} test originals with every perturbation, every {real.curve_every} steps"]
    for phrase in expected:
        assert phrase in stated, phrase
    assert real.patch_precision == "fp32"
    cap = f"theorem-mlp is also trained on each of its {len(real.seeds_of('theorem-mlp'))} seeds to the " \
          f"{real.sft_steps}-step cap"
    assert real.long_arms == ("theorem-mlp",) and cap in stated
    pool = surface_kinds(set(KINDS) - {"cue_conflict"})
    assert ", ".join(pool[:-1]) + " and " + pool[-1] in stated  # the surface pool, as analysis.accuracy builds it
