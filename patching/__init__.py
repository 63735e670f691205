"""patching/: canonical sites, the hook primitive, engines, activation and attribution patching,
cross-checkpoint patching and MLP transplant. Not built yet: see issue #4."""
