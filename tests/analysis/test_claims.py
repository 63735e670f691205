"""Claim verdicts on constructed results: the toolkit must be able to say no as readily as yes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tsft.analysis.claims import ClaimSettings, claim_c1, claim_c2, claim_c3, claim_c4, claims_table
from tsft.analysis.collect import Results

from tests.analysis.conftest import bernoulli, models_table, predictions_for
from tests.analysis.test_inside import patch_pairs

NO_MATCH = pd.DataFrame()


def world(rates: dict[str, tuple[float, float]], params: str = "full", seeds=(0, 1), n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frames = []
    for seed in seeds:
        for target, (p_orig, p_surface) in rates.items():
            model = f"{target}-{params}-s{seed}"
            perturbed = {"paraphrase": bernoulli(rng, p_surface, n),
                         "entity_rename_novel": bernoulli(rng, p_surface, n)}
            frames.append(predictions_for(model, bernoulli(rng, p_orig, n), perturbed, seed))
    frame = pd.concat(frames, ignore_index=True)
    facts = models_table(sorted(frame["model"].unique()))[["model", "target", "params", "seed"]]
    return frame.merge(facts, on="model")


def test_c1_and_c2_supported_when_theorem_sft_holds_up(world_predictions):
    frame, _ = world_predictions
    frame = frame[frame["target"] != "solution"]
    c1 = claim_c1(frame, NO_MATCH, ClaimSettings())
    assert c1["verdict"] == "supported" and c1["ci_low"] > 0 and c1["n_seeds"] == 2
    assert "not matched" in c1["note"]
    c2 = claim_c2(frame, ClaimSettings())
    assert c2["verdict"] == "supported" and "control not measured" in c2["note"]


def test_c1_and_c2_not_supported_when_answer_sft_is_the_robust_one():
    frame = world({"answer": (0.6, 0.55), "theorem": (0.6, 0.2)})
    assert claim_c1(frame, NO_MATCH, ClaimSettings())["verdict"] == "not supported"
    assert claim_c2(frame, ClaimSettings())["verdict"] == "not supported"


def test_c1_inconclusive_when_both_break_alike():
    frame = world({"answer": (0.6, 0.3), "theorem": (0.6, 0.3)})
    row = claim_c1(frame, NO_MATCH, ClaimSettings())
    assert row["verdict"] == "inconclusive" and row["ci_low"] < 0 < row["ci_high"]


def test_c2_control_solution_sft_explaining_the_gain_makes_it_not_supported(world_predictions):
    frame, _ = world_predictions  # solution-SFT 0.65 beats theorem-SFT 0.55 under perturbation, 2 seeds each:
    row = claim_c2(frame, ClaimSettings())  # with 2 runs an arm the control is not determined: it cannot give the
    assert row["verdict"] == "inconclusive" and row["control_low"] < 0 < row["control_high"]  # gain to theorems
    assert row["ci_low"] > 0 and row["interval"].startswith("t interval over runs")  # though theorem beats answer
    assert row["note"].startswith("inconclusive: theorem-SFT does not beat the solution control")
    frame = world({"answer": (0.6, 0.2), "theorem": (0.6, 0.55), "solution": (0.7, 0.65)}, seeds=range(4))
    row = claim_c2(frame, ClaimSettings())  # 4 runs an arm: determined
    assert row["verdict"] == "not supported" and row["ci_low"] > 0  # theorem beats answer, but...
    assert "showing steps" in row["note"] and row["control_high"] < 0
    worse = world({"answer": (0.6, 0.5), "theorem": (0.6, 0.2), "solution": (0.6, 0.5)})
    row = claim_c2(worse, ClaimSettings())
    assert row["verdict"] == "not supported" and row["note"] == "solution-SFT beats theorem-SFT as well"


def test_c3_equivalence_and_its_guard():
    close = pd.concat([world({"theorem": (0.6, 0.5)}, "full", n=2000), world({"theorem": (0.6, 0.5)}, "mlp", n=2000)])
    assert claim_c3(close, ClaimSettings())["verdict"] == "supported"
    far = pd.concat([world({"theorem": (0.6, 0.5)}, "full"), world({"theorem": (0.2, 0.1)}, "mlp")])
    assert claim_c3(far, ClaimSettings())["verdict"] == "not supported"
    untrained = pd.concat([world({"theorem": (0.0, 0.0)}, "full"), world({"theorem": (0.0, 0.0)}, "mlp")])
    row = claim_c3(untrained, ClaimSettings())
    assert row["verdict"] == "inconclusive" and "has not learned" in row["note"]


def test_c4_reads_the_mlp_share_against_one_half_with_the_base_as_control():
    models = models_table(["theorem-full-s0"])
    mlp_heavy = pd.concat([patch_pairs("theorem-full-s0", {(0, "mlp_out"): 0.6, (0, "attn_out"): 0.2},
                                       n_pairs=30, noise=0.05),
                           patch_pairs("base", {(0, "mlp_out"): 0.2, (0, "attn_out"): 0.6}, n_pairs=30)])
    row = claim_c4(mlp_heavy, models, ClaimSettings())
    assert row["verdict"] == "supported" and row["control_high"] < 0.5 and row["note"] == ""
    attn_heavy = patch_pairs("theorem-full-s0", {(0, "mlp_out"): 0.1, (0, "attn_out"): 0.7}, n_pairs=30, noise=0.05)
    row = claim_c4(attn_heavy, models, ClaimSettings())
    assert row["verdict"] == "not supported" and "base not patched" in row["note"]


def test_missing_results_are_inconclusive_with_the_reason(tmp_path):
    table = claims_table(Results(folder=tmp_path))
    assert list(table["claim"]) == ["C1", "C2", "C3", "C4"]
    assert set(table["verdict"]) == {"inconclusive"}
    assert all(note.startswith("not measured") for note in table["note"])


def test_claims_read_on_checkpoints_that_did_not_learn_are_not_meaningful():
    """As on the quick preset: near 0% on the originals, answer-SFT a little ahead under perturbation. The
    difference can be 'determined' on many problems, but it says nothing about rules: C1 and C2 are inconclusive."""
    frame = world({"answer": (0.08, 0.08), "theorem": (0.05, 0.02)}, n=3000, seeds=range(3))
    for row in (claim_c1(frame, pd.DataFrame(), ClaimSettings()), claim_c2(frame, ClaimSettings())):
        assert row["verdict"] == "inconclusive" and row["note"].startswith("not meaningful: theorem-SFT has not")
        assert "answer-SFT has not learned" in row["note"]
    learned = world({"answer": (0.6, 0.2), "theorem": (0.6, 0.55)}, n=300, seeds=range(3))
    assert claim_c2(learned, ClaimSettings())["verdict"] == "supported"


def test_c4_on_theorem_sft_checkpoints_that_did_not_learn_is_not_meaningful():
    """The same MLP-heavy patching effects: read as C4's answer where theorem-SFT learned the task, not where its
    accuracy on the originals is near 0% (as on the quick preset); without evaluations the share is read alone."""
    models = models_table(["theorem-full-s0"])
    mlp_heavy = patch_pairs("theorem-full-s0", {(0, "mlp_out"): 0.6, (0, "attn_out"): 0.2}, n_pairs=30, noise=0.05)
    learned = world({"theorem": (0.8, 0.7)}, seeds=(0,))
    assert claim_c4(mlp_heavy, models, ClaimSettings(), learned)["verdict"] == "supported"
    unlearned = world({"theorem": (0.05, 0.02)}, seeds=(0,))
    row = claim_c4(mlp_heavy, models, ClaimSettings(), unlearned)
    assert row["verdict"] == "inconclusive" and row["note"].startswith("not meaningful: theorem-SFT has not learned")
    assert row["value"] > 0.5 and row["ci_low"] > 0.5  # the share itself is still reported
    other = world({"theorem": (0.05, 0.02)}, seeds=(1,))  # a run that was not patched is not C4's subject
    assert claim_c4(mlp_heavy, models, ClaimSettings(), other)["verdict"] == "supported"
