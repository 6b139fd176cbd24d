"""Process-group state for multi-process training: the only module that reads torchrun's environment.

A run launched by ``torchrun --nproc-per-node N -m edgecv compress recipe.yaml`` (or ``edgecv compress
--nproc-per-node N``) has ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` set; :func:`session` joins the process group
(NCCL on CUDA, Gloo on the CPU) and leaves it. Without those variables, or with ``WORLD_SIZE=1``, nothing here
starts a process group and every helper is a no-op: a single process stays the default path.

Example::

    with session():                        # no-op in a single process
        if is_main():
            ...                            # only rank 0 writes the run folder
        state = broadcast_object(state)    # every rank gets rank 0's value
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

WAIT_HOURS = 12.0
"""How long a rank waits in a collective (e.g. workers while rank 0 exports and validates); ``EDGECV_DIST_WAIT_HOURS``
overrides it. A crashed rank does not wait this long: torchrun stops every rank when one exits with an error."""


def requested() -> bool:
    """Whether this process was started by torchrun for more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """Whether a process group with more than one process is running."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's global rank (0 in a single process)."""
    import torch.distributed as dist

    return dist.get_rank() if active() else 0


def world_size() -> int:
    """How many processes train together (1 in a single process)."""
    import torch.distributed as dist

    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0: the one process that writes the run folder, manifest and reports."""
    return rank() == 0


def backend() -> str:
    """``nccl`` on CUDA, ``gloo`` on the CPU."""
    return "nccl" if torch.cuda.is_available() else "gloo"


def device() -> torch.device:
    """This rank's device: its local GPU (``LOCAL_RANK``) when there are GPUs, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) if active() else torch.cuda.current_device())
    return torch.device("cpu")


@contextlib.contextmanager
def session() -> Iterator[None]:
    """Join the process group torchrun describes (no-op in a single process) and leave it afterwards."""
    import torch.distributed as dist

    if not requested() or dist.is_initialized():
        yield
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    hours = float(os.environ.get("EDGECV_DIST_WAIT_HOURS", WAIT_HOURS))
    dist.init_process_group(backend(), timeout=datetime.timedelta(hours=hours))
    try:
        yield
    finally:
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    import torch.distributed as dist

    if active():
        dist.barrier()


def broadcast_object(value: Any = None, src: int = 0) -> Any:
    """Rank ``src``'s picklable ``value`` on every rank (``value`` is ignored elsewhere)."""
    import torch.distributed as dist

    if not active():
        return value
    box = [value if rank() == src else None]
    dist.broadcast_object_list(box, src=src, device=device() if backend() == "nccl" else None)
    return box[0]


def gather_objects(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank."""
    import torch.distributed as dist

    if not active():
        return [value]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, value)
    return out


def broadcast_module(module: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers into ``module`` on every rank, in place (same architecture)."""
    import torch.distributed as dist

    if not active():
        return
    with torch.no_grad():
        for tensor in module.state_dict().values():
            if isinstance(tensor, torch.Tensor):
                dist.broadcast(tensor.data, src=src)


def average_gradients(modules: list[nn.Module]) -> None:
    """Average the gradients of ``modules`` over every rank (modules outside DDP, e.g. distillation adapters)."""
    import torch.distributed as dist

    if not active():
        return
    for module in modules:
        for p in module.parameters():
            if p.requires_grad:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
                p.grad /= world_size()


def digest(module: nn.Module) -> str:
    """sha256 (12 hex digits) of a module's parameters and buffers: equal weights give equal digests."""
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        if isinstance(tensor, torch.Tensor):
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:12]


def shard(loader: Any, seed: int) -> Any:
    """``loader`` rebuilt to read this rank's share through a DistributedSampler (shuffled, seeded per epoch with
    ``sampler.set_epoch``); the same dataset, batch size, collate and workers."""
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler

    sampler = DistributedSampler(loader.dataset, num_replicas=world_size(), rank=rank(), shuffle=True, seed=seed)
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler, num_workers=loader.num_workers,
                      collate_fn=loader.collate_fn)


def wrap(model: nn.Module, extra_modules: list[nn.Module], sync_batchnorm: bool) -> nn.Module:
    """``model`` in DistributedDataParallel (rank 0's weights on every rank), ``extra_modules`` set to rank 0's
    weights (their gradients are averaged by :func:`average_gradients`); SyncBatchNorm first when asked."""
    from torch.nn.parallel import DistributedDataParallel

    from edgecv.errors import UnsupportedError

    here = device()
    if sync_batchnorm:
        if here.type != "cuda":
            raise UnsupportedError("sync_batchnorm: true needs GPUs (torch's SyncBatchNorm does not run on the CPU); "
                                   "set it false for Gloo/CPU runs")
        nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for module in extra_modules:
        broadcast_module(module)
    return DistributedDataParallel(model, device_ids=[here.index] if here.type == "cuda" else None)


def unwrap_sync_batchnorm(model: nn.Module) -> int:
    """Turn SyncBatchNorm layers back into BatchNorm2d (same statistics and weights); how many were turned."""
    turned = 0
    for name, child in list(model.named_children()):
        if isinstance(child, nn.SyncBatchNorm):
            plain = nn.BatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                   child.track_running_stats).to(next(child.buffers(), torch.empty(0)).device)
            plain.load_state_dict(child.state_dict())
            setattr(model, name, plain)
            turned += 1
        else:
            turned += unwrap_sync_batchnorm(child)
    return turned


def peer_lost(exc: BaseException) -> bool:
    """Whether ``exc`` is this rank losing contact with another one (which failed or was stopped)."""
    import torch.distributed as dist

    if not active():
        return False
    text = str(exc)
    return isinstance(exc, getattr(dist, "DistError", ())) or any(
        marker in text for marker in ("Connection reset by peer", "Connection closed by peer", "NCCL communicator")
    )
