"""Distributed alignment search: the interchange against a second engine, a planted variable found, the items.

* Agreement: DAS's interchange (prefix cache, positions p.. only, hooks) against nnsight running the whole
  sequence with the patched activation computed by hand in float64 from nnsight's own capture.
* Planted ground truth: a tiny Llama whose two "ask" tokens differ only along a known direction u of the
  embedding. At layer 0's input the base and source runs differ only along u, so a 1-dimensional subspace
  carries the variable when it is near u: DAS must find it (|<w, u>| well above a random direction's, held-out
  IIA near 1), a random direction must not, and the used-space check must not call it an illusion. (DAS's
  cross-entropy is lowest slightly off u, where the label is more confident than in the true counterfactual
  run, so |<w, u>| settles near 0.9, not 1.)
"""

from __future__ import annotations

from unittest import mock

import pytest
import torch
from tsft.patching.das import (
    MIN_STEPS,
    Interchanger,
    fit_basis,
    interchange,
    principal_basis,
    random_basis,
    used_space,
    within,
)
from tsft.patching.das_items import DasExample, DasItem, make_examples, make_items
from tsft.patching.engines import make_engine
from tsft.patching.sites import Site

from tests.conftest import tiny


def _swap_examples(items):
    return [DasExample(b, s, items[b].labels[items[s].theorem], "swap") for b in range(len(items))
            for s in range(len(items)) if items[s].surface == items[b].surface and s != b]


@pytest.mark.parametrize("site", [Site(1, "resid_post"), Site(0, "mlp_out"), Site(1, "attn_out")], ids=str)
@pytest.mark.parametrize("position", ["last", "ask"])
def test_interchange_matches_nnsight_on_the_whole_sequence(arch_model, tokenizer, dataset, site, position):
    items = make_items(dataset.test, tokenizer, "theorem", limit=6)
    runner = Interchanger(arch_model, items, [site])
    examples = _swap_examples(items)
    basis = random_basis(arch_model.config.hidden_size, 4, seed=3)
    engine = make_engine("nnsight", arch_model, tokenizer)
    checked = 0
    for group in runner.groups(examples):
        chosen = [examples[e] for e in group]
        with torch.no_grad():
            ours = runner.logits(site, position, chosen, basis)
        for row, example in enumerate(chosen):
            base, source = items[example.base], items[example.source]
            h_base = engine.capture(torch.tensor([base.ids]), [site])[site][0].double()
            h_source = engine.capture(torch.tensor([source.ids]), [site])[site][0].double()
            p, q = base.at[position], source.at[position]
            w = basis.double()
            values = h_base.clone()
            values[p] = h_base[p] - h_base[p] @ w.T @ w + h_source[q] @ w.T @ w
            mask = torch.zeros(1, len(base.ids), dtype=torch.bool)
            mask[0, p] = True
            theirs = engine.run(torch.tensor([base.ids]), {site: (mask, values[None].float())})
            torch.testing.assert_close(ours[row:row + 1], theirs, atol=1e-4, rtol=1e-4)
            checked += 1
    assert checked == len(examples) > 0


def _planted(tokenizer, seed: int = 0, n: int = 96, length: int = 12, pairs: int = 6):
    """A tiny Llama (head untied and sharpened) with embed[B_j] = embed[A_j] + c_j u for `pairs` token pairs (c_j
    of both signs and several sizes), and prompts that differ only at their last token (A_j vs B_j). The variable is the
    coordinate along u; only u carries it for every pair."""
    model = tiny(tokenizer, "llama", seed=seed)
    model.lm_head.weight = torch.nn.Parameter(20 * model.lm_head.weight.detach())  # confident: labels are sharp
    embed = model.get_input_embeddings().weight
    generator = torch.Generator().manual_seed(seed)
    u = torch.nn.functional.normalize(torch.randn(embed.shape[1], generator=generator), dim=0)
    tokens = [(7 + 2 * j, 8 + 2 * j) for j in range(pairs)]
    with torch.no_grad():
        for j, (a, b) in enumerate(tokens):
            embed[b] = embed[a] + (2 + j % 3) * (-1) ** j * embed[a].norm() * u
    items = []
    for i in range(n):
        ids = torch.randint(30, embed.shape[0], (length,), generator=generator)
        a, b = tokens[i % pairs]
        pair = []
        for token in (a, b):
            ids[-1] = token
            with torch.no_grad():
                pair.append((tuple(ids.tolist()), int(model(ids[None]).logits[0, -1].argmax())))
        (ids_a, pred_a), (ids_b, pred_b) = pair
        if pred_a == pred_b:
            continue
        labels = {"A": pred_a, "B": pred_b}
        at = {"last": length - 1, "ask": length - 1}
        items += [DasItem(ids_a, at, "A", "t", f"s{i}", labels), DasItem(ids_b, at, "B", "t", f"s{i}", labels)]
    return model, items, u


def test_das_finds_a_planted_direction_and_a_random_one_does_not(tokenizer):
    model, items, u = _planted(tokenizer)
    model.requires_grad_(False)
    site = Site(0, "resid_pre")
    runner = Interchanger(model, items, [site])
    assert all(runner.correct())
    examples = make_examples(items, runner.correct(), per_base=0)
    surfaces = sorted({items[e.base].surface for e in examples})
    assert len(surfaces) >= 12, "too few prompts whose output depends on the ask token"
    held = set(surfaces[: len(surfaces) // 3])
    train = [e for e in examples if items[e.base].surface not in held]
    test = [e for e in examples if items[e.base].surface in held]
    learned = fit_basis(runner, site, "ask", train, k=1, epochs=20, lr=0.02, seed=0)
    assert abs(float(learned[0] @ u)) > 0.8  # a random direction of this width: about 0.09
    assert runner.iia(site, "ask", test, learned) >= 0.9
    assert runner.iia(site, "ask", test, random_basis(u.numel(), 1, seed=5)) <= 0.2
    assert runner.iia(site, "ask", test, torch.eye(u.numel())) == 1.0
    space = used_space(runner.covariance(site))
    inside, outside = within(learned, space)
    held_out = runner.iia(site, "ask", test, learned)
    assert outside < 0.1 and runner.iia(site, "ask", test, inside) >= held_out - 0.05  # the used part carries it


def test_a_fit_depends_only_on_its_seed(tokenizer):
    """The orthogonal parametrization draws the rest of its rotation from the global generator: a fit must not
    change with that generator's state, and a fit of few examples still takes MIN_STEPS steps."""
    model, items, _ = _planted(tokenizer)
    model.requires_grad_(False)
    site = Site(0, "resid_pre")
    runner = Interchanger(model, items, [site])
    examples = make_examples(items, runner.correct(), per_base=0)[:8]
    fits = []
    for disturbance in (1, 2):
        torch.manual_seed(disturbance)
        fits.append(fit_basis(runner, site, "ask", examples, k=2, epochs=1, lr=0.02, seed=3))
    assert torch.equal(fits[0], fits[1])
    steps = []
    original = torch.optim.Adam.step
    with mock.patch.object(torch.optim.Adam, "step", lambda self, *a, **k: steps.append(1) or original(self, *a, **k)):
        fit_basis(runner, site, "ask", examples, k=2, epochs=1, lr=0.02, seed=3)
    assert len(steps) == MIN_STEPS


def test_interchange_swaps_only_the_subspace():
    basis = random_basis(16, 3, seed=0)
    assert torch.allclose(basis @ basis.T, torch.eye(3), atol=1e-5)
    base, source = torch.randn(5, 16), torch.randn(5, 16)
    mixed = interchange(base, source, basis)
    torch.testing.assert_close(mixed @ basis.T, source @ basis.T)
    outside = torch.eye(16) - basis.T @ basis
    torch.testing.assert_close(mixed @ outside, base @ outside)


def test_principal_and_used_space_read_planted_variance():
    generator = torch.Generator().manual_seed(0)
    directions = torch.linalg.qr(torch.randn(20, 2, generator=generator))[0].T
    vectors = torch.randn(500, 2, generator=generator) * torch.tensor([10.0, 5.0]) @ directions
    vectors += 1e-3 * torch.randn(500, 20, generator=generator)
    top = principal_basis(vectors, 1)
    assert abs(float(top[0] @ directions[0])) > 0.99
    space = used_space(torch.cov(vectors.T))
    assert space.shape[0] == 2
    _, outside = within(directions, space)
    assert outside < 1e-3
    _, outside = within(random_basis(20, 1, seed=1) - (random_basis(20, 1, seed=1) @ space.T) @ space, space)
    assert outside > 0.999


def test_items_label_both_theorems_and_examples_pair_them_as_named(tokenizer, dataset):
    from tsft.patching.pairs import prepare_pairs
    from tsft.tasks.pairs import theorem_swap_pairs

    items = make_items(dataset.test, tokenizer, "theorem", limit=8)
    prepared, _ = prepare_pairs(theorem_swap_pairs(dataset.test), tokenizer, "theorem")
    by_ids = {p.clean_ids: p for p in prepared} | {p.corrupt_ids: p for p in prepared}
    for item in items:
        pair = by_ids[item.ids]
        assert set(item.labels.values()) >= {pair.right, pair.wrong}
        side = pair.clean_spans if item.ids == pair.clean_ids else pair.corrupt_spans
        assert item.at["ask"] in side["diff"] and item.at["last"] == len(item.ids) - 1
        assert item.ids[item.at["ask"]] != (pair.corrupt_ids if item.ids == pair.clean_ids else pair.clean_ids)[
            item.at["ask"]]
    examples = make_examples(items, [True] * len(items), per_base=2, seed=0)
    assert {e.pairing for e in examples} == {"swap", "cross"}
    for e in examples:
        base, source = items[e.base], items[e.source]
        assert base.theorem != source.theorem and e.label == base.labels[source.theorem] != base.own
        assert (base.surface == source.surface) == (e.pairing == "swap")
        assert (base.template != source.template) == (e.pairing == "cross")
    assert make_examples(items, [False] * len(items)) == []


def test_the_used_space_ignores_an_attention_sinks_massive_activation():
    """A first position 1000x larger than the rest would put all the variance in its own direction; `typical`
    leaves it (and any other massive row) out, so the used space keeps the rank of the ordinary positions."""
    from tsft.patching.das import typical

    generator = torch.Generator().manual_seed(0)
    activations = torch.randn(8, 20, 16, generator=generator)
    activations[:, 0] = 1000 * torch.nn.functional.normalize(torch.ones(16), dim=0)
    activations[3, 7] *= 500
    kept = typical(activations)
    assert kept.shape == (8 * 19 - 1, 16) and kept.norm(dim=-1).max() < 20
    assert used_space(torch.cov(activations.flatten(0, 1).T)).shape[0] <= 2  # the two massive rows
    assert used_space(torch.cov(kept.T)).shape[0] >= 14
