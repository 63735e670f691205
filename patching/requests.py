"""What one patching experiment asks for, as one object.

The front doors `run_sweep` and `run_trace` (patching.run) take a request whole, keyword arguments beside it only
for how to run it (where the model is placed, overwrite, progress); the `tsft patch sweep` and `trace` commands
read their defaults from these dataclasses, so the command line and the Python API cannot disagree. This module
imports no torch: the command line shows its defaults without loading a model library.

    from tsft.patching.conditions import PatchRequest
    from tsft.patching.requests import SweepRequest
    from tsft.patching.run import run_sweep

    request = SweepRequest(sites=PatchRequest(components=("mlp_out",)), method="all", ablations=("mean",))
    summary, meta = run_sweep("runs/quick/sft/theorem-full-s0", "runs/quick/data", "runs/mlp-sweep", request)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tsft.patching.conditions import PatchRequest

METHODS = {"exact": ("exact",), "attribution": ("attribution",), "atp_star": ("atp_star",),
           "both": ("exact", "attribution"), "all": ("exact", "attribution", "atp_star")}
"""--method: exact patching, plain attribution patching, AtP* (patching.atp_star), or exact beside estimates."""

ABLATIONS = ("zero", "mean", "resample")
"""What an ablated site is replaced by (patching.ablation)."""

ENGINES = ("hooks", "nnsight", "tl")
"""Engines exact patching runs on (patching.engines); the estimates and ablations always run on hooks."""


def _default_sites() -> PatchRequest:
    from tsft.patching.conditions import PatchRequest

    return PatchRequest()


@dataclass(frozen=True)
class SweepRequest:
    """Exact patching and/or its estimates of one checkpoint on minimal pairs, with ablations beside them."""

    sites: PatchRequest = field(default_factory=_default_sites)
    """What to patch and how to score it (components, layers, positions, direction, metric, memory budget)."""
    pairs: str = "theorem_swap"
    """theorem_swap | surface (synthetic worlds) | perturbed[:<kind>] (original vs perturbed, any data folder)."""
    target: str | None = None
    """Target style whose next token is read: answer | solution | theorem (None: the checkpoint's own, else answer)."""
    limit: int = 64
    """At most this many pairs."""
    method: str = "exact"
    """exact | attribution | atp_star | both | all (METHODS)."""
    engine: str = "hooks"
    """Engine of exact patching: hooks | nnsight | tl."""
    allow_alignment: bool = False
    """Use pairs of unequal token length through their span alignment."""
    ablations: tuple[str, ...] = ()
    """Also ablate every condition (zero | mean | resample): rows beside patching's in one table."""
    faithfulness: tuple[int, ...] = ()
    """k values: the faithfulness curve of the top-k sites by exact patching under each ablation."""
    mib: int = 0
    """MIB's metrics (patching.mib): every ranking the sweep made, scored at MIB's circuit sizes under each
    ablation (CPR, CMD), beside this many random orderings; 0: off."""

    def check(self) -> SweepRequest:
        """Raise ValueError naming the first bad field (before any model is loaded); returns the request."""
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        unknown = sorted(set(self.ablations) - set(ABLATIONS))
        if unknown:
            raise ValueError(f"unknown ablation(s) {unknown}; choose from {', '.join(ABLATIONS)}")
        if self.engine != "hooks" and "exact" not in METHODS[self.method]:
            raise ValueError(f"--engine {self.engine} runs exact patching only; --method {self.method} runs on hooks "
                             "(drop --engine, or add exact: --method both | all)")
        if self.limit < 1:
            raise ValueError(f"limit {self.limit}: use 1 or more pairs")
        if self.mib < 0:
            raise ValueError(f"mib {self.mib}: the number of random orderings is 0 (off) or more")
        if (self.faithfulness or self.mib) and ("exact" not in METHODS[self.method] or not self.ablations):
            raise ValueError("faithfulness curves rank sites by exact patching and ablate the rest: they need "
                             f"--method {' or '.join(m for m in METHODS if 'exact' in METHODS[m])} and at least "
                             "one --ablations")
        self.sites.check()
        return self

    @property
    def methods(self) -> tuple[str, ...]:
        return METHODS[self.method]


@dataclass(frozen=True)
class TraceRequest:
    """Noise-corruption causal tracing (ROME style) of one checkpoint on test problems."""

    subject: str = "problem"
    """Tokens to noise: problem | name | words:<w1>,<w2>."""
    components: tuple[str, ...] = ("resid_post", "mlp_out", "attn_out")
    """Components restored, one at a time, at every layer."""
    positions: str = "spans"
    """each | spans | last | all (as in PatchRequest)."""
    window: int = 1
    """Restore this many consecutive layers around each layer."""
    samples: int = 5
    """Noise draws per prompt."""
    target: str | None = None
    """Target style whose next token is read (None: the checkpoint's own, else answer)."""
    limit: int = 32
    """At most this many problems."""
    seed: int = 0
    """Noise seed."""
