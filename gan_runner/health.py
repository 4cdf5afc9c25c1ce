"""Training health: numbers that show a GAN failing before its samples do. BigGAN (Brock et al. 2019, section
4) saw the largest singular values of G's and D's weights grow before training collapsed; this module estimates
them for every layer, cheaply, at each log row.
"""

from __future__ import annotations

import torch
from torch import nn

POWER_ITERATIONS = 50  # from a fixed start: a pure function of the weights, so a resumed run logs the same values


def largest_singular_value(weight: torch.Tensor, iterations: int = POWER_ITERATIONS) -> torch.Tensor:
    """sigma_max of `weight` viewed as a matrix (output units x the rest, as spectral normalisation views a
    convolution's filters), by power iteration from a fixed start vector; a device tensor."""
    matrix = weight.detach().flatten(1).float()
    v = torch.randn(matrix.shape[1], generator=torch.Generator().manual_seed(0)).to(matrix.device)
    for _ in range(iterations):
        u = nn.functional.normalize(matrix @ v, dim=0)
        v = nn.functional.normalize(matrix.t() @ u, dim=0)
    return torch.linalg.vector_norm(matrix @ v)


def is_lookup_table(module: nn.Module) -> bool:
    """An nn.Embedding, or a module that declares `lookup_table = True` (BigGAN's shared class embedding): its rows
    are classes, not output units, so neither its singular values nor its orthogonality mean anything."""
    return isinstance(module, nn.Embedding) or getattr(module, "lookup_table", False)


def layer_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Each layer's effective weight (after any spectral normalisation) by module name: the matrices and filter
    banks of linear and convolutional layers; lookup tables (embeddings) and norms' gains left out."""
    weights = {}
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if isinstance(weight, torch.Tensor) and weight.dim() >= 2 and not is_lookup_table(module):
            weights[name] = weight
    return weights


def spectral_norms(models: dict[str, nn.Module]) -> dict[str, float]:
    """`sigma/<network>/<layer>` for every layer and `sigma/<network>`, the largest of them, fetched in one
    transfer from the device."""
    keys, values = [], []
    for network, model in models.items():
        for layer, weight in layer_weights(model).items():
            keys.append(f"sigma/{network}/{layer}")
            values.append(largest_singular_value(weight))
    if not values:
        return {}
    by_layer = dict(zip(keys, torch.stack([v.to(values[0].device) for v in values]).cpu().tolist()))
    largest = {f"sigma/{network}": max(v for k, v in by_layer.items() if k.startswith(f"sigma/{network}/"))
               for network in models if any(k.startswith(f"sigma/{network}/") for k in by_layer)}
    return {**largest, **by_layer}
