"""Training health numbers, exact on hand-made cases: the largest singular value of known matrices, and D's
accuracy on scores chosen by hand; a run logs both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from gan_runner.health import largest_singular_value, layer_weights, spectral_norms
from gan_runner.objectives.hinge import Hinge
from gan_runner.objectives.lsgan import LeastSquares
from gan_runner.objectives.minimax import Minimax
from gan_runner.objectives.wgan import Wasserstein
from gan_runner.steps import Batch, d_step
from gan_runner.train import train
from tests.conftest import SHRINK, TINY_ARCH, make_config


def test_largest_singular_value_of_known_matrices() -> None:
    assert largest_singular_value(torch.diag(torch.tensor([3.0, 2.0, 1.0]))).item() == pytest.approx(3.0, rel=1e-5)
    matrix = torch.randn(7, 5, generator=torch.Generator().manual_seed(1))
    assert largest_singular_value(matrix).item() == pytest.approx(torch.linalg.matrix_norm(matrix, 2).item(), rel=1e-3)
    filters = torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(2))  # viewed as 4 x 27
    expected = torch.linalg.matrix_norm(filters.flatten(1), 2).item()
    assert largest_singular_value(filters).item() == pytest.approx(expected, rel=1e-3)


def test_every_layer_but_lookup_tables_and_norms_is_measured() -> None:
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    assert list(layer_weights(model)) == ["1", "3"]
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(8, 4) * 5)
        model[3].weight.copy_(torch.full((1, 8), 0.5))
    values = spectral_norms({"D": model})
    assert values["sigma/D/1"] == pytest.approx(5.0, rel=1e-5)
    assert values["sigma/D/3"] == pytest.approx(0.5 * 8 ** 0.5, rel=1e-5)
    assert values["sigma/D"] == pytest.approx(5.0, rel=1e-5)


class Fixed(nn.Module):
    """A generator whose samples are given."""

    def __init__(self, samples: torch.Tensor) -> None:
        super().__init__()
        self.samples = samples

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.samples


class Identity(nn.Module):
    """A discriminator whose score of a 1-D sample is the sample: scores chosen by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))  # an optimiser needs one

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return x[:, 0] + 0 * self.unused


@pytest.mark.parametrize("objective, threshold", [(Minimax(), 0.0), (Hinge(), 0.0), (LeastSquares(), 0.5)])
def test_discriminator_accuracy_on_hand_made_scores(objective, threshold: float) -> None:
    D = Identity()
    real = torch.tensor([[2.0], [threshold + 0.1], [threshold - 0.1], [-3.0]])  # 2 of 4 above the threshold
    fake = torch.tensor([[-1.0], [threshold - 0.2], [5.0]])                      # 2 of 3 below it
    stats = d_step(Fixed(fake), D, objective, {}, torch.optim.SGD(D.parameters(), lr=0.0),
                   Batch(real, None, torch.zeros(3, 1), None), 0)
    assert stats["d/accuracy_real"].item() == pytest.approx(0.5)
    assert stats["d/accuracy_fake"].item() == pytest.approx(2 / 3)
    critic_stats = d_step(Fixed(fake), D, Wasserstein(), {}, torch.optim.SGD(D.parameters(), lr=0.0),
                          Batch(real, None, torch.zeros(3, 1), None), 0)
    assert "d/accuracy_real" not in critic_stats  # a critic's scores have no decision threshold


def test_a_run_logs_accuracies_and_spectral_norms(tmp_path: Path) -> None:
    train(make_config(*SHRINK, "dataset=ring8", *TINY_ARCH["mlp"], "train.steps=40", "train.log_every=20",
                      "regulariser=[spectral_norm]"), tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    last = rows[-1]
    assert 0 <= last["d/accuracy_real"] <= 1 and 0 <= last["d/accuracy_fake"] <= 1
    d_layers = [v for k, v in last.items() if k.startswith("sigma/D/")]
    assert len(d_layers) == 3 and last["sigma/D"] == max(d_layers)
    # Spectral normalisation divides each of D's weights by its sigma estimate: what is left has sigma near 1.
    assert all(0.9 < v < 1.1 for v in d_layers), d_layers
    assert last["sigma/G"] > 0 and any(k.startswith("sigma/G/") for k in last)
