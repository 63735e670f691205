"""`tsft reproduce --modality vision`: the diagram world end to end on a tiny Qwen2.5-VL, and its plan."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from tsft.figures.render import FIGURES, VISION_FIGURES

from tsft import jobs
from tsft.presets import VISION_PRESETS, preset
from tsft.reproduce import reproduce as run_reproduce
from tsft.stages import Inputs, plan

pytest.importorskip("PIL")

ENV_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.mark.slow
def test_vision_smoke_runs_end_to_end_and_reports_where_the_figure_is_read(tmp_path):
    import os

    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "tsft", "reproduce", "--preset", "smoke", "--modality", "vision",
                           "--out", str(run), "--no-png"], env={**os.environ, **ENV_THREADS}, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert any((run / "data" / "images").glob("*~given_swap.png"))
    card = json.loads((run / "base" / "run_card.json").read_text())
    assert card["config"]["arch"] == "qwen2_5_vl" and (run / "base" / "preprocessor_config.json").is_file()
    groups = pd.read_parquet(run / "tables" / "group_map.parquet")
    assert {"base", "answer-full-s0", "theorem-full-s0", "theorem-mlp-s0"} <= set(groups["model"])
    assert set(groups["group"]) == {"image", "text", "last"}
    # restoring the figure's embeddings restores the clean run, pair by pair (compared on the logit difference
    # itself: the smoke models' clean - corrupt gaps are ~1e-3, so their ratio magnifies batch-level float noise)
    raw = pd.concat([pd.read_parquet(p) for p in run.glob("patch/*/groups.parquet")])
    exact = raw[(raw["layer"] == 0) & (raw["component"] == "resid_pre") & (raw["group"] == "image")]
    assert len(exact) > 0 and (exact["value"] - exact["clean"]).abs().max() <= 1e-4
    reading = pd.read_parquet(run / "tables" / "reading.parquet")
    assert len(reading) == 2 * 3 * 3 and reading["n"].min() > 0  # layers x components x groups
    probes = pd.read_parquet(run / "tables" / "figure_probes.parquet")
    assert set(probes["position"]) == {"image", "problem", "last"}
    figures = {p.stem for p in (run / "figures").glob("F*.html")}
    assert {"F9_groups", "F10_figure_probes", "F11_reading", "F14_updates"} <= figures
    assert len(figures) == len(FIGURES) + len(VISION_FIGURES)
    report = (run / "report.html").read_text()
    assert "Reading the figure" in report and "theorem - answer difference" in report
    claims = pd.read_parquet(run / "tables" / "claims.parquet")
    assert list(claims["claim"]) == ["C1", "C2", "C3", "C4"]
    assert claims.set_index("claim").loc["C4", "note"].startswith("not measured")  # no theorem-swap patching here


def test_vision_plan_patches_position_groups_and_skips_text_only_stages(tmp_path):
    smoke = preset("smoke", "vision")
    inputs = Inputs(tmp_path)
    assert plan("data", inputs, smoke)[0].kwargs["preset"].modality == "vision"
    patch = plan("patch", inputs, smoke)
    assert {j.runner for j in patch} == {jobs.groups}
    assert [j.name for j in patch] == ["base", *(f"{t}-{p}-s0" for t in ("answer", "solution", "theorem")
                                                 for p in ("full", "mlp"))]
    assert patch[0].kwargs["target"] == "answer" and patch[1].kwargs["target"] is None  # runs read in their own style
    assert plan("cross", inputs, smoke) == [] and plan("transplant", inputs, smoke) == []
    probe = plan("probe", inputs, smoke)[0].kwargs
    assert probe["positions"] == ("image", "problem", "last") and "figure_value" in probe["labels"]


def test_a_text_run_folder_refuses_to_continue_as_vision(tmp_path):
    meta = {"preset": preset("smoke").to_dict(), "inputs": {"model": None, "data": None, "seed": 0}, "stages": {}}
    (tmp_path / "reproduce.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"preset.modality: 'text' -> 'vision'"):
        run_reproduce(Inputs(tmp_path), VISION_PRESETS["smoke"])


def test_unknown_modality_is_named():
    with pytest.raises(ValueError, match="unknown modality 'audio'; choose one of text, vision"):
        preset("quick", "audio")
