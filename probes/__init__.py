"""probes/: is the theorem linearly readable, surface-invariant, and used?

* `positions` - where a probe reads: the last prompt token or the mean over a named span;
* `capture`   - activation datasets: problems through a model, activations at sites and positions;
* `store`     - the activation cache, one folder per (model, problem list), streamed in shards;
* `labels`    - what a probe predicts, its groups, and its control task;
* `splits`    - grouped, purged cross-validation (no problem group on both sides);
* `fitting`   - the probe itself (standardised logistic regression), its settings and directions;
* `linear`    - linear probes: grouped-CV accuracy, control-task selectivity, majority, transfer;
* `mdl`       - minimum description length of a label given activations (online code);
* `erasure`   - LEACE (and its oracle), probe and INLP subspaces, random controls, concept scrubbing;
* `causal`    - erase a label at a site (or every layer) and watch behaviour;
* `lens`      - logit and tuned lens: the layer where the theorem's name or the answer becomes decodable;
* `lens_tables` - lens results as tables (torch-free): top-1 share per layer, the first decodable layer;
* `run`       - the protocol from folders: checkpoints and a data folder in, tidy tables out.
"""

from tsft.tasks.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "ProbeRequest": "run",
    "run_probes": "run",
    "run_causal": "run",
    "CausalRequest": "causal",
})
