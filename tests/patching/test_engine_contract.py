"""The engine contract (patching.engines.Engine), checked once for every engine: what each method takes and returns,
what an engine may refuse, and that it refuses instead of ignoring."""

from __future__ import annotations

import pytest
import torch
from tsft.patching.engines import ENGINES, Engine, EngineRefused, make_engine
from tsft.patching.sites import sites


@pytest.fixture(scope="module", params=ENGINES)
def engine(request, llama, tokenizer):
    return make_engine(request.param, llama, tokenizer)


def _plain_logits(model, ids):
    with torch.no_grad():
        return model(ids).logits[:, -1].float()


def test_every_engine_honours_the_protocol(engine):
    assert isinstance(engine, Engine) and engine.name in ENGINES
    assert isinstance(engine.supports_prefix, bool) and isinstance(engine.supports_inputs, bool)


def test_capture_returns_every_site_batch_by_position_by_width(engine, llama):
    ids = torch.randint(5, 200, (2, 9), generator=torch.Generator().manual_seed(0))
    site_list = sites(llama, ("resid_pre", "attn_out", "mlp_out"), [0, 1])
    captured = engine.capture(ids, site_list)
    assert set(captured) == set(site_list)
    for site, value in captured.items():
        assert tuple(value.shape) == (2, 9, llama.config.hidden_size), site


def test_run_without_replacements_is_the_model_s_own_last_logits(engine, llama):
    ids = torch.randint(5, 200, (3, 7), generator=torch.Generator().manual_seed(1))
    logits = engine.run(ids, {})
    assert logits.dtype == torch.float32 and tuple(logits.shape) == (3, llama.config.vocab_size)
    torch.testing.assert_close(logits, _plain_logits(llama, ids), atol=1e-5, rtol=0)


def test_a_prefix_cache_gives_the_same_logits_or_is_refused(engine, llama):
    ids = torch.randint(5, 200, (2, 10), generator=torch.Generator().manual_seed(2))
    if not engine.supports_prefix:
        with pytest.raises(EngineRefused, match=engine.name):
            engine.prefix_cache(ids[:, :6])
        with pytest.raises(EngineRefused, match="prefix"):
            engine.run(ids[:, 6:], {}, past=[(torch.zeros(1), torch.zeros(1))])
        return
    cache = engine.prefix_cache(ids[:, :6])
    torch.testing.assert_close(engine.run(ids[:, 6:], {}, past=cache), _plain_logits(llama, ids), atol=1e-5, rtol=0)


def test_extra_inputs_are_built_or_refused_never_ignored(engine):
    ids = torch.randint(5, 200, (1, 5))
    assert engine.inputs_for(ids, [None]) == {}  # text rows need nothing extra
    if engine.supports_inputs:
        return
    with pytest.raises(EngineRefused, match=engine.name):
        engine.inputs_for(ids, ["figure.png"])
    with pytest.raises(EngineRefused, match="extra inputs"):
        engine.run(ids, {}, inputs={"pixel_values": torch.zeros(1)})
    with pytest.raises(EngineRefused, match="extra inputs"):
        engine.capture(ids, [], inputs={"pixel_values": torch.zeros(1)})


def _contract(method: str) -> dict:
    """The Engine protocol's annotations of `method`, resolved with jaxtyping's shape types."""
    import typing

    import jaxtyping
    from tsft.patching import engines

    scope = {**vars(engines), "Float": jaxtyping.Float, "Int": jaxtyping.Int, "Tensor": torch.Tensor}
    return typing.get_type_hints(getattr(Engine, method), globalns=scope)


def test_what_every_engine_returns_has_the_contracts_shapes(engine, llama):
    ids = torch.randint(5, 200, (2, 6), generator=torch.Generator().manual_seed(2))
    run, capture = _contract("run"), _contract("capture")
    assert isinstance(ids, run["ids"]) and not isinstance(ids.float(), run["ids"])
    assert isinstance(engine.run(ids, {}), run["return"])
    width = typing_args(capture["return"])[1]
    captured = engine.capture(ids, sites(llama, ("mlp_out",), [0]))
    assert all(isinstance(value.float(), width) for value in captured.values())
    assert not isinstance(torch.zeros(2, 6), width)  # two axes where the contract says three


def typing_args(hint) -> tuple:
    import typing

    return typing.get_args(hint)
