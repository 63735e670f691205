"""What the examples share: a model given by name or folder, and a data folder (the synthetic world when none)."""

from __future__ import annotations

from pathlib import Path


def model_folder(model: str) -> Path:
    """A local HF folder as it is; otherwise a model tsft can fetch by name (`tsft models list`)."""
    if Path(model).is_dir():
        return Path(model)
    from tsft.models.registry import get_model

    return get_model(model)


def data_folder(data: str | None, out: Path, n_train: int = 0, n_test: int = 64) -> Path:
    """`data` as it is, or the synthetic theorem world built into OUT/data (kept for the next run)."""
    if data:
        return Path(data)
    from tsft.tasks.build import build

    folder = out / "data"
    if not (folder / "manifest.json").is_file():
        build("synthetic", folder, n_train=n_train, n_test=n_test)
    return folder
