"""`summary.md`: a results folder's numbers as Markdown, written from its tables by code, never by hand.

A results README that quotes numbers drifts from the tables the moment the analysis is rerun. This page is
rewritten with the report every time the tables are (`tsft analyze`, `tsft figures`, the end of `tsft
reproduce`), so whatever quotes it can be checked against it:

* **The run**: preset, commit, wall time per stage and in all, and CPU-hours at most (wall x the machine's
  cores, when reproduce.json records them: a bound, since a stage may leave cores idle);
* **Accuracy per arm** (final checkpoints): seeds, originals with the seeds' spread, pooled surface
  perturbations, robustness;
* **Claims**: verdict, effect with its interval and seeds, the control's value, the random-slopes model beside;
* **Training**: each run's plateau (the step it published, why it stopped, validation and train accuracy), how
  firmly the learning-rate trials chose each arm's rate, and the training controls (token-matched theorem-SFT,
  the memorization arm, runs to the step cap: analysis.budget);
* **C4's share readings** (analysis.shares) and the **figures** (links to the PNGs, else the HTML files).

Numbers are printed to 3 decimals (`figures.theme.number`), as the tables hold them rounded.

`readme_block` is the short form (accuracy and claims) that a README quotes between the markers
`<!-- tsft results: FOLDER -->` and `<!-- tsft results end -->`; `tsft figures FOLDER --readme README.md`
rewrites that block from the folder's tables, and a test holds the repository README's block to
results/real's tables.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from tsft.figures.theme import interval_text, number


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def run_lines(meta: dict) -> list[str]:
    preset = meta.get("preset", {})
    stages = meta.get("stages", {})
    lines = ["## The run", ""]
    if preset:
        lines.append(f"Preset `{preset.get('name')}`; seeds {meta.get('seeds', preset.get('seeds'))}; "
                     f"commit {str(meta.get('git_commit', 'unknown'))[:7]}; device {meta.get('device', 'cpu')}.")
    if stages:
        said = ", ".join(f"{name} {_duration(seconds)}" for name, seconds in stages.items())
        total = sum(stages.values())
        lines.append(f"Wall time per stage: {said}; in all {total / 3600:.2f} h.")
        if meta.get("cores"):
            lines.append(f"CPU-hours at most {total * meta['cores'] / 3600:.1f} ({meta['cores']} cores).")
    return [*lines, ""] if len(lines) > 2 else []


def accuracy_lines(accuracy: pd.DataFrame) -> list[str]:
    if accuracy.empty:
        return []
    lines = ["## Accuracy per arm (final checkpoints)", "",
             "| arm | seeds | originals [95% CI] | surface [95% CI] | robustness (surface) |", "|---|---|---|---|---|"]
    for (target, params), part in accuracy.groupby(["target", "params"], sort=True):
        by = part.set_index("kind")
        if "original" not in by.index:
            continue
        original = by.loc["original"]
        surface = by.loc["surface"] if "surface" in by.index else None
        lines.append(f"| {target}-{params} | {int(original['n_seeds'])} | "
                     f"{interval_text(original['accuracy'], original['ci_low'], original['ci_high'])} | "
                     + (f"{interval_text(surface['accuracy'], surface['ci_low'], surface['ci_high'])} | "
                        f"{number(surface['robustness'])} |" if surface is not None else "n/a | n/a |"))
    return [*lines, ""]


def claim_lines(claims: pd.DataFrame) -> list[str]:
    if claims.empty:
        return []
    lines = ["## Claims", "", "| claim | verdict | effect [95% CI] | seeds | control | model-based (log-odds) |",
             "|---|---|---|---|---|---|"]
    for _, r in claims.iterrows():
        control = (f"{r['control']}: {interval_text(r['control_value'], r['control_low'], r['control_high'])}"
                   if pd.notna(r.get("control_value")) else str(r.get("control", "")))
        model = (f"{interval_text(r['glmm_value'], r['glmm_low'], r['glmm_high'])} ({r['glmm_agreement']})"
                 if pd.notna(r.get("glmm_value")) else "-")
        lines.append(f"| {r['claim']} | {r['verdict']} | {interval_text(r['value'], r['ci_low'], r['ci_high'])} | "
                     f"{int(r['n_seeds'])} | {control} | {model} |")
    notes = [f"* {r['claim']}: {r['note']}" for _, r in claims.iterrows() if str(r.get("note", ""))]
    return [*lines, "", *notes, ""] if notes else [*lines, ""]


def _table(title: str, columns: list[str], rows: list[str]) -> list[str]:
    """A '## title' section holding a Markdown table of `columns` and the already formatted `rows`."""
    return [f"## {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns), *rows, ""]


def training_lines(training: pd.DataFrame) -> list[str]:
    if training.empty:
        return []
    return _table("Training: where each run stopped (accuracy at the published step)",
                  ["run", "lr", "published step / at most", "stopped", "validation", "train", "test originals",
                   "target tokens"],
                  [f"| {r['model']} | {r['lr']:.0e} | {_count(r['published_step'])} / {_count(r['max_steps'])} | "
                   f"{r['stopped']} | {number(r['validation_accuracy'])} | {number(r['train_accuracy'])} | "
                   f"{number(r['test_accuracy'])} | {_count(r['target_tokens_seen'])} |"
                   for _, r in training.iterrows()])


def lr_lines(trials: pd.DataFrame) -> list[str]:
    if trials.empty:
        return []
    return _table("Learning-rate trials: how firmly each arm's rate was chosen (validation, last step)",
                  ["arm", "lr", "validation accuracy", "standard error", "its runs' rate", "standard errors behind"],
                  [f"| {r['target']}-{r['params']} | {r['lr']:.0e} | {number(r['validation_accuracy'])} | "
                   f"{number(r['se'])} | {'yes' if r['chosen'] else ''} | "
                   f"{'' if pd.isna(r['se_behind']) else f'{r.se_behind:.1f}'} |" for _, r in trials.iterrows()])


def budget_lines(budget: pd.DataFrame) -> list[str]:
    if budget.empty:
        return []
    return _table("Training controls", ["comparison", "measure", "difference [95% CI]", "runs", "interval"],
                  [f"| {r['comparison']} | {r['measure']} | {interval_text(r['value'], r['ci_low'], r['ci_high'])} | "
                   f"{int(r['runs_a'])} vs {int(r['runs_b'])} | {r['interval']} |" for _, r in budget.iterrows()])


def _count(value) -> str:
    return str(int(value)) if pd.notna(value) else "n/a"


def share_lines(shares: pd.DataFrame) -> list[str]:
    if shares.empty:
        return []
    return _table("C4: the MLP share read several ways", ["reading", "subject", "value [95% CI]", "seeds", "pairs"],
                  [f"| {r['reading']} | {r['subject']} | {interval_text(r['value'], r['ci_low'], r['ci_high'])} | "
                   f"{int(r['n_seeds'])} | {int(r['n_units'])} |" for _, r in shares.iterrows()])


def figure_lines(folder: Path) -> list[str]:
    figures = folder / "figures"
    files = sorted(figures.glob("*.png")) or sorted(p for p in figures.glob("*.html") if p.stem != "plotly.min")
    files = sorted(files, key=lambda p: (int(re.match(r"F(\d+)", p.stem).group(1)) if re.match(r"F\d+", p.stem)
                                         else 999, p.stem))
    if not files:
        return []
    return ["## Figures", "", *(f"* [{p.stem}](figures/{p.name})" for p in files), ""]


def summary_markdown(tables: dict, meta: dict, folder: Path) -> str:
    empty = pd.DataFrame()
    title = f"# Results: {Path(str(meta.get('results', folder))).name}"
    parts = [title, "", "Written from `tables/` by `tsft analyze`; do not edit by hand.", "",
             *run_lines(meta), *accuracy_lines(tables.get("accuracy", empty)),
             *claim_lines(tables.get("claims", empty)), *training_lines(tables.get("training", empty)),
             *lr_lines(tables.get("lr_trials", empty)), *budget_lines(tables.get("budget", empty)),
             *share_lines(tables.get("shares", empty)), *figure_lines(folder)]
    return "\n".join(parts).rstrip() + "\n"


BEGIN, END = "<!-- tsft results: {folder} -->", "<!-- tsft results end -->"


def readme_block(tables: dict) -> str:
    """Accuracy per arm and the claims, as summary.md writes them (one level deeper: ### headings)."""
    empty = pd.DataFrame()
    lines = [*accuracy_lines(tables.get("accuracy", empty)), *claim_lines(tables.get("claims", empty))]
    return "\n".join("#" + line if line.startswith("## ") else line for line in lines).strip() + "\n"


def marked_block(text: str, folder: str) -> tuple[int, int] | None:
    """(start, end) of the block between the markers for `folder` in `text` (None when absent)."""
    begin = BEGIN.format(folder=folder)
    if begin not in text:
        return None
    start = text.index(begin) + len(begin)
    return start, text.index(END, start)


def update_readme(readme: Path, folder: str, tables: dict) -> bool:
    """Rewrite the marked block of `readme` from `tables`; False when the README has no block for `folder`."""
    text = readme.read_text()
    where = marked_block(text, folder)
    if where is None:
        return False
    readme.write_text(text[:where[0]] + "\n" + readme_block(tables) + text[where[1]:])
    return True
