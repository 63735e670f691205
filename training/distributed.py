"""Process-group helpers: the same code runs as 1 process or under `torchrun` / `accelerate launch`.

`--device cpu` keeps a CUDA machine's run on the CPU; `--device cuda` where torch has no CUDA is
refused in one line. Both launchers set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; `init()` joins the
group they describe (gloo on CPU, nccl on GPU) and pins each process to its own GPU. Gradients are
averaged by DDP; the trainer scales each process's loss by WORLD_SIZE / (target tokens in the
global batch), so N processes compute exactly the gradient of one process on the same batch.

Threads: two torch processes at default threads oversubscribe a small CPU and run 20-60x slower (each
spins one OpenMP thread per core, and they fight over the same cores), so under a launcher each process
takes cpu_count // local_world_size threads unless told otherwise; a single process keeps the thread count
it has.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "auto"
    """auto (this process's GPU when torch has CUDA, else the CPU) | cpu | cuda."""

    @property
    def main(self) -> bool:
        return self.rank == 0


def init(threads: int | None = None, device: str = "auto") -> Dist:
    """Join the launcher's process group (if any) on `device`; a device torch cannot use is one clear error."""
    import torch

    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; use {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"cuda requested but torch has no CUDA here (torch {torch.__version__}); use --device cpu")
    dist = Dist(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                int(os.environ.get("LOCAL_RANK", 0)), device)
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", dist.world))
    if threads or local_world > 1:  # one process alone keeps torch's (or the caller's) setting
        torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // local_world))
    if dist.world > 1 and not torch.distributed.is_initialized():
        on_gpu = device_for(dist).startswith("cuda")
        if on_gpu:
            torch.cuda.set_device(dist.local_rank)
        torch.distributed.init_process_group("nccl" if on_gpu else "gloo")
    return dist


def device_for(dist: Dist) -> str:
    import torch

    return f"cuda:{dist.local_rank}" if dist.device != "cpu" and torch.cuda.is_available() else "cpu"


def all_sum(value: float, dist: Dist) -> float:
    if dist.world == 1:
        return value
    import torch

    tensor = torch.tensor([value], dtype=torch.float64)
    if device_for(dist).startswith("cuda"):  # nccl reduces GPU tensors only
        tensor = tensor.cuda()
    torch.distributed.all_reduce(tensor)
    return float(tensor.item())


def broadcast_object(value, dist: Dist):
    """Rank 0's `value` on every process (a decision only the main process can make, such as stopping)."""
    if dist.world == 1:
        return value
    import torch

    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def barrier(dist: Dist) -> None:
    if dist.world > 1:
        import torch

        torch.distributed.barrier()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (LoRA initialisation and anything else drawing from them)."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
