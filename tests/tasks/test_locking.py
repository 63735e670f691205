"""One writer per run folder (tasks.locking), and workers that die with the command that started them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from tsft.tasks.locking import LOCK, FolderLocked, writing

from tests.conftest import REPO, another_writer


def test_a_second_writer_is_refused_naming_the_first(tmp_path):
    with another_writer(tmp_path) as pid:
        refused = rf"is being written by pid {pid} since .*; wait for it"
        with pytest.raises(FolderLocked, match=refused), writing(tmp_path):
            pass
        assert json.loads((tmp_path / LOCK).read_text())["pid"] == pid  # the holder's lock untouched


def test_a_stale_lock_is_taken_over_and_said_so_and_released_on_error(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK).write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename, "since": "then"}))
    said = []
    with pytest.raises(RuntimeError, match="inside"), writing(tmp_path, log=said.append):
        assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
        with writing(tmp_path):  # the holder taking it again is not a second writer
            pass
        assert (tmp_path / LOCK).is_file()
        raise RuntimeError("inside")
    assert len(said) == 1 and "stale lock" in said[0] and not (tmp_path / LOCK).exists()


def test_workers_die_with_a_killed_parent(tmp_path):
    (tmp_path / "sleeper.py").write_text(textwrap.dedent("""
        import os, time
        def sleep(path):
            open(path, "w").write(str(os.getpid()))
            time.sleep(120)
        """))
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import multiprocessing, sys, time
        sys.path.insert(0, {str(tmp_path)!r})
        from concurrent.futures import ProcessPoolExecutor
        from tsft.jobs import worker_init
        import sleeper
        if __name__ == "__main__":
            pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=worker_init,
                                       initargs=(1,))
            pool.submit(sleeper.sleep, {str(tmp_path / "worker.pid")!r})
            time.sleep(120)
        """)], cwd=REPO)
    pid_file = tmp_path / "worker.pid"
    try:
        for _ in range(300):
            if pid_file.is_file() and pid_file.read_text():
                break
            time.sleep(0.2)
        worker = int(pid_file.read_text())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        for _ in range(50):
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(worker, signal.SIGKILL)
            pytest.fail(f"worker {worker} outlived its killed parent")
    finally:
        parent.kill()
