"""probes/: is the theorem linearly readable, surface-invariant, and used?

* `positions` - where a probe reads: the last prompt token or the mean over a named span;
* `capture`   - activation datasets: problems through a model, activations at sites and positions;
* `store`     - the activation cache, one folder per (model, problem list), streamed in shards;
* `labels`    - what a probe predicts, its groups, and its control task;
* `splits`    - grouped, purged cross-validation (no problem group on both sides);
* `fitting`   - the probe itself (standardised logistic regression), its settings and directions;
* `linear`    - linear probes: grouped-CV accuracy, control-task selectivity, majority, transfer;
* `mdl`       - minimum description length of a label given activations (online code);
* `causal`    - remove the probe's directions and watch behaviour;
* `run`       - the protocol from folders: checkpoints and a data folder in, tidy tables out.
"""
