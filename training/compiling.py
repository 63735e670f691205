"""Regional compilation: each decoder layer's forward and backward compiled once, reused by every layer.

A decoder is a stack of identical layers, so compiling one layer's code with `torch.compile(dynamic=True)`
gives one graph that every layer (and every sequence length and micro-batch size) reuses: the elementwise
work between the matrix multiplications (RMSNorm, rotary embeddings, SiLU x up, the attention softmax,
autocast's weight casts) fuses into a few kernels. Compiling the whole model instead would compile 30
copies of the same code. Measured on SmolLM2-135M-Instruct (bf16 autocast, 2 CPU threads, batch 8 of
theorem targets): the first step takes about 25 s longer (the compile; inductor keeps a cache on disk, so
a later run compiles in about 8 s), then training runs about 1.2x faster. The parameters stay where they are
(`Module.compile` wraps the call, not the module), so checkpoints keep their names. The loss is
compiled too (`compiled_function`): the log-softmax over the vocabulary and its backward each become one
fused pass (1.1-1.2x more on SmolLM2; both together: about 1.35x over eager, first step included in the
compile).

`compile` setting (TrainConfig.compile): `on`, `off`, or `auto` = on for runs that autocast (bf16 / fp16:
real pretrained models; the synthetic world's fp32 bases gain nothing worth the compile) on one process
without gradient checkpointing. Under `auto` a failed compile (no C++ compiler on a CPU machine, no
Triton on a GPU one) warns and falls back to eager; under `on` it is an error. Evaluation inside a run and
everything after it run the layers uncompiled (`uncompiled`, `release`): generation's shapes and KV cache
are another graph family, not worth compiling for a few evaluations.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tsft.models.architectures import decoder_layers

COMPILE = ("auto", "on", "off")


def check_compile(setting: str) -> str:
    if setting not in COMPILE:
        raise ValueError(f"compile {setting!r}: use {', '.join(COMPILE)}")
    return setting


def wants_compile(setting: str, precision: str, world: int, gradient_checkpointing: bool) -> bool:
    """Whether a run with this setting compiles its decoder layers (see the module docstring)."""
    if check_compile(setting) != "auto":
        return setting == "on"
    return precision in ("bf16", "fp16") and world == 1 and not gradient_checkpointing


def compile_layers(model) -> list:
    """Compile every decoder layer's call (dynamic shapes); returns the layers."""
    layers = decoder_layers(model)
    for layer in layers:
        layer.compile(dynamic=True)
    return layers


def compiled_function(function):
    """`function` compiled for dynamic shapes (the trainer's loss: the log-softmax over a 49k-token vocabulary and
    its backward fuse into one pass each, 1.1-1.2x more on SmolLM2)."""
    import torch

    return torch.compile(function, dynamic=True)


def release(layers) -> None:
    """Back to eager calls for good."""
    for layer in layers:
        layer._compiled_call_impl = None


@contextmanager
def uncompiled(layers) -> Iterator[None]:
    """Eager calls inside the block, the compiled ones again after it."""
    saved = [layer._compiled_call_impl for layer in layers]
    release(layers)
    try:
        yield
    finally:
        for layer, compiled in zip(layers, saved, strict=True):
            layer._compiled_call_impl = compiled


def is_compile_failure(error: BaseException) -> bool:
    """Whether `error` is torch.compile's (dynamo or inductor), not the model's."""
    from torch._dynamo.exc import TorchDynamoException

    return isinstance(error, TorchDynamoException)
