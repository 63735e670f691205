"""The README's numbers about the pretrained models come from results/pretrained/'s tables.

Each number quoted in the README's Gemma-3-270M paragraph and the DAS reading of SmolLM2 is recomputed here
from the committed tables and looked up in the README's text, so neither can drift from the other.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tsft.analysis.inside import probe_peaks, probe_transfer

ROOT = Path(__file__).resolve().parents[1]
GEMMA = ROOT / "results" / "pretrained" / "gemma-3-270m"
SMOLLM2_DAS = ROOT / "results" / "pretrained" / "smollm2-135m-instruct" / "das"
SMOLLM2_DAS_SEED1 = ROOT / "results" / "pretrained" / "smollm2-135m-instruct" / "das-seed1"


def _readme() -> str:
    return " ".join((ROOT / "README.md").read_text().split())


def test_gemma_zero_and_few_shot_numbers_are_the_tables():
    readme = _readme()
    zero = pd.read_csv(GEMMA / "zero-shot" / "summary.csv").set_index("kind")
    few = pd.read_csv(GEMMA / "few-shot" / "summary.csv").set_index("kind")
    assert zero.loc["original", "n"] == 40 and "on 40 test originals" in readme
    assert (zero.loc["original", ["accuracy", "ci_low", "ci_high"]] == 0).all() and "zero-shot 0% [0, 0]" in readme
    perturbed = zero.drop(index="original")["accuracy"]
    assert f"(0-{100 * perturbed.max():.0f}% on each perturbation kind" in readme and perturbed.min() == 0
    original = few.loc["original"]
    assert f"3-shot {100 * original['accuracy']:.0f}% [{100 * original['ci_low']:.0f}, " \
           f"{100 * original['ci_high']:g}]" in readme


def test_gemma_probe_and_patching_numbers_are_the_tables():
    readme = _readme()
    probes = pd.read_parquet(GEMMA / "probe" / "probes.parquet")
    peak = probe_peaks(probes).iloc[0]
    assert f"most selective at layer {int(peak['peak_layer'])}: {peak['accuracy']:.2f} accuracy, selectivity " \
           f"{peak['selectivity']:.2f} (control task {peak['control_accuracy']:.2f}, majority " \
           f"{peak['majority']:.2f})" in readme
    transfer = probe_transfer(probes, probe_peaks(probes)).set_index("kind")["value"]
    for kind, said in (("entity_rename", "renamed entities"), ("heldout_template", "held-out templates"),
                       ("paraphrase", "paraphrases")):
        assert f"{said} ({transfer[kind]:.2f})" in readme
    original = probes[(probes["kind"] == "original") & (probes["component"] == "resid_post")]
    accuracy = original[original["metric"] == "accuracy"].set_index("layer")["value"]
    selectivity = original[original["metric"] == "selectivity"].set_index("layer")["value"]
    best = int(accuracy.idxmax())
    assert f"peaks at {accuracy.max():.2f} at layer {best}" in readme
    assert f"(selectivity {selectivity[best]:.2f})" in readme
    pairs = pd.read_parquet(GEMMA / "patch" / "pairs.parquet")
    unpatched = pairs[pairs["method"] == "exact"].drop_duplicates("pair_id")
    gap = unpatched["clean"] - unpatched["corrupt"]
    assert f"is {gap.mean():.2f} (sd {gap.std():.2f}) and points the right way in {int((gap > 0).sum())} of " \
           f"{len(gap)} pairs" in readme


def _heldout(folder: Path, split: str = "heldout_pairs"):
    table = pd.read_parquet(folder / "das.parquet")
    return table[(table["split"] == split) & (table["pairing"] == "all")]


@pytest.mark.parametrize(("folder", "said", "position", "component", "layer", "method", "k"), [
    (SMOLLM2_DAS, "", *row) for row in (
        ("last", "resid_post", 10, "das", 1), ("last", "resid_post", 10, "full", 576),
        ("last", "resid_post", 10, "random", 1), ("last", "resid_post", 10, "das_used", 1),
        ("last", "mlp_out", 10, "das", 1), ("last", "resid_post", 29, "das", 1), ("ask", "resid_post", 0, "full", 576),
        ("ask", "attn_out", 0, "das", 1), ("ask", "attn_out", 0, "das_used", 1))] + [
    (SMOLLM2_DAS_SEED1, "seed 1 ", *row) for row in (
        ("last", "resid_post", 10, "das", 1), ("last", "resid_post", 10, "das_used", 1),
        ("last", "mlp_out", 10, "das", 1), ("last", "resid_post", 29, "das", 1), ("ask", "attn_out", 0, "das", 1),
        ("ask", "attn_out", 0, "das_used", 1))])
def test_smollm2_das_numbers_are_the_table(folder, said, position, component, layer, method, k):
    table = _heldout(folder)
    row = table[(table["position"] == position) & (table["component"] == component) & (table["layer"] == layer)
                & (table["method"] == method) & (table["k"] == k)]
    assert len(row) == 1
    assert f"{said}{method} k={k} {component} {layer} at {position}: {row['iia'].iloc[0]:.2f}" in _readme()


def test_smollm2_das_held_out_templates_and_illusion_flags_are_the_tables():
    said = []
    for folder in (SMOLLM2_DAS, SMOLLM2_DAS_SEED1):
        table = _heldout(folder, "heldout_templates")
        row = table[(table["position"] == "last") & (table["component"] == "resid_post") & (table["layer"] == 10)
                    & (table["method"] == "das") & (table["k"] == 1)]
        said.append(f"{row['iia'].iloc[0]:.2f}")
    assert f"on held-out templates it falls to {said[0]} and {said[1]}" in _readme()
    flagged = []
    for folder in (SMOLLM2_DAS, SMOLLM2_DAS_SEED1):
        table = _heldout(folder)
        pivot = table[table["k"] == 1].pivot_table(index=["position", "component", "layer"], columns="method",
                                                    values="iia")
        flagged.append(set(pivot.index[pivot["das"] - pivot["das_used"] > 0.2]))
    assert flagged == [{("ask", "attn_out", 0), ("ask", "mlp_out", 20)}, {("ask", "attn_out", 0)}]
