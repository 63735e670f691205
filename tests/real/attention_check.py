"""One check both real models share: AtP*'s recorded queries and keys, with one position swapped in from the
clean run, give the attention pattern HF computes under that exact patch of resid_pre."""

from __future__ import annotations

import torch


def assert_record_is_the_exact_patch_pattern(model, pair, layer: int) -> None:
    from tsft.patching.atp_star import pattern, recording_attention, source_pass
    from tsft.patching.hooks import intervene
    from tsft.patching.sites import Site

    position = next(i for i, (a, b) in enumerate(zip(pair.clean_ids, pair.corrupt_ids, strict=True)) if a != b)
    site = Site(layer, "resid_pre")
    source, records = source_pass(model, torch.tensor([pair.clean_ids]), [site])
    with torch.no_grad(), recording_attention(model) as dest:
        model(torch.tensor([pair.corrupt_ids]))

    def patch(x):
        x = x.clone()
        x[:, position] = source[site][:, position]
        return x

    with torch.no_grad(), intervene(model, edit={site: patch}), recording_attention(model) as patched:
        model(torch.tensor([pair.corrupt_ids]))
    q, k = dest[layer].q[0].clone(), dest[layer].k[0].clone()
    q[:, [position]], k[:, [position]] = records[layer].q[0][:, [position]], records[layer].k[0][:, [position]]
    torch.testing.assert_close(pattern(dest[layer], 0, q, k), pattern(patched[layer], 0), atol=1e-5, rtol=1e-4)
