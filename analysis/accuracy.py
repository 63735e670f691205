"""Behaviour under perturbation (E1), parameter selections (E2), matched accuracy, template instances (F8).

Inputs are graded predictions (one row per model x problem, from `tsft eval`) joined with the
models table. Every accuracy carries a two-level bootstrap interval (analysis.stats: seeds, then
test originals with all their perturbed versions).

* **Accuracy** per (target, params, kind): mean over seeds, interval, spread over seeds.
* **Robustness** = accuracy on a perturbation kind / accuracy on the originals *that have that
  kind* (reorder_givens, say, does not apply to every problem); `surface` pools every
  answer-invariant shift: all kinds but out_of_range and the diagram world's given_swap (whose new numbers
  change the answer) and the renames that draw from the very pools training draws from (`entity_rename`,
  `letter_rename`: fresh samples of the training distribution, kept per kind as in-distribution controls; the
  `_novel` renames are the shifts). 1 = no loss.
* **Matched accuracy.** Differences in robustness only mean something between checkpoints that
  are equally good in distribution. `matched_steps` reads the training curves (greedy accuracy on
  held-out originals at each evaluation step) and picks, per seed, the first step at which every
  compared run reaches the lowest of their best accuracies; robustness is then measured on those
  checkpoints (the reproduce pipeline evaluates them).
* **E2**: each parameter selection against full tuning of the same target, paired by seed and
  problem.
* **F8** (GSM-Symbolic style): accuracy per template, over that template's instances, so the
  spread across templates shows how much accuracy depends on the wording.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tsft.analysis.seeds import seed_interval
from tsft.analysis.stats import Estimate, accuracy_stat, cluster_bootstrap, difference, robustness_stat
from tsft.tasks.world.perturb import IN_DISTRIBUTION

SURFACE = "surface"
"""The pooled kind: every answer-invariant shift (`surface_kinds`)."""
CHANGES_ANSWER = frozenset({"out_of_range", "given_swap"})
"""Kinds whose new numbers change the reference answer (text world and diagram world)."""
UNIT_COLUMNS = ["original_correct", "original_n", "correct", "n"]
"""Per test original (one bootstrap unit): correct answers and count on the original, then on its versions of
the kind measured (the original itself when the kind is `original`)."""


@dataclass(frozen=True)
class UnitStatistic:
    """A statistic of summed unit columns, named: the columns it reads (in order) and the function of them."""

    columns: tuple[str, ...]
    function: Callable[[np.ndarray], np.ndarray]


ACCURACY = UnitStatistic(("correct", "n"), accuracy_stat)
ROBUSTNESS = UnitStatistic(("original_correct", "original_n", "correct", "n"), robustness_stat)
FACTS = ["target", "params", "seed"]
PREDICTION_COLUMNS = ["model", "kind", "original_id", "correct", "step", "final"]


def arm_runs(models: pd.DataFrame) -> pd.DataFrame:
    """The models table's fine-tuned runs that are seeds of their arm: no learning-rate trial, memorization run or
    token-matched control (their `variant`), which are compared on their own."""
    tuned = models[models["target"].notna()]
    return tuned[tuned["variant"].isna()] if "variant" in tuned else tuned


def with_facts(predictions: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Predictions joined with each model's target, params and seed (the arms' runs only: arm_runs); no predictions
    give an empty frame with those columns."""
    if predictions.empty:
        return pd.DataFrame(columns=[*PREDICTION_COLUMNS, *FACTS])
    facts = arm_runs(models)[["model", *FACTS]].drop_duplicates("model")
    frame = predictions.merge(facts, on="model", how="inner")
    return frame[frame["target"].notna()]


def final(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["final"].astype(bool)] if "final" in frame else frame


def surface_kinds(kinds) -> list[str]:
    """The kinds pooled as `surface`: neither the originals, nor a kind that changes the answer, nor an
    in-distribution control (tasks.world.perturb.IN_DISTRIBUTION: renames drawn from training's own pools)."""
    return sorted(k for k in set(kinds) if k != "original" and k not in CHANGES_ANSWER | IN_DISTRIBUTION)


def _select(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    if kind == SURFACE:
        return frame[frame["kind"].isin(surface_kinds(frame["kind"]))]
    return frame[frame["kind"] == kind]


def _sums(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    return frame.groupby("original_id")["correct"].agg(["sum", "count"]).set_axis(names, axis=1)


def unit_sums(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """UNIT_COLUMNS per test original: on the original, then on its `kind` versions (only originals that have
    one; for `original`, the original again)."""
    originals = _sums(frame[frame["kind"] == "original"], UNIT_COLUMNS[:2])
    measured = originals if kind == "original" else _sums(_select(frame, kind), UNIT_COLUMNS[2:])
    return originals.join(measured.set_axis(UNIT_COLUMNS[2:], axis=1), how="inner").astype(float)


def _by_seed(frame: pd.DataFrame) -> list[pd.DataFrame]:
    return [group for _, group in sorted(frame.groupby("seed"), key=lambda item: item[0])]


def estimate(frame: pd.DataFrame, kind: str, stat: UnitStatistic) -> Estimate:
    """`stat` (ACCURACY or ROBUSTNESS) over seeds and originals."""
    columns = list(stat.columns)
    return cluster_bootstrap([unit_sums(group, kind)[columns].to_numpy() for group in _by_seed(frame)],
                             stat.function)


def paired_estimate(a: pd.DataFrame, b: pd.DataFrame, kind: str, stat: UnitStatistic) -> Estimate:
    """stat(A) - stat(B), seed i of A paired with seed i of B, on the originals both have."""
    columns, arrays = list(stat.columns), []
    for group_a, group_b in zip(_by_seed(a), _by_seed(b), strict=False):
        sums_a, sums_b = unit_sums(group_a, kind), unit_sums(group_b, kind)
        shared = sums_a.index.intersection(sums_b.index)
        arrays.append(np.hstack([sums_a.loc[shared, columns].to_numpy(), sums_b.loc[shared, columns].to_numpy()]))
    return cluster_bootstrap(arrays, difference(stat.function, len(columns)))


def template_clusters(originals, templates: pd.DataFrame | None) -> np.ndarray:
    """Each test original's template (problem_id -> template rows; its own id where they have none): the clusters
    of an interval's problem part."""
    clusters = pd.Series(list(originals), index=list(originals))
    if templates is not None and len(templates):
        known = templates.drop_duplicates("problem_id").set_index("problem_id")["template"]
        clusters = known.reindex(clusters.index).fillna(clusters)
    return clusters.to_numpy()


def arm_difference(a: pd.DataFrame, b: pd.DataFrame, kind: str, stat: UnitStatistic,
                   templates: pd.DataFrame | None = None) -> tuple[Estimate, str]:
    """stat(A) - stat(B) between two arms, and how its interval was made.

    With at least two runs in each arm: each run is one draw of its arm, on the test originals every run of both
    arms has, and the interval adds the runs' spread (a t interval, Welch df) to the problems' (a bootstrap over
    templates, the clusters whose errors move together): analysis.seeds, which holds its 95% with 3 seeds. With
    fewer, the two-level paired bootstrap (seed i of A with seed i of B, then originals), which cannot see how far
    another seed could fall: said in the method."""
    runs_a, runs_b = _by_seed(a), _by_seed(b)
    if min(len(runs_a), len(runs_b)) < 2:
        return paired_estimate(a, b, kind, stat), "paired bootstrap over seeds and originals (fewer than 2 runs)"
    columns = list(stat.columns)
    sums = [unit_sums(group, kind) for group in runs_a + runs_b]
    shared = sums[0].index
    for frame in sums[1:]:
        shared = shared.intersection(frame.index)
    units = [frame.loc[shared, columns].to_numpy() for frame in sums]
    estimate = seed_interval(units[:len(runs_a)], units[len(runs_a):], template_clusters(shared, templates),
                             stat.function)
    return estimate, (f"t interval over runs ({len(runs_a)} vs {len(runs_b)}) + template-cluster bootstrap over "
                      f"{len(shared)} originals")


def _seed_sd(frame: pd.DataFrame, kind: str) -> float:
    accs = [_select(group, kind)["correct"].mean() for group in _by_seed(frame)]
    return float(np.std(accs, ddof=1)) if len(accs) > 1 else float("nan")


def accuracy_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """E1: per (target, params, kind) accuracy and robustness with intervals, seeds and spread over seeds."""
    rows = []
    frame = final(predictions)
    for (target, params), group in frame.groupby(["target", "params"], sort=True):
        kinds = ["original", *sorted(set(group["kind"]) - {"original"}), SURFACE]
        for kind in kinds:
            if kind == SURFACE and not surface_kinds(group["kind"]):
                continue
            acc = estimate(group, kind, ACCURACY)
            row = {"target": target, "params": params, "kind": kind, "n": len(_select(group, kind)),
                   "accuracy": acc.value, "ci_low": acc.low, "ci_high": acc.high, "n_seeds": acc.n_seeds,
                   "seed_sd": _seed_sd(group, kind)}
            if kind != "original":
                rob = estimate(group, kind, ROBUSTNESS)
                row |= {"robustness": rob.value, "robustness_low": rob.low, "robustness_high": rob.high}
            rows.append(row)
    return pd.DataFrame(rows)


def selection_table(predictions: pd.DataFrame, reference: str = "full") -> pd.DataFrame:
    """E2: accuracy of each parameter selection on originals and pooled surface perturbations, and its
    difference from `reference` tuning of the same target (paired by seed and problem)."""
    rows = []
    frame = final(predictions)
    for target, by_target in frame.groupby("target", sort=True):
        base = by_target[by_target["params"] == reference]
        for params, group in by_target.groupby("params", sort=True):
            for kind in ("original", SURFACE):
                acc = estimate(group, kind, ACCURACY)
                row = {"target": target, "params": params, "kind": kind, "accuracy": acc.value,
                       "ci_low": acc.low, "ci_high": acc.high, "n_seeds": acc.n_seeds}
                if params != reference and len(base):
                    diff = paired_estimate(group, base, kind, ACCURACY)
                    row |= {"diff_vs_" + reference: diff.value, "diff_low": diff.low, "diff_high": diff.high}
                rows.append(row)
    return pd.DataFrame(rows)


def matched_steps(curves: pd.DataFrame, models: pd.DataFrame, params: str = "full",
                  scored: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per seed: the first evaluation step at which each `params` run reaches the lowest best held-out accuracy
    among the targets compared (columns model, target, seed, step, heldout_accuracy, matched_to).

    `scored` (predictions, or any frame with model and step): only steps whose checkpoint has test predictions are
    candidates, so a run's curve files (written every `curve_every` steps, a multiple of the evaluation interval)
    can always serve the match; None: every evaluated step (what a planner that can still evaluate checkpoints
    uses)."""
    if curves.empty or "heldout_accuracy" not in curves:
        return pd.DataFrame(columns=["model", "target", "seed", "step", "heldout_accuracy", "matched_to"])
    runs = arm_runs(models)
    runs = runs[runs["params"] == params]
    frame = curves.dropna(subset=["heldout_accuracy"]).merge(runs[["model", "target", "seed"]], on="model")
    if scored is not None:
        steps = scored[["model", "step"]].drop_duplicates() if len(scored) else pd.DataFrame(columns=["model", "step"])
        frame = frame.merge(steps.astype({"step": int}), on=["model", "step"])
    rows = []
    for seed, group in frame.groupby("seed"):
        if group["target"].nunique() < 2:
            continue
        level = group.groupby("target")["heldout_accuracy"].max().min()
        for (model, target), curve in group.groupby(["model", "target"]):
            reached = curve[curve["heldout_accuracy"] >= level].sort_values("step").iloc[0]
            rows.append({"model": model, "target": target, "seed": seed, "step": int(reached["step"]),
                         "heldout_accuracy": float(reached["heldout_accuracy"]), "matched_to": float(level)})
    return pd.DataFrame(rows)


def matched_table(predictions: pd.DataFrame, matched: pd.DataFrame) -> pd.DataFrame:
    """E1 at matched in-distribution accuracy: robustness per target on the matched checkpoints."""
    if matched.empty or predictions.empty:
        return pd.DataFrame()
    picks = predictions.merge(matched[["model", "step"]], on=["model", "step"], how="inner")
    if picks.empty:
        return pd.DataFrame()
    table = accuracy_table(picks.assign(final=True))
    steps = matched.groupby("target").agg(steps=("step", lambda s: ",".join(map(str, sorted(s)))),
                                          matched_to=("matched_to", "mean")).reset_index()
    return table.merge(steps, on="target", how="left")


def template_table(predictions: pd.DataFrame, templates: pd.DataFrame) -> pd.DataFrame:
    """F8: accuracy per (model, template) over the template's instances, originals and pooled surface kinds."""
    if predictions.empty or templates.empty:
        return pd.DataFrame()
    frame = final(predictions).merge(templates.rename(columns={"problem_id": "original_id"}), on="original_id")
    frame = frame[(frame["kind"] == "original") | frame["kind"].isin(surface_kinds(frame["kind"]))]
    frame = frame.assign(group=np.where(frame["kind"] == "original", "original", SURFACE))
    return (frame.groupby(["model", *FACTS, "group", "template"]).agg(n=("correct", "size"),
                                                                     accuracy=("correct", "mean"))
            .reset_index())
