"""Supervised fine-tuning runs: one (base, data, target, params, seed) -> one checkpoint folder,
and the comparison matrix (targets x parameter selections x seeds) from one base.

Every run of a comparison uses the same base, problems, prompt format, optimizer settings and
number of steps; only the target (and the selection) changes. The run card records the tokens
and target tokens each run saw, so budgets can be compared across target styles.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tsft.models.cards import git_commit, run_name
from tsft.models.loading import load_model
from tsft.models.params import apply_selection, parameter_counts, parse_selection
from tsft.models.prompts import PromptFormat, prompt_text, set_prompt_format
from tsft.models.targets import check_renderable, check_target, render_target
from tsft.tasks.dataset import load_dataset
from tsft.tasks.guards import check_trainable
from tsft.tasks.io import sha256_file
from tsft.training import checkpoint
from tsft.training.batches import sft_example
from tsft.training.config import SFTConfig, config_dict
from tsft.training.distributed import Dist, device_for, init, seed_everything
from tsft.training.periodic import make_evaluator
from tsft.training.trainer import Run, Trainer


def encode_problems(problems, tokenizer, target: str, max_length: int, where: str) -> list:
    examples = []
    for problem in problems:
        try:
            examples.append(sft_example(tokenizer, prompt_text(problem, tokenizer),
                                        render_target(problem, target), max_length, problem.image))
        except ValueError as err:
            raise ValueError(f"{where}: problem {problem.id}: {err}") from err
    return examples


def _trainable_state(model) -> dict:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def _lora_hooks(selection) -> tuple[Callable | None, Callable | None]:
    if selection.kind != "lora":
        return None, None
    return _trainable_state, lambda model: copy.deepcopy(model).merge_and_unload()


def train_sft(base: str | Path, data: str | Path, out: str | Path, config: SFTConfig, resume: bool = False,
              overwrite: bool = False, progress: bool = True, dist: Dist | None = None,
              variant: str | None = None, report: Callable[[str], None] | None = None) -> dict:
    """Fine-tune `base` on `data`'s train split; returns the run card (status 'complete'). `variant` marks a run
    that is not one of its arm's seeds (a learning-rate trial, the memorization arm, a token-matched control):
    recorded in the card, so analyses keep it apart. `report` gets one line per evaluation (a log's progress). The
    run folder is locked while it trains (a second writer is refused); --overwrite replaces a finished run only once
    the new one is complete."""
    dist = dist or init()
    return checkpoint.guarded(Path(out), overwrite, resume, dist.main, lambda folder, replace: _train_sft(
        base, data, folder, config, resume, replace, progress, dist, variant, report))


def _train_sft(base, data, out: Path, config: SFTConfig, resume: bool, overwrite: bool, progress: bool, dist: Dist,
               variant: str | None, report: Callable[[str], None] | None = None) -> dict:
    data = Path(data)
    selection = parse_selection(config.params)
    dataset = load_dataset(data)
    check_trainable(dataset.manifest, data, config.allow_eval_data)
    train = dataset.split("train")
    check_renderable(train, config.target, f"{data}/train.jsonl")
    card = {"kind": "sft", "name": out.name, "base": str(Path(base).resolve()),
            "data": str(data.resolve()), "data_manifest_sha256": sha256_file(data / "manifest.json"),
            "git_commit": git_commit(), "world_size": dist.world, "variant": variant}
    state, resume_from, card = checkpoint.open_run(out, resume, overwrite, card, config_dict(config),
                                                   ("base", "data_manifest_sha256", "variant"),
                                                   log=print if progress and dist.main else None)
    if state == "complete":
        return card
    weights = resume_from if resume_from is not None and selection.kind != "lora" else base
    model, tokenizer = load_model(weights)
    set_prompt_format(tokenizer, PromptFormat(system=config.system))
    seed_everything(config.seed)
    model = apply_selection(model, selection, config.lora_rank, config.lora_alpha)
    if resume_from is not None and selection.kind == "lora":
        adapter = checkpoint.load_adapter(resume_from)
        model.load_state_dict(adapter, strict=False)
    card["parameters"] = parameter_counts(model)
    examples = encode_problems(train, tokenizer, config.target, config.max_length, f"{data}/train.jsonl")
    evaluate, card["eval_split"] = make_evaluator(
        tokenizer, dataset, config, out,
        lambda problems, split: encode_problems(problems, tokenizer, config.target, config.max_length,
                                                f"{data}/{split}.jsonl"))
    adapter, export = _lora_hooks(selection)
    run = Run(model=model, tokenizer=tokenizer, examples=examples, out=out, card=card, dist=dist,
              device=device_for(dist), evaluate=evaluate, adapter=adapter, export=export, progress=progress,
              report=report)
    return Trainer(run, config, resume_from).fit()


def matrix_runs(targets: Sequence[str], params: Sequence[str], seeds: Sequence[int]) -> list[tuple[str, str, int]]:
    return list(itertools.product(targets, params, seeds))


def train_matrix(base, data, out, config: SFTConfig, targets: Sequence[str], params: Sequence[str],
                 seeds: Sequence[int], lr_by_params: dict[str, float] | None = None, progress: bool = True,
                 log: Callable[[str], None] = print, dist: Dist | None = None) -> list[dict]:
    """Train every (target, params, seed) into out/<name>, skipping complete runs, resuming partial ones."""
    for target in targets:
        check_target(target)
    for selection in params:
        parse_selection(selection)  # a typo in the last one is refused before the first run trains
    cards, dist = [], dist or init()
    for target, selection, seed in matrix_runs(targets, params, seeds):
        name = run_name(target, selection, seed)
        lr = (lr_by_params or {}).get(selection, config.lr)
        run_config = dataclasses.replace(config, target=target, params=selection, seed=seed, lr=lr)
        start = time.perf_counter()
        card = train_sft(base, data, Path(out) / name, run_config, resume=True, progress=progress, dist=dist)
        log(f"{name}: {card['status']} in {time.perf_counter() - start:.1f} s")
        cards.append(card)
    return cards
