"""The synthetic theorem world: the embedded default that every experiment can run on a CPU.

`catalogue` lists the theorems (four domains, executable rules with Cond / Map / Exec traces),
`generate` draws seeded problems and splits with the spurious-cue knob, `perturb` makes surface
perturbations whose answers are recomputed by the rule.
"""
