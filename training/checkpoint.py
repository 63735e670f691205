"""Checkpoints: an HF folder (safetensors) + training state + run card, each written atomically.

Layout of a run folder OUT:

    OUT/checkpoints/step-000100/   one complete checkpoint per save (written to a temporary folder
                                   and renamed, so a folder that exists is whole)
        config.json, model.safetensors, tokenizer files    the HF model (`from_pretrained` works)
        training_state/optimizer.safetensors + state.json  AdamW moments and step counts, the step
                                   (= data position, see training.batches), python/numpy RNG
        training_state/rng.safetensors                     torch CPU (and CUDA) RNG states
        training_state/adapter.safetensors                 LoRA adapter weights (lora runs only)
        run_card.json                                      resolved config, data hash, git, metrics
    OUT/config.json, model.safetensors, ..., run_card.json the final checkpoint, published file by
                                   file (each atomically) with run_card.json last, status "complete"

No pickle is written or read: tensors go to safetensors, everything else to JSON. Only rank 0
writes. A resume loads the newest checkpoint folder and continues from its step.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from tsft.models.cards import CARD, read_card, save_tokenizer
from tsft.tasks.io import atomic_dir, atomic_file, check_writable, read_json, write_json

STATE = "training_state"


def checkpoint_dirs(out: Path) -> list[Path]:
    folder = Path(out) / "checkpoints"
    return sorted(folder.glob("step-*")) if folder.is_dir() else []


def _optimizer_tensors(state: dict) -> tuple[dict, dict]:
    tensors, scalars = {}, {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if hasattr(value, "shape"):
                tensors[f"{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _rng_state() -> tuple[dict, dict]:
    import numpy as np
    import torch

    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = s
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    plain = {"python": [version, list(internal), gauss],
             "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]}
    return tensors, plain


def save_checkpoint(out: Path, step: int, model, tokenizer, optimizer_state: dict, card: dict, adapter: dict | None,
                    keep: int, weights: dict | None = None, protect: int | None = None) -> Path:
    """Write OUT/checkpoints/step-N atomically and prune to the newest `keep` (+ this one, + step `protect`: a
    plateau run's best so far).

    `optimizer_state` is in `optimizer.state_dict()` form; `weights` replaces the model's own state dict (a sharded
    model's gathered full weights)."""
    from safetensors.torch import save_file
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one bar per save would bury the training bar
    target = Path(out) / "checkpoints" / f"step-{step:06d}"
    with atomic_dir(target, overwrite=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True, **({"state_dict": weights} if weights else {}))
        save_tokenizer(tokenizer, tmp)
        (tmp / STATE).mkdir()
        tensors, meta = _optimizer_tensors(optimizer_state)
        save_file(tensors, str(tmp / STATE / "optimizer.safetensors"))
        rng_tensors, rng_plain = _rng_state()
        save_file(rng_tensors, str(tmp / STATE / "rng.safetensors"))
        if adapter is not None:
            save_file({k: v.detach().cpu().contiguous() for k, v in adapter.items()},
                      str(tmp / STATE / "adapter.safetensors"))
        write_json(tmp / STATE / "state.json", {"step": step, "optimizer": meta, "rng": rng_plain})
        write_json(tmp / CARD, card)
    for old in checkpoint_dirs(out)[:-max(1, keep)]:
        if protect is None or old.name != f"step-{protect:06d}":
            shutil.rmtree(old, ignore_errors=True)
    return target


def load_training_state(folder: Path) -> tuple[int, dict]:
    """Restore every RNG from a checkpoint folder; return its step and optimizer state (`state_dict()` form)."""
    import numpy as np
    import torch
    from safetensors.torch import load_file

    state = read_json(folder / STATE / "state.json")
    tensors = load_file(str(folder / STATE / "optimizer.safetensors"))
    entries: dict[int, dict] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        entries.setdefault(int(index), {})[name] = value
    for key, value in state["optimizer"]["scalars"].items():
        index, name = key.split(".", 1)
        entries.setdefault(int(index), {})[name] = value
    rng = load_file(str(folder / STATE / "rng.safetensors"))
    torch.set_rng_state(rng["torch_cpu"])
    cuda = [rng[k] for k in sorted(rng) if k.startswith("torch_cuda_")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    version, internal, gauss = state["rng"]["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["rng"]["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    return int(state["step"]), {"state": entries, "param_groups": state["optimizer"]["param_groups"]}


def load_adapter(folder: Path) -> dict | None:
    from safetensors.torch import load_file

    path = folder / STATE / "adapter.safetensors"
    return load_file(str(path)) if path.is_file() else None


def publish(out: Path, checkpoint: Path, card: dict, with_state: bool = True) -> None:
    """Copy the final checkpoint's files into OUT (each atomically), the run card last; without its training state
    when `with_state` is False (a plateau run's best checkpoint, which nothing resumes from)."""
    out = Path(out)
    for source in sorted(checkpoint.rglob("*")):
        if source.is_dir() or source.name == CARD or (not with_state and STATE in source.relative_to(
                checkpoint).parts):
            continue
        dest = out / source.relative_to(checkpoint)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(dest) as tmp:
            shutil.copyfile(source, tmp)
    with atomic_file(out / CARD) as tmp:
        write_json(tmp, card)


def guarded(out: Path, overwrite: bool, resume: bool, main: bool, train) -> dict:
    """`train(folder, overwrite)` -> run card, with OUT locked while it runs; with --overwrite of a folder that
    holds something, trained into a staging sibling (`staged_overwrite`) and swapped in once complete, so a run
    killed midway leaves OUT as it was."""
    with locked(out, main):
        staged = staged_overwrite(out, overwrite, resume, main)
        if staged is None:
            return train(out, overwrite)
        card = train(staged, False)
        if main:
            replace_with(out, staged)
        return card


def locked(out: Path, main: bool = True):
    """The run folder's lock, held by the main process while it trains (tasks.locking, beside the folder)."""
    from contextlib import nullcontext

    from tsft.tasks.locking import writing

    check_writable(out)  # a folder under a file or under /proc is refused before the lock is made beside it
    return writing(out, log=print, beside=True) if main else nullcontext(out)


def staged_overwrite(out: Path, overwrite: bool, resume: bool, main: bool = True) -> Path | None:
    """With --overwrite on a folder that holds something, the folder the new run trains in instead: a hidden sibling
    `.OUT.overwrite/OUT` (same name, so the run card's name is OUT's), which `replace_with` swaps in once the run is
    complete. A run killed before then leaves OUT as it was. None when there is nothing to replace. Only the main
    process (`main`) makes the folder; every process gets its path."""
    out = Path(out)
    if not overwrite or resume or not (out.is_dir() and any(out.iterdir())):
        return None
    check_writable(out)
    holder = out.parent / f".{out.name}.overwrite"
    if main:
        shutil.rmtree(holder, ignore_errors=True)  # a killed earlier overwrite's partial run
        holder.mkdir()
    return holder / out.name


def replace_with(out: Path, staged: Path) -> None:
    """Put the completed `staged` run in OUT's place: OUT renamed aside, the new run renamed in, then the old one
    deleted (the only window without a whole run at OUT is between two renames)."""
    out = Path(out)
    old = out.parent / f".{out.name}.replaced"
    shutil.rmtree(old, ignore_errors=True)
    out.rename(old)
    staged.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staged.parent, ignore_errors=True)


class ResumeConflict(ValueError):
    """A resume would continue a run with different settings or data than it started with."""


def prepare_run(out: Path, resume: bool, overwrite: bool) -> tuple[str, Path | None]:
    """('fresh' | 'resume' | 'complete', checkpoint to resume from); nothing is deleted unless overwrite."""
    out = Path(out)
    if overwrite and resume:
        raise ValueError("choose --resume or --overwrite, not both")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    check_writable(out)
    busy = out.exists() and any(out.iterdir())
    if busy and overwrite:
        shutil.rmtree(out)
        return "fresh", None
    if busy and not resume:
        raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or --overwrite to "
                              "start over (which deletes it)")
    card = read_card(out) if busy else None
    if card and card.get("status") == "complete":
        return "complete", None
    saved = checkpoint_dirs(out)
    return ("resume", saved[-1]) if saved else ("fresh", None)


def check_resume(saved_card: dict, card: dict, config: dict, keys: tuple[str, ...]) -> None:
    """Raise ResumeConflict naming every setting or input that differs from the saved run."""
    diffs = [f"config.{k}: saved {v!r}, now {config.get(k)!r}" for k, v in saved_card.get("config", {}).items()
             if config.get(k) != v]
    diffs += [f"{k}: saved {saved_card.get(k)!r}, now {card.get(k)!r}" for k in keys
              if saved_card.get(k) != card.get(k)]
    if diffs:
        raise ResumeConflict("cannot resume: the run was started with different settings or inputs:\n  "
                             + "\n  ".join(diffs) + "\n(use --overwrite to start over)")


def open_run(out: Path, resume: bool, overwrite: bool, card: dict, config: dict, keys: tuple[str, ...],
             log=None) -> tuple[str, Path | None, dict]:
    """(state, checkpoint to resume from, card): `prepare_run`, then for a saved run its own card,
    checked against `card` and `config` (a ResumeConflict names every difference). With `log`, a resume says in
    one line where it starts (or that there was nothing to resume)."""
    state, resume_from = prepare_run(out, resume, overwrite)
    say = log or (lambda _: None)
    if state == "fresh":
        if resume:
            say(f"{out}: nothing to resume (no checkpoint saved yet); starting at step 0")
        return state, None, card
    saved = read_card(Path(out) if state == "complete" else resume_from)
    check_resume(saved, card, config, keys)
    if state == "complete":
        say(f"{out}: already complete at step {saved.get('step')}; nothing to do")
    else:
        say(f"{out}: resuming from step {saved.get('step')} ({resume_from.name})")
    return state, resume_from, saved
