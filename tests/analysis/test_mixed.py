"""The mixed model recovers planted effects and refuses a planted magnitude confound as a checkpoint effect."""

import numpy as np
import pandas as pd
import pytest
from tsft.analysis import mixed

pytest.importorskip("statsmodels")


def _simulate(seed: int, arm_effect: float, kind_effect: float, interaction: float, magnitude_effect: float,
              magnitude_shift: dict, questions: int = 150) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two arms (answer, theorem) x original/paraphrase over `questions` originals in 10 templates; question and
    template intercepts; log-odds = 0.3 + planted effects; `magnitude_shift[(arm, kind)]` moves the numbers."""
    rng = np.random.default_rng(seed)
    question = rng.normal(0, 1.0, questions)
    template = rng.normal(0, 0.5, 10)
    predictions, problems = [], []
    for q in range(questions):
        for kind in ("original", "paraphrase"):
            for target in ("answer", "theorem"):
                pid = f"q{q}~{kind}~{target}"
                size = rng.normal(1.5, 0.3) + magnitude_shift.get((target, kind), 0.0)
                logit = (0.3 + question[q] + template[q % 10] + arm_effect * (target == "theorem")
                         + kind_effect * (kind == "paraphrase")
                         + interaction * (target == "theorem") * (kind == "paraphrase")
                         + magnitude_effect * (size - 1.5) / 0.3)
                predictions.append({"model": f"{target}-full-s0", "problem_id": pid, "original_id": f"q{q}",
                                    "kind": kind, "target": target, "params": "full", "final": True,
                                    "correct": bool(rng.random() < 1 / (1 + np.exp(-logit)))})
                problems.append({"problem_id": pid, "template": f"t{q % 10}", "magnitude": size,
                                 "answer_length": 2})
    return pd.DataFrame(predictions), pd.DataFrame(problems)


def _term(table: pd.DataFrame, name: str) -> pd.Series:
    return table.set_index("term").loc[name]


def test_planted_effects_are_recovered_inside_their_intervals():
    predictions, problems = _simulate(0, arm_effect=1.0, kind_effect=-1.0, interaction=0.8, magnitude_effect=0.0,
                                      magnitude_shift={})
    table = mixed.kind_model(predictions, problems)
    for name, planted in (("arm[theorem]", 1.0), ("kind[paraphrase]", -1.0), ("arm[theorem]:kind[paraphrase]", 0.8)):
        row = _term(table, name)
        assert row["ci_low"] < planted < row["ci_high"], (name, row.to_dict())
        assert np.sign(row["ci_low"]) == np.sign(row["ci_high"]) == np.sign(planted), name


def test_no_effect_planted_gives_intervals_containing_zero():
    predictions, problems = _simulate(1, 0.0, 0.0, 0.0, 0.0, {})
    table = mixed.kind_model(predictions, problems)
    for name in ("arm[theorem]", "kind[paraphrase]", "arm[theorem]:kind[paraphrase]"):
        row = _term(table, name)
        assert row["ci_low"] < 0 < row["ci_high"], (name, row.to_dict())


def test_magnitude_confound_is_not_called_a_checkpoint_effect():
    """Theorem-SFT's perturbed problems carry larger numbers and only the numbers matter: the raw accuracy gap
    is large, the model puts it on magnitude and leaves the checkpoint terms at zero."""
    shift = {("theorem", "paraphrase"): 0.6}
    predictions, problems = _simulate(2, 0.0, 0.0, 0.0, magnitude_effect=-1.2, magnitude_shift=shift)
    perturbed = predictions[predictions["kind"] == "paraphrase"]
    raw_gap = perturbed.groupby("target")["correct"].mean()
    assert raw_gap["theorem"] - raw_gap["answer"] < -0.2  # what a difference of means would call an effect
    table = mixed.kind_model(predictions, problems)
    assert _term(table, "magnitude")["ci_high"] < 0
    for name in ("arm[theorem]", "arm[theorem]:kind[paraphrase]"):
        row = _term(table, name)
        assert row["ci_low"] < 0 < row["ci_high"], (name, row.to_dict())


@pytest.mark.parametrize(("side", "low", "high", "expected"), [
    (1, 0.1, 0.5, "agree"), (1, -0.5, -0.1, "disagree"), (0, 0.1, 0.5, "only the mixed model is determined"),
    (-1, -0.2, 0.3, "only the bootstrap is determined"), (0, -0.1, 0.1, "neither is determined"),
    (1, float("nan"), float("nan"), "mixed model not fitted")])
def test_agreement_reads_both_intervals(side, low, high, expected):
    assert mixed.agreement(side, low, high) == expected


def test_claims_carry_the_random_slopes_model_beside_the_bootstrap(world_predictions):
    """C2 on the fixture world (answer-SFT 20%, theorem-SFT 55% under surface kinds): both intervals above 0."""
    from tsft.analysis.claims import ClaimSettings, claims_from

    predictions, models = world_predictions
    problems = pd.DataFrame({"problem_id": predictions["problem_id"].unique()})
    rng = np.random.default_rng(0)
    problems = problems.assign(template=[f"t{i % 7}" for i in range(len(problems))],
                               magnitude=rng.normal(size=len(problems)), answer_length=2)
    empty = pd.DataFrame(columns=["model", "target", "seed", "step", "heldout_accuracy", "matched_to"])
    claims = claims_from(predictions, empty, pd.DataFrame(), models, ClaimSettings(), problems).set_index("claim")
    assert claims.loc["C2", "glmm_low"] > 0 and claims.loc["C2", "glmm_agreement"] == "agree"
    assert claims.loc["C1", "glmm_agreement"] == "agree"                # theorem-SFT loses less under perturbation
    assert claims.loc["C3", "glmm_agreement"] == ""                     # not a comparison the model reads
