"""Checkpoints: bitwise resume after SIGKILL, plain-transformers reload, refusals that keep files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file
from tsft.tasks.io import sha256_file
from tsft.training.checkpoint import ResumeConflict
from tsft.training.sft import train_sft
from tsft.training.trainer import TrainingDiverged

from tests.training.conftest import fast_sft

SETTINGS = ["--set", "steps=60", "--set", "save_every=5", "--set", "batch_size=8", "--set", "micro_batch_size=4",
            "--set", "eval_every=0", "--set", "eval_size=4", "--set", "warmup_steps=5", "--set", "lr=3e-3"]


def _sft_command(base, data, out, *extra):
    return [sys.executable, "-m", "tsft", "train", "sft", "--base", str(base), "--data", str(data),
            "--out", str(out), "--target", "theorem", "--params", "full", "--threads", "1", *SETTINGS, *extra]


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_resume_after_sigkill_equals_the_uninterrupted_run_bitwise(base_dir, data_dir, tmp_path):
    env = {**os.environ, "TQDM_DISABLE": "1"}
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(_sft_command(base_dir, data_dir, whole), check=True, env=env, capture_output=True)
    process = subprocess.Popen(_sft_command(base_dir, data_dir, killed), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoints" / "step-000010").exists() and time.monotonic() < deadline:
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert not (killed / "run_card.json").exists()  # killed mid-run: not complete
    result = subprocess.run(_sft_command(base_dir, data_dir, killed, "--resume"), env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    a, b = _weights(whole), _weights(killed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert load_file(str(whole / "training_state" / "optimizer.safetensors")).keys() == \
        load_file(str(killed / "training_state" / "optimizer.safetensors")).keys()


def test_checkpoint_reloads_with_plain_transformers(base_dir, data_dir, tmp_path):
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    card = train_sft(base_dir, data_dir, tmp_path / "run", fast_sft(), progress=False)
    assert card["status"] == "complete" and card["step"] == 4
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "run")
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tmp_path / "run")
    ids = tokenizer("Problem: What is 2 + 3?\nSolution:", return_tensors="pt")["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    with torch.no_grad():
        assert not torch.allclose(model(ids).logits, base(ids).logits)  # it trained
    saved = _weights(tmp_path / "run")
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items() if k in saved)


def test_lora_checkpoint_is_the_merged_model(base_dir, data_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    train_sft(base_dir, data_dir, tmp_path / "lora", fast_sft(params="lora", lr=5e-2), progress=False)
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "lora")
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    assert not any(".lora_" in k for k in merged.state_dict())
    moved = [k for k, v in merged.state_dict().items() if not torch.equal(v, base.state_dict()[k])]
    assert moved and all(("self_attn" in k or "mlp" in k) and k.endswith("proj.weight") for k in moved)


def test_resume_with_other_settings_is_refused_and_nothing_is_overwritten(base_dir, data_dir, tmp_path):
    out = tmp_path / "run"
    train_sft(base_dir, data_dir, out, fast_sft(), progress=False)
    digest = sha256_file(out / "model.safetensors")
    with pytest.raises(ResumeConflict, match=r"config.lr: saved 0.01, now 0.02"):
        train_sft(base_dir, data_dir, out, fast_sft(lr=2e-2), resume=True, progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train_sft(base_dir, data_dir, out, fast_sft(), progress=False)
    assert train_sft(base_dir, data_dir, out, fast_sft(), resume=True, progress=False)["step"] == 4
    assert sha256_file(out / "model.safetensors") == digest


def test_nan_loss_stops_with_the_last_good_checkpoint_kept(tokenizer, dataset, tmp_path):
    from tsft.training.sft import encode_problems
    from tsft.training.trainer import Run, Trainer

    from tests.training.conftest import tiny_model

    examples = encode_problems(dataset.train, tokenizer, "answer", 384, "train")
    run = Run(model=tiny_model(tokenizer), tokenizer=tokenizer, examples=examples, out=tmp_path, card={},
              progress=False)
    trainer = Trainer(run, fast_sft())
    trainer.train_step(), trainer.train_step()
    good = trainer._save()
    with torch.no_grad():
        run.model.model.norm.weight[0] = float("nan")
    with pytest.raises(TrainingDiverged, match=rf"loss is nan at step 2.*Last good checkpoint: {good}"):
        trainer.train_step()
    assert sorted((tmp_path / "checkpoints").glob("step-*")) == [good]
    assert all(torch.isfinite(v).all() for v in _weights(good).values())


def test_exploding_weights_are_never_saved(base_dir, data_dir, tmp_path):
    out = tmp_path / "diverge"
    config = fast_sft(lr=1e30, max_grad_norm=0.0, warmup_steps=0, schedule="constant", save_every=1, steps=6)
    with pytest.raises(TrainingDiverged, match=r"(loss is|a weight is not finite).*Last good checkpoint"):
        train_sft(base_dir, data_dir, out, config, progress=False)
    assert not (out / "run_card.json").exists()
    for saved in sorted((out / "checkpoints").glob("step-*")):
        assert all(torch.isfinite(v).all() for v in _weights(saved).values())


@pytest.mark.parametrize("params", ["mlp", "lora"])
def test_resume_from_an_intermediate_checkpoint_is_bitwise(params, base_dir, data_dir, tmp_path):
    """A run stopped right after its step-2 save (simulated: the later files are removed) and resumed
    ends with the weights of the run that never stopped; for LoRA the adapter travels in the state."""
    import shutil

    config = fast_sft(params=params, steps=4, save_every=2, keep_checkpoints=2)
    whole = train_sft(base_dir, data_dir, tmp_path / "whole", config, progress=False)
    train_sft(base_dir, data_dir, tmp_path / "cut", config, progress=False)
    cut = tmp_path / "cut"
    assert [p.name for p in (cut / "checkpoints").iterdir()] == ["step-000002"]
    for name in ("run_card.json", "model.safetensors"):
        (cut / name).unlink()
    shutil.rmtree(cut / "training_state")
    resumed = train_sft(base_dir, data_dir, cut, config, resume=True, progress=False)
    a, b = _weights(tmp_path / "whole"), _weights(cut)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["metrics"]["loss"] == whole["metrics"]["loss"]
