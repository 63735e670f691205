"""analysis/: tidy comparisons across checkpoints, statistics and claim verdicts, from saved results only.

* `collect`  - walk a results tree; every room's outputs and the run cards as DataFrames;
* `stats`    - the two-level (seeds, problems) paired bootstrap and the one verdict rule;
* `accuracy` - E1 accuracy / robustness per perturbation, matched accuracy, E2 selections, F8 templates;
* `inside`   - E3 patching map and MLP share, E4 probe peaks and transfer, E5-E7;
* `claims`   - C1-C4, each with effect, interval, seeds, control and verdict;
* `tables`   - every table from one folder, written to and read from parquet.
"""
