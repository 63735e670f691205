"""Draw a diagram problem: the figure is a pure function of its theorem family and surface.

A family's `layout` places its points in abstract coordinates from the problem's values (the
triangle really has the angles it states, the rectangle the stated proportions), says which
segments and circles to stroke, where each vertex letter goes and where the figure-only given is
written. `render_figure` then applies the figure surface (rotation, mirroring, the value label's
placement, a distractor mark), fits the drawing into a square canvas and rasterizes it with
Pillow. Letters stay upright under rotation and mirroring; only their positions move.

Figure surface keys (`surface["figure"]`): size (pixels), rotation (degrees), mirror (bool),
label_place (0 near the element, 1 on its other side, 2 farther out), mark (None or {text, corner}).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tsft.tasks.diagram.shapes import FIGURE_UNIT, FIGURE_VALUE

Point = tuple[float, float]
MARGIN = 0.2
VALUE_SCALE = 0.15
"""The figure-only value is written larger than the letters (0.11 of the size): it is what must be read."""
"""Fraction of the canvas kept free on each side for letters and labels."""


@dataclass
class Layout:
    points: dict[str, Point]
    segments: list[tuple[Point, Point]]
    circles: list[tuple[Point, float]] = field(default_factory=list)
    value_at: Point = (0.0, 0.0)
    """Where the figure-only value is anchored (a vertex or a segment's midpoint)."""
    value_dir: Point = (0.0, 1.0)
    """Unit direction from the anchor to the value label (placement 0)."""


def _unit(x: float, y: float) -> Point:
    n = math.hypot(x, y) or 1.0
    return x / n, y / n


def _bisector(at: Point, p: Point, q: Point) -> Point:
    u, v = _unit(p[0] - at[0], p[1] - at[1]), _unit(q[0] - at[0], q[1] - at[1])
    return _unit(u[0] + v[0], u[1] + v[1])


def _outward_normal(p: Point, q: Point, centre: Point) -> Point:
    nx, ny = _unit(q[1] - p[1], p[0] - q[0])
    mid = ((p[0] + q[0]) / 2, (p[1] + q[1]) / 2)
    return (nx, ny) if nx * (mid[0] - centre[0]) + ny * (mid[1] - centre[1]) >= 0 else (-nx, -ny)


def _triangle(v: dict) -> Layout:
    a, b = math.radians(v["a"]), math.radians(v["b"])
    t = math.sin(b) / math.sin(a + b)
    A, B, C = (0.0, 0.0), (1.0, 0.0), (t * math.cos(a), t * math.sin(a))
    ext = (C[0] + 0.35 * (C[0] - A[0]) / t, C[1] + 0.35 * (C[1] - A[1]) / t)  # side AC extended past C
    return Layout({"A": A, "B": B, "C": C}, [(A, B), (B, C), (A, ext)], value_at=B, value_dir=_bisector(B, A, C))


def _rectangle(v: dict) -> Layout:
    w, h = v["a"] / max(v["a"], v["b"]), v["b"] / max(v["a"], v["b"])
    A, B, C, D = (0.0, 0.0), (w, 0.0), (w, h), (0.0, h)
    return Layout({"A": A, "B": B, "C": C, "D": D}, [(A, B), (B, C), (C, D), (D, A)],
                  value_at=(w, h / 2), value_dir=(1.0, 0.0))


def _right_triangle(v: dict) -> Layout:
    w, h = v["a"] / max(v["a"], v["b"]), v["b"] / max(v["a"], v["b"])
    C, A, B = (0.0, 0.0), (w, 0.0), (0.0, h)
    s = 0.08
    square = [((s, 0.0), (s, s)), ((s, s), (0.0, s))]
    return Layout({"A": A, "B": B, "C": C}, [(C, A), (A, B), (B, C), *square], value_at=(0.0, h / 2),
                  value_dir=(-1.0, 0.0))


def _parallel(v: dict) -> Layout:
    a = math.radians(v["a"])
    gx = 0.5 + 0.5 / math.tan(a)
    G, H = (gx, 1.0), (gx - math.cos(a) / math.sin(a), 0.0)
    d = _unit(G[0] - H[0], G[1] - H[1])
    ends = ((G[0] + 0.25 * d[0], G[1] + 0.25 * d[1]), (H[0] - 0.25 * d[0], H[1] - 0.25 * d[1]))
    lo, hi = min(H[0], G[0]) - 0.3, max(H[0], G[0]) + 0.3
    A, B, C, D = (lo, 1.0), (hi, 1.0), (lo, 0.0), (hi, 0.0)
    return Layout({"A": A, "B": B, "C": C, "D": D, "G": G, "H": H}, [(A, B), (C, D), ends],
                  value_at=G, value_dir=_bisector(G, A, H))


def _circle(v: dict) -> Layout:
    half = math.radians(v["a"]) / 2
    centre = (0.0, 0.0)
    A = (math.cos(-math.pi / 2 - half), math.sin(-math.pi / 2 - half))
    B = (math.cos(-math.pi / 2 + half), math.sin(-math.pi / 2 + half))
    C = (0.0, 1.0)
    return Layout({"O": centre, "A": A, "B": B, "C": C}, [(centre, A), (centre, B), (C, A), (C, B)],
                  circles=[(centre, 1.0)], value_at=centre, value_dir=_bisector(centre, A, B))


LAYOUTS = {"diagram_triangle": _triangle, "diagram_rectangle": _rectangle, "diagram_right_triangle": _right_triangle,
           "diagram_parallel": _parallel, "diagram_circle": _circle}


class _Frame:
    """Rotation, mirroring and the fit into the canvas (y up in the layout, down in the image)."""

    def __init__(self, layout: Layout, figure: dict):
        self.turn, self.mirror, self.size = math.radians(figure["rotation"]), figure["mirror"], figure["size"]
        pts = [self._move(p) for p in layout.points.values()]
        pts += [self._move((c[0] + dx * r, c[1] + dy * r)) for c, r in layout.circles for dx, dy in
                ((1, 0), (-1, 0), (0, 1), (0, -1), (0.7, 0.7), (-0.7, 0.7), (0.7, -0.7), (-0.7, -0.7))]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-9)
        self.scale = self.size * (1 - 2 * MARGIN) / span
        self.cx, self.cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2

    def direction(self, d: Point) -> Point:
        c, s = math.cos(self.turn), math.sin(self.turn)
        x, y = d[0] * c - d[1] * s, d[0] * s + d[1] * c
        return (-x if self.mirror else x), y

    def _move(self, p: Point) -> Point:
        return self.direction(p)

    def pixel(self, p: Point) -> Point:
        x, y = self._move(p)
        return self.size / 2 + (x - self.cx) * self.scale, self.size / 2 - (y - self.cy) * self.scale


def _value_text(family_id: str, values: dict) -> str:
    return f"{values[FIGURE_VALUE[family_id]]}{FIGURE_UNIT.get(family_id, '')}"


def _font(size: int, scale: float = 0.11):
    from PIL import ImageFont

    return ImageFont.load_default(size=max(8, round(size * scale)))


def render_figure(family_id: str, letters: dict[str, str], values: dict, figure: dict):
    """The figure as a PIL RGB image (see the module docstring for the figure keys)."""
    from PIL import Image, ImageDraw

    layout = LAYOUTS[family_id](values)
    frame = _Frame(layout, figure)
    size = figure["size"]
    image = Image.new("RGB", (size, size), "white")
    draw, font = ImageDraw.Draw(image), _font(size)
    width = max(1, size // 80)
    for p, q in layout.segments:
        draw.line([frame.pixel(p), frame.pixel(q)], fill="black", width=width)
    for centre, radius in layout.circles:
        x, y = frame.pixel(centre)
        r = radius * frame.scale
        draw.ellipse([x - r, y - r, x + r, y + r], outline="black", width=width)
    centre = tuple(sum(c) / len(layout.points) for c in zip(*layout.points.values(), strict=True))
    offset = size * 0.08
    for role, point in layout.points.items():
        d = frame.direction(_unit(point[0] - centre[0], point[1] - centre[1]))
        x, y = frame.pixel(point)
        draw.text((x + d[0] * offset, y - d[1] * offset), letters[role], fill="black", font=font, anchor="mm")
    place = figure["label_place"]
    d = frame.direction(layout.value_dir if place != 1 else (-layout.value_dir[0], -layout.value_dir[1]))
    x, y = frame.pixel(layout.value_at)
    reach = offset * (1.6 if place == 2 else 1.0) + size * 0.04
    draw.text((x + d[0] * reach, y - d[1] * reach), _value_text(family_id, values), fill="black",
              font=_font(size, VALUE_SCALE),
              anchor="mm")
    if figure.get("mark"):
        _distractor_mark(draw, font, figure["mark"], size)
    return image


def _distractor_mark(draw, font, mark: dict, size: int) -> None:
    """A stray number with a short tick in one corner: irrelevant to the question."""
    inset = size * 0.09
    x = inset if mark["corner"] in (0, 3) else size - inset
    y = inset if mark["corner"] in (0, 1) else size - inset
    draw.line([(x - inset * 0.6, y + inset * 0.6), (x + inset * 0.6, y + inset * 0.6)], fill="black", width=1)
    draw.text((x, y), mark["text"], fill="black", font=font, anchor="mm")


def png_bytes(image) -> bytes:
    """PNG bytes of `image` (no metadata, so the same figure always gives the same bytes)."""
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
