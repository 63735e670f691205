"""C4's MLP share read three more ways, so that no single choice decides it.

The MLP share (analysis.inside.mlp_share) is the part of the restored logit difference that flows through the
MLP blocks rather than the attention blocks, summed over layers and spans, on theorem-swap pairs. A reviewer will
ask three things of it:

* **Is it layer 0?** MLP 0 at the differing token carries a large part of the effect in every model, the
  pretrained base included: it turns the swapped word into the residual stream, which any model must do. The
  share *without layer 0* (both components' layer 0 left out) says whether the MLPs carry the rule beyond that.
* **Is it theorem-SFT's?** The share of each theorem-SFT seed minus the base's share (one model, no seed to
  redraw: only the theorem arm's seed spread counts) and minus answer-SFT's (both arms' seeds count). Both are
  computed on the same pairs for every checkpoint, so the problems' sampling moves them together; the interval
  is analysis.seeds' seed + problem t interval (pairs as the problem units, each its own cluster).
* **Is it determined?** Each reading carries its interval; a reading without one (fewer than two seeds of an
  arm, or a checkpoint not patched) is reported as not measured.

`share_table` gives one row per reading; the C4 verdict reads the first (with and without layer 0) and the
report shows all of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tsft.analysis.inside import exact_rows, mlp_share, patched_runs, share_frame, share_stat
from tsft.analysis.seeds import seed_interval
from tsft.analysis.stats import NAN, Estimate

COLUMNS = ["reading", "subject", "value", "ci_low", "ci_high", "n_seeds", "n_units", "interval", "note"]


def without_layer_zero(pairs: pd.DataFrame) -> pd.DataFrame:
    return pairs[pairs["layer"] > 0] if len(pairs) else pairs


def _aligned_units(pairs: pd.DataFrame, models: list[str]) -> dict[str, np.ndarray]:
    """Per patched model, its (pairs x [mlp, attn]) restored sums over the pairs every one of them has, in one
    order."""
    frame = exact_rows(pairs)
    frames = {m: share_frame(frame[frame["model"] == m]) for m in models}
    frames = {m: f for m, f in frames.items() if len(f)}
    if not frames:
        return {}
    common = sorted(set.intersection(*(set(f.index) for f in frames.values())))
    return {m: f.loc[common].to_numpy(dtype=float) for m, f in frames.items()}


def share_difference(pairs: pd.DataFrame, runs_a: list[str], runs_b: list[str], fixed_b: bool = False) -> Estimate:
    """Mean MLP share of runs A minus that of runs B on the pairs all of them were patched on, with the seed +
    problem t interval (`fixed_b`: B is the base, one model no seed redraws)."""
    units = _aligned_units(pairs, [*runs_a, *runs_b])
    a, b = [units[m] for m in runs_a if m in units], [units[m] for m in runs_b if m in units]
    if not a or not b or not len(a[0]):
        return NAN
    return seed_interval(a, b, np.arange(len(a[0])), share_stat, fixed_b=fixed_b)


def _row(reading: str, subject: str, estimate: Estimate, interval: str, note: str = "") -> dict:
    return {"reading": reading, "subject": subject, **estimate.as_dict(), "interval": interval, "note": note}


def share_table(patch_pairs: pd.DataFrame, models: pd.DataFrame, params: str = "full",
                base: str | None = None) -> pd.DataFrame:
    """The readings of the module doc for the theorem-SFT runs of `params` (see there)."""
    if patch_pairs.empty or models.empty:
        return pd.DataFrame(columns=COLUMNS)
    patched = set(exact_rows(patch_pairs)["model"])
    theorem, answer = (patched_runs(patch_pairs, models, target, params) for target in ("theorem", "answer"))
    if not theorem:
        return pd.DataFrame(columns=COLUMNS)
    boot = "bootstrap over seeds and pairs"
    t_interval = "seed + problem t interval (analysis.seeds)"
    rows = [_row("MLP share", f"theorem-{params}", mlp_share(patch_pairs, theorem), boot),
            _row("MLP share without layer 0", f"theorem-{params}",
                 mlp_share(without_layer_zero(patch_pairs), theorem), boot)]
    if base in patched:
        rows.append(_row("MLP share", base, mlp_share(patch_pairs, [base]), "bootstrap over pairs"))
        rows.append(_row("MLP share, theorem - base", f"theorem-{params} - {base}",
                         share_difference(patch_pairs, theorem, [base], fixed_b=True), t_interval,
                         "the base is one model: only theorem-SFT's seed spread counts"))
    if answer:
        rows.append(_row("MLP share, theorem - answer", f"theorem-{params} - answer-{params}",
                         share_difference(patch_pairs, theorem, answer), t_interval))
    return pd.DataFrame(rows, columns=COLUMNS)
