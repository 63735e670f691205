"""Which parameters an SFT run trains: full | mlp | attn | mlp:<first>-<last> | lora[:<modules>].

The paper's claim C3 is that tuning only the MLP (feed-forward) layers matches full tuning; the
counter-claim is that attention-only tuning generalizes better. A selection freezes everything
else (`requires_grad=False`), so frozen parameters stay bitwise unchanged (the tests check it)
and the optimizer never sees them.

* `full`         - every parameter (embeddings, norms, attention, MLP, head);
* `mlp`          - the feed-forward blocks of every layer (gate, up, down projections);
* `attn`         - the attention blocks of every layer (q, k, v, o projections);
* `mlp:4-7`      - the MLP blocks of layers 4..7 only (inclusive, 0-based): E7's per-layer tuning;
* `lora`         - LoRA adapters (peft) on the MLP and attention projections, or on the modules
  named after the colon (`lora:gate_proj,up_proj,down_proj`); rank and alpha come from the config.

Module paths come from the architecture table (models.architectures); Llama and Qwen2 share one
layout. The same table names the sites patching/ reads and edits.

Qwen2.5-VL: the selections address its language model's layers (the vision tower has MLPs and
attention too, which `mlp` and `attn` never touch). Its vision tower (`model.visual`: patch
embedding, blocks and merger) is frozen by default, `full` included; add `+vision` to any
selection to train it as well (`full+vision`, `mlp+vision`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tsft.models.architectures import architecture, n_layers

_SPEC = re.compile(r"^(full|mlp|attn|lora|random)(?::([^+]+))?(\+vision)?$")


@dataclass(frozen=True)
class Selection:
    """A parsed parameter selection."""

    kind: str
    layers: tuple[int, int] | None = None
    modules: tuple[str, ...] = ()
    """lora: the linear layers adapted (empty: the architecture's `lora_modules`)."""
    vision: bool = False
    """Also train a vision model's vision tower (frozen otherwise)."""
    seed: int | None = None
    """random: which draw of blocks (`random_blocks`)."""

    @property
    def spec(self) -> str:
        suffix = "+vision" if self.vision else ""
        if self.kind == "random":
            return f"random:{self.seed}{suffix}"
        if self.layers:
            return f"{self.kind}:{self.layers[0]}-{self.layers[1]}{suffix}"
        if self.kind == "lora" and self.modules:
            return f"lora:{','.join(self.modules)}{suffix}"
        return self.kind + suffix


def parse_selection(spec: str) -> Selection:
    match = _SPEC.match(spec.strip())
    if not match:
        raise ValueError(f"unknown parameter selection {spec!r}; use full, mlp, attn, mlp:<first>-<last> "
                         "(layers, inclusive), random:<seed> or lora[:<module>,...]")
    kind, arg, vision = match.groups()
    vision = bool(vision)
    if kind == "lora":
        modules = tuple(m for m in (arg or "").split(",") if m)  # none named: the family's (architectures)
        return Selection("lora", modules=modules, vision=vision)
    if kind == "random":
        if arg is None or not arg.isdigit():
            raise ValueError(f"bad selection {spec!r}: random takes a draw number, written random:<seed>")
        return Selection("random", seed=int(arg), vision=vision)
    if arg is None:
        return Selection(kind, vision=vision)
    if kind != "mlp" or not re.fullmatch(r"\d+-\d+", arg):
        raise ValueError(f"bad selection {spec!r}: only mlp takes a layer range, written mlp:<first>-<last>")
    first, last = (int(x) for x in arg.split("-"))
    if first > last:
        raise ValueError(f"bad selection {spec!r}: first layer {first} is after last layer {last}")
    return Selection("mlp", layers=(first, last), vision=vision)


Block = tuple[int, str]
"""(layer, "mlp" | "attn"): one layer's MLP or attention block."""


def block_prefixes(model, blocks) -> tuple[str, ...]:
    """Parameter-name prefixes of the given blocks."""
    arch = architecture(model)
    return tuple(f"{arch.layers}.{layer}.{arch.blocks[block]}." for layer, block in blocks)


def block_size(model, block: Block) -> int:
    prefixes = block_prefixes(model, [block])
    return sum(p.numel() for name, p in model.named_parameters() if name.startswith(prefixes))


def fill_budget(sizes, order, budget: float) -> list[int]:
    """Indices taken in `order`, each taken if the running total of `sizes` stays within `budget`: the one rule
    by which random locations of a located one's size are drawn (blocks to tune here, block sets whose patching
    share is compared with the MLPs' in analysis)."""
    chosen, total = [], 0
    for i in order:
        if total + sizes[i] <= budget:
            chosen.append(i)
            total += sizes[i]
    return chosen


def random_blocks(model, budget: int, seed: int) -> list[Block]:
    """Attention and MLP blocks of any layers, in a seeded random order, each taken if the total stays within
    `budget` parameters (so the total ends within one block of it): a random location of about the size of a
    located one (the `random:<seed>` selection uses one layer's MLP as the budget)."""
    import torch

    blocks = [(layer, block) for layer in range(n_layers(model)) for block in ("attn", "mlp")]
    sizes = [block_size(model, b) for b in blocks]
    order = torch.randperm(len(blocks), generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(blocks[i] for i in fill_budget(sizes, order, budget))


def _selected_prefixes(model, selection: Selection) -> list[str]:
    if selection.kind == "random":
        return list(block_prefixes(model, random_blocks(model, block_size(model, (0, "mlp")), selection.seed)))
    depth = n_layers(model)
    first, last = selection.layers or (0, depth - 1)
    if last >= depth:
        raise ValueError(f"selection {selection.spec}: the model has layers 0-{depth - 1}")
    return list(block_prefixes(model, [(i, selection.kind) for i in range(first, last + 1)]))


def apply_selection(model, selection: Selection, lora_rank: int = 8, lora_alpha: float = 16.0):
    """Freeze all but the selection; returns the model to train (a peft model for lora)."""
    if selection.kind == "lora":
        from peft import LoraConfig, get_peft_model

        model.requires_grad_(False)
        arch = architecture(model)
        targets: list[str] | str = list(selection.modules or arch.lora_modules)
        if arch.vision:  # the vision tower's blocks share the module names: adapt the language model only
            if selection.vision:
                raise ValueError("lora+vision is not supported: adapt the language model, or use full+vision")
            targets = rf"^{re.escape(arch.layers)}\.\d+\..*\b({'|'.join(map(re.escape, targets))})$"
        config = LoraConfig(r=lora_rank, lora_alpha=lora_alpha, target_modules=targets,
                            lora_dropout=0.0, bias="none", task_type="CAUSAL_LM")
        return get_peft_model(model, config)
    vision = architecture(model).vision
    if selection.vision and vision is None:
        raise ValueError(f"selection {selection.spec}: the model has no vision tower")
    if selection.kind == "full":
        model.requires_grad_(True)
    else:
        prefixes = tuple(_selected_prefixes(model, selection))
        for name, param in model.named_parameters():
            param.requires_grad_(name.startswith(prefixes))
    if vision is not None:
        model.get_submodule(vision).requires_grad_(selection.vision)
    return model


def parameter_counts(model) -> dict[str, int]:
    """Trainable and total parameter counts (tied weights counted once)."""
    seen, trainable, total = set(), 0, 0
    for param in model.parameters():
        if id(param) in seen:
            continue
        seen.add(id(param))
        total += param.numel()
        trainable += param.numel() if param.requires_grad else 0
    return {"trainable": trainable, "total": total}
