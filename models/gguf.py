"""GGUF files to plain Hugging Face folders: dequantized safetensors, tokenizer, chat template, a card.

A GGUF file (llama.cpp's format) holds a model's weights, often quantized (Q4_1: blocks of 32
weights stored as 4-bit integers with a per-block fp16 scale and minimum), its hyperparameters
and its tokenizer. transformers reads it through the `gguf` package (`from_pretrained(folder,
gguf_file=...)`) and dequantizes every tensor to float; what it returns still carries the GGUF
quantization config, so `save_pretrained` refuses it. `convert_gguf` copies the dequantized
weights into a fresh model of the same config without that entry and writes an ordinary folder
(config.json, model.safetensors, tokenizer.json + tokenizer_config.json with the chat template,
generation_config.json) that transformers, vLLM or TransformerLens load without tsft.

Dequantized weights are written in float32: a Q4_1 value is scale x q + minimum with fp16 scale
and minimum, which float32 holds exactly and bfloat16 does not. The folder's logits are checked
against the GGUF-loaded model on one prompt before the folder is published (atomically: a
temporary sibling, then one rename), and `source.json` records where the weights came from (the
GGUF's sha256, its quantization, the package, license) and the sha256 of every file written.

Any GGUF whose architecture transformers reads works the same way; tsft uses Llama, Qwen2 and Gemma 3.
"""

from __future__ import annotations

import json
from pathlib import Path

from tsft.tasks.io import atomic_dir, sha256_file, write_json

SOURCE = "source.json"
ARCHITECTURES = ("llama", "qwen2", "gemma3")
_CHECK_PROMPT = "The sum of the interior angles of a triangle is"


class GGUFError(ValueError):
    """A GGUF file tsft cannot convert; the message names the file and the problem."""


def gguf_metadata(path: str | Path) -> dict:
    """The architecture, name and quantization types of a GGUF file, read without its tensors."""
    from collections import Counter

    from gguf import GGUFReader

    path = Path(path)
    if not path.is_file():
        raise GGUFError(f"{path}: file not found")
    try:
        reader = GGUFReader(str(path))
    except (ValueError, OSError) as err:
        raise GGUFError(f"{path}: not a readable GGUF file ({err})") from err

    def field(key: str):
        entry = reader.fields.get(key)
        return None if entry is None else bytes(entry.parts[entry.data[0]]).decode("utf-8", "replace")

    types = Counter(t.tensor_type.name for t in reader.tensors)
    return {"architecture": field("general.architecture"), "name": field("general.name"),
            "tensor_types": dict(types.most_common()), "tensors": len(reader.tensors)}


def _load_gguf(path: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    except (ValueError, OSError, KeyError) as err:
        raise GGUFError(f"{path}: transformers cannot load it ({err})") from err
    return model.eval(), tokenizer


def _plain_copy(model):
    """The same weights in a fresh model whose config has no GGUF quantization entry."""
    import torch
    from transformers import AutoModelForCausalLM

    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = "float32"
    config._name_or_path = ""
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(model.state_dict(), assign=True, strict=True)
    plain.tie_weights()
    plain.generation_config = model.generation_config
    return plain.eval()


def _check_logits(reference, folder: Path, tokenizer) -> float:
    """Largest |logit| difference between the GGUF-loaded model and the written folder, one prompt."""
    import torch
    from transformers import AutoModelForCausalLM

    ids = tokenizer(_CHECK_PROMPT, return_tensors="pt").input_ids
    reloaded = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.inference_mode():
        diff = (reference(ids).logits - reloaded(ids).logits).abs().max()
    return float(diff)


def _save_tokenizer(tokenizer, folder: Path, max_length: int) -> None:
    """The tokenizer files, under the class name every transformers version knows
    (PreTrainedTokenizerFast; 5.x calls it TokenizersBackend) and the model's context length."""
    tokenizer.save_pretrained(folder)
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config.update(tokenizer_class="PreTrainedTokenizerFast", model_max_length=max_length)
    for key in ("is_local", "local_files_only", "backend"):
        config.pop(key, None)
    write_json(path, config)


def _model_card(card: dict) -> str:
    source = card["source"]
    lines = [f"# {card['name']}", "",
             f"Dequantized from `{source['file']}` ({source.get('quantization') or 'GGUF'}) by tsft: the weights are",
             "the GGUF's values written as float32 safetensors; config, tokenizer and chat template come from the",
             "same file.", ""]
    lines += [f"- {key}: {value}" for key, value in source.items()]
    return "\n".join(lines) + "\n"


def convert_gguf(gguf_path: str | Path, out: str | Path, name: str | None = None, source: dict | None = None,
                 overwrite: bool = False, expected_sha256: str | None = None) -> dict:
    """Write `gguf_path` as a plain HF folder at `out` (atomically); return its source card.

    `source` adds provenance (package, version, license...) to the card; `expected_sha256`, when
    given, is checked before anything is converted."""
    gguf_path = Path(gguf_path)
    meta = gguf_metadata(gguf_path)
    if meta["architecture"] not in ARCHITECTURES:
        raise GGUFError(f"{gguf_path}: architecture {meta['architecture']!r}; tsft converts "
                        f"{', '.join(ARCHITECTURES)}")
    digest = sha256_file(gguf_path)
    if expected_sha256 and digest != expected_sha256:
        raise GGUFError(f"{gguf_path}: sha256 {digest} does not match the expected {expected_sha256} "
                        "(a damaged or different file; delete it and fetch again)")
    quantized = [t for t in meta["tensor_types"] if t not in ("F32", "F16", "BF16")]
    card = {"name": name or gguf_path.stem, "format": "tsft-gguf-conversion-1",
            "source": {"file": gguf_path.name, "gguf_sha256": digest, "architecture": meta["architecture"],
                       "gguf_name": meta["name"], "tensor_types": meta["tensor_types"],
                       "quantization": f"{'/'.join(quantized)} dequantized to float32" if quantized else None,
                       **(source or {})}}
    model, tokenizer = _load_gguf(gguf_path)
    plain = _plain_copy(model)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        plain.save_pretrained(tmp, safe_serialization=True)
        _save_tokenizer(tokenizer, tmp, plain.config.max_position_embeddings)
        card["logit_check_max_abs_diff"] = _check_logits(model, tmp, tokenizer)
        if card["logit_check_max_abs_diff"] > 1e-4:
            raise GGUFError(f"{gguf_path}: the written folder's logits differ from the GGUF's by "
                            f"{card['logit_check_max_abs_diff']:.3g}; nothing was written")
        (tmp / "README.md").write_text(_model_card(card))
        for path in tmp.iterdir():
            path.chmod(0o644)
        card["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        write_json(tmp / SOURCE, card)
    return card


def read_source(folder: str | Path) -> dict | None:
    """The source card of a converted folder, or None."""
    path = Path(folder) / SOURCE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None
