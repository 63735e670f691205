"""Per-question logistic mixed models: is a difference the checkpoint's, or the questions'?

The bootstrap (analysis.stats) resamples questions but treats a perturbation's effect as one number per kind.
A reader of GSM-Symbolic-style results will ask two more things: are the questions that a perturbation breaks
simply the hard ones (a question effect), and did the perturbation also move the numbers (GSM-Symbolic's
variants change number sizes, and larger numbers alone lower accuracy)? A generalized linear mixed model answers
both at once:

    logit P(correct) = arm x kind  +  magnitude  +  answer_length
                       + (1 | question) + (1 | template) + (1 + perturbed | run)

* fixed effects: the checkpoint family (`arm`, answer-SFT the reference), the perturbation kind (originals the
  reference), their interaction, the size of the problem's numbers (log10 of the largest, standardised) and the
  answer's length (characters, standardised);
* random effects: one intercept per test original (all its perturbed versions share it), per template (the
  wording it was made from) and per training run (seed), and a random slope per run on `perturbed`: each
  seed's drop under perturbation may differ, and a claim about an arm's drop (C1) is a claim across seeds, so
  its interval must carry that spread (without the slope, every run's drop is assumed equal and the interval
  counts only question noise).

A planted confound shows what this buys: if perturbed problems carry larger numbers and only the numbers matter,
the raw accuracy drop is attributed to the perturbation by a difference of means, to magnitude by this model.

Fitting: statsmodels' `BinomialBayesMixedGLM` (variational Bayes, Gaussian priors: sd 2 on fixed effects). Each
fixed effect is reported as posterior mean and sd with a 95% interval (mean +- 1.96 sd), in log-odds. This table
is descriptive: on planted data with 3 runs per arm the variational sd was half the estimate's spread over
datasets (83% coverage; analysis.twostage says more). The claims read the same model's random-slopes form fitted
in two stages (analysis.twostage), whose interval is calibrated, beside the accuracy differences.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

Z = 1.959964
GROUPS = ("original_id", "template", "model")
FIT_COLUMNS = ["term", "value", "sd", "ci_low", "ci_high", "n_rows", "n_questions"]
COVARIATES = ("magnitude", "answer_length")


def design(predictions: pd.DataFrame, problems: pd.DataFrame, reference: str = "answer") -> pd.DataFrame:
    """Predictions joined with their problem's template, magnitude and answer length (standardised); `arm` is the
    target style as a category with `reference` first, `kind` with originals first. Problems without facts drop."""
    facts = problems[["problem_id", "template", *COVARIATES]]
    frame = predictions.merge(facts, on="problem_id", how="inner").copy()
    if frame.empty:
        return frame
    frame["template"] = frame["template"].fillna(frame["original_id"])
    for column in COVARIATES:
        spread = frame[column].std(ddof=0)
        frame[column] = (frame[column] - frame[column].mean()) / spread if spread > 0 else 0.0
    arms = [reference, *sorted(set(frame["target"]) - {reference})]
    kinds = ["original", *sorted(set(frame["kind"]) - {"original"})]
    frame["arm"] = pd.Categorical(frame["target"], categories=[a for a in arms if a in set(frame["target"])])
    frame["kind"] = pd.Categorical(frame["kind"], categories=[k for k in kinds if k in set(frame["kind"])])
    frame["perturbed"] = (frame["kind"] != "original").astype(float)
    frame["correct"] = frame["correct"].astype(float)
    return frame


def _term_name(name: str) -> str:
    return re.sub(r"\[T\.([^\]]+)\]", r"[\1]", name)


def _formula(frame: pd.DataFrame, terms: str) -> str:
    covariates = [c for c in COVARIATES if frame[c].std(ddof=0) > 0]
    return " + ".join([f"correct ~ {terms}", *covariates])


def fit(frame: pd.DataFrame, terms: str, groups=GROUPS) -> pd.DataFrame:
    """One logistic mixed model (`terms` are patsy terms over `arm`, `kind`, `perturbed`); a table of every fixed
    effect (FIT_COLUMNS). Empty when the frame cannot identify the model (no rows, one outcome only)."""
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    if frame.empty or frame["correct"].nunique() < 2:
        return pd.DataFrame(columns=FIT_COLUMNS)
    components = {g: f"0 + C({g})" for g in groups if g in frame and frame[g].nunique() > 1}
    if "model" in components and "perturbed" in frame and frame["perturbed"].nunique() > 1:
        components["model_perturbed"] = "0 + C(model):perturbed"  # each run's own drop under perturbation
    model = BinomialBayesMixedGLM.from_formula(_formula(frame, terms), components, frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = model.fit_vb(rng=np.random.default_rng(0))
    mean, sd = np.asarray(result.fe_mean), np.asarray(result.fe_sd)
    return pd.DataFrame({"term": [_term_name(n) for n in model.exog_names], "value": mean, "sd": sd,
                         "ci_low": mean - Z * sd, "ci_high": mean + Z * sd, "n_rows": len(frame),
                         "n_questions": frame["original_id"].nunique()})


def kind_model(predictions: pd.DataFrame, problems: pd.DataFrame, params: str = "full") -> pd.DataFrame:
    """The full model over final checkpoints of `params` tuning: arm x kind + magnitude + answer length, every
    kind (out_of_range too: its new numbers are what the magnitude term is for)."""
    if predictions.empty or problems.empty:
        return pd.DataFrame(columns=FIT_COLUMNS)
    chosen = predictions[(predictions["params"] == params) & predictions["final"].astype(bool)]
    frame = design(chosen, problems)
    if frame.empty or frame["arm"].nunique() < 2:
        return pd.DataFrame(columns=FIT_COLUMNS)
    return fit(frame, "arm * kind")


def agreement(bootstrap_side: int, glmm_low: float, glmm_high: float) -> str:
    """How the bootstrap interval (its side of 0: +1, -1, or 0) and the mixed model's interval read together."""
    if not (np.isfinite(glmm_low) and np.isfinite(glmm_high)):
        return "mixed model not fitted"
    glmm_side = 1 if glmm_low > 0 else -1 if glmm_high < 0 else 0
    if bootstrap_side and glmm_side:
        return "agree" if bootstrap_side == glmm_side else "disagree"
    if bootstrap_side or glmm_side:
        return "only the bootstrap is determined" if bootstrap_side else "only the mixed model is determined"
    return "neither is determined"
