"""`tsft reproduce` presets: how big each part of the pipeline is.

* `smoke` - a tiny base and a few steps of everything: proves the pipeline end to end in CI (about
  two minutes on 2 CPU cores). Its numbers mean nothing.
* `quick` - the embedded default on a laptop CPU (2 cores, under 15 minutes): the `small` base
  trained here, the three targets x full / MLP-only / attention-only for one seed, evaluated on
  the originals and six perturbation kinds, then patched, probed and compared. Undertrained: expect
  most verdicts to be inconclusive, which is what the rule says of small effects.
* `real` - the experiment that can decide: SmolLM2-135M-Instruct (fetched once by `tsft models get`)
  fine-tuned on the theorem world without its system prompt. Learning rates chosen on a validation split
  from a small grid, every run trained to its validation plateau, five seeds of answer / solution /
  theorem-SFT with full tuning and three of theorem-SFT MLP- and attention-only, a memorization arm, a
  token-matched theorem control and theorem-SFT MLP-only trained to the step cap (the plateau stop off), every
  test original with every perturbation, patching in fp32 on three seeds. bf16 training on a CPU with native
  bf16. Its output is in the repository's results/real/.
* `paper` - one GPU: the larger `base` preset, more data, three seeds, every variant and kind, and
  per-layer MLP-only runs for E7.

`--modality vision` has the same three names over the diagram world (`VISION_PRESETS`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """Sizes of every stage; the resolved preset is saved in reproduce.json and must match on resume."""

    name: str
    n_train: int
    """Synthetic training problems."""
    n_test: int
    """Synthetic test originals (each perturbed by every kind)."""
    base_preset: str
    """Model size of the base trained here (tiny | small | base)."""
    base_steps: int
    targets: tuple[str, ...]
    params: tuple[str, ...]
    seeds: tuple[int, ...]
    sft_steps: int
    sft_batch: int
    lr: tuple[tuple[str, float], ...]
    """Peak learning rate per parameter selection or arm (MLP- and attention-only tuning train fewer weights and
    need higher rates; see `lr_for`)."""
    eval_every: int
    """Steps between training-curve points (held-out accuracy); these checkpoints are kept for matching."""
    eval_size: int
    """Held-out originals scored at each training-curve point."""
    kinds: tuple[str, ...] | None
    """Perturbation kinds evaluated (None = all in the data)."""
    eval_limit: int | None
    """Originals (and perturbed problems per kind) evaluated per checkpoint."""
    patch_limit: int
    probe_limit: int | None
    probe_components: tuple[str, ...]
    probe_labels: tuple[str, ...] | None
    """Probe labels (None = every label the data offers)."""
    transplant_limit: int
    layer_runs: bool
    """E7: also train theorem-SFT with one layer's MLP only (`mlp:L-L`), per layer, first seed."""
    jobs: int
    """Parallel worker processes (each gets cores // jobs torch threads)."""
    modality: str = "text"
    """text: the synthetic world and a Llama base; vision: the diagram world and a Qwen2.5-VL base."""
    probe_positions: tuple[str, ...] = ("last",)
    """Where probes read (vision adds the figure's tokens and the problem text)."""
    probe_kinds: tuple[str, ...] | None = None
    """Perturbation kinds the probes' transfer is measured on (None = all in the data)."""
    base_figures: int = 3000
    """Vision: figure-caption documents in the base corpus (training.base)."""
    base_facts: int | None = None
    """Arithmetic facts in the base corpus (None: BaseConfig's 40000), with facts // 8 unsolved problems. A vision
    base needs the captions to be a large share: with 40000 facts its 600 steps read 8% of held-out figures' values
    (chance), with 2000 facts 66%."""

    base_model: str | None = None
    """A pretrained model from `tsft models list` fine-tuned in place of a base trained here (fetched once)."""
    system: str = "default"
    """Chat models' system prompt while fine-tuning (none: no system turn, shorter prompts); see SFTConfig."""
    arms: tuple[str, ...] | None = None
    """`target-params` combinations trained (None: every target x params)."""
    arm_seeds: tuple[tuple[str, int], ...] | None = None
    """How many of `seeds` (the first ones) each arm trains; an arm not named trains the first seed only (None:
    every arm, every seed)."""
    n_val: int = 0
    """Validation problems (training templates, unseen texts): learning rates, plateaus and matched checkpoints are
    chosen on them, so test is read only for reported numbers (0: none; the periodic evaluation then reads test)."""
    patience: int = 0
    """Train each run to its plateau: stop after this many evaluations without a new best validation accuracy and
    keep the best checkpoint (`sft_steps` is then the most a run may take); 0: train `sft_steps`."""
    curve_size: int = 0
    """Test originals whose every perturbation is generated during training (every `curve_every` steps): the
    matched, OOD-peak and effective-robustness readings, with no intermediate checkpoint kept (0: kept checkpoints
    are evaluated afterwards instead, eval-matched / eval-curve)."""
    curve_every: int = 0
    """Steps between curve evaluations (a multiple of eval_every; 0: at every evaluation)."""
    lr_grid: tuple[tuple[str, tuple[float, ...]], ...] = ()
    """Learning rates tried per selection (full | mlp | attn) on each arm's first seed for `lr_trial_steps`, the one
    with the best validation accuracy kept (the lr stage); empty: `lr` as given."""
    lr_trial_steps: int = 0
    """Steps of each learning-rate trial (scored on validation at its last step)."""
    memorize_steps: int = 0
    """Also train answer-full's first seed until it fits its training problems (train accuracy >= 0.9 on the first
    200), for at most this many steps: the memorization regime (0: no such run)."""
    token_matched_seeds: int = 0
    """Also train theorem-full capped at the target tokens solution-full saw to its plateau, for this many seeds:
    theorem vs solution without a budget difference (theorem-SFT's targets are about four times longer, so at
    equal steps it sees four times the tokens; capping it costs a fraction of a run, where giving solution-SFT
    theorem-SFT's budget would cost several runs' worth of steps) (0: none)."""
    long_arms: tuple[str, ...] = ()
    """Arms (`target-params`) also trained, on each of their seeds, to `sft_steps` with the plateau rule's stop off
    (variant `long`; the best validation checkpoint is still the one published): whether a comparison is decided by
    where a noisy validation curve stopped an arm rather than by the arm. A resumed run may add arms here."""
    patch_precision: str = "auto"
    """Compute precision of the patching jobs (fp32 where a claim is decided on the maps)."""
    patch_seeds: int = 1
    """Seeds of theorem-full and answer-full (and so many pairs) patched for C4's paired shares."""
    gen_batch: int = 256
    """Rows tsft's decoder generates together in evaluation (continuous batching: a finished row's slot takes the
    next problem; on 2 CPU cores 256 is faster than 128)."""
    sft_micro_batch: int | None = None
    """Examples per forward/backward in SFT (None: the whole batch); smaller saves activation memory."""

    def lr_for(self, target: str, params: str) -> float:
        """The arm's own rate (`target-params`), else its selection's (`params`), else full tuning's. Random-location
        runs (`random:<draw>`) take the per-layer MLP runs' rate: only where they tune differs."""
        rates, selection = dict(self.lr), params.split(":")[0].replace("random", "mlp")
        return rates.get(f"{target}-{selection}", rates.get(selection, rates["full"]))

    def seeds_of(self, arm: str) -> tuple[int, ...]:
        """The seeds `arm` (`target-params`) trains."""
        if self.arm_seeds is None:
            return self.seeds
        return self.seeds[:dict(self.arm_seeds).get(arm, 1)]

    def runs(self) -> list[tuple[str, str, int]]:
        """(target, params, seed) of the matrix this preset trains, seed by seed (every arm's first seed before
        any arm's second: a run stopped part-way has the same seeds of every arm)."""
        arms = [(t, p) for t in self.targets for p in self.params if self.arms is None or f"{t}-{p}" in self.arms]
        return [(t, p, s) for s in self.seeds for t, p in arms if s in self.seeds_of(f"{t}-{p}")]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


LR = (("full", 1e-3), ("mlp", 3e-3), ("attn", 3e-3))
ALL = ("answer", "solution", "theorem")
SELECTIONS = ("full", "mlp", "attn")
QUICK_KINDS = ("entity_rename_novel", "reorder_givens", "distractor", "paraphrase", "heldout_template")

PRESETS = {
    "smoke": Preset("smoke", n_train=240, n_test=100, base_preset="tiny", base_steps=20, targets=ALL,
                    params=SELECTIONS, seeds=(0,), sft_steps=8, sft_batch=8, lr=LR, eval_every=4, eval_size=8,
                    kinds=("entity_rename_novel", "paraphrase"), eval_limit=8, patch_limit=8, probe_limit=100,
                    probe_components=("resid_post",), probe_labels=("theorem",), transplant_limit=6, layer_runs=True,
                    jobs=2),
    "quick": Preset("quick", n_train=2000, n_test=500, base_preset="small", base_steps=300, targets=ALL,
                    params=SELECTIONS, seeds=(0,), sft_steps=150, sft_batch=16, lr=LR, eval_every=50,
                    eval_size=48, kinds=QUICK_KINDS, eval_limit=64, patch_limit=48, probe_limit=150,
                    probe_components=("attn_out", "mlp_out", "resid_post"), probe_labels=("theorem",),
                    transplant_limit=24, layer_runs=False, jobs=2),
    "paper": Preset("paper", n_train=6000, n_test=1000, base_preset="base", base_steps=5000, targets=ALL,
                    params=SELECTIONS, seeds=(0, 1, 2), sft_steps=2000, sft_batch=32, lr=LR, eval_every=250,
                    eval_size=128, kinds=None, eval_limit=None, patch_limit=256, probe_limit=None,
                    probe_components=("attn_out", "mlp_out", "resid_post"), probe_labels=None,
                    transplant_limit=200, layer_runs=True, jobs=1),
}

REAL_ARMS = ("answer-full", "answer-mlp", "solution-full", "solution-mlp", "theorem-full", "theorem-mlp",
             "theorem-attn")
REAL = dict(n_train=2000, n_test=500, base_preset="pretrained", base_steps=0, targets=ALL, params=SELECTIONS,
            base_model="smollm2-135m-instruct", system="none", arms=REAL_ARMS,
            probe_components=("attn_out", "mlp_out", "resid_post"), probe_labels=("theorem",), layer_runs=False)
DECISIVE_ARMS = ("answer-full", "solution-full", "theorem-full", "theorem-mlp", "theorem-attn")
PRESETS["real"] = Preset(
    "real", **{**REAL, "arms": DECISIVE_ARMS}, n_val=200, seeds=(0, 1, 2, 3, 4),
    arm_seeds=(("answer-full", 5), ("solution-full", 5), ("theorem-full", 5), ("theorem-mlp", 3),
               ("theorem-attn", 3)),
    sft_steps=800, sft_batch=8, sft_micro_batch=4, patience=3, eval_every=50, eval_size=160, curve_size=64,
    curve_every=100, lr=(("full", 2e-4), ("mlp", 4e-4), ("attn", 4e-4)),
    lr_grid=(("full", (1e-4, 2e-4, 4e-4)), ("mlp", (2e-4, 4e-4, 8e-4)), ("attn", (2e-4, 4e-4, 8e-4))),
    lr_trial_steps=100, memorize_steps=2000, token_matched_seeds=3, long_arms=("theorem-mlp",), kinds=None,
    eval_limit=None, patch_limit=64, patch_precision="fp32", patch_seeds=3, probe_limit=300, transplant_limit=100,
    jobs=2)

VISION_KINDS = ("rotate", "mirror", "move_label", "distractor_mark", "letter_rename_novel", "entity_rename_novel",
                "heldout_template")
VISION = dict(modality="vision", targets=ALL, params=SELECTIONS, seeds=(0,), lr=LR, layer_runs=False,
              probe_components=("resid_post",), probe_labels=("figure_value", "theorem"),
              probe_positions=("image", "problem", "last"), probe_kinds=("rotate", "move_label"), base_facts=2000)
VISION_PRESETS = {
    "smoke": Preset("smoke", n_train=160, n_test=60, base_preset="tiny", base_steps=16, sft_steps=8, sft_batch=8,
                    eval_every=4, eval_size=8, kinds=("rotate", "letter_rename_novel"), eval_limit=8, patch_limit=8,
                    probe_limit=60, transplant_limit=0, jobs=2, base_figures=200, **VISION),
    "quick": Preset("quick", n_train=2000, n_test=400, base_preset="small", base_steps=600, sft_steps=150,
                    sft_batch=16, eval_every=50, eval_size=48, kinds=VISION_KINDS, eval_limit=64, patch_limit=48,
                    probe_limit=240, transplant_limit=0, jobs=2, base_figures=3000, **VISION),
    "paper": Preset("paper", n_train=6000, n_test=1000, base_preset="base", base_steps=5000, sft_steps=2000,
                    sft_batch=32, eval_every=250, eval_size=128, kinds=None, eval_limit=None, patch_limit=256,
                    probe_limit=None, transplant_limit=0, jobs=1, base_figures=20000,
                    **{**VISION, "seeds": (0, 1, 2), "base_facts": 20000}),
}
"""`--modality vision`: the diagram world on a Qwen2.5-VL base (smoke for CI, about 2 min; quick on a laptop CPU,
17 min on 2 cores; paper on a GPU). Instead of theorem-swap, cross and transplant patching they patch position
groups (patching.groups). The base corpus is weighted to figure captions (`base_facts`) so the base learns to read
figures (quick: 66% of held-out values after 600 steps)."""
MODALITIES = {"text": PRESETS, "vision": VISION_PRESETS}


def preset(name: str, modality: str = "text") -> Preset:
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; choose one of {', '.join(MODALITIES)}")
    presets = MODALITIES[modality]
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(presets)}")
    return presets[name]
