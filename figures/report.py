"""The report: one self-contained HTML file (plotly.js embedded once, no network needed).

Sections: the question; the setup (models, data, seeds, budgets); the claims with their verdicts,
effect sizes, intervals, seeds and controls, in words that never call an effect inside its
interval an effect; beside the verdicts, the mixed model's reading, the claims at final /
matched / OOD-peak checkpoints, where generated chains break and the contamination scan; for a
vision run, where theorem- and answer-SFT read the figure; every figure; the tables; run metadata
(versions, git commit, wall times).
`claim_sentence` is also what the terminal prints at the end of `tsft reproduce`.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import pandas as pd
from tsft.figures.evidence import (
    budget_sentences,
    chain_sentences,
    checkpoint_reading_sentences,
    contamination_sentence,
    cross_control_sentences,
    mixed_sentences,
    update_sentences,
)
from tsft.figures.instruments import (
    ablation_sentences,
    control_sentences,
    erasure_sentences,
    estimate_sentences,
    mib_sentences,
    restore_sentences,
    share_sentences,
)
from tsft.figures.lenses import lens_sentences
from tsft.figures.theme import interval_text, number
from tsft.figures.variables import das_sentences, delta_sentences
from tsft.figures.vision import reading_sentences
from tsft.tasks.io import atomic_file

QUESTION = ("Why does supervised fine-tuning on math generalize, or fail to? The paper <i>Memorize Theorems, Not "
            "Instances</i> (arXiv 2605.09270) argues that fine-tuning on final answers learns surface associations "
            "that break under superficial changes, while fine-tuning on explicit theorem applications learns rules "
            "that survive them; that tuning only the MLP layers matches full tuning; and that feed-forward layers "
            "carry the rules. This report tests those claims on the checkpoints below, with the same rules for "
            "calling an effect whichever way it points.")
RULE = ("Verdict rule: <b>supported</b> only when the 95% interval (bootstrap over seeds, then test originals with "
        "all their perturbed versions; over pairs for patching) lies on the claim's side of its null value; "
        "<b>not supported</b> when it lies on the other side, or the claim's control explains the effect; "
        "<b>inconclusive</b> when the interval contains the null value. With one seed the interval covers problem "
        "sampling only.")
COLOURS = {"supported": "#2ca02c", "not supported": "#d62728", "inconclusive": "#7f7f7f"}
READING = ("Diagram problems leave one given to the figure. Each test problem is paired with a twin whose figure "
           "shows another value (same text, another answer); patching the original run's activations into the "
           "twin's, one layer, component and position group (image tokens, text, last position) at a time, shows "
           "where the figure's value is read (1 = fully restored). Theorem-SFT minus answer-SFT, paired over the "
           "same pairs, with 95% bootstrap intervals:")
VISION_TABLES = ("figure_gaps", "reading", "figure_probes")
SHOWN_TABLES = ("accuracy", "training", "lr_trials", "budget", "selection", "matched", "mixed", "run_peaks", "traces",
                "contamination", "patching", "probe_peaks", "e7", "controls", "shares", "mib", "lens_decodable",
                "das_first", "deltas", "delta_contrast", "estimates", "ablation_agreement", "erasure", "restore",
                "transplant", "models")
OOD_PEAK = ("Out-of-distribution accuracy can peak before the last step. Every kept checkpoint of the full-tuning "
            "runs is evaluated, and C1 and C2 are read at the final checkpoints, at checkpoints matched on held-out "
            "accuracy, and at each run's peak accuracy on surface-perturbed problems. The last reading picks each "
            "checkpoint on the problems it is then scored on, so it is optimistic by construction.")
MIXED = ("Beside the bootstrap, a logistic mixed model of the same comparison: question, template and training run as "
         "random effects, number magnitude and answer length as fixed effects (log-odds; 95% interval = posterior mean "
         "+- 1.96 sd). The verdict is the bootstrap's; where the two intervals point different ways, it says so.")
UPDATES = ("Each layer matrix's update, in the base's singular bases (F14): the share that only rescales the "
           "base's own singular directions (1 = re-weighting what the base computes; near 0 = new directions), its "
           "effective rank, and how much theorem- and answer-SFT's updates share their top singular directions "
           "against the chance level of random subspaces of the same size.")
CROSS = ("Theorem-SFT's activation at one site patched into answer-SFT's run (1 = answer-SFT behaves as theorem-SFT), "
         "against the control: answer-SFT's own activation moved by a random direction of the same norm. A site "
         "carries theorem-SFT's difference only where the patch beats moves of that size in directions nobody "
         "chose.")
CHAIN = ("Each generated theorem application is scored against the problem's own trace: the theorem named, each "
         "premise (Cond), each binding (Map), each Exec step given the previous ones. The first error is the first "
         "part that fails (F12).")
CONTROLS = ("A located effect means something only against the same measurement at places nobody chose (F15): the "
            "MLP share against random sets of attention and MLP blocks with the MLPs' parameter count (the MLPs hold "
            "most of a layer's parameters, so 0.5 is not the null), the best transplant window against A's blocks at "
            "random layers of one window's size, E7's correlation against permuted layers, and cross-checkpoint "
            "patching against random directions of the same norm. p is one-sided: (1 + draws at or above) / "
            "(1 + draws).")
ESTIMATES = ("Attribution patching estimates every patch from two forwards and one backward; AtP* repairs attention "
             "saturation (the first attention layer a residual patch meets is recomputed exactly) and cancellation "
             "(GradDrop). Against exact patching on the same pairs: the correlation, the false negatives among exact "
             "patching's top sites, and how far down the estimate's order all of them are found.")
ABLATIONS = ("The same sites zero-, mean- and resample-ablated in the clean run (F16): the damage each does and the "
             "faithfulness of keeping only exact patching's top-k sites. Where the modes disagree, a circuit is a "
             "property of the ablation as much as of the model.")
ERASURE = ("LEACE removes the linear information about the theorem label at the layer where the probes read it best, "
           "with the least-squares edit (a fresh probe on the erased activations falls to chance); random subspaces "
           "of the same rank are the control. If the model still names the theorem and answers, the label's linear "
           "code there is not what it uses.")
MIB = ("Every ranking of sites (exact patching, attribution, AtP*) scored as the Mechanistic Interpretability "
       "Benchmark scores circuits: faithfulness when only its top 0.1% ... 100% of sites are kept, the area under that "
       "curve (CPR) and the area between it and 1 (CMD), beside random orderings of the same sites.")
LENSES = ("The logit lens and a tuned lens read each layer's residual stream as a next-token prediction: the first "
          "layer at which the right theorem name (or answer) is the top token for half the problems, on the "
          "originals and under each perturbation (F18).")
DAS = ("Distributed alignment search asks whether the theorem chosen is a variable the model computes with, perhaps in "
       "a few directions of a site: a k-dimensional subspace is learned on training pairs so that swapping its "
       "coordinates in from a prompt of the sibling theorem (the same wording, or another template) makes the model "
       "continue as that theorem implies. Interchange accuracy (IIA) on held-out pairs, against a random subspace, the "
       "top principal directions and the whole vector at the same site; the illusion check re-reads the subspace "
       "without the directions the activations never vary along.")
DELTAS = ("Delta inference (TAIA): the base with only the fine-tune's attention updates, only its MLP updates, or "
          "both, beside the base and the checkpoint, seeds pooled. TAIA reports that attention-only generalizes better "
          "under shift, against the reading that the feed-forward layers carry what SFT taught.")
BUDGET = ("Two training controls. Theorem-SFT's outputs are longer, so per step it sees more target tokens than "
          "solution-SFT: theorem-SFT capped at the target tokens solution-SFT saw to its plateau, seed by seed, says "
          "whether its lead is the budget (C2 reads it under the one rule for controls). Answer-SFT trained until "
          "it fits its training problems is the memorization regime, read against answer-SFT at its plateau.")
RESTORE = ("The base with only the top-k singular directions of theorem-SFT's update added back, in every layer "
           "matrix: how few directions carry what SFT taught.")


def claim_sentence(row) -> str:
    """A claim's verdict in words: effect, interval, seeds, units, control, and what the interval allows saying."""
    if not row["effect"]:
        return f"{row['claim']}: {row['verdict']} - {row['note']}."
    interval = interval_text(row["value"], row["ci_low"], row["ci_high"])
    support = f"{int(row['n_seeds'])} seed{'s' if row['n_seeds'] != 1 else ''}, {int(row['n_units'])} units"
    if str(row.get("interval") or ""):
        support += f"; {row['interval']}"
    note_text = str(row["note"])
    if row["verdict"] == "inconclusive" and "has not learned" in note_text:
        reading = "the comparison is not meaningful (see the note), so no effect is claimed"
    elif row["verdict"] == "inconclusive" and "cannot tell" in note_text:
        reading = ("the interval lies on the claim's side, but its control is determined neither way, so no effect "
                   "is claimed")
    elif row["verdict"] == "inconclusive":
        reading = f"the interval contains {number(row['null'], 2)} or is undefined, so no effect is claimed"
    elif row["verdict"] == "supported":
        reading = "the interval lies on the claim's side"
    elif (any(said in note_text for said in ("explains", "less than blocks of their size"))
          and not row["ci_high"] < row["null"]):
        reading = "its control, itself determined, overturns it"
    else:
        reading = "the interval lies against the claim"
    control = f"control: {row['control']}"
    if not (isinstance(row["control_value"], float) and math.isnan(row["control_value"])):
        control += f" = {interval_text(row['control_value'], row['control_low'], row['control_high'])}"
    note = f"; {row['note']}" if row["note"] else ""
    return (f"{row['claim']}: {row['verdict']}. {row['effect']} = {interval} ({support}; {row['scope']}): {reading}. "
            f"{control}{note}.")


def _table_html(frame: pd.DataFrame, limit: int = 200) -> str:
    if frame.empty:
        return "<p class='empty'>no rows</p>"
    shown = frame.head(limit).copy()
    for column in shown.select_dtypes("float").columns:
        shown[column] = shown[column].map(lambda v: number(v))
    more = f"<p class='empty'>{len(frame) - limit} more rows in the parquet file</p>" if len(frame) > limit else ""
    return shown.to_html(index=False, border=0, classes="data", escape=True) + more


def claim_checks(tables: dict) -> dict[str, list[str]]:
    """Per claim, the instrument checks that bear on it, in words (shown under the claim; detailed below)."""
    empty = pd.DataFrame()
    controls = tables.get("controls", empty)
    checks = {claim: control_sentences(controls[controls["bears_on"].str.startswith(claim)]) if len(controls) else []
              for claim in ("C1", "C2", "C3", "C4")}
    deltas = delta_sentences(tables.get("deltas", empty), tables.get("delta_contrast", empty))
    checks["C3"] += restore_sentences(tables.get("restore", empty)) + deltas
    checks["C4"] += (share_sentences(tables.get("shares", empty)) + estimate_sentences(tables.get("estimates", empty))
                     + ablation_sentences(tables.get("ablation_agreement", empty), empty)
                     + erasure_sentences(tables.get("erasure", empty))
                     + mib_sentences(tables.get("mib", empty)) + lens_sentences(tables.get("lens_decodable", empty))
                     + das_sentences(tables.get("das_first", empty), tables.get("das_best", empty)) + deltas)
    return checks


def _claims_html(claims: pd.DataFrame, tables: dict) -> str:
    items, checks = [], claim_checks(tables)
    for _, row in claims.iterrows():
        colour = COLOURS.get(row["verdict"], "#555")
        said = "".join(f"<li>{html.escape(line)}</li>" for line in checks.get(row["claim"], []))
        items.append(f"<li><span class='verdict' style='background:{colour}'>{html.escape(row['verdict'])}</span> "
                     f"<b>{html.escape(row['claim'])}</b> {html.escape(row['statement'])}<br>"
                     f"<span class='detail'>{html.escape(claim_sentence(row))}</span>"
                     f"{f'<ul class=checks>{said}</ul>' if said else ''}</li>")
    return f"<p>{RULE}</p><ul class='claims'>{''.join(items)}</ul>"


def _setting(value) -> str:
    """A preset setting as a reader writes it: pairs as 'key value', lists joined, None as 'every / none'."""
    if value is None:
        return "- (every / none)"
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, list | tuple) and len(v) == 2 for v in value):
            return "; ".join(f"{k}: {_setting(v)}" for k, v in value)
        return ", ".join(_setting(v) for v in value) or "-"
    return str(value)


def _setup_html(meta: dict, models: pd.DataFrame) -> str:
    """The run's inputs and its preset, one setting a row (the preset's dict is never shown raw)."""
    preset = meta.get("preset")
    facts = {k: meta.get(k) for k in ("base", "data", "seeds", "targets", "params", "sft_steps", "eval_limit")
             if meta.get(k) is not None}
    if isinstance(preset, dict):
        facts = {"preset": preset.get("name"), **facts,
                 **{f"preset: {k}": v for k, v in preset.items() if k != "name"}}
    elif preset is not None:
        facts = {"preset": preset, **facts}
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_setting(v))}</td></tr>"
                   for k, v in facts.items())
    budget = models[["model", "steps", "trainable", "tokens_seen", "target_tokens_seen"]] if len(models) else models
    return f"<table class='facts'>{rows}</table><h3>Budgets</h3>{_table_html(budget)}"


def _meta_html(meta: dict) -> str:
    return f"<pre>{html.escape(json.dumps(meta, indent=2, default=str))}</pre>"


STYLE = """
body{font-family:Inter,Helvetica,Arial,sans-serif;max-width:1250px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{margin-top:1.6em;border-bottom:1px solid #ddd} .verdict{color:#fff;padding:2px 8px;
border-radius:4px;font-size:.85em} ul.claims li{margin:.8em 0} .detail{color:#444;font-size:.92em}
table.data,table.facts{border-collapse:collapse;font-size:.85em} table.data td,table.data th,table.facts td,
table.facts th{padding:3px 8px;border-bottom:1px solid #eee;text-align:right} .empty{color:#888}
pre{background:#f7f7f7;padding:1em;font-size:.8em;overflow:auto} ul.checks{font-size:.85em;color:#555}
"""


def _reading_html(tables: dict) -> str:
    """The diagram world's experiment (vision runs only): where theorem- and answer-SFT read the figure."""
    sentences = reading_sentences(tables.get("reading", pd.DataFrame()), tables.get("figure_gaps"))
    if not sentences:
        return ""
    items = "".join(f"<li>{html.escape(s)}</li>" for s in sentences)
    return (f"<h2>Reading the figure</h2><p>{READING}</p><ul>{items}</ul>")


def _list(lines: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>" if lines else \
        "<p class='empty'>not measured</p>"


def _evidence_html(tables: dict) -> str:
    """The mixed model beside the claims, C1 / C2 at three readings, where chains break, the contamination scan."""
    empty = pd.DataFrame()
    return (f"<h2>Beside the verdicts</h2><h3>Per-question mixed model</h3><p>{MIXED}</p>"
            f"{_list(mixed_sentences(tables.get('claims', empty)))}"
            f"<h3>Final, matched and OOD-peak checkpoints</h3><p>{OOD_PEAK}</p>"
            f"{_list(checkpoint_reading_sentences(tables.get('readings', empty)))}"
            f"<h3>Where the chain breaks</h3><p>{CHAIN}</p>{_list(chain_sentences(tables.get('traces', empty)))}"
            f"<h3>Training controls: the token budget and memorization (bears on C1 and C2)</h3><p>{BUDGET}</p>"
            f"{_list(budget_sentences(tables.get('budget', empty)))}"
            f"<h3>Contamination</h3><p>{html.escape(contamination_sentence(tables.get('contamination', empty)))}</p>"
            f"<h3>What SFT wrote into the weights (bears on C3 and C4)</h3><p>{UPDATES}</p>"
            f"{_list(update_sentences(tables.get('spectral', empty), tables.get('overlap', empty)))}"
            f"<h3>Cross-checkpoint patching against random directions (bears on C4)</h3><p>{CROSS}</p>"
            f"{_list(cross_control_sentences(tables.get('cross', empty)))}"
            f"<h3>Against random locations (bears on C4)</h3><p>{CONTROLS}</p>"
            f"{_list(control_sentences(tables.get('controls', empty)))}"
            f"<h3>Can the cheap estimates be trusted? (bears on C4)</h3><p>{ESTIMATES}</p>"
            f"{_list(estimate_sentences(tables.get('estimates', empty)))}"
            f"<h3>Does the ablation choice change the circuit? (bears on C4)</h3><p>{ABLATIONS}</p>"
            f"{_list(ablation_sentences(tables.get('ablation_agreement', empty), tables.get('faithfulness', empty)))}"
            f"<h3>MIB's circuit metrics (bears on C4)</h3><p>{MIB}</p>{_list(mib_sentences(tables.get('mib', empty)))}"
            f"<h3>Lenses (bears on C1 and C4)</h3><p>{LENSES}</p>"
            f"{_list(lens_sentences(tables.get('lens_decodable', empty)))}"
            f"<h3>Erasing the theorem concept (bears on C2 and C4)</h3><p>{ERASURE}</p>"
            f"{_list(erasure_sentences(tables.get('erasure', empty)))}"
            f"<h3>Restoring the top directions of the update (bears on C3)</h3><p>{RESTORE}</p>"
            f"{_list(restore_sentences(tables.get('restore', empty)))}"
            f"<h3>Where the theorem is a variable (DAS; bears on C4)</h3><p>{DAS}</p>"
            f"{_list(das_sentences(tables.get('das_first', empty), tables.get('das_best', empty)))}"
            f"<h3>Delta inference (bears on C3 and C4)</h3><p>{DELTAS}</p>"
            f"{_list(delta_sentences(tables.get('deltas', empty), tables.get('delta_contrast', empty)))}")


def report_html(tables: dict, figures: dict, meta: dict) -> str:
    """The whole report as one HTML string."""
    from plotly.offline import get_plotlyjs

    claims = tables.get("claims", pd.DataFrame())
    figure_html = "".join(f"<h3>{html.escape(name)}</h3>"
                          f"<p class='detail'>{html.escape(fig.layout.title.text or '')}</p>"
                          + fig.to_html(full_html=False, include_plotlyjs=False) for name, fig in figures.items())
    shown = SHOWN_TABLES + tuple(name for name in VISION_TABLES if len(tables.get(name, pd.DataFrame())))
    table_html = "".join(f"<h3>{name}</h3>{_table_html(tables.get(name, pd.DataFrame()))}" for name in shown)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>tsft report</title><style>{STYLE}</style>"
            f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
            f"<h1>tsft report: memorize theorems, not instances?</h1><h2>The question</h2><p>{QUESTION}</p>"
            f"<h2>Setup</h2>{_setup_html(meta, tables.get('models', pd.DataFrame()))}"
            f"<h2>Claims</h2>{_claims_html(claims, tables) if len(claims) else '<p>no claims computed</p>'}"
            f"{_evidence_html(tables)}{_reading_html(tables)}<h2>Figures</h2>{figure_html}<h2>Tables</h2>{table_html}"
            f"<h2>Run metadata</h2>{_meta_html(meta)}</body></html>")


def write_report(tables: dict, figures: dict, meta: dict, out: str | Path) -> Path:
    out = Path(out)
    with atomic_file(out) as tmp:
        tmp.write_text(report_html(tables, figures, meta), encoding="utf-8")
    return out
