"""The stages that make and measure the checkpoints: data, base, learning-rate trials, SFT runs and their
controls, and the evaluations (tsft.stages holds the table)."""

from __future__ import annotations

from pathlib import Path

from tsft import jobs
from tsft.analysis.accuracy import matched_steps
from tsft.analysis.collect import collect
from tsft.plan import Inputs, Job, _runs, base_dir, chosen_lr, complete_card, control_runs, data_dir, lr_trials, sft_dir
from tsft.presets import Preset


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


def plan_lr(inputs: Inputs, preset: Preset) -> list[Job]:
    """Each arm's candidate learning rates on its first seed (the preset's `lr_grid`), scored on validation."""
    return [Job("lr", folder.name, jobs.lr_trial, folder / "run_card.json",
                {"out": folder, "base": base_dir(inputs), "data": data_dir(inputs), "target": t, "params": pa,
                 "lr": lr, "preset": preset})
            for t, pa, lr, folder in lr_trials(inputs, preset)]


def plan_sft(inputs: Inputs, preset: Preset) -> list[Job]:
    return [Job("sft", folder.name, jobs.sft, folder / "run_card.json",
                {"out": folder, "base": base_dir(inputs), "data": data_dir(inputs), "target": t, "params": pa,
                 "seed": s, "lr": chosen_lr(inputs, preset, t, pa), "preset": preset})
            for t, pa, s, folder in _runs(inputs, preset)]


TRAIN_GRADED = 200
"""Training problems each final checkpoint is also graded on (as many as the memorization arm's stopping rule
reads, the same problems; at most the evaluation's limit): its train accuracy beside its test accuracy."""


def plan_controls(inputs: Inputs, preset: Preset) -> list[Job]:
    """The memorization arm, the token-matched theorem runs and the runs to the step cap (tsft.plan.control_runs);
    a token-matched run waits for its seed's solution-full run, whose target tokens to its plateau are its budget.
    A run to the cap keeps the arm's every setting but a patience no run of `sft_steps` can reach, so it still
    publishes its best validation checkpoint."""
    planned = []
    for t, pa, s, variant, folder in control_runs(inputs, preset):
        settings: dict = {"steps": preset.memorize_steps, "patience": 0, "train_eval_size": TRAIN_GRADED,
                          "stop_at_train_accuracy": 0.9, "eval_every": 100, "curve_every": 200}
        if variant == "long":
            settings = {"patience": preset.sft_steps // max(preset.eval_every, 1) + 1} if preset.patience else {}
        if variant == "tokens":
            budget = plateau_budget(sft_dir(inputs, "solution", "full", s))
            if budget is None:
                continue
            settings = {"steps": preset.sft_steps, "patience": 0, "max_target_tokens": budget}
        planned.append(Job("sft-controls", folder.name, jobs.sft, folder / "run_card.json",
                           {"out": folder, "base": base_dir(inputs), "data": data_dir(inputs), "target": t,
                            "params": pa, "seed": s, "lr": chosen_lr(inputs, preset, t, pa), "preset": preset,
                            "variant": variant, "settings": settings}))
    return planned


def plateau_budget(folder: Path) -> int | None:
    """The target tokens a finished run had trained on at the step it published (None: not finished)."""
    card = complete_card(folder)
    if card is None:
        return None
    at = [e for e in card["metrics"]["evals"] if e["step"] == card["step"] and "target_tokens_seen" in e]
    return at[0]["target_tokens_seen"] if at else card["metrics"]["target_tokens_seen"]


def _eval_job(stage: str, name: str, model: Path, out: Path, inputs: Inputs, preset: Preset, train: int = 0) -> Job:
    return Job(stage, name, jobs.evaluate, out / "summary.csv",
               {"out": out, "model": model, "data": data_dir(inputs), "kinds": preset.kinds,
                "limit": preset.eval_limit, "device": inputs.device, "batch_size": preset.gen_batch, "train": train})


def plan_eval(inputs: Inputs, preset: Preset) -> list[Job]:
    """Every final checkpoint on the test originals with their perturbations, and on its first training problems."""
    controls = [folder for *_, folder in control_runs(inputs, preset) if (folder / "config.json").is_file()]
    folders = [folder for *_, folder in _runs(inputs, preset)] + controls  # a control not trained is not planned
    train = min(TRAIN_GRADED, preset.eval_limit or TRAIN_GRADED)
    return [_eval_job("eval", folder.name, folder, inputs.out / "eval" / folder.name, inputs, preset, train)
            for folder in folders]


def plan_matched(inputs: Inputs, preset: Preset) -> list[Job]:
    """Evaluate the intermediate checkpoints at which the full-tuning runs' training curves match (none when the
    runs wrote curve files: the matched reading comes from those)."""
    if preset.curve_size or not (inputs.out / "sft").is_dir():
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
    (analysis.readings); none when the runs wrote curve files."""
    if preset.curve_size:
        return []
    matched = {job.name for job in plan_matched(inputs, preset)}
    planned = []
    for run in [folder for _, pa, _, folder in _runs(inputs, preset) if pa == "full"]:
        for folder in sorted((run / "checkpoints").glob("step-*")):
            name = f"{run.name}-step{int(folder.name.removeprefix('step-'))}"
            if name not in matched and (folder / "config.json").is_file():
                planned.append(_eval_job("eval-curve", name, folder, inputs.out / "eval-curve" / name, inputs,
                                         preset))
    return planned


