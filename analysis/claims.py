"""The paper's claims C1-C4, each with a verdict, its effect size, interval, seeds and the control applied.

The verdict rule is analysis.stats.verdict, one for every claim: `supported` only when the 95%
interval lies on the claim's side of its null value, `not supported` when it lies on the other
side (or the control explains the effect), `inconclusive` otherwise; a missing checkpoint or
result is `inconclusive` with the reason. Every comparison of two arms is made on the same test
originals: with at least two runs an arm, a t interval over the runs plus a template-cluster bootstrap over
the problems (analysis.accuracy.arm_difference, analysis.seeds: it holds its 95% with 3 seeds); with fewer, the
two-level paired bootstrap over seeds and originals. The `interval` column says which. C3's equivalence is two
one-sided tests at 2.5% each: the 95% interval inside the margin.

* **C1** answer-SFT learns surface associations that break under superficial changes, where
  theorem-SFT does not. Effect: robustness (surface-perturbed / original accuracy) of theorem-SFT
  minus that of answer-SFT (full tuning), > 0. Control: matched in-distribution accuracy (the
  checkpoints the training curves match), when those evaluations exist; else the final
  checkpoints, said so.
* **C2** theorem-SFT learns rules that survive surface changes: accuracy on surface-perturbed
  problems of theorem-SFT minus answer-SFT, > 0. Controls: solution-SFT (the same arithmetic steps,
  no theorem named) and, where trained, theorem-SFT capped at solution-SFT's target tokens (analysis.budget). Under the
  one rule for controls: a control determined above theorem-SFT means the gain comes from showing steps (or from
  the budget), not from theorems, and the claim is `not supported`; a control that is not determined either way
  makes a `supported` `inconclusive` (it cannot give the gain to the theorems); determined below theorem-SFT,
  the verdict stands.
* **C3** tuning only the MLP layers matches full tuning: accuracy on the originals of theorem-SFT
  with `mlp` minus `full`, inside an equivalence margin (default 5 points). Control:
  attention-only tuning at the same budget (if it matches too, the MLPs are not special; noted). Where MLP-only
  runs were also trained to the step cap (analysis.budget), the same equivalence read on them: a verdict of its
  own that differs from C3's (determined either way) makes C3 `inconclusive`, the stopping rule deciding it.
* **C4** the feed-forward layers carry the rules: the MLP share of the restored logit difference
  when patching theorem-swap pairs in theorem-SFT, > 0.5. Control: the same share in the base
  model before SFT (if it is as high, MLP dominance is not something theorem-SFT put there; noted), and
  random attention + MLP block sets of the MLPs' parameter count and of their number (analysis.controls): the
  MLPs hold most of a layer's parameters, so the share is read against random blocks of their size, and of as
  many blocks as they are, under the one rule for controls (a control changes a verdict only when it is itself
  determined): determined above them, the verdict stands; determined below them, not supported; within their
  range, a "supported" becomes "inconclusive". The share without layer 0 (analysis.shares: MLP 0 reads the
  swapped word in, in every model) under the same rule: determined below 0.5, not supported; undetermined,
  a "supported" becomes "inconclusive".
* **Checkpoints that did not learn** are not read: C1, C2 and C3 are `inconclusive`, "not meaningful", when an
  arm's accuracy on the originals is not determined above `ClaimSettings.learned` (0.2): robustness and
  differences near 0% say nothing about rules, however tight their intervals. C4 likewise, when the patched
  theorem-SFT checkpoints were evaluated and have not learned: where a model keeps rules it does not apply is
  no finding (the share is still reported).
* **Beside the accuracy difference**, C1 and C2 carry the random-slopes logistic model of the same comparison
  (analysis.twostage: question intercepts conditioned out within each run, each run's own intercept and drop
  under perturbation, combined over seeds with a calibrated t interval), in log-odds, and whether the two agree
  in direction (`glmm_agreement`). The verdict stays the accuracy difference's; a disagreement is printed
  beside it. (analysis.mixed's per-kind table adds number magnitude and answer length; it is descriptive.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tsft.analysis import accuracy, mixed, twostage
from tsft.analysis.accuracy import ACCURACY, ROBUSTNESS, SURFACE, arm_difference, final, matched_steps, with_facts
from tsft.analysis.budget import runs_of, with_variants
from tsft.analysis.controls import C4_NULLS, c4_control
from tsft.analysis.inside import mlp_share, patched_runs
from tsft.analysis.problems import cluster_templates
from tsft.analysis.shares import without_layer_zero
from tsft.analysis.stats import NAN, Estimate, verdict

STATEMENTS = {
    "C1": "Answer-SFT breaks under superficial changes where theorem-SFT does not (robustness gap).",
    "C2": "Theorem-SFT learns rules: higher accuracy than answer-SFT on surface-perturbed problems.",
    "C3": "Tuning only the MLP layers matches full tuning.",
    "C4": "Feed-forward layers carry the rules (MLP share of the patching effect > 0.5).",
}


@dataclass(frozen=True)
class ClaimSettings:
    """Which checkpoints play which part, and the equivalence margin of C3."""

    params: str = "full"
    """The parameter selection compared across targets in C1 and C2."""
    margin: float = 0.05
    """C3: |mlp - full| accuracy below this is 'matches'."""
    learned: float = 0.2
    """A claim is read only on checkpoints whose accuracy on the originals is determined above this (its 95%
    interval's lower end): robustness and differences of checkpoints that did not learn the task are noise."""
    base: str | None = None
    """C4's control: the base model's name in the results (None: the model whose run card says kind = base)."""

    def base_name(self, models: pd.DataFrame) -> str:
        if self.base is not None:
            return self.base
        bases = models.loc[models["kind"] == "base", "model"].tolist() if len(models) else []
        return bases[0] if bases else "base"


def _row(claim: str, estimate: Estimate, null: float, result: str, effect: str, control: str,
         control_estimate: Estimate = NAN, scope: str = "", note: str = "", interval: str = "") -> dict:
    return {"claim": claim, "statement": STATEMENTS[claim], "verdict": result, "effect": effect,
            **estimate.as_dict(), "null": null, "control": control, "control_value": control_estimate.value,
            "control_low": control_estimate.low, "control_high": control_estimate.high, "scope": scope, "note": note,
            "interval": interval, **GLMM_NONE}


GLMM_NONE = {"glmm_value": float("nan"), "glmm_low": float("nan"), "glmm_high": float("nan"), "glmm_agreement": ""}


def _with_glmm(row: dict, theorem: pd.DataFrame, answer: pd.DataFrame, problems: pd.DataFrame | None,
               interaction: bool) -> dict:
    """The claim's row with the random-slopes model's reading of the same comparison (analysis.twostage) beside
    it."""
    if problems is None or problems.empty or not row["effect"]:
        return row
    kinds = accuracy.surface_kinds(pd.concat([theorem["kind"], answer["kind"]]))
    fitted = twostage.claim_effect(theorem, answer, cluster_templates(problems), kinds, interaction)
    if fitted is None:
        return row | {"glmm_agreement": "mixed model not fitted"}
    side = Estimate(row["value"], row["ci_low"], row["ci_high"], 0, 0).excludes(0.0)
    return row | {"glmm_value": float(fitted["value"]), "glmm_low": float(fitted["ci_low"]),
                  "glmm_high": float(fitted["ci_high"]),
                  "glmm_agreement": mixed.agreement(side, fitted["ci_low"], fitted["ci_high"])}


def _runs(frame: pd.DataFrame, target: str, params: str) -> pd.DataFrame:
    return frame[(frame["target"] == target) & (frame["params"] == params)]


def _not_learned(arms: dict[str, pd.DataFrame], level: float) -> str:
    """Why the claim is not meaningful ('' when every arm has learned: accuracy on the originals determined above
    `level`)."""
    said = []
    for name, frame in arms.items():
        learned = accuracy.estimate(frame, "original", ACCURACY)
        if not learned.low > level:
            said.append(f"{name} has not learned the task (accuracy on the originals {learned.value:.2f} "
                        f"[{learned.low:.2f}, {learned.high:.2f}], not above {level:.2f})")
    return "; ".join(said)


def _missing(claim: str, what: str, control: str) -> dict:
    return _row(claim, NAN, float("nan"), "inconclusive", "", control, note=f"not measured: {what}")


def claim_c1(predictions: pd.DataFrame, matched: pd.DataFrame, settings: ClaimSettings,
             problems: pd.DataFrame | None = None) -> dict:
    control = "matched in-distribution accuracy (training curves)"
    picks, scope = final(predictions), "final checkpoints"
    note = "not matched: no training curves to match on"
    if not matched.empty:
        wanted = matched[matched["target"].isin(["answer", "theorem"])][["model", "step"]].drop_duplicates()
        chosen = predictions.merge(wanted, on=["model", "step"], how="inner")
        found = len(chosen[["model", "step"]].drop_duplicates())
        if found == len(wanted):
            picks, note = chosen, ""
            scope = f"checkpoints matched at held-out accuracy {matched['matched_to'].mean():.2f}"
        else:
            note = f"not matched: {found} of {len(wanted)} matched checkpoints were evaluated"
    theorem, answer = _runs(picks, "theorem", settings.params), _runs(picks, "answer", settings.params)
    if theorem.empty or answer.empty:
        return _missing("C1", f"theorem-{settings.params} and answer-{settings.params} evaluations", control)
    estimate, interval = arm_difference(theorem, answer, SURFACE, ROBUSTNESS, cluster_templates(problems))
    effect = "robustness(theorem) - robustness(answer)"
    unlearned = _not_learned({"theorem-SFT": theorem, "answer-SFT": answer}, settings.learned)
    if unlearned:
        return _row("C1", estimate, 0.0, "inconclusive", effect, control, scope=scope,
                    note=f"not meaningful: {unlearned}", interval=interval)
    row = _row("C1", estimate, 0.0, verdict(estimate, 0.0), effect, control, scope=scope, note=note,
               interval=interval)
    return _with_glmm(row, theorem, answer, problems, interaction=True)


def claim_c2(predictions: pd.DataFrame, settings: ClaimSettings, problems: pd.DataFrame | None = None,
             controls: pd.DataFrame | None = None) -> dict:
    """C2 on the final checkpoints; `controls` (analysis.budget.with_variants) adds the token-matched control."""
    control = "solution-SFT (steps, no theorem named)"
    frame = final(predictions)
    theorem, answer = _runs(frame, "theorem", settings.params), _runs(frame, "answer", settings.params)
    solution = _runs(frame, "solution", settings.params)
    if theorem.empty or answer.empty:
        return _missing("C2", f"theorem-{settings.params} and answer-{settings.params} evaluations", control)
    templates = cluster_templates(problems)
    estimate, interval = arm_difference(theorem, answer, SURFACE, ACCURACY, templates)
    unlearned = _not_learned({"theorem-SFT": theorem, "answer-SFT": answer}, settings.learned)
    if unlearned:
        return _row("C2", estimate, 0.0, "inconclusive", "accuracy(theorem) - accuracy(answer), surface-perturbed",
                    control, scope="final checkpoints", note=f"not meaningful: {unlearned}", interval=interval)
    result, note = verdict(estimate, 0.0), ""
    versus = NAN
    if solution.empty:
        note = "control not measured (no solution-SFT run)"
    else:
        versus, _ = arm_difference(theorem, solution, SURFACE, ACCURACY, templates)
        if versus.excludes(0.0) < 0 and result == "not supported":
            note = "solution-SFT beats theorem-SFT as well"
        elif versus.excludes(0.0) < 0:
            result = "not supported"
            note = "solution-SFT beats theorem-SFT: showing steps, not naming theorems, explains the gain"
        elif versus.excludes(0.0) == 0:
            note = "theorem-SFT does not beat the solution control (interval contains 0)"
            if result == "supported":  # the control is undetermined: the gain cannot be given to the theorems
                result, note = "inconclusive", f"inconclusive: {note}, so showing steps may explain the gain"
    tokens = runs_of(controls, "theorem", settings.params, "tokens") if controls is not None else pd.DataFrame()
    if len(tokens) and len(solution):
        result, said = _token_matched_reading(result, arm_difference(tokens, solution, SURFACE, ACCURACY,
                                                                     templates)[0])
        note = "; ".join(filter(None, [note, said]))
    row = _row("C2", estimate, 0.0, result, "accuracy(theorem) - accuracy(answer), surface-perturbed", control,
               versus, scope="final checkpoints; control value = theorem - solution", note=note, interval=interval)
    return _with_glmm(row, theorem, answer, problems, interaction=False)


def _token_matched_reading(result: str, versus: Estimate) -> tuple[str, str]:
    """C2 after the token-matched control (theorem-SFT capped at solution-SFT's target tokens, minus solution-SFT),
    under the one rule: solution-SFT determined above it, the budget explains the gain (not supported);
    undetermined, a 'supported' becomes 'inconclusive' (the control cannot tell the theorems from the budget)."""
    said = f"theorem - solution at equal target tokens {versus.value:.2f} [{versus.low:.2f}, {versus.high:.2f}]"
    side = versus.excludes(0.0)
    if side < 0:
        return "not supported", f"{said}: on solution-SFT's target tokens, theorem-SFT does worse than it"
    if side == 0:
        said = f"{said}: at equal target tokens theorem-SFT does not beat solution-SFT"
        return ("inconclusive", f"inconclusive: {said}") if result == "supported" else (result, said)
    return result, said


def claim_c3(predictions: pd.DataFrame, settings: ClaimSettings, problems: pd.DataFrame | None = None,
             controls: pd.DataFrame | None = None) -> dict:
    """C3 on the final checkpoints; `controls` (analysis.budget.with_variants) adds the MLP-only runs to the cap."""
    control = "attention-only tuning at the same budget"
    effect = f"accuracy(mlp) - accuracy(full), originals; margin +-{settings.margin:.2f}"
    frame = final(predictions)
    full, mlp, attn = (_runs(frame, "theorem", p) for p in ("full", "mlp", "attn"))
    if full.empty or mlp.empty:
        return _missing("C3", "theorem-full and theorem-mlp evaluations", control)
    templates = cluster_templates(problems)
    estimate, interval = arm_difference(mlp, full, "original", ACCURACY, templates)
    unlearned = _not_learned({"full tuning": full}, settings.learned)
    if unlearned:
        return _row("C3", estimate, 0.0, "inconclusive", effect, control, scope="final checkpoints",
                    note=f"not meaningful: {unlearned}: matching it says nothing", interval=interval)
    result = verdict(estimate, 0.0, margin=settings.margin)
    versus, note = NAN, ""
    if attn.empty:
        note = "control not measured (no attention-only run)"
    else:
        versus, _ = arm_difference(attn, full, "original", ACCURACY, templates)
        if verdict(versus, 0.0, margin=settings.margin) == "supported":
            note = "attention-only matches full tuning too: the MLPs are not special here"
    long = runs_of(controls, "theorem", "mlp", "long") if controls is not None else pd.DataFrame()
    if len(long):
        result, said = _stopping_reading(result, arm_difference(long, full, "original", ACCURACY, templates)[0],
                                         settings.margin)
        note = "; ".join(filter(None, [note, said]))
    return _row("C3", estimate, 0.0, result, effect, control, versus,
                scope="final checkpoints; control value = attn - full", note=note, interval=interval)


def _stopping_reading(result: str, versus: Estimate, margin: float) -> tuple[str, str]:
    """C3 after MLP-only tuning trained to the step cap (minus full tuning): the same equivalence read on it. Its
    own verdict determined and other than C3's, the stopping rule decides C3, which becomes inconclusive;
    undetermined, C3 stands (the one rule for controls)."""
    own = verdict(versus, 0.0, margin=margin)
    said = f"mlp trained to the step cap - full {versus.value:.2f} [{versus.low:.2f}, {versus.high:.2f}] ({own})"
    if "inconclusive" not in (own, result) and own != result:
        return "inconclusive", f"inconclusive: {said}: where the plateau rule stopped MLP-only tuning decides C3"
    return result, said


def c4_runs(patch_pairs: pd.DataFrame, models: pd.DataFrame, settings: ClaimSettings) -> list[str]:
    """The theorem-SFT checkpoints (of the claims' parameter selection) that were patched: C4's subject."""
    return patched_runs(patch_pairs, models, "theorem", settings.params)


def claim_c4(patch_pairs: pd.DataFrame, models: pd.DataFrame, settings: ClaimSettings,
             predictions: pd.DataFrame | None = None) -> dict:
    """C4 on the patched theorem-SFT runs; with `predictions` (joined with the models' facts), read only where
    those runs have learned the task."""
    control = "the base model before SFT"
    present = set(patch_pairs["model"]) if not patch_pairs.empty else set()
    runs = c4_runs(patch_pairs, models, settings)
    if not runs:
        return _missing("C4", f"theorem-swap patching of theorem-{settings.params}", control)
    estimate = mlp_share(patch_pairs, runs)
    base_name = settings.base_name(models)
    base = mlp_share(patch_pairs, [base_name]) if base_name in present else NAN
    effect, scope = "MLP share of restored logit difference (theorem-swap pairs)", f"theorem-{settings.params}"
    evaluated = final(predictions) if predictions is not None and len(predictions) else pd.DataFrame({"model": []})
    subject = evaluated[evaluated["model"].isin(runs)]
    unlearned = _not_learned({"theorem-SFT": subject}, settings.learned) if len(subject) else ""
    if unlearned:
        return _row("C4", estimate, 0.5, "inconclusive", effect, control, base, scope=scope,
                    note=f"not meaningful: {unlearned}: where it keeps rules it does not apply says nothing")
    note = "" if base_name in present else "control not measured (base not patched)"
    if base.excludes(0.5) > 0:
        note = "the base's MLP share is above 0.5 too: not specific to theorem-SFT"
    result = verdict(estimate, 0.5)
    for match in C4_NULLS:
        random = c4_control(patch_pairs, runs, match=match)
        if np.isfinite(random["null_mean"]):
            result, said = _random_block_reading(result, random, match)
            note = "; ".join(filter(None, [note, said]))
    result, said = _layer_zero_reading(result, mlp_share(without_layer_zero(patch_pairs), runs), estimate)
    return _row("C4", estimate, 0.5, result, effect, control, base, scope=scope,
                note="; ".join(filter(None, [note, said])))


def _random_block_reading(result: str, random: dict, match: str = "parameters") -> tuple[str, str]:
    """C4's verdict after one random-location control, under the one rule for controls: the control changes the
    verdict only when it is itself determined. Share determined above random blocks of the MLPs' size or number
    (p < 0.05): the verdict stands. Determined below them (p_below < 0.05): not supported. Neither: a 'supported'
    becomes 'inconclusive' (the control cannot separate the MLPs' role from their size or number)."""
    what = "size" if match == "parameters" else "number"
    said = (f"random attention + MLP block sets of the MLPs' {what} carry {random['null_mean']:.2f} "
            f"[{random['null_low']:.2f}, {random['null_high']:.2f}] (p = {random['p_value']:.3f})")
    if random["p_value"] < 0.05:
        return result, f"above {said}"
    if random.get("p_below", np.nan) < 0.05:
        return "not supported", f"below {said}: the MLPs carry less than blocks of their {what}"
    if result == "supported":
        return "inconclusive", (f"inconclusive: {said}; the share is within their range, so the control cannot "
                                f"tell the MLPs' role from their {what}")
    return result, f"not above {said}"


def _layer_zero_reading(result: str, without: Estimate, whole: Estimate) -> tuple[str, str]:
    """The share without layer 0 under the same rule: determined below 0.5, C4 is not supported (the MLPs carry the
    rule no further than reading the swapped word in); undetermined, a 'supported' becomes 'inconclusive'."""
    if not np.isfinite(without.low):
        return result, ""
    said = f"without layer 0 the share is {without.value:.2f} [{without.low:.2f}, {without.high:.2f}]"
    side = without.excludes(0.5)
    if side < 0:
        why = "above 0.5 only through layer 0" if whole.value > 0.5 else "below 0.5 without layer 0 too"
        return "not supported", f"{said}: {why}"
    if side == 0 and result == "supported":
        return "inconclusive", f"{said}: undetermined beyond layer 0"
    return result, said


def claims_table(results, settings: ClaimSettings | None = None) -> pd.DataFrame:
    """C1-C4 verdicts from collected results (analysis.collect.Results)."""
    settings = settings or ClaimSettings()
    predictions = with_facts(results.predictions, results.models)
    matched = matched_steps(results.curves, results.models, settings.params, results.predictions)
    return claims_from(predictions, matched, results.patch_pairs, results.models, settings, results.problems,
                       with_variants(results.predictions, results.models))


def claims_from(predictions: pd.DataFrame, matched: pd.DataFrame, patch_pairs: pd.DataFrame, models: pd.DataFrame,
                settings: ClaimSettings, problems: pd.DataFrame | None = None,
                controls: pd.DataFrame | None = None) -> pd.DataFrame:
    """C1-C4 from predictions already joined with the models' facts and the matched steps; with the problems'
    facts (analysis.problems), C1 and C2 also carry the mixed model's reading (`glmm_*` columns); with the
    control runs' predictions (analysis.budget.with_variants), C2 reads the token-matched control and C3 the
    MLP-only runs to the step cap."""
    return pd.DataFrame([claim_c1(predictions, matched, settings, problems),
                         claim_c2(predictions, settings, problems, controls),
                         claim_c3(predictions, settings, problems, controls),
                         claim_c4(patch_pairs, models, settings, predictions)])
