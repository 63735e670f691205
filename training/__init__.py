"""training/: models and SFT (tokenizers, base models, answer | solution | theorem targets, parameter
selection, the trainer, checkpoints, generation-based evaluation). Not built yet: see issue #3."""
