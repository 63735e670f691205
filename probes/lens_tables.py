"""Lens results as tables, torch-free (analysis reads them): per layer, how often the right token is the lens's
top token, and the first layer where it is for at least half of the problems."""

from __future__ import annotations

import pandas as pd

KEYS = ["model", "lens", "style", "kind"]


def decodable_layer(table: pd.DataFrame, kind: str = "original", share: float = 0.5) -> int | None:
    """The first layer where the right token is the lens's top token for at least `share` of the problems."""
    part = table[table["kind"] == kind]
    top = (part["rank"] == 0).groupby(part["layer"]).mean()
    hits = top[top >= share]
    return int(hits.index.min()) if len(hits) else None


def lens_summary(lens: pd.DataFrame) -> pd.DataFrame:
    """Per (model, lens, style, kind, layer): the share of problems read at top-1, the median rank, the mean
    probability of the right token, and n."""
    if lens.empty:
        return pd.DataFrame(columns=[*KEYS, "layer", "top1", "median_rank", "prob", "n"])
    frame = lens.assign(top1=lens["rank"] == 0)
    return frame.groupby([*KEYS, "layer"], sort=False).agg(
        top1=("top1", "mean"), median_rank=("rank", "median"), prob=("prob", "mean"),
        n=("problem_id", "nunique")).reset_index()


def decodable_table(lens: pd.DataFrame, share: float = 0.5) -> pd.DataFrame:
    """Per (model, lens, style, kind): the first decodable layer (None: at no layer)."""
    if lens.empty:
        return pd.DataFrame(columns=[*KEYS, "decodable_layer", "layers"])
    rows = [{**dict(zip(KEYS, keys, strict=True)), "decodable_layer": decodable_layer(part, keys[3], share),
             "layers": int(part["layer"].max()) + 1} for keys, part in lens.groupby(KEYS, sort=False)]
    return pd.DataFrame(rows)
