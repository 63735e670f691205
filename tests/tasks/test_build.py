"""Data folders: same seed same bytes, atomic writes, manifest checks, reading back, the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tsft.tasks.build import build_real, build_synthetic
from tsft.tasks.dataset import load_dataset
from tsft.tasks.io import DataError
from tsft.tasks.schema import Perturbation, Problem
from tsft.tasks.world.generate import WorldConfig
from typer.testing import CliRunner

from tsft.cli import app

SMALL = WorldConfig(seed=4, n_train=120, n_test=40, cue_strength=0.5)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "world"
    manifest = build_synthetic(SMALL, out)
    return out, manifest


def test_layout_and_manifest(built):
    out, manifest = built
    files = set(folder_bytes(out))
    assert {"train.jsonl", "test.jsonl", "theorems.json", "manifest.json"} <= files
    assert {f"perturbed/{k}.jsonl" for k in manifest["counts"]["perturbed"]} <= files
    assert manifest["counts"]["train"] == 120 and manifest["counts"]["test"] == 40
    assert manifest["seed"] == 4 and manifest["config"]["cue_strength"] == 0.5
    assert sum(manifest["by_theorem"]["test"].values()) == 40
    kinds = manifest["counts"]["perturbed"]
    assert len(kinds) >= 8 and "cue_conflict" in kinds
    for kind, count in kinds.items():  # every original is either perturbed or skipped with a reason
        assert count + sum(manifest["skipped_perturbations"].get(kind, {}).values()) == 40, kind
    assert manifest["answer_changed"]["out_of_range"] > 0
    assert all(manifest["answer_changed"][k] == 0 for k in kinds if k != "out_of_range")
    assert set(manifest["sha256"]) == files - {"manifest.json"}


def test_same_seed_same_bytes_other_seed_other_bytes(built, tmp_path):
    out, _ = built
    build_synthetic(SMALL, tmp_path / "again")
    assert folder_bytes(tmp_path / "again") == folder_bytes(out)
    build_synthetic(WorldConfig(seed=5, n_train=120, n_test=40, cue_strength=0.5), tmp_path / "other")
    assert folder_bytes(tmp_path / "other")["train.jsonl"] != folder_bytes(out)["train.jsonl"]


def test_reading_back_round_trips(built):
    out, _ = built
    dataset = load_dataset(out)
    rows = [json.loads(line) for line in (out / "test.jsonl").read_text().splitlines()]
    assert [p.to_dict() for p in dataset.test] == rows
    assert [Problem.from_dict(r) for r in rows] == dataset.test
    by_id = {p.id: p for p in dataset.test}
    for kind, perturbations in dataset.perturbed.items():
        for row in perturbations:
            assert isinstance(row, Perturbation) and row.original_id in by_id and row.kind == kind
            assert Perturbation.from_dict(row.to_dict()) == row
    assert dataset.split("perturbed/distractor") == [p.problem for p in dataset.perturbed["distractor"]]
    with pytest.raises(DataError, match="no split"):
        dataset.split("perturbed/nope")


def test_edited_files_are_caught(built, tmp_path):
    out, _ = built
    copy = tmp_path / "copy"
    for name, data in folder_bytes(out).items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(data)
    with (copy / "test.jsonl").open("a") as handle:
        handle.write("{}\n")
    with pytest.raises(DataError, match="differs from manifest"):
        load_dataset(copy)
    with pytest.raises(DataError, match=r"test\.jsonl:41: field 'id': missing"):
        load_dataset(copy, verify=False)


def test_existing_output_is_never_half_overwritten(tmp_path):
    target = tmp_path / "keep"
    build_synthetic(SMALL, target)
    before = folder_bytes(target)
    with pytest.raises(FileExistsError, match="--overwrite"):
        build_synthetic(WorldConfig(seed=9, n_train=10, n_test=5), target)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q?", "answer": "#### 3"}\n{"question": "q?"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2"):
        build_real("gsm8k", bad, target, overwrite=True)
    assert folder_bytes(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "keep"]  # no temp folder left
    build_synthetic(WorldConfig(seed=9, n_train=10, n_test=5), target, overwrite=True)
    assert json.loads((target / "manifest.json").read_text())["seed"] == 9


def test_skip_invalid_counts_rows_in_the_manifest(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Ann has 2 cats. How many?", "answer": "#### 2"}\n{"question": "q?"}\n')
    manifest = build_real("gsm8k", bad, tmp_path / "out", skip_invalid=True)
    assert manifest["counts"]["test"] == 1
    assert manifest["skipped_rows"] == [{"file": str(bad), "line": 2, "field": "answer", "reason": "missing"}]
    assert manifest["counts"]["perturbed"]["entity_rename"] == 1


def test_command_builds_and_shows(tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(app, ["data", "build", "--out", str(out), "--n-train", "40", "--n-test", "20",
                                 "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "perturbed/paraphrase" in result.output and "wrote" in result.output
    assert load_dataset(out).manifest["counts"]["test"] == 20
    shown = runner.invoke(app, ["data", "show", str(out), "--n", "2"])
    assert shown.exit_code == 0 and "syn-test-000000" in shown.output
    again = runner.invoke(app, ["data", "build", "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output
    missing = runner.invoke(app, ["data", "show", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "manifest.json" in missing.output
    bad_cue = runner.invoke(app, ["data", "build", "--out", str(tmp_path / "x"), "--cue-strength", "2"])
    assert bad_cue.exit_code == 2 and "cue_strength" in bad_cue.output
    misplaced = runner.invoke(app, ["data", "build", "--out", str(tmp_path / "x"), "--path", "a.jsonl"])
    assert misplaced.exit_code == 2 and "real sources only, not --source synthetic: --path" in misplaced.output
    misplaced = runner.invoke(app, ["data", "build", "--out", str(tmp_path / "x"), "--source", "gsm8k",
                                    "--path", "a.jsonl", "--n-train", "5"])
    assert misplaced.exit_code == 2 and "synthetic only, not gsm8k: --n-train" in misplaced.output
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(("source", "relative", "count"), [
    ("math", "math500/test.jsonl", 500), ("gsm8k", "gsm8k/test.jsonl", 1319),
    ("theoremqa", "theoremqa/theoremqa_test.json", 800), ("champ", None, 270),
])
def test_real_sources_build_into_folders(source, relative, count, tmp_path):
    from tests.conftest import shared_file

    path = shared_file(relative) if relative else None
    manifest = build_real(source, path, tmp_path / source)
    assert manifest["counts"]["test"] == count and "train" not in manifest["counts"]
    for kind, n in manifest["counts"]["perturbed"].items():
        assert n + sum(manifest["skipped_perturbations"].get(kind, {}).values()) == count, kind
    dataset = load_dataset(tmp_path / source)
    assert len(dataset.test) == count
    assert len(dataset.theorems) == {"math": 0, "gsm8k": 0, "theoremqa": 334, "champ": 89}[source]


def _build_cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["data", "build", *map(str, args)], env={"COLUMNS": "200"})
    return result.exit_code, " ".join(result.output.split())


def test_skip_invalid_skips_lines_that_are_not_json_and_names_the_real_column(tmp_path):
    source = tmp_path / "g.jsonl"
    good = '{"question": "Ann has 2 cats and 1 dog. How many pets?", "answer": "2 + 1 = 3\\n#### 3"}'
    cut = '{"question": "q?", "answer": "#### 1"'
    source.write_text(f"{good}\n{cut}\n{good}\n")
    code, output = _build_cli("--source", "gsm8k", "--path", source, "--out", tmp_path / "strict")
    # the fault is the missing brace just past the end of line 2, not "column 1"
    where = f"at column {len(cut) + 1} of {len(cut)}"
    assert code == 2 and f"{source}:2: invalid JSON (Expecting ',' delimiter {where})" in output
    assert "Traceback" not in output and not (tmp_path / "strict").exists()
    code, output = _build_cli("--source", "gsm8k", "--path", source, "--out", tmp_path / "lenient", "--skip-invalid")
    assert code == 0, output
    manifest = load_dataset(tmp_path / "lenient").manifest
    assert manifest["counts"]["test"] == 2
    assert [(r["line"], r["field"]) for r in manifest["skipped_rows"]] == [(2, None)]


def test_an_unknown_source_lists_every_source(tmp_path):
    code, output = _build_cli("--source", "foo", "--out", tmp_path / "x")
    assert code == 2 and "unknown source 'foo'; known: synthetic, diagram, math, gsm8k" in output
    assert not (tmp_path / "x").exists()


def test_empty_inputs_are_refused_not_written(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    code, output = _build_cli("--source", "jsonl", "--path", empty, "--out", tmp_path / "a")
    assert code == 2 and f"{empty}: no problems to write (the file has no rows)" in output
    junk = tmp_path / "junk.jsonl"
    junk.write_text("not json\n")
    code, output = _build_cli("--source", "jsonl", "--path", junk, "--out", tmp_path / "b", "--skip-invalid")
    assert code == 2 and "no problems to write (1 rows skipped as invalid)" in output
    code, output = _build_cli("--n-test", "0", "--out", tmp_path / "c")
    assert code == 2 and "--n-test 0: a data folder needs at least one test problem" in output
    assert not any((tmp_path / name).exists() for name in "abc")


def test_piped_help_is_not_cut_at_80_columns():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERMINAL_WIDTH")}
    result = subprocess.run([sys.executable, "-m", "tsft", "data", "build", "--help"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "'text=question, answer=final, split=split'" in result.stdout
    assert "…" not in result.stdout
