"""Where and how an analysis runs a checkpoint: device, weight dtype, compute precision; and loading it so.

Every room that opens a trained model to look inside it (patching, probes, weights, transplant) loads it the
same way: eager attention (so every patching engine sees the same numbers as plain hooks), the requested device
and dtype, evaluation mode, and the two facts a result needs from the run card: the checkpoint's name and the
target style it was tuned on (None for a base). Evaluation places a model the same way, with the attention its
config asks for (models.evaluate).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tsft.models.cards import Checkpoint
from tsft.models.loading import load_model


@dataclass(frozen=True)
class Placement:
    """Where and how models run: a torch device, the weights' dtype (float32 | bfloat16 | float16; None = as
    saved) and the compute precision of every forward (autocast: auto | fp32 | bf16 | fp16, training.precision)."""

    device: str = "cpu"
    dtype: str | None = None
    precision: str = "auto"

    def torch_dtype(self) -> torch.dtype | None:
        """The weights' torch dtype (None: as saved); an unknown name is a ValueError."""
        dtype = getattr(torch, self.dtype, "unknown") if self.dtype else None
        if dtype is not None and not isinstance(dtype, torch.dtype):
            raise ValueError(f"unknown dtype {self.dtype!r}; use float32, bfloat16 or float16")
        return dtype


def load_checkpoint(folder, placement: Placement = Placement()):
    """(model, tokenizer, Checkpoint) from a checkpoint folder, placed as asked; the Checkpoint record
    (models.cards) gives its name, trained target style (None for a base), run card and depth."""
    checkpoint = Checkpoint.open(folder)
    model, tokenizer = load_model(checkpoint, dtype=placement.torch_dtype(), device=placement.device,
                                  attn_implementation="eager")
    return model.eval(), tokenizer, checkpoint
