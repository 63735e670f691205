"""SFT speed on the real model: tsft's trainer against a plain HF loop and TRL's SFTTrainer, SmolLM2-135M.

All three train copies of SmolLM2-135M-Instruct on the same theorem-target examples of the
synthetic world (chat template, no system prompt, loss on the assistant's tokens only), in the
same global batches and order, with AdamW, clipping at 1.0 and bf16 autocast on the CPU:

* plain - what a researcher writes: collate (right padding), `model(**batch, labels=...)` (HF's
  loss over the full logits), backward, clip, `AdamW.step`.
* trl   - `trl.SFTTrainer` on prompt/completion pairs (completion-only loss), bf16, the same
  examples in the same order (its sampler replaced by a sequential one).
* tsft  - `training.trainer.Trainer`: length-grouped micro-batches, the LM head only at positions
  whose next token is a target, the cross-entropy read in bf16, fused AdamW, and each decoder
  layer and the loss compiled (training.compiling; the compile is in the warm-up step, off the clock).

Rounds alternate so machine noise hits all alike. MFU = 6 x parameters x tokens/s over the
bf16 matmul rate measured here (a 2048^3 matmul on the same threads). The last line:

    vs_plain_bf16=<r>x vs_trl=<r>x mfu=<p>%

Needs the model in tsft's cache (`tsft models get smollm2-135m-instruct`) and `pip install trl`.
Usage: python bench/real_sft.py [--steps 4] [--rounds 3] [--batch 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import torch
from tsft.models.loading import load_model
from tsft.models.prompts import PromptFormat, prompt_text, set_prompt_format
from tsft.models.registry import get_model
from tsft.models.targets import render_target
from tsft.tasks.world.generate import WorldConfig, generate_split
from tsft.training.batches import BatchPlan, collate
from tsft.training.config import SFTConfig
from tsft.training.distributed import Dist
from tsft.training.sft import encode_problems
from tsft.training.trainer import Run, Trainer


def matmul_peak(threads: int, rounds: int = 3) -> float:
    """bf16 FLOP/s of a 2048^3 matmul on this machine's threads (the MFU denominator): the best of `rounds`, so
    a moment of load elsewhere on the machine lowers it less."""
    a = torch.randn(2048, 2048, dtype=torch.bfloat16)
    a @ a
    best = 0.0
    for _ in range(rounds):
        start, n = time.perf_counter(), 10
        for _ in range(n):
            a @ a
        best = max(best, 2 * 2048 ** 3 * n / (time.perf_counter() - start))
    return best


def mfu_text(rate_flops: float, peak_before: float, peak_after: float) -> str:
    """MFU over the higher of the peaks measured before and after the timed loops; over 100% it is not printed as
    a number (the peak was measured under load, which makes the ratio meaningless)."""
    peak = max(peak_before, peak_after)
    mfu = rate_flops / peak
    if mfu > 1.0:
        return (f"mfu=n/a (the peak, {peak / 1e12:.2f} TFLOP/s, was measured under load: it fell below the "
                "training rate)")
    return f"mfu={100 * mfu:.1f}%"


class PlainLoop:
    def __init__(self, model, examples, pad_id):
        self.model, self.examples, self.pad_id = model.train(), examples, pad_id
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.95))

    def step(self, indices) -> int:
        batch = collate([self.examples[i] for i in indices], self.pad_id)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = self.model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return int(batch["attention_mask"].sum())


class TRLLoop:
    """trl.SFTTrainer driven one optimizer step at a time over the plan's batches, in order."""

    def __init__(self, model, tokenizer, problems, order, batch, out):
        import datasets
        import trl
        from torch.utils.data import SequentialSampler

        rows = [{"prompt": prompt_text(problems[i], tokenizer),
                 "completion": render_target(problems[i], "theorem").lstrip() + tokenizer.eos_token} for i in order]
        config = trl.SFTConfig(output_dir=out, per_device_train_batch_size=batch, learning_rate=1e-5,
                               max_steps=len(order) // batch, bf16=True, use_cpu=True, report_to="none",
                               save_strategy="no", logging_strategy="no", completion_only_loss=True,
                               max_grad_norm=1.0, adam_beta2=0.95, lr_scheduler_type="constant",
                               dataloader_num_workers=0, disable_tqdm=True)

        class InOrder(trl.SFTTrainer):
            def _get_train_sampler(self, *args, **kwargs):
                return SequentialSampler(self.train_dataset)

        self.trainer = InOrder(model=model, args=config, train_dataset=datasets.Dataset.from_list(rows),
                               processing_class=tokenizer)
        self.lengths = [len(tokenizer(r["prompt"] + r["completion"], add_special_tokens=False).input_ids)
                        for r in rows]

    def run(self, on_step) -> None:
        """Train to the end, calling `on_step(tokens)` after every optimizer step."""
        import transformers

        lengths, batch = self.lengths, self.trainer.args.per_device_train_batch_size

        class Timer(transformers.TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                step = state.global_step - 1
                on_step(sum(lengths[step * batch:(step + 1) * batch]))

        self.trainer.add_callback(Timer())
        self.trainer.train()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed optimizer steps per engine and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peak_before = matmul_peak(args.threads)
    model, tokenizer = load_model(get_model("smollm2-135m-instruct", log=lambda _: None))
    set_prompt_format(tokenizer, PromptFormat(system="none"))
    problems = generate_split(WorldConfig(seed=1), "train", 400)
    examples = encode_problems(problems, tokenizer, "theorem", 512, "bench")
    plan = BatchPlan([len(e.ids) for e in examples], args.batch, seed=0)
    n_steps = 1 + args.rounds * args.steps
    batches = [plan.batch(s) for s in range(n_steps)]
    plain = PlainLoop(copy.deepcopy(model), examples, tokenizer.pad_token_id)
    config = SFTConfig(steps=10**6, batch_size=args.batch, micro_batch_size=args.batch, lr=1e-5, warmup_steps=0,
                       precision="bf16", save_every=10**6, eval_every=0)
    params = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory() as out:
        trl_times: list[tuple[float, int]] = []
        trl_loop = TRLLoop(copy.deepcopy(model), tokenizer, problems, [i for b in batches for i in b], args.batch,
                           str(Path(out) / "trl"))
        trainer = Trainer(Run(model=model, tokenizer=tokenizer, examples=examples, out=Path(out), card={},
                              dist=Dist(), progress=False), config)
        model.train()  # as Trainer.fit does
        clock = [time.perf_counter()]

        def trl_step(tokens: int) -> None:
            now = time.perf_counter()
            trl_times.append((now - clock[0], tokens))
            clock[0] = now

        totals = {"tsft": [0, 0.0], "plain": [0, 0.0]}
        plain.step(batches[0]), trainer.train_step()  # warm-up off the clock
        for r in range(args.rounds):
            for name in (("tsft", "plain") if r % 2 == 0 else ("plain", "tsft")):
                start = time.perf_counter()
                tokens = sum(plain.step(b) if name == "plain" else trainer.train_step()[1]
                             for b in batches[1 + r * args.steps:1 + (r + 1) * args.steps])
                totals[name][0] += tokens
                totals[name][1] += time.perf_counter() - start
        clock[0] = time.perf_counter()
        trl_loop.run(trl_step)
    rates = {k: t / s for k, (t, s) in totals.items()}
    timed = trl_times[1:]  # its first step warms up
    rates["trl"] = sum(t for _, t in timed) / sum(s for s, _ in timed)
    peak_after = matmul_peak(args.threads)
    print(f"SmolLM2-135M ({params / 1e6:.0f}M), theorem targets, batch {args.batch}, bf16, {args.threads} threads: "
          f"tsft {rates['tsft']:.0f} tok/s, plain {rates['plain']:.0f} tok/s, TRL {rates['trl']:.0f} tok/s; "
          f"bf16 matmul peak {peak_before / 1e12:.2f} TFLOP/s before, {peak_after / 1e12:.2f} after")
    print(f"vs_plain_bf16={rates['tsft'] / rates['plain']:.2f}x vs_trl={rates['tsft'] / rates['trl']:.2f}x "
          f"{mfu_text(6 * params * rates['tsft'], peak_before, peak_after)}")


if __name__ == "__main__":
    main()
