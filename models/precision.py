"""Compute precision: one setting for every forward pass tsft runs, on CPU as on GPU.

`precision` is an autocast setting, not a weight dtype: weights (and AdamW's moments) stay as
loaded, usually float32, and `torch.autocast` runs matrix multiplications in the lower precision
while numerically delicate ops (softmax, norms, the loss) stay in float32.

* `fp32` - no autocast: the reference, used where exactness is the point (engine agreement,
  exact patching checked against another implementation).
* `bf16` - bfloat16 autocast. On CPUs with AVX-512 BF16 or AMX it runs a 135M-parameter model
  several times faster than float32 (SmolLM2-135M, 2 threads: forward 6.6x); on CUDA it needs a
  GPU with bf16 support.
* `fp16` - float16 autocast, CUDA only (training adds a gradient scaler).
* `auto` - `bf16` where it is fast and safe: the device computes bf16 natively AND the model has at
  least `AUTO_MIN_PARAMETERS` parameters. Small models gain nothing from bf16 (their matrices are
  too small for the bf16 kernels to pay), so the synthetic world's bases stay in float32 and
  their results bit-identical to float32 runs; real pretrained models get bf16.

`resolve` turns `auto` into the precision actually used; every result records that value
(training run cards, eval/patch/probe request.json). bf16 vs fp32 agreement is tested within a
stated tolerance (tests/training/test_precision.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
AUTO_MIN_PARAMETERS = 20_000_000
"""`auto` picks bf16 only for models at least this large (SmolLM2-135M: yes; the synthetic bases: no)."""


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: use {', '.join(PRECISIONS)}")
    return precision


def device_type(device) -> str:
    return str(device).split(":")[0]


def fast_bf16(device) -> bool:
    """Whether `device` computes bfloat16 natively (AVX-512 BF16 / AMX CPUs, bf16-capable GPUs)."""
    import torch

    if device_type(device) == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve(precision: str, model, device=None) -> str:
    """The precision `precision` means for `model` on `device` (default: the model's device)."""
    check_precision(precision)
    device = device if device is not None else next(model.parameters()).device
    if precision == "fp16" and device_type(device) != "cuda":
        raise ValueError("precision fp16 needs a CUDA device; on CPU use bf16 or fp32")
    if precision != "auto":
        return precision
    n = sum(p.numel() for p in model.parameters())
    return "bf16" if n >= AUTO_MIN_PARAMETERS and fast_bf16(device) else "fp32"


def autocast(precision: str, device):
    """The autocast context of a resolved precision on `device` (a null context for fp32)."""
    import torch

    if precision == "fp32":
        return nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[check_precision(precision)]
    return torch.autocast(device_type(device), dtype=dtype)


@contextmanager
def compute(model, precision: str = "auto") -> Iterator[str]:
    """Run the block's forward passes of `model` at `precision`; yields the resolved precision."""
    device = next(model.parameters()).device
    resolved = resolve(precision, model, device)
    with autocast(resolved, device):
        yield resolved
