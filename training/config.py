"""Run settings as dataclasses: one per kind of run, attribute docstrings say what each field does.

Settings come from defaults, then a config file (TOML or JSON, flat keys), then `--set key=value`
overrides on the command line; the resolved config is saved in the run card, and a resume must
resolve to the same config (a conflict is an error, not a silent change).

`batch_size` is the GLOBAL batch (examples or blocks per optimizer step); each process runs
micro-batches of `micro_batch_size` and accumulates gradients over batch_size / (micro * world)
of them, so one process and N processes train on the same batches.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from tsft.models.precision import check_precision
from tsft.training.compiling import check_compile


@dataclass
class TrainConfig:
    """Optimizer, schedule and loop settings shared by base pretraining and SFT."""

    seed: int = 0
    """Seed of initialisation, data order and every generator."""
    steps: int = 600
    """Optimizer steps."""
    batch_size: int = 32
    """Global batch: examples per optimizer step, over all processes and accumulation."""
    micro_batch_size: int = 32
    """Examples per forward/backward on one process."""
    lr: float = 3e-3
    """Peak learning rate (AdamW)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW betas, written 0.9,0.95 (or [0.9,0.95])."""
    warmup_steps: int = 30
    """Linear warmup steps from 0 to the peak learning rate."""
    schedule: str = "cosine"
    """Decay after warmup: cosine | linear | constant."""
    min_lr_ratio: float = 0.1
    """Final learning rate as a fraction of the peak."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (0 disables)."""
    precision: str = "auto"
    """Compute precision (autocast): auto | fp32 | bf16 | fp16. auto = bf16 for models of 20M+ parameters on a
    CPU or GPU with native bf16, else fp32; fp16 needs CUDA. The run card records what was used."""
    attention: str = "auto"
    """Attention kernel while training: auto (eager for bf16 on CPU, where the flash kernel's backward is slow:
    SmolLM2-135M trains 1.3x faster; else the model's own) | eager | sdpa."""
    compile: str = "auto"
    """Regional torch.compile of the decoder layers: auto (on for bf16 / fp16 runs on one process without gradient
    checkpointing: SmolLM2-135M trains ~1.3x faster after a ~25 s compile on CPU; a failed compile falls back to
    eager with a warning) | on (a failed compile is an error) | off. The loss is compiled with the layers."""
    fsdp: bool = False
    """Under a launcher (torchrun / accelerate launch): shard parameters, gradients and optimizer state over the
    processes (torch FSDP2, one unit per decoder layer) instead of replicating them (DDP); for models that do not
    fit one device. Checkpoints are the same full HF folders either way."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (saves memory, costs time)."""
    eval_every: int = 100
    """Steps between evaluations on the held-out slice (0: only at the end)."""
    save_every: int = 100
    """Steps between checkpoints (the final step is always saved)."""
    keep_checkpoints: int = 2
    """Intermediate checkpoints kept on disk (the newest ones)."""
    log_every: int = 10
    """Steps between loss records in the run card."""
    patience: int = 0
    """Train to the plateau: stop after this many evaluations without a new best held-out accuracy, and publish
    the best one's checkpoint (`steps` is then the most a run may take; eval_every must equal save_every). 0: train
    all `steps` and publish the last."""
    max_target_tokens: int = 0
    """Stop once this many target tokens have been trained on (a token-budget control); 0: no limit."""

    def __post_init__(self) -> None:
        check_config(self)


@dataclass
class BaseConfig(TrainConfig):
    """Base pretraining on the neutral corpus (training.corpus), from a random model."""

    preset: str = "small"
    """Model size: tiny | small | base."""
    arch: str = "llama"
    """Architecture: llama | qwen2 | qwen2_5_vl (the diagram world's vision-language model)."""
    n_facts: int = 40_000
    """Arithmetic facts in the corpus."""
    n_problems: int = 6_000
    """Unsolved problem texts in the corpus."""
    max_operand: int = 999
    """Largest sum/difference operand in the arithmetic facts (products and roots use factors to 40)."""
    block_size: int = 128
    """Tokens per packed training block."""
    n_figures: int = 3000
    """qwen2_5_vl only: figure-caption documents (a figure, then the value it marks) that teach reading figures.
    Keep them a large share of the corpus (lower n_facts): with 40000 facts a 600-step base does not learn to read."""
    figure_size: int = 112
    """qwen2_5_vl only: figure width and height in pixels (a multiple of 28)."""
    steps: int = 1500
    lr: float = 3e-3
    eval_every: int = 250
    save_every: int = 250


@dataclass
class SFTConfig(TrainConfig):
    """Supervised fine-tuning of a base on one target style with one parameter selection."""

    target: str = "theorem"
    """Target style: answer | solution | theorem."""
    params: str = "full"
    """Parameter selection: full | mlp | attn | mlp:<first>-<last> | lora[:<modules>]."""
    lr: float = 1e-3
    """Peak learning rate (AdamW); MLP-only runs train fewer weights and usually need a higher one (presets set it
    per selection)."""
    max_length: int = 384
    """Longest example in tokens (longer ones are an error, naming the problem)."""
    eval_size: int = 128
    """Held-out problems for the periodic evaluation (loss and greedy accuracy): the validation split's first ones
    when the data folder has one, else the test split's (eval_split)."""
    eval_split: str = "auto"
    """Where the periodic evaluation reads: auto (val when the data has it, else test) | val | test."""
    train_eval_size: int = 0
    """Training problems also scored at every evaluation (`train_accuracy`: how well the run fits what it saw)."""
    stop_at_train_accuracy: float = 0.0
    """Stop once the train accuracy reaches this (the memorization arm; needs train_eval_size); 0: never."""
    curve_size: int = 0
    """Test originals whose every perturbation is also generated at each curve step, predictions written to
    curve/step-N.parquet (the matched, OOD-peak and effective-robustness readings need no kept checkpoint); 0: none."""
    curve_every: int = 0
    """Steps between curve evaluations (a multiple of eval_every; 0: at every evaluation)."""
    lora_rank: int = 8
    """LoRA rank (params=lora)."""
    lora_alpha: float = 16.0
    """LoRA alpha (params=lora)."""
    system: str = "default"
    """Chat models' system prompt: default (the template's own) | none (no system turn) | any other text. Saved in
    the run card, so every later command prompts the checkpoint the same way."""
    allow_eval_data: bool = False
    """Train even on a data folder whose manifest marks it eval-only (a benchmark's test problems); refused
    otherwise, naming the source (tasks.guards)."""


def _coerce(config_type: type, key: str, value):
    names = {f.name: f for f in fields(config_type)}
    if key not in names:
        raise ValueError(f"unknown setting {key!r} for {config_type.__name__}; known: {', '.join(names)}")
    default = getattr(config_type(), key)
    kind = type(default)
    if kind is tuple:
        return _coerce_tuple(key, value, default)
    if isinstance(value, str) and kind is not str:
        try:
            value = json.loads(value.lower() if kind is bool else value)
        except ValueError:
            raise ValueError(f"setting {key!r}: expected {kind.__name__}, got {value!r}") from None
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"setting {key!r}: expected {kind.__name__}, got {value!r}")
    return value


def _coerce_tuple(key: str, value, default: tuple) -> tuple:
    """A tuple setting (betas) from `0.9,0.99`, `[0.9,0.99]`, `(0.9, 0.99)` or a list in a config file: as many
    numbers as the default has."""
    form = ",".join(["x"] * len(default))
    items = value.strip().strip("[]()").split(",") if isinstance(value, str) else value
    try:
        numbers = tuple(float(item) for item in items)
    except (TypeError, ValueError):
        numbers = ()
    if len(numbers) != len(default):
        raise ValueError(f"setting {key!r}: expected {len(default)} numbers written {form} (e.g. "
                         f"{','.join(map(str, default))}), got {value!r}")
    return numbers


def resolve_config(config_type: type, file: str | Path | None = None, overrides: dict | None = None,
                   **fixed):
    """Defaults < config file < overrides < fixed (the command's own options); checked."""
    values: dict = {}
    if file is not None:
        path = Path(file)
        try:
            text = path.read_text()
            loaded = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: cannot read config ({err})") from err
        values.update(loaded)
    values.update(overrides or {})
    values.update({k: v for k, v in fixed.items() if v is not None})
    return config_type(**{k: _coerce(config_type, k, v) for k, v in values.items()})  # checked as it is made


def parse_overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"override {pair!r} is not key=value")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def check_config(config: TrainConfig) -> None:
    if config.schedule not in ("cosine", "linear", "constant"):
        raise ValueError(f"schedule {config.schedule!r}: use cosine, linear or constant")
    check_precision(config.precision)
    if config.attention not in ("auto", "eager", "sdpa"):
        raise ValueError(f"attention {config.attention!r}: use auto, eager or sdpa")
    check_compile(config.compile)
    if config.batch_size % config.micro_batch_size:
        raise ValueError(f"batch_size {config.batch_size} is not a multiple of micro_batch_size "
                         f"{config.micro_batch_size}")
    for name in ("steps", "batch_size", "micro_batch_size", "save_every", "log_every"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name}={getattr(config, name)}: must be at least 1")
    for name in ("eval_every", "keep_checkpoints", "patience", "max_target_tokens", "warmup_steps",
                 "weight_decay", "max_grad_norm"):
        if getattr(config, name) < 0:
            raise ValueError(f"{name}={getattr(config, name)}: must be 0 or more")
    if not 0 < config.lr < float("inf") or not 0 <= config.min_lr_ratio <= 1:
        raise ValueError(f"lr={config.lr}, min_lr_ratio={config.min_lr_ratio}: the learning rate must be a positive "
                         "number and its final ratio between 0 and 1")
    if config.patience and (not config.eval_every or config.save_every != config.eval_every):
        raise ValueError(f"patience={config.patience} publishes the best evaluated checkpoint: set eval_every "
                         f"= save_every (now {config.eval_every} and {config.save_every})")
    if getattr(config, "eval_split", "auto") not in ("auto", "val", "test"):
        raise ValueError(f"eval_split {config.eval_split!r}: use auto, val or test")
    if getattr(config, "stop_at_train_accuracy", 0) and not getattr(config, "train_eval_size", 0):
        raise ValueError("stop_at_train_accuracy needs train_eval_size > 0 (the problems it is measured on)")
    every = getattr(config, "curve_every", 0)
    if every and (not config.eval_every or every % config.eval_every):
        raise ValueError(f"curve_every {every} must be a multiple of eval_every {config.eval_every}")


def config_dict(config) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def describe(config_type: type) -> list[tuple[str, str, str]]:
    """(name, default, docstring) of every setting, read from the attribute docstrings in the source."""
    import ast
    import inspect

    docs: dict[str, str] = {}
    for klass in reversed(config_type.__mro__[:-1]):
        body = ast.parse(inspect.getsource(klass)).body[0].body
        for node, after in itertools.pairwise(body):
            documented = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
            if isinstance(node, ast.AnnAssign) and documented:
                docs[node.target.id] = str(after.value.value)
    default = config_type()
    def shown(value) -> str:
        return ",".join(map(str, value)) if isinstance(value, tuple) else repr(value)

    return [(f.name, shown(getattr(default, f.name)), docs.get(f.name, "")) for f in fields(config_type)]
