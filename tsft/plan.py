"""What every stage planner shares: the pipeline's inputs, a job, where each stage's folders are, and which runs
the preset trains (with the learning rate each takes).

A run folder RUN holds one folder per stage (tsft.reproduce lists them); `sft_dir` names an SFT run's folder
with `models.cards.run_name`, whose names analysis.collect parses back with `parse_run_name`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tsft.models.cards import Checkpoint, run_name
from tsft.presets import Preset
from tsft.tasks.io import read_json


@dataclass
class Job:
    """One unit of work: its stage, a name for the display, the tsft.jobs runner and its arguments, and the file
    whose presence means it is done."""

    stage: str
    name: str
    runner: Callable[..., None]
    output: Path
    kwargs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Bind the arguments to the runner's signature now: a mismatch fails when the stage is planned, naming the
        job, not later in a worker."""
        try:
            inspect.signature(self.runner).bind(**self.kwargs)
        except TypeError as err:
            raise TypeError(f"job {self.stage}/{self.name}: {self.runner.__name__}() {err}") from err


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




def lr_trial_dir(inputs: Inputs, target: str, params: str, lr: float) -> Path:
    return inputs.out / "lr" / f"{target}-{params}-lr{lr:g}"


LR_EXTENSIONS = 2
"""How far an arm's learning-rate grid grows past an edge: when every trial so far has finished and the best is
the smallest (largest) rate tried, half (twice) that rate is tried too, at most this many times a side; so a
chosen rate is never a grid edge that was not looked past."""


def complete_card(folder: Path) -> dict | None:
    """A run folder's run card once the run is complete; None while it is not started or stopped part-way."""
    path = folder / "run_card.json"
    card = read_json(path) if path.is_file() else {}
    return card if card.get("status") == "complete" else None


def _trial_score(folder: Path) -> tuple[float, float] | None:
    """(-validation accuracy, validation loss) at a finished trial's last step, or None (a trial stopped part-way
    starts again)."""
    card = complete_card(folder)
    if card is None:
        return None
    last = card["metrics"]["evals"][-1]
    return -last["heldout_accuracy"], last["heldout_loss"]


def _best_rate(scores: dict[float, tuple[float, float]]) -> float:
    """The best validation accuracy, ties to the lower validation loss, then the smaller rate."""
    return min(scores, key=lambda lr: (*scores[lr], lr))


def _arm_rates(inputs: Inputs, target: str, params: str, grid: tuple[float, ...]) -> list[float]:
    """The rates one arm tries: its grid, extended past an edge that wins (LR_EXTENSIONS)."""
    rates = sorted(grid)
    while rates:
        scores = {lr: _trial_score(lr_trial_dir(inputs, target, params, lr)) for lr in rates}
        if any(score is None for score in scores.values()):
            break
        best = _best_rate(scores)
        if best == rates[0] and sum(lr < min(grid) for lr in rates) < LR_EXTENSIONS:
            rates.insert(0, rates[0] / 2)
        elif best == rates[-1] and sum(lr > max(grid) for lr in rates) < LR_EXTENSIONS:
            rates.append(rates[-1] * 2)
        else:
            break
    return rates


def lr_trials(inputs: Inputs, preset: Preset) -> list[tuple[str, str, float, Path]]:
    """(target, params, lr, folder) of every learning-rate trial: each arm's candidates (`lr_grid`, by selection),
    extended past a winning edge once the trials before have finished (the lr stage plans again until none is
    added)."""
    grid = dict(preset.lr_grid)
    arms = sorted({(t, pa) for t, pa, _ in preset.runs()})
    return [(t, pa, lr, lr_trial_dir(inputs, t, pa, lr)) for t, pa in arms
            for lr in _arm_rates(inputs, t, pa, grid.get(pa.split(":")[0], ()))]


def chosen_lr(inputs: Inputs, preset: Preset, target: str, params: str) -> float:
    """The arm's learning rate: the finished trial with the best validation accuracy at its last step (ties: the
    lower validation loss, then the smaller rate), else the preset's own (`lr_for`) where the arm has none."""
    trials = [(lr, folder) for t, pa, lr, folder in lr_trials(inputs, preset) if (t, pa) == (target, params)]
    scores = {lr: score for lr, score in ((lr, _trial_score(folder)) for lr, folder in trials) if score is not None}
    return _best_rate(scores) if scores else preset.lr_for(target, params)


def control_runs(inputs: Inputs, preset: Preset) -> list[tuple[str, str, int, str, Path]]:
    """(target, params, seed, variant, folder) of the control runs beside the matrix: the memorization arm
    (answer-full, first seed, until it fits its training problems), theorem-full capped at solution-full's
    token budget (`token_matched_seeds` seeds) and the `long_arms` trained to the step cap on each of their seeds."""
    out = inputs.out / "sft-controls"
    runs = []
    if preset.memorize_steps:
        runs.append(("answer", "full", preset.seeds[0], "memorize"))
    runs += [("theorem", "full", seed, "tokens") for seed in preset.seeds[:preset.token_matched_seeds]]
    runs += [(*arm.split("-", 1), seed, "long") for arm in preset.long_arms for seed in preset.seeds_of(arm)]
    return [(t, pa, s, v, out / f"{run_name(t, pa, s)}-{v}") for t, pa, s, v in runs]
