"""The stages that open the checkpoints up: patching, probes, erasure, cross-checkpoint patching, transplant,
weights, lenses, distributed alignment search and delta inference (tsft.stages holds the table)."""

from __future__ import annotations

from pathlib import Path

from tsft import jobs
from tsft.models.cards import Checkpoint, run_name
from tsft.patching.deltas import VARIANTS
from tsft.plan import Inputs, Job, _first, _first_seed, _runs, base_dir, data_dir
from tsft.presets import Preset


def plan_patch(inputs: Inputs, preset: Preset) -> list[Job]:
    """Theorem-swap patching of the base and the first seed's full and MLP checkpoints, surface pairs for full
    tuning; vision: position groups."""
    base, data, out = base_dir(inputs), data_dir(inputs), inputs.out
    models = [base, *_first_seed(inputs, preset, ("full", "mlp")), *_more_patch_seeds(inputs, preset)]
    if preset.modality == "vision":
        return [Job("patch", m.name, jobs.groups, out / "patch" / m.name / "groups.parquet",
                    {"out": out / "patch" / m.name, "model": m, "data": data, "limit": preset.patch_limit,
                     "target": "answer" if m == base else None, "device": inputs.device}) for m in models]
    sweeps = [(m, "theorem_swap", "logit_diff", m.name) for m in models]
    sweeps += [(m, "surface", "kl", f"{m.name}-surface") for m in models if m != base and "full" in m.name]
    inside = _first(inputs, preset, "theorem", "full")
    return [Job("patch", name, jobs.patch, out / "patch" / name / "summary.parquet",
                {"out": out / "patch" / name, "model": m, "data": data, "limit": preset.patch_limit,
                 "target": "theorem" if m == base else None, "device": inputs.device, "pair_type": pair_type,
                 "metric": metric, "inside": m == inside and pair_type == "theorem_swap",
                 "precision": preset.patch_precision})
            for m, pair_type, metric, name in sweeps]


def _more_patch_seeds(inputs: Inputs, preset: Preset) -> list[Path]:
    """Theorem-full and answer-full beyond the first seed, up to `patch_seeds` each (C4's shares paired over
    seeds)."""
    return [folder for t, pa, s, folder in _runs(inputs, preset)
            if pa == "full" and t in ("theorem", "answer") and s in preset.seeds[1:preset.patch_seeds]]


def plan_probe(inputs: Inputs, preset: Preset) -> list[Job]:
    models = [base_dir(inputs), *_first_seed(inputs, preset, ("full",))]
    return [Job("probe", "probes", jobs.probe, inputs.out / "probe" / "probes.parquet",
                {"out": inputs.out / "probe", "models": models, "data": data_dir(inputs), "limit": preset.probe_limit,
                 "components": preset.probe_components, "labels": preset.probe_labels, "device": inputs.device,
                 "positions": preset.probe_positions, "kinds": preset.probe_kinds})]


def erase_site(inputs: Inputs, model: Path, component: str = "resid_post") -> str:
    """Where to erase the theorem label in `model`: the layer of the probes' peak selectivity at the last position
    (the probe stage's table), else two thirds of the depth."""
    from tsft.analysis.inside import probe_peaks

    table = inputs.out / "probe" / "probes.parquet"
    if table.is_file():
        import pandas as pd

        peaks = probe_peaks(pd.read_parquet(table))
        mine = peaks[(peaks["model"] == model.name) & (peaks["component"] == component)] if len(peaks) else peaks
        if len(mine):
            return f"blocks.{int(mine['peak_layer'].iloc[0])}.{component}"
    return f"blocks.{(2 * Checkpoint.open(model).depth) // 3}.{component}"


def plan_erase(inputs: Inputs, preset: Preset) -> list[Job]:
    """LEACE erasure of the theorem label in the first theorem-SFT full-tuning checkpoint, where the probes read it
    best (text only)."""
    model = _first(inputs, preset, "theorem", "full")
    labelled = preset.probe_labels is None or "theorem" in preset.probe_labels
    if model is None or preset.modality == "vision" or not labelled or not (model / "config.json").is_file():
        return []
    return [Job("erase", model.name, jobs.erase, inputs.out / "erase" / model.name / "causal.parquet",
                {"out": inputs.out / "erase" / model.name, "model": model, "data": data_dir(inputs),
                 "limit": preset.probe_limit, "site": erase_site(inputs, model), "device": inputs.device,
                 "problems": preset.transplant_limit or 16})]


def plan_cross(inputs: Inputs, preset: Preset) -> list[Job]:
    """Theorem-SFT's activations into answer-SFT (text only: the vision run patches position groups)."""
    a, b = _first(inputs, preset, "theorem", "full"), _first(inputs, preset, "answer", "full")
    if a is None or b is None or preset.modality == "vision":
        return []
    return [Job("cross", f"{a.name}->{b.name}", jobs.cross, inputs.out / "cross" / "summary.parquet",
                {"out": inputs.out / "cross", "a": a, "b": b, "data": data_dir(inputs), "limit": preset.patch_limit,
                 "device": inputs.device})]


def plan_transplant(inputs: Inputs, preset: Preset) -> list[Job]:
    """Theorem-MLP's MLPs into answer-MLP per layer, and each theorem-MLP layer reverted to the base."""
    if preset.modality == "vision":
        return []
    theorem_mlp = _first(inputs, preset, "theorem", "mlp")
    pairs = [(theorem_mlp, _first(inputs, preset, "answer", "mlp"), ("original", *(preset.kinds or ())[:1])),
             (base_dir(inputs), theorem_mlp, ("original",))]
    out = inputs.out / "transplant"
    return [Job("transplant", f"{a.name}->{b.name}", jobs.transplant, out / f"{a.name}__{b.name}",
                {"out": out / f"{a.name}__{b.name}", "a": a, "b": b, "data": data_dir(inputs),
                 "limit": preset.transplant_limit, "kinds": kinds, "device": inputs.device})
            for a, b, kinds in pairs if a is not None and b is not None]


def plan_weights(inputs: Inputs, preset: Preset) -> list[Job]:
    """Weight change of every run; the SVD view of every update, with theorem- vs answer-SFT's update subspaces
    compared per seed and selection."""
    runs = _runs(inputs, preset)
    names = {folder.name for *_, folder in runs}
    pairs = [(run_name("theorem", pa, s), run_name("answer", pa, s)) for t, pa, s, _ in runs if t == "theorem"]
    planned = [Job("weights", "weights", jobs.weights, inputs.out / "weights" / "weights.parquet",
                   {"out": inputs.out / "weights", "base": base_dir(inputs), "models": [f for *_, f in runs]}),
               Job("weights", "spectral", jobs.spectral, inputs.out / "spectral" / "spectral.parquet",
                   {"out": inputs.out / "spectral", "base": base_dir(inputs), "models": [f for *_, f in runs],
                    "pairs": [p for p in pairs if p[1] in names]})]
    theorem = _first(inputs, preset, "theorem", "full")
    if theorem is not None and preset.modality != "vision":
        planned.append(Job("weights", f"restore {theorem.name}", jobs.restore,
                           inputs.out / "restore" / theorem.name / "restore.parquet",
                           {"out": inputs.out / "restore" / theorem.name, "base": base_dir(inputs), "model": theorem,
                            "data": data_dir(inputs), "limit": preset.transplant_limit or 16,
                            "kinds": ("original", *(preset.kinds or ())[:1]), "device": inputs.device}))
    return planned




def _variable_models(inputs: Inputs, preset: Preset) -> list[Path]:
    """The base and the first seed's answer-, solution- and theorem-SFT full tuning and theorem-SFT MLP-only."""
    chosen = [_first(inputs, preset, t, pa) for t, pa in (("answer", "full"), ("solution", "full"),
                                                         ("theorem", "full"), ("theorem", "mlp"))]
    return [base_dir(inputs), *(m for m in chosen if m is not None)]


def plan_lens(inputs: Inputs, preset: Preset) -> list[Job]:
    """Logit and tuned lens of the base and the first seed's checkpoints, reading the theorem's name and the
    answer's first token (text only)."""
    if preset.modality == "vision":
        return []
    models = [base_dir(inputs), *_first_seed(inputs, preset, ("full", "mlp"))]
    return [Job("lens", style, jobs.lens, inputs.out / "lens" / style / "lens.parquet",
                {"out": inputs.out / "lens" / style, "models": models, "data": data_dir(inputs),
                 "limit": preset.patch_limit, "style": style}) for style in ("theorem", "answer")]


DAS_EPOCHS = 4
"""Passes per DAS fit (a fit takes at least patching.das.MIN_STEPS steps whatever this says)."""


def das_layers(depth: int) -> tuple[int, ...]:
    """The layers DAS fits at in every model: every layer of a model up to 4 deep, else the first, the last and two
    between (each layer costs about 10 minutes of one CPU thread on a 135M model); the job's scan adds where the
    full-vector patch first carries the variable (patching.das_run)."""
    step = 1 if depth <= 4 else max(1, depth // 3)
    return tuple(sorted({*range(0, depth, step), depth - 1}))


def plan_das(inputs: Inputs, preset: Preset) -> list[Job]:
    """DAS of the model's own theorem choice in the base and the first seed's checkpoints (text only)."""
    if preset.modality == "vision":
        return []
    out = inputs.out / "das"
    return [Job("das", m.name, jobs.das, out / m.name / "das.parquet",
                {"out": out / m.name, "model": m, "data": data_dir(inputs), "limit": min(preset.patch_limit, 32),
                 "layers": das_layers(Checkpoint.open(m).depth), "epochs": DAS_EPOCHS, "device": inputs.device})
            for m in _variable_models(inputs, preset) if (m / "config.json").is_file()]


def plan_deltas(inputs: Inputs, preset: Preset) -> list[Job]:
    """Delta inference of every full-tuning run of the patched seeds: all five variants for the first seed, the
    tuned ones (attn, mlp, blocks, all) for the others (the base's outputs do not depend on the seed)."""
    if preset.modality == "vision":
        return []
    limit = min(preset.transplant_limit or preset.patch_limit, preset.patch_limit)
    chosen = [(s, folder) for _, pa, s, folder in _runs(inputs, preset)
              if pa == "full" and s in preset.seeds[:max(preset.patch_seeds, 1)]]
    return [Job("deltas", folder.name, jobs.deltas, inputs.out / "deltas" / folder.name / "deltas.parquet",
                {"out": inputs.out / "deltas" / folder.name, "base": base_dir(inputs), "model": folder,
                 "data": data_dir(inputs), "limit": limit, "device": inputs.device,
                 "variants": tuple(v for v in VARIANTS if v != "base" or s == preset.seeds[0])})
            for s, folder in chosen]
