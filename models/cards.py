"""Checkpoint folders as every room reads them: one `Checkpoint` record per folder (its config.json and run card,
read and checked once), the commit the code ran at, and the tokenizer files saved beside a model (a vision
model's image processor too).

A `Checkpoint` answers what a room needs before (and after) a model loads: its name (the run card's, else the
folder's), architecture family, depth (the language model's, a vision-language config's text part included), the
target style it was tuned on (None for a base) and the prompt format it was tuned with. `Checkpoint.open` refuses
a folder tsft cannot use with a `ModelError` naming the folder and the problem: not a folder, no config or one
that is not JSON or names no architecture, no safetensors weights (pickle-only weights are refused: tsft never
unpickles), no tokenizer files, a run card that is not JSON.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tsft.models.images import image_encoder

CARD = "run_card.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")


class ModelError(ValueError):
    """A model folder or tokenizer tsft cannot use; the message names the folder and the problem."""


def _json(path: Path):
    """tasks.io.read_json, its error a ModelError (one wording for a bad JSON file everywhere)."""
    from tsft.tasks.io import DataError, read_json

    try:
        return read_json(path)
    except DataError as err:
        raise ModelError(str(err)) from err
    except OSError as err:
        raise ModelError(f"{path}: cannot read ({err})") from err


@dataclass(frozen=True)
class Checkpoint:
    """A model folder, opened once (see the module doc)."""

    folder: Path
    config: dict
    """config.json."""
    card: dict
    """run_card.json ({} for a folder tsft did not train)."""

    @classmethod
    def open(cls, folder: str | Path) -> Checkpoint:
        folder = Path(folder)
        if not folder.is_dir():
            raise ModelError(f"{folder}: not a folder (expected a local HF model folder)")
        if not (folder / "config.json").is_file():
            raise ModelError(f"{folder}: no config.json, so not a Hugging Face model folder")
        config = _json(folder / "config.json")
        if not isinstance(config, dict) or "model_type" not in config:
            raise ModelError(f"{folder}/config.json: no 'model_type' field, so transformers cannot tell the "
                             "architecture")
        if not any(folder.glob("*.safetensors")):
            pickled = [p.name for p in folder.glob("*.bin")]
            detail = (f"only pickle weights ({', '.join(pickled)}); tsft does not unpickle files, convert them to "
                      "safetensors first") if pickled else "no *.safetensors weights"
            raise ModelError(f"{folder}: {detail}")
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise ModelError(f"{folder}: no tokenizer files (one of {', '.join(TOKENIZER_FILES)}); copy the tokenizer "
                             "of the model this checkpoint came from into the folder")
        card = _json(folder / CARD) if (folder / CARD).is_file() else {}
        return cls(folder, config, card)

    @property
    def name(self) -> str:
        """The run card's name; for a pretrained model in tsft's cache (`models/<name>/hf`, `tsft models get`),
        that name; else the folder's name."""
        if "name" in self.card:
            return self.card["name"]
        source = self.folder / "source.json"
        if self.folder.name == "hf" and source.is_file():
            named = _json(source).get("name")
            if named == self.folder.parent.name:
                return named
        return self.folder.name

    @property
    def architecture(self) -> str:
        return self.config["model_type"]

    @property
    def depth(self) -> int | None:
        """Decoder layers of the language model (a vision-language config's `text_config` included)."""
        return self.config.get("num_hidden_layers") or self.config.get("text_config", {}).get("num_hidden_layers")

    @property
    def target(self) -> str | None:
        """The target style the checkpoint was tuned on (None for a base)."""
        return self.card.get("config", {}).get("target")

    @property
    def system(self) -> str | None:
        """The system-prompt setting it was tuned with (training.prompts), if any."""
        return self.card.get("config", {}).get("system")


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def read_card(folder: Path) -> dict | None:
    """The run card of a folder being written or resumed (None when there is none yet); a finished model folder
    is read through `Checkpoint.open`."""
    path = Path(folder) / CARD
    return _json(path) if path.is_file() else None


def save_tokenizer(tokenizer, folder: Path) -> None:
    """The tokenizer files, and a vision model's image processor (preprocessor_config.json)."""
    tokenizer.save_pretrained(folder)
    if image_encoder(tokenizer) is not None:
        image_encoder(tokenizer).save(folder)


RUN_NAME = re.compile(r"^(?P<target>answer|solution|theorem)-(?P<params>.+)-s(?P<seed>\d+)$")
"""The name of a fine-tuning run's folder, as `run_name` writes it (a selection's ':' and ',' escaped as '_' and
'+'); `tsft.plan` names run folders with it and analysis.collect reads them back with `parse_run_name`."""


def run_name(target: str, params: str, seed: int) -> str:
    return f"{target}-{params.replace(':', '_').replace(',', '+')}-s{seed}"


def parse_run_name(name: str) -> dict | None:
    """{target, params (as escaped in the name), seed} of a name `run_name` wrote; None for any other name."""
    parsed = RUN_NAME.match(name)
    return None if parsed is None else {**parsed.groupdict(), "seed": int(parsed["seed"])}
