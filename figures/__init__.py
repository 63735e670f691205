"""figures/: plotly figures from analysis tables (never from models) and the HTML report.

* `theme`     - the shared template: fonts, a colour per checkpoint family, CI error bars;
* `behaviour` - F1 accuracy under perturbation, F2 parameter selections, F8 template instances;
* `inside`    - F3 patching heatmaps, F4 probes by layer, F5 probe transfer, F6 across checkpoints,
  F7 weight change;
* `render`    - every figure as HTML (and PNG through kaleido when a browser exists);
* `report`    - one self-contained HTML report with the claim verdicts.
"""
