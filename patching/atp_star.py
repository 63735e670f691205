"""AtP*: attribution patching with its two known failure modes repaired (Kramar et al. 2024, arXiv 2403.00745).

Plain attribution patching (patching.attribution) multiplies the change of an activation by the gradient of the
metric at the destination run. Two things make it miss sites that exact patching finds:

* **Attention saturation.** A residual-stream change at position p moves the queries and keys of the attention
  layer that reads it; where that layer's softmax is saturated, its gradient is near zero although the patched
  pattern is entirely different (a key that received no attention now takes it all). The **QK fix** computes that
  layer's patched attention pattern exactly, from the patched queries and keys at p, and only linearizes from the
  attention probabilities on:

      AtP*(s, P) = AtP(s, P) - dM/d(q,k) . J_(q,k) da  +  dM/dA . (A(q', k') - A(q, k))

  The middle term is the part of plain AtP that flows through that layer's queries and keys (a local
  vector-Jacobian product from the layer's queries and keys back to its input), replaced by the exact pattern
  change dotted with the gradient at the probabilities. q', k' are the source run's queries and keys at the
  patched positions, which is what patching the residual there gives (same position, so the same rotary phase).
  The fix applies where a site is the residual stream an attention layer reads: `embed` (layer 0),
  `resid_pre` l (layer l), `resid_post` l (layer l + 1). attn_out, mlp_hidden and mlp_out stay first order, and so
  do later attention layers: the fix is for the first attention the change meets. Conditions whose positions
  move between the two runs (unequal-length pairs past the differing span) keep the plain estimate and are
  counted in `passes["qk_skipped"]`.

* **Cancellation.** A site can act through two paths whose first-order effects cancel, so the sum is near zero
  though each path matters. **GradDrop** re-estimates the site with the gradient through one layer's residual
  contribution removed, for each layer l in turn (the gradient at `resid_pre` l is then the gradient at
  `resid_post` l), and scores the site by the mean magnitude over layers:

      GD(s, P) = mean_l |AtP_(drop l)(s, P)|      (AtP_(drop l) = AtP for layers upstream of s)

  GD is a magnitude, not a signed effect: it goes in the `graddrop` column (normalized like `normalized`, as
  |change| / |clean - corrupt|), and a site's AtP* rank is max(|AtP* effect|, GD), so GradDrop only ever adds
  candidates. Each dropped layer costs one partial backward pass (from that layer down).

The attention pattern is recorded by replacing the model's eager attention function for the duration of the
forward (transformers' attention interface): the function computes eager attention and keeps queries, keys,
probabilities and the mask. The model must run eager attention (tsft loads checkpoints that way) and must not cap
its attention logits.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor
from tsft.patching.conditions import pair_conditions
from tsft.patching.metrics import metric
from tsft.patching.sites import EMBED, Site, n_layers


@dataclass
class Attention:
    """One attention layer's queries [b, heads, q, d], keys [b, kv_heads, k, d], probabilities [b, heads, q, k]
    and additive mask, with what turns keys into per-head keys (kv groups) and the logit scale."""

    q: Tensor
    k: Tensor
    probs: Tensor
    mask: Tensor | None
    groups: int
    scaling: float


def _eager(store: dict):
    def attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
        keys = key.repeat_interleave(module.num_key_value_groups, dim=1)
        logits = torch.matmul(query, keys.transpose(2, 3)) * scaling
        if attention_mask is not None:
            logits = logits + attention_mask
        probs = torch.softmax(logits, dim=-1, dtype=torch.float32).to(query.dtype)
        store[module.layer_idx] = Attention(query, key, probs, attention_mask, module.num_key_value_groups,
                                            scaling)
        out = torch.matmul(probs, value.repeat_interleave(module.num_key_value_groups, dim=1))
        return out.transpose(1, 2).contiguous(), probs
    return attention


@contextmanager
def recording_attention(model):
    """Inside the block, every attention layer of `model` records its `Attention` into the yielded dict
    {layer: Attention}; the model's outputs are those of eager attention."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    config = model.config.get_text_config()
    if config._attn_implementation != "eager":
        raise ValueError(f"AtP* records attention patterns and needs eager attention; this model runs "
                         f"{config._attn_implementation!r} (load it with attn_implementation='eager')")
    if getattr(config, "attn_logit_softcapping", None):
        raise ValueError("AtP*'s QK fix does not model capped attention logits (attn_logit_softcapping)")
    store: dict[int, Attention] = {}
    ALL_ATTENTION_FUNCTIONS["eager"] = _eager(store)
    try:
        yield store
    finally:
        del ALL_ATTENTION_FUNCTIONS["eager"]


def pattern(record: Attention, row: int, q: Tensor | None = None, k: Tensor | None = None) -> Tensor:
    """Attention probabilities [heads, q, k] of one row (float32), from its own or the given queries and keys."""
    q = (record.q[row] if q is None else q).detach().float()
    k = (record.k[row] if k is None else k).detach().float().repeat_interleave(record.groups, dim=0)
    logits = q @ k.transpose(1, 2) * record.scaling
    if record.mask is None:
        rows, cols = logits.shape[-2:]
        above = torch.ones(rows, cols, dtype=torch.bool, device=logits.device).triu(cols - rows + 1)
        logits = logits.masked_fill(above, float("-inf"))
    else:
        logits = logits + record.mask[min(row, record.mask.shape[0] - 1)].float()
    return torch.softmax(logits, dim=-1)


def reading_layer(site: Site, layers: int) -> int | None:
    """The attention layer that reads the site as its residual stream (None: no QK fix for this site)."""
    if site.component == EMBED:
        return 0
    if site.component == "resid_pre":
        return site.layer
    if site.component == "resid_post" and site.layer + 1 < layers:
        return site.layer + 1
    return None


def _upstream(site: Site, layer: int) -> bool:
    """Whether `site` is computed before layer `layer`'s block adds to the residual stream."""
    return site.order <= (layer, 0)


@dataclass
class Destination:
    """What AtP* needs from the destination run: activations and metric gradients at the sites, attention records
    with gradients at probabilities, the local query/key gradient at each layer's input, GradDrop gradients."""

    acts: dict[Site, Tensor]
    grads: dict[Site, Tensor]
    attention: dict[int, Attention]
    grad_probs: dict[int, Tensor]
    qk_grads: dict[int, Tensor]
    dropped: dict[int, dict[Site, Tensor]]


def destination_pass(model, ids: Tensor, site_list: list[Site], request, right, wrong, clean_logits) -> Destination:
    """One forward that keeps the graph, the metric's backward, one local backward per attention layer (QK
    fix) and one partial backward per layer (GradDrop)."""
    from tsft.patching.hooks import intervene

    layers = n_layers(model)
    pre = [Site(layer, "resid_pre") for layer in range(layers)]
    post = [Site(layer, "resid_post") for layer in range(layers)]
    capture = sorted(set(site_list) | set(pre) | set(post), key=lambda s: s.order)
    leaf = {Site(-1, EMBED): lambda x: x.detach().requires_grad_(True)}
    with torch.enable_grad():
        with recording_attention(model) as attention, \
                intervene(model, capture=capture, edit=leaf, detach=False) as seen:
            logits = model(ids, logits_to_keep=1).logits[:, -1].float()
        total = metric(request.metric, logits, right, wrong, clean_logits).sum()
        acts = {s: seen[s.name] for s in capture}
        records = [attention[layer] for layer in range(layers)]
        wrt = [acts[s] for s in capture] + [r.probs for r in records] + [r.q for r in records] + \
              [r.k for r in records]
        grads = _zero_unused(wrt, torch.autograd.grad(total, wrt, retain_graph=True, allow_unused=True))
        site_grads = dict(zip(capture, grads[:len(capture)], strict=True))
        rest = grads[len(capture):]
        grad_probs = dict(enumerate(rest[:layers]))
        qk_grads = {layer: _local(records[layer], acts[pre[layer]], rest[layers + layer], rest[2 * layers + layer])
                    for layer in range(layers)}
        dropped = {layer: _dropped(acts, site_list, pre[layer], site_grads[post[layer]]) for layer in range(layers)}
    return Destination({s: a.detach() for s, a in acts.items()}, site_grads, attention, grad_probs, qk_grads,
                       dropped)


def _zero_unused(inputs, grads) -> list[Tensor]:
    return [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, grads, strict=True)]


def _local(record: Attention, resid: Tensor, grad_q: Tensor, grad_k: Tensor) -> Tensor:
    """dM/d(resid) through this layer's queries and keys only: a vector-Jacobian product from (q, k) to the input."""
    (grad,) = _zero_unused([resid], torch.autograd.grad([record.q, record.k], [resid], [grad_q, grad_k],
                                                       retain_graph=True, allow_unused=True))
    return grad


def _dropped(acts: dict, site_list: list[Site], resid_pre: Site, grad_post: Tensor) -> dict[Site, Tensor]:
    """Gradients at the sites upstream of a layer with that layer's residual contribution removed: the gradient at
    its input becomes the gradient at its output, pushed back to each upstream site."""
    upstream = [s for s in site_list if _upstream(s, resid_pre.layer)]
    if not upstream:
        return {}
    grads = torch.autograd.grad([acts[resid_pre]], [acts[s] for s in upstream], [grad_post], retain_graph=True,
                                allow_unused=True)
    return dict(zip(upstream, _zero_unused([acts[s] for s in upstream], grads), strict=True))


def source_pass(model, ids: Tensor, site_list: list[Site]) -> tuple[dict[Site, Tensor], dict[int, Attention]]:
    """Activations at the sites and the attention records of an unpatched source run."""
    from tsft.patching.hooks import intervene

    with torch.inference_mode(), recording_attention(model) as attention, \
            intervene(model, capture=site_list) as seen:
        model(ids, logits_to_keep=1)
    return {s: seen[s.name] for s in site_list}, dict(attention)


def estimates(engine, pairs, chunk, site_list, request, scores, passes: Counter):
    """(condition, AtP* change of the metric, GradDrop magnitude) for every condition of a chunk of same-length
    pairs; `passes` counts what it ran."""
    device, layers = engine.device, n_layers(engine.model)
    sides = [pairs[i].sides(request.direction) for i in chunk]
    source, source_attention = source_pass(engine.model, torch.tensor([s[1] for s in sides], device=device),
                                           site_list)
    index = torch.tensor(chunk)
    dest = destination_pass(engine.model, torch.tensor([s[0] for s in sides], device=device), site_list, request,
                            scores.right[index].to(device), scores.wrong[index].to(device),
                            scores.clean_logits[index].to(device))
    passes.update(forward=2 * len(chunk), backward=len(chunk), qk_local_backward=layers * len(chunk),
                  graddrop_backward=layers * len(chunk))
    for row, i in enumerate(chunk):
        mapping = sides[row][3]
        unpatched = {}
        for cond in pair_conditions(i, pairs[i], site_list, request):
            positions = list(cond.positions)
            moved = [mapping[p] for p in positions]
            delta = source[cond.site][row, moved] - dest.acts[cond.site][row, positions]
            first = float((delta * dest.grads[cond.site][row, positions]).sum())
            value = first
            layer = reading_layer(cond.site, layers)
            if layer is not None and moved == positions:
                before = unpatched.setdefault(layer, pattern(dest.attention[layer], row))
                value += _qk_fix(dest, source_attention[layer], layer, row, positions, delta, before)
                passes["qk_recomputations"] += 1
            elif layer is not None:
                passes["qk_skipped"] += 1
            drops = [float((delta * dest.dropped[drop][cond.site][row, positions]).sum())
                     if cond.site in dest.dropped[drop] else first for drop in range(layers)]
            yield cond, value, sum(abs(d) for d in drops) / layers


def _qk_fix(dest: Destination, source: Attention, layer: int, row: int, positions: list[int], delta: Tensor,
            before: Tensor) -> float:
    """Exact pattern change at the reading layer dotted with dM/dA, minus the first-order part it replaces."""
    record = dest.attention[layer]
    q, k = record.q[row].detach().clone(), record.k[row].detach().clone()
    q[:, positions] = source.q[row][:, positions].to(q)
    k[:, positions] = source.k[row][:, positions].to(k)
    exact = float((dest.grad_probs[layer][row].float() * (pattern(record, row, q, k) - before)).sum())
    linear = float((delta * dest.qk_grads[layer][row, positions]).sum())
    return exact - linear
