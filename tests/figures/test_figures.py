"""Every figure rendered from small fixture tables, its drawn data checked against the table (not pixels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from tsft.figures.behaviour import f1_accuracy, f2_selection, f8_templates
from tsft.figures.inside import f3_patching, f4_probes, f5_transfer, f6_across, f7_weights
from tsft.figures.render import FIGURES, build_figures, render_all
from tsft.figures.theme import colour, model_colour

from tests.analysis.test_inside import patch_map, patch_pairs, probe_rows, transplant_rows


@pytest.fixture
def accuracy():
    rows = []
    for target, base in (("answer", 0.6), ("theorem", 0.5)):
        for params in ("full", "mlp"):
            for i, kind in enumerate(("original", "paraphrase", "surface")):
                value = base - 0.1 * i - (0.2 if params == "mlp" else 0)
                rows.append({"target": target, "params": params, "kind": kind, "accuracy": value,
                             "ci_low": value - 0.05, "ci_high": value + 0.1, "n_seeds": 2, "n": 100})
    return pd.DataFrame(rows)


def test_f1_bars_are_the_table(accuracy):
    fig = f1_accuracy(accuracy)
    bars = {(t.name, t.xaxis): t for t in fig.data}
    theorem_mlp = bars[("theorem-SFT", "x2")]
    assert list(theorem_mlp.x) == ["original", "paraphrase", "surface"]
    assert np.allclose(theorem_mlp.y, [0.3, 0.2, 0.1])
    assert np.allclose(theorem_mlp.error_y.array, [0.1] * 3) and np.allclose(theorem_mlp.error_y.arrayminus,
                                                                               [0.05] * 3)
    assert theorem_mlp.marker.color == colour("theorem", "mlp") != colour("theorem", "full")
    per_layer = accuracy[accuracy["params"] == "mlp"].assign(params="mlp:0-0")
    assert len(f1_accuracy(pd.concat([accuracy, per_layer])).data) == len(fig.data)  # per-layer runs are E7's


def test_f2_groups_selections_per_target(accuracy):
    selection = accuracy[accuracy["kind"].isin(["original", "surface"])]
    fig = f2_selection(selection)
    mlp_original = next(t for t in fig.data if t.name == "mlp" and t.xaxis == "x")
    assert list(mlp_original.x) == ["answer", "theorem"] and np.allclose(mlp_original.y, [0.4, 0.3])


def test_f3_heatmaps_share_one_colour_scale_and_hold_the_effects():
    effects = pd.concat([patch_map(patch_pairs("theorem-full-s0", {(0, "mlp_out"): 0.6, (1, "attn_out"): 0.3})),
                         patch_map(patch_pairs("answer-full-s0", {(0, "mlp_out"): 0.1, (1, "attn_out"): 0.8}))])
    fig = f3_patching(effects)
    assert [t.type for t in fig.data] == ["heatmap", "heatmap"]
    assert {t.coloraxis for t in fig.data} == {"coloraxis"}
    theorem = fig.data[0]
    z = pd.DataFrame(theorem.z, index=theorem.y, columns=theorem.x)
    assert z.loc[0, "mlp_out"] == pytest.approx(0.6) and z.loc[1, "attn_out"] == pytest.approx(0.3)
    assert np.isnan(z.loc[1, "mlp_out"])
    assert fig.layout.coloraxis.cmin == -1.0 and fig.layout.coloraxis.cmax == 1.0


def test_f4_and_f5_draw_probe_metrics_by_layer():
    probes = pd.concat([probe_rows("base", [0.1, 0.2]), probe_rows("theorem-full-s0", [0.4, 0.7])])
    fig = f4_probes(probes)
    sel = next(t for t in fig.data if t.name == "theorem-full-s0" and t.line.dash == "dash")
    assert list(sel.x) == [0, 1] and np.allclose(sel.y, [0.4, 0.7])
    assert sel.line.color == model_colour("theorem-full-s0")
    from tsft.analysis.inside import probe_peaks, probe_transfer

    transfer = probe_transfer(probes, probe_peaks(probes))
    fig = f5_transfer(transfer)
    theorem = next(t for t in fig.data if t.name.startswith("theorem-full-s0"))
    assert list(theorem.x) == ["original", "entity_rename", "paraphrase"]
    assert np.allclose(theorem.y, [0.8, 0.7, 0.35])


def test_f6_f7_f8_hold_their_tables():
    cross = pd.DataFrame({"model": "a->b", "layer": [0, 1], "component": "mlp_out", "effect": [0.2, 0.9]})
    fig = f6_across(cross, transplant_rows().assign(ci_low=0.0, ci_high=1.0))
    assert np.allclose(fig.data[0].y, [0.2, 0.9])
    assert list(fig.data[1].x) == ["none", "source", "0", "1", "2", "0-2"]
    weights = pd.DataFrame({"model": "theorem-mlp-s0", "layer": [-1, 0, 1, 0, 1], "block": ["embed", "mlp", "mlp",
                            "attn", "attn"], "change": [0.0, 0.1, 0.3, 0.0, 0.0]})
    fig = f7_weights(weights)
    mlp = next(t for t in fig.data if t.xaxis == "x2")
    assert list(mlp.x) == [0, 1] and np.allclose(mlp.y, [0.1, 0.3])
    templates = pd.DataFrame({"model": "m", "target": "theorem", "params": "full", "seed": 0,
                              "group": ["original", "original", "surface"], "template": ["a", "b", "a"], "n": 5,
                              "accuracy": [0.2, 0.8, 0.4]})
    fig = f8_templates(templates)
    assert [t.type for t in fig.data] == ["violin", "violin"]
    assert np.allclose(fig.data[0].y, [0.2, 0.8])


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_figure_says_plainly_when_its_table_is_missing(name):
    fig = build_figures({})[name]
    assert isinstance(fig, go.Figure) and not fig.data
    assert fig.layout.annotations[0].text.startswith("no data")
    assert fig.layout.title.text.startswith(name.split("_")[0])


def test_render_writes_html_offline_and_says_when_png_is_impossible(tmp_path, monkeypatch, accuracy):
    import tsft.figures.render as render

    monkeypatch.setattr(render, "browser", lambda: None)
    said = []
    written = render_all({"F1_accuracy": f1_accuracy(accuracy)}, tmp_path, log=said.append)
    assert [p.name for p in written] == ["F1_accuracy.html"]
    assert (tmp_path / "plotly.min.js").is_file() and "plotly.min.js" in written[0].read_text()
    assert len(said) == 1 and said[0].startswith("PNG skipped")


def test_vision_figures_hold_the_tables_values():
    from tsft.figures.render import build_figures
    from tsft.figures.vision import f9_groups, f11_reading, reading_sentences

    group_map = pd.DataFrame({"model": ["m"] * 2, "layer": [0, 1], "component": ["mlp_out"] * 2,
                              "group": ["image", "image"], "effect": [0.25, 0.75], "ci_low": [0.1, 0.6],
                              "ci_high": [0.4, 0.9], "n": [5, 5]})
    fig = f9_groups(group_map)
    assert [list(z) for z in fig.data[0].z] == [[0.25, 0.75]] and list(fig.data[0].y) == ["mlp_out @ image"]
    reading = pd.DataFrame({"layer": [0, 1], "component": ["mlp_out"] * 2, "group": ["last"] * 2,
                            "difference": [0.05, 0.5], "ci_low": [-0.1, 0.3], "ci_high": [0.2, 0.7], "n": [9, 9]})
    fig = f11_reading(reading)
    assert list(fig.data[0].y) == [0.05, 0.5] and list(fig.data[0].error_y.array) == pytest.approx([0.15, 0.2])
    (sentence,) = reading_sentences(reading)
    assert "layer 1 = 0.500 [0.300, 0.700]" in sentence and "theorem-SFT relies on it more" in sentence
    (sentence,) = reading_sentences(reading.assign(ci_low=[-0.1, -0.2]))
    assert "no difference is claimed" in sentence
    reading = reading.assign(a="theorem-full-s0", b="answer-full-s0")
    gaps = pd.DataFrame({"model": ["theorem-full-s0", "answer-full-s0"], "gap": [1.0, 0.02],
                         "ci_low": [0.8, -0.1], "ci_high": [1.2, 0.15], "n": [9, 9]})
    guard, _ = reading_sentences(reading, gaps)
    assert guard.startswith("The figure does not move answer-full-s0's read token") and "theorem-full" not in guard
    assert "F9_groups" in build_figures({"group_map": group_map}) and "F9_groups" not in build_figures({})


def test_f17_draws_the_robustness_tables_points():
    """The consistency boxes hold each final checkpoint's P(perturbed right | original right), computed here by
    hand; the effective-robustness lines each run's (original, surface) accuracy per step."""
    from tsft.analysis.robustness import consistency_table, effective_robustness_table
    from tsft.figures.robustness import f17_robustness

    from tests.analysis.conftest import models_table, predictions_for

    original = np.array([1, 1, 1, 1, 0, 0])
    theorem = {"paraphrase": np.array([1, 1, 1, 0, 1, 0], float)}   # keeps 3 of its 4 solved
    answer = {"paraphrase": np.array([1, 0, 0, 0, 0, 1], float)}    # keeps 1 of 4
    frames = [predictions_for("theorem-full-s0", original, theorem, step=s, final=s == 200) for s in (100, 200)]
    frames += [predictions_for("answer-full-s0", original, answer, step=s, final=s == 200) for s in (100, 200)]
    models = models_table(["theorem-full-s0", "answer-full-s0"])
    predictions = pd.concat(frames).merge(models[["model", "target", "params", "seed"]], on="model")
    fig = f17_robustness(consistency_table(predictions), effective_robustness_table(predictions))
    boxes = {t.name: dict(zip(t.x, t.y, strict=True)) for t in fig.data if t.type == "box"}
    assert boxes["theorem-SFT"]["paraphrase"] == pytest.approx(3 / 4)
    assert boxes["answer-SFT"]["paraphrase"] == pytest.approx(1 / 4)
    lines = [t for t in fig.data if t.type == "scatter" and t.mode == "lines+markers"]
    assert len(lines) == 2 and all(list(t.x) == [4 / 6, 4 / 6] for t in lines)
    assert sorted(t.y[0] for t in lines) == pytest.approx([2 / 6, 4 / 6])


def test_summary_rows_are_the_tables_values_and_the_readme_block_is_rewritten_in_place(tmp_path):
    from tsft.figures.summary import BEGIN, END, readme_block, summary_markdown, update_readme

    accuracy = pd.DataFrame({"target": "theorem", "params": "full", "kind": ["original", "surface"],
                             "accuracy": [0.8125, 0.5], "ci_low": [0.7, 0.4], "ci_high": [0.9, 0.6], "n_seeds": 5,
                             "robustness": [np.nan, 0.61538]})
    claims = pd.DataFrame([{"claim": "C1", "verdict": "supported", "value": 0.2, "ci_low": 0.05, "ci_high": 0.35,
                            "n_seeds": 5, "control": "matched", "control_value": np.nan, "glmm_value": np.nan,
                            "note": ""}])
    tables = {"accuracy": accuracy, "claims": claims}
    text = summary_markdown(tables, {"stages": {"sft": 7200.0, "eval": 30.0}, "cores": 2,
                                     "preset": {"name": "real"}}, tmp_path)
    assert "| theorem-full | 5 | 0.812 [0.700, 0.900] | 0.500 [0.400, 0.600] | 0.615 |" in text
    assert "| C1 | supported | 0.200 [0.050, 0.350] | 5 | matched | - |" in text
    assert "sft 120.0 min, eval 30.0 s; in all 2.01 h" in text and "CPU-hours at most 4.0 (2 cores)" in text
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN.format(folder='r')}\nold numbers\n{END}\noutro\n")
    assert update_readme(readme, "r", tables)
    assert readme.read_text() == f"intro\n{BEGIN.format(folder='r')}\n{readme_block(tables)}{END}\noutro\n"
    assert not update_readme(readme, "elsewhere", tables)


def test_f19_and_f20_draw_the_variable_tables_points():
    """F19's lines are das_sites's held-out IIA per layer; F20's bars delta_table's values; the sentences quote the
    first-site and delta tables."""
    from tsft.analysis.variables import das_best, das_first, das_sites, delta_contrast, delta_table
    from tsft.figures.variables import das_sentences, delta_sentences, f19_das, f20_deltas

    from tests.analysis.conftest import models_table, predictions_for
    from tests.analysis.test_variables import _das_rows

    das = _das_rows()
    fig = f19_das(das_sites(das))
    learned = [t for t in fig.data if t.line.dash == "solid"]
    assert len(learned) == 2 and all(list(t.x) == [0, 1, 2, 3] for t in learned)
    assert np.allclose(sorted(learned, key=lambda t: t.y[0])[0].y, [0.0, 0.3, 0.6, 0.9])
    said = das_sentences(das_first(das), das_best(das))
    assert said and "k=4 layer 3 attn_out" in said[0] and "illusion check flags k=4" in said[0]

    rows = [predictions_for("theorem-full-s0", np.ones(4), {"paraphrase": np.array([1, 1, 0, 0.0])})
            .assign(variant=v) for v in ("attn", "all")]
    deltas, models = pd.concat(rows), models_table(["theorem-full-s0"]).assign(variant=None)
    table = delta_table(deltas, models)
    fig = f20_deltas(table)
    bars = {(t.name, t.xaxis): dict(zip(t.x, t.y, strict=True)) for t in fig.data}
    assert bars[("theorem-full", "x2")] == {"attn": 0.5, "all": 0.5}
    lines = delta_sentences(table, delta_contrast(deltas, models))
    assert lines and lines[0].startswith("theorem-full (1 seed)") and "attn - all on surface = 0.000" in lines[0]


def test_lens_and_mib_sentences_quote_their_tables():
    from tsft.figures.instruments import mib_sentences
    from tsft.figures.lenses import lens_sentences

    decodable = pd.DataFrame([{"model": "m", "lens": "logit", "style": "theorem", "kind": k, "decodable_layer": v,
                               "layers": 30} for k, v in (("original", 20), ("paraphrase", 24), ("distractor", None),
                                                          ("entity_rename", 20))])
    said = lens_sentences(decodable)
    assert said == ["m, logit lens, theorem token: decodable on the originals at layer 20 of 30; later or never "
                    "under distractor never, paraphrase 24."]
    none = decodable.assign(decodable_layer=[None, 12, None, None])
    assert lens_sentences(none) == ["m, logit lens, theorem token: decodable on the originals at none of 30 layers; "
                                    "under paraphrase 12."]
    mib = pd.DataFrame([{"model": "m", "ablation": "mean", "ranking": r, "cpr": c, "cmd": d, "n_sites": 6}
                        for r, c, d in (("exact", 0.9, 0.1), ("random:0", 0.2, 0.7), ("random:1", 0.4, 0.5))])
    assert mib_sentences(mib) == ["MIB, m under mean ablation: exact CPR 0.900, CMD 0.100 (random orderings: CPR "
                                  "0.300, CMD 0.600; higher CPR and lower CMD are better)."]
