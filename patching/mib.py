"""MIB's circuit metrics for every ranking of sites tsft makes: faithfulness curves, CPR and CMD.

The Mechanistic Interpretability Benchmark (MIB, arXiv 2504.13151) scores a method that ranks a model's
components by the faithfulness of the circuits its ranking gives at fixed sizes: keep the top fraction x of
the sites in the clean run, ablate every other site at once, and read f(x) = (m_x - m_none) / (m_all - m_none)
(`patching.ablation.faithfulness_curve`; 1 = the clean model, 0 = every site ablated). Sizes are MIB's
fractions of the sites, 0.1% to 100% (`FRACTIONS`); a fraction keeps floor(x * n) sites, so on a model of 90
sites the smallest keep none. Two areas summarise a curve, each the trapezoid over x / x_max as MIB computes it:

* **CPR** (circuit performance ratio): the area under f - higher is better, a small circuit doing the task;
* **CMD** (circuit-model difference): the area under |1 - f| - lower is better, a circuit that behaves like the
  model (neither worse nor better).

Each ranking - exact patching, attribution patching, AtP*, whichever the sweep ran - is scored under each
ablation, beside `random_draws` random orderings of the same sites (the floor any method must beat). The
exact ranking is also exported in MIB's importance-score format (`importance_json`): a node per site, `m{L}`
for an MLP block and `a{L}` for a whole attention block (tsft ranks blocks, not heads; the file says so in
its `cfg`), with `score` the site's mean normalized effect, so a ranking can be compared or submitted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from tsft.patching.ablation import faithfulness_curves, ranked_sites
from tsft.patching.sites import Site

FRACTIONS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
"""MIB's circuit sizes: fractions of the sites kept."""
SCORE_COLUMNS = ["ranking", "ablation", "cpr", "cmd", "n_sites"]


def area(fractions: Sequence[float], values: Sequence[float]) -> float:
    """The trapezoid area under `values` over fractions / their largest (MIB's area_under_curve)."""
    x = np.asarray(fractions, dtype=float) / max(fractions)
    y = np.asarray(values, dtype=float)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


def sizes(n_sites: int, fractions: Sequence[float] = FRACTIONS) -> list[int]:
    return [int(np.floor(f * n_sites + 1e-9)) for f in fractions]


def rankings(exact: pd.DataFrame, estimates: dict[str, pd.DataFrame], draws: int, seed: int = 0
             ) -> dict[str, list[Site]]:
    """{name: sites in order}: exact patching's, each estimate's (by |mean normalized effect|), and `draws` seeded
    random orderings of the exact ranking's sites."""
    ranked = {"exact": ranked_sites(exact)}
    ranked |= {name: ranked_sites(frame) for name, frame in estimates.items()}
    rng = np.random.default_rng(seed)
    for draw in range(draws):
        order = rng.permutation(len(ranked["exact"]))
        ranked[f"random:{draw}"] = [ranked["exact"][i] for i in order]
    return ranked


def mib_curves(engine, pairs, ranked: dict[str, list[Site]], modes: Sequence[str], request,
               fractions: Sequence[float] = FRACTIONS) -> pd.DataFrame:
    """One row per (ranking, ablation, fraction): the faithfulness of the top floor(fraction * n) sites."""
    ks = {name: sizes(len(order), fractions) for name, order in ranked.items()}
    rows = []
    for mode in modes:
        curves = faithfulness_curves(engine, pairs, ranked, {n: sorted(set(k)) for n, k in ks.items()}, mode, request)
        for name, curve in curves.items():
            by_k = {row["k"]: row for row in curve}
            rows += [{"ranking": name, "fraction": f, **by_k[k]} for f, k in zip(fractions, ks[name], strict=True)]
    return pd.DataFrame(rows)


def mib_scores(curves: pd.DataFrame) -> pd.DataFrame:
    """CPR and CMD of every (ranking, ablation) curve; random orderings also pooled as `random` (their mean)."""
    rows = []
    for (name, mode), curve in curves.groupby(["ranking", "ablation"], sort=False):
        curve = curve.sort_values("fraction")
        f = curve["faithfulness"].to_numpy()
        rows.append({"ranking": name, "ablation": mode, "cpr": area(curve["fraction"], f),
                     "cmd": area(curve["fraction"], np.abs(1 - f)), "n_sites": int(curve["k"].max())})
    scores = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    random = scores[scores["ranking"].str.startswith("random:")]
    if len(random):
        pooled = random.groupby("ablation", sort=False)[["cpr", "cmd", "n_sites"]].mean().reset_index()
        scores = pd.concat([scores, pooled.assign(ranking="random")[SCORE_COLUMNS]], ignore_index=True)
    return scores


def importance_json(exact: pd.DataFrame, n_layers: int, d_model: int) -> dict:
    """Exact patching's ranking in MIB's importance-score format (nodes only, at tsft's block granularity)."""
    effect = exact.groupby(["layer", "component", "position"])["normalized"].mean()
    best = effect.abs().groupby(level=["layer", "component"]).idxmax()
    nodes = {"input": {"in_graph": True}}
    for (layer, component), key in best.items():
        prefix = {"mlp_out": "m", "attn_out": "a"}.get(component)
        if prefix is not None:
            nodes[f"{prefix}{int(layer)}"] = {"score": float(effect[key]), "in_graph": True}
    nodes["logits"] = {"in_graph": True}
    return {"cfg": {"n_layers": n_layers, "d_model": d_model, "parallel_attn_mlp": False,
                    "granularity": "block (a{L}: a whole attention block; m{L}: an MLP block)"},
            "nodes": nodes, "edges": {}}
