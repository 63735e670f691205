"""Three engines that run the same patching request: plain hooks, nnsight, TransformerLens.

The contract (`Engine`, checked once for every engine by tests/patching/test_engine_contract.py), on a batch
of equal-length token rows:

* `capture(ids, sites, inputs=None)` -> {site: activation [batch, pos, width]} from one unpatched forward;
* `run(ids, replacements, past=None, inputs=None)` -> next-token logits at the last position [batch, vocab]
  (float32), where a replacement `(mask [batch, pos], values [batch, pos, width])` makes the site read
  `values` at the masked positions and its own activation elsewhere;
* `prefix_cache(ids)` -> per-layer (keys, values) of an unpatched run, so that `run(suffix, replacements,
  past=cache)` runs only the positions after the prefix (a patch cannot change earlier positions);
* `inputs_for(ids, images)` -> the model's extra forward inputs for rows holding these figures (a vision
  model's pixel values, image grid and image-token mask; {} when no row has one).

`supports_prefix` and `supports_inputs` say what an engine can do; asked for what it cannot (a prefix from the
TransformerLens bridge, whose hooks run full sequences; extra inputs from nnsight or the bridge), an engine
raises `EngineRefused` naming the engine and the request, never ignores it. The generic loop asks only for
what an engine supports.

Everything else (which rows, which positions, which metric) is the generic loop's business
(`patching.activation`), so a request gives the same table on every engine.

* `hooks`  - plain torch forward hooks through `patching.hooks.intervene`: the reference, needs
  only torch and transformers (the engine on the lent GPU machine).
* `nnsight` - `nnsight.TransformersModel` (0.8): the engine for big or remote models. nnsight
  wraps without modifying the model; sites are read and written in forward order.
* `tl`     - TransformerLens 4.3 `TransformerBridge` hook names (`blocks.{l}.hook_mlp_out`...), for
  users who think in TL names. The bridge mutates the model it wraps, so it wraps a deep copy.

nnsight and TransformerLens are imported only when their engine is made.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from torch import Tensor
from tsft.models.decoding import cache_keyword
from tsft.models.images import image_inputs
from tsft.patching.hooks import intervene
from tsft.patching.requests import ENGINES
from tsft.patching.sites import Site, module_path, tl_hook, tuple_output

if TYPE_CHECKING:  # shapes in the contract (jaxtyping); tests/patching/test_engine_contract.py checks them
    from jaxtyping import Float, Int

Replacement = tuple[Tensor, Tensor]


class EngineRefused(ValueError):
    """An engine was asked for something it cannot do (see the module docstring)."""


@runtime_checkable
class Engine(Protocol):
    """What every patching engine provides (see the module docstring)."""

    name: str
    model: Any
    supports_prefix: bool
    supports_inputs: bool

    def capture(self, ids: Int[Tensor, "batch pos"], sites: list[Site], inputs: dict | None = None
                ) -> dict[Site, Float[Tensor, "batch pos width"]]: ...

    def run(self, ids: Int[Tensor, "batch pos"], replacements: dict[Site, Replacement], past: list | None = None,
            inputs: dict | None = None) -> Float[Tensor, "batch vocab"]: ...

    def prefix_cache(self, ids: Int[Tensor, "batch pos"]
                     ) -> list[tuple[Float[Tensor, "batch kv_heads pos head_dim"],
                                     Float[Tensor, "batch kv_heads pos head_dim"]]]: ...

    def inputs_for(self, ids: Int[Tensor, "batch pos"], images) -> dict: ...


def _refuse(engine, what: str, given) -> None:
    """Raise EngineRefused when `given` asks for `what` and the engine cannot do it."""
    if given:
        raise EngineRefused(f"the {engine.name} engine cannot take {what}; use the hooks engine")


def _no_images(engine, images) -> dict:
    _refuse(engine, "a model's extra inputs (figures)", any(image is not None for image in images))
    return {}


def _replace(mask: Tensor, values: Tensor, activation: Tensor) -> Tensor:
    return torch.where(mask[..., None].to(activation.device), values.to(activation), activation)


class HooksEngine:
    """Plain forward hooks on the HF model (the reference engine): prefixes and extra inputs supported."""

    name = "hooks"
    supports_prefix = True
    supports_inputs = True

    def __init__(self, model, tokenizer=None):
        self.model = model.eval()
        self.tokenizer = tokenizer

    @property
    def device(self):
        return next(self.model.parameters()).device

    def _extra(self, inputs: dict | None) -> dict:
        return {k: v.to(self.device) for k, v in (inputs or {}).items()}

    @torch.inference_mode()
    def capture(self, ids: Tensor, sites: list[Site], inputs: dict | None = None) -> dict[Site, Tensor]:
        with intervene(self.model, capture=sites) as seen:
            self.model(ids.to(self.device), logits_to_keep=1, **self._extra(inputs))
        return {site: seen[site.name] for site in sites}

    @torch.inference_mode()
    def run(self, ids: Tensor, replacements: dict[Site, Replacement], past: list | None = None,
            inputs: dict | None = None) -> Tensor:
        """With `past` (per-layer (keys, values) of the positions before `ids`), only `ids` are run."""
        _refuse(self, "a prefix cache together with extra inputs", past and inputs)
        edits = {site: (lambda act, r=r: _replace(r[0], r[1], act)) for site, r in replacements.items()}
        kwargs = _past_kwargs(self.model, ids, past) | self._extra(inputs)
        with intervene(self.model, edit=edits):
            return self.model(ids.to(self.device), **kwargs).logits[:, -1].float()

    @torch.inference_mode()
    def prefix_cache(self, ids: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Per-layer (keys, values) of an unpatched run, for `run(..., past=)` to start later."""
        return prefix_cache(self.model, ids)

    def inputs_for(self, ids: Tensor, images) -> dict:
        """A vision model's pixel values, image grid and image-token mask for rows holding `images` (paths or
        None per row), from the tokenizer's image encoder (training.images)."""
        if not any(image is not None for image in images):
            return {}
        _refuse(self, "figures without the model's tokenizer", self.tokenizer is None)
        return image_inputs(self.tokenizer, ids, images)


def prefix_cache(model, ids: Tensor) -> list[tuple[Tensor, Tensor]]:
    """Per-layer (keys, values) of a plain unpatched forward, every position of every layer: the cache is given
    without the model's config, so sliding-window layers (Gemma 3) keep their whole prefix too (their window is
    applied by the attention mask, not by dropping keys)."""
    return cached_forward(model, ids)[1]


def cached_forward(model, ids: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
    """(last-position logits [batch, vocab], per-layer (keys, values)) of one plain forward (see prefix_cache)."""
    from transformers.cache_utils import DynamicCache

    out = model(ids.to(next(model.parameters()).device), logits_to_keep=1, use_cache=True,
                **{cache_keyword(model): DynamicCache()})
    cache = out["cache"] if "cache" in out else out["past_key_values"]
    return out["logits"][:, -1], [(layer.keys, layer.values) for layer in cache.layers]


def _past_kwargs(model, ids: Tensor, past: list[tuple[Tensor, Tensor]] | None) -> dict:
    """Forward kwargs: last-position logits only and, after a prefix, its cache (under this
    transformers' name) with explicit positions and mask, so no wrapper can restart them at 0."""
    from transformers.cache_utils import DynamicCache

    kwargs = {"logits_to_keep": 1, "use_cache": False}
    if past:
        start, device = past[0][0].shape[2], past[0][0].device
        kwargs[cache_keyword(model)] = DynamicCache(ddp_cache_data=[(k, v) for k, v in past])
        kwargs["position_ids"] = torch.arange(start, start + ids.shape[1], device=device).expand(ids.shape[0], -1)
        kwargs["attention_mask"] = torch.ones(ids.shape[0], start + ids.shape[1], dtype=torch.long, device=device)
    return kwargs


def _envoy(root, path: str):
    for part in path.split("."):
        root = root[int(part)] if part.isdigit() else getattr(root, part)
    return root


class NNsightEngine:
    """nnsight 0.8 `TransformersModel`: sites are touched in forward order inside one trace."""

    name = "nnsight"
    supports_prefix = True
    supports_inputs = False

    def __init__(self, model, tokenizer):
        import nnsight

        self.model = model.eval()
        self.traced = nnsight.TransformersModel(model, tokenizer=tokenizer, task="text-generation")

    def _point(self, site: Site):
        path, where = module_path(self.model, site)
        return _envoy(self.traced, path), where

    def inputs_for(self, ids: Tensor, images) -> dict:
        return _no_images(self, images)

    @torch.inference_mode()
    def capture(self, ids: Tensor, sites: list[Site], inputs: dict | None = None) -> dict[Site, Tensor]:
        _refuse(self, "a model's extra inputs", inputs)
        ordered = sorted(sites, key=lambda s: s.order)
        saved = {}
        with self.traced.trace(ids):
            for site in ordered:
                envoy, where = self._point(site)
                value = envoy.input if where == "input" else envoy.output
                saved[site] = (value[0] if where == "output" and tuple_output(self.model, site) else value).save()
        return saved

    @torch.inference_mode()
    def prefix_cache(self, ids: Tensor) -> list[tuple[Tensor, Tensor]]:
        """nnsight leaves the model untouched, so a plain forward gives the cache."""
        return prefix_cache(self.model, ids)

    @torch.inference_mode()
    def run(self, ids: Tensor, replacements: dict[Site, Replacement], past: list | None = None,
            inputs: dict | None = None) -> Tensor:
        _refuse(self, "a model's extra inputs", inputs)
        ordered = sorted(replacements, key=lambda s: s.order)
        with self.traced.trace(ids, **_past_kwargs(self.model, ids, past)):
            for site in ordered:
                mask, values = replacements[site]
                envoy, where = self._point(site)
                if where == "input":
                    envoy.input = _replace(mask, values, envoy.input)
                elif tuple_output(self.model, site):
                    output = envoy.output
                    envoy.output = (_replace(mask, values, output[0]), *output[1:])
                else:
                    envoy.output = _replace(mask, values, envoy.output)
            logits = self.traced.lm_head.output[:, -1].save()
        return logits.float()


def _bridge_tokenizer(tokenizer):
    """A copy the bridge accepts: it re-reads `name_or_path` unless add_bos_token is already set."""
    tok = copy.copy(tokenizer)
    tok.init_kwargs = {**tokenizer.init_kwargs, "name_or_path": tokenizer.name_or_path, "add_bos_token": True}
    return tok


class BridgeEngine:
    """TransformerLens 4.3 `TransformerBridge` around a deep copy of the model (raw HF numbers)."""

    name = "tl"
    supports_prefix = False
    supports_inputs = False

    def __init__(self, model, tokenizer):
        from transformer_lens.model_bridge import TransformerBridge

        self.model = model.eval()
        device = str(next(model.parameters()).device)
        hf_model = copy.deepcopy(model)
        if not getattr(hf_model.config, "architectures", None):  # a config built in memory names no class, and
            hf_model.config.architectures = [type(model).__name__]  # the bridge picks its adapter by that name
        self.bridge = TransformerBridge.boot_transformers(
            model.name_or_path or "local", hf_model=hf_model, tokenizer=_bridge_tokenizer(tokenizer), device=device)

    def inputs_for(self, ids: Tensor, images) -> dict:
        return _no_images(self, images)

    def prefix_cache(self, ids: Tensor) -> list[tuple[Tensor, Tensor]]:
        raise EngineRefused("the tl engine cannot start a run part-way (TransformerLens hooks run full "
                            "sequences); use the hooks or nnsight engine")

    @torch.inference_mode()
    def capture(self, ids: Tensor, sites: list[Site], inputs: dict | None = None) -> dict[Site, Tensor]:
        _refuse(self, "a model's extra inputs", inputs)
        names = {tl_hook(self.model, site): site for site in sites}
        _, cache = self.bridge.run_with_cache(ids, names_filter=list(names))
        return {site: cache[name] for name, site in names.items()}

    @torch.inference_mode()
    def run(self, ids: Tensor, replacements: dict[Site, Replacement], past: list | None = None,
            inputs: dict | None = None) -> Tensor:
        _refuse(self, "a prefix cache (TransformerLens hooks run full sequences)", past)
        _refuse(self, "a model's extra inputs", inputs)
        hooks = [(tl_hook(self.model, site), lambda act, hook, r=r: _replace(r[0], r[1], act))
                 for site, r in replacements.items()]
        logits = self.bridge.run_with_hooks(ids, fwd_hooks=hooks, return_type="logits")
        return logits[:, -1].float()


def check_engine(name: str) -> str:
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    return name


def make_engine(name: str, model, tokenizer=None):
    """The engine called `name` (hooks | nnsight | tl) around `model`."""
    engines = {"hooks": HooksEngine, "nnsight": NNsightEngine, "tl": BridgeEngine}
    check_engine(name)
    if name != "hooks" and tokenizer is None:
        raise ValueError(f"the {name} engine needs the model's tokenizer")
    return engines[name](model, tokenizer)
