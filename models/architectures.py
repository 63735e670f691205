"""One table per architecture family: where each part of a decoder model lives, and how to read it.

A family's `Architecture` names, from the model root, the token embedding and the list of decoder layers;
inside one layer, each component tsft reads or edits (`Component`: the module path, whether the activation is
the module's input or its output, whether that output comes as the first item of a tuple, the config field of
its width, its TransformerLens hook name) and each block of parameters a selection tunes (`blocks`). Every room
reads architecture knowledge from here: patching's sites and engines, the parameter selections, transplants and
weight comparisons, FSDP and compilation (`decoder_layers`). Adding a family is adding one entry, the way pyvene
keeps one small file of two dicts per architecture.

Components, in the order a layer computes them:

* `resid_pre`  - the residual stream entering the layer (the layer module's input);
* `attn_out`   - the attention block's output, before it is added to the residual stream;
* `mlp_hidden` - the MLP's hidden activation, act(gate(x)) * up(x), the input of its down projection;
* `mlp_out`    - the MLP block's output, before it is added to the residual stream;
* `resid_post` - the residual stream leaving the layer (= resid_pre + attn_out + mlp_out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Component:
    """Where one component of a decoder layer is: `module` (a path inside the layer; "" = the layer itself), the
    `side` of that module the activation is on, and whether the module returns it as the first item of a tuple
    (`tuple_output`: HF attention modules return (output, weights)). `width` names the config field of its size;
    `tl_hook` is its TransformerLens bridge hook, with `{layer}` to fill."""

    module: str
    side: str
    width: str
    tl_hook: str
    tuple_output: bool = False


@dataclass(frozen=True)
class Architecture:
    """One family's table (see the module doc)."""

    family: str
    embed: str
    """The token embedding's module path from the model root."""
    layers: str
    """The decoder layers' ModuleList, from the model root."""
    components: MappingProxyType
    """component name -> Component."""
    blocks: MappingProxyType
    """parameter block (attn | mlp) -> module path inside a layer."""
    vision: str | None = None
    """A vision-language model's vision tower, from the model root."""
    final_norm: str = "model.norm"
    """The norm before the unembedding, from the model root (lenses read a layer's residual through it)."""
    embed_tl_hook: str = "hook_embed"
    lora_modules: tuple[str, ...] = field(default=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                   "down_proj"))
    """Linear layers LoRA adapts by default."""


def _frozen(mapping: dict) -> MappingProxyType:
    return MappingProxyType(dict(mapping))


DECODER_COMPONENTS = _frozen({
    "resid_pre": Component("", "input", "hidden_size", "blocks.{layer}.hook_resid_pre"),
    "attn_out": Component("self_attn", "output", "hidden_size", "blocks.{layer}.attn.hook_out", tuple_output=True),
    "mlp_hidden": Component("mlp.down_proj", "input", "intermediate_size", "blocks.{layer}.mlp.hook_post"),
    "mlp_out": Component("mlp", "output", "hidden_size", "blocks.{layer}.hook_mlp_out"),
    "resid_post": Component("", "output", "hidden_size", "blocks.{layer}.hook_resid_post"),
})
"""Llama's layer, which Qwen2 and Qwen2.5-VL's language model share."""
DECODER_BLOCKS = _frozen({"attn": "self_attn", "mlp": "mlp"})
GEMMA3_COMPONENTS = _frozen({
    **DECODER_COMPONENTS,
    "attn_out": Component("post_attention_layernorm", "output", "hidden_size", "blocks.{layer}.ln1_post.hook_out"),
    "mlp_out": Component("post_feedforward_layernorm", "output", "hidden_size", "blocks.{layer}.ln2_post.hook_out"),
})
"""Gemma 3's layer normalizes each block's output before adding it to the residual stream (`post_attention_
layernorm`, `post_feedforward_layernorm`): what a block adds is that norm's output, so attn_out and mlp_out
are read there (resid_post = resid_pre + attn_out + mlp_out holds, as in Llama). Its q/k norms, sliding-window
layers, single KV head and scaled embedding (x sqrt(d_model) inside `embed_tokens`) need no entry."""

ARCHITECTURES = MappingProxyType({
    "llama": Architecture("llama", "model.embed_tokens", "model.layers", DECODER_COMPONENTS, DECODER_BLOCKS),
    "qwen2": Architecture("qwen2", "model.embed_tokens", "model.layers", DECODER_COMPONENTS, DECODER_BLOCKS),
    "gemma3_text": Architecture("gemma3_text", "model.embed_tokens", "model.layers", GEMMA3_COMPONENTS,
                                DECODER_BLOCKS),
    "qwen2_5_vl": Architecture("qwen2_5_vl", "model.language_model.embed_tokens", "model.language_model.layers",
                               DECODER_COMPONENTS, DECODER_BLOCKS, vision="model.visual",
                               final_norm="model.language_model.norm"),
})
COMPONENTS = tuple(DECODER_COMPONENTS)
"""Layer components in forward order (every family has these five)."""


class ArchitectureError(ValueError):
    """A model family without a table; the message lists the families tsft knows."""


def architecture(model_or_config) -> Architecture:
    """The table of a model's (or a config's) family."""
    config = getattr(model_or_config, "config", model_or_config)
    family = getattr(config, "model_type", None)
    if family not in ARCHITECTURES:
        raise ArchitectureError(f"no architecture table for {family!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[family]


def text_config(model_or_config):
    """The language model's config (a vision-language config's text part)."""
    config = getattr(model_or_config, "config", model_or_config)
    return config.get_text_config()


def n_layers(model_or_config) -> int:
    """Decoder layers of the language model (one reading for every family, vision-language included)."""
    return text_config(model_or_config).num_hidden_layers


def component_width(model, component: str) -> int:
    return getattr(text_config(model), architecture(model).components[component].width)


def unwrapped(model):
    """A peft model's base model; any other model as it is."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def decoder_layers(model) -> list:
    """The language model's decoder layers, in order: FSDP2 shards them one by one, compilation compiles them."""
    model = unwrapped(model)
    return list(model.get_submodule(architecture(model).layers))


def is_sharded(model) -> bool:
    """Whether FSDP2 has sharded `model` (its parameters are then not whole on any one process)."""
    return hasattr(model, "set_requires_gradient_sync")
