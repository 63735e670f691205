"""`tsft train base|sft|matrix` and `tsft eval`: options in, training/ does the work, results printed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from tsft.common import DeviceOpt, Opt, PrecisionOpt, console, fail, parse_ints, print_frame, print_rows

train_app = typer.Typer(help="training/: base pretraining, SFT runs and the comparison matrix.",
                        no_args_is_help=True)

ConfigOpt = Annotated[Path | None, Opt(help="Settings file (TOML or JSON, flat keys); CLI options override it.")]
SetOpt = Annotated[list[str] | None, Opt("--set", help="Override one setting, key=value (repeatable), "
                                                      "e.g. --set lr=3e-4; `tsft train settings` lists them.")]
ResumeOpt = Annotated[bool, Opt(help="Continue the run in --out from its newest checkpoint (same settings).")]
OverwriteOpt = Annotated[bool, Opt(help="Delete the run in --out and start over.")]
ThreadsOpt = Annotated[int | None, Opt(help="torch threads per process (default: torch's own; cores / processes "
                                             "under a launcher).", min=1)]
TrainDeviceOpt = Annotated[str, Opt(help="auto (each process's GPU when torch has CUDA, else the CPU) | cpu | cuda.")]
ERRORS = (ValueError, KeyError, FileExistsError, FileNotFoundError, RuntimeError)


def _config(kind: type, file, overrides, **fixed):
    from tsft.tasks.io import DataError
    from tsft.training.config import parse_overrides, resolve_config

    try:
        return resolve_config(kind, file, parse_overrides(overrides or []), **fixed)
    except (ValueError, DataError) as err:
        fail(str(err))


def _report(card: dict, start: float) -> None:
    metrics = card.get("metrics", {})
    evals = metrics.get("evals") or [{}]
    console.print(f"{card.get('name')}: {card.get('status')} at step {card.get('step')} in "
                  f"{time.perf_counter() - start:.1f} s; trainable {card.get('parameters', {}).get('trainable')}"
                  f" of {card.get('parameters', {}).get('total')} parameters; last eval {evals[-1]}; "
                  f"target tokens seen {metrics.get('target_tokens_seen')}", highlight=False)


@train_app.command("base")
def train_base_command(
    out: Annotated[Path, Opt(help="Run folder; the finished base is an HF model folder here.")],
    config: ConfigOpt = None, set_: SetOpt = None,
    preset: Annotated[str | None, Opt(help="tiny | small | base (default: small).")] = None,
    arch: Annotated[str | None, Opt(help="llama | qwen2 | qwen2_5_vl (the diagram world; default: llama).")] = None,
    steps: Annotated[int | None, Opt(help="Optimizer steps.")] = None,
    seed: Annotated[int | None, Opt(help="Seed.")] = None,
    resume: ResumeOpt = False, overwrite: OverwriteOpt = False, threads: ThreadsOpt = None,
    device: TrainDeviceOpt = "auto",
) -> None:
    """Pretrain a synthetic-world base on the neutral corpus (a stand-in for pretraining)."""
    from tsft.tasks.io import DataError
    from tsft.training.base import train_base
    from tsft.training.config import BaseConfig
    from tsft.training.distributed import init

    cfg = _config(BaseConfig, config, set_, preset=preset, arch=arch, steps=steps, seed=seed)
    start = time.perf_counter()
    try:
        card = train_base(out, cfg, resume=resume, overwrite=overwrite, dist=init(threads, device))
    except (*ERRORS, DataError) as err:
        fail(str(err))
    _report(card, start)


@train_app.command("sft")
def train_sft_command(
    base: Annotated[Path, Opt(help="Base model folder (tsft base or a local HF causal LM).")],
    data: Annotated[Path, Opt(help="Data folder from `tsft data build` (needs a train split).")],
    out: Annotated[Path, Opt(help="Run folder; the finished checkpoint is an HF model folder here.")],
    target: Annotated[str | None, Opt(help="answer | solution | theorem (default: theorem).")] = None,
    params: Annotated[str | None, Opt(help="full | mlp | attn | mlp:<first>-<last> | random:<seed> (attention / MLP "
                                           "blocks of random layers, one MLP's size) | lora[:<modules>] "
                                           "(default: full).")] = None,
    config: ConfigOpt = None, set_: SetOpt = None,
    steps: Annotated[int | None, Opt(help="Optimizer steps.")] = None,
    lr: Annotated[float | None, Opt(help="Peak learning rate.")] = None,
    seed: Annotated[int | None, Opt(help="Seed.")] = None,
    resume: ResumeOpt = False, overwrite: OverwriteOpt = False, threads: ThreadsOpt = None,
    device: TrainDeviceOpt = "auto",
) -> None:
    """Fine-tune a base on one target style with one parameter selection."""
    from tsft.tasks.io import DataError
    from tsft.training.config import SFTConfig
    from tsft.training.distributed import init
    from tsft.training.sft import train_sft

    cfg = _config(SFTConfig, config, set_, target=target, params=params, steps=steps, lr=lr, seed=seed)
    start = time.perf_counter()
    try:
        card = train_sft(base, data, out, cfg, resume=resume, overwrite=overwrite, dist=init(threads, device))
    except (*ERRORS, DataError) as err:
        fail(str(err))
    _report(card, start)


@train_app.command("settings")
def train_settings_command(kind: Annotated[str, typer.Argument(help="sft | base")] = "sft") -> None:
    """List every setting a --config file or --set may give, with its default and meaning."""
    from tsft.training.config import BaseConfig, SFTConfig, describe

    if kind not in ("sft", "base"):
        fail(f"unknown kind {kind!r}: use sft or base")
    config_type = SFTConfig if kind == "sft" else BaseConfig
    print_rows(f"{kind} settings", ["setting", "default", "meaning"], describe(config_type))


def _split_list(text: str, kind=str) -> list:
    return [kind(x.strip()) for x in text.split(",") if x.strip()]


@train_app.command("matrix")
def train_matrix_command(
    base: Annotated[Path, Opt(help="Base model folder every run starts from.")],
    data: Annotated[Path, Opt(help="Data folder from `tsft data build`.")],
    out: Annotated[Path, Opt(help="Folder of runs, one sub-folder per (target, params, seed).")],
    targets: Annotated[str, Opt(help="Comma-separated target styles.")] = "answer,solution,theorem",
    params: Annotated[str, Opt(help="Comma-separated parameter selections.")] = "full,mlp",
    seeds: Annotated[str, Opt(help="Comma-separated seeds.")] = "0",
    lr_for: Annotated[list[str] | None, Opt(help="Learning rate for one selection, params=lr (repeatable), "
                                                 "e.g. --lr-for mlp=3e-3.")] = None,
    config: ConfigOpt = None, set_: SetOpt = None, threads: ThreadsOpt = None, device: TrainDeviceOpt = "auto",
) -> None:
    """Train the comparison set; complete runs are skipped, partial ones resumed."""
    from tsft.tasks.io import DataError
    from tsft.training.config import SFTConfig
    from tsft.training.distributed import init
    from tsft.training.sft import train_matrix

    cfg = _config(SFTConfig, config, set_)
    seed_list = parse_ints("--seeds", seeds, minimum=0)
    try:
        lrs = _lr_for(lr_for or [], _split_list(params) or ())
        cards = train_matrix(base, data, out, cfg, _split_list(targets), _split_list(params),
                             seed_list, lrs, dist=init(threads, device))
    except (*ERRORS, DataError) as err:
        fail(str(err))
    typer.echo(f"{len(cards)} runs complete in {out}")


def _lr_for(pairs: list[str], selections: tuple[str, ...]) -> dict[str, float]:
    """--lr-for params=lr, each naming one of the selections trained (a typo would otherwise be ignored)."""
    rates = {}
    for key, value in _parse_pairs(pairs).items():
        if key not in selections:
            raise ValueError(f"--lr-for {key}={value}: {key!r} is not one of the selections trained "
                             f"({', '.join(selections)})")
        try:
            rates[key] = float(value)
        except ValueError:
            raise ValueError(f"--lr-for {key}={value}: the learning rate must be a number") from None
    return rates


def _parse_pairs(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--lr-for {pair!r}: write params=lr, e.g. --lr-for mlp=3e-3")
        out[key.strip()] = value.strip()
    return out


def eval_command(
    model: Annotated[Path, Opt(help="Model folder (a tsft checkpoint or any local HF causal LM).")],
    data: Annotated[Path, Opt(help="Data folder from `tsft data build`.")],
    out: Annotated[Path, Opt(help="Results folder: predictions.parquet and summary.csv.")],
    splits: Annotated[str | None, Opt(help="Comma-separated kinds to evaluate (original and/or perturbation "
                                           "kinds) (default: all).")] = None,
    limit: Annotated[int | None, Opt(help="The first N test originals, each with every perturbed version of it.",
                                     min=1)] = None,
    train: Annotated[int, Opt(help="Also grade the first N training problems (how far a fine-tune fits what it "
                                   "saw), written apart to train_predictions.parquet.", min=0)] = 0,
    batch_size: Annotated[int | None, Opt(help="Rows generated together (tsft's decoder refills a finished row's "
                                               "slot with the next problem; default 256).", min=1)] = None,
    max_new_tokens: Annotated[int | None, Opt(help="Generation budget (default: by the run's target).", min=1)] = None,
    system: Annotated[str | None, Opt(help="Chat models' system prompt: default | none | any text (default: as the "
                                           "checkpoint was trained, else the template's own).")] = None,
    instruction: Annotated[str, Opt(help="Text after the problem: answer | steps | theorem (ask for tsft's answer "
                                         "format, step by step, or naming the theorem) | any text.")] = "",
    shots: Annotated[int, Opt(help="Solved examples shown first (from train, else from test originals, which "
                                   "are then not evaluated).", min=0)] = 0,
    shot_style: Annotated[str, Opt(help="Target style of the shots: answer | solution | theorem.")] = "solution",
    overwrite: OverwriteOpt = False, threads: ThreadsOpt = None, device: DeviceOpt = "cpu",
    precision: PrecisionOpt = "auto",
) -> None:
    """Greedy-generate answers for the test split and every perturbation kind; grade; summarize."""
    from tsft.models.evaluate import run_eval
    from tsft.models.placement import Placement
    from tsft.tasks.io import DataError
    from tsft.training.distributed import init

    init(threads)
    try:
        _, summary = run_eval(model, data, out, _split_list(splits) if splits else None, limit,
                              max_new_tokens=max_new_tokens, batch_size=batch_size, overwrite=overwrite,
                              placement=Placement(device, precision=precision), system=system,
                              instruction=instruction, shots=shots, shot_target=shot_style, train=train)
    except (*ERRORS, DataError) as err:
        fail(str(err))
    print_frame(summary.drop(columns=["model", "split"]), f"accuracy of {model} (95% bootstrap CI over problems)")
