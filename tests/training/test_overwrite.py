"""`tsft train sft --overwrite` replaces a finished run only once the new one is complete: killed with -9 midway,
the old run is byte for byte what it was; the next --overwrite clears the partial one and swaps the new run in."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

from tsft.training.config import SFTConfig
from tsft.training.sft import train_sft


def digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_overwrite_killed_midway_leaves_the_old_run_and_a_rerun_replaces_it(tiny_model_dir, data_dir, tmp_path):
    run = tmp_path / "K"
    train_sft(tiny_model_dir, data_dir, run, SFTConfig(target="answer", steps=2, eval_every=0), progress=False)
    before = digests(run)
    staged = tmp_path / ".K.overwrite" / "K"
    command = [sys.executable, "-m", "tsft", "train", "sft", "--base", str(tiny_model_dir), "--data", str(data_dir),
               "--out", str(run), "--target", "answer", "--set", "steps=100000", "--set", "save_every=1",
               "--set", "eval_every=0", "--threads", "1", "--overwrite"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while not (staged / "checkpoints").is_dir() and time.time() < deadline and child.poll() is None:
        time.sleep(0.2)
    assert (staged / "checkpoints").is_dir(), "the overwrite never started training beside the old run"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert digests(run) == before  # the finished run untouched
    card = train_sft(tiny_model_dir, data_dir, run, SFTConfig(target="answer", steps=3, eval_every=0),
                     overwrite=True, progress=False)
    assert card["step"] == 3 and json.loads((run / "run_card.json").read_text())["step"] == 3
    assert card["name"] == "K" and digests(run) != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["K"]  # no staging folder, no lock left
