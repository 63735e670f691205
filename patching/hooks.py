"""The one hook primitive: read or edit named sites during a forward pass, always cleaning up.

    with intervene(model, capture=["blocks.1.mlp_out"], edit={"blocks.0.attn_out": fn}) as seen:
        model(ids)
    seen["blocks.1.mlp_out"]            # [batch, pos, d_model]

An edit is a function `activation -> activation` applied where the site is computed: an output
site's module returns the edited tensor, an input site's module receives it. A captured site
holds what the rest of the model saw (after any edit at that site). Hooks are removed when the
block exits, whatever happens inside it, so a failed run never leaves a model patched. Captures
are detached unless `detach=False` (attribution patching needs the graph). Every capture and
patch in tsft (engines, tracing, probes' activation datasets) goes through this function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager

from torch import Tensor
from tsft.patching.sites import Site, parse_site, site_module, tuple_output

Edit = Callable[[Tensor], Tensor]


def _process(site: Site, value: Tensor, edits: Mapping[Site, Edit], seen: dict, captures: set, detach: bool):
    if site in edits:
        value = edits[site](value)
    if site in captures:
        seen[site.name] = value.detach() if detach else value
    return value


def _output_hook(site, edits, seen, captures, detach, in_tuple: bool):
    """`in_tuple`: the module returns (activation, ...) (the architecture table says which do)."""
    def hook(module, args, output):
        new = _process(site, output[0] if in_tuple else output, edits, seen, captures, detach)
        if site not in edits:
            return None
        return (new, *output[1:]) if in_tuple else new
    return hook


def _input_hook(site, edits, seen, captures, detach):
    def hook(module, args, kwargs):
        if args:
            new = _process(site, args[0], edits, seen, captures, detach)
            return ((new, *args[1:]), kwargs) if site in edits else None
        new = _process(site, kwargs["hidden_states"], edits, seen, captures, detach)
        return (args, {**kwargs, "hidden_states": new}) if site in edits else None
    return hook


@contextmanager
def intervene(model, capture: Iterable[str | Site] = (), edit: Mapping[str | Site, Edit] | None = None,
              detach: bool = True) -> Iterator[dict[str, Tensor]]:
    """Capture and/or edit sites of `model` inside the block; yields {site name: activation}."""
    captures = {parse_site(s) for s in capture}
    edits = {parse_site(s): fn for s, fn in (edit or {}).items()}
    seen: dict[str, Tensor] = {}
    handles = []
    try:
        for site in sorted(captures | set(edits), key=lambda s: s.order):
            module, where = site_module(model, site)
            if where == "output":
                hook = _output_hook(site, edits, seen, captures, detach, tuple_output(model, site))
                handles.append(module.register_forward_hook(hook))
            else:
                handles.append(module.register_forward_pre_hook(_input_hook(site, edits, seen, captures, detach),
                                                                with_kwargs=True))
        yield seen
    finally:
        for handle in handles:
            handle.remove()
