"""The decoder's memory and attention: a cache of slots, its masks, one-query attention, weights cast once.

These are the pieces training.decoding puts around an HF model's own forward (see its docstring for the whole
method): `SlotCache` is the object the model's attention layers write their keys and values into; `SlotMasks`
builds masks in the form each attention call takes; `slot_attention` is the decode step's attention, switched
on for a call by `slot_attention_on`; `cast_linear_weights` holds the linear weights in the autocast dtype.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


class SlotCache:
    """Keys and values of `slots` rows per layer, over as many positions as the longest row needs (in `dtype`:
    under autocast, the dtype attention casts them to anyway; else as the model makes them).

    Attention reads the whole position range, so it is kept contiguous and just long enough: `fit(n)` makes room
    for positions 0..n-1 in steps of `BLOCK` positions (a new allocation, copied, once per `BLOCK` of growth;
    released again when the longest row is gone). On CPU a batched matmul over a contiguous cache is several
    times faster than over a slice of a longer one.

    The model calls `update` once per attention layer. Before each forward the decoder says what the forward is:
    `prefill(rows, width)` (prompts of `width` tokens written to positions 0..width-1 of those rows; attention
    sees only them) or `decode(positions)` (one token for each of the first len(positions) rows, written at its
    position; attention sees every position of those rows). The decoder keeps its busy rows first (`move`), so a
    decode step reads a contiguous front part of the cache and computes nothing for empty slots."""

    BLOCK = 32

    def __init__(self, slots: int, dtype: torch.dtype | None = None):
        self.slots, self.dtype, self.length = slots, dtype, 0
        self.keys: dict[int, torch.Tensor] = {}
        self.values: dict[int, torch.Tensor] = {}
        self._rows: torch.Tensor | None = None
        self._positions: torch.Tensor | None = None
        self._width = 0

    def fit(self, needed: int) -> int:
        """Make room for positions 0..needed-1 (shrinking when far more is held); returns the length held."""
        if self.length < needed or self.length > needed + 2 * self.BLOCK:
            length = -(-needed // self.BLOCK) * self.BLOCK + self.BLOCK
            for store in (self.keys, self.values):
                for layer, tensor in store.items():
                    resized = tensor.new_zeros((*tensor.shape[:2], length, tensor.shape[3]))
                    kept = min(length, self.length)
                    resized[:, :, :kept] = tensor[:, :, :kept]
                    store[layer] = resized
            self.length = length
        return self.length

    def prefill(self, rows: torch.Tensor, width: int) -> None:
        self._rows, self._positions, self._width = rows, None, width

    def decode(self, positions: torch.Tensor) -> None:
        self._rows, self._positions = None, positions

    def move(self, sources: torch.Tensor, targets: torch.Tensor) -> None:
        """Copy the keys and values of rows `sources` to rows `targets` (every layer)."""
        for store in (self.keys, self.values):
            for tensor in store.values():
                tensor[targets] = tensor[sources]

    def _store(self, layer: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if layer not in self.keys:
            shape = (self.slots, key.shape[1], self.length, key.shape[3])
            self.keys[layer] = key.new_zeros(shape, dtype=self.dtype or key.dtype)
            self.values[layer] = value.new_zeros((*shape[:3], value.shape[3]), dtype=self.dtype or value.dtype)
        return self.keys[layer], self.values[layer]

    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int, *args, **kwargs):
        keys, values = self._store(layer_idx, key, value)
        if self._positions is None:  # prefill: the prompts' own keys are all attention needs
            keys[self._rows, :, :self._width] = key.to(keys.dtype)
            values[self._rows, :, :self._width] = value.to(values.dtype)
            return key, value
        busy = len(self._positions)
        keys, values = keys[:busy], values[:busy]
        rows = torch.arange(busy, device=keys.device)
        keys[rows, :, self._positions] = key[:, :, 0].to(keys.dtype)
        values[rows, :, self._positions] = value[:, :, 0].to(values.dtype)
        return keys, values

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.length


class SlotMasks:
    """Attention masks: for a prefill, in the form the model's own attention takes (boolean for sdpa, additive
    float32 otherwise, as HF builds them); for a decode step, additive in the dtype of the step's scores
    (`slot_attention`). A {layer type: mask} mapping when the model has sliding-window layers."""

    def __init__(self, model, dtype: torch.dtype):
        config = model.config
        self.prefill_dtype = None if getattr(config, "_attn_implementation", "sdpa") == "sdpa" else torch.float32
        self.decode_dtype = dtype
        types = getattr(config, "layer_types", None) or []
        self.window = getattr(config, "sliding_window", None) if "sliding_attention" in types else None

    def build(self, visible: torch.Tensor, query: torch.Tensor, key: torch.Tensor, dtype: torch.dtype | None):
        """`visible` [rows, q, k] before the window; `query`/`key` the cache positions of queries and keys;
        `dtype` of an additive mask (None: boolean)."""
        full = self._form(visible, dtype)
        if self.window is None:
            return full
        near = (query[..., :, None] - key[..., None, :]) < self.window
        return {"full_attention": full, "sliding_attention": self._form(visible & near, dtype)}

    @staticmethod
    def _form(visible: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
        if dtype is None:
            return visible[:, None]
        additive = torch.zeros(visible.shape, dtype=dtype, device=visible.device)
        return additive.masked_fill_(~visible, torch.finfo(dtype).min)[:, None]


SLOT_ATTENTION = "tsft_slots"
"""The name `slot_attention` is registered under in transformers' attention interface."""


def slot_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Attention of one new token per row over the slot cache, as two batched matmuls (HF's eager attention,
    with the query heads of one key/value head side by side instead of the keys repeated).

    On CPU this is 3-5x faster than the sdpa kernel for one query per row. A prefill (several queries), or a
    layer with soft-capped logits or attention sinks, goes to the model's own attention implementation (its name
    saved on the config as `tsft_attention`)."""
    if query.shape[2] != 1 or kwargs.get("softcap") is not None or kwargs.get("s_aux") is not None:
        return _own_attention(module)(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                                      **kwargs)
    rows, heads, _, width = query.shape
    kv_heads, length = key.shape[1], key.shape[2]
    scale = scaling if scaling is not None else width ** -0.5
    q = (query * scale).to(key.dtype).reshape(rows * kv_heads, heads // kv_heads, width)
    scores = torch.bmm(q, key.view(rows * kv_heads, length, width).transpose(1, 2))
    scores = scores.view(rows, kv_heads, -1, length).add_(attention_mask)
    probs = torch.softmax(scores, dim=-1).view(rows * kv_heads, -1, length)  # accumulated in float32
    out = torch.bmm(probs.to(value.dtype), value.view(rows * kv_heads, length, value.shape[3]))
    return out.view(rows, 1, heads, value.shape[3]), None


def _own_attention(module):
    """The attention function `module` runs outside the decoder (its modeling file's eager one for eager)."""
    import sys

    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    own = module.config.tsft_attention
    if own == "eager":
        return sys.modules[type(module).__module__].eager_attention_forward
    return ALL_ATTENTION_FUNCTIONS.get_interface(own, None)


@contextmanager
def slot_attention_on(model) -> Iterator[None]:
    """Inside the block the model's attention layers call `slot_attention` (restored after)."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    if SLOT_ATTENTION not in ALL_ATTENTION_FUNCTIONS:
        ALL_ATTENTION_FUNCTIONS.register(SLOT_ATTENTION, slot_attention)
    configs = {id(c): c for c in [model.config, *(m.config for m in model.modules() if hasattr(m, "config"))]}
    saved = {key: config._attn_implementation for key, config in configs.items()}
    try:
        for key, config in configs.items():
            config.tsft_attention = saved[key] or "eager"
            config._attn_implementation = SLOT_ATTENTION
        yield
    finally:
        for key, config in configs.items():
            config._attn_implementation = saved[key]
            del config.tsft_attention


@contextmanager
def cast_linear_weights(model, dtype) -> Iterator[None]:
    """Inside the block every `nn.Linear` of `model` holds its weight cast to `dtype` (restored after, ties kept).

    Under autocast to the same dtype this changes no number: autocast casts each weight the same way at every
    call; here it is done once."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.weight.dtype != dtype]
    originals = [m.weight for m in linears]
    cast: dict[int, torch.nn.Parameter] = {}
    try:
        for module, weight in zip(linears, originals, strict=True):
            if id(weight) not in cast:
                cast[id(weight)] = torch.nn.Parameter(weight.detach().to(dtype), requires_grad=False)
            module.weight = cast[id(weight)]
        yield
    finally:
        for module, weight in zip(linears, originals, strict=True):
            module.weight = weight
