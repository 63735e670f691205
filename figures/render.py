"""Render every figure from saved analysis tables: HTML always, PNG when kaleido finds a browser.

`FIGURES` maps each figure's file name to its function and the tables it reads. `render_all`
writes `<name>.html` per figure (all sharing one `plotly.min.js` written beside them, so they open
offline; the report embeds it once) and, when kaleido and a Chrome/Chromium are available (Debian's
`chromium` package works), `<name>.png` too, through one kaleido browser session; otherwise it says so in one line.
Each file is written to a temporary name and renamed. `render_folder` does all of it, report included,
for a results folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from tsft.figures.behaviour import f1_accuracy, f2_selection, f8_templates
from tsft.figures.evidence import f12_chain, f13_readings, f14_updates
from tsft.figures.inside import f3_patching, f4_probes, f5_transfer, f6_across, f7_weights
from tsft.figures.instruments import f15_controls, f16_ablations
from tsft.figures.lenses import f18_lens
from tsft.figures.report import write_report
from tsft.figures.robustness import f17_robustness
from tsft.figures.summary import summary_markdown
from tsft.figures.variables import f19_das, f20_deltas
from tsft.figures.vision import f9_groups, f10_figure_probes, f11_reading
from tsft.tasks.io import atomic_file

FIGURES: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "F1_accuracy": (f1_accuracy, ("accuracy",)),
    "F2_selection": (f2_selection, ("selection",)),
    "F3_patching": (f3_patching, ("patch_map",)),
    "F4_probes": (f4_probes, ("probes",)),
    "F5_transfer": (f5_transfer, ("probe_transfer",)),
    "F6_across": (f6_across, ("cross", "transplant")),
    "F7_weights": (f7_weights, ("weights",)),
    "F8_templates": (f8_templates, ("templates",)),
    "F12_chain": (f12_chain, ("traces",)),
    "F13_readings": (f13_readings, ("readings",)),
    "F14_updates": (f14_updates, ("spectral", "overlap")),
    "F15_controls": (f15_controls, ("controls",)),
    "F16_ablations": (f16_ablations, ("faithfulness", "ablations")),
    "F17_robustness": (f17_robustness, ("consistency", "effective_robustness")),
    "F18_lens": (f18_lens, ("lens",)),
    "F19_das": (f19_das, ("das",)),
    "F20_deltas": (f20_deltas, ("deltas",)),
}
VISION_FIGURES: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "F9_groups": (f9_groups, ("group_map",)),
    "F10_figure_probes": (f10_figure_probes, ("probes",)),
    "F11_reading": (f11_reading, ("reading",)),
}
"""The diagram world's figures: drawn when the results hold position-group patching (a vision run)."""


def build_figures(tables: dict) -> dict:
    """{name: go.Figure} for every figure (a missing table draws an explicit 'no data' figure), and the vision
    figures when the run patched position groups."""
    import pandas as pd

    chosen = dict(FIGURES)
    if len(tables.get("group_map", pd.DataFrame())):
        chosen |= VISION_FIGURES
    return {name: function(*(tables.get(t, pd.DataFrame()) for t in inputs))
            for name, (function, inputs) in chosen.items()}


def browser() -> str | None:
    """A Chrome/Chromium kaleido can drive, or None."""
    import os

    installed = (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "chrome"))
    found = os.environ.get("BROWSER_PATH") or next(filter(None, installed), None)
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return None
    return found


def render_all(figures: dict, out: str | Path, png: bool = True, log: Callable[[str], None] = print) -> list[Path]:
    """Write each figure as HTML (and PNG when possible) into `out`; returns the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in figures.items():
        with atomic_file(out / f"{name}.html") as tmp:
            fig.write_html(tmp, include_plotlyjs="directory", full_html=True)
        written.append(out / f"{name}.html")
    if png and browser() is None:
        log("PNG skipped: kaleido with a Chrome/Chromium is needed (pip install kaleido; apt-get install chromium); "
            "HTML written")
    elif png:
        written += _write_png(figures, out)
    return written


def _write_png(figures: dict, out: Path) -> list[Path]:
    import warnings

    import kaleido

    warnings.filterwarnings("ignore", message="The kopts argument is ignored", category=UserWarning)
    written = []
    kaleido.start_sync_server(silence_warnings=True)
    try:
        for name, fig in figures.items():
            with atomic_file(out / f"{name}.png") as tmp:
                tmp.write_bytes(fig.to_image(format="png", scale=2))
            written.append(out / f"{name}.png")
    finally:
        kaleido.stop_sync_server(silence_warnings=True)
    return written


def render_folder(tables: dict, meta: dict, folder: str | Path, png: bool = True,
                  log: Callable[[str], None] = print) -> list[Path]:
    """Every figure into `folder`/figures, the report into `folder`/report.html and the numbers into
    `folder`/summary.md (figures.summary); returns the figure files."""
    folder = Path(folder)
    figures = build_figures(tables)
    written = render_all(figures, folder / "figures", png=png, log=log)
    write_report(tables, figures, meta, folder / "report.html")
    with atomic_file(folder / "summary.md") as tmp:
        tmp.write_text(summary_markdown(tables, meta, folder))
    return written
