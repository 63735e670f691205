"""The one look every figure shares: fonts, a colour per checkpoint, CI error bars, an empty-figure notice.

Colours follow the training target (answer, solution, theorem, base) so one checkpoint family has
one hue across figures; the parameter selection shades it (full = the hue, mlp = lighter, attn =
darker). Every interval drawn is a 95% interval computed in analysis/ (bootstrap over seeds and
problems, or folds for probes); figures never compute statistics.
"""

from __future__ import annotations

import math
import re

import plotly.graph_objects as go

FONT = "Inter, Helvetica, Arial, sans-serif"
TARGET_COLOURS = {"answer": "#d62728", "solution": "#2ca02c", "theorem": "#1f77b4", "base": "#7f7f7f"}
SHADES = {"full": 0.0, "mlp": 0.35, "attn": -0.35}
COMPONENT_COLOURS = {"attn_out": "#ff7f0e", "mlp_out": "#9467bd", "resid_pre": "#8c564b", "mlp": "#9467bd",
                     "attn": "#ff7f0e", "norm": "#8c564b", "embed": "#17becf", "head": "#bcbd22"}
NAME = re.compile(r"^(answer|solution|theorem)-(\w+)")

TEMPLATE = go.layout.Template(layout=go.Layout(
    font={"family": FONT, "size": 13, "color": "#222"},
    title={"font": {"size": 16}, "x": 0.01, "xanchor": "left"},
    paper_bgcolor="white", plot_bgcolor="white",
    xaxis={"showgrid": False, "linecolor": "#999", "ticks": "outside"},
    yaxis={"gridcolor": "#e5e5e5", "linecolor": "#999", "zeroline": False},
    legend={"bgcolor": "rgba(255,255,255,0.8)"},
    colorway=list(TARGET_COLOURS.values()),
    margin={"l": 60, "r": 20, "t": 60, "b": 50},
))


def _mix(hex_colour: str, amount: float) -> str:
    """Lighten (amount > 0) or darken (amount < 0) a #rrggbb colour."""
    rgb = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
    target = 255 if amount > 0 else 0
    mixed = [round(c + (target - c) * abs(amount)) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def colour(target: str | None, params: str | None = "full") -> str:
    """The colour of a checkpoint family (target style) and parameter selection."""
    hue = TARGET_COLOURS.get(str(target), "#555555")
    kind = str(params).split(":")[0] if params else "full"
    return _mix(hue, SHADES.get(kind, 0.15))


def model_colour(model: str) -> str:
    """A checkpoint's colour from its run name (theorem-mlp-s0 -> theorem, mlp); the base is grey."""
    match = NAME.match(str(model))
    if match:
        return colour(match.group(1), match.group(2))
    return TARGET_COLOURS["base"] if "base" in str(model) else "#555555"


def error_y(frame, value: str = "value", low: str = "ci_low", high: str = "ci_high") -> dict:
    """Asymmetric error bars from interval columns (NaN intervals draw nothing)."""
    return {"type": "data", "symmetric": False, "array": (frame[high] - frame[value]).tolist(),
            "arrayminus": (frame[value] - frame[low]).tolist(), "thickness": 1.2, "width": 3}


def styled(fig: go.Figure, title: str, **layout) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=title, **layout)
    return fig


def empty(title: str, why: str) -> go.Figure:
    """A figure that says plainly what is missing instead of drawing nothing."""
    fig = go.Figure()
    fig.add_annotation(text=f"no data: {why}", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": "#888"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return styled(fig, title)


def number(x, digits: int = 3, percent: bool = False) -> str:
    """A number as the report writes it: `digits` decimals (or a whole percentage), "n/a" when missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.0%}" if percent else f"{x:.{digits}f}"


def interval_text(value, low, high) -> str:
    """An estimate as the report writes it: value [low, high], each by `number`."""
    return f"{number(value)} [{number(low)}, {number(high)}]"
