"""figures/: plotly figures from analysis tables (never from models) and the HTML report.

* `theme`     - the shared template: fonts, a colour per checkpoint family, CI error bars;
* `behaviour` - F1 accuracy under perturbation, F2 parameter selections, F8 template instances;
* `inside`    - F3 patching heatmaps, F4 probes by layer, F5 probe transfer, F6 across checkpoints,
  F7 weight change;
* `evidence`  - F12 where generated chains break, F13 C1 / C2 at final, matched and OOD-peak checkpoints,
  F14 the SVD view of the updates;
* `instruments` - F15 claims against random locations, F16 the ablation choice, the checks' report lines;
* `lenses`    - F18 the layer where the right token becomes a lens's top prediction;
* `robustness` - F17 conditional consistency per kind and effective robustness over training;
* `variables` - F19 where the theorem is a variable (DAS), F20 delta inference, their report lines;
* `vision`    - F9-F11, the diagram world's position-group reading;
* `render`    - every figure as HTML (and PNG through kaleido when a browser exists);
* `report`    - one self-contained HTML report with the claim verdicts;
* `summary`   - summary.md, the folder's numbers as Markdown written from its tables.
"""

from tsft.tasks.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "build_figures": "render",
    "report_html": "report",
})
