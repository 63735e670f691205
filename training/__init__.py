"""training/: the comparison checkpoints every experiment dissects.

    tokenizer.py   the synthetic world's word-level tokenizer (exact round trip)
    models.py      size presets (tiny | small | base, Llama or Qwen2) and loading local HF folders
    corpus.py      the neutral corpus: a stand-in for pretraining, so all SFT variants share a base
    base.py        `tsft train base`: tokenizer + model + corpus -> a base HF folder
    targets.py     answer | solution | theorem targets from one prompt format
    batches.py     examples, the step -> batch plan, collation (loss on target tokens only)
    params.py      full | mlp | attn | mlp:<a>-<b> | lora selections (the rest frozen)
    config.py      settings dataclasses, config files and --set overrides
    trainer.py     the loop: global-batch loss, AdamW, schedule, clipping, DDP, divergence stop
    checkpoint.py  HF folder + training state + run card, atomic; resume
    sft.py         `tsft train sft` and the comparison matrix
    generation.py  greedy KV-cached batched generation and held-out loss
    evaluate.py    `tsft eval`: graded predictions per split/kind, bootstrap CIs, majority baseline
"""
