"""`tsft patch sweep|trace|cross|transplant|groups|spectral|restore|das|deltas`: options in, patching/ does the work,
a summary printed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tsft.common import (
    ERRORS,
    DataOpt,
    DeviceOpt,
    DtypeOpt,
    LayersOpt,
    ModelOpt,
    Opt,
    OverwriteOpt,
    PrecisionOpt,
    console,
    fail,
    parse_ints,
    parse_layers,
    print_frame,
    split_list,
)
from tsft.patching.requests import SweepRequest, TraceRequest

SWEEP, TRACE = SweepRequest, TraceRequest
"""The commands' defaults are the requests' own (class attributes of the dataclasses)."""
TRACE_COMPONENTS = ",".join(TRACE.components)

patch_app = typer.Typer(help="patching/: activation and attribution patching, causal tracing, cross-checkpoint "
                             "patching, MLP transplant, distributed alignment search and delta inference.",
                        no_args_is_help=True)

OutOpt = Annotated[Path, Opt(help="Results folder (pairs.parquet, summary.parquet, request.json).")]
ComponentsOpt = Annotated[str, Opt(help="Comma-separated components: resid_pre, attn_out, mlp_hidden, mlp_out, "
                                        "resid_post.")]
PositionsOpt = Annotated[str, Opt(help="each (every position alone) | spans (each named span as a whole: the cue, "
                                       "the rest of the problem, the template, the target prefix, the last "
                                       "token) | last | all (every position at once).")]
LimitOpt = Annotated[int, Opt(help="At most this many pairs or problems.", min=1)]
TargetOpt = Annotated[str | None, Opt(help="Target style whose next token is read: answer | solution | theorem "
                                           "(default: the checkpoint's own, else answer).")]


def _request(components: str, layers: str | None, positions: str, direction: str, metric: str, memory_mb: int):
    from tsft.patching.conditions import PatchRequest

    request = PatchRequest(components=split_list(components) or (),
                           layers=parse_layers(layers), positions=positions, direction=direction, metric=metric,
                           memory_mb=memory_mb)
    try:
        return request.check()
    except ValueError as err:
        fail(str(err))


def show(summary, title: str, position: str | None = None) -> None:
    from tsft.patching.results import layer_component_table

    for method, group in summary.groupby("method", sort=False):
        labels = list(dict.fromkeys(group["position"]))
        pick = position if position in labels else ("last" if "last" in labels else None)
        table = layer_component_table(group, pick).round(3).reset_index()
        engine = group["engine"].iloc[0] if "engine" in group else ""
        rest = f"; the results folder holds all {len(labels)}: {', '.join(labels)}" if len(labels) > 1 else ""
        print_frame(table, f"{title} ({method}, {engine}) at {pick or 'max over positions'}{rest}")
    console.print("effect = (mean patched - mean corrupt) / (mean clean - mean corrupt): 0 = the corrupt run, "
                  "1 = the clean run", highlight=False)


@patch_app.command("sweep")
def sweep_command(
    model: ModelOpt, data: DataOpt, out: OutOpt,
    pairs: Annotated[str, Opt(help="theorem_swap | surface (synthetic worlds) | perturbed[:<kind>] (original vs "
                                   "perturbed, any data folder, real ones included).")] = SWEEP.pairs,
    components: ComponentsOpt = "resid_pre,attn_out,mlp_out", layers: LayersOpt = None,
    positions: PositionsOpt = "spans",
    direction: Annotated[str, Opt(help="denoise (clean into corrupt) | noise (corrupt into clean).")] = "denoise",
    metric: Annotated[str, Opt(help="logit_diff | prob | kl.")] = "logit_diff",
    method: Annotated[str, Opt(help="exact | attribution | atp_star (AtP*: QK fix and GradDrop) | both (exact + "
                                    "attribution) | all (exact + both estimates); with exact, each estimate's "
                                    "correlation and false negatives are reported.")] = SWEEP.method,
    engine: Annotated[str, Opt(help="hooks | nnsight | tl.")] = SWEEP.engine,
    target: TargetOpt = SWEEP.target, limit: LimitOpt = SWEEP.limit,
    align: Annotated[bool, Opt(help="Use pairs of unequal token length through their span alignment.")]
    = SWEEP.allow_alignment,
    memory_mb: Annotated[int, Opt(help="Memory budget of one stacked forward, MiB.", min=1)] = 512,
    ablations: Annotated[str | None, Opt(help="Also ablate every condition: comma-separated zero | mean | "
                                              "resample, rows beside patching's in one table.")] = None,
    faithfulness: Annotated[str | None, Opt(help="Comma-separated k: faithfulness of the top-k sites by exact "
                                                 "patching under each ablation (faithfulness.parquet).")] = None,
    mib: Annotated[int, Opt(help="MIB's circuit metrics: every ranking made (exact, attribution, AtP*) scored at "
                                 "MIB's sizes under each ablation, CPR and CMD beside this many random orderings "
                                 "(mib_scores.parquet; exact's ranking in MIB's format, mib_importance.json); 0: "
                                 "off.", min=0)] = SWEEP.mib,
    overwrite: OverwriteOpt = False, device: DeviceOpt = "cpu", dtype: DtypeOpt = None,
    precision: PrecisionOpt = "auto",
) -> None:
    """Activation patching (and/or attribution patching, AtP*) of one checkpoint on minimal pairs; ablations
    beside it."""
    from tsft.models.placement import Placement
    from tsft.patching.run import run_sweep

    sites = _request(components, layers, positions, direction, metric, memory_mb)
    ks = parse_ints("--faithfulness", faithfulness, minimum=0)
    try:
        request = SweepRequest(sites=sites, pairs=pairs, target=target, limit=limit, method=method, engine=engine,
                               allow_alignment=align, ablations=tuple(split_list(ablations) or ()),
                               faithfulness=ks, mib=mib)
        summary, meta = run_sweep(model, data, out, request, overwrite=overwrite,
                                  placement=Placement(device, dtype, precision))
    except ERRORS as err:
        fail(str(err))
    show(summary, f"{model.name} {pairs}")
    rejected = meta["rejected"]
    console.print(f"{meta['pairs']} pairs patched; {rejected['n']} rejected {rejected['reasons'] or ''}",
                  highlight=False)
    for estimate in ("attribution", "atp_star"):
        if f"{estimate}_vs_exact" in meta:
            report = meta[f"{estimate}_vs_exact"]
            console.print(f"{estimate} vs exact: pearson {report['pearson']:.3f}, {report['false_negatives']} of the "
                          f"exact top {report['top_k']} missed {report['missed']}; passes {meta['passes'][estimate]}",
                          highlight=False)
    if (out / "mib_scores.parquet").is_file():
        import pandas as pd

        scores = pd.read_parquet(out / "mib_scores.parquet")
        scores = scores[~scores["ranking"].str.startswith("random:")].drop(columns="model")
        print_frame(scores.round(3), "MIB: CPR (area under faithfulness, higher better) and CMD (area of |1 - f|, "
                    "lower better); random = mean of the random orderings")
    if (out / "faithfulness.parquet").is_file():
        import pandas as pd

        curve = pd.read_parquet(out / "faithfulness.parquet")
        table = curve.pivot_table(index="k", columns="ablation", values="faithfulness").round(3).reset_index()
        print_frame(table, "faithfulness of the top-k sites (1 = the clean model, 0 = every site ablated)")
    console.print(f"wrote {out}", highlight=False)


@patch_app.command("trace")
def trace_command(
    model: ModelOpt, data: DataOpt, out: OutOpt,
    subject: Annotated[str, Opt(help="Tokens to noise: problem | name | words:<w1>,<w2>.")] = TRACE.subject,
    components: ComponentsOpt = TRACE_COMPONENTS, positions: PositionsOpt = TRACE.positions,
    window: Annotated[int, Opt(help="Restore this many consecutive layers around each layer.", min=1)] = TRACE.window,
    samples: Annotated[int, Opt(help="Noise draws per prompt.", min=1)] = TRACE.samples,
    seed: Annotated[int, Opt(help="Noise seed.")] = TRACE.seed,
    target: TargetOpt = TRACE.target, limit: LimitOpt = TRACE.limit, overwrite: OverwriteOpt = False,
    device: DeviceOpt = "cpu", dtype: DtypeOpt = None,
    precision: PrecisionOpt = "auto",
) -> None:
    """Noise-corruption causal tracing (ROME style) on test problems."""
    from tsft.models.placement import Placement
    from tsft.patching.run import run_trace

    request = TraceRequest(subject=subject, components=tuple(split_list(components) or ()), positions=positions,
                           window=window, samples=samples, target=target, limit=limit, seed=seed)
    try:
        summary = run_trace(model, data, out, request, overwrite=overwrite,
                            placement=Placement(device, dtype, precision))
    except ERRORS as err:
        fail(str(err))
    show(summary, f"{model.name} trace", position="subject")
    console.print(f"wrote {out}", highlight=False)


@patch_app.command("cross")
def cross_command(
    a: Annotated[Path, Opt(help="Checkpoint A: its activations are patched in (e.g. theorem-SFT).")],
    b: Annotated[Path, Opt(help="Checkpoint B: the run patched into (e.g. answer-SFT).")],
    data: DataOpt, out: OutOpt,
    components: ComponentsOpt = "resid_pre,attn_out,mlp_out", layers: LayersOpt = None,
    positions: PositionsOpt = "all",
    metric: Annotated[str, Opt(help="kl | prob.")] = "kl",
    target: Annotated[str, Opt(help="Style whose first token `prob` reads.")] = "answer",
    random_draws: Annotated[int, Opt(help="Control: B's own activation moved by a random direction of the same norm "
                                          "as A - B, this many seeded draws (method 'random').")] = 0,
    limit: LimitOpt = 64, overwrite: OverwriteOpt = False, device: DeviceOpt = "cpu", dtype: DtypeOpt = None,
    precision: PrecisionOpt = "auto",
) -> None:
    """Cross-checkpoint patching: A's activations into B on the same prompts (1 = B behaves as A), and its
    random-direction control."""
    from tsft.models.placement import Placement
    from tsft.patching.run import run_cross

    request = _request(components, layers, positions, "denoise", metric, 512)
    try:
        summary = run_cross(a, b, data, out, request, target=target, limit=limit, overwrite=overwrite,
                            placement=Placement(device, dtype, precision), random_draws=random_draws)
    except ERRORS as err:
        fail(str(err))
    show(summary, f"{a.name} -> {b.name}")
    console.print(f"wrote {out}", highlight=False)


@patch_app.command("transplant")
def transplant_command(
    a: Annotated[Path, Opt(help="Checkpoint A: the MLP weights come from here.")],
    b: Annotated[Path, Opt(help="Checkpoint B: receives A's MLP weights, layer window by window.")],
    data: DataOpt, out: OutOpt,
    width: Annotated[int, Opt(help="Layers per transplanted window (at most the model's depth).", min=1)] = 1,
    kinds: Annotated[str | None, Opt(help="Comma-separated splits (original, paraphrase...; default: all).")] = None,
    random_draws: Annotated[int, Opt(help="Random-location control: this many seeded draws of A's attention and "
                                          "MLP blocks at random layers, as many parameters as one window.")] = 0,
    limit: LimitOpt = 100, overwrite: OverwriteOpt = False, device: DeviceOpt = "cpu", dtype: DtypeOpt = None,
    precision: PrecisionOpt = "auto",
) -> None:
    """MLP weight transplant from A into B, per layer window: accuracy on originals and perturbations."""
    from tsft.models.placement import Placement
    from tsft.patching.run import run_transplant

    chosen = split_list(kinds) or ()
    try:
        frame = run_transplant(a, b, data, out, width=width, limit=limit, kinds=chosen, overwrite=overwrite,
                               placement=Placement(device, dtype, precision), random_draws=random_draws)
    except ERRORS as err:
        fail(str(err))
    table = frame.pivot_table(index="layers", columns="kind", values="accuracy", sort=False).round(3).reset_index()
    print_frame(table, f"accuracy of {b.name} with {a.name}'s MLPs ('none' = B alone, 'source' = A alone)")
    console.print(f"wrote {out}", highlight=False)


@patch_app.command("groups")
def groups_command(
    model: ModelOpt, data: DataOpt, out: OutOpt,
    components: ComponentsOpt = "resid_pre,attn_out,mlp_out", target: TargetOpt = None, limit: LimitOpt = 64,
    overwrite: OverwriteOpt = False, device: DeviceOpt = "cpu",
) -> None:
    """Qwen2.5-VL: patch each layer over the image, text and last positions on a diagram data folder's given_swap
    pairs (same text, another value on the figure): where the figure's given is read."""
    from tsft.models.placement import Placement
    from tsft.patching.groups import run_group_patch

    try:
        frame = run_group_patch(model, data, out, target=target, limit=limit,
                                components=split_list(components) or (), placement=Placement(device),
                                overwrite=overwrite)
    except ERRORS as err:
        fail(str(err))
    table = frame.pivot_table(index=["component", "group"], columns="layer", values="normalized", sort=False)
    print_frame(table.round(3).reset_index(), f"{model.name}: mean restoration (0 = swapped figure, 1 = original)")
    console.print(f"wrote {out}", highlight=False)


@patch_app.command("spectral")
def spectral_command(
    base: Annotated[Path, Opt(help="The base every checkpoint was tuned from.")],
    model: Annotated[list[Path], Opt(help="A tuned checkpoint (repeatable).")],
    out: Annotated[Path, Opt(help="Results folder (spectral.parquet, overlap.parquet, request.json).")],
    pair: Annotated[list[str] | None, Opt(help="Two checkpoint names whose update subspaces are compared, "
                                               "'a,b' (repeatable), e.g. theorem-full-s0,answer-full-s0.")] = None,
    k: Annotated[int, Opt(help="Top singular directions counted (top share, overlap).")] = 8,
    overwrite: OverwriteOpt = False,
) -> None:
    """The SVD view of each layer matrix's update: scaling vs rotation of the base's singular directions,
    effective rank, and the overlap of two checkpoints' update subspaces."""
    from tsft.patching.spectral import run_spectral

    pairs = tuple(tuple(split_list(p)) for p in pair or ())
    if any(len(p) != 2 for p in pairs):
        fail(f"--pair takes two checkpoint names, 'a,b'; got {', '.join(pair or [])}")
    try:
        spectral, overlap = run_spectral(base, model, out, pairs=pairs, k=k, overwrite=overwrite)
    except ERRORS as err:
        fail(str(err))
    table = spectral.groupby(["model", "block"])[["change", "scale_share", "effective_rank", "top_share"]].mean()
    print_frame(table.round(3).reset_index(), "update per block (mean over layers and matrices)")
    if len(overlap):
        shown = overlap.groupby(["a", "b", "block"])[["overlap", "chance"]].mean().round(3).reset_index()
        print_frame(shown, f"overlap of the top-{k} update subspaces (chance = k / rows)")
    console.print(f"wrote {out}", highlight=False)


@patch_app.command("restore")
def restore_command(
    base: Annotated[Path, Opt(help="The base the checkpoint was tuned from.")],
    model: ModelOpt, data: DataOpt, out: OutOpt,
    ks: Annotated[str, Opt("--k", help="Comma-separated numbers of top singular directions restored.")] = "1,4,16",
    kinds: Annotated[str | None, Opt(help="Comma-separated splits (original, paraphrase...; default: all).")] = None,
    limit: LimitOpt = 64, overwrite: OverwriteOpt = False, device: DeviceOpt = "cpu", dtype: DtypeOpt = None,
    precision: PrecisionOpt = "auto",
) -> None:
    """Put the top-k singular directions of a checkpoint's update into the base: accuracy per k on originals and
    perturbations (how many directions carry what SFT taught)."""
    from tsft.models.placement import Placement
    from tsft.patching.spectral import run_spectral_restore

    chosen = parse_ints("--k", ks)
    try:
        frame = run_spectral_restore(base, model, data, out, ks=chosen, limit=limit,
                                     kinds=tuple(split_list(kinds) or ()), overwrite=overwrite,
                                     placement=Placement(device, dtype, precision))
    except (*ERRORS, ValueError) as err:
        fail(str(err))
    table = frame.pivot_table(index="k", columns="kind", values="accuracy", sort=False).round(3).reset_index()
    print_frame(table, f"accuracy of {base.name} with the top-k directions of {model.name}'s update")
    console.print(f"wrote {out}", highlight=False)


@patch_app.command("das")
def das_command(
    model: ModelOpt, data: DataOpt,
    out: Annotated[Path, Opt(help="Results folder (das.parquet, first.parquet, request.json).")],
    components: ComponentsOpt = "resid_post,attn_out,mlp_out", layers: LayersOpt = None,
    positions: Annotated[str, Opt(help="Comma-separated: last (the token whose next token is read) | ask (the "
                                       "last token of the word that asks for the theorem).")] = "last,ask",
    ks: Annotated[str, Opt("--k", help="Comma-separated subspace dimensions.")] = "1,4,16",
    limit: Annotated[int, Opt(help="Theorem-swap pairs per split (train, held-out pairs, held-out templates).",
                              min=1)] = 64,
    epochs: Annotated[int, Opt(help="Passes over the training examples per fit (more where the examples are few: "
                                    "every fit takes tsft.patching.das.MIN_STEPS steps at least).",
                                min=1)] = 8,
    lr: Annotated[float, Opt(help="Adam's learning rate for the rotation (above 0).")] = 1e-2,
    target: TargetOpt = None,
    labels: Annotated[str, Opt(help="target (the style's token as written) | model (the model's own prediction for "
                                    "each theorem's prompt: for a model that names no theorem right).")] = "target",
    seed: Annotated[int, Opt(help="Seeds the fits, the draws and the random bases.")] = 0,
    scan: Annotated[bool, Opt(help="Read the full-vector patch at every layer first, and fit also at the first "
                                   "layer where it reaches 0.8 on held-out pairs and the two below it.")] = False,
    overwrite: OverwriteOpt = False, device: DeviceOpt = "cpu", dtype: DtypeOpt = None,
    precision: Annotated[str, Opt(help="fp32 | bf16 | fp16 | auto (fp32 by default: fits are compared across "
                                       "sites).")] = "fp32",
) -> None:
    """Distributed alignment search: where the chosen theorem is a causal variable. A learned k-dimensional
    subspace per site and position, its interchange accuracy on held-out pairs and templates beside a random
    subspace, the top-k principal directions and the full-vector patch, and the illusion check."""
    from tsft.models.placement import Placement
    from tsft.patching.das_run import DasRequest, run_das

    request = DasRequest(components=tuple(split_list(components) or ()), layers=parse_layers(layers),
                         positions=tuple(split_list(positions) or ()), ks=parse_ints("--k", ks, minimum=1),
                         limit=limit, epochs=epochs, lr=lr, target=target, labels=labels, seed=seed,
                         scan=scan)
    try:
        table, first = run_das(model, data, out, request.check(), overwrite=overwrite,
                               placement=Placement(device, dtype, precision))
    except ERRORS as err:
        fail(str(err))
    held = table[(table["split"] == "heldout_pairs") & (table["pairing"] == "all")]
    for position, group in held.groupby("position", sort=False):
        shown = group.pivot_table(index=["component", "layer"], columns=["method", "k"], values="iia", sort=True)
        print_frame(shown.round(3).reset_index(), f"{model.name}: held-out IIA at {position}")
    print_frame(first[first["method"].isin(["das", "full"])].drop(columns="model"),
                f"first site with held-out IIA >= {first['threshold'].iloc[0] if len(first) else 0.8}")
    console.print(f"wrote {out}", highlight=False)


@patch_app.command("deltas")
def deltas_command(
    base: Annotated[Path, Opt(help="The base the checkpoint was tuned from.")],
    model: ModelOpt, data: DataOpt,
    out: Annotated[Path, Opt(help="Results folder (deltas.parquet, request.json).")],
    variants: Annotated[str, Opt(help="Comma-separated: base | attn (only the attention updates) | mlp (only the "
                                      "MLP updates) | blocks (both) | all (the checkpoint).")]
    = "base,attn,mlp,blocks,all",
    kinds: Annotated[str | None, Opt(help="Comma-separated perturbed kinds (default: all) beside the originals.")]
    = None,
    limit: Annotated[int | None, Opt(help="Test originals (each with every perturbed version); default: all.",
                                     min=1)] = None,
    overwrite: OverwriteOpt = False, device: DeviceOpt = "cpu", dtype: DtypeOpt = None,
    precision: PrecisionOpt = "auto",
) -> None:
    """Delta inference (TAIA): the base with only the checkpoint's attention updates, only its MLP updates, or
    both, against the base and the checkpoint, on originals and every perturbation kind."""
    from tsft.models.placement import Placement
    from tsft.patching.deltas import run_deltas

    try:
        frame = run_deltas(base, model, data, out, variants=tuple(split_list(variants) or ()), limit=limit,
                           kinds=tuple(split_list(kinds) or ()), overwrite=overwrite,
                           placement=Placement(device, dtype, precision))
    except ERRORS as err:
        fail(str(err))
    table = frame.pivot_table(index="variant", columns="kind", values="correct", sort=False).round(3).reset_index()
    print_frame(table, f"accuracy of {model.name}'s updates applied to {base.name}, by block type")
    console.print(f"wrote {out}", highlight=False)
