"""Is the theorem a problem needs linearly readable from a layer? A probe per layer, with a control task.

The probe is a logistic regression from one site's activation at the prompt's last token to the theorem the
problem needs, scored on held-out *templates* (a probe that only learned the wording fails there). Its
control task gives each template a random label: selectivity = probe accuracy minus control accuracy, so a
layer that merely stores the wording scores near 0.

    python examples/probe_layer.py --model smollm2-135m-instruct --layers 6,12,18 --out runs/example-probe

writes OUT/probes.parquet (one row per model x site x label x metric) and prints accuracy and selectivity.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="a model name or a local HF folder")
    parser.add_argument("--data", default=None, help="a data folder (default: the synthetic world, built in OUT)")
    parser.add_argument("--out", default="runs/example-probe")
    parser.add_argument("--layers", default=None, help="comma-separated layers (default: every layer)")
    parser.add_argument("--component", default="resid_post")
    parser.add_argument("--limit", type=int, default=300, help="test originals probed")
    args = parser.parse_args(argv)

    from _common import data_folder, model_folder
    from tsft.probes.run import ProbeRequest, run_probes

    out = Path(args.out)
    model, data = model_folder(args.model), data_folder(args.data, out, n_test=args.limit)
    layers = tuple(int(x) for x in args.layers.split(",")) if args.layers else None
    request = ProbeRequest(components=(args.component,), layers=layers, labels=("theorem",), limit=args.limit)
    table, _ = run_probes([model], data, out, request, overwrite=True)
    view = table[table["metric"].isin(["accuracy", "selectivity", "majority"]) & (table["kind"] == "original")]
    print(view.pivot_table(index="layer", columns="metric", values="value").round(3).to_string())
    return table


if __name__ == "__main__":
    main()
