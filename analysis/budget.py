"""Where each run stopped, and the two training controls: the token budget and memorization.

* `training_table` - per fine-tuned run (the arms' seeds and the controls): learning rate, the step whose weights
  it published (its best validation accuracy under the plateau rule), why it stopped (`plateau`, `steps`,
  `train_accuracy`, `target_tokens`), that step's validation accuracy, its final checkpoint's accuracy on its
  first training problems (the evaluation's `train_predictions`; else the last the run measured while training)
  and on the test originals, and the target tokens it saw: each arm's plateau, and how far each run, the
  memorization arm above all, fits what it saw against how it does on test.
* `budget_table` - the controls read against the arms, each as a difference with the arms' interval
  (analysis.accuracy.arm_difference: a t interval over runs plus a template-cluster bootstrap with two or more
  runs a side, else the paired bootstrap, said in `interval`), on the originals' accuracy, the surface pool's
  accuracy and its robustness; `learned` says whether both sides' accuracy on the originals is determined above
  the claims' level (ClaimSettings.learned): where not, robustness differences are not read:

  - **theorem - solution, token-matched**: theorem-SFT's outputs are longer, so per step it sees more target
    tokens than solution-SFT. The `tokens` runs train theorem-SFT, seed by seed, on only as many target tokens
    as solution-SFT saw to its plateau (a fraction of its own run, where the converse would cost several runs'
    worth of solution-SFT steps); if theorem-SFT's lead over solution-SFT is gone at equal tokens, it was the
    budget. Beside it, the same difference for the theorem arm itself (equal step rule).
  - **memorization - answer**: answer-SFT trained until it fits its training problems (`memorize`) against
    answer-SFT at its validation plateau: what the regime the paper is about does to accuracy and robustness.
  - **theorem-mlp to the step cap**: MLP-only theorem-SFT trained, seed by seed, to the step cap with the
    plateau rule's stop off (`long`; its best validation checkpoint still published), against full tuning and
    against MLP-only tuning stopped at its plateau: whether C3's difference is the layers' or the stopping rule's
    (a validation curve with one lucky point stops a run early).

C2 reads the token-matched difference and C3 the step-cap difference under the one rule for controls
(analysis.claims).

* `lr_table` - how firmly the learning-rate trials chose: per arm and rate tried, the validation accuracy and loss
  at the trial's last step with the accuracy's binomial standard error on the trial's `eval_size` problems, which
  rate the arm's runs use, and how many standard errors of the difference each other rate lies below it (unpaired,
  so conservative: the trials score the same problems). A chosen rate less than about 2 standard errors ahead was
  not told apart from the next by the trials: a difference between arms trained at different rates may be the
  rates'.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tsft.analysis.accuracy import ACCURACY, FACTS, ROBUSTNESS, SURFACE, arm_difference, estimate, final, surface_kinds
from tsft.analysis.problems import cluster_templates

MEASURES = (("original", ACCURACY, "accuracy"), (SURFACE, ACCURACY, "accuracy"), (SURFACE, ROBUSTNESS, "robustness"))
"""(kind, statistic, its name) of each difference."""
COMPARISONS = (("theorem - solution, token-matched", ("theorem", "full", "tokens"), ("solution", "full", None)),
               ("theorem - solution, same step rule", ("theorem", "full", None), ("solution", "full", None)),
               ("memorization - answer at its plateau", ("answer", "full", "memorize"), ("answer", "full", None)),
               ("theorem-mlp to the step cap - theorem-full", ("theorem", "mlp", "long"), ("theorem", "full", None)),
               ("theorem-mlp to the step cap - at its plateau", ("theorem", "mlp", "long"), ("theorem", "mlp", None)))
"""(name, run A, run B): each run as (target, params, variant; None = the arm's own seeds)."""


def with_variants(predictions: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Final predictions of every fine-tuned run, the controls included, joined with target, params, seed and
    variant (None for an arm's own seeds)."""
    tuned = models[models["target"].notna()] if len(models) else models
    if predictions.empty or tuned.empty:
        return pd.DataFrame(columns=["model", "kind", "original_id", "correct", *FACTS, "variant"])
    facts = tuned[["model", *FACTS, "variant"]].drop_duplicates("model")
    frame = final(predictions).merge(facts, on="model", how="inner")
    return frame.assign(variant=frame["variant"].where(frame["variant"].notna(), None))


def runs_of(frame: pd.DataFrame, target: str, params: str, variant: str | None) -> pd.DataFrame:
    chosen = frame[(frame["target"] == target) & (frame["params"] == params)]
    return chosen[chosen["variant"].isna()] if variant is None else chosen[chosen["variant"] == variant]


def budget_table(predictions: pd.DataFrame, models: pd.DataFrame, problems: pd.DataFrame | None = None,
                 learned: float = 0.2) -> pd.DataFrame:
    """Each comparison whose two sides were evaluated, on each measure (see the module docstring)."""
    frame = with_variants(predictions, models)
    templates = cluster_templates(problems)
    rows = []
    for name, side_a, side_b in COMPARISONS:
        a, b = runs_of(frame, *side_a), runs_of(frame, *side_b)
        if a.empty or b.empty:
            continue
        both = all(estimate(side, "original", ACCURACY).low > learned for side in (a, b))
        for kind, stat, measure in MEASURES:
            if kind == SURFACE and not surface_kinds(pd.concat([a["kind"], b["kind"]])):
                continue
            found, interval = arm_difference(a, b, kind, stat, templates)
            rows.append({"comparison": name, "measure": f"{measure} ({kind})", **found.as_dict(),
                         "runs_a": a["model"].nunique(), "runs_b": b["model"].nunique(), "interval": interval,
                         "learned": both})
    return pd.DataFrame(rows)


def training_table(models: pd.DataFrame, curves: pd.DataFrame, predictions: pd.DataFrame | None = None,
                   train_predictions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per fine-tuned run (no learning-rate trial): its plateau and stopping (see the module docstring)."""
    test, fitted = _test_accuracy(predictions), _accuracy(train_predictions)
    tuned = models[models["target"].notna()] if len(models) else models
    tuned = tuned[tuned["variant"] != "lr-trial"] if len(tuned) else tuned
    if tuned.empty:
        return pd.DataFrame()
    rows = []
    for _, run in tuned.sort_values(["target", "params", "variant", "seed"], na_position="first").iterrows():
        evals = curves[curves["model"] == run["model"]] if len(curves) else pd.DataFrame()
        published = evals[evals["step"] == run["published_step"]] if len(evals) else evals
        trained = evals.dropna(subset=["train_accuracy"]) if "train_accuracy" in evals else pd.DataFrame()
        rows.append({"model": run["model"], "target": run["target"], "params": run["params"], "seed": run["seed"],
                     "variant": run["variant"], "lr": run["lr"], "published_step": run["published_step"],
                     "max_steps": run["steps"], "stopped": run["stopped"],
                     "validation_accuracy": _last(published, "heldout_accuracy"),
                     "train_accuracy": fitted.get(run["model"], _last(trained, "train_accuracy")),
                     "test_accuracy": test.get(run["model"], float("nan")),
                     "target_tokens_seen": run["target_tokens_seen"]})
    return pd.DataFrame(rows)


def _test_accuracy(predictions: pd.DataFrame | None) -> dict[str, float]:
    """Each model's final checkpoint's accuracy on the test originals."""
    if predictions is None or predictions.empty:
        return {}
    originals = final(predictions)
    return _accuracy(originals[originals["kind"] == "original"])


def _accuracy(rows: pd.DataFrame | None) -> dict[str, float]:
    """Each model's share of correct rows."""
    if rows is None or rows.empty:
        return {}
    return rows.groupby("model")["correct"].mean().astype(float).to_dict()


def _last(frame: pd.DataFrame, column: str) -> float:
    return float(frame[column].iloc[-1]) if len(frame) and column in frame else float("nan")


def lr_table(models: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Each arm's learning-rate trials against the rate its runs use (see the module docstring)."""
    if models.empty or curves.empty:
        return pd.DataFrame()
    trials = models[models["variant"] == "lr-trial"]
    runs = models[models["target"].notna() & models["variant"].isna()]
    arms = []
    for (target, params), arm in trials.groupby(["target", "params"], sort=True):
        used = set(runs.loc[(runs["target"] == target) & (runs["params"] == params), "lr"])
        rows = []
        for _, trial in arm.iterrows():
            last = curves[curves["model"] == trial["model"]].sort_values("step").tail(1)
            if last.empty or "heldout_accuracy" not in last:
                continue
            accuracy, n = float(last["heldout_accuracy"].iloc[0]), trial["eval_size"]
            rows.append({"target": target, "params": params, "lr": trial["lr"], "step": int(last["step"].iloc[0]),
                         "validation_accuracy": accuracy, "validation_loss": _last(last, "heldout_loss"), "n": n,
                         "se": float(np.sqrt(accuracy * (1 - accuracy) / n)) if pd.notna(n) and n else float("nan"),
                         "chosen": trial["lr"] in used})
        if rows:
            arms.append(_behind_chosen(pd.DataFrame(rows)))
    return pd.concat(arms, ignore_index=True) if arms else pd.DataFrame()


def _behind_chosen(arm: pd.DataFrame) -> pd.DataFrame:
    """`se_behind`: how many standard errors of the difference each rate's accuracy lies below the chosen one's."""
    chosen = arm[arm["chosen"]]
    if chosen.empty:
        return arm.assign(se_behind=float("nan")).sort_values("lr")
    top = chosen.iloc[0]
    spread = np.sqrt(top["se"] ** 2 + arm["se"] ** 2)
    behind = (top["validation_accuracy"] - arm["validation_accuracy"]) / spread
    return arm.assign(se_behind=behind.where(~arm["chosen"].astype(bool))).sort_values("lr")
