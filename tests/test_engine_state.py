"""engine/state.py: the moving average of G (its ramped horizon, running statistics averaged, spectral norm's u and v
refined on the averaged weights), what a checkpoint holds of it, every RNG's state as plain containers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from gan_runner.commands.sample import load_generator
from gan_runner.engine.loop import train
from gan_runner.engine.state import EMA, restore_rng, rng_state
from gan_runner.run_directory import Checkpoint
from tests.conftest import SHRINK, TINY, make_config




def small_generator() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_ema_averages_weights_and_running_statistics_with_a_ramped_horizon() -> None:
    torch.manual_seed(0)
    G = small_generator()
    decay, rampup = 0.9, 0.5
    ema = EMA(G, decay, rampup)
    expected = {k: v.double().clone() for k, v in G.state_dict().items()}  # the average starts as G itself
    optimiser = torch.optim.SGD(G.parameters(), lr=0.1)
    for update in range(1, 17):  # the ramp ends at update 14, where 0.5 x 14 exceeds decay 0.9's half-life (6.6)
        loss = G(torch.randn(16, 3)).pow(2).mean()  # a training-mode pass also moves the running statistics
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        ema.update(G, update)
        # By hand: the half-life is at most rampup x updates, so beta = min(decay, 0.5 ** (1 / (rampup t))).
        beta = min(decay, 0.5 ** (1 / (rampup * update)))
        for key, value in G.state_dict().items():
            if value.is_floating_point():
                expected[key] = beta * expected[key] + (1 - beta) * value.double()
            else:
                expected[key] = value.double().clone()  # the batch count is copied
    assert ema.beta(1) == pytest.approx(0.25) and ema.beta(16) == decay  # ramped early, the plain decay later
    averaged = ema.model.state_dict()
    for key in expected:
        torch.testing.assert_close(averaged[key].double(), expected[key], rtol=1e-6, atol=1e-7, msg=key)
    # The running statistics are the average's own, not the current generator's (what was copied before).
    assert not torch.allclose(averaged["1.running_mean"], G.state_dict()["1.running_mean"])


def test_ema_without_rampup_is_the_fixed_decay_and_zero_decay_is_g_itself() -> None:
    G = small_generator()
    assert EMA(G, 0.999, None).beta(1) == 0.999 and EMA(G, 0.999, 0).beta(3) == 0.999
    copy = EMA(G, 0.0)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
    G(torch.randn(8, 3))
    copy.update(G, 1)
    assert all(torch.equal(a, b) for a, b in zip(copy.model.state_dict().values(), G.state_dict().values()))


def test_a_run_keeps_the_averaged_generator_in_its_checkpoint(tmp_path: Path) -> None:
    cfg = make_config(*SHRINK, "train.steps=3", *TINY, "train.ema=0.9", "train.ema_rampup=null")
    train(cfg, tmp_path)
    state = Checkpoint.load(tmp_path / "checkpoints" / "last.pt").state
    G, G_ema = state["G"], state["G_ema"]
    running = [k for k in G if k.endswith("running_mean")]
    assert running and all(not torch.equal(G[k], G_ema[k]) for k in running)  # averaged, not copied


def top_singular_values(model: nn.Module) -> list[float]:
    """The largest singular value of each spectrally normalised layer's weight as the model uses it (eval mode: the
    stored u and v), reshaped as spectral norm does (transposed convolutions by their output channels)."""
    model.eval()
    return [torch.linalg.matrix_norm(m.weight.movedim(1 if isinstance(m, nn.ConvTranspose2d) else 0, 0).flatten(1),
                                     ord=2).item() for m in model.modules() if hasattr(m, "parametrizations")]


@pytest.mark.parametrize("data", [["dataset=ring8"], ["dataset=digits", *TINY]], ids=["mlp", "dcgan"])
def test_the_averaged_generator_keeps_spectral_norm_at_one(tmp_path: Path, data: list[str]) -> None:
    """Spectral norm's u and v are state about a layer's own weights: the average refines its own on the averaged
    weights rather than averaging G's (whose shortened u let σ pass 1: 1.0104 after 300 steps at lr 3e-2)."""
    cfg = make_config(*SHRINK, *data, "regulariser=spectral_norm", "regulariser.spectral_norm.generator=true",
                      "train.lr_g=3e-2", "train.lr_d=3e-2", "train.steps=300", "train.log_every=100",
                      "train.sample_every=1000", "train.checkpoint_every=1000", "health=none")
    train(cfg, tmp_path)
    G_ema, _ = load_generator(tmp_path)
    values = top_singular_values(G_ema)
    assert len(values) >= 2 and all(abs(value - 1) < 1e-3 for value in values), values


def test_rng_states_round_trip_through_plain_containers() -> None:
    np.random.seed(5)
    np.random.normal()  # a cached Gaussian half-pair is part of NumPy's state
    saved = rng_state()
    first = (np.random.normal(), np.random.rand(), torch.rand(1).item())
    restore_rng(saved)
    assert (np.random.normal(), np.random.rand(), torch.rand(1).item()) == first


def test_ema_copies_the_buffers_a_module_declares_copied_as_stylegan2s_w_avg() -> None:
    # training_loop.py l.304-305 copies G's buffers into G_ema: its w_avg is G's, not an average of G's averages
    from gan_runner.arch.stylegan2 import Generator

    torch.manual_seed(0)
    G = Generator(8, (1, 8, 8), w_dim=8, mapping_layers=1, channel_base=64, width=8)
    ema = EMA(G, decay=0.9, rampup=None)
    weight_before = next(ema.model.parameters()).clone()
    G.styles(torch.randn(16, 8))  # training mode: w_avg moves
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
    ema.update(G, 1)
    torch.testing.assert_close(ema.model.w_avg, G.w_avg, rtol=0, atol=0)
    assert G.w_avg.abs().sum() > 0
    torch.testing.assert_close(next(ema.model.parameters()), 0.9 * weight_before + 0.1 * next(G.parameters()))
