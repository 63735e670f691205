"""Write a tiny GGUF file the way llama.cpp's converter does, from a random HF model (test helper).

The file holds what a real GGUF holds: the hyperparameters under the architecture's keys, a
byte-level BPE tokenizer (tokens, types, merges, special ids, a ChatML chat template) and every
tensor under llama.cpp's names, Llama's q/k projections permuted as llama.cpp permutes them
(interleaved rotary halves), 2-D weights quantized (Q4_1, Q8_0) or kept in F32. The HF model it
came from, with each weight replaced by its quantize-then-dequantize value, is the reference a
conversion must reproduce.
"""

from __future__ import annotations

from pathlib import Path

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def byte_level_tokenizer(seed_text: str, vocab_size: int = 300):
    """A byte-level BPE tokenizer trained on `seed_text` with the ChatML specials first."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([seed_text] * 4, trainer)
    return tok


def _permute(weights, n_head: int, n_head_kv: int):
    """llama.cpp's q/k permutation (convert_hf_to_gguf.LlamaModel.permute)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _write_tokenizer(writer, tok) -> None:
    import json

    import gguf

    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    control = {vocab[s] for s in SPECIALS}
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if i in control else gguf.TokenType.NORMAL
                            for i in range(len(tokens))])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(vocab["<|im_start|>"])
    writer.add_eos_token_id(vocab["<|im_end|>"])
    writer.add_pad_token_id(vocab["<|im_end|>"])
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML)


def write_gguf(model, tok, path: str | Path, quant: str = "Q4_1") -> dict:
    """Write `model` (a random HF Llama / Qwen2) and `tok` as a GGUF at `path`.

    Returns the reference state dict: each weight as the file holds it after dequantization, in
    the HF layout (unpermuted), so `model.load_state_dict(reference)` is the model the file means."""
    import gguf
    import numpy as np
    import torch

    config = model.config
    arch = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2}[config.model_type]
    qtype = getattr(gguf.GGMLQuantizationType, quant)
    names = gguf.get_tensor_name_map(arch, config.num_hidden_layers)
    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[arch])
    writer.add_name(f"tiny-{config.model_type}")
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(float(config.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    if config.model_type == "llama":
        writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    _write_tokenizer(writer, tok)
    reference = {}
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and config.tie_word_embeddings:
            continue
        base, _, suffix = hf_name.rpartition(".")
        array = tensor.detach().float().numpy()
        permuted = array
        if config.model_type == "llama" and base.endswith(("q_proj", "k_proj")) and suffix == "weight":
            kv = config.num_key_value_heads if base.endswith("k_proj") else config.num_attention_heads
            permuted = _permute(array, config.num_attention_heads, kv)
        name = names.get_name(base) + "." + suffix
        if array.ndim == 2 and array.shape[1] % 32 == 0:
            kind = gguf.GGMLQuantizationType.Q8_0 if base.endswith("embed_tokens") else qtype
            packed = gguf.quants.quantize(permuted, kind)
            writer.add_tensor(name, packed, raw_dtype=kind)
            back = gguf.quants.dequantize(packed, kind).reshape(permuted.shape)
            if permuted is not array:  # undo the permutation on the dequantized values
                back = _unpermute(back, config, base)
        else:
            writer.add_tensor(name, array.astype(np.float32))
            back = array
        reference[hf_name] = torch.from_numpy(np.ascontiguousarray(back))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    if config.tie_word_embeddings:
        reference["lm_head.weight"] = reference["model.embed_tokens.weight"]
    return reference


def _unpermute(weights, config, base: str):
    """The inverse of `_permute`, written out by hand (rows of each head back from interleaved)."""
    heads = config.num_key_value_heads if base.endswith("k_proj") else config.num_attention_heads
    rows = weights.shape[0] // heads
    return weights.reshape(heads, rows // 2, 2, -1).swapaxes(1, 2).reshape(weights.shape)
