"""The report: self-contained, every figure and claim present, honest wording."""

from __future__ import annotations

import pandas as pd

from analysis.stats import Estimate
from figures.render import build_figures
from figures.report import claim_sentence, report_html


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
