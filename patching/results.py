"""Tidy result tables: one row per pair x condition, a summary per condition, saved with the request.

Columns of the per-pair table: model, engine, method, direction, metric, pair_type, pair_id,
layer, component, position, n_positions, value (the raw metric), normalized (0 = corrupt run,
1 = clean run), clean, corrupt; a sweep adds `parameters` (the size of the block that writes the site, for
random-location controls) and AtP* rows `graddrop`. The summary has one row per (model, engine, method, direction,
metric, pair_type, layer, component, position): the mean raw value, the mean normalized value
with its standard error, n_pairs (pairs with a defined normalized value), and
`normalized_of_mean` = (mean value - mean corrupt) / (mean clean - mean corrupt), TransformerLens's
convention, which pairs with a small clean-corrupt gap cannot dominate. A results folder
holds `pairs.parquet`, `summary.parquet` and `request.json` (the request and its provenance),
written atomically.
"""

from __future__ import annotations

from pathlib import Path

from tsft.models.provenance import save_tables

KEYS = ["model", "engine", "method", "direction", "metric", "pair_type", "layer", "component", "position"]


def tidy(rows: list[dict], **constants):
    """The per-pair table: the rows of a sweep with constant columns (model, engine...) in front."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    for i, (name, value) in enumerate(constants.items()):
        frame.insert(i, name, value)
    return frame


def summarize(frame):
    """Mean per condition over pairs (normalized: mean, standard error, n_pairs with a value)."""
    keys = [k for k in KEYS if k in frame.columns]
    grouped = frame.groupby(keys, sort=False, dropna=False)
    out = grouped.agg(value=("value", "mean"), normalized=("normalized", "mean"),
                      normalized_sem=("normalized", "sem"), n_pairs=("normalized", "count"),
                      clean=("clean", "mean"), corrupt=("corrupt", "mean")).reset_index()
    out["normalized_of_mean"] = (out["value"] - out["corrupt"]) / (out["clean"] - out["corrupt"])
    return out.drop(columns=["clean", "corrupt"])


def layer_component_table(summary, position: str | None = None, column: str = "normalized_of_mean"):
    """A compact layer x component view of the effect (one position label, or the max over them)."""
    frame = summary if position is None else summary[summary["position"] == position]
    return frame.pivot_table(index="layer", columns="component", values=column, aggfunc="max")


def save_results(out: str | Path, frame, request: dict, overwrite: bool = False, start: float | None = None,
                 extra: dict | None = None) -> Path:
    """Write pairs.parquet, summary.parquet and any `extra` tables ({file name: table}) with request.json
    (`models.provenance.save_tables`)."""
    return save_tables(out, {"pairs.parquet": frame, "summary.parquet": summarize(frame), **(extra or {})},
                       request, overwrite, start)
