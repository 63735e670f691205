"""The probe protocol from folders: checkpoints and a data folder in, tidy tables out.

`run_probes` captures (or reuses) each checkpoint's activation dataset and runs every label's
probe at every (site, position), writing `probes.parquet` (model, site, layer, component,
position, label, metric, kind, value, ci_low, ci_high, n_folds, n) and `request.json`. Several
checkpoints in one call give one table: the checkpoint comparison. `run_causal` removes a probe's
directions at one site and measures behaviour against random directions of the same rank
(`causal.parquet`). Activation caches live under `OUT/activations/<model>-<fingerprints>/` unless
`cache` names a folder, and are reused by any later run with the same model and problem list.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sklearn
from tsft.models.evaluate import TARGET_NEW_TOKENS
from tsft.models.placement import Placement, load_checkpoint
from tsft.models.precision import compute
from tsft.models.provenance import write_request
from tsft.patching.hooks import intervene
from tsft.patching.sites import Site, parse_site, sites
from tsft.probes.capture import activation_dataset, cache_identity, dataset_rows, default_cache, split_feature
from tsft.probes.causal import CausalRequest, behaviour, causal_conditions
from tsft.probes.erasure import mean_squared_change
from tsft.probes.fitting import ProbeConfig
from tsft.probes.labels import LABELS, label_column
from tsft.probes.linear import cross_validate, evaluate_label, interval, label_data
from tsft.probes.positions import check_words_occur
from tsft.probes.splits import SplitError, check_labels
from tsft.tasks.dataset import load_dataset
from tsft.tasks.io import atomic_file, refuse_existing

DEFAULT_COMPONENTS = ("resid_post", "mlp_out", "attn_out")
RESULT_COLUMNS = ("model", "site", "layer", "component", "position", "label", "metric", "kind", "value", "ci_low",
                  "ci_high", "n_folds", "n")


@dataclass(frozen=True)
class ProbeRequest:
    """What to probe: sites (components x layers), positions, labels (None = every label the data offers),
    perturbed kinds (None = all), which split and how many originals, and the probe protocol."""

    components: tuple[str, ...] = DEFAULT_COMPONENTS
    layers: tuple[int, ...] | None = None
    positions: tuple[str, ...] = ("last",)
    labels: tuple[str, ...] | None = None
    kinds: tuple[str, ...] | None = None
    split: str = "test"
    limit: int | None = None
    batch_size: int = 32
    config: ProbeConfig = field(default_factory=ProbeConfig)


KEPT = " (cached activations are kept)"


def _write_results(out: Path, tables: dict, request: dict, start: float) -> None:
    """Each table written to a temp name and renamed into place, then request.json (training.provenance)."""
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        with atomic_file(out / name) as tmp:
            frame.to_parquet(tmp, index=False)
    write_request(out, request, start, sklearn=sklearn.__version__)


def checkpoint_store(model, tokenizer, name: str, dataset, request: ProbeRequest, out: Path, cache=None,
                     progress: bool = True, precision: str = "fp32"):
    """(store, features, rows) of one checkpoint's activation dataset (captured or reused); `precision` is the
    resolved compute precision the caller runs under (part of the cache's identity)."""
    problems, rows = dataset_rows(dataset, request.split, request.kinds, request.limit)
    chosen = sites(model, request.components, list(request.layers) if request.layers is not None else None)
    identity = {**cache_identity(model, tokenizer, problems, rows, name), "precision": precision}
    store, features = activation_dataset(model, tokenizer, problems, rows, chosen, request.positions,
                                         cache or default_cache(out / "activations", identity), name,
                                         request.batch_size, progress=progress, identity=identity)
    return store, features, rows


def usable_labels(rows, requested: Sequence[str] | None, folds: int) -> tuple[list[str], dict[str, str]]:
    """The labels to probe and, when chosen automatically, why the others were skipped."""
    if requested is not None:
        return list(requested), {}
    chosen, skipped = [], {}
    originals = rows[rows["kind"] == "original"]
    for label in LABELS:
        values = label_column(rows, label)[rows["kind"] == "original"].dropna()
        try:
            check_labels(values.astype(str).tolist(), label, folds)
        except SplitError as err:
            skipped[label] = str(err)
            continue
        if values.nunique() == len(originals):
            skipped[label] = f"{label}: every problem has its own value"
            continue
        chosen.append(label)
    return chosen, skipped


def probe_features(store, features: Sequence[str], rows, labels: Sequence[str], config: ProbeConfig, model: str,
                   progress: bool = True) -> list[dict]:
    from tqdm.auto import tqdm

    out = []
    bar = tqdm(total=len(features) * len(labels), desc=f"probe {model}", disable=not progress, leave=False)
    for feature in features:
        x = store.load(feature)
        site, position = split_feature(feature)
        for label in labels:
            for row in evaluate_label(x, rows, label, config, what=f"{model} {feature} {label}"):
                out.append({"model": model, "site": site.name, "layer": site.layer, "component": site.component,
                            "position": position, **row})
            bar.update()
    bar.close()
    return out


def run_probes(model_dirs: Sequence, data_dir, out, request: ProbeRequest = ProbeRequest(), *, cache=None,
               overwrite: bool = False, placement: Placement = Placement(), progress: bool = True):
    """The probe protocol on every checkpoint: (the tidy frame written to OUT/probes.parquet, per-model info:
    folder, cache, labels probed and skipped with reasons, rows)."""
    import pandas as pd

    out = Path(out)
    unknown = [label for label in request.labels or () if label not in LABELS]
    if unknown:
        raise ValueError(f"unknown label {unknown[0]!r}; known: {', '.join(LABELS)}")
    refuse_existing(out / "probes.parquet", overwrite, KEPT)
    if cache is not None and len(model_dirs) > 1:
        raise ValueError("--cache names one cache folder; with several models leave it out (each gets its own)")
    start = time.perf_counter()
    dataset = load_dataset(data_dir)
    check_words_occur(dataset_rows(dataset, request.split, request.kinds, request.limit)[0], request.positions)
    rows_out, meta = [], {}
    for model_dir in model_dirs:
        model, tokenizer, checkpoint = load_checkpoint(model_dir, placement)
        name = checkpoint.name
        with compute(model, placement.precision) as precision:
            store, features, rows = checkpoint_store(model, tokenizer, name, dataset, request, out, cache, progress,
                                                     precision)
        labels, skipped = usable_labels(rows, request.labels, request.config.folds)
        if not labels:
            raise ValueError(f"{data_dir}: no label can be probed ({'; '.join(skipped.values())})")
        rows_out += probe_features(store, features, rows, labels, request.config, name, progress)
        meta[name] = {"folder": str(model_dir), "cache": str(store.folder), "labels": labels, "skipped": skipped,
                      "rows": store.n_rows, "precision": precision}
    frame = pd.DataFrame(rows_out, columns=list(RESULT_COLUMNS))
    _write_results(out, {"probes.parquet": frame},
                   {"kind": "probes", "data": str(data_dir), "request": asdict(request), "models": meta}, start)
    return frame, meta


def run_causal(model_dir, data_dir, out, causal: CausalRequest, request: ProbeRequest = ProbeRequest(), *, cache=None,
               overwrite: bool = False, placement: Placement = Placement(), progress: bool = True):
    """Probe accuracy, edit size and model behaviour with the label erased vs random subspaces of the same rank;
    writes OUT/causal.parquet."""
    from dataclasses import replace

    import pandas as pd
    from tqdm.auto import tqdm

    causal.check()
    out = Path(out)
    refuse_existing(out / "causal.parquet", overwrite, KEPT)
    start = time.perf_counter()
    dataset = load_dataset(data_dir)
    model, tokenizer, checkpoint = load_checkpoint(model_dir, placement)
    name, target = checkpoint.name, checkpoint.target
    site = parse_site(causal.site)
    request = replace(request, components=(site.component,), layers=(site.layer,), positions=(causal.position,),
                      kinds=())
    with compute(model, placement.precision) as precision:
        store, features, rows = checkpoint_store(model, tokenizer, name, dataset, request, out, cache, progress,
                                                 precision)
        data = label_data(store.load(features[0]), rows, causal.label, request.config)
        capture = _layer_capture(model, tokenizer, dataset, request, rows, causal, out) if causal.scrub else None
        conditions = causal_conditions(data, causal, request.config, site, capture)
    problems = dataset.split(request.split)[:min(causal.problems, len(rows))]
    new_tokens = TARGET_NEW_TOKENS.get(target, max(TARGET_NEW_TOKENS.values()))
    results = []
    for condition in tqdm(conditions, desc="causal", disable=not progress, leave=False):
        scores = cross_validate(replace(data, x=condition.erased, perturbed={}), request.config,
                                f"{name} {causal.site}")
        metrics = {"probe_accuracy": interval(scores[("accuracy", "original")])[0],
                   "probe_majority": interval(scores[("majority", "original")])[0],
                   "mean_sq_change": mean_squared_change(data.x, condition.erased)}
        if condition.erasers is not None:  # the oracle erases activations only
            metrics |= behaviour(model, tokenizer, problems, condition.erasers, new_tokens, precision)
        results += [{"model": name, "site": site.name, "position": causal.position, "label": causal.label,
                     "condition": condition.name, "draw": condition.draw, "rank": condition.rank,
                     "layers": condition.layers, "metric": metric, "value": value}
                    for metric, value in metrics.items()]
    frame = pd.DataFrame(results)
    _write_results(out, {"causal.parquet": frame},
                   {"kind": "causal", "model": str(model_dir), "data": str(data_dir), "causal": asdict(causal),
                    "request": asdict(request), "problems": len(problems), "precision": precision}, start)
    return frame


def _layer_capture(model, tokenizer, dataset, request: ProbeRequest, rows, causal: CausalRequest, out: Path):
    """capture(erasers, layer) -> the label's activations at `layer` of the site's component, with `erasers`
    ({layer: eraser}) applied in the forward pass (concept scrubbing; each capture uses a scratch folder)."""
    import shutil
    import tempfile
    from dataclasses import replace

    component = parse_site(causal.site).component

    def capture(erasers: dict, layer: int):
        out.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".scrub-", dir=out))
        try:
            at_layer = replace(request, components=(component,), layers=(layer,))
            edits = {Site(earlier, component).name: e.edit() for earlier, e in erasers.items()}
            with intervene(model, edit=edits):
                store, features, _ = checkpoint_store(model, tokenizer, "scrub", dataset, at_layer, scratch,
                                                      scratch / "cache", progress=False)
                x = store.load(features[0])
            return label_data(x, rows, causal.label, request.config).x
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return capture
