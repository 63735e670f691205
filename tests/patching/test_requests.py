"""The sweep and trace requests: checked whole before any model loads, and the command line's defaults."""

from __future__ import annotations

import pytest
from tsft.patching.conditions import PatchRequest
from tsft.patching.requests import SweepRequest, TraceRequest


@pytest.mark.parametrize(("fields", "message"), [
    ({"method": "guess"}, "unknown method 'guess'; choose one of exact, attribution"),
    ({"engine": "jax"}, "unknown engine 'jax'; choose one of hooks, nnsight, tl"),
    ({"ablations": ("zero", "gaussian")}, r"unknown ablation\(s\) \['gaussian'\]"),
    ({"limit": 0}, "limit 0: use 1 or more pairs"),
    ({"faithfulness": (5,), "ablations": ("mean",), "method": "attribution"}, "need --method exact or both or all"),
    ({"faithfulness": (5,)}, "at least one --ablations"),
    ({"sites": PatchRequest(components=("nope",))}, "nope"),
])
def test_a_bad_field_is_named_before_any_work(fields, message):
    with pytest.raises(ValueError, match=message):
        SweepRequest(**fields).check()


def test_the_commands_defaults_are_the_requests():
    import inspect

    from tsft.cli_patch import sweep_command, trace_command

    sweep, trace = inspect.signature(sweep_command).parameters, inspect.signature(trace_command).parameters
    defaults = SweepRequest()
    assert (sweep["pairs"].default, sweep["method"].default, sweep["engine"].default, sweep["limit"].default,
            sweep["align"].default) == (defaults.pairs, defaults.method, defaults.engine, defaults.limit,
                                        defaults.allow_alignment)
    trace_defaults = TraceRequest()
    assert tuple(trace["components"].default.split(",")) == trace_defaults.components
    assert (trace["limit"].default, trace["samples"].default, trace["window"].default) == (
        trace_defaults.limit, trace_defaults.samples, trace_defaults.window)
    assert SweepRequest().check().methods == ("exact",) and SweepRequest(method="all").methods[-1] == "atp_star"
