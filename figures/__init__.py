"""figures/: plotly figures from analysis tables and the HTML report. Not built yet: see issue #6."""
