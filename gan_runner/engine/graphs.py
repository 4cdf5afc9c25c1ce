"""train.cuda_graph: the whole training step (n_critic D updates and the G update) recorded once as a CUDA graph
and replayed, so that a step costs the GPU one launch instead of hundreds. Small GANs on a GPU are bound by the
host: DCGAN at 32x32 spends 1.2 ms of an 8.6 ms step in kernels on an H100, the rest in Python calling
operators and launching their kernels one by one (docs/gpu.md).

How (PyTorch's "whole network capture"): the first WARMUP steps of each phase run eagerly, on a side stream
(cuDNN picks its algorithms, the optimisers make their state); then the step is recorded with its inputs in
buffers of its own. Each later step draws its batches as an eager step would (the data's order, z and labels
from the same RNG, so a run without random draws inside the step trains as the eager one does), copies them
into the buffers and replays the graph; the step's statistics are the graph's outputs. The optimisers are
`capturable` (their step counts live on the GPU) and read their learning rates from GPU tensors, which the
schedule fills each step. A lazy regulariser (every = k) makes steps of k kinds: each phase is a graph.

Random draws inside the step (a gradient penalty's interpolation, DRAGAN's perturbation) come from the graph's
own offsets of the same generator: the same distribution, other numbers than an eager run's. What a graph cannot
do is refused before training (gan_runner.engine.build.training_step): fp16 (its loss scaler decides on the host
whether to skip an update), several processes, torch.compile, a regulariser whose work changes from step to
step (instance noise's annealing), the CPU.
"""

from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from gan_runner.engine.step import Stats, TrainingStep, UpdateInputs

WARMUP = 3  # eager steps of each phase before it is recorded (PyTorch's examples warm up with 3)


@dataclass
class Recorded:
    """A recorded step: its graph, the buffers its inputs are copied into, and its statistics (overwritten
    by each replay)."""

    graph: torch.cuda.CUDAGraph
    d_inputs: list[UpdateInputs]
    g_inputs: UpdateInputs
    stats: list[Stats]


def _buffer(inputs: UpdateInputs) -> UpdateInputs:
    copy = (lambda t: None if t is None else t.clone())
    return dataclasses.replace(inputs, real=copy(inputs.real), real_labels=copy(inputs.real_labels),
                               z=copy(inputs.z), fake_labels=copy(inputs.fake_labels), fake=None)


def _fill(buffer: UpdateInputs, inputs: UpdateInputs) -> None:
    for name in ("real", "real_labels", "z", "fake_labels"):
        if getattr(buffer, name) is not None:
            getattr(buffer, name).copy_(getattr(inputs, name))


class GraphedTrainingStep(TrainingStep):
    def __init__(self, *args: Any, device: torch.device, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state.precision.cache_casts = False  # fp32 or bf16 (no scaler): casts a graph can replay
        self.device = device
        self.recorded: dict[tuple, Recorded] = {}
        self.eager_runs: collections.Counter = collections.Counter()
        self.side_stream = torch.cuda.Stream(device)
        self.learning_rates: dict[tuple[str, int], torch.Tensor] = {}

    def set_learning_rates(self, lr_g: float, lr_d: float) -> None:
        """The same tensor in each parameter group from the first step on (a graph reads its address), filled
        with this step's rate; put back where loading a checkpoint replaced it."""
        for network, optimiser, lr in (("g", self.state.opt_g, lr_g), ("d", self.state.opt_d, lr_d)):
            for index, group in enumerate(optimiser.param_groups):
                rate = self.learning_rates.get((network, index))
                if rate is None:
                    rate = self.learning_rates[network, index] = torch.tensor(lr, device=self.device)
                group["lr"] = rate
                rate.fill_(lr)

    def phase(self, g_steps_done: int) -> tuple:
        """Which regularisers are due on each update of the step: steps of one phase do the same work."""
        regularisers, d_steps = self.state.regularisers.values(), self.state.d_steps
        return (tuple(tuple((d_steps + i) % r.every == 0 for r in regularisers) for i in range(self.n_critic)),
                tuple(g_steps_done % r.every == 0 for r in regularisers))

    def set_momentum(self, momentum: float | None) -> None:
        if momentum is not None:  # refused before training (engine/build.py): a graph reads its momentum as recorded
            raise RuntimeError("a recorded step cannot change its momentum")

    def updates(self, g_steps_done: int, n_critic: int) -> list[Stats]:
        d_inputs = [self.inputs.next() for _ in range(n_critic)]
        g_inputs = self.inputs.for_generator(d_inputs[-1])
        phase = self.phase(g_steps_done)
        if phase not in self.recorded and self.eager_runs[phase] < WARMUP:
            self.eager_runs[phase] += 1
            inputs_left = iter(d_inputs)
            self.side_stream.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(self.side_stream):
                stats = self.run_updates(lambda: next(inputs_left), lambda last: g_inputs, g_steps_done, n_critic)
            torch.cuda.current_stream(self.device).wait_stream(self.side_stream)
            return stats
        if phase not in self.recorded:
            self.recorded[phase] = self.record(d_inputs, g_inputs, g_steps_done)
        recorded = self.recorded[phase]
        for buffer, inputs in zip(recorded.d_inputs, d_inputs):
            _fill(buffer, inputs)
        if recorded.g_inputs is not recorded.d_inputs[-1]:
            _fill(recorded.g_inputs, g_inputs)
        recorded.graph.replay()
        return recorded.stats

    def record(self, d_inputs: list[UpdateInputs], g_inputs: UpdateInputs, g_steps_done: int) -> Recorded:
        """Records the step (recording runs nothing: the caller replays it)."""
        buffers = [_buffer(inputs) for inputs in d_inputs]
        g_buffer = buffers[-1] if g_inputs is d_inputs[-1] else \
            dataclasses.replace(g_inputs, real=buffers[-1].real, real_labels=buffers[-1].real_labels,
                                z=g_inputs.z.clone(), keep_fake=False, fake=None,
                                fake_labels=None if g_inputs.fake_labels is None else g_inputs.fake_labels.clone())
        graph = torch.cuda.CUDAGraph()
        buffers_left = iter(buffers)
        with torch.cuda.graph(graph):
            stats = self.run_updates(lambda: next(buffers_left), lambda last: g_buffer, g_steps_done,
                                     len(buffers))
        return Recorded(graph, buffers, g_buffer, stats)
