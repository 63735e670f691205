"""Where does a model decide which theorem applies? Patch theorem-swap pairs layer by layer and plot the map.

A theorem-swap pair is two problems that differ in one word (the word that asks for, say, the *sum* instead of
the *product* of a quadratic's roots), so they need different theorems. The clean run reads one, the corrupt
run the other; each patch copies one site's activation (a layer's residual stream, attention or MLP output, over
one span of tokens) from the clean run into the corrupt one and measures how far the logit difference between
the two theorems' names moves: 0 = the corrupt run's, 1 = the clean run's. The map is the layer-attribution plot.

    python examples/patch_map.py --model smollm2-135m-instruct --out runs/example-patch --pairs 16

writes OUT/patch/ (tidy tables: one row per pair x layer x component x span) and OUT/patch_map.html.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="a model name or a local HF folder")
    parser.add_argument("--data", default=None, help="a data folder (default: the synthetic world, built in OUT)")
    parser.add_argument("--out", default="runs/example-patch")
    parser.add_argument("--pairs", type=int, default=16)
    args = parser.parse_args(argv)

    import pandas as pd
    from _common import data_folder, model_folder
    from tsft.analysis.inside import patch_map
    from tsft.figures.inside import f3_patching
    from tsft.patching.conditions import PatchRequest
    from tsft.patching.requests import SweepRequest
    from tsft.patching.run import run_sweep

    out = Path(args.out)
    model, data = model_folder(args.model), data_folder(args.data, out)
    request = SweepRequest(sites=PatchRequest(components=("resid_pre", "attn_out", "mlp_out"), positions="spans"),
                           target="theorem", limit=args.pairs)
    summary, meta = run_sweep(model, data, out / "patch", request, overwrite=True)
    print(f"{meta['pairs']} pairs patched; strongest sites:")
    print(summary.sort_values("normalized", ascending=False).head(8).to_string(index=False))
    figure = f3_patching(patch_map(pd.read_parquet(out / "patch" / "pairs.parquet")))
    figure.write_html(out / "patch_map.html", include_plotlyjs=True)
    print(f"map: {out / 'patch_map.html'}")
    return out


if __name__ == "__main__":
    main()
