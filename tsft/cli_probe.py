"""`tsft probe run|causal`: options in, probes/run.py does the work, per-layer tables printed."""

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
    parse_layers,
    print_frame,
    split_list,
)

probe_app = typer.Typer(help="probes/: activation datasets, linear probes with controls, transfer to "
                             "perturbations, and direction removal.", no_args_is_help=True)

OutOpt = Annotated[Path, Opt(help="Results folder (probes.parquet, request.json, and activations/ caches reused by "
                                  "later runs).")]
CausalOutOpt = Annotated[Path, Opt(help="Results folder (causal.parquet, request.json, and activations/ caches "
                                        "reused by later runs).")]
PositionsOpt = Annotated[str, Opt(help="Where probes read, comma-separated: last | problem | frame | name | "
                                       "image | words:<w1>+<w2> (mean over those words' tokens).")]
PositionOpt = Annotated[str, Opt(help="Where the direction is removed, one of: last | problem | frame | name | "
                                      "words:<w1>+<w2>.")]
SplitOpt = Annotated[str, Opt(help="Problems whose activations are probed: test (with its perturbed versions) "
                                   "or train.")]
LimitOpt = Annotated[int | None, Opt(help="At most this many original problems (default: all).", min=1)]
FoldsOpt = Annotated[int, Opt(help="Grouped cross-validation folds.", min=2)]
GroupOpt = Annotated[str | None, Opt(help="Comma-separated group keys never split across train and test, the "
                                          "first held out, the rest purged (default: template,numbers; the "
                                          "template label uses numbers).")]
ControlOpt = Annotated[str | None, Opt(help="Surface type of the control task: name | first_word | template | "
                                            "numbers (default: name when every problem has one).")]
CacheOpt = Annotated[Path | None, Opt(help="Activation cache folder (default: OUT/activations/<model>-<hash>).")]
SeedOpt = Annotated[int, Opt(help="Seed of folds, control labels and MDL order.")]
CausalSeedOpt = Annotated[int, Opt(help="Seed of folds, control labels and the random directions.")]


def _config(folds: int, c: float, seed: int, group: str | None, control: str | None, mdl: bool = True):
    from tsft.probes.fitting import ProbeConfig

    groups = () if group == "none" else split_list(group)
    return ProbeConfig(folds=folds, C=c, seed=seed, groups=groups, control=control, mdl=mdl)


def show_probes(frame) -> None:
    """Per label: accuracy, selectivity and mean transfer per site (rows) and model (columns)."""
    frame = frame.copy()
    several = frame["position"].nunique() > 1
    frame["site"] = [f"L{layer} {component}" + (f" @{position}" if several else "")
                     for layer, component, position in zip(frame["layer"], frame["component"], frame["position"],
                                                           strict=True)]
    shown = {"accuracy": "acc", "selectivity": "sel", "transfer": "tr"}
    picked = frame[frame["metric"].isin(list(shown))]
    for label, group in picked.groupby("label", sort=False):
        wide = group.pivot_table(index="site", columns=["model", "metric"], values="value", aggfunc="mean",
                                 sort=False)
        wide.columns = [f"{model} {shown[metric]}" for model, metric in wide.columns]
        print_frame(wide.round(3).reset_index(), f"probe for {label!r}")
    console.print("acc: grouped-CV accuracy on held-out templates; sel: acc - control-task accuracy; tr: mean transfer "
                  "accuracy on the perturbed versions of held-out problems", highlight=False)


@probe_app.command("run")
def run_command(
    model: Annotated[list[Path], Opt(help="Checkpoint folder; repeat for a comparison table (base, answer-SFT, "
                                          "theorem-SFT...).")],
    data: DataOpt, out: OutOpt,
    components: Annotated[str, Opt(help="Comma-separated components: resid_pre, attn_out, mlp_hidden, mlp_out, "
                                        "resid_post.")] = "resid_post,mlp_out,attn_out",
    layers: LayersOpt = None, positions: PositionsOpt = "last",
    labels: Annotated[str | None, Opt(help="Comma-separated labels: theorem, answer_bucket, template, cue, domain, "
                                           "subject (default: every one the data offers).")] = None,
    kinds: Annotated[str | None, Opt(help="Perturbed kinds to score transfer on (default: all).")] = None,
    split: SplitOpt = "test", limit: LimitOpt = None, folds: FoldsOpt = 5,
    c: Annotated[float, Opt("--C", help="Inverse L2 strength of the logistic probe.")] = 1.0,
    group: GroupOpt = None, control: ControlOpt = None,
    mdl: Annotated[bool, Opt(help="Also compute the MDL online code length.")] = True,
    seed: SeedOpt = 0, batch_size: Annotated[int, Opt(help="Problems per captured forward.", min=1)] = 32,
    cache: CacheOpt = None, overwrite: OverwriteOpt = False, device: DeviceOpt = "cpu", dtype: DtypeOpt = None,
    precision: PrecisionOpt = "auto",
) -> None:
    """Linear probes per site and layer on one or more checkpoints, with controls, MDL and transfer."""
    from tsft.models.placement import Placement
    from tsft.probes.run import ProbeRequest, run_probes

    try:
        request = ProbeRequest(components=split_list(components) or (), layers=parse_layers(layers),
                               positions=split_list(positions) or ("last",), labels=split_list(labels),
                               kinds=split_list(kinds), split=split, limit=limit, batch_size=batch_size,
                               config=_config(folds, c, seed, group, control, mdl))
        frame, meta = run_probes(model, data, out, request, cache=cache, overwrite=overwrite,
                                 placement=Placement(device, dtype, precision))
    except ERRORS as err:
        fail(str(err))
    show_probes(frame)
    skipped = {label: reason for info in meta.values() for label, reason in info["skipped"].items()}
    if skipped:
        console.print("labels skipped: " + "; ".join(skipped.values()), highlight=False)
    console.print(f"wrote {out / 'probes.parquet'}", highlight=False)


@probe_app.command("causal")
def causal_command(
    model: ModelOpt, data: DataOpt, out: CausalOutOpt,
    site: Annotated[str, Opt(help="Where to remove the directions, e.g. blocks.1.resid_post.")],
    position: PositionOpt = "last",
    label: Annotated[str, Opt(help="Label erased.")] = "theorem",
    method: Annotated[str, Opt(help="leace (the least-squares edit after which no linear classifier reads the "
                                    "label; LEACE's oracle is reported beside it) | probe (one probe's directions) "
                                    "| inlp (iterated nullspace projection, `--iterations` rounds).")] = "leace",
    scrub: Annotated[bool, Opt(help="Erase at every layer up to the site's at once, each layer fit with the "
                                    "earlier ones erased (concept scrubbing).")] = False,
    iterations: Annotated[int, Opt(help="INLP rounds.")] = 3,
    random_draws: Annotated[int, Opt(help="Random subspaces of the same rank (the control).")] = 3,
    problems: Annotated[int, Opt(help="Original problems generated under each condition.")] = 64,
    split: SplitOpt = "test", limit: LimitOpt = None, folds: FoldsOpt = 5,
    group: GroupOpt = None, control: ControlOpt = None, seed: CausalSeedOpt = 0,
    cache: CacheOpt = None, overwrite: OverwriteOpt = False, device: DeviceOpt = "cpu", dtype: DtypeOpt = None,
    precision: PrecisionOpt = "auto",
) -> None:
    """Erase a label at one site (or every layer): behaviour, probe accuracy and edit size vs random subspaces."""
    from tsft.models.placement import Placement
    from tsft.probes.causal import CausalRequest
    from tsft.probes.run import ProbeRequest, run_causal

    causal = CausalRequest(site=site, position=position, label=label, method=method, iterations=iterations,
                           random_draws=random_draws, problems=problems, scrub=scrub)
    try:
        request = ProbeRequest(split=split, limit=limit, config=_config(folds, 1.0, seed, group, control, mdl=False))
        frame = run_causal(model, data, out, causal, request, cache=cache, overwrite=overwrite,
                           placement=Placement(device, dtype, precision))
    except ERRORS as err:
        fail(str(err))
    table = frame.pivot_table(index=["condition", "draw", "rank", "layers"], columns="metric", values="value",
                              sort=False)
    how = f"{method}, scrubbed" if scrub else method
    print_frame(table.round(3).reset_index(), f"{model.name}: {label} erased at {site} ({how})")
    console.print(f"wrote {out / 'causal.parquet'}", highlight=False)


@probe_app.command("lens")
def lens_command(
    model: Annotated[list[Path], Opt(help="Checkpoint folder; repeat to compare (base, answer-SFT, theorem-SFT...).")],
    data: DataOpt,
    out: Annotated[Path, Opt(help="Results folder (lens.parquet, request.json with the decodable layers).")],
    style: Annotated[str, Opt(help="theorem (read the theorem's name after 'Theorem:') | answer (the answer's "
                                   "first token after 'Answer:').")] = "theorem",
    kinds: Annotated[str | None, Opt(help="Perturbed kinds beside the originals (default: all).")] = None,
    limit: Annotated[int, Opt(help="Test originals read.", min=1)] = 64,
    tuned: Annotated[str, Opt(help="Tuned lens fit: lstsq (closed form, seconds) | kl (Belrose et al.'s "
                                   "objective by Adam; slow on a CPU) | none (logit lens only).")] = "lstsq",
    tuned_steps: Annotated[int, Opt(help="Adam steps of the kl fit.", min=1)] = 200,
    overwrite: OverwriteOpt = False,
) -> None:
    """Logit and tuned lens per layer: where the right theorem's name (or the answer) becomes decodable, originals
    against each perturbation kind."""
    from tsft.probes.lens import run_lens

    try:
        table, decodable = run_lens(model, data, out, style=style, kinds=split_list(kinds), limit=limit,
                                    tuned=None if tuned == "none" else tuned, tuned_steps=tuned_steps,
                                    overwrite=overwrite)
    except ERRORS as err:
        fail(str(err))
    summary = table.assign(top1=table["rank"] == 0).pivot_table(
        index=["model", "lens", "layer"], columns="kind", values="top1", aggfunc="mean").round(3).reset_index()
    print_frame(summary, f"share of problems whose right {style} token is the lens's top token")
    for name, lenses in decodable.items():
        console.print(f"{name}: first decodable layer (top-1 for half the originals) "
                      + "; ".join(f"{lens} {kinds_['original']}" for lens, kinds_ in lenses.items()),
                      highlight=False)
    console.print(f"wrote {out / 'lens.parquet'}", highlight=False)
