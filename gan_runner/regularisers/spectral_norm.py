"""Spectral normalisation (Miyato et al. 2018): every weight W is used as W / σ(W), σ its largest
singular value, estimated by power iteration, so that each layer is 1-Lipschitz.

Applied once, in `setup`, to every linear, convolution and embedding layer of the discriminator (and
of the generator with `generator: true`, as SAGAN and BigGAN do), through PyTorch's parametrisation
`torch.nn.utils.parametrizations.spectral_norm`. It keeps the power-iteration vectors u, v as buffers,
refines them in place on each forward pass in training mode and uses copies of them in the graph, so
D may score real and fake samples in separate passes (and a gradient penalty may differentiate twice)
without autograd seeing a tensor changed in place; in eval mode it reuses the stored vectors.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gan_runner.objectives import Objective
from gan_runner.regularisers import Regulariser

NORMALISED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
              nn.ConvTranspose3d, nn.Embedding)


def apply_spectral_norm(model: nn.Module, power_iterations: int = 1, eps: float = 1e-12) -> int:
    """Spectrally normalises the weight of every layer in NORMALISED; returns how many."""
    layers = [m for m in model.modules() if isinstance(m, NORMALISED) and getattr(m, "weight", None) is not None]
    for layer in layers:
        # The paper's dim convention: the output dimension, which for transposed convolutions is 1.
        dim = 1 if isinstance(layer, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)) else 0
        spectral_norm(layer, n_power_iterations=power_iterations, eps=eps, dim=dim)
        # u and v estimate this layer's own top singular vectors: state about its weights, not statistics of the
        # data, so a moving average of the network refines its own rather than averaging G's (gan_runner.engine.state.EMA).
        layer.parametrizations.weight[0].state_buffers = ("_u", "_v")
    return len(layers)


class SpectralNorm(Regulariser):
    constrains_lipschitz = True

    def __init__(self, discriminator: bool = True, generator: bool = False, power_iterations: int = 1) -> None:
        super().__init__()
        if power_iterations < 1:
            raise ValueError(f"spectral_norm power_iterations must be at least 1, got {power_iterations}")
        if not (discriminator or generator):
            raise ValueError("spectral_norm with discriminator=false and generator=false normalises nothing; "
                             "set one of them to true or drop the regulariser")
        self.discriminator, self.generator, self.power_iterations = discriminator, generator, power_iterations

    def setup(self, generator: nn.Module, discriminator: nn.Module) -> None:
        for wanted, model in ((self.discriminator, discriminator), (self.generator, generator)):
            if wanted:
                apply_spectral_norm(model, self.power_iterations)

    def warnings(self, objective: Objective, regularisers: dict[str, Regulariser]) -> list[str]:
        if self.discriminator and any(r.edits_weights_after_step for r in regularisers.values()):
            return ["weight clipping with spectral normalisation: spectral normalisation already makes every "
                    "layer of D 1-Lipschitz, and clipping the raw weights underneath it changes nothing that "
                    "matters except to slow learning down; drop one of them"]
        return []
