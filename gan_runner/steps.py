"""One discriminator update and one generator update, and the batches they consume. Each step returns a flat
dict of device tensors (`loss/d`, `d/real`, `reg/gp`, ...) that the loop's collector averages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from gan_runner.data import Batch as DataBatch
from gan_runner.objectives import Objective
from gan_runner.regularisers import Regulariser
from gan_runner.stopping import check_finite

Stats = dict[str, torch.Tensor]


@dataclass
class Batch:
    """A step's inputs: real samples, the noise z of as many fakes, and the class labels of both (None in an
    unconditional run, where G and D ignore them)."""

    real: torch.Tensor
    real_labels: torch.Tensor | None
    z: torch.Tensor
    fake_labels: torch.Tensor | None


class Batches:
    """Steps' batches from the dataset's seeded order: z ~ N(0, I) and, in a conditional run, uniform labels
    for the fakes, both from the global RNG (which checkpoints keep), z first."""

    def __init__(self, data: Iterator[DataBatch], z_dim: int, num_classes: int | None, device: torch.device) -> None:
        self.data, self.z_dim, self.num_classes, self.device = data, z_dim, num_classes, device

    def next(self) -> Batch:
        real, labels = next(self.data)
        conditional = self.num_classes is not None
        return self.with_new_fakes(real.to(self.device), labels.to(self.device) if conditional else None)

    def with_new_fakes(self, real: torch.Tensor, real_labels: torch.Tensor | None) -> Batch:
        """The same real samples with fresh noise (and fake labels): the generator's step after D's."""
        z = torch.randn(len(real), self.z_dim, device=self.device)
        fake_labels = None if self.num_classes is None else torch.randint(self.num_classes, (len(real),), device=self.device)
        return Batch(real, real_labels, z, fake_labels)

    def for_generator(self, last: Batch) -> Batch:
        return self.with_new_fakes(last.real, last.real_labels)


def _joint(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    """The labels of one pass over real and fake samples together."""
    return None if a is None else torch.cat([a, b])


def d_step(G: nn.Module, D: nn.Module, objective: Objective, regularisers: dict[str, Regulariser],
           optimiser: torch.optim.Optimizer, batch: Batch, d_steps_done: int) -> Stats:
    """One discriminator update; `d_steps_done` sets the lazy regularisers' phase."""
    with torch.no_grad():
        fake = G(batch.z, batch.fake_labels)
    real = batch.real
    # One forward pass over real and fake together, so batch statistics see both halves alike.
    scores = D(torch.cat([real, fake]), _joint(batch.real_labels, batch.fake_labels))
    real_scores, fake_scores = scores.split([len(real), len(fake)])
    loss = objective.d_loss(real_scores, fake_scores)
    stats = {"loss/d": loss.detach(), "d/real": real_scores.detach().mean(), "d/fake": fake_scores.detach().mean()}
    for name, regulariser in regularisers.items():
        term, raw = regulariser.scaled_penalty(d_steps_done, D, real, fake, real_scores, fake_scores,
                                               batch.real_labels, batch.fake_labels)
        if term is not None:
            loss = loss + term
            stats[f"reg/{name}"] = raw.detach()
    check_finite(stats)  # before the update, so that a bad number never reaches the weights
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    for regulariser in regularisers.values():
        regulariser.after_d_step(D)
    return stats


def g_step(G: nn.Module, D: nn.Module, objective: Objective, regularisers: dict[str, Regulariser],
           optimiser: torch.optim.Optimizer, batch: Batch, g_steps_done: int) -> Stats:
    """One generator update; the real samples serve relativistic objectives only."""
    D.requires_grad_(False)  # G's loss needs gradients through D, not for it
    fake = G(batch.z, batch.fake_labels)
    if objective.g_needs_real_scores:
        scores = D(torch.cat([batch.real, fake]), _joint(batch.real_labels, batch.fake_labels))
        real_scores, fake_scores = scores.split([len(batch.real), len(fake)])
    else:
        real_scores, fake_scores = None, D(fake, batch.fake_labels)
    loss = objective.g_loss(fake_scores, real_scores)
    stats = {"loss/g": loss.detach()}
    for name, regulariser in regularisers.items():
        term, raw = regulariser.scaled_generator_penalty(g_steps_done)
        if term is not None:
            loss = loss + term
            stats[f"reg_g/{name}"] = raw.detach()
    check_finite(stats)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    D.requires_grad_(True)
    return stats


def fixed_inputs(z_dim: int, num_classes: int | None, seed: int, device: torch.device
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The z (and labels) of every sample grid of a run, from their own seed so they never disturb training's
    RNG: 64 z; in a conditional run a row per class (the first 16), the same 8 z down the columns."""
    z = torch.randn(64, z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    if num_classes is None:
        return z, None
    rows = min(num_classes, 16)
    return z[:8].repeat(rows, 1), torch.arange(rows).repeat_interleave(8).to(device)
