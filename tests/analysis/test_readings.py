"""Peak steps per run and C1 / C2 read at final, matched and OOD-peak checkpoints, on planted curves."""

import numpy as np
import pandas as pd
from tsft.analysis.claims import ClaimSettings
from tsft.analysis.readings import claim_readings, peak_table, reading_predictions

from tests.analysis.conftest import bernoulli, models_table, predictions_for

N = 300


def _curve(rng, model: str, points: dict[int, tuple[float, float]], last: int) -> pd.DataFrame:
    """One run evaluated at several steps: {step: (accuracy on originals, on paraphrases)}."""
    return pd.concat([predictions_for(model, bernoulli(rng, orig, N), {"paraphrase": bernoulli(rng, surf, N)},
                                      step=step, final=step == last) for step, (orig, surf) in points.items()])


def _runs() -> pd.DataFrame:
    """theorem-SFT peaks out of distribution at step 50 (surface 0.7) and drifts to 0.3 by step 150 while its
    originals climb; answer-SFT stays at 0.3 on paraphrases throughout."""
    rng = np.random.default_rng(0)
    frame = pd.concat([_curve(rng, "theorem-full-s0", {50: (0.6, 0.7), 100: (0.7, 0.5), 150: (0.9, 0.3)}, 150),
                       _curve(rng, "answer-full-s0", {50: (0.5, 0.3), 100: (0.7, 0.3), 150: (0.9, 0.3)}, 150)])
    models = models_table(["theorem-full-s0", "answer-full-s0"])
    return frame.merge(models[["model", "target", "params", "seed"]], on="model")


def test_peak_steps_are_found_per_run():
    peaks = peak_table(_runs()).set_index("model")
    assert peaks.loc["theorem-full-s0", ["final_step", "id_peak_step", "ood_peak_step"]].tolist() == [150, 150, 50]
    assert peaks.loc["theorem-full-s0", "steps"] == "50,100,150"
    assert abs(peaks.loc["theorem-full-s0", "ood_peak_surface"] - 0.7) < 0.07


def test_peaks_compare_steps_on_the_originals_they_share():
    """The curve scores the first 40 originals, the final evaluation all 300; on the first 40 the step-50 model is
    better on paraphrases, on the other 260 the final one is: read on all its problems the final step would look
    like the peak, read on the shared 40 it is not."""
    rest = np.arange(N) >= 40
    early = predictions_for("theorem-full-s0", np.ones(40), {"paraphrase": np.ones(40)}, step=50, final=False)
    late = predictions_for("theorem-full-s0", np.ones(N), {"paraphrase": rest.astype(float)}, step=100)
    frame = pd.concat([early, late]).merge(models_table(["theorem-full-s0"])[["model", "target", "params", "seed"]],
                                           on="model")
    assert late["correct"][late["kind"] == "paraphrase"].mean() > 0.8  # on all its problems the final step leads
    peak = peak_table(frame).set_index("model").loc["theorem-full-s0"]
    assert peak["ood_peak_step"] == 50 and peak["final_surface"] == 0.0 and peak["ood_peak_surface"] == 1.0


def test_claims_change_with_the_reading_and_each_reading_scores_its_own_checkpoints():
    predictions = _runs()
    peaks = peak_table(predictions)
    matched = pd.DataFrame([{"model": "theorem-full-s0", "target": "theorem", "seed": 0, "step": 100,
                             "heldout_accuracy": 0.7, "matched_to": 0.7},
                            {"model": "answer-full-s0", "target": "answer", "seed": 0, "step": 100,
                             "heldout_accuracy": 0.7, "matched_to": 0.7}])
    picked = reading_predictions(predictions, matched, peaks, "ood_peak")
    chosen = picked.groupby("model")["step"].unique()
    assert list(chosen["theorem-full-s0"]) == [50]
    assert list(chosen["answer-full-s0"]) == [peaks.set_index("model").loc["answer-full-s0", "ood_peak_step"]]
    table = claim_readings(predictions, matched, peaks, ClaimSettings()).set_index(["claim", "reading"])
    assert table.loc[("C2", "final"), "verdict"] == "inconclusive"       # 0.3 vs 0.3 at the end
    assert table.loc[("C2", "ood_peak"), "verdict"] == "supported"       # 0.7 vs 0.3 at the peak
    assert table.loc[("C2", "matched"), "ci_low"] > 0                    # 0.5 vs 0.3 at step 100
    assert "optimistic" in table.loc[("C2", "ood_peak"), "scope"]
