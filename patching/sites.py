"""Canonical sites: the activations tsft reads and edits, named once for every architecture.

A site is `blocks.{layer}.{component}` (or `embed`). The components of one decoder layer, in the
order the forward pass computes them:

* `resid_pre`  - the residual stream entering the layer (the layer module's input);
* `attn_out`   - the attention block's output, before it is added to the residual stream;
* `mlp_hidden` - the MLP's hidden activation, act(gate(x)) * up(x), the input of `down_proj`;
* `mlp_out`    - the MLP block's output, before it is added to the residual stream;
* `resid_post` - the residual stream leaving the layer (= resid_pre + attn_out + mlp_out).

`embed` is the token embedding (the input of layer 0), used by noise-corruption tracing.
Module paths come from the architecture table (models.architectures), one entry per family; a site
resolves to (module, "input" | "output"). Everything that touches a site goes through this file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tsft.models.architectures import COMPONENTS, architecture, component_width, n_layers
from tsft.models.params import block_size as parameters_of_block

EMBED = "embed"
_NAME = re.compile(r"^blocks\.(\d+)\.(\w+)$")


class SiteError(ValueError):
    """A site name or layer that the model does not have; the message lists what exists."""


@dataclass(frozen=True, order=True)
class Site:
    """One named activation: `layer` is -1 for the embedding."""

    layer: int
    component: str

    @property
    def name(self) -> str:
        return EMBED if self.component == EMBED else f"blocks.{self.layer}.{self.component}"

    @property
    def order(self) -> tuple[int, int]:
        """Position in the forward pass (embedding first, then layer by layer, component by component)."""
        return (-1, 0) if self.component == EMBED else (self.layer, COMPONENTS.index(self.component))

    def __str__(self) -> str:
        return self.name


def parse_site(name: str | Site) -> Site:
    """`blocks.3.mlp_out` -> Site(3, "mlp_out"); `embed` -> Site(-1, "embed")."""
    if isinstance(name, Site):
        return name
    if name == EMBED:
        return Site(-1, EMBED)
    match = _NAME.match(name)
    if not match or match.group(2) not in COMPONENTS:
        raise SiteError(f"unknown site {name!r}; sites are 'embed' or 'blocks.<layer>.<component>' with component "
                        f"one of {', '.join(COMPONENTS)}")
    return Site(int(match.group(1)), match.group(2))


def check_site(model, site: Site) -> Site:
    layers = n_layers(model)
    if site.component != EMBED and not 0 <= site.layer < layers:
        raise SiteError(f"site {site.name}: the model has layers 0-{layers - 1}")
    return site


def sites(model, components: tuple[str, ...] | list[str], layers: list[int] | None = None) -> list[Site]:
    """Sites for every (layer, component), in forward order; all layers when `layers` is None."""
    for component in components:
        if component not in COMPONENTS and component != EMBED:
            raise SiteError(f"unknown component {component!r}; known: {', '.join(COMPONENTS)}, {EMBED}")
    chosen = range(n_layers(model)) if layers is None else layers
    out = {check_site(model, Site(-1, EMBED) if c == EMBED else Site(layer, c)) for c in components for layer in chosen}
    return sorted(out, key=lambda s: s.order)


def module_path(model, site: Site) -> tuple[str, str]:
    """(dotted module path from the model root, "input" | "output") of a site."""
    arch = architecture(model)
    check_site(model, site)
    if site.component == EMBED:
        return arch.embed, "output"
    component = arch.components[site.component]
    return ".".join(p for p in (arch.layers, str(site.layer), component.module) if p), component.side


def tuple_output(model, site: Site) -> bool:
    """Whether the site's module returns the activation as the first item of a tuple."""
    return site.component != EMBED and architecture(model).components[site.component].tuple_output


def tl_hook(model, site: Site) -> str:
    """The TransformerLens bridge hook name of a site."""
    arch = architecture(model)
    if site.component == EMBED:
        return arch.embed_tl_hook
    return arch.components[site.component].tl_hook.format(layer=site.layer)


def site_module(model, site: Site):
    """(the torch module, "input" | "output") of a site."""
    path, where = module_path(model, site)
    return model.get_submodule(path), where


def block_size(model, site: Site) -> int | None:
    """Parameters of the block whose output the site is (attention for attn_out, the MLP for mlp_out and
    mlp_hidden); None for residual-stream sites, which no single block writes. Random-location controls draw
    blocks of equal parameter count."""
    block = {"attn_out": "attn", "mlp_out": "mlp", "mlp_hidden": "mlp"}.get(site.component)
    if block is None:
        return None
    return parameters_of_block(model, (check_site(model, site).layer, block))


def width(model, site: Site) -> int:
    """The activation width at a site (d_model, or the MLP's hidden width for mlp_hidden)."""
    return component_width(model, "resid_pre" if site.component == EMBED else site.component)
