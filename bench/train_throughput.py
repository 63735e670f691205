"""Training throughput: tsft's trainer against a plain transformers + torch loop, same process.

Both train copies of the same random `small` Llama on the same batches of theorem-target
examples (fp32 on CPU, bf16 autocast on GPU), with AdamW and gradient clipping. The plain loop is
what a researcher would write: collate, `model(..., labels=...)`, backward, clip, step. Rounds
alternate between the two so machine noise hits both alike. The last line is the ratio:

    trainer/plain tokens/s: 1.02x

Usage: python bench/train_throughput.py [--preset small] [--steps 16] [--rounds 4] [--batch 16]
(GPU: --preset base or --shape llama-1b for a Llama-3.2-1B-shaped random model.)
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import torch
from tsft.models.loading import build_model, reference_shape
from tsft.models.tokenizer import world_tokenizer
from tsft.tasks.world.generate import WorldConfig, generate_split
from tsft.training.batches import BatchPlan, collate
from tsft.training.config import SFTConfig
from tsft.training.distributed import Dist
from tsft.training.sft import encode_problems
from tsft.training.trainer import Run, Trainer


def plain_steps(model, optimizer, examples, plan, pad_id, steps, start, device, precision) -> tuple[int, float]:
    tokens, begin = 0, time.perf_counter()
    for step in range(start, start + steps):
        batch = {k: v.to(device) for k, v in collate([examples[i] for i in plan.batch(step)], pad_id).items()}
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
    if device != "cpu":
        torch.cuda.synchronize()
    return tokens, time.perf_counter() - begin


def trainer_steps(trainer, steps) -> tuple[int, float]:
    tokens, begin = 0, time.perf_counter()
    for _ in range(steps):
        tokens += trainer.train_step()[1]
    if trainer.run.device != "cpu":
        torch.cuda.synchronize()
    return tokens, time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="small")
    parser.add_argument("--shape", default=None, help="llama-1b: a Llama-3.2-1B-shaped random model")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    precision = "bf16" if device == "cuda" else "fp32"
    tokenizer = world_tokenizer(sample=200)
    problems = generate_split(WorldConfig(seed=1), "train", 400)
    examples = encode_problems(problems, tokenizer, "theorem", 512, "bench")
    model = reference_shape(args.shape, tokenizer) if args.shape else build_model(args.preset, tokenizer)
    plain_model = copy.deepcopy(model).to(device).train()
    plain_optimizer = torch.optim.AdamW(plain_model.parameters(), lr=1e-4, betas=(0.9, 0.95))
    config = SFTConfig(steps=10**6, batch_size=args.batch, micro_batch_size=args.batch, lr=1e-4,
                       precision=precision, save_every=10**6, eval_every=0)
    with tempfile.TemporaryDirectory() as out:
        run = Run(model=model, tokenizer=tokenizer, examples=examples, out=Path(out), card={}, dist=Dist(),
                  device=device, progress=False)
        trainer = Trainer(run, config)
        plan = BatchPlan([len(e.ids) for e in examples], args.batch, config.seed)
        plain = (plain_model, plain_optimizer, examples, plan, tokenizer.pad_token_id)
        plain_steps(*plain, 2, 0, device, precision)  # warm up
        trainer_steps(trainer, 2)
        totals = {"trainer": [0, 0.0], "plain": [0, 0.0]}
        for r in range(args.rounds):
            start = 2 + r * args.steps
            for name in (("trainer", "plain") if r % 2 == 0 else ("plain", "trainer")):
                if name == "plain":
                    t, s = plain_steps(*plain, args.steps, start, device, precision)
                else:
                    t, s = trainer_steps(trainer, args.steps)
                totals[name][0] += t
                totals[name][1] += s
    rates = {k: t / s for k, (t, s) in totals.items()}
    params = sum(p.numel() for p in model.parameters())
    print(f"device {device}, {params / 1e6:.1f}M parameters, batch {args.batch}, {precision}: "
          f"trainer {rates['trainer']:.0f} tokens/s, plain {rates['plain']:.0f} tokens/s")
    print(f"trainer/plain tokens/s: {rates['trainer'] / rates['plain']:.2f}x")


if __name__ == "__main__":
    main()
