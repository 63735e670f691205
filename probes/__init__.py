"""probes/: activation datasets, linear probes with control tasks, transfer to perturbations.
Not built yet: see issue #5."""
