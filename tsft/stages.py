"""The stages of `tsft reproduce`, as one table: each stage's name, what it makes, and the jobs it plans.

`STAGES` is the only list of stages: `tsft reproduce` runs them in its order, the progress display shows one
line per stage, and `reproduce.json` keeps per-stage wall times under the same names (resume reads them). A
stage's planner turns the inputs and the preset into jobs; each `Job` names its runner (a function of
tsft.jobs), its arguments and the file whose presence means it is done, so a rerun skips it. Later stages
read what earlier ones wrote (the matched and curve evaluations read the training curves), so each stage is
planned when it starts.

A run folder RUN holds one folder per stage: data/, base/, sft/<target>-<params>-s<seed>/ (with kept
intermediate checkpoints), eval/<run>/, eval-matched/<run>-step<N>/, eval-curve/<run>-step<N>/,
patch/<model>[-surface]/, probe/, erase/<run>/, cross/, transplant/, weights/, spectral/, restore/<run>/ (see
tsft.reproduce).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tsft import jobs
from tsft.analysis.accuracy import matched_steps
from tsft.analysis.collect import collect
from tsft.models.cards import Checkpoint
from tsft.presets import Preset
from tsft.training.sft import run_name


@dataclass
class Job:
    """One unit of work: its stage, a name for the display, the tsft.jobs runner and its arguments, and the file
    whose presence means it is done."""

    stage: str
    name: str
    runner: Callable[..., None]
    output: Path
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Inputs:
    """Where the pipeline starts: the run folder, an optional existing base and data folder, the device."""

    out: Path
    model: Path | None = None
    data: Path | None = None
    device: str = "cpu"
    seed: int = 0


def data_dir(inputs: Inputs) -> Path:
    return inputs.data or inputs.out / "data"


def base_dir(inputs: Inputs) -> Path:
    return inputs.model or inputs.out / "base"


def variants(inputs: Inputs, preset: Preset) -> list[tuple[str, str, int]]:
    """(target, params, seed) of every SFT run: the matrix, plus per-layer MLP-only theorem runs for E7 when the
    preset asks and the base exists (its config says how many layers), and as many runs tuning random blocks of one
    MLP's size (`random:<draw>`, E7's random-location control)."""
    runs = preset.runs()
    base = base_dir(inputs)
    if preset.layer_runs and "theorem" in preset.targets and (base / "config.json").is_file():
        layers = Checkpoint.open(base).depth or 0
        runs += [("theorem", f"mlp:{layer}-{layer}", preset.seeds[0]) for layer in range(layers)]
        runs += [("theorem", f"random:{draw}", preset.seeds[0]) for draw in range(RANDOM_LOCATION_RUNS)]
    return runs


RANDOM_LOCATION_RUNS = 2
"""Runs tuning random attention / MLP blocks of one MLP's size beside the per-layer MLP runs."""


def sft_dir(inputs: Inputs, target: str, params: str, seed: int) -> Path:
    return inputs.out / "sft" / run_name(target, params, seed)


def _first(inputs: Inputs, preset: Preset, target: str, params: str) -> Path | None:
    if (target, params, preset.seeds[0]) in preset.runs():
        return sft_dir(inputs, target, params, preset.seeds[0])
    return None


def _runs(inputs: Inputs, preset: Preset) -> list[tuple[str, str, int, Path]]:
    return [(t, pa, s, sft_dir(inputs, t, pa, s)) for t, pa, s in variants(inputs, preset)]


def _first_seed(inputs: Inputs, preset: Preset, selections: tuple[str, ...]) -> list[Path]:
    return [folder for _, pa, s, folder in _runs(inputs, preset) if s == preset.seeds[0] and pa in selections]


def plan_data(inputs: Inputs, preset: Preset) -> list[Job]:
    data = data_dir(inputs)
    return [] if inputs.data else [Job("data", "data", jobs.data, data,
                                       {"out": data, "preset": preset, "seed": inputs.seed})]


def plan_base(inputs: Inputs, preset: Preset) -> list[Job]:
    base = base_dir(inputs)
    if inputs.model:
        return []
    if preset.base_model:
        return [Job("base", preset.base_model, jobs.fetch, base / "config.json",
                    {"out": base, "name": preset.base_model})]
    return [Job("base", "base", jobs.base, base / "run_card.json", {"out": base, "preset": preset,
                                                                     "seed": inputs.seed})]


def plan_sft(inputs: Inputs, preset: Preset) -> list[Job]:
    return [Job("sft", folder.name, jobs.sft, folder / "run_card.json",
                {"out": folder, "base": base_dir(inputs), "data": data_dir(inputs), "target": t, "params": pa,
                 "seed": s, "lr": preset.lr_for(t, pa), "preset": preset})
            for t, pa, s, folder in _runs(inputs, preset)]


def _eval_job(stage: str, name: str, model: Path, out: Path, inputs: Inputs, preset: Preset) -> Job:
    return Job(stage, name, jobs.evaluate, out / "summary.csv",
               {"out": out, "model": model, "data": data_dir(inputs), "kinds": preset.kinds,
                "limit": preset.eval_limit, "device": inputs.device, "batch_size": preset.gen_batch})


def plan_eval(inputs: Inputs, preset: Preset) -> list[Job]:
    return [_eval_job("eval", folder.name, folder, inputs.out / "eval" / folder.name, inputs, preset)
            for *_, folder in _runs(inputs, preset)]


def plan_matched(inputs: Inputs, preset: Preset) -> list[Job]:
    """Evaluate the intermediate checkpoints at which the full-tuning runs' training curves match."""
    if not (inputs.out / "sft").is_dir():
        return []
    results = collect(inputs.out / "sft")
    planned = []
    for _, row in matched_steps(results.curves, results.models).iterrows():
        folder = inputs.out / "sft" / row["model"] / "checkpoints" / f"step-{int(row['step']):06d}"
        if folder.is_dir():  # the final step is the final checkpoint, already evaluated
            name = f"{row['model']}-step{int(row['step'])}"
            planned.append(_eval_job("eval-matched", name, folder, inputs.out / "eval-matched" / name, inputs,
                                     preset))
    return planned


def plan_curve(inputs: Inputs, preset: Preset) -> list[Job]:
    """Evaluate every kept intermediate checkpoint of the full-tuning runs that eval-matched does not
    (analysis.readings)."""
    matched = {job.name for job in plan_matched(inputs, preset)}
    planned = []
    for run in [folder for _, pa, _, folder in _runs(inputs, preset) if pa == "full"]:
        for folder in sorted((run / "checkpoints").glob("step-*")):
            name = f"{run.name}-step{int(folder.name.removeprefix('step-'))}"
            if name not in matched and (folder / "config.json").is_file():
                planned.append(_eval_job("eval-curve", name, folder, inputs.out / "eval-curve" / name, inputs,
                                         preset))
    return planned


def plan_patch(inputs: Inputs, preset: Preset) -> list[Job]:
    """Theorem-swap patching of the base and the first seed's full and MLP checkpoints, surface pairs for full
    tuning; vision: position groups."""
    base, data, out = base_dir(inputs), data_dir(inputs), inputs.out
    models = [base, *_first_seed(inputs, preset, ("full", "mlp"))]
    if preset.modality == "vision":
        return [Job("patch", m.name, jobs.groups, out / "patch" / m.name / "groups.parquet",
                    {"out": out / "patch" / m.name, "model": m, "data": data, "limit": preset.patch_limit,
                     "target": "answer" if m == base else None, "device": inputs.device}) for m in models]
    sweeps = [(m, "theorem_swap", "logit_diff", m.name) for m in models]
    sweeps += [(m, "surface", "kl", f"{m.name}-surface") for m in models if m != base and "full" in m.name]
    inside = _first(inputs, preset, "theorem", "full")
    return [Job("patch", name, jobs.patch, out / "patch" / name / "summary.parquet",
                {"out": out / "patch" / name, "model": m, "data": data, "limit": preset.patch_limit,
                 "target": "theorem" if m == base else None, "device": inputs.device, "pair_type": pair_type,
                 "metric": metric, "inside": m == inside and pair_type == "theorem_swap"})
            for m, pair_type, metric, name in sweeps]


def plan_probe(inputs: Inputs, preset: Preset) -> list[Job]:
    models = [base_dir(inputs), *_first_seed(inputs, preset, ("full",))]
    return [Job("probe", "probes", jobs.probe, inputs.out / "probe" / "probes.parquet",
                {"out": inputs.out / "probe", "models": models, "data": data_dir(inputs), "limit": preset.probe_limit,
                 "components": preset.probe_components, "labels": preset.probe_labels, "device": inputs.device,
                 "positions": preset.probe_positions, "kinds": preset.probe_kinds})]


def erase_site(inputs: Inputs, model: Path, component: str = "resid_post") -> str:
    """Where to erase the theorem label in `model`: the layer of the probes' peak selectivity at the last position
    (the probe stage's table), else two thirds of the depth."""
    from tsft.analysis.inside import probe_peaks

    table = inputs.out / "probe" / "probes.parquet"
    if table.is_file():
        import pandas as pd

        peaks = probe_peaks(pd.read_parquet(table))
        mine = peaks[(peaks["model"] == model.name) & (peaks["component"] == component)] if len(peaks) else peaks
        if len(mine):
            return f"blocks.{int(mine['peak_layer'].iloc[0])}.{component}"
    return f"blocks.{(2 * Checkpoint.open(model).depth) // 3}.{component}"


def plan_erase(inputs: Inputs, preset: Preset) -> list[Job]:
    """LEACE erasure of the theorem label in the first theorem-SFT full-tuning checkpoint, where the probes read it
    best (text only)."""
    model = _first(inputs, preset, "theorem", "full")
    labelled = preset.probe_labels is None or "theorem" in preset.probe_labels
    if model is None or preset.modality == "vision" or not labelled or not (model / "config.json").is_file():
        return []
    return [Job("erase", model.name, jobs.erase, inputs.out / "erase" / model.name / "causal.parquet",
                {"out": inputs.out / "erase" / model.name, "model": model, "data": data_dir(inputs),
                 "limit": preset.probe_limit, "site": erase_site(inputs, model), "device": inputs.device,
                 "problems": preset.transplant_limit or 16})]


def plan_cross(inputs: Inputs, preset: Preset) -> list[Job]:
    """Theorem-SFT's activations into answer-SFT (text only: the vision run patches position groups)."""
    a, b = _first(inputs, preset, "theorem", "full"), _first(inputs, preset, "answer", "full")
    if a is None or b is None or preset.modality == "vision":
        return []
    return [Job("cross", f"{a.name}->{b.name}", jobs.cross, inputs.out / "cross" / "summary.parquet",
                {"out": inputs.out / "cross", "a": a, "b": b, "data": data_dir(inputs), "limit": preset.patch_limit,
                 "device": inputs.device})]


def plan_transplant(inputs: Inputs, preset: Preset) -> list[Job]:
    """Theorem-MLP's MLPs into answer-MLP per layer, and each theorem-MLP layer reverted to the base."""
    if preset.modality == "vision":
        return []
    theorem_mlp = _first(inputs, preset, "theorem", "mlp")
    pairs = [(theorem_mlp, _first(inputs, preset, "answer", "mlp"), ("original", *(preset.kinds or ())[:1])),
             (base_dir(inputs), theorem_mlp, ("original",))]
    out = inputs.out / "transplant"
    return [Job("transplant", f"{a.name}->{b.name}", jobs.transplant, out / f"{a.name}__{b.name}",
                {"out": out / f"{a.name}__{b.name}", "a": a, "b": b, "data": data_dir(inputs),
                 "limit": preset.transplant_limit, "kinds": kinds, "device": inputs.device})
            for a, b, kinds in pairs if a is not None and b is not None]


def plan_weights(inputs: Inputs, preset: Preset) -> list[Job]:
    """Weight change of every run; the SVD view of every update, with theorem- vs answer-SFT's update subspaces
    compared per seed and selection."""
    runs = _runs(inputs, preset)
    names = {folder.name for *_, folder in runs}
    pairs = [(f"theorem-{pa}-s{s}", f"answer-{pa}-s{s}") for t, pa, s, _ in runs if t == "theorem"]
    planned = [Job("weights", "weights", jobs.weights, inputs.out / "weights" / "weights.parquet",
                   {"out": inputs.out / "weights", "base": base_dir(inputs), "models": [f for *_, f in runs]}),
               Job("weights", "spectral", jobs.spectral, inputs.out / "spectral" / "spectral.parquet",
                   {"out": inputs.out / "spectral", "base": base_dir(inputs), "models": [f for *_, f in runs],
                    "pairs": [p for p in pairs if p[1] in names]})]
    theorem = _first(inputs, preset, "theorem", "full")
    if theorem is not None and preset.modality != "vision":
        planned.append(Job("weights", f"restore {theorem.name}", jobs.restore,
                           inputs.out / "restore" / theorem.name / "restore.parquet",
                           {"out": inputs.out / "restore" / theorem.name, "base": base_dir(inputs), "model": theorem,
                            "data": data_dir(inputs), "limit": preset.transplant_limit or 16,
                            "kinds": ("original", *(preset.kinds or ())[:1]), "device": inputs.device}))
    return planned


@dataclass(frozen=True)
class Stage:
    name: str
    makes: str
    """What the stage writes, in a few words (the progress display's and the README's)."""
    plan: Callable[[Inputs, Preset], list[Job]]


STAGES: tuple[Stage, ...] = (
    Stage("data", "the data folder", plan_data),
    Stage("base", "the base model", plan_base),
    Stage("sft", "one checkpoint per target x selection x seed", plan_sft),
    Stage("eval", "graded predictions of every final checkpoint", plan_eval),
    Stage("eval-matched", "predictions at matched held-out accuracy", plan_matched),
    Stage("eval-curve", "predictions of every other kept checkpoint", plan_curve),
    Stage("patch", "activation patching maps", plan_patch),
    Stage("probe", "per-layer probes", plan_probe),
    Stage("erase", "LEACE erasure where the probes peak", plan_erase),
    Stage("cross", "cross-checkpoint patching", plan_cross),
    Stage("transplant", "MLP transplant and per-layer revert", plan_transplant),
    Stage("weights", "weight change from the base, its SVD view and top-k restores", plan_weights),
)
STAGE_NAMES = tuple(stage.name for stage in STAGES)


def plan(stage: str, inputs: Inputs, preset: Preset) -> list[Job]:
    """The jobs of the stage called `stage` (later stages read what earlier ones wrote: plan them in order)."""
    for entry in STAGES:
        if entry.name == stage:
            return entry.plan(inputs, preset)
    raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGE_NAMES)}")
