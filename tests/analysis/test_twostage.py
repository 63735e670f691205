"""The two-stage random-slopes fit: its interval covers the planted arm x perturbed interaction on >= 90% of
datasets simulated with seed (run intercept and slope), template and question variance, at 3 seeds per arm;
and it reads planted effects in the claims' directions."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tsft.analysis.twostage import claim_effect


def planted(seed: int, interaction: float, arm_effect: float = 0.3, runs: int = 3, questions: int = 120,
            templates: int = 12, sd_run: float = 0.3, sd_slope: float = 0.3):
    """(theorem rows, answer rows, problems): logit = 1 + arm + question + template + run
    + perturbed * (-1 + run slope + interaction for theorem-SFT); one paraphrase per original."""
    rng = np.random.default_rng(seed)
    question, template = rng.normal(0, 1.0, questions), rng.normal(0, 0.5, templates)
    rows = []
    for arm in ("answer", "theorem"):
        for run in range(runs):
            intercept, slope = rng.normal(0, sd_run), rng.normal(0, sd_slope)
            for q in range(questions):
                for kind, perturbed in (("original", 0), ("paraphrase", 1)):
                    logit = (1.0 + arm_effect * (arm == "theorem") + question[q] + template[q % templates] + intercept
                             + perturbed * (-1.0 + slope + interaction * (arm == "theorem")))
                    rows.append({"model": f"{arm}-full-s{run}", "target": arm, "original_id": f"q{q}",
                                 "problem_id": f"q{q}" if kind == "original" else f"q{q}~p", "kind": kind,
                                 "correct": bool(rng.random() < 1 / (1 + np.exp(-logit)))})
    frame = pd.DataFrame(rows)
    problems = pd.DataFrame({"problem_id": [f"q{q}" for q in range(questions)],
                             "template": [f"t{q % templates}" for q in range(questions)]})
    return frame[frame["target"] == "theorem"], frame[frame["target"] == "answer"], problems


def test_the_interaction_interval_covers_the_planted_value_on_at_least_90_percent_of_datasets():
    covered, values = [], []
    for seed in range(120):
        theorem, answer, problems = planted(seed, interaction=0.5)
        row = claim_effect(theorem, answer, problems, ["paraphrase"], interaction=True)
        covered.append(row["ci_low"] <= 0.5 <= row["ci_high"])
        values.append(row["value"])
    assert np.mean(covered) >= 0.90, np.mean(covered)
    assert abs(np.mean(values) - 0.5) < 0.1  # the conditional odds ratio estimates the planted slope difference


def test_planted_effects_are_read_in_the_claims_directions():
    theorem, answer, problems = planted(1, interaction=1.5, arm_effect=1.0, sd_run=0.1, sd_slope=0.1)
    c1 = claim_effect(theorem, answer, problems, ["paraphrase"], interaction=True)
    c2 = claim_effect(theorem, answer, problems, ["paraphrase"], interaction=False)
    assert c1["ci_low"] > 0 and c2["ci_low"] > 0 and c1["n_seeds"] == 3 and c1["n_units"] == 120
    theorem, answer, problems = planted(2, interaction=0.0, arm_effect=0.0)
    none = claim_effect(theorem, answer, problems, ["paraphrase"], interaction=True)
    assert none["ci_low"] < 0 < none["ci_high"]


def test_one_seed_an_arm_gives_no_interval():
    theorem, answer, problems = planted(3, interaction=0.5, runs=1)
    row = claim_effect(theorem, answer, problems, ["paraphrase"], interaction=True)
    assert np.isfinite(row["value"]) and np.isnan(row["ci_low"])
