"""The synthetic theorem world: the embedded default that every experiment can run on a CPU.

* `theorem`       - what a theorem is: statement, premises, slots, rule, wording templates;
* `geometry`, `algebra`, `number_theory`, `combinatorics` - the theorems of each domain;
* `catalogue`     - every theorem, looked up by id;
* `surface`       - names, letters, number words, synonyms and distractors;
* `render`        - a theorem and a surface description into problem text;
* `generate`      - seeded problems and splits, with the spurious-cue knob;
* `perturb`       - surface perturbations whose answers are recomputed by the rule.
"""
