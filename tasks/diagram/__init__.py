"""The diagram world: geometry problems whose givens are partly on a figure (the GeoQA setting).

* `shapes` - the theorems and wordings, givens split between text and figure;
* `draw`   - the figure, a pure function of the theorem family and surface;
* `world`  - seeded problems with figures, and perturbations of text and image.
"""
