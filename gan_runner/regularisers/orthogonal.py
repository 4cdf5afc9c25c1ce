"""Orthogonal regularisation (Brock et al. 2019, BigGAN, section 3.1): β ||W Wᵀ ⊙ (1 - I)||²_F summed over
the weights W of every layer (reshaped to rows = output units), which pushes the rows towards
orthogonality without constraining their norms. BigGAN applies it to the generator with β = 1e-4 (its
code adds half this term's gradient); `discriminator: true` regularises D too.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gan_runner.health.diagnostics import is_lookup_table
from gan_runner.regularisers import Critic, Regulariser


def orthogonality_penalty(weights: list[torch.Tensor]) -> torch.Tensor:
    """Σ_W ||W Wᵀ ⊙ (1 - I)||²_F over matrices W = weight.view(out, -1)."""
    total = weights[0].new_zeros(())
    for weight in weights:
        w = weight.flatten(1)
        gram = w @ w.t()
        total = total + (gram - torch.diag_embed(torch.diagonal(gram))).pow(2).sum()
    return total


def layer_weights(model: nn.Module) -> list[torch.Tensor]:
    """The parameters that are matrices or filter banks (biases and gains left out), less lookup tables: an
    nn.Embedding or a module that declares `lookup_table = True` (BigGAN's shared class embedding), whose rows
    are classes rather than output units; BigGAN leaves its G.shared out of this penalty too."""
    tables = {id(p) for module in model.modules() if is_lookup_table(module) for p in module.parameters(recurse=False)}
    return [p for p in model.parameters() if p.dim() >= 2 and id(p) not in tables]


class Orthogonal(Regulariser):
    def __init__(self, weight: float = 1e-4, every: int = 1, generator: bool = True, discriminator: bool = False) -> None:
        super().__init__(weight=weight, every=every)
        self.generator, self.discriminator = generator, discriminator
        self.G: nn.Module | None = None
        self.D: nn.Module | None = None

    def setup(self, generator: nn.Module, discriminator: nn.Module) -> None:
        # Weights are looked up at each call, so other set-ups (spectral normalisation) may rewrap layers.
        self.G = generator if self.generator else None
        self.D = discriminator if self.discriminator else None

    def penalty(
        self, critic: Critic, real: torch.Tensor, fake: torch.Tensor,
        real_scores: torch.Tensor | None = None, fake_scores: torch.Tensor | None = None,
        real_labels: torch.Tensor | None = None, fake_labels: torch.Tensor | None = None,
    ) -> torch.Tensor | None:
        return orthogonality_penalty(layer_weights(self.D)) if self.D is not None else None

    def generator_penalty(self, inputs: Any = None, fake: torch.Tensor | None = None) -> torch.Tensor | None:
        return orthogonality_penalty(layer_weights(self.G)) if self.G is not None else None
