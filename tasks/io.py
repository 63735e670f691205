"""Reading and writing data files: JSONL with located errors, atomic folder writes, hashes.

Every error about input names the file, the 1-based line and, when known, the field, so a user
can open the file at the right place. Output folders are built in a temporary sibling folder and
renamed into place only when complete: an existing folder is either left as it was or replaced
whole, never half-overwritten. Single files (`atomic_file`) are written the same way: a temporary
sibling, then one rename.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


class DataError(ValueError):
    """Bad input data: names the file, the line (1-based, None for whole-file errors) and field.

    `unit` is "line" for line-based files; a JSON list names its "item" (1-based) instead.
    """

    def __init__(self, path: str | Path, line: int | None, message: str, field: str | None = None,
                 unit: str = "line"):
        if line is None:
            where = f"{path}"
        else:
            where = f"{path}:{line}" if unit == "line" else f"{path} ({unit} {line})"
        what = f" field '{field}':" if field else ""
        super().__init__(f"{where}:{what} {message}")
        self.path, self.line, self.field, self.reason = str(path), line, field, message


class InvalidJSON(str):
    """A line that is not JSON, yielded in place of a row by `read_jsonl(lenient=True)` (the text says why)."""


def read_jsonl(path: str | Path, lenient: bool = False) -> Iterator[tuple[int, object]]:
    """Yield (line number, parsed JSON) for each non-blank line. Malformed JSON raises DataError naming the line
    and the column within it, or with `lenient` is yielded as an `InvalidJSON` reason for the caller to skip."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as err:
                reason = f"invalid JSON ({err.msg} at column {err.colno} of {len(text)})"
                if not lenient:
                    raise DataError(path, number, reason) from err
                yield number, InvalidJSON(reason)


def read_json(path: str | Path) -> object:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(path, err.lineno, f"invalid JSON ({err.msg}; column {err.colno})") from err


def dumps_row(row: object) -> str:
    return json.dumps(row, ensure_ascii=False)


def write_jsonl(path: str | Path, rows: Iterable[object]) -> int:
    """Write rows one JSON object per line (deterministic bytes); return the row count."""
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(dumps_row(row) + "\n")
            count += 1
    return count


def write_json(path: str | Path, obj: object) -> None:
    Path(path).write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class NotWritable(ValueError):
    """A results folder cannot be made where it was asked for."""


def check_writable(out: str | Path) -> None:
    """Raise NotWritable naming `out` when a folder cannot be made there: a file on the way, no permission, a
    read-only or virtual file system (a real folder is made and removed beside where `out` will be). Every command
    checks its output this way before any work, so nothing is computed only to be lost."""
    out = Path(out).absolute()
    parent = next(p for p in (out, *out.parents) if p.exists())
    if parent == out and out.is_file():  # an existing file to be replaced: its folder must take a new one
        parent = out.parent
    if not parent.is_dir():
        raise NotWritable(f"{out}: {parent} is a file, not a folder")
    try:
        probe = tempfile.mkdtemp(prefix=".tsft-write-check-", dir=parent)
    except OSError as err:
        raise NotWritable(f"{out}: nothing can be written under {parent} ({err.strerror or err})") from None
    os.rmdir(probe)


def refuse_existing(out: str | Path, overwrite: bool, hint: str = "") -> None:
    """Raise FileExistsError if `out` exists and `overwrite` is False, NotWritable if it cannot be written (both
    checked before any work)."""
    if Path(out).exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it{hint}")
    check_writable(out)


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path to write; on success it replaces `path` in one rename, on any
    exception it is removed and `path` is untouched."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


@contextmanager
def atomic_dir(out: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder; on success it replaces `out` in one rename.

    If `out` exists and `overwrite` is False, raise FileExistsError before anything is written.
    On any exception the temporary folder is removed and `out` is untouched.
    """
    out = Path(out)
    refuse_existing(out, overwrite, " (it is replaced whole)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    if old.exists():
        shutil.rmtree(old)
