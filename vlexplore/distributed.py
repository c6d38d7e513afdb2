"""More than one process: ``torchrun --nproc-per-node N -m vlexplore diagnose ...``.

A dataset run is cut into windows of phrases (``vlexplore.batching``); window i runs on
rank i mod N, each rank forming exactly the batches a single process would form, and rank 0
gathers every window's rows (``torch.distributed.gather_object``) and yields them in dataset
order. So N processes write what one process writes, and only rank 0 writes. Each rank
reads the dataset itself (examples are cheap next to a forward pass) and prepares only its
own windows. CUDA ranks talk over NCCL, each on GPU ``LOCAL_RANK``; CPU ranks over gloo.
May import: batching, models.common (never the engine, views, app or cli).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import torch
import torch.distributed as dist

from .batching import windows
from .models.common import resolve_device

__all__ = ["init_from_environment", "is_sharded", "rank", "map_windows", "shutdown"]

Item = TypeVar("Item")
Result = TypeVar("Result")


def init_from_environment(device: str | torch.device = "auto") -> torch.device:
    """Join torchrun's process group when started by it; this process's device either way.

    Outside torchrun (no WORLD_SIZE > 1 in the environment) this only resolves ``device``.
    """
    resolved = resolve_device(device, "device")
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return resolved
    if resolved.type == "cuda":
        resolved = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(resolved)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo")
    return resolved


def is_sharded() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 when not sharded)."""
    return dist.get_rank() if is_sharded() else 0


def map_windows(
    stream: Iterable[list[Item]],
    run: Callable[[list[Item]], list[Result]],
    on_remote: Callable[[int], None] | None = None,
) -> Iterator[Result]:
    """``run`` each window on its rank; rank 0 yields all results in order, the others none.

    Every rank must iterate the same ``stream``. ``on_remote`` is told, on rank 0, how many
    results each other rank's window brought (for a progress bar).
    """
    me, size = dist.get_rank(), dist.get_world_size()
    for round_ in windows(stream, size):  # one window per rank, the last round maybe fewer
        mine = run(round_[me]) if me < len(round_) else []
        gathered: list | None = [None] * size if me == 0 else None
        dist.gather_object(mine, gathered, dst=0)
        if me == 0:
            for sender, part in enumerate(gathered):
                if sender and on_remote is not None:
                    on_remote(len(part))
                yield from part


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
