"""Regional compilation: the compiled step is the eager step, evaluation and checkpoints see the plain model,
and a failed compile falls back (auto) or stops the run (on)."""

from __future__ import annotations

import os
import shutil

import pytest
import torch
import tsft.training.trainer as trainer_module
from safetensors import safe_open
from torch._dynamo.exc import TorchDynamoException
from tsft.models.architectures import decoder_layers
from tsft.training.compiling import wants_compile
from tsft.training.sft import encode_problems
from tsft.training.trainer import Run, Trainer, predicted_targets

from tests.training.conftest import fast_sft, tiny_model

needs_compiler = pytest.mark.skipif(
    not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "clang++")),
    reason="torch.compile on CPU builds C++ kernels: no C++ compiler (g++ or clang++) on this machine")


def _trainer(tokenizer, dataset, out, arch: str = "llama", **settings) -> Trainer:
    torch.manual_seed(0)
    examples = encode_problems(dataset.train, tokenizer, "solution", 384, "train")
    run = Run(model=tiny_model(tokenizer, arch), tokenizer=tokenizer, examples=examples, out=out, card={},
              progress=False)
    return Trainer(run, fast_sft(**settings))


def _steps(trainer: Trainer, n: int = 3):
    losses = [trainer.train_step()[0] for _ in range(n)]
    return losses, {name: p.detach().clone() for name, p in trainer.model.named_parameters()}


@pytest.mark.parametrize(("setting", "precision", "world", "checkpointing", "expected"), [
    ("auto", "bf16", 1, False, True), ("auto", "fp16", 1, False, True), ("auto", "fp32", 1, False, False),
    ("auto", "bf16", 2, False, False), ("auto", "bf16", 1, True, False), ("on", "fp32", 2, True, True),
    ("off", "bf16", 1, False, False)])
def test_auto_compiles_autocast_runs_on_one_process(setting, precision, world, checkpointing, expected):
    assert wants_compile(setting, precision, world, checkpointing) is expected


@needs_compiler
@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_compiled_steps_are_the_eager_steps(arch, tokenizer, dataset, tmp_path):
    eager = _trainer(tokenizer, dataset, tmp_path / "eager", arch, compile="off")
    compiled = _trainer(tokenizer, dataset, tmp_path / "compiled", arch, compile="on")
    assert not eager.compiled and len(compiled.compiled) == len(decoder_layers(compiled.model))
    assert all(layer._compiled_call_impl is not None for layer in compiled.compiled)
    reference_grads, grads = _gradients(eager), _gradients(compiled)
    assert grads.keys() == reference_grads.keys()  # Module.compile wraps the call: parameter names unchanged
    for name, value in reference_grads.items():  # the compiled backward is the eager one
        assert torch.allclose(grads[name], value, rtol=1e-3, atol=1e-7), name
    reference_losses, _ = _steps(eager)
    losses, _ = _steps(compiled)
    assert losses == pytest.approx(reference_losses, rel=1e-5)
    assert not _compiled_regions(eager) and _compiled_regions(compiled) >= len(compiled.compiled)  # really compiled


def _gradients(trainer: Trainer) -> dict:
    """The first batch's gradients, without an optimizer step (Adam's update of a near-zero gradient is +-lr on
    noise, so weights after steps cannot be compared tightly; gradients can)."""
    indices = trainer.plan.batch(0)
    n_target = sum(predicted_targets(trainer.run.examples[i]) for i in indices)
    trainer._micro_step(indices, 1 / n_target, True)
    grads = {name: p.grad.detach().clone() for name, p in trainer.model.named_parameters() if p.grad is not None}
    trainer.optimizer.zero_grad(set_to_none=True)
    return grads


def _compiled_regions(trainer: Trainer) -> int:
    """Compiled regions one more step ran (a compile that dynamo gave up on silently would run none)."""
    from torch.profiler import profile

    with profile() as run:
        trainer.train_step()
    return sum(e.count for e in run.key_averages() if e.key.startswith("Torch-Compiled Region"))


@needs_compiler
def test_evaluation_and_the_saved_model_are_uncompiled(tokenizer, dataset, tmp_path):
    trainer = _trainer(tokenizer, dataset, tmp_path / "run", compile="on", steps=2, save_every=2)
    seen = []
    trainer.run.evaluate = lambda model, step: seen.append(
        [layer._compiled_call_impl for layer in decoder_layers(model)]) or {}
    card = trainer.fit()
    assert seen and all(impl is None for impl in seen[-1])                # evaluation ran eagerly
    assert all(layer._compiled_call_impl is None for layer in decoder_layers(trainer.model))  # released after fit
    assert card["compiled"] is True
    with safe_open(str(tmp_path / "run/model.safetensors"), "pt") as saved:
        names = set(saved.keys())
    assert names <= set(trainer.model.state_dict()) and not any("_orig_mod" in name for name in names)


class NoCompiler(TorchDynamoException):
    """What inductor raises where it cannot build a kernel (no C++ compiler, no Triton)."""


def _broken_compile(model):
    layers = decoder_layers(model)
    for layer in layers:
        layer._compiled_call_impl = lambda *args, **kwargs: (_ for _ in ()).throw(NoCompiler("no C++ compiler"))
    return layers


def test_a_failed_compile_falls_back_under_auto_and_stops_under_on(tokenizer, dataset, tmp_path, monkeypatch):
    reference_losses, _ = _steps(_trainer(tokenizer, dataset, tmp_path / "eager", compile="off", precision="bf16"), 2)
    monkeypatch.setattr(trainer_module, "compile_layers", _broken_compile)
    auto = _trainer(tokenizer, dataset, tmp_path / "auto", compile="auto", precision="bf16")
    with pytest.warns(UserWarning, match="torch.compile failed .*NoCompiler.*training eagerly"):
        losses, _ = _steps(auto, 2)
    assert losses == reference_losses and auto.run.card["compiled"] is False
    assert all(layer._compiled_call_impl is None for layer in decoder_layers(auto.model))
    with pytest.raises(NoCompiler):
        _trainer(tokenizer, dataset, tmp_path / "on", compile="on", precision="bf16").train_step()


def test_a_model_error_in_a_compiled_run_is_not_taken_for_a_compile_failure(tokenizer, dataset, tmp_path,
                                                                            monkeypatch):
    def model_error(model):
        layers = decoder_layers(model)
        layers[0]._compiled_call_impl = lambda *args, **kwargs: (_ for _ in ()).throw(RuntimeError("shape mismatch"))
        return layers

    monkeypatch.setattr(trainer_module, "compile_layers", model_error)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        _trainer(tokenizer, dataset, tmp_path / "auto", compile="auto", precision="bf16").train_step()
