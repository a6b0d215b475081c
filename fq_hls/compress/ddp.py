"""DistributedDataParallel plumbing for fine-tuning: torchrun environment, process group, reductions, and a
CPU launcher (gloo) used by the tests and for multi-process runs without torchrun."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False  # we called init_process_group, so cleanup() destroys it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def env_world_size() -> int:
    """WORLD_SIZE as set by torchrun (1 when not launched by it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup(device: str = "cpu") -> DistInfo:
    """Join the process group when launched with WORLD_SIZE > 1 (gloo on CPU, nccl on CUDA).

    On CUDA each process uses cuda:LOCAL_RANK; `device` "cuda" or "cuda:N" both mean that."""
    world = env_world_size()
    dev = torch.device(device)
    if world <= 1:
        return DistInfo(0, 1, 0, dev)
    local = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    owns = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", init_method="env://")
        owns = True
    return DistInfo(dist.get_rank(), dist.get_world_size(), local, dev, owns)


def cleanup(info: DistInfo) -> None:
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_reduce_sum(values: list[float], info: DistInfo) -> list[float]:
    """Element-wise sum of a few floats over all ranks (float64)."""
    if not info.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64,
                     device=info.device if info.device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return t.tolist()


def wrap(model: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """DistributedDataParallel without per-forward buffer broadcasts (the quantizers' layer-sized buffers are
    identical on every rank by construction; see sync_buffers for the rest)."""
    import inspect

    from torch.nn.parallel import DistributedDataParallel as DDP

    kw = {"device_ids": [info.device.index] if info.device.type == "cuda" else None}
    if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters:
        kw["forward_sync_buffers"] = False
    else:
        kw["broadcast_buffers"] = False
    return DDP(model, **kw)


def sync_quantizers(qlayers: dict, info: DistInfo) -> None:
    """Broadcast rank 0's quantizer state (fit, components, INQ selection) to all ranks. Every rank computes
    the same state from the same weights and seeds; this makes it exact even where a device's reductions
    are not bit-reproducible."""
    if not info.distributed:
        return
    for q in qlayers.values():
        for b in q.buffers():
            dist.broadcast(b, 0)
        q.sync_state()


def sync_buffers(model: torch.nn.Module, info: DistInfo, skip: set[int] = frozenset()) -> None:
    """Broadcast rank 0's buffers (BatchNorm running statistics) to all ranks; `skip` holds ids of buffers
    that need no sync. Same end state as DDP's default per-forward broadcast, at one broadcast per epoch."""
    if not info.distributed:
        return
    for b in model.buffers():
        if id(b) not in skip:
            dist.broadcast(b, 0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, fn: Callable, world_size: int, port: int, args: tuple) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": str(world_size),
                       "RANK": str(rank), "LOCAL_RANK": str(rank)})
    fn(rank, *args)


def spawn_local(fn: Callable, world_size: int, args: tuple = ()) -> None:
    """Run fn(rank, *args) in `world_size` fresh processes with the torchrun environment set (single host).

    `fn` must be importable (a module-level function). Raises if any rank fails."""
    import torch.multiprocessing as mp

    mp.spawn(_entry, args=(fn, world_size, free_port(), args), nprocs=world_size, join=True)
