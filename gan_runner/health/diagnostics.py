"""The health numbers of a log row besides the steps' own (D's accuracies, its mean scores, the gradient norms):
D's margin, the largest singular value of every layer of G and D, and the diversity of G's samples. BigGAN
(Brock et al. 2019, section 4) saw the largest singular values grow before training collapsed; a collapsing G's
samples draw together before any metric is evaluated.
"""

from __future__ import annotations

import math
from typing import Any, Callable

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
    transfer from the device. The weights are read in eval mode: spectral normalisation's parametrisation refines
    its vectors on every read in training mode, which would make training depend on how often rows are logged."""
    keys, values = [], []
    for network, model in models.items():
        modes = {module: module.training for module in model.modules()}
        model.eval()
        try:
            for layer, weight in layer_weights(model).items():
                keys.append(f"sigma/{network}/{layer}")
                values.append(largest_singular_value(weight))
        finally:
            for module, training in modes.items():
                module.training = training
    if not values:
        return {}
    by_layer = dict(zip(keys, torch.stack([v.to(values[0].device) for v in values]).cpu().tolist()))
    largest = {f"sigma/{network}": max(v for k, v in by_layer.items() if k.startswith(f"sigma/{network}/"))
               for network in models if any(k.startswith(f"sigma/{network}/") for k in by_layer)}
    return {**largest, **by_layer}


def margin(row: dict[str, float]) -> dict[str, float]:
    """`d/margin`: D's mean score on real minus on fake samples (the mean of a difference is the difference of the
    means, so the row's own means give it exactly); {} in a row without them."""
    if "d/real" in row and "d/fake" in row:
        return {"d/margin": row["d/real"] - row["d/fake"]}
    return {}


def mean_pairwise_distance(features: torch.Tensor) -> float:
    """The mean Euclidean distance over all pairs of rows (N x F), in float64: 0 for identical rows."""
    return torch.pdist(features.double()).mean().item()


class Diversity:
    """`health/diversity`: the mean pairwise distance between `samples` of G's samples over the same between as many
    real samples, so about 1 when G's samples are as spread out as the data and 0 when they are all alike.

    Distances are between raw coordinates for data of at most `features` numbers (the 2-D mixtures, gauss1d, 8x8
    digits) and otherwise between fixed Gaussian random projections to `features` numbers, scaled so that a
    projected squared distance is the pixel one on average (Johnson-Lindenstrauss): a mean over 32,640 pairs keeps
    the pixel-space ratio within about a percent at a fraction of the cost of large images. The score needs no
    trained network, so it is the same for every dataset and metric, and it is cheap enough for every row (a
    forward pass of 256 samples; timed by scripts/bench_health.py).

    What it cannot see: G covering few modes that lie far apart (two opposite modes of ring8 score about 0.8),
    which is why the mode-collapse detector also watches the metric's count of modes or classes when it is
    evaluated. The samples come from G itself (the generator D is trained against, which collapses first; the
    moving average lags it), in eval mode (batch norm's running statistics, which the pass leaves unchanged) and
    without gradients, from fixed noise drawn with the score's own seed, so the training RNG is untouched and a
    resumed run scores the same.
    """

    def __init__(self, samples: int = 256, features: int = 128, seed: int = 1234) -> None:
        if samples < 2 or features < 1:
            raise ValueError(f"health.diversity needs samples >= 2 and features >= 1, got samples={samples}, "
                             f"features={features}")
        self.samples, self.features, self.seed = samples, features, seed
        self.real: float | None = None
        self.projection: torch.Tensor | None = None  # None: raw coordinates
        self.inputs: tuple = ()  # G's fixed inputs (setup)

    def setup(self, dataset: Any, generator_inputs: Callable[[Any, int, torch.Generator], tuple]) -> None:
        """The fixed inputs of G, the projection and the real samples' mean distance, computed once.
        `generator_inputs(batch, n, rng)`: G's inputs for n samples, given a batch of the dataset (the game's: z and
        labels drawn with rng, or the batch's source images)."""
        rng = torch.Generator().manual_seed(self.seed)
        n = min(self.samples, len(dataset)) if hasattr(dataset, "__len__") else self.samples
        batch = next(dataset.batches(n, torch.Generator().manual_seed(self.seed)))
        real = batch[0]
        size = math.prod(real.shape[1:])
        if size > self.features:
            self.projection = torch.randn(size, self.features, generator=rng) / math.sqrt(self.features)
        self.inputs = generator_inputs(batch, n, rng)
        self.real = self.spread(real)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1).float()
        return x if self.projection is None else x @ self.projection.to(x.device)

    def spread(self, x: torch.Tensor) -> float:
        """The mean pairwise distance of samples x (N x the data's shape) in the score's features."""
        return mean_pairwise_distance(self.embed(x).cpu())

    @torch.no_grad()
    def __call__(self, G: nn.Module) -> float:
        device = next((p.device for p in G.parameters()), torch.device("cpu"))
        was_training = G.training
        G.eval()
        try:
            fake = G(*(None if x is None else x.to(device) for x in self.inputs))
        finally:
            G.train(was_training)
        return self.spread(fake) / max(self.real, 1e-12)
