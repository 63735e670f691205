"""Base pretraining for the synthetic world: tokenizer + random model + the neutral corpus.

`train_base` trains the world's tokenizer (training.tokenizer), builds a Llama (or Qwen2) model
from a size preset, packs the neutral corpus (training.corpus: theorem statements, arithmetic
facts, unsolved problem texts; a STAND-IN for pretraining) into blocks, and trains next-token
prediction on every token. 5% of the blocks are held out for the periodic evaluation loss. The
result is a standard HF folder every SFT variant starts from.

A vision base (`arch=qwen2_5_vl`, the diagram world) is a Qwen2.5-VL model whose text corpus holds
diagram problem texts instead, plus figure captions: a figure, then the value it marks ("Figure:
angle = 50"), with the loss on the caption. Like a VLM's alignment stage, this teaches the vision
tower and the language model to read the marked value off a figure (`caption_value` at each
evaluation says how often it does); it never pairs a problem with its answer or its rule, and every
parameter (vision tower included) trains.
"""

from __future__ import annotations

from pathlib import Path

from tsft.models.cards import git_commit
from tsft.models.images import ARCH, attach, image_encoder
from tsft.models.loading import build_model, load_model
from tsft.models.params import parameter_counts
from tsft.models.tokenizer import world_tokenizer
from tsft.models.vision import image_processor_for, vision_tokenizer
from tsft.training import checkpoint
from tsft.training.batches import pack_blocks
from tsft.training.captions import caption_accuracy, caption_examples
from tsft.training.config import BaseConfig, config_dict
from tsft.training.corpus import diagram_documents, neutral_documents
from tsft.training.distributed import Dist, device_for, init, seed_everything
from tsft.training.trainer import Run, Trainer, heldout_loss

HELDOUT_FRACTION = 0.05
CAPTION_EVAL = 64
"""Held-out figure captions a vision base is scored on at each evaluation (greedy)."""


def corpus_blocks(tokenizer, config: BaseConfig, out: Path | None = None) -> tuple[list, list]:
    """(train blocks, held-out blocks) of the neutral corpus; a vision base adds figure captions,
    whose figures are drawn into OUT/corpus_figures."""
    vision = config.arch == ARCH
    documents = diagram_documents if vision else neutral_documents
    docs = documents(config.n_facts, config.n_problems, config.seed, config.max_operand)
    streams = (tokenizer(doc, add_special_tokens=False)["input_ids"] for doc in docs)
    blocks = pack_blocks(streams, tokenizer.eos_token_id, config.block_size)
    n_heldout = max(1, int(len(blocks) * HELDOUT_FRACTION))
    train, heldout = blocks[n_heldout:], blocks[:n_heldout]
    if vision:
        captions = caption_examples(tokenizer, config, Path(out) / "corpus_figures")
        n_caption = max(1, int(len(captions) * HELDOUT_FRACTION))
        train, heldout = train + captions[n_caption:], heldout + captions[:n_caption]
    return train, heldout


def train_base(out: str | Path, config: BaseConfig, resume: bool = False, overwrite: bool = False,
               progress: bool = True, dist: Dist | None = None) -> dict:
    """Pretrain a synthetic-world base into `out` (locked while it trains); returns the run card."""
    dist = dist or init()
    return checkpoint.guarded(Path(out), overwrite, resume, dist.main, lambda folder, replace: _train_base(
        folder, config, resume, replace, progress, dist))


def _train_base(out: Path, config: BaseConfig, resume: bool, overwrite: bool, progress: bool, dist: Dist) -> dict:
    seed_everything(config.seed)
    card = {"kind": "base", "name": out.name, "git_commit": git_commit(), "world_size": dist.world,
            "corpus": "neutral stand-in for pretraining (training.corpus)"}
    state, resume_from, card = checkpoint.open_run(out, resume, overwrite, card, config_dict(config), (),
                                                   log=print if progress and dist.main else None)
    if state == "complete":
        return card
    if resume_from is not None:
        model, tokenizer = load_model(resume_from)
    elif config.arch == ARCH:
        tokenizer = attach(vision_tokenizer(), image_processor_for(config.figure_size))
        model = build_model(config.preset, tokenizer, config.arch, config.seed)
    else:
        tokenizer = world_tokenizer()
        model = build_model(config.preset, tokenizer, config.arch, config.seed)
    train, heldout = corpus_blocks(tokenizer, config, out)
    card["parameters"] = parameter_counts(model)
    card["corpus_blocks"] = {"train": len(train), "heldout": len(heldout), "block_size": config.block_size}

    def evaluate(m, step: int) -> dict:
        scores = {"heldout_loss": round(heldout_loss(m, heldout, tokenizer.pad_token_id,
                                                     images=image_encoder(tokenizer)), 6)}
        if config.arch == ARCH:  # does the base read figures? (the SFT comparison needs it to)
            scores |= caption_accuracy(m, tokenizer, heldout[-CAPTION_EVAL:])
        return scores

    run = Run(model=model, tokenizer=tokenizer, examples=train, out=out, card=card, dist=dist,
              device=device_for(dist), evaluate=evaluate, progress=progress)
    return Trainer(run, config, resume_from).fit()
