"""Lenses against independent computations: the logit lens at the last layer is the model's own next-token
distribution; the read token is the first token after the target's marker; a fitted tuned lens is closer to the
model's final distribution than the logit lens on the prompts it was fitted on; decodable layers of a planted
table."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from tsft.models.prompts import encode_target
from tsft.models.targets import render_target
from tsft.probes.lens import (
    _kl,
    fit_tuned_lens,
    last_residuals,
    lens_logits,
    lens_rows,
    read_point,
)
from tsft.probes.lens_tables import decodable_layer

from tests.conftest import tiny


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_the_logit_lens_at_the_last_layer_is_the_models_own_output(arch, tokenizer, dataset):
    model = tiny(tokenizer, arch)
    point = read_point(dataset.test[0], tokenizer, "theorem")
    with torch.no_grad():
        own = model(torch.tensor([list(point.ids)])).logits[0, -1].float()
    lens = lens_logits(model, last_residuals(model, point.ids))
    torch.testing.assert_close(lens[-1], own, atol=1e-4, rtol=1e-4)


def test_the_read_token_is_the_first_after_the_marker(tokenizer, dataset):
    problem = dataset.test[0]
    point = read_point(problem, tokenizer, "theorem")
    text = render_target(problem, "theorem")
    name = text[text.index("Theorem:") + len("Theorem:"):]
    assert point.right == encode_target(tokenizer, name)[0]
    answer = read_point(problem, tokenizer, "answer")
    first = tokenizer.decode([answer.right]).strip()
    assert first and str(problem.answer).startswith(first)


def test_a_fitted_tuned_lens_is_closer_to_the_final_distribution_than_the_logit_lens(tokenizer, dataset):
    model = tiny(tokenizer, "llama")
    inputs = [read_point(p, tokenizer, "theorem").ids for p in dataset.train[:12]]
    translators = fit_tuned_lens(model, inputs, "kl", steps=60, lr=1e-2)

    def mean_kl(lens_translators):
        total = 0.0
        for ids in inputs:
            with torch.no_grad():
                final = model(torch.tensor([list(ids)])).logits[0, -1].float().log_softmax(-1)
                logits = lens_logits(model, last_residuals(model, ids), lens_translators)
            total += float(_kl(final[None].expand(len(logits), -1), logits))
        return total / len(inputs)

    assert mean_kl(translators) < mean_kl(None)
    closed = fit_tuned_lens(model, inputs)  # lstsq: the last layer's translator is the identity, the rest closer
    last = closed[-1].linear
    assert float(last.weight.abs().max()) < 1e-3 and float(last.bias.abs().max()) < 1e-3
    assert mean_kl(closed) < mean_kl(None)


def test_lens_rows_and_the_decodable_layer():
    table = pd.DataFrame({"kind": ["original"] * 6 + ["paraphrase"] * 2, "layer": [0, 0, 1, 1, 2, 2, 2, 2],
                          "rank": [3, 1, 0, 2, 0, 0, 5, 4]})
    assert decodable_layer(table) == 1 and decodable_layer(table, "paraphrase") is None
    assert decodable_layer(table, share=0.9) == 2


def test_rows_hold_probability_and_rank_per_layer(tokenizer, dataset):
    model = tiny(tokenizer, "llama")
    points = [read_point(p, tokenizer, "answer") for p in dataset.test[:3]]
    rows = pd.DataFrame(lens_rows(model, points))
    assert len(rows) == 3 * model.config.num_hidden_layers and rows["prob"].between(0, 1).all()
    assert (rows["rank"] >= 0).all() and set(rows["lens"]) == {"logit"}


def test_tsft_probe_lens_writes_both_lenses_per_kind(tiny_model_dir, data_dir, tmp_path):
    import json

    from typer.testing import CliRunner

    from tsft.cli import app

    result = CliRunner().invoke(app, ["probe", "lens", "--model", str(tiny_model_dir), "--data", str(data_dir),
                                      "--out", str(tmp_path / "lens"), "--limit", "4", "--kinds", "paraphrase",
                                      "--tuned", "lstsq"], env={"TQDM_DISABLE": "1"})
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(tmp_path / "lens" / "lens.parquet")
    assert set(table["lens"]) == {"logit", "tuned"} and set(table["kind"]) == {"original", "paraphrase"}
    assert table.groupby(["lens", "problem_id"])["layer"].nunique().eq(2).all()  # every layer of the tiny model
    decodable = json.loads((tmp_path / "lens" / "request.json").read_text())["decodable"]
    assert set(decodable["tiny"]) == {"logit", "tuned"} and "first decodable layer" in result.output


def test_lens_results_reach_the_tables_and_f18(tiny_model_dir, data_dir, tmp_path):
    """A lens folder is collected; its summary's top-1 shares are the rows' by hand, the decodable table names
    the first layer reaching one half, and F18 draws the summary's points."""
    from tsft.analysis.collect import collect
    from tsft.analysis.tables import analysis_tables
    from tsft.figures.lenses import f18_lens
    from tsft.probes.lens import run_lens

    rows, _ = run_lens([tiny_model_dir], data_dir, tmp_path / "lens", kinds=("paraphrase",), limit=4, progress=False)
    tables = analysis_tables(collect(tmp_path))
    summary = tables["lens"].set_index(["lens", "kind", "layer"])
    by_hand = rows.assign(top1=rows["rank"] == 0).groupby(["lens", "kind", "layer"])["top1"].mean()
    assert summary["top1"].sort_index().to_dict() == pytest.approx(by_hand.sort_index().to_dict())
    decodable = tables["lens_decodable"].set_index(["lens", "kind"])["decodable_layer"]
    for (lens, kind), layer in decodable.items():
        shares = by_hand.loc[(lens, kind)]
        first = shares[shares >= 0.5]
        assert (None if not len(first) or pd.isna(layer) else int(layer)) == (int(first.index.min()) if len(first)
                                                                               else None)
    fig = f18_lens(tables["lens"])
    drawn = {(t.name, t.line.dash): list(t.y) for t in fig.data if t.type == "scatter"}
    assert any(values == pytest.approx(by_hand.loc[("logit", "original")].tolist()) for values in drawn.values())
