"""The activation cache: one folder per (model, problem list), streamed in shards.

    cache.json          what was captured from what: model and tokenizer fingerprints, the row list's
                        hash, the row count, rows per shard, and per feature the shards written
    rows.parquet        one row per problem: problem_id, original_id, kind, and the label/group fields
    <feature>/00000.safetensors ...   feature = "<site>@<position>", tensor "x" [rows in shard, width]

Shards are written atomically (temp + rename) and recorded in cache.json after each one, so a
killed capture resumes at the first missing shard and nothing written is lost. Reading loads one
feature at a time (a probe needs one [rows, width] matrix), or streams it shard by shard, so
memory is bounded by one feature, not the whole cache. A cache made from another model,
tokenizer or problem list is refused with the difference named; it is never silently reused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tsft.tasks.io import atomic_file

CACHE_FORMAT = "tsft-activations/1"


class CacheMismatch(ValueError):
    """A cache folder holds activations of another model, tokenizer or problem list."""


def model_fingerprint(model) -> str:
    """A hash of every parameter's name, shape, dtype, sum and first values (cheap, changes with any training)."""
    import torch

    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            flat = tensor.detach().flatten()
            digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}{float(flat.double().sum()):.6e}".encode())
            digest.update(flat[:64].float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def tokenizer_fingerprint(tokenizer) -> str:
    vocab = json.dumps(sorted(tokenizer.get_vocab().items()))
    specials = (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    return hashlib.sha256(f"{vocab}{specials}".encode()).hexdigest()[:16]


def rows_fingerprint(frame, texts) -> str:
    digest = hashlib.sha256()
    for row, text in zip(frame[["problem_id", "kind"]].itertuples(index=False), texts, strict=True):
        digest.update(f"{row.problem_id}\t{row.kind}\t{text}\n".encode())
    return digest.hexdigest()[:16]


class ActivationStore:
    """A cache folder (see the module docstring). Open with `ActivationStore.open`."""

    def __init__(self, folder: Path, manifest: dict):
        self.folder = folder
        self.manifest = manifest

    @classmethod
    def open(cls, folder, identity: dict, rows, shard_rows: int = 2048) -> ActivationStore:
        """Open (and check) or create a cache. `identity` = model/tokenizer/rows fingerprints and names."""
        folder = Path(folder)
        path = folder / "cache.json"
        if path.is_file():
            manifest = json.loads(path.read_text())
            _check_identity(folder, manifest, identity)
            return cls(folder, manifest)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_file(folder / "rows.parquet") as tmp:
            rows.to_parquet(tmp, index=False)
        manifest = {"format": CACHE_FORMAT, **identity, "n_rows": len(rows), "shard_rows": shard_rows,
                    "features": {}}
        store = cls(folder, manifest)
        store._save()
        return store

    @property
    def n_rows(self) -> int:
        return self.manifest["n_rows"]

    @property
    def n_shards(self) -> int:
        return -(-self.n_rows // self.manifest["shard_rows"])

    def shard_range(self, shard: int) -> range:
        size = self.manifest["shard_rows"]
        return range(shard * size, min(self.n_rows, (shard + 1) * size))

    def done(self, feature: str) -> int:
        """Shards of `feature` written so far."""
        return self.manifest["features"].get(feature, 0)

    def missing(self, features) -> list[str]:
        return [f for f in features if self.done(f) < self.n_shards]

    def rows(self):
        import pandas as pd

        return pd.read_parquet(self.folder / "rows.parquet")

    def write_shard(self, shard: int, values: dict[str, np.ndarray]) -> None:
        """Write one shard of several features (atomically), then record it."""
        from safetensors.numpy import save_file

        for feature, array in values.items():
            if self.done(feature) != shard:
                continue  # already written by an earlier, interrupted capture
            folder = self.folder / _dirname(feature)
            folder.mkdir(exist_ok=True)
            with atomic_file(folder / f"{shard:05d}.safetensors") as tmp:
                save_file({"x": np.ascontiguousarray(array, dtype=np.float32)}, str(tmp))
            self.manifest["features"][feature] = shard + 1
        self._save()

    def stream(self, feature: str) -> Iterator[np.ndarray]:
        """The feature's shards in row order, one at a time."""
        from safetensors.numpy import load_file

        if self.done(feature) < self.n_shards:
            raise KeyError(f"{self.folder}: feature {feature!r} is not fully captured "
                           f"({self.done(feature)}/{self.n_shards} shards)")
        for shard in range(self.n_shards):
            yield load_file(str(self.folder / _dirname(feature) / f"{shard:05d}.safetensors"))["x"]

    def load(self, feature: str) -> np.ndarray:
        """The whole [rows, width] matrix of one feature (NaN rows where the position span was absent)."""
        return np.concatenate(list(self.stream(feature)))

    def _save(self) -> None:
        with atomic_file(self.folder / "cache.json") as tmp:
            tmp.write_text(json.dumps(self.manifest, indent=2) + "\n")


def _dirname(feature: str) -> str:
    return feature.replace("/", "_").replace(":", "=")


def _check_identity(folder: Path, manifest: dict, identity: dict) -> None:
    if manifest.get("format") != CACHE_FORMAT:
        raise CacheMismatch(f"{folder}/cache.json: unknown format {manifest.get('format')!r}, expected {CACHE_FORMAT}")
    for key, what in (("model", "model"), ("tokenizer", "tokenizer"), ("rows", "problem list")):
        if manifest.get(key) != identity.get(key):
            raise CacheMismatch(
                f"{folder} holds activations of another {what}: cached {manifest.get(key)} "
                f"({manifest.get(key + '_source', '?')}), requested {identity.get(key)} "
                f"({identity.get(key + '_source', '?')}); use another --cache folder or delete this one")
