"""Does the model use what the probe reads? Erase the label at a site and watch behaviour.

The erasers are probes.erasure's: LEACE by default (the least-squares edit after which no linear classifier
reads the label), the probe's own subspace and INLP as baselines, random subspaces of the same rank as the
control, LEACE's oracle variant for the activations alone. During generation the eraser is applied at every
position of the site (amnesic probing), through `patching.hooks.intervene`, or at every layer of that
component at once (concept scrubbing). The effect is measured as answer accuracy and theorem identification
(the first theorem the output names) on the originals, as the accuracy of a fresh probe on the erased
activations (which should fall to the majority rate), and as the mean squared change of the activations (how
much the edit cost: LEACE's is the smallest that removes the label).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tsft.models.evaluate import evaluate_problems, grade_outputs
from tsft.models.generation import DECODER_SLOTS
from tsft.models.precision import autocast
from tsft.patching.hooks import intervene
from tsft.patching.sites import Site
from tsft.probes.erasure import METHODS, Eraser, fit_eraser, oracle_erase, random_eraser, scrub_sequentially
from tsft.probes.fitting import ProbeConfig


def behaviour(model, tokenizer, problems, erasers: dict[str, Eraser], max_new_tokens: int, precision: str = "fp32",
              batch_size: int = DECODER_SLOTS) -> dict[str, float]:
    """Answer accuracy and theorem identification on `problems` with `erasers` ({site name: eraser}, none = the
    model itself) applied, generating at `precision` (resolved, training.precision)."""
    edits = {site: eraser.edit() for site, eraser in erasers.items()}
    with intervene(model, edit=edits), autocast(precision, next(model.parameters()).device):
        outputs = evaluate_problems(model, tokenizer, problems, max_new_tokens, batch_size)
    graded = grade_outputs(problems, outputs, "", "", "")
    n = max(len(graded), 1)
    named = [r["theorem_named_first"] for r in graded if r["theorem_named_first"] is not None]
    return {"answer_accuracy": sum(r["correct"] for r in graded) / n,
            "theorem_identified": sum(named) / n,
            "names_a_theorem": sum(r["named_theorem"] is not None for r in graded) / n}


@dataclass(frozen=True)
class CausalRequest:
    """Erase `label` at `site` with `method` (leace | probe | inlp, `iterations` rounds for INLP), or with
    `scrub` at every layer of the site's component at once; compared with `random_draws` random subspaces of the
    same rank; behaviour measured on `problems` originals."""

    site: str
    position: str = "last"
    label: str = "theorem"
    method: str = "leace"
    iterations: int = 3
    random_draws: int = 3
    problems: int = 64
    scrub: bool = False

    def check(self) -> CausalRequest:
        if self.method not in METHODS:
            raise ValueError(f"unknown erasure method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.iterations < 1 or self.random_draws < 0 or self.problems < 1:
            raise ValueError("iterations and problems must be >= 1, random_draws >= 0")
        return self


@dataclass(frozen=True)
class Condition:
    """One row of the causal table: the erasers applied in the forward pass ({site name: eraser}; None for the
    oracle, which erases activations only) and the site's activations as erased."""

    name: str
    draw: int
    erasers: dict[str, Eraser] | None
    erased: np.ndarray
    rank: int
    layers: int


def causal_conditions(data, causal: CausalRequest, config: ProbeConfig, site: Site,
                      capture: Callable | None = None) -> list[Condition]:
    """No erasure, the method's eraser (at the site, or scrubbed over every layer through `capture`), LEACE's
    oracle (with leace), and `random_draws` random subspaces of the same rank at the same sites."""
    x, y = data.x, data.y
    if causal.scrub:
        fitted = scrub_sequentially(capture, range(site.layer + 1), y, causal.method)
        erasers = {Site(layer, site.component).name: eraser for layer, eraser in fitted.items()}
        mine = fitted[site.layer]
    else:
        mine = fit_eraser(causal.method, x, y, causal.iterations, config)
        erasers = {site.name: mine}
    out = [Condition("none", 0, {}, x, 0, 0), Condition(causal.method, 0, erasers, mine.apply(x), mine.rank,
                                                         len(erasers))]
    if causal.method == "leace":
        out.append(Condition("oracle", 0, None, oracle_erase(x, y), mine.rank, 1))
    for draw in range(causal.random_draws):
        random = {name: random_eraser(eraser.bias, eraser.rank, config.seed + 1 + draw + 100 * i)
                  for i, (name, eraser) in enumerate(erasers.items())}
        out.append(Condition("random", draw, random, random[site.name].apply(x), mine.rank, len(random)))
    return out
