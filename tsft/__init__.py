"""tsft: the front door, the `tsft` command and the whole comparison.

* `cli`         - the `tsft` command, one subcommand group per room (`python -m tsft` via `__main__`);
* `cli_models`  - `tsft models list|get|convert`;  * `cli_train` - `tsft train ...` and `tsft eval`;
* `cli_patch`   - `tsft patch ...`;  * `cli_probe` - `tsft probe ...`;
* `cli_report`  - `tsft reproduce`, `tsft analyze`, `tsft figures`;
* `common`      - option shorthand, error exit and table printing every subcommand shares;
* `presets`     - how big each part of `tsft reproduce` is (smoke, quick, real, paper);
* `stages`      - the one table of stages, each planning its jobs: `stages_train` (data, base, learning-rate
  trials, SFT and its controls, evaluations) and `stages_inside` (patching, probes, erasure, cross, transplant,
  weights), on what `plan` shares (the inputs, a Job, run folders, which runs and learning rates);
* `jobs`        - the runners of those jobs, each run in this process or a spawned worker;
* `reproduce`   - every stage in order, resumable, then the analysis and the report.
"""

__version__ = "0.1.0"
