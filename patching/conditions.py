"""What a patching sweep patches: the request, and the (pair, site, positions) conditions it expands to.

A `PatchRequest` names the sites (components x layers), the positions (`each` position alone, each named
`spans` of `patching.pairs.SPANS` as a whole, the `last` position, or `all` at once), the direction (`denoise`:
clean activations into the corrupt run; `noise`: corrupt into clean), the metric and a memory budget. For one
pair, `pair_conditions` lists every (site, position group) it asks for whose positions have a counterpart on
the source side. `length_groups` groups pairs that stack without padding, and `batch_rows` turns the memory
budget into rows per stacked forward. Exact patching (patching.activation), attribution patching
(patching.attribution) and causal tracing (patching.tracing) all expand requests this way.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

from tsft.patching.metrics import check_metric
from tsft.patching.pairs import PatchPair
from tsft.patching.sites import COMPONENTS, Site, sites

POSITIONS = ("each", "spans", "last", "all")


@dataclass(frozen=True)
class PatchRequest:
    """What to patch and how to score it (recorded next to every result table)."""

    components: tuple[str, ...] = ("resid_pre", "attn_out", "mlp_out")
    """Layer components to patch (any of patching.sites.COMPONENTS)."""
    layers: tuple[int, ...] | None = None
    """Layers to patch; None = every layer."""
    positions: str = "spans"
    """each | spans | last | all."""
    direction: str = "denoise"
    """denoise (clean into corrupt) or noise (corrupt into clean)."""
    metric: str = "logit_diff"
    """logit_diff | prob | kl (patching.metrics)."""
    memory_mb: int = 512
    """Budget for one stacked forward (activations + replacement values); sets the micro-batch size."""

    def check(self) -> PatchRequest:
        check_metric(self.metric)
        if self.positions not in POSITIONS:
            raise ValueError(f"unknown positions {self.positions!r}; choose one of {', '.join(POSITIONS)}")
        if self.direction not in ("denoise", "noise"):
            raise ValueError(f"unknown direction {self.direction!r}; use denoise or noise")
        unknown = set(self.components) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown component(s) {sorted(unknown)}; known: {', '.join(COMPONENTS)}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    def sites(self, model) -> list[Site]:
        """The requested sites of `model`, in forward order."""
        return sites(model, self.components, list(self.layers) if self.layers is not None else None)


@dataclass(frozen=True)
class Condition:
    pair: int
    site: Site
    label: str
    positions: tuple[int, ...]


def position_groups(length: int, spans: dict[str, tuple[int, ...]], mode: str) -> list[tuple[str, tuple[int, ...]]]:
    """(label, destination positions) for each condition of one pair."""
    if mode == "each":
        return [(str(p), (p,)) for p in range(length)]
    if mode == "last":
        return [("last", (length - 1,))]
    if mode == "all":
        return [("all", tuple(range(length)))]
    return [(name, positions) for name, positions in spans.items() if positions]


def length_groups(pairs: list[PatchPair], direction: str) -> dict[tuple[int, int], list[int]]:
    """Pair indices grouped by (destination length, source length): each group stacks without padding."""
    groups = defaultdict(list)
    for i, pair in enumerate(pairs):
        dest, source, _, _ = pair.sides(direction)
        groups[(len(dest), len(source))].append(i)
    return groups


def pair_conditions(index: int, pair: PatchPair, site_list: list[Site], request: PatchRequest) -> list[Condition]:
    """Every (site, position group) condition of pair `index` whose positions all have a source counterpart."""
    dest, _, spans, mapping = pair.sides(request.direction)
    out = []
    for label, positions in position_groups(len(dest), spans, request.positions):
        if all(mapping[p] >= 0 for p in positions):
            out.extend(Condition(index, site, label, positions) for site in site_list)
    return out


def row_bytes(model, length: int, n_values: int = 1) -> int:
    """Rough bytes one destination row needs in a forward (activations kept + replacement values)."""
    c = model.config.get_text_config()
    per_position = c.num_hidden_layers * (6 * c.hidden_size + 3 * c.intermediate_size) + n_values * c.hidden_size
    return 4 * (length * per_position + c.vocab_size)


def batch_rows(memory_mb: int, model, length: int) -> int:
    """Destination rows of `length` tokens that fit one stacked forward under `memory_mb`."""
    return max(1, (memory_mb << 20) // row_bytes(model, length))
