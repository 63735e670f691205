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


def test_the_decisive_readmes_validation_numbers_are_the_run_cards():
    """Why the step-cap runs were added, in results/real-decisive/README.md, quotes seed 0's validation curves:
    each number is the committed run card's."""
    import json

    text = " ".join((REPO / "results/real-decisive/README.md").read_text().split())
    cards = {name: json.loads((REPO / "results/real-decisive/sft" / name / "run_card.json").read_text())
             for name in ("theorem-mlp-s0", "theorem-full-s0")}
    mlp = {e["step"]: f"{e['heldout_accuracy']:.3f}" for e in cards["theorem-mlp-s0"]["metrics"]["evals"]}
    full = {e["step"]: f"{e['heldout_accuracy']:.3f}" for e in cards["theorem-full-s0"]["metrics"]["evals"]}
    stop, best = max(mlp), cards["theorem-mlp-s0"]["step"]
    after = ", ".join(mlp[step] for step in sorted(mlp) if step > best)
    assert f"theorem-mlp-s0 stopped at step {stop} (best {mlp[best]} at {best}, then {after})" in text
    peak = cards["theorem-full-s0"]["step"]
    assert f"theorem-full-s0 was at {full[stop]} at step {stop} and reached {full[peak]} at {peak}" in text
    assert cards["theorem-mlp-s0"]["stopped"] == "plateau" and peak > stop
