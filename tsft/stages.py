"""The stages of `tsft reproduce`, as one table: each stage's name, what it makes, and the jobs it plans.

`STAGES` is the only list of stages: `tsft reproduce` runs them in its order, the progress display shows one
line per stage, and `reproduce.json` keeps per-stage wall times under the same names (resume reads them). A
stage's planner turns the inputs and the preset into jobs; each `Job` names its runner (a function of
tsft.jobs), its arguments and the file whose presence means it is done, so a rerun skips it. Later stages
read what earlier ones wrote (the matched and curve evaluations read the training curves), so each stage is
planned when it starts.

A run folder RUN holds one folder per stage: data/, base/, sft/<target>-<params>-s<seed>/ (with kept
intermediate checkpoints), eval/<run>/, eval-matched/<run>-step<N>/, eval-curve/<run>-step<N>/,
patch/<model>[-surface]/, probe/, erase/<run>/, cross/, transplant/, weights/, spectral/, restore/<run>/,
lens/<style>/, das/<model>/, deltas/<run>/ (see tsft.reproduce).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tsft.plan import Inputs, Job, base_dir, data_dir
from tsft.presets import Preset
from tsft.stages_inside import (
    plan_cross,
    plan_das,
    plan_deltas,
    plan_erase,
    plan_lens,
    plan_patch,
    plan_probe,
    plan_transplant,
    plan_weights,
)
from tsft.stages_train import (
    plan_base,
    plan_controls,
    plan_curve,
    plan_data,
    plan_eval,
    plan_lr,
    plan_matched,
    plan_sft,
)

__all__ = ["STAGES", "STAGE_NAMES", "Inputs", "Job", "Stage", "base_dir", "data_dir", "plan"]


@dataclass(frozen=True)
class Stage:
    name: str
    makes: str
    """What the stage writes, in a few words (the progress display's and the README's)."""
    plan: Callable[[Inputs, Preset], list[Job]]


STAGES: tuple[Stage, ...] = (
    Stage("data", "the data folder", plan_data),
    Stage("base", "the base model", plan_base),
    Stage("lr", "learning-rate trials on validation, per arm", plan_lr),
    Stage("sft", "one checkpoint per target x selection x seed", plan_sft),
    Stage("sft-controls", "the memorization arm, token-matched and step-cap runs", plan_controls),
    Stage("eval", "graded predictions of every final checkpoint", plan_eval),
    Stage("eval-matched", "predictions at matched held-out accuracy", plan_matched),
    Stage("eval-curve", "predictions of every other kept checkpoint", plan_curve),
    Stage("patch", "activation patching maps", plan_patch),
    Stage("probe", "per-layer probes", plan_probe),
    Stage("erase", "LEACE erasure where the probes peak", plan_erase),
    Stage("cross", "cross-checkpoint patching", plan_cross),
    Stage("transplant", "MLP transplant and per-layer revert", plan_transplant),
    Stage("weights", "weight change from the base, its SVD view and top-k restores", plan_weights),
    Stage("lens", "logit and tuned lenses per layer", plan_lens),
    Stage("das", "where the theorem choice is a variable (DAS)", plan_das),
    Stage("deltas", "attention-only and MLP-only updates on the base", plan_deltas),
)
STAGE_NAMES = tuple(stage.name for stage in STAGES)


def plan(stage: str, inputs: Inputs, preset: Preset) -> list[Job]:
    """The jobs of the stage called `stage` (later stages read what earlier ones wrote: plan them in order)."""
    for entry in STAGES:
        if entry.name == stage:
            return entry.plan(inputs, preset)
    raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGE_NAMES)}")
