"""One run on several processes, started by torchrun (or srun running torchrun): PyTorch's own engine,
torch.distributed, with NCCL between GPUs and gloo on CPUs. With one process every function here is the
identity, so the loop reads the same either way (torchrun with one process joins a group of one, and
exchanges nothing).

What a run on N processes promises, and how:

- **The same run whatever N.** Every process builds G and D from the same seed and draws the same random
  numbers; `train.batch_size` is the global batch, and each process keeps its 1/N slice of everything drawn
  per sample: of the data's seeded batches (`shard_batches`), of z and the fake labels, and of the
  regularisers' per-sample draws (`per_sample`). The gradients are averaged over the processes before each
  update (`average`), so for losses that are means over samples the N processes together compute
  one process's step at the same global batch. What is computed over a batch stays per process: batch
  norm's statistics (or `train.sync_batchnorm=true` on CUDA), the relativistic losses' mean scores, DRAGAN's
  batch standard deviation. Batch norm's running statistics (G's, D's and the moving average's) are averaged
  over the processes before every checkpoint, evaluation and picture, so the state written and measured is one
  well-defined state, whichever process writes it.
- **Gradients are averaged by hand**, one all-reduce of all of a network's gradients per update, as
  stylegan2-ada does, not by DistributedDataParallel: DDP's reducer fires on the first backward, which a
  gradient penalty's double backward (create_graph) and G's loss through a frozen D both upset. Every process
  then takes the same optimiser step on the same weights, so parameters, optimiser state, spectral norm's
  power-iteration vectors and the moving average stay identical without being sent (`check_identical`
  verifies it at every checkpoint).
- **Process 0 alone writes** the run directory, checkpoints, pictures and the W&B run; the others compute.
  The training statistics are averaged over the processes at each log row; the metrics' samples are shared
  out (each process generates and embeds its part, the features are gathered) and process 0's values decide.
- **Stopping is agreed.** A stop signal on any process stops all at the same step (one integer all-reduced
  on the CPU per step), a divergence on any process is seen by all at the next log row, and a process that
  dies or hangs makes the others' next collective fail (a closed connection, or `train.collective_timeout_s`),
  which ends them with `PeerLost` (the last checkpoint is kept).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from gan_runner.errors import UserError


class PeerLost(Exception):
    """A collective failed: another process of the run crashed, was killed, or hangs past the timeout."""


def active() -> bool:
    """Joined to other processes: the collectives below exchange something."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """The process that writes: process 0, or the only one."""
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def join(device: str, timeout_s: float) -> None:
    """Joins the run's processes (torchrun's environment variables say where they meet), once; called only in a
    process that torchrun started (gan-run asks gan_runner.study.placement.launched_by_torchrun). Each process
    drives one device: with CUDA (device auto or cuda) the GPU numbered LOCAL_RANK on its node, collectives of
    CUDA tensors by NCCL and of CPU tensors by gloo; on the CPU, gloo alone."""
    if dist.is_initialized():
        return
    if device not in ("auto", "cuda", "cpu"):
        raise UserError(f"train.device={device} under torchrun: each process takes the GPU numbered by its "
                        "LOCAL_RANK. Fix: train.device=auto (or cuda, or cpu), and choose the GPUs with "
                        "CUDA_VISIBLE_DEVICES.")
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        if local_rank() >= torch.cuda.device_count():
            raise UserError(f"This process has LOCAL_RANK {local_rank()}, but the node has "
                            f"{torch.cuda.device_count()} GPU(s). Fix: torchrun --nproc_per_node at most the "
                            "number of GPUs per node (one process per GPU).")
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend="cpu:gloo,cuda:nccl" if use_cuda else "gloo",
                            timeout=timedelta(seconds=float(timeout_s)))


def leave() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _collective(operation: Callable[[], Any]) -> Any:
    """Runs a collective; a peer that vanished or a timeout becomes PeerLost, one paragraph for the user."""
    try:
        return operation()
    except (RuntimeError, dist.DistError) as error:
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        # gloo's "[.../pair.cc:545] Read error ...: Connection reset by peer. This is typically ...": the middle
        first_line = re.sub(r"\[[^\]]*\.(?:cc|cpp|h):\d+\]\s*", "", text).split(". ")[0]
        raise PeerLost(f"Process {rank()} of {size()} lost contact with the run's other processes ({first_line}): "
                       "another process crashed, was killed or hangs (train.collective_timeout_s sets how long "
                       "a process waits).") from None


def check_batch_size(batch_size: int) -> None:
    if batch_size % size():
        raise UserError(f"train.batch_size={batch_size} is the global batch, split evenly over the run's {size()} "
                        f"processes, and {size()} does not divide it. Fix: a multiple of {size()}, e.g. "
                        f"train.batch_size={max(size(), batch_size // size() * size())}, or another "
                        "--nproc_per_node.")


def share(global_count: int, key: str) -> int:
    """This process's share of a global count of samples, which the process count must divide."""
    if global_count % size():
        raise UserError(f"{key}={global_count} is split evenly over the run's {size()} processes, and {size()} does "
                        f"not divide it. Fix: a multiple of {size()}, or another --nproc_per_node.")
    return global_count // size()


def rows(n: int) -> tuple[int, int]:
    """This process's contiguous share [start, stop) of n rows: equal shares, the first n mod N one row more."""
    base, extra = divmod(n, size())
    start = rank() * base + min(rank(), extra)
    return start, start + base + (rank() < extra)


def shard(tensor: torch.Tensor | None) -> torch.Tensor | None:
    """This process's rows of a global batch (whose size the process count divides)."""
    if tensor is None or not active():
        return tensor
    start, stop = rows(len(tensor))
    return tensor[start:stop]


def shard_batches(batches: Iterator[tuple[torch.Tensor, torch.Tensor | None]]
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """This process's slice of each global batch of the dataset's seeded order: the order does not depend on
    the number of processes."""
    for x, y in batches:
        yield shard(x), shard(y)


def per_sample(draw: Callable[..., torch.Tensor], shape: Sequence[int], **kwargs: Any) -> torch.Tensor:
    """`draw(shape, **kwargs)` for this process's `shape[0]` samples, cut from the values drawn for the whole
    batch: every process draws the global batch's numbers (the same on each), so a sample gets the same value
    with any number of processes."""
    if not active():
        return draw(tuple(shape), **kwargs)
    whole = draw((shape[0] * size(), *shape[1:]), **kwargs)
    return whole[rank() * shape[0]:(rank() + 1) * shape[0]]


def average(tensors: list[torch.Tensor]) -> None:
    """Each tensor becomes its mean over the processes, in place: one all-reduce of them all, flattened (each
    update's gradients; batch norm's running statistics before a checkpoint, an evaluation or a picture)."""
    if not active() or not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    _collective(lambda: dist.all_reduce(flat))
    flat /= size()
    offset = 0
    for tensor in tensors:
        tensor.copy_(flat[offset:offset + tensor.numel()].view_as(tensor))
        offset += tensor.numel()


def mean_over_ranks(values: torch.Tensor) -> torch.Tensor:
    if not active():
        return values
    values = values.clone()
    _collective(lambda: dist.all_reduce(values))
    return values / size()


def min_over_ranks(value: torch.Tensor) -> torch.Tensor:
    if not active():
        return value
    value = value.clone()
    _collective(lambda: dist.all_reduce(value, op=dist.ReduceOp.MIN))
    return value


def max_over_ranks(value: int) -> int:
    """The largest of an integer that each process holds (on the CPU: no GPU synchronisation)."""
    if not active():
        return value
    tensor = torch.tensor([value], dtype=torch.int64)
    _collective(lambda: dist.all_reduce(tensor, op=dist.ReduceOp.MAX))
    return int(tensor.item())


def from_main(value: Any) -> Any:
    """Process 0's `value` on every process (a picklable object): decisions such as a new best stay the same
    everywhere even where the processes' arithmetic differs in the last bit."""
    if not active():
        return value
    box = [value]
    _collective(lambda: dist.broadcast_object_list(box, src=0))
    return box[0]


def gather_rows(array: np.ndarray | None) -> np.ndarray | None:
    """Every process's rows (its `rows` share) of an array, concatenated in process order: the whole array,
    on every process."""
    if array is None or not active():
        return array
    parts = [None] * size()
    _collective(lambda: dist.all_gather_object(parts, array))
    return np.concatenate(parts)


def gather_objects(value: Any) -> list[Any]:
    """Every process's `value` (a picklable object), in process order, on every process: [value] with one."""
    if not active():
        return [value]
    parts = [None] * size()
    _collective(lambda: dist.all_gather_object(parts, value))
    return parts


def check_identical(models: dict[str, nn.Module]) -> None:
    """Raises RuntimeError naming the first tensor in which the processes' parameters or buffers differ: averaging
    the gradients keeps the parameters equal, and the running statistics are averaged before each checkpoint, so a
    difference is a bug (or a random draw that one process made and another did not)."""
    if not active():
        return
    named = [(f"{model_name}.{name}", t) for model_name, model in models.items()
             for name, t in (*model.named_parameters(), *model.named_buffers())]
    local = torch.stack([t.detach().double().sum() for _, t in named] +
                        [t.detach().double().abs().sum() for _, t in named]).cpu()
    gathered = [torch.empty_like(local) for _ in range(size())]
    _collective(lambda: dist.all_gather(gathered, local))
    differing = [index % len(named) for other in gathered[1:] for index in (gathered[0] != other).nonzero().flatten()]
    if differing:
        raise RuntimeError(f"the processes' networks differ (first in {named[min(differing)][0]}); every process "
                           "must take the same steps from the same weights (please report this with the command line)")


def sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` with its batch norms computing statistics over the global batch (torch.nn.SyncBatchNorm, which
    runs on GPUs only)."""
    if not active():
        return model
    if device.type != "cuda":
        raise UserError("train.sync_batchnorm=true needs CUDA: PyTorch's SyncBatchNorm does not run on the CPU. "
                        "Fix: train.sync_batchnorm=false (each process's batch norm sees its share of the batch), "
                        "or run on GPUs.")
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)
