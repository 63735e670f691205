"""One writer per run folder: a lock file holding the writer's pid, refused to a second writer in one line.

`tsft reproduce` takes `writing(folder)` for as long as it writes its run folder; a training run takes
`writing(folder, beside=True)`, whose lock lies next to the folder (`.NAME.tsft-lock`) so that an empty run folder
stays empty and a folder swapped in by --overwrite stays locked. The lock is a
file, `FOLDER/.tsft-lock`, created with O_EXCL (atomic: of two commands started at once, one wins), holding the
pid, the host and the command. A second writer is refused with a `FolderLocked` error that names them. A lock
whose process is gone (killed with -9, the machine restarted) is stale: it is taken over, and the takeover says
so. The lock is removed when the block exits, however it exits. Taken again by the process that holds it (a
command that locks its folder, then calls a function that locks it too), it is simply held on.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK = ".tsft-lock"


class FolderLocked(RuntimeError):
    """Another live process is writing the folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _holder(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # vanished, or half-written by a writer killed mid-write: treated as stale


@contextmanager
def writing(folder: str | Path, log=None, beside: bool = False) -> Iterator[Path]:
    """Hold FOLDER's lock for the block (FOLDER is created; with `beside`, only its parent, the lock being
    `.NAME.tsft-lock` there); FolderLocked if a live process holds it."""
    folder = Path(folder)
    path = folder.parent / f".{folder.name}{LOCK}" if beside else folder / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(sys.argv)}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(path)
            if holder and holder.get("host") == mine["host"] and holder.get("pid") == mine["pid"]:
                yield folder  # this process holds it already: the outer block releases it
                return
            if holder and holder.get("host") == mine["host"] and _alive(int(holder.get("pid", -1))):
                raise FolderLocked(f"{folder} is being written by pid {holder['pid']} since {holder.get('since')} "
                                   f"({holder.get('command')}); wait for it or stop it") from None
            if log:
                log(f"{folder}: taking over a stale lock ({holder or 'unreadable'}: that process is gone)")
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as handle:
            json.dump(mine, handle)
        break
    else:
        raise FolderLocked(f"{folder}: could not take the lock {path}")
    try:
        yield folder
    finally:
        holder = _holder(path)
        if holder is None or holder.get("pid") == mine["pid"]:
            path.unlink(missing_ok=True)
