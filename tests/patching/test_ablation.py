"""Zero, mean and resample ablation against hand-written forwards; faithfulness curves at their endpoints."""

from __future__ import annotations

import pytest
import torch
from tsft.patching.ablation import AblationEngine, ablation_sweep, faithfulness_curve, site_means
from tsft.patching.conditions import PatchRequest
from tsft.patching.engines import HooksEngine
from tsft.patching.metrics import metric
from tsft.patching.sites import Site


def _same_length(pairs, n=3):
    length = len(pairs[0].clean_ids)
    chosen = [p for p in pairs if len(p.clean_ids) == length == len(p.corrupt_ids)][:n]
    assert len(chosen) >= 2
    return chosen


def _hand_metric(model, ids, site_name: str, value, pair):
    """The clean prompt with `site_name` replaced by `value` at every position (a plain forward hook)."""
    from tsft.patching.hooks import intervene

    with torch.no_grad(), intervene(model, edit={site_name: lambda act: value.expand_as(act).to(act)}):
        logits = model(torch.tensor([ids])).logits[:, -1].float()
    with torch.no_grad():
        clean = model(torch.tensor([pair.clean_ids])).logits[:, -1].float()
    return float(metric("logit_diff", logits, torch.tensor([pair.right]), torch.tensor([pair.wrong]), clean))


@pytest.fixture(scope="module")
def rows(llama, swap_pairs):
    pairs = _same_length(swap_pairs)
    request = PatchRequest(components=("mlp_out", "resid_pre"), layers=(0, 1), positions="all")
    return pairs, {(r["method"], r["pair_id"], r["layer"], r["component"]): r
                   for r in ablation_sweep(HooksEngine(llama), pairs, request)}


def test_zero_and_mean_ablation_match_a_hand_written_hook(llama, rows):
    pairs, table = rows
    pair = pairs[0]
    site = Site(1, "mlp_out")
    zero = _hand_metric(llama, pair.clean_ids, site.name, torch.zeros(llama.config.hidden_size), pair)
    assert table[("zero", pair.pair_id, 1, "mlp_out")]["value"] == pytest.approx(zero, abs=1e-4)
    mean = site_means(HooksEngine(llama), pairs, [site])[site]
    by_hand = _hand_metric(llama, pair.clean_ids, site.name, mean, pair)
    assert table[("mean", pair.pair_id, 1, "mlp_out")]["value"] == pytest.approx(by_hand, abs=1e-4)


def test_resample_reads_another_problem_s_corrupt_run(llama, rows):
    """Resampling the embedding (resid_pre of layer 0) at every position is running the other prompt."""
    pairs, table = rows
    first, last = pairs[0], pairs[-1]  # the chunk's rows rotated by one: the first row reads the last's values
    with torch.no_grad():
        other = llama(torch.tensor([last.corrupt_ids])).logits[:, -1].float()
        clean = llama(torch.tensor([first.clean_ids])).logits[:, -1].float()
    expected = float(metric("logit_diff", other, torch.tensor([first.right]), torch.tensor([first.wrong]), clean))
    assert table[("resample", first.pair_id, 0, "resid_pre")]["value"] == pytest.approx(expected, abs=1e-4)
    assert {m for m, *_ in table} == {"zero", "mean", "resample"}


def test_faithfulness_is_one_with_every_site_kept_and_zero_with_none(llama, swap_pairs):
    pairs = _same_length(swap_pairs, 2)
    ranked = [Site(layer, c) for layer in (1, 0) for c in ("mlp_out", "attn_out")]
    request = PatchRequest(components=("mlp_out", "attn_out"))
    for mode in ("zero", "mean", "resample"):
        curve = {r["k"]: r for r in faithfulness_curve(HooksEngine(llama), pairs, ranked, [0, 2, 4], mode, request)}
        assert curve[4]["faithfulness"] == pytest.approx(1.0) and curve[0]["faithfulness"] == pytest.approx(0.0)
        assert curve[2]["full"] == curve[4]["value"]


def test_ablation_engine_refuses_unknown_modes_and_mean_without_means(llama):
    with pytest.raises(ValueError, match="unknown ablation"):
        AblationEngine(HooksEngine(llama), "gaussian")
    with pytest.raises(ValueError, match="reference means"):
        AblationEngine(HooksEngine(llama), "mean")


def test_random_direction_control_moves_as_far_as_the_other_checkpoint_in_another_direction(llama):
    from tsft.patching.ablation import RandomDirectionEngine

    from tests.patching.test_cross import mlp_only_tuned

    tuned = mlp_only_tuned(llama)
    source, dest = HooksEngine(tuned), HooksEngine(llama)
    ids = torch.randint(5, 200, (2, 9), generator=torch.Generator().manual_seed(3))
    sites = [Site(0, "resid_pre"), Site(1, "attn_out")]
    control = RandomDirectionEngine(source, dest, seed=0).capture(ids, sites)
    a, b = source.capture(ids, sites), dest.capture(ids, sites)
    for site in sites:
        gap, moved = (a[site] - b[site]).float(), (control[site] - b[site]).float()
        torch.testing.assert_close(moved.norm(dim=-1), gap.norm(dim=-1), atol=1e-5, rtol=1e-4)
    assert float(control[sites[0]].sub(b[sites[0]]).abs().max()) == 0  # same embeddings: nowhere to move
    cosine = torch.nn.functional.cosine_similarity(control[sites[1]] - b[sites[1]], a[sites[1]] - b[sites[1]], dim=-1)
    assert float(cosine.abs().max()) < 0.5  # another direction
    again = RandomDirectionEngine(source, dest, seed=0).capture(ids, sites)
    assert torch.equal(again[sites[1]], control[sites[1]])  # seeded
