"""Path-length regularisation (Karras et al. 2020, StyleGAN2, section 3.2), as stylegan2-ada-pytorch's Greg phase
(training/loss.py l.76-92): for a batch of w (G.styles of the G update's first N / `batch_shrink` z) and images
g(w) = G.synthesis(w), with y ~ N(0, I) / sqrt(H W) of the images' shape,

    length_i = sqrt(mean over the w vectors of sample i of ||J_i^T y||^2),   J_i^T y = d(sum of g(w) * y)/dw_i
    a       <- a + decay x (mean_i length_i - a)              (the running mean, `pl_mean`: state, checkpointed)
    penalty  = mean_i (length_i - a)^2                        (x weight x every, in G's own step every k updates)

so that a fixed-size step in W changes the image by a fixed amount whatever the direction (a well-conditioned
mapping). As the official code, the new `a` keeps its gradient through this batch's mean length (loss.py l.85: not
detached) and the state keeps its value. Needs a G with `styles(z, y) -> ws [N, num_ws, w_dim]` and `synthesis(ws)`
(gan_runner.arch.stylegan2's); any other G is refused before training.

Deviation: the official Greg phase draws z of its own (training_loop.py l.263-264: each phase its slice of
all_gen_z); here the G update's z are used, the first N / batch_shrink of them (the same distribution, no extra draw).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from gan_runner import distributed
from gan_runner.errors import UserError
from gan_runner.regularisers import Regulariser


class PathLength(Regulariser):
    own_step = True    # loss.py's Greg phase: an optimiser step of its own (training_loop.py l.201-208)
    regularises = "g"

    def __init__(self, weight: float = 2.0, every: int = 4, decay: float = 0.01, batch_shrink: int = 2,
                 own_step: bool = True) -> None:
        super().__init__(weight=weight, every=every, own_step=own_step)
        if not 0 < decay <= 1 or batch_shrink < 1:
            raise ValueError(f"path_length needs decay in (0, 1] and batch_shrink >= 1, got {decay} and "
                             f"{batch_shrink}")
        self.decay, self.batch_shrink = decay, batch_shrink
        self.mean = torch.zeros(())  # pl_mean; moves to G's device at its first use, then changes in place
        self.G: nn.Module | None = None

    def setup(self, generator: nn.Module, discriminator: nn.Module) -> None:
        if not (callable(getattr(generator, "styles", None)) and callable(getattr(generator, "synthesis", None))):
            raise UserError(f"regulariser=path_length differentiates the images with respect to G's intermediate "
                            f"latents w, so it needs a style-based generator with G.styles(z, y) -> ws and "
                            f"G.synthesis(ws); this run's G ({type(generator).__name__}) has no such split. Fix: "
                            "gan-run arch=stylegan2 regulariser=path_length (or experiment=stylegan2), or drop "
                            "path_length from the regularisers.")
        self.G = generator

    def generator_penalty(self, inputs: Any = None, fake: torch.Tensor | None = None) -> torch.Tensor:
        z = inputs.z
        n = max(1, len(z) // self.batch_shrink)
        labels = None if inputs.fake_labels is None else inputs.fake_labels[:n]
        ws = self.G.styles(z[:n], labels)
        images = self.G.synthesis(ws).float()
        noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
        grads = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)[0].float()
        lengths = grads.square().sum(2).mean(1).sqrt()
        batch_mean = lengths.mean()
        if distributed.active():  # every process's running mean follows the global batch's (identical checkpoints)
            batch_mean = batch_mean + (distributed.mean_over_ranks(batch_mean.detach()) - batch_mean.detach())
        if self.mean.device != lengths.device:
            self.mean = self.mean.to(lengths.device)
        mean = self.mean.lerp(batch_mean, self.decay)
        self.mean.copy_(mean.detach())  # in place: a CUDA graph replays the update
        return (lengths - mean).square().mean()

    def statistics(self) -> dict[str, torch.Tensor]:
        return {"mean": self.mean}

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "mean" in state:
            self.mean.copy_(state["mean"].to(self.mean.device))
