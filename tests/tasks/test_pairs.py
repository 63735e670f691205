"""Minimal pairs: what differs between the sides, and the token-length check under real tokenizers."""

from __future__ import annotations

import re

import pytest
from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
from tsft.tasks.pairs import MinimalPair, align, check_pairs, surface_pairs, theorem_swap_pairs
from tsft.tasks.world.catalogue import get_theorem, siblings, tokenizer_corpus
from tsft.tasks.world.generate import WorldConfig, generate_split

WORD_PATTERN = r"\d|[A-Z](?=[A-Z])|[A-Za-z']+|[^\sA-Za-z\d]"


@pytest.fixture(scope="module")
def originals():
    return generate_split(WorldConfig(seed=7, n_train=0, n_test=120), "test", 120)


@pytest.fixture(scope="module")
def word_tokenizer():
    """A WordLevel tokenizer (digits and capital runs split), trained on the world's corpus."""
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated")])
    tok.train_from_iterator(tokenizer_corpus().split("\n") + [str(d) for d in range(10)],
                            trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    return tok


def test_theorem_swap_pairs_differ_only_in_the_ask_word(originals):
    pairs = theorem_swap_pairs(originals)
    with_sibling = [p for p in originals if siblings(p.theorems[0].theorem_id)]
    assert len(pairs) == len(with_sibling) > 0
    for pair in pairs:
        clean_theorem = get_theorem(pair.clean.theorems[0].theorem_id)
        corrupt_theorem = get_theorem(pair.corrupt.theorems[0].theorem_id)
        assert clean_theorem.family is corrupt_theorem.family and clean_theorem is not corrupt_theorem
        clean_words, corrupt_words = re.findall(r"[\w']+", pair.clean.text), re.findall(r"[\w']+", pair.corrupt.text)
        assert len(clean_words) == len(corrupt_words)
        changed = {(a, b) for a, b in zip(clean_words, corrupt_words, strict=True) if a != b}
        assert {a for a, _ in changed} <= set(clean_theorem.ask.split())
        assert {b for _, b in changed} <= set(corrupt_theorem.ask.split())
        assert pair.clean.surface == pair.corrupt.surface
    assert sum(p.answers_differ for p in pairs) > 0.8 * len(pairs)


def test_surface_pairs_keep_rule_and_answer(originals):
    pairs = surface_pairs(originals)
    assert {p.kind for p in pairs} == {"surface:entity_rename", "surface:letter_rename"}
    for pair in pairs:
        assert pair.clean.theorem_ids == pair.corrupt.theorem_ids
        assert pair.clean.answer == pair.corrupt.answer and pair.clean.text != pair.corrupt.text


def test_word_level_tokenizer_keeps_every_pair_aligned(originals, word_tokenizer):
    def encode(text):
        return word_tokenizer.encode(text).ids

    pairs = theorem_swap_pairs(originals) + surface_pairs(originals)
    result = check_pairs(pairs, encode)
    assert not result.rejected, result.rejected[:3]
    assert len(result.accepted) == len(pairs)
    unk = word_tokenizer.token_to_id("[UNK]")
    for checked in result.accepted:
        assert len(checked.clean_ids) == len(checked.corrupt_ids) and checked.alignment is None
        assert unk not in checked.clean_ids and unk not in checked.corrupt_ids


def test_unequal_pairs_are_reported_not_used(originals):
    def bytes_of(text):  # a byte-level tokenizer: "area" and "perimeter" differ in length
        return list(text.encode())

    pairs = [p for p in theorem_swap_pairs(originals) if p.clean.meta["family"] == "rectangle"]
    assert pairs
    result = check_pairs(pairs, bytes_of)
    assert not result.accepted and len(result.rejected) == len(pairs)
    assert all(re.search(r"token lengths differ: \d+ vs \d+", reason) for _, reason in result.rejected)

    aligned = check_pairs(pairs, bytes_of, allow_alignment=True)
    assert len(aligned.accepted) == len(pairs)
    for checked in aligned.accepted:
        spans, c, k = checked.alignment, checked.clean_ids, checked.corrupt_ids
        assert c[: spans.prefix] == k[: spans.prefix]
        assert c[len(c) - spans.suffix:] == k[len(k) - spans.suffix:]
        clean_middle = bytes(c[slice(*spans.clean_span)]).decode()
        corrupt_middle = bytes(k[slice(*spans.corrupt_span)]).decode()
        assert {clean_middle, corrupt_middle} == {"area", "perimeter"}


def test_identical_sides_are_rejected(originals):
    pair = MinimalPair("theorem_swap", originals[0], originals[0])
    result = check_pairs([pair], lambda text: list(text.encode()))
    assert result.rejected and "identically" in result.rejected[0][1]


@pytest.mark.parametrize(("clean", "corrupt", "prefix", "suffix"), [
    ([1, 2, 3, 4], [1, 9, 9, 3, 4], 1, 2),
    ([5, 6], [5, 6, 7], 2, 0),
    ([1, 2, 3], [4, 2, 3], 0, 2),
])
def test_align_finds_shared_prefix_and_suffix(clean, corrupt, prefix, suffix):
    spans = align(clean, corrupt)
    assert (spans.prefix, spans.suffix) == (prefix, suffix)
    assert spans.clean_span == (prefix, len(clean) - suffix)
    assert spans.corrupt_span == (prefix, len(corrupt) - suffix)
