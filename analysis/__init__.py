"""analysis/: tidy comparisons across checkpoints, statistics and claim verdicts. Not built yet:
see issue #6."""
