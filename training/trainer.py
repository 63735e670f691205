"""The training loop shared by base pretraining and SFT.

One optimizer step = one global batch (training.batches): each process runs its share as
micro-batches and accumulates gradients. The loss is the mean cross-entropy over the global
batch's target tokens: each micro-batch contributes sum(CE over its target tokens) x WORLD_SIZE /
(target tokens in the global batch), so gradient accumulation and N processes give the gradient
one process would get on the whole batch. Then: gradient clipping, AdamW, the learning rate of
the next step (linear warmup, then cosine or linear decay to min_lr_ratio x peak, computed from the
step alone so a resume needs no scheduler object), periodic held-out evaluation and checkpoints.

A non-finite loss stops the run before the optimizer touches the weights, with an error naming
the last good checkpoint (which is left as it was). A progress bar shows loss, tokens/s and ETA.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tsft.models.architectures import is_sharded
from tsft.models.images import image_encoder, model_inputs
from tsft.models.precision import autocast, resolve
from tsft.training import checkpoint
from tsft.training.batches import IGNORE, BatchPlan, Example, collate, micro_batches, shard
from tsft.training.compiling import (
    compile_layers,
    compiled_function,
    is_compile_failure,
    release,
    uncompiled,
    wants_compile,
)
from tsft.training.config import TrainConfig, config_dict
from tsft.training.distributed import Dist, all_sum, barrier, broadcast_object
from tsft.training.sharding import all_finite, as_float, full_states, gradient_sync, load_optimizer_state, wrap


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def lr_factor(step: int, config: TrainConfig) -> float:
    """Multiplier of the peak learning rate at `step` (0-based)."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return 1.0
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if config.schedule == "cosine" else 1 - progress
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * shape


def predicted_targets(example: Example) -> int:
    """Target tokens that carry a loss (the first token of a prompt-less block has no context)."""
    return len(example.ids) - max(example.n_prompt, 1)


def target_cross_entropy(logits, labels):
    """Summed cross-entropy of flat (positions, vocabulary) logits against labels (IGNORE skipped), in float32."""
    import torch.nn.functional as F

    return F.cross_entropy(logits, labels, ignore_index=IGNORE, reduction="none").float().sum()


def token_loss_sum(model, batch: dict, cross_entropy=target_cross_entropy):
    """Sum of next-token cross-entropy over the labelled (target) positions, as a float32 scalar.

    Only positions whose next token is a target (in any row) reach the LM head (`logits_to_keep`):
    a prompt's logits are never computed, which matters for 49k-token vocabularies. The cross-entropy
    reads the logits in the dtype the head produced them (bf16 under bf16 autocast: the kernel
    accumulates in float32 and rounds the per-token losses, 2.4x faster on CPU than upcasting the
    logits first; float32 otherwise) and the per-token losses are summed in float32. `cross_entropy` is
    `target_cross_entropy` or, in a compiled run, its compiled form (training.compiling)."""
    import torch.nn.functional as F

    # shift the labels, not the logits: position t is scored on token t+1
    labels = F.pad(batch["labels"], (0, 1), value=IGNORE)[:, 1:]
    keep = (labels != IGNORE).any(0).nonzero().flatten()
    logits = model(**model_inputs(batch), use_cache=False, logits_to_keep=keep).logits
    return cross_entropy(logits.flatten(0, 1), labels[:, keep].flatten())


@dataclass
class Run:
    """What a training run needs besides the config: model, data and where to write."""

    model: object
    tokenizer: object
    examples: Sequence[Example]
    out: Path
    card: dict
    dist: Dist = field(default_factory=Dist)
    device: str = "cpu"
    evaluate: Callable[[object], dict] | None = None
    adapter: Callable[[object], dict] | None = None
    """For LoRA: the trainable tensors to store in the training state."""
    export: Callable[[object], object] | None = None
    """The model to save as the HF folder (LoRA: merged); default the trained model itself."""
    progress: bool = True
    report: Callable[[str], None] | None = None
    """Called with one line per evaluation (step, loss, validation accuracy and the best so far): a long run's
    progress in a log, where no progress bar is drawn."""


class Trainer:
    def __init__(self, run: Run, config: TrainConfig, resume_from: Path | None = None):
        import torch

        self.run, self.config = run, config
        self.model = run.model.to(run.device)
        if config.gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
        if config.fsdp and run.dist.world == 1:
            raise ValueError("fsdp=true shards a model over processes, and this is one process: start it with "
                             "torchrun or accelerate launch (2+ processes), or drop fsdp")
        if config.fsdp and run.dist.world > 1 and run.adapter is not None:
            raise ValueError("fsdp=true shards full parameters; LoRA runs train few weights: use DDP (fsdp=false)")
        if config.fsdp and run.dist.world > 1 and config.compile == "on":
            raise ValueError("compile=on with fsdp=true is not supported: use compile=off (or DDP)")
        self.wrapped = wrap(self.model, run.dist, run.device, config.fsdp)  # FSDP2 shards self.model in place
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError("the parameter selection leaves nothing to train")
        # the fused kernel (CPU and CUDA) is about 3x faster than the per-tensor loop on CPU
        fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in self.params)
        self.optimizer = torch.optim.AdamW(self.params, lr=config.lr, betas=config.betas,
                                           weight_decay=config.weight_decay, fused=fused)
        self.precision = resolve(config.precision, self.model, run.device)
        run.card["precision"], run.card["device"] = self.precision, run.device
        attention = config.attention
        if attention == "auto" and self.precision == "bf16" and not run.device.startswith("cuda"):
            attention = "eager"
        if attention != "auto":
            self.model.set_attn_implementation(attention)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        compiled = wants_compile(config.compile, self.precision, run.dist.world, config.gradient_checkpointing)
        self.compiled = compile_layers(self.model) if compiled else []
        self.cross_entropy = compiled_function(target_cross_entropy) if compiled else target_cross_entropy
        self.compile_pending = compiled  # until the first step has run compiled (or fallen back)
        run.card["compiled"] = compiled
        per_process = config.batch_size // run.dist.world
        if per_process * run.dist.world != config.batch_size or per_process % config.micro_batch_size:
            raise ValueError(f"batch_size {config.batch_size} must split evenly into {run.dist.world} process(es) "
                             f"x micro_batch_size {config.micro_batch_size}")
        self.accum = per_process // config.micro_batch_size
        self.lengths = [len(e.ids) for e in run.examples]
        self.plan = BatchPlan(self.lengths, config.batch_size, config.seed)
        self.step = 0
        if resume_from:
            self.step, optimizer_state = checkpoint.load_training_state(resume_from)
            load_optimizer_state(self.model, self.optimizer, optimizer_state)
        self.metrics = run.card.setdefault("metrics", {"loss": [], "evals": [], "tokens_seen": 0,
                                                       "target_tokens_seen": 0, "train_seconds": 0.0})

    def _micro_step(self, indices: list[int], scale: float, sync: bool):
        batch = {k: v.to(self.run.device) for k, v in
                 collate([self.run.examples[i] for i in indices], self.run.tokenizer.pad_token_id,
                         image_encoder(self.run.tokenizer)).items()}
        with gradient_sync(self.wrapped, sync):
            with autocast(self.precision, self.run.device):
                loss_sum = token_loss_sum(self.wrapped, batch, self.cross_entropy)
            scaled = loss_sum * scale
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
        return loss_sum.detach()

    def train_step(self) -> tuple[float, int, int]:
        """One optimizer step; returns (mean target loss, tokens, target tokens) of the global batch. The first
        step of a compiled run compiles; if that fails under compile=auto, the run warns and goes on eagerly."""
        if not self.compile_pending:
            return self._train_step()
        self.compile_pending = False
        try:
            return self._train_step()
        except Exception as error:
            if self.config.compile == "on" or not is_compile_failure(error):
                raise
            import warnings

            warnings.warn(f"torch.compile failed ({type(error).__name__}: {str(error).splitlines()[0]}); training "
                          "eagerly (set compile=off to skip the attempt)", stacklevel=2)
            release(self.compiled)
            self.compiled, self.cross_entropy, self.run.card["compiled"] = [], target_cross_entropy, False
            self.optimizer.zero_grad(set_to_none=True)
            return self._train_step()

    def _train_step(self) -> tuple[float, int, int]:
        import torch

        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr * lr_factor(self.step, self.config)
        indices = self.plan.batch(self.step)
        n_target = sum(predicted_targets(self.run.examples[i]) for i in indices)
        scale = self.run.dist.world / n_target
        mine = shard(indices, self.run.dist.rank, self.run.dist.world)
        parts = micro_batches(mine, self.lengths, self.accum)
        loss_sum = sum(self._micro_step(part, scale, k == len(parts) - 1) for k, part in enumerate(parts))
        loss = all_sum(float(loss_sum), self.run.dist) / n_target  # one device sync per step
        if not math.isfinite(loss):
            self._diverged(f"loss is {loss}")
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        if self.config.max_grad_norm > 0:
            norm = as_float(torch.nn.utils.clip_grad_norm_(self.params, self.config.max_grad_norm))
            if not math.isfinite(norm) and not self.scaler:  # fp16 overflow is the scaler's to skip
                self._diverged(f"gradient norm is {norm}")
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return loss, sum(self.lengths[i] for i in indices), n_target

    def _diverged(self, what: str) -> None:
        last = checkpoint.checkpoint_dirs(self.run.out)
        raise TrainingDiverged(f"{what} at step {self.step}; the weights were not saved. Last good checkpoint: "
                               f"{last[-1] if last else 'none (diverged before the first save)'}")

    def _evaluate(self) -> None:
        # a sharded model's forward is a collective: every process evaluates (on the same problems), rank 0 records
        if self.run.evaluate is not None and (self.run.dist.main or is_sharded(self.model)):
            self.model.eval()
            with autocast(self.precision, self.run.device), uncompiled(self.compiled):
                result = self.run.evaluate(self.model, self.step)
            self.model.train()
            if self.run.dist.main:
                self.metrics["evals"].append({"step": self.step, "target_tokens_seen":
                                              self.metrics["target_tokens_seen"], **result})
                if self.run.report is not None:
                    self.run.report(self._evaluation_line())
        barrier(self.run.dist)

    def _evaluation_line(self) -> str:
        """'<run>: step s/n, loss l, validation accuracy a (best b at step t)' for the latest evaluation."""
        latest = self.metrics["evals"][-1]
        said = [f"step {self.step}/{self.config.steps}", f"loss {self.latest_loss:.4f}"]
        if "heldout_accuracy" in latest:
            best = self._best_eval()
            split = {"val": "validation", "test": "test"}.get(self.run.card.get("eval_split"), "held-out")
            said.append(f"{split} accuracy {latest['heldout_accuracy']:.3f} "
                        f"(best {best['heldout_accuracy']:.3f} at step {best['step']})")
        return f"{self.run.out.name}: " + ", ".join(said)

    def _best_eval(self) -> dict | None:
        """The evaluation with the highest held-out accuracy so far (the earliest of ties), or None."""
        evals = [e for e in self.metrics["evals"] if "heldout_accuracy" in e]
        return max(evals, key=lambda e: (e["heldout_accuracy"], -e["step"])) if evals else None

    def _best_step(self) -> int | None:
        """The best evaluation's step (`_best_eval`), under `patience`; else None."""
        best = self._best_eval() if self.config.patience else None
        return None if best is None else best["step"]

    def _at_token_budget(self) -> bool:
        """Whether the run has seen its `max_target_tokens` (it stops here, evaluated like a last step)."""
        budget = self.config.max_target_tokens
        return bool(budget) and self.metrics["target_tokens_seen"] >= budget

    def _stop_reason(self) -> str | None:
        """Why training stops before `steps` (plateau, train fitted, token budget), or None."""
        config, evals = self.config, self.metrics["evals"]
        if self._at_token_budget():
            return "target_tokens"
        threshold = getattr(config, "stop_at_train_accuracy", 0.0)
        if threshold and evals and evals[-1].get("train_accuracy", 0.0) >= threshold:
            return "train_accuracy"
        best = self._best_step()
        if best is not None and sum(e["step"] > best for e in evals) >= config.patience:
            return "plateau"
        return None

    def _save(self) -> Path | None:
        if not all_finite(self.params):
            self._diverged("a weight is not finite")
        path = None
        weights, optimizer_state = full_states(self.model, self.optimizer)  # sharded: a collective
        if self.run.dist.main:
            self.run.card["step"] = self.step
            export = self.run.export(self.model) if self.run.export else self.model
            adapter = self.run.adapter(self.model) if self.run.adapter else None
            best = self._best_step()
            path = checkpoint.save_checkpoint(self.run.out, self.step, export, self.run.tokenizer, optimizer_state,
                                              self.run.card, adapter, self.config.keep_checkpoints, weights,
                                              protect=None if best is None else best)
        barrier(self.run.dist)
        return path

    def fit(self) -> dict:
        """Train to `config.steps`, saving and evaluating on schedule; publish the final checkpoint."""
        from tqdm.auto import tqdm

        config, card = self.config, self.run.card
        card["config"] = config_dict(config)
        bar = tqdm(total=config.steps, initial=self.step, desc="train", disable=not (self.run.progress
                                                                                   and self.run.dist.main))
        self.model.train()
        if self.compiled:
            bar.set_postfix_str("compiling the decoder layers (first step)")
        last_saved, stopped = None, None
        while self.step < config.steps and stopped is None:
            start = time.perf_counter()
            loss, tokens, targets = self.train_step()
            self.latest_loss = loss
            elapsed = time.perf_counter() - start
            self.metrics["tokens_seen"] += tokens
            self.metrics["target_tokens_seen"] += targets
            self.metrics["train_seconds"] += elapsed
            if self.step % config.log_every == 0 or self.step == 1:
                self.metrics["loss"].append([self.step, round(loss, 6)])
            bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{tokens / max(elapsed, 1e-9):.0f}")
            bar.update(1)
            if (config.eval_every and self.step % config.eval_every == 0) or self.step == config.steps \
                    or self._at_token_budget():
                self._evaluate()
            stopped = self._stop_reason() if self.run.dist.main else None
            stopped = broadcast_object(stopped, self.run.dist)
            if self.step % config.save_every == 0 or self.step == config.steps or stopped:
                last_saved = self._save()
        bar.close()
        release(self.compiled)
        if self.run.dist.main:
            card["stopped"] = stopped or "steps"
            last_saved = last_saved or checkpoint.checkpoint_dirs(self.run.out)[-1]
            best = self._best_step()
            final = last_saved if best is None else self.run.out / "checkpoints" / f"step-{best:06d}"
            card["step"] = int(final.name.removeprefix("step-"))
            card["status"] = "complete"
            # a plateau run's final model is its best checkpoint: publish it (whose optimizer state no one resumes)
            checkpoint.publish(self.run.out, final, card, with_state=final == last_saved)
            shutil.rmtree(final)  # its copy is the run folder itself now
            if getattr(config, "curve_size", 0):  # the readings come from the curve files: no checkpoint is read
                shutil.rmtree(self.run.out / "checkpoints", ignore_errors=True)
        barrier(self.run.dist)
        return card


def heldout_loss(model, examples: Sequence[Example], pad_id: int, batch_size: int = 64, images=None) -> float:
    """Mean next-token cross-entropy over the examples' target tokens."""
    import torch

    device = next(model.parameters()).device
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            batch = {k: v.to(device) for k, v in collate(chunk, pad_id, images).items()}
            total += float(token_loss_sum(model, batch))
            count += sum(predicted_targets(e) for e in chunk)
    return total / max(count, 1)
