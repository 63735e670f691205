"""training/: the comparison checkpoints every experiment dissects.

* `corpus`       - the neutral corpus: a stand-in for pretraining, so all SFT variants share a base;
* `captions`     - figure-caption examples for a vision base, and how well a base reads figures;
* `base`         - `tsft train base`: tokenizer + model + corpus -> a base HF folder;
* `batches`      - examples, the step -> batch plan, collation (loss on target tokens only), packing;
* `config`       - settings dataclasses, config files and --set overrides;
* `distributed`  - process groups: one code path for 1 process, torchrun or accelerate launch;
* `sharding`     - DDP or FSDP2 around the model, full-state checkpoints either way;
* `compiling`    - regional torch.compile of the decoder layers and the loss (compile=auto|on|off);
* `trainer`      - the loop: global-batch loss, AdamW, schedule, clipping, divergence stop; the held-out loss;
* `checkpoint`   - HF folder + training state + run card, atomic; resume;
* `periodic`     - what a run measures while it trains: validation, train accuracy, the test curve;
* `sft`          - `tsft train sft` and the comparison matrix.

Everything about a model that other rooms need (loading, prompts, targets, selections, generation,
evaluation, precision, placement) lives one room to the left, in models/.
"""

from tsft.tasks.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "SFTConfig": "config",
    "BaseConfig": "config",
    "train_sft": "sft",
    "train_base": "base",
})
