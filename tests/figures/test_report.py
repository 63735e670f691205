"""The report: self-contained, every figure and claim present, honest wording."""

from __future__ import annotations

import pandas as pd
from tsft.analysis.stats import Estimate
from tsft.figures.render import build_figures
from tsft.figures.report import claim_sentence, report_html


def claim(verdict: str, low: float, high: float, note: str = "") -> dict:
    return {"claim": "C1", "statement": "s", "verdict": verdict, "effect": "robustness gap",
            **Estimate((low + high) / 2, low, high, 1, 300).as_dict(), "null": 0.0, "control": "matched accuracy",
            "control_value": float("nan"), "control_low": float("nan"), "control_high": float("nan"),
            "scope": "final checkpoints", "note": note}


def test_an_effect_inside_its_interval_is_not_called_an_effect():
    text = claim_sentence(claim("inconclusive", -0.02, 0.08))
    assert "no effect is claimed" in text and "1 seed" in text and "[-0.020, 0.080]" in text
    assert "on the claim's side" in claim_sentence(claim("supported", 0.02, 0.08))


def test_report_is_one_self_contained_file_with_every_figure_and_claim():
    claims = pd.DataFrame([claim("supported", 0.1, 0.2), {**claim("not supported", -0.2, -0.1), "claim": "C2"}])
    figures = build_figures({"claims": claims})
    page = report_html({"claims": claims}, figures, {"preset": "quick", "git_commit": "abc123", "stages": {"sft": 1}})
    from plotly.offline import get_plotlyjs

    bundle = get_plotlyjs()
    assert page.count(bundle) == 1  # plotly.js embedded once
    rest = page.replace(bundle, "")
    assert "<script src" not in rest and "cdn.plot.ly" not in rest and "<link" not in rest
    assert page.count("Plotly.newPlot") == len(figures)
    for name in figures:
        assert f"<h3>{name}</h3>" in page
    assert "C1" in page and "C2" in page and "not supported" in page and "abc123" in page


def test_report_puts_the_evidence_beside_the_verdicts():
    """The mixed model's reading, the three readings, the chain and the contamination scan appear in words."""
    claims = pd.DataFrame([{**claim("inconclusive", -0.05, 0.2), "glmm_value": 0.2, "glmm_low": 0.04,
                            "glmm_high": 0.37, "glmm_agreement": "only the mixed model is determined"}])
    readings = pd.DataFrame([{**claim("supported", 0.1, 0.3), "reading": r, "claim": "C2"}
                             for r in ("final", "matched", "ood_peak")])
    traces = pd.DataFrame([{"target": "theorem", "params": "full", "kind": "surface", "n": 10, "named_right": 0.9,
                            "premises": 1.0, "bindings": 0.5, "exec_arithmetic": 0.8, "exec_plan": 0.7,
                            **{f"first_{e}": 0.0 for e in ("format", "naming", "premise", "plan", "arithmetic",
                                                            "answer")}, "first_binding": 0.4, "first_none": 0.6}])
    contamination = pd.DataFrame([{"model": "m", "step": 1, "outputs": 50, "flagged": 2, "flagged_share": 0.04,
                                   "max_overlap": 0.9, "canary_hits": 0}])
    tables = {"claims": claims, "readings": readings, "traces": traces, "contamination": contamination}
    page = report_html(tables, build_figures(tables), {})
    assert "mixed model (log-odds) 0.200 [0.040, 0.370]: only the mixed model is determined" in page
    assert "C2 at OOD peak: supported" in page and "optimistic by construction" in page
    assert "theorem-full on surface: 60% of chains fully right; most common first error binding (40%)" in page
    assert "50 generations of 1 checkpoints scanned: 2 reproduce another test problem" in page


def test_report_reads_each_instrument_check_in_words_and_f15_f16_draw_them():
    from tsft.figures.instruments import f15_controls, f16_ablations

    controls = pd.DataFrame([
        {"control": "random blocks of equal size", "bears_on": "C4", "subject": "t", "value": 0.64, "null_mean": 0.75,
         "null_low": 0.70, "null_high": 0.80, "p_value": 0.99, "draws": 2000, "note": "MLP share"},
        {"control": "random direction of equal norm", "bears_on": "C4", "subject": "t->a mlp_out@28", "value": 0.37,
         "null_mean": 0.02, "null_low": 0.018, "null_high": 0.022, "p_value": 1 / 3, "draws": 2, "note": "last"}])
    faithfulness = pd.DataFrame([{"model": "t", "ablation": mode, "k": k, "faithfulness": f}
                                 for mode, curve in (("zero", (0.0, 0.1)), ("resample", (0.2, 0.9)))
                                 for k, f in zip((5, 45), curve, strict=True)])
    ablations = pd.DataFrame([{"model": "t", "mode": "zero", "layer": layer, "component": "mlp_out", "position": "diff",
                               "damage": d} for layer, d in enumerate((0.9, 0.2))])
    erasure = pd.DataFrame([{"model": "t", "site": "blocks.1.resid_post", "label": "theorem", "condition": c,
                             "rank": r, "probe_accuracy": p, "answer_accuracy": a, "mean_sq_change": m, "draws": 1}
                            for c, r, p, a, m in (("none", 0, 1.0, 0.6, 0.0), ("leace", 19, 0.0, 0.3, 11.0),
                                                  ("random", 19, 1.0, 0.59, 0.4))])
    tables = {"controls": controls, "faithfulness": faithfulness, "ablations": ablations, "erasure": erasure}
    page = report_html(tables, build_figures(tables), {})
    assert "0.640 against random blocks of equal size 0.750 [0.700, 0.800] over 2000 draws" in page
    assert "not above the null" in page and "above every draw (too few draws for p &lt; 0.05)" in page
    assert "t, faithfulness of the top 45 sites: zero 0.100, resample 0.900." in page
    assert "probe accuracy 1.000 -&gt; 0.000 (random subspaces of that rank 1.000); answer accuracy 0.600 -&gt; 0.300" \
        in page
    figure = f15_controls(controls)
    assert list(figure.data[2].x) == [0.64, 0.37] and list(figure.data[0].base) == [0.70, 0.018]
    curves = f16_ablations(faithfulness, ablations)
    assert {trace.name for trace in curves.data} >= {"t zero", "t resample", "t zero mlp_out"}


def test_each_claim_lists_the_checks_that_bear_on_it():
    claims = pd.DataFrame([{**claim("supported", 0.6, 0.7), "claim": "C4"}, {**claim("inconclusive", -0.1, 0.2),
                                                                            "claim": "C3"}])
    controls = pd.DataFrame([{"control": "random blocks of equal size", "bears_on": "C4", "subject": "t",
                              "value": 0.64, "null_mean": 0.75, "null_low": 0.7, "null_high": 0.8, "p_value": 0.99,
                              "draws": 2000, "note": "MLP share"}])
    restore = pd.DataFrame([{"model": "t", "k": k, "kind": "original", "n": 16, "accuracy": a}
                            for k, a in (("base", 0.1), ("4", 0.3), ("checkpoint", 0.6))])
    page = report_html({"claims": claims, "controls": controls, "restore": restore}, {}, {})
    claims_part = page[page.index("<h2>Claims</h2>"):page.index("Beside the verdicts")]
    c4, c3 = claims_part.split("<b>C3</b>")
    assert "random blocks of equal size 0.750" in c4 and "random blocks" not in c3
    assert "original accuracy: base 0.100, 4 0.300, checkpoint 0.600" in c3


def test_the_setup_shows_the_preset_one_setting_a_row():
    preset = {"name": "real", "seeds": [0, 1, 2], "lr": [["full", 0.0002], ["mlp", 0.0004]], "kinds": None}
    page = report_html({}, {}, {"preset": preset, "git_commit": "abc123"})
    setup = page.split("<h2>Setup</h2>", 1)[1].split("</table>", 1)[0]
    assert "<th>preset</th><td>real</td>" in setup and "{" not in setup  # no raw dict
    assert "<th>preset: seeds</th><td>0, 1, 2</td>" in setup
    assert "<th>preset: lr</th><td>full: 0.0002; mlp: 0.0004</td>" in setup
    assert "<th>preset: kinds</th><td>- (every / none)</td>" in setup


def test_a_claim_held_back_by_an_undetermined_control_is_said_so():
    row = {**claim("inconclusive", 0.6, 0.7), "claim": "C4", "null": 0.5, "interval": "t interval over runs (3 vs 3)",
           "note": "inconclusive: random blocks carry 0.75; the control cannot tell the MLPs' role from their size"}
    text = claim_sentence(row)
    assert "its control is determined neither way, so no effect is claimed" in text
    assert "contains" not in text and "t interval over runs (3 vs 3)" in text
    overturned = claim_sentence({**row, "verdict": "not supported",
                                 "note": "below ...: the MLPs carry less than blocks of their size"})
    assert "its control, itself determined, overturns it" in overturned
    below = claim_sentence({**row, **claim("not supported", 0.42, 0.47), "claim": "C4", "null": 0.5,
                            "note": "below ...: the MLPs carry less than blocks of their size"})
    assert "the interval lies against the claim" in below  # the share itself is below 0.5
