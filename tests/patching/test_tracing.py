"""Noise-corruption causal tracing: restoring the input restores everything, restoring what the
last position cannot see restores nothing, and the noise is seeded."""

from __future__ import annotations

from tsft.patching.engines import make_engine
from tsft.patching.results import tidy
from tsft.patching.tracing import causal_trace, trace_prompts


def test_restoration_bounds(llama, tokenizer, dataset):
    prompts, skipped = trace_prompts(dataset.test[:3], tokenizer, "answer", subject="name")
    assert prompts and not skipped
    frame = tidy(causal_trace(make_engine("hooks", llama), prompts, components=("resid_pre", "resid_post"),
                              samples=3))
    subject = frame[frame["position"] == "subject"]
    first = subject[(subject["component"] == "resid_pre") & (subject["layer"] == 0)]
    assert (first["value"] - first["clean"]).abs().max() <= 1e-5
    last_layer = subject[(subject["component"] == "resid_post") & (subject["layer"] == 1)]
    assert (last_layer["value"] - last_layer["corrupt"]).abs().max() <= 1e-6
    assert (frame["clean"] != frame["corrupt"]).all()


def test_tracing_is_seeded_and_windows_cover_layers(llama, tokenizer, dataset):
    prompts, _ = trace_prompts(dataset.test[:2], tokenizer, "answer", subject="problem")
    engine = make_engine("hooks", llama)
    def run(seed):
        return tidy(causal_trace(engine, prompts, components=("mlp_out",), window=2, samples=2, seed=seed))
    first, again, other = run(0), run(0), run(1)
    assert first["value"].equals(again["value"]) and not first["value"].equals(other["value"])


def test_missing_subject_is_reported(tokenizer, dataset):
    prompts, skipped = trace_prompts(dataset.test[:2], tokenizer, "answer", subject="words:zzzz")
    assert not prompts and len(skipped) == 2 and "does not occur" in skipped[0][1]
