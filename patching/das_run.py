"""`tsft patch das`: distributed alignment search over a checkpoint's sites, with its baselines and checks.

For every site (component x layer) and position (`last`, `ask`) the run fits one k-dimensional basis per k
(`patching.das.fit_basis`, on the train split's examples) and reads the interchange-intervention accuracy
(IIA) of that basis, of a random basis and of the top-k principal directions at the same k, and of the
full-vector patch, on every split (`train`, `heldout_pairs`, `heldout_templates`) and pairing (`swap`, `cross`,
and `all` of them); the learned basis is also read through its used-space component alone (`das_used`, the
illusion check), with the share of it outside that space. One tidy table, `das.parquet`:

    model, layer, component, position, k, method, split, pairing, iia, n, outside

and `first.parquet`: per k, position and method, the first (layer, component) in forward order whose
held-out-pairs IIA over all pairings reaches `THRESHOLD`; `bases.safetensors` holds every learned basis (k x d,
key `<site>|<position>|k<k>`). Written atomically with request.json.

With `scan`, the full-vector patch (no fit: one patched run per example) is read first at every layer of the
requested components, and the bases are fitted at `layers` and, per component and position, at the first layer
where the full patch reaches `THRESHOLD` on held-out pairs and the two layers below it: the fits land where the
variable arrives instead of on a fixed grid that may straddle it. The table then has `full` rows at every layer
and the other methods' rows at the fitted ones.

    from tsft.patching.das_run import DasRequest, run_das
    run_das("runs/quick/sft/theorem-full-s0", "runs/quick/data", "runs/das", DasRequest(layers=(0, 2)))
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from tsft.patching.das_items import LABELS, PAIRINGS, POSITIONS, SPLITS

THRESHOLD = 0.8
"""Held-out IIA at which a site counts as carrying the variable (first_layers)."""
ILLUSION_DROP = 0.2
"""IIA lost by keeping only a learned subspace's used-space component that flags it as an illusion."""
METHODS = ("das", "random", "pca", "full", "das_used")
COMPONENTS = ("resid_post", "attn_out", "mlp_out")


@dataclass(frozen=True)
class DasRequest:
    """Which sites DAS searches, at which dimensions, and how it fits (see the module docstring)."""

    components: tuple[str, ...] = COMPONENTS
    layers: tuple[int, ...] | None = None
    """None: every layer."""
    positions: tuple[str, ...] = POSITIONS
    ks: tuple[int, ...] = (1, 4, 16)
    limit: int = 64
    """Theorem-swap pairs per split (each gives two items)."""
    per_base: int = 2
    """Cross-template sources drawn per base item."""
    epochs: int = 8
    """Passes over the training examples per fit (at least patching.das.MIN_STEPS optimizer steps)."""
    lr: float = 1e-2
    target: str | None = None
    """Style whose next token is the label (None: the checkpoint's own, else theorem)."""
    labels: str = "target"
    """target (the style's token as written) | model (the model's own prediction for each theorem's prompt)."""
    seed: int = 0
    scan: bool = False
    """Also read the full-vector patch at every layer and fit where it first reaches THRESHOLD (module doc)."""

    def check(self) -> DasRequest:
        if self.labels not in LABELS:
            raise ValueError(f"unknown DAS labels {self.labels!r}; use {' or '.join(LABELS)}")
        bad = [p for p in self.positions if p not in POSITIONS]
        if bad:
            raise ValueError(f"unknown DAS position {bad[0]!r}; use {' or '.join(POSITIONS)}")
        if not self.ks or min(self.ks) < 1:
            raise ValueError(f"DAS dimensions must be whole numbers of at least 1, got {list(self.ks)}")
        if self.limit < 1 or self.per_base < 0 or self.epochs < 1 or not self.lr > 0:
            raise ValueError("DAS needs limit >= 1, per_base >= 0, epochs >= 1 and lr > 0, got "
                             f"{self.limit}, {self.per_base}, {self.epochs}, {self.lr}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def run_das(model_dir, data_dir, out, request: DasRequest = DasRequest(), *, overwrite: bool = False,
            placement=None, progress: bool = True, allow_empty: bool = False):
    """DAS on one checkpoint and data folder; writes das.parquet, first.parquet and request.json into `out`.
    Returns (the table, the first-layer table). A model with no training example (it predicts no item's own
    continuation, or its continuation never depends on the theorem) is an error, or with `allow_empty` empty
    tables whose request.json says why (a pipeline's barely trained checkpoint)."""
    from tqdm.auto import tqdm
    from tsft.models.placement import Placement, load_checkpoint
    from tsft.models.precision import compute
    from tsft.models.provenance import save_tables
    from tsft.patching.das import Interchanger
    from tsft.patching.das_items import model_labels
    from tsft.patching.run import check_layers
    from tsft.patching.sites import sites
    from tsft.tasks.dataset import load_dataset
    from tsft.tasks.io import refuse_existing

    request.check()
    check_layers(model_dir, request.layers)
    refuse_existing(out, overwrite)
    start = time.perf_counter()
    dataset = load_dataset(data_dir)
    placement = placement or Placement(precision="fp32")
    model, tokenizer, checkpoint = load_checkpoint(model_dir, placement)
    model.requires_grad_(False)
    target = request.target or checkpoint.target or "theorem"
    layers = None if request.scan or request.layers is None else list(request.layers)
    site_list = sites(model, request.components, layers)
    with compute(model, placement.precision) as precision:
        items, spans = _split_items(dataset, tokenizer, target, request.limit)
        runner = Interchanger(model, items, site_list)
        if request.labels == "model":
            runner.items = items = model_labels(items, runner.predicted.tolist())
        examples = _split_examples(items, spans, runner.correct(), request)
        empty = None if examples["train"] else (
            f"{model_dir}: no training example: the model predicts no training item's own continuation, or its "
            "continuation never depends on the theorem (try --labels model or another --target)")
        if empty and not allow_empty:
            raise ValueError(empty)
        rows, bases = [], {}
        pairs = [(site, position) for site in site_list for position in request.positions] if not empty else []
        rows = [row for site, position in tqdm(pairs, desc="das full patch", unit="site", disable=not progress)
                for row in _full_rows(runner, site, position, examples)]
        if request.scan:
            fitted = _fitted_sites(rows, request.layers)
            pairs = [(site, position) for site, position in pairs if (site.component, site.layer, position) in fitted]
        for site, position in tqdm(pairs, desc="das", unit="site", disable=not progress):
            rows += _site_rows(runner, site, position, examples, request, slice(*spans["train"]), bases)
    table = _tidy(rows, checkpoint.name)
    first = first_layers(table)
    counts = {split: {p: sum(e.pairing == p for e in chosen) for p in PAIRINGS} for split, chosen in examples.items()}
    save_tables(out, {"das.parquet": table, "first.parquet": first, "bases.safetensors": bases},
                {"kind": "das", "request": request.to_dict(), "model": str(model_dir), "data": str(data_dir),
                 "target": target, "precision": precision, "items": len(items), "examples": counts,
                 "empty": empty}, overwrite, start)
    return table, first


def _split_items(dataset, tokenizer, target: str, limit: int):
    """All splits' items in one list, and each split's (first, end) range in it."""
    from tsft.patching.das_items import make_items, split_problems

    items, spans = [], {}
    for split in SPLITS:
        chosen = make_items(split_problems(dataset, split), tokenizer, target, limit)
        spans[split] = (len(items), len(items) + len(chosen))
        items += chosen
    return items, spans


def _split_examples(items, spans: dict, correct: list[bool], request: DasRequest) -> dict:
    from dataclasses import replace

    from tsft.patching.das_items import make_examples

    out = {}
    for split, (first, end) in spans.items():
        local = make_examples(items[first:end], correct[first:end], request.per_base, request.seed)
        out[split] = [replace(e, base=e.base + first, source=e.source + first) for e in local]
    return out


def _hits(runner, site, position, examples, basis) -> dict[str, tuple[float, int]]:
    """IIA per pairing and over all of them, from one patched run of each example: {pairing: (iia, n)}."""
    hit = runner.hits(site, position, examples, basis)
    out = {}
    for pairing in (*PAIRINGS, "all"):
        mine = [i for i, e in enumerate(examples) if pairing in ("all", e.pairing)]
        out[pairing] = (float(hit[mine].float().mean()) if mine else float("nan"), len(mine))
    return out


def _read(runner, site, position: str, examples: dict, method: str, k: int, basis,
          outside: float = float("nan")) -> list[dict]:
    """One basis's IIA rows at a site and position, on every split and pairing."""
    return [{"layer": site.layer, "component": site.component, "position": position, "k": k, "method": method,
             "split": split, "pairing": pairing, "iia": iia, "n": n, "outside": outside}
            for split, chosen in examples.items()
            for pairing, (iia, n) in _hits(runner, site, position, chosen, basis).items()]


def _full_rows(runner, site, position: str, examples: dict) -> list[dict]:
    """The full-vector patch's rows (k = the site's width)."""
    import torch

    width = runner.vectors[(site, position)].shape[1]
    return _read(runner, site, position, examples, "full", width, torch.eye(width))


def _fitted_sites(full_rows: list[dict], layers) -> set[tuple[str, int, str]]:
    """(component, layer, position) to fit after a scan: `layers` (every scanned one when None), and per component
    and position the first layer whose held-out-pairs full-patch IIA reaches THRESHOLD and the two below it."""
    import pandas as pd

    held = pd.DataFrame(full_rows, columns=COLUMNS)
    held = held[(held["split"] == "heldout_pairs") & (held["pairing"] == "all")]
    fitted = set()
    for (component, position), group in held.groupby(["component", "position"]):
        scanned = set(group["layer"])
        fitted |= {(component, layer, position) for layer in (scanned if layers is None else layers)
                   if layer in scanned}
        reached = group[group["iia"] >= THRESHOLD]["layer"]
        if len(reached):
            first = int(reached.min())
            fitted |= {(component, layer, position) for layer in (first - 2, first - 1, first) if layer in scanned}
    return fitted


def _site_rows(runner, site, position: str, examples: dict, request: DasRequest, train: slice,
               bases: dict) -> list[dict]:
    """The fitted methods' IIA at one site and position (the full patch's rows are read before, at every site);
    the learned bases are added to `bases`."""
    import torch
    from tsft.patching.das import fit_basis, principal_basis, random_basis, used_space, within

    train_vectors = runner.vectors[(site, position)][train]
    width = train_vectors.shape[1]
    space = used_space(runner.covariance(site))
    rows = []

    def read(method: str, k: int, basis, outside=float("nan")):
        rows.extend(_read(runner, site, position, examples, method, k, basis, outside))

    for k in sorted(set(min(k, width) for k in request.ks)):
        with torch.enable_grad():
            learned = fit_basis(runner, site, position, examples["train"], k, request.epochs, request.lr,
                                seed=request.seed)
        bases[f"{site.name}|{position}|k{k}"] = learned.contiguous()
        used, outside = within(learned, space)
        read("das", k, learned, outside)
        read("das_used", k, used, outside)
        read("random", k, random_basis(width, k, request.seed + 1))
        read("pca", k, principal_basis(train_vectors, k))
    return rows


COLUMNS = ["layer", "component", "position", "k", "method", "split", "pairing", "iia", "n", "outside"]


def _tidy(rows: list[dict], model: str):
    import pandas as pd

    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.insert(0, "model", model)
    return frame


def first_layers(table, threshold: float = THRESHOLD):
    """Per (model, k, position, method): the first site in forward order whose held-out-pairs IIA (all
    pairings) reaches `threshold`; layer -1 and component None where none does."""
    import pandas as pd
    from tsft.models.architectures import COMPONENTS

    order = {c: i for i, c in enumerate(COMPONENTS)}
    held = table[(table["split"] == "heldout_pairs") & (table["pairing"] == "all")]
    rows: list[dict] = []
    for (model, k, position, method), group in held.groupby(["model", "k", "position", "method"], sort=True):
        group = group.assign(rank=group["component"].map(order)).sort_values(["layer", "rank"])
        hit = group[group["iia"] >= threshold]
        first = hit.iloc[0] if len(hit) else None
        rows.append({"model": model, "k": k, "position": position, "method": method,
                     "layer": int(first["layer"]) if first is not None else -1,
                     "component": first["component"] if first is not None else None,
                     "iia": float(first["iia"]) if first is not None else float(group["iia"].max()),
                     "threshold": threshold})
    return pd.DataFrame(rows)
