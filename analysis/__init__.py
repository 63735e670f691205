"""analysis/: tidy comparisons across checkpoints, statistics and claim verdicts, from saved results only.

* `collect`       - walk a results tree; every room's outputs and the run cards as DataFrames;
* `problems`      - each evaluated problem's template, number magnitude, answer length and trace;
* `stats`         - the two-level (seeds, problems) paired bootstrap and the one verdict rule;
* `robustness`    - conditional consistency (solved stays solved?) and effective robustness over training;
* `seeds`         - a difference between arms with a seeds + template-cluster t interval (few seeds);
* `mixed`         - per-question logistic mixed models (question, template, run random; magnitude fixed);
* `twostage`      - the claims' random-slopes model fitted in two stages (within runs, then over seeds);
* `accuracy`      - E1 accuracy / robustness per perturbation, matched accuracy, E2 selections, F8 templates;
* `traces`        - step-level scores of generated theorem applications (naming, Cond, Map, Exec) and first errors;
* `readings`      - per-run peak in- and out-of-distribution steps; C1 / C2 at final, matched and OOD-peak;
* `budget`        - each run's plateau and accuracies; the token-matched, memorization and step-cap controls;
* `contamination` - verbatim test problems and canary strings in generations;
* `inside`        - E3 patching map and MLP share, E4 probe peaks and transfer, E5-E7, the SVD view of updates;
* `controls`      - random-location controls: each localisation claim against the same measurement elsewhere;
* `shares`        - C4's MLP share without layer 0, and theorem - base / theorem - answer over seeds;
* `instruments`   - the instruments' own checks: estimates vs exact patching, ablation choice, erasure;
* `variables`     - DAS's first and best sites per checkpoint, delta inference pooled over seeds;
* `vision`        - the diagram world's position-group reading tables;
* `claims`        - C1-C4, each with effect, interval, seeds, control, verdict and the random-slopes model beside it;
* `tables`        - every table from one folder, written to and read from parquet.
"""

from tsft.tasks.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "analysis_tables": "tables",
    "claims_table": "claims",
})
