"""Every analysis table from one results folder, saved as parquet (the figures and the report read these).

`analysis_tables(results)` computes E1-E7, each run's plateau and the training controls (analysis.budget), the
random-location controls (analysis.controls), the instruments' own checks
(analysis.instruments), the claims (with their mixed-model readings), the claims at final /
matched / OOD-peak checkpoints, the step-level trace scores, the contamination scan and the diagram world's
reading tables (analysis.vision) from `analysis.collect.Results`;
`write_tables(tables, folder)` writes `<name>.parquet` per table atomically, and
`read_tables(folder)` reads them back, so figures can be re-rendered without recomputing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tsft.analysis import (
    accuracy,
    budget,
    contamination,
    controls,
    inside,
    instruments,
    mixed,
    readings,
    robustness,
    shares,
    traces,
    variables,
    vision,
)
from tsft.analysis.claims import ClaimSettings, c4_runs, claims_from
from tsft.analysis.collect import Results
from tsft.probes import lens_tables
from tsft.tasks.io import atomic_file


def analysis_tables(results: Results, settings: ClaimSettings | None = None) -> dict[str, pd.DataFrame]:
    """All tables (empty where the results lack the inputs)."""
    settings = settings or ClaimSettings()
    models = results.models
    preds = accuracy.with_facts(results.predictions, models)
    acc = accuracy.accuracy_table(preds)
    matched = accuracy.matched_steps(results.curves, models, settings.params, results.predictions)
    effects = inside.patch_map(results.patch_pairs)
    peaks = inside.probe_peaks(results.probes)
    base = settings.base_name(models)
    importance = inside.tuning_importance(results.transplant, acc, base)
    run_peaks = readings.peak_table(preds)
    cross = inside.cross_table(results.cross_pairs)
    ablations = instruments.ablation_table(results.patch_pairs)
    return {
        "models": models, "curves": results.curves, "accuracy": acc,
        "selection": accuracy.selection_table(preds), "matched_steps": matched,
        "matched": accuracy.matched_table(preds, matched),
        "templates": accuracy.template_table(preds, results.templates),
        "patch_map": effects, "patching": inside.patch_table(results.patch_pairs, models),
        "probe_peaks": peaks, "probe_transfer": inside.probe_transfer(results.probes, peaks),
        "probes": results.probes, "cross": cross,
        "transplant": inside.transplant_table(results.transplant),
        "weights": inside.weight_table(results.weights, models), "tuning_importance": importance,
        "spectral": inside.spectral_table(results.spectral, models), "overlap": inside.overlap_table(results.overlap),
        "restore": results.restore, "mib": results.mib,
        "lens": lens_tables.lens_summary(results.lens), "lens_decodable": lens_tables.decodable_table(results.lens),
        "das": variables.das_sites(results.das), "das_first": variables.das_first(results.das),
        "das_best": variables.das_best(results.das),
        "deltas": variables.delta_table(results.deltas, models),
        "delta_contrast": variables.delta_contrast(results.deltas, models),
        "e7": inside.e7_table(effects, importance, models),
        "controls": controls.controls_table(results.patch_pairs, c4_runs(results.patch_pairs, models, settings),
                                            results.transplant, effects, importance, models, cross,
                                            results.cross_pairs, acc),
        "claims": claims_from(preds, matched, results.patch_pairs, models, settings, results.problems,
                              budget.with_variants(results.predictions, models)),
        "training": budget.training_table(models, results.curves, results.predictions, results.train_predictions),
        "budget": budget.budget_table(results.predictions, models, results.problems, settings.learned),
        "lr_trials": budget.lr_table(models, results.curves),
        "shares": shares.share_table(results.patch_pairs, models, settings.params, base),
        "mixed": mixed.kind_model(preds, results.problems, settings.params),
        "run_peaks": run_peaks, "readings": readings.claim_readings(preds, matched, run_peaks, settings),
        "consistency": robustness.consistency_table(preds),
        "effective_robustness": robustness.effective_robustness_table(preds),
        **_trace_tables(preds, results.problems),
        "contamination": contamination.contamination_table(results.predictions, results.problems),
        "estimates": instruments.estimate_table(results.requests), "ablations": ablations,
        "ablation_agreement": instruments.ablation_agreement(ablations), "faithfulness": results.faithfulness,
        "erasure": instruments.erasure_table(results.causal),
        "group_map": vision.group_map(results.groups), "reading": vision.reading_difference(results.groups, models),
        "figure_gaps": vision.figure_gaps(results.groups),
        "figure_probes": vision.figure_probe_peaks(results.probes),
    }


def _trace_tables(predictions: pd.DataFrame, problems: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Step-level trace scores per arm (`traces`, seeds pooled) and per checkpoint (`traces_by_checkpoint`)."""
    scored = traces.score_predictions(predictions, problems)
    surface = accuracy.surface_kinds(predictions["kind"]) if len(predictions) else []
    return {"traces": traces.trace_table(scored, surface),
            "traces_by_checkpoint": traces.trace_table(scored, surface, traces.CHECKPOINT)}


def write_tables(tables: dict[str, pd.DataFrame], folder: str | Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        with atomic_file(folder / f"{name}.parquet") as tmp:
            frame.to_parquet(tmp, index=False)
    return folder


def read_tables(folder: str | Path) -> dict[str, pd.DataFrame]:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no tables folder (run `tsft reproduce` or `tsft analyze` first)")
    tables = {path.stem: pd.read_parquet(path) for path in sorted(folder.glob("*.parquet"))}
    if "claims" not in tables:
        raise FileNotFoundError(f"{folder}: no claims.parquet, so not the tables of a tsft analysis (run `tsft "
                                "analyze` on the results folder first)")
    return tables
