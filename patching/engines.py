"""Three engines that run the same patching request: plain hooks, nnsight, TransformerLens.

An engine does two things on a batch of equal-length token rows:

* `capture(ids, sites)` -> {site: activation [batch, pos, width]} from one clean forward;
* `run(ids, replacements)` -> next-token logits at the last position [batch, vocab], where a
  replacement `(mask [batch, pos], values [batch, pos, width])` makes the site read `values` at
  the masked positions and its own activation elsewhere.

The hooks and nnsight engines can also start a run part-way: `prefix_cache(ids)` keeps an
unpatched run's keys and values, and `run(suffix, replacements, past)` runs only the positions
after them (a patch cannot change earlier positions). The generic loop uses it when an engine
offers it; the bridge does not (TransformerLens hooks run full sequences).

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

import torch
from torch import Tensor

from patching.hooks import intervene
from patching.sites import EMBED, Site, module_path

ENGINES = ("hooks", "nnsight", "tl")
Replacement = tuple[Tensor, Tensor]


def _replace(mask: Tensor, values: Tensor, activation: Tensor) -> Tensor:
    return torch.where(mask[..., None].to(activation.device), values.to(activation), activation)


class HooksEngine:
    """Plain forward hooks on the HF model (the reference engine)."""

    name = "hooks"

    def __init__(self, model, tokenizer=None):
        self.model = model.eval()

    @property
    def device(self):
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def capture(self, ids: Tensor, sites: list[Site], inputs: dict | None = None) -> dict[Site, Tensor]:
        """`inputs`: further forward inputs, e.g. a vision model's pixel_values (training.vision.image_inputs)."""
        extra = {k: v.to(self.device) for k, v in (inputs or {}).items()}
        with intervene(self.model, capture=sites) as seen:
            self.model(ids.to(self.device), logits_to_keep=1, **extra)
        return {site: seen[site.name] for site in sites}

    @torch.inference_mode()
    def run(self, ids: Tensor, replacements: dict[Site, Replacement], past: list | None = None) -> Tensor:
        """With `past` (per-layer (keys, values) of the positions before `ids`), only `ids` are run."""
        edits = {site: (lambda act, r=r: _replace(r[0], r[1], act)) for site, r in replacements.items()}
        with intervene(self.model, edit=edits):
            return self.model(ids.to(self.device), **_past_kwargs(self.model, ids, past)).logits[:, -1].float()

    @torch.inference_mode()
    def prefix_cache(self, ids: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Per-layer (keys, values) of an unpatched run, for `run(..., past=)` to start later."""
        return prefix_cache(self.model, ids)


def prefix_cache(model, ids: Tensor) -> list[tuple[Tensor, Tensor]]:
    """Per-layer (keys, values) of a plain unpatched forward."""
    out = model(ids.to(next(model.parameters()).device), logits_to_keep=1, use_cache=True)
    cache = out["cache"] if "cache" in out else out["past_key_values"]
    return [(layer.keys, layer.values) for layer in cache.layers]


def _past_kwargs(model, ids: Tensor, past: list[tuple[Tensor, Tensor]] | None) -> dict:
    """Forward kwargs: last-position logits only and, after a prefix, its cache (under this
    transformers' name) with explicit positions and mask, so no wrapper can restart them at 0."""
    import inspect

    from transformers.cache_utils import DynamicCache

    kwargs = {"logits_to_keep": 1, "use_cache": False}
    if past:
        name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        start, device = past[0][0].shape[2], past[0][0].device
        kwargs[name] = DynamicCache(ddp_cache_data=[(k, v) for k, v in past])
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

    def __init__(self, model, tokenizer):
        import nnsight

        self.model = model.eval()
        self.traced = nnsight.TransformersModel(model, tokenizer=tokenizer, task="text-generation")

    def _point(self, site: Site):
        path, where = module_path(self.model, site)
        return _envoy(self.traced, path), where

    @torch.inference_mode()
    def capture(self, ids: Tensor, sites: list[Site]) -> dict[Site, Tensor]:
        ordered = sorted(sites, key=lambda s: s.order)
        saved = {}
        with self.traced.trace(ids):
            for site in ordered:
                envoy, where = self._point(site)
                value = envoy.input if where == "input" else envoy.output
                saved[site] = (value[0] if site.component == "attn_out" else value).save()
        return saved

    @torch.inference_mode()
    def prefix_cache(self, ids: Tensor) -> list[tuple[Tensor, Tensor]]:
        """nnsight leaves the model untouched, so a plain forward gives the cache."""
        return prefix_cache(self.model, ids)

    @torch.inference_mode()
    def run(self, ids: Tensor, replacements: dict[Site, Replacement], past=None) -> Tensor:
        ordered = sorted(replacements, key=lambda s: s.order)
        with self.traced.trace(ids, **_past_kwargs(self.model, ids, past)):
            for site in ordered:
                mask, values = replacements[site]
                envoy, where = self._point(site)
                if where == "input":
                    envoy.input = _replace(mask, values, envoy.input)
                elif site.component == "attn_out":
                    output = envoy.output
                    envoy.output = (_replace(mask, values, output[0]), *output[1:])
                else:
                    envoy.output = _replace(mask, values, envoy.output)
            logits = self.traced.lm_head.output[:, -1].save()
        return logits.float()


TL_NAMES = {
    "resid_pre": "blocks.{layer}.hook_resid_pre",
    "attn_out": "blocks.{layer}.attn.hook_out",
    "mlp_hidden": "blocks.{layer}.mlp.hook_post",
    "mlp_out": "blocks.{layer}.hook_mlp_out",
    "resid_post": "blocks.{layer}.hook_resid_post",
    EMBED: "hook_embed",
}
"""tsft component -> TransformerLens 4.3 bridge hook name."""


def tl_name(site: Site) -> str:
    return TL_NAMES[site.component].format(layer=site.layer)


def _bridge_tokenizer(tokenizer):
    """A copy the bridge accepts: it re-reads `name_or_path` unless add_bos_token is already set."""
    tok = copy.copy(tokenizer)
    tok.init_kwargs = {**tokenizer.init_kwargs, "name_or_path": tokenizer.name_or_path, "add_bos_token": True}
    return tok


class BridgeEngine:
    """TransformerLens 4.3 `TransformerBridge` around a deep copy of the model (raw HF numbers)."""

    name = "tl"

    def __init__(self, model, tokenizer):
        from transformer_lens.model_bridge import TransformerBridge

        self.model = model.eval()
        device = str(next(model.parameters()).device)
        self.bridge = TransformerBridge.boot_transformers(
            model.name_or_path or "local", hf_model=copy.deepcopy(model), tokenizer=_bridge_tokenizer(tokenizer),
            device=device)

    @torch.inference_mode()
    def capture(self, ids: Tensor, sites: list[Site]) -> dict[Site, Tensor]:
        names = {tl_name(site): site for site in sites}
        _, cache = self.bridge.run_with_cache(ids, names_filter=list(names))
        return {site: cache[name] for name, site in names.items()}

    @torch.inference_mode()
    def run(self, ids: Tensor, replacements: dict[Site, Replacement], past=None) -> Tensor:
        hooks = [(tl_name(site), lambda act, hook, r=r: _replace(r[0], r[1], act)) for site, r in replacements.items()]
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
