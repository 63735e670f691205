"""A word-level tokenizer for the synthetic world, trained locally on the world's own text.

Every word the world can write (templates, held-out phrasings, names, letters, theorem
statements, the SFT target formats) is one token; digits are split one per token, and runs of
capital letters ("PQR") are split per letter, so vertex renames and number changes touch the
fewest tokens and minimal pairs keep equal lengths more often. A space is kept as a "▁" prefix
on the token after it (Metaspace), so decoding gives back the exact text: "180 - 80" is
["▁1", "8", "0", "▁-", "▁8", "0"] and decodes to "180 - 80", not "1 8 0 - 8 0". Words outside the vocabulary
become `<unk>`: this tokenizer is for the synthetic world only; real models bring their own.

Saved as a `PreTrainedTokenizerFast` folder. Load it with `load_tokenizer` (which picks
`PreTrainedTokenizerFast` for tsft's own tokenizers: `AutoTokenizer` on a Qwen2 folder would
re-tokenize a WordLevel vocabulary wrongly: it rebuilds the tokenizer from the slow Qwen2 BPE class, which
splits every word into characters the WordLevel vocabulary does not have).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from tsft.models.targets import format_vocabulary, render_target
from tsft.tasks.world.catalogue import tokenizer_corpus
from tsft.tasks.world.generate import WorldConfig, generate_split
from tsft.tasks.world.perturb import KINDS, perturb_all

WORD_PATTERN = r"▁?(?:\d|[A-Z](?=[A-Z])|[A-Za-z']+|[^A-Za-z\d▁ ])|▁"
SPECIAL = {"pad_token": "<pad>", "bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>"}
MARKER = "tsft-wordlevel"


def train_tokenizer(texts: Iterable[str]):
    """A `PreTrainedTokenizerFast` whose vocabulary is every word in `texts` (plus specials)."""
    from transformers import PreTrainedTokenizerFast

    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=False),
        pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated")])
    words = dict.fromkeys(piece.lstrip("▁") for text in texts for piece, _ in pre.pre_tokenize_str(text))
    words.update(dict.fromkeys("0123456789"))
    vocab = {token: i for i, token in enumerate(SPECIAL.values())}
    for word in (w for w in words if w):  # each word at a line start and after a space
        for form in (word, "▁" + word):
            vocab.setdefault(form, len(vocab))
    vocab.setdefault("▁", len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIAL["unk_token"]))
    tok.pre_tokenizer = pre
    bos = SPECIAL["bos_token"]
    tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A $B",
                                                       special_tokens=[(bos, tok.token_to_id(bos))])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="never", split=False)
    return PreTrainedTokenizerFast(tokenizer_object=tok, padding_side="right", **SPECIAL, tsft=MARKER,
                                   model_input_names=["input_ids", "attention_mask"])


def world_tokenizer(sample: int = 800):
    """The synthetic world's tokenizer: its corpus, the target formats, and the theorem targets of a
    sample of problems and all their perturbations (premises, bindings and conclusions add words)."""
    problems = generate_split(WorldConfig(seed=7), "test", sample)
    problems += [p.problem for kind in perturb_all(problems, list(KINDS), seed=7)[0].values() for p in kind]
    rendered = [p.text + render_target(p, "theorem") for p in problems]
    return train_tokenizer([tokenizer_corpus(), format_vocabulary(), *rendered])


def is_tsft_tokenizer(folder: str | Path) -> bool:
    config = Path(folder) / "tokenizer_config.json"
    return config.is_file() and MARKER in config.read_text()

