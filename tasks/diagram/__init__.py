"""The diagram world: geometry problems whose givens are partly on a figure (the GeoQA setting)."""
