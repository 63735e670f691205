"""Settings: defaults < file < --set < options; unknown keys and wrong types are named; lr schedule."""

from __future__ import annotations

import itertools
import math

import pytest
from tsft.training.config import BaseConfig, SFTConfig, parse_overrides, resolve_config
from tsft.training.trainer import lr_factor


def test_precedence_file_then_overrides_then_options(tmp_path):
    (tmp_path / "run.toml").write_text('lr = 0.5\nsteps = 7\ntarget = "answer"\nbetas = [0.8, 0.9]\n')
    config = resolve_config(SFTConfig, tmp_path / "run.toml", parse_overrides(["steps=9", "schedule=linear"]),
                            target="solution", seed=None)
    assert (config.lr, config.steps, config.target, config.schedule, config.betas, config.seed) == \
        (0.5, 9, "solution", "linear", (0.8, 0.9), 0)
    (tmp_path / "run.json").write_text('{"preset": "tiny", "gradient_checkpointing": true}')
    base = resolve_config(BaseConfig, tmp_path / "run.json", parse_overrides(["gradient_checkpointing=false"]))
    assert (base.preset, base.gradient_checkpointing) == ("tiny", False)


@pytest.mark.parametrize("overrides, message", [
    (["learning_rate=1"], "unknown setting 'learning_rate'"),
    (["steps=1.5"], "setting 'steps': expected int"),
    (["batch_size=10", "micro_batch_size=4"], "not a multiple"),
    (["schedule=step"], "schedule 'step'"),
    (["precision=int8"], "precision 'int8'"),
    (["steps"], "not key=value"),
])
def test_bad_settings_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        resolve_config(SFTConfig, None, parse_overrides(overrides))


def test_unreadable_config_file_names_the_file(tmp_path):
    (tmp_path / "bad.toml").write_text("lr = = 1")
    with pytest.raises(ValueError, match=r"bad.toml: cannot read config"):
        resolve_config(SFTConfig, tmp_path / "bad.toml")


@pytest.mark.parametrize("schedule", ["cosine", "linear", "constant"])
def test_schedule_warms_up_linearly_then_decays_to_the_floor(schedule):
    config = SFTConfig(steps=100, warmup_steps=10, schedule=schedule, min_lr_ratio=0.1)
    factors = [lr_factor(s, config) for s in range(100)]
    assert factors[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    tail = factors[10:]
    assert all(a >= b for a, b in itertools.pairwise(tail))
    floor = 1.0 if schedule == "constant" else 0.1
    assert math.isclose(lr_factor(100, config), floor)
    if schedule == "cosine":
        assert math.isclose(lr_factor(55, config), 0.1 + 0.9 * 0.5, rel_tol=1e-9)  # half way: mid point


def test_every_setting_is_documented_for_tsft_train_settings():
    from tsft.training.config import describe

    for kind in (SFTConfig, BaseConfig):
        rows = describe(kind)
        assert [name for name, _, _ in rows] == [f.name for f in __import__("dataclasses").fields(kind)]
        assert all(doc for _, _, doc in rows), [name for name, _, doc in rows if not doc]
