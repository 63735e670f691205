"""One unit of `tsft reproduce` work each: build data, train, evaluate, patch, probe, compare, weigh.

A job is (runner, keyword arguments): a runner is one of this module's functions, and writes one results
folder through the room that owns the work; `run_job` runs it in this process or in a worker (tsft.stages
says which stage plans which jobs). Workers are spawned processes whose
torch thread count is set before torch is imported (`worker_init`), so two workers on two cores do
not oversubscribe them (two processes at default threads each spin a thread per core and run 20-60x
slower); that is also why every runner imports its room inside itself. Every job is idempotent: the
runner skips a job whose output exists, and training jobs resume a partial run from its newest checkpoint.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from tsft.presets import Preset


def worker_init(threads: int) -> None:
    die_with_parent()
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    quiet()


def die_with_parent() -> None:
    """A worker is killed when the process that started it dies (Linux: PR_SET_PDEATHSIG), so a killed
    `tsft reproduce` leaves no worker training on into its folders; elsewhere a thread watches the parent."""
    import signal

    parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        if libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0:  # 1 = PR_SET_PDEATHSIG
            if os.getppid() != parent:  # the parent died before the call
                os._exit(1)
            return
    except (OSError, AttributeError):
        pass
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(2)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def quiet() -> None:
    """No per-load progress bars from transformers: the pipeline shows its own progress."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _flushed(line: str) -> None:
    """A training run's line per evaluation, written at once (a worker's stdout into a log is block-buffered)."""
    print(f"      {line}", flush=True)


def data(out, preset: Preset, seed):
    from tsft.tasks.build import build

    source = "diagram" if preset.modality == "vision" else "synthetic"
    build(source, out, seed=seed, n_train=preset.n_train, n_test=preset.n_test, n_val=preset.n_val or None)


def base(out, preset: Preset, seed):
    from tsft.training.base import train_base
    from tsft.training.config import BaseConfig

    corpus = {"arch": "qwen2_5_vl", "n_figures": preset.base_figures} if preset.modality == "vision" else {}
    if preset.base_facts is not None:
        corpus |= {"n_facts": preset.base_facts, "n_problems": preset.base_facts // 8}
    every = max(1, preset.base_steps // 4)
    config = BaseConfig(preset=preset.base_preset, steps=preset.base_steps, seed=seed, eval_every=every,
                        save_every=every, **corpus)
    train_base(out, config, resume=True, progress=False)


def fetch(out, name):
    from tsft.models.registry import get_model

    get_model(name, out=out, log=lambda _: None)


def sft_config(target: str, params: str, seed: int, lr: float, preset: Preset, **settings):
    """The SFTConfig of one of the preset's runs (`settings` override, for learning-rate trials and controls)."""
    from tsft.training.config import SFTConfig

    every = settings.get("eval_every", preset.eval_every)
    steps = settings.get("steps", preset.sft_steps)
    keep = 1 if preset.curve_size else steps // max(every, 1) + 1  # curve files replace kept checkpoints
    values = dict(target=target, params=params, seed=seed, lr=lr, steps=steps, batch_size=preset.sft_batch,
                  micro_batch_size=preset.sft_micro_batch or preset.sft_batch, eval_every=every, save_every=every,
                  keep_checkpoints=keep, eval_size=preset.eval_size, warmup_steps=min(30, steps // 10),
                  system=preset.system, patience=preset.patience, curve_size=preset.curve_size,
                  curve_every=preset.curve_every)
    return SFTConfig(**{**values, **settings})


def sft(out, base, data, target, params, seed, lr, preset: Preset, variant=None, settings=None):
    from tsft.training.sft import train_sft

    config = sft_config(target, params, seed, lr, preset, **(settings or {}))
    train_sft(base, data, out, config, resume=True, progress=False, variant=variant, report=_flushed)


def lr_trial(out, base, data, target, params, lr, preset: Preset):
    """One learning-rate trial: the arm's first seed for `lr_trial_steps`, scored on validation at the end; only
    its run card (and training curve) is kept."""
    from tsft.training.sft import train_sft

    steps = preset.lr_trial_steps
    config = sft_config(target, params, preset.seeds[0], lr, preset, steps=steps, eval_every=steps, patience=0,
                        curve_size=0, curve_every=0, keep_checkpoints=1)
    train_sft(base, data, out, config, resume=True, progress=False, variant="lr-trial", report=_flushed)
    for name in ("model.safetensors", "training_state", "checkpoints"):
        path = Path(out) / name
        if path.is_dir():
            import shutil

            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def evaluate(out, model, data, kinds, limit, device="cpu", batch_size=None, train=0):
    from tsft.models.evaluate import run_eval
    from tsft.models.placement import Placement

    run_eval(model, data, out, ["original", *kinds] if kinds else None, limit, batch_size=batch_size,
             progress=False, placement=Placement(device), train=train)


FAITHFULNESS_KS = (1, 5, 10, 20, 45)
MIB_DRAWS = 20
"""Random orderings beside every ranking in MIB's circuit metrics (patching.mib)."""
"""Top-k sites whose faithfulness curves the inside patch job draws under each ablation."""


def patch(out, model, data, limit, target, device, pair_type="theorem_swap", metric="logit_diff", inside=False,
          precision="auto"):
    """Exact patching; with `inside`, also plain attribution and AtP* beside it (their agreement with exact
    patching in request.json) and zero / mean / resample ablation of the same sites with faithfulness curves."""
    from tsft.models.placement import Placement
    from tsft.patching.conditions import PatchRequest
    from tsft.patching.requests import ABLATIONS, SweepRequest
    from tsft.patching.run import run_sweep

    sites = PatchRequest(components=("resid_pre", "attn_out", "mlp_out"), positions="spans", metric=metric)
    extra = {"method": "all", "ablations": ABLATIONS, "faithfulness": FAITHFULNESS_KS, "mib": MIB_DRAWS} if inside \
        else {"method": "exact"}
    request = SweepRequest(sites=sites, pairs=pair_type, target=target, limit=limit, **extra)
    run_sweep(model, data, out, request, placement=Placement(device, precision=precision), progress=False)


def lens(out, models, data, limit, style):
    """Logit and tuned lens of every checkpoint, reading the `style` target's first distinctive token."""
    from tsft.probes.lens import run_lens

    run_lens(models, data, out, style=style, limit=limit, progress=False)


def das(out, model, data, limit, layers, epochs, device):
    """Distributed alignment search of the model's own theorem choice at `layers` and where the full-vector patch
    first carries it (a scan of every layer; patching.das_run)."""
    from tsft.models.placement import Placement
    from tsft.patching.das_run import DasRequest, run_das

    run_das(model, data, out, DasRequest(layers=tuple(layers), limit=limit, labels="model", epochs=epochs, scan=True),
            placement=Placement(device), progress=False, allow_empty=True)


def deltas(out, base, model, data, limit, variants, device):
    """Delta inference: the checkpoint's attention-only and MLP-only updates on the base (patching.deltas)."""
    from tsft.models.placement import Placement
    from tsft.patching.deltas import run_deltas

    run_deltas(base, model, data, out, variants=tuple(variants), limit=limit, placement=Placement(device),
               progress=False)


def erase(out, model, data, limit, site, device, problems):
    """LEACE erasure of the theorem label at `site` against random subspaces of the same rank (probes.causal)."""
    from tsft.models.placement import Placement
    from tsft.probes.causal import CausalRequest
    from tsft.probes.run import ProbeRequest, run_causal

    run_causal(model, data, out, CausalRequest(site=site, problems=problems), ProbeRequest(limit=limit),
               placement=Placement(device), progress=False)


def restore(out, base, model, data, limit, kinds, device):
    """Accuracy of the base with the top-k singular directions of the checkpoint's update restored."""
    from tsft.models.placement import Placement
    from tsft.patching.spectral import run_spectral_restore

    run_spectral_restore(base, model, data, out, limit=limit, kinds=tuple(kinds), placement=Placement(device))


def probe(out, models, data, limit, components, labels, device, positions=("last",), kinds=None):
    from tsft.models.placement import Placement
    from tsft.probes.run import ProbeRequest, run_probes

    request = ProbeRequest(components=tuple(components), limit=limit, labels=tuple(labels) if labels else None,
                           positions=tuple(positions), kinds=tuple(kinds) if kinds is not None else None)
    run_probes(models, data, out, request, placement=Placement(device), progress=False)


def cross(out, a, b, data, limit, device):
    from tsft.models.placement import Placement
    from tsft.patching.conditions import PatchRequest
    from tsft.patching.run import run_cross

    request = PatchRequest(components=("attn_out", "mlp_out"), positions="spans", metric="kl")
    run_cross(a, b, data, out, request, limit=limit, placement=Placement(device), progress=False, random_draws=2)


TRANSPLANT_RANDOM_DRAWS = 3
"""Random-location draws beside every transplant (a window's parameter count of A's blocks at random layers)."""


def transplant(out, a, b, data, limit, kinds, device):
    from tsft.models.placement import Placement
    from tsft.patching.run import run_transplant

    run_transplant(a, b, data, out, limit=limit, kinds=tuple(kinds), placement=Placement(device),
                   random_draws=TRANSPLANT_RANDOM_DRAWS)


def groups(out, model, data, limit, target, device):
    from tsft.models.placement import Placement
    from tsft.patching.groups import run_group_patch

    run_group_patch(model, data, out, target=target, limit=limit, placement=Placement(device), progress=False)


def weights(out, base, models):
    from tsft.patching.weights import run_weights

    run_weights(base, models, out)


class JobFailed(RuntimeError):
    """A job's error as one message: it crosses the process boundary intact (some errors do not pickle)."""


def spectral(out, base, models, pairs):
    from tsft.patching.spectral import run_spectral

    run_spectral(base, models, out, pairs=tuple(tuple(p) for p in pairs))


def run_job(runner: Callable[..., None], kwargs: dict) -> float:
    """Run one job (a runner of this module and its arguments); returns its wall seconds."""
    start = time.perf_counter()
    try:
        runner(**kwargs)
    except Exception as err:
        raise JobFailed(f"{type(err).__name__}: {err}") from err
    return time.perf_counter() - start


def done(path: str | Path) -> bool:
    """Whether a job's output exists (a run card must also say the run is complete)."""
    path = Path(path)
    if path.name == "run_card.json":
        from tsft.tasks.io import read_json

        return path.is_file() and read_json(path).get("status") == "complete"
    return path.exists()
