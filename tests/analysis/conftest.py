"""Fixture tables for analysis/ and figures/ tests: graded predictions written by hand, with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

KINDS = ("entity_rename", "paraphrase", "out_of_range")


def predictions_for(model: str, original: np.ndarray, perturbed: dict[str, np.ndarray], seed: int = 0,
                    step: int = 100, final: bool = True) -> pd.DataFrame:
    """Rows of a predictions table: original i is problem o{i}; its `kind` version is o{i}~kind (NaN = absent)."""
    rows = []
    for i, correct in enumerate(original):
        rows.append({"model": model, "split": "test", "kind": "original", "problem_id": f"o{i}",
                     "original_id": f"o{i}", "correct": bool(correct), "step": step, "final": final})
        for kind, values in perturbed.items():
            if not np.isnan(values[i]):
                rows.append({"model": model, "split": "perturbed", "kind": kind, "problem_id": f"o{i}~{kind}",
                             "original_id": f"o{i}", "correct": bool(values[i]), "step": step, "final": final})
    return pd.DataFrame(rows)


def models_table(names: list[str]) -> pd.DataFrame:
    rows = []
    for name in names:
        target, params, seed = name.split("-")
        rows.append({"model": name, "kind": "sft", "target": target, "params": params, "seed": int(seed[1:]),
                     "steps": 100})
    return pd.DataFrame(rows)


def bernoulli(rng: np.random.Generator, p: float, n: int) -> np.ndarray:
    return (rng.random(n) < p).astype(float)


@pytest.fixture
def world_predictions():
    """answer-SFT: 60% on originals, 20% under surface kinds; theorem-SFT: 60% and 55%; solution: 70% / 65%.
    Two seeds each, 300 originals; out_of_range at 0% for everyone (it changes the answer); entity_rename, the
    in-distribution control, at the originals' rate (drawn apart, so the other draws do not depend on it)."""
    rng, control = np.random.default_rng(0), np.random.default_rng(100)
    frames, n = [], 300
    for seed in (0, 1):
        for target, (p_orig, p_surface) in {"answer": (0.6, 0.2), "theorem": (0.6, 0.55),
                                            "solution": (0.7, 0.65)}.items():
            model = f"{target}-full-s{seed}"
            perturbed = {"entity_rename_novel": bernoulli(rng, p_surface, n),
                         "paraphrase": bernoulli(rng, p_surface, n), "out_of_range": np.zeros(n),
                         "entity_rename": bernoulli(control, p_orig, n)}
            frames.append(predictions_for(model, bernoulli(rng, p_orig, n), perturbed, seed))
    frame = pd.concat(frames, ignore_index=True)
    models = models_table(sorted(frame["model"].unique()))
    return frame.merge(models[["model", "target", "params", "seed"]], on="model"), models
