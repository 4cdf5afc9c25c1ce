"""Regularisers: anything that changes the discriminator's step (or, for a few, the generator's).

Each one implements only the hooks it needs; the others do nothing. The loop calls every hook of
every chosen regulariser, so adding one is a new file here and a new YAML file in conf/regulariser/.
Hooks, in the order a run meets them:

- `setup(G, D)`: once, before the optimisers exist: wrap layers (spectral normalisation) or register
  forward hooks (instance noise).
- `warnings(objective, regularisers)`: once; reasons why this combination makes no sense, read from what
  the others declare (the capabilities below), never from their types.
- `penalty(critic, real, fake, real_scores, fake_scores, real_labels, fake_labels)`: a term for the
  discriminator's loss; `critic(x, labels)` is D (labels None in an unconditional run).
- `before_d_step(D)`: before each discriminator update (WGAN's code clamps the critic's weights there).
- `after_d_step(D)`: after each discriminator update (weight clipping, annealing schedules).
- `generator_penalty(inputs, fake)`: a term for the generator's loss (orthogonal regularisation), seeing the update's
  inputs (the game's: z and labels, or a source image; their `generate(G)` runs G on them) and G's output `fake`,
  so that a penalty of G's mapping (StyleGAN2's path length) is one file.
- `state_dict()` / `load_state_dict()`: whatever a resumed run needs (an annealed noise level).
- `statistics()`: device tensors of its state worth a column, logged beside its penalty in its own step as
  reg/<name>_<key> (reg_g/ for G's; path length's running mean: reg_g/path_length_mean).

Lazy regularisation comes in two forms. By default (`own_step = False`) a penalty due on a step (one in `every`) is
added, times weight x every, to the network's loss of that step. With `own_step = True` it is StyleGAN2's form
(stylegan2-ada-pytorch training/training_loop.py l.201-208, the Dreg and Greg phases): on its due steps, after the
network's main update, the term (weight x every x penalty) gets a backward pass and an optimiser step of its own, and
the optimiser of the network it `regularises` runs at lr x k/(k+1) and betas ** (k/(k+1)) (k = every; l.202-205's
mb_ratio), so that per minibatch the main steps move the weights as much as without the extra ones
(gan_runner.engine.build.lazy_ratio). In its own step, D's penalty sees the update's real and fake samples but no
scores (D has moved since); G's sees the update's inputs and no `fake` (it runs G itself: path length).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from gan_runner.objectives import Objective

Critic = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def input_gradient(critic: Critic, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """d(sum of critic(x, labels))/dx, kept differentiable for the penalty's own backward pass. A critic that
    carries `gradient_scale` (the loss scale of an fp16 step, a device tensor) has its scores multiplied by it
    before differentiating and the gradient divided after, so that small gradients do not underflow in half
    precision (PyTorch's AMP recipe for gradient penalties)."""
    scale = getattr(critic, "gradient_scale", None)
    scores = critic(x, labels).float().sum()
    if scale is None:
        return torch.autograd.grad(scores, x, create_graph=True)[0]
    return torch.autograd.grad(scores * scale, x, create_graph=True)[0] / scale


class Regulariser:
    """Hooks on the training steps, with lazy regularisation built in.

    `weight` scales the penalty; with `every = k` the penalty is computed on one step in k and
    multiplied by k, so that its expected contribution stays the same (StyleGAN2, section 3.1).
    """

    # What a regulariser is, declared so that combination warnings need no knowledge of its class:
    constrains_lipschitz: bool = False       # keeps D Lipschitz (slope at most about 1 where it matters), as WGAN needs
    edits_weights_after_step: bool = False   # changes D's weights after its optimiser step (clipping)
    penalises_input_gradient: bool = False   # differentiates D with respect to its input, sample by sample
    replayable: bool = True                  # its work in a step is the same each time its phase (every) comes
                                             # round, so a CUDA graph may record it once (train.cuda_graph)
    own_step: bool = False                   # its lazy term gets an optimiser step of its own (module docstring)
    regularises: str = "d"                   # the network whose own step it takes: "d" (penalty) or "g"
                                             # (generator_penalty); read where own_step is true

    def __init__(self, weight: float = 1.0, every: int = 1, own_step: bool | None = None) -> None:
        if every < 1:
            raise ValueError(f"regulariser 'every' must be at least 1, got {every}")
        if weight < 0:
            raise ValueError(f"regulariser 'weight' must not be negative, got {weight}")
        self.weight = weight
        self.every = every
        if own_step is not None:  # None: the class's own choice
            self.own_step = own_step

    def setup(self, generator: nn.Module, discriminator: nn.Module) -> None:
        """Called once before training: wrap modules, register hooks."""

    def warnings(self, objective: Objective, regularisers: dict[str, "Regulariser"]) -> list[str]:
        """Why this regulariser makes no sense with this objective or these other regularisers."""
        return []

    def penalty(
        self, critic: Critic, real: torch.Tensor, fake: torch.Tensor,
        real_scores: torch.Tensor | None = None, fake_scores: torch.Tensor | None = None,
        real_labels: torch.Tensor | None = None, fake_labels: torch.Tensor | None = None,
    ) -> torch.Tensor | None:
        """A term added to the discriminator's loss, before `weight`; None when there is none."""
        return None

    def generator_penalty(self, inputs: Any = None, fake: torch.Tensor | None = None) -> torch.Tensor | None:
        """A term added to the generator's loss, before `weight`; None when there is none. `inputs`: the G
        update's inputs (gan_runner.engine.step.UpdateInputs or a game's subclass); `fake`: G's output for them,
        its graph attached."""
        return None

    def before_d_step(self, discriminator: nn.Module) -> None:
        """Called before each discriminator update, before its forward pass."""

    def after_d_step(self, discriminator: nn.Module) -> None:
        """Called after each optimiser step of the discriminator (to constrain its parameters)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def statistics(self) -> dict[str, torch.Tensor]:
        """Values of its state to log beside its penalty in its own step (device tensors, not fetched)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def scaled_penalty(
        self, step: int, critic: Critic, real: torch.Tensor, fake: torch.Tensor,
        real_scores: torch.Tensor | None = None, fake_scores: torch.Tensor | None = None,
        real_labels: torch.Tensor | None = None, fake_labels: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The discriminator penalty as added to the loss (weight x every, on lazy steps only), and
        its raw value."""
        if step % self.every != 0:
            return None, None
        return self._scaled(self.penalty(critic, real, fake, real_scores, fake_scores, real_labels, fake_labels))

    def scaled_generator_penalty(self, step: int, inputs: Any = None, fake: torch.Tensor | None = None
                                 ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The generator penalty as added to the loss, and its raw value (lazy as above)."""
        if step % self.every != 0:
            return None, None
        return self._scaled(self.generator_penalty(inputs, fake))

    def _scaled(self, raw: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if raw is None:
            return None, None
        return self.weight * self.every * raw, raw


def has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def combination_warnings(objective: Objective, regularisers: dict[str, Regulariser],
                         discriminator: nn.Module | None = None) -> list[str]:
    """Every reason why this objective, set of regularisers and discriminator make no sense together."""
    messages = [message for r in regularisers.values() for message in r.warnings(objective, regularisers)]
    if objective.needs_lipschitz_critic and not any(r.constrains_lipschitz for r in regularisers.values()):
        messages.append(f"{type(objective).__name__} without a Lipschitz constraint: its critic's loss is unbounded "
                        "below unless D is kept Lipschitz where real and generated samples lie (r1, r2 and dragan "
                        "constrain D only near some samples; gp0 pulls its slopes to 0, not to 1); add regulariser=gp "
                        "(target 1 on interpolates), spectral_norm or clip")
    penalties = sorted(name for name, r in regularisers.items() if r.penalises_input_gradient)
    if penalties and discriminator is not None and has_batch_norm(discriminator):
        messages.append(f"{', '.join(penalties)} with a batch-normalised discriminator: batch norm makes D's gradient "
                        "at one sample depend on the others in its batch, so the penalty is not the published one "
                        "(Gulrajani et al. 2017, section 4); use arch.discriminator.norm=layer (or instance, or "
                        "none) with the DCGAN discriminator")
    return messages
