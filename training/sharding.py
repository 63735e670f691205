"""How the trainer spreads one model over several processes: replicated (DDP) or sharded (FSDP2).

* **DDP** (the default under a launcher): every process holds the whole model, gradients are
  all-reduced. Fine while the model, its gradients and AdamW's two moments fit one device.
* **FSDP2** (`--set fsdp=true`): `torch.distributed.fsdp.fully_shard` splits every parameter,
  its gradient and its optimizer state across the processes (dim-0 shards, DTensors). Each
  decoder layer is one unit: its full weights are all-gathered just before its forward (and again
  for its backward) and freed after, and its gradients are reduce-scattered, so a process holds
  1/N of the model plus one layer at a time. The loss, batches and the trainer's gradient scaling
  are the same as DDP's, so N sharded processes train like 1 process on the same global batch.

Checkpoints stay ordinary: on save every process takes part in gathering the full weights and
the full optimizer state (`torch.distributed.checkpoint.state_dict`), and rank 0 writes the same
HF folder and training state a single process writes. A resume loads the full weights before
sharding and hands each process its shard of the optimizer state.

Launch it as any torch distributed job, e.g. 4 GPUs on one machine:

    torchrun --nproc_per_node 4 -m tsft train sft --base B --data D --out O --set fsdp=true
    accelerate launch --num_processes 4 -m tsft train sft --base B --data D --out O --set fsdp=true
"""

from __future__ import annotations

from contextlib import contextmanager

from tsft.models.architectures import decoder_layers, is_sharded
from tsft.training.distributed import Dist


def wrap(model, dist: Dist, device: str, fsdp: bool):
    """The module to train: `model` itself (one process), sharded in place (FSDP2) or wrapped in DDP."""
    if dist.world == 1:
        return model
    if fsdp:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh("cuda" if device.startswith("cuda") else "cpu", (dist.world,))
        for layer in decoder_layers(model):
            fully_shard(layer, mesh=mesh)
        fully_shard(model, mesh=mesh)
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [int(device.split(":")[1])] if device.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=ids)


@contextmanager
def gradient_sync(wrapped, sync: bool):
    """Inside: backward passes accumulate locally (sync=False) or reduce across processes (sync=True)."""
    if not sync and is_sharded(wrapped):
        wrapped.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            wrapped.set_requires_gradient_sync(True)
    elif not sync and hasattr(wrapped, "no_sync"):  # DDP
        with wrapped.no_sync():
            yield
    else:
        yield


def local(tensor):
    """This process's part of a parameter or gradient (the tensor itself when not sharded)."""
    return tensor.to_local() if hasattr(tensor, "to_local") else tensor


def as_float(value) -> float:
    """A scalar that may be a DTensor (a sharded gradient norm) as a Python float."""
    return float(value.full_tensor() if hasattr(value, "full_tensor") else value)


def all_finite(params) -> bool:
    """Every process's shard is finite (a collective when sharded: all ranks must call it)."""
    import torch

    finite = all(bool(torch.isfinite(local(p)).all()) for p in params)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        flag = torch.tensor([0.0 if finite else 1.0], device=local(params[0]).device)
        torch.distributed.all_reduce(flag)
        finite = float(flag) == 0.0
    return finite


_FULL = dict(full_state_dict=True, cpu_offload=True)


def full_states(model, optimizer) -> tuple[dict | None, dict]:
    """(full model state dict or None when not sharded, full optimizer state in `optimizer.state_dict()` form).

    Sharded: a collective; rank 0 gets the tensors, the other ranks empty dicts. The optimizer state
    comes back keyed by parameter name; it is renumbered (0, 1, ... in the order of its param groups)
    and the names kept in each group's `names`, so the file has the single-process layout."""
    if not is_sharded(model):
        return None, optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict

    options = StateDictOptions(**_FULL)
    weights = _untied(model, get_model_state_dict(model, options=options))
    named = get_optimizer_state_dict(model, optimizer, options=options)
    if not named:
        return weights, {"state": {}, "param_groups": []}
    order = [name for group in named["param_groups"] for name in group["params"]]
    index = {name: i for i, name in enumerate(order)}
    groups = [{**group, "params": [index[n] for n in group["params"]], "names": list(group["params"])}
              for group in named["param_groups"]]
    return weights, {"state": {index[n]: entry for n, entry in named["state"].items()}, "param_groups": groups}


def _untied(model, weights: dict) -> dict:
    """Without the output head's copy of tied input embeddings (a single process's save leaves it out too)."""
    config = getattr(model, "config", None)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if not getattr(config, "tie_word_embeddings", False) or head is None:
        return weights
    name = next(name for name, module in model.named_modules() if module is head)
    return {k: v for k, v in weights.items() if k != f"{name}.weight"}


def load_optimizer_state(model, optimizer, state: dict) -> None:
    """Restore a full optimizer state (single-process layout) into a plain or a sharded optimizer."""
    if not is_sharded(model):
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    names = [name for group in state["param_groups"] for name in group["names"]]
    groups = [{k: v for k, v in group.items() if k != "names"} | {"params": list(group["names"])}
              for group in state["param_groups"]]
    named = {"state": {names[i]: entry for i, entry in state["state"].items()}, "param_groups": groups}
    set_optimizer_state_dict(model, optimizer, named, options=StateDictOptions(full_state_dict=True))
