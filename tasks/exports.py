"""A room's public names, imported on first use: each room's `__init__` lists the few names a notebook user calls
and the module each lives in, so `from tsft.patching import run_sweep` works while `import tsft.patching` alone
loads nothing heavy (no torch, no math-verify)."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, names: dict[str, str]) -> tuple[list[str], Callable[[str], object]]:
    """(__all__, __getattr__) for `package`: `names` maps each public name to its module inside the package."""

    def __getattr__(name: str):
        if name in names:
            return getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return sorted(names), __getattr__
