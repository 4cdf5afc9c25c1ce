"""StyleGAN2's optimisation as stylegan2-ada-pytorch runs it: lazy regularisers with an optimiser step of their own
(the Greg/Dreg phases) and the k/(k+1) correction of the optimisers (training/training_loop.py l.197-208), path-length
regularisation (training/loss.py l.76-92) against its closed form on a linear synthesis, r1_lazy, and the moving
average of G by a half-life in images (training_loop.py l.297-305). The G here is a linear style-based toy (the real
StyleGAN2 G is gan_runner.arch.stylegan2's)."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from gan_runner.engine.build import build_parts, build_step, lazy_ratio
from gan_runner.engine.loop import train
from gan_runner.engine.state import EMA
from gan_runner.engine.step import UpdateInputs, Updates, d_step, g_step
from gan_runner.errors import UserError
from gan_runner.objectives.nonsaturating import NonSaturating
from gan_runner.regularisers.gradient_penalty import GradientPenalty, OnReal
from gan_runner.regularisers.path_length import PathLength
from gan_runner.run_directory import Checkpoint
from tests.conftest import SHRINK, make_config, run


class ToyStyleGenerator(nn.Module):
    """styles(z) = a linear map of z shaped (N, num_ws, w_dim); synthesis(ws) = scale x Q ws (ws flattened), Q with
    orthonormal columns, so that the path length of each sample is scale / sqrt(H W num_ws) x a chi variable with
    num_ws x w_dim degrees of freedom."""

    def __init__(self, z_dim: int, data_shape: tuple, num_classes: int | None = None, num_ws: int = 4, w_dim: int = 8,
                 scale: float = 3.0, **_: object) -> None:
        super().__init__()
        self.data_shape, self.num_ws, self.w_dim = tuple(data_shape), num_ws, w_dim
        self.mapping = nn.Linear(z_dim, num_ws * w_dim)
        q, _ = torch.linalg.qr(torch.randn(math.prod(self.data_shape), num_ws * w_dim))
        self.weight = nn.Parameter(scale * q)

    def styles(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.mapping(z).view(-1, self.num_ws, self.w_dim)

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        return (ws.flatten(1) @ self.weight.t()).view(-1, *self.data_shape)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.synthesis(self.styles(z, y))


class LinearCritic(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.linear(x.flatten(1)).squeeze(1)


TOY_G = ["arch.generator._target_=tests.test_stylegan2_optimisation.ToyStyleGenerator", "dataset.resolution=8",
         "arch.discriminator.width=8", "arch.discriminator.norm=layer"]


def chi_mean(k: int) -> float:
    return math.sqrt(2) * math.exp(math.lgamma((k + 1) / 2) - math.lgamma(k / 2))


def test_path_length_running_mean_and_penalty_follow_the_closed_form_of_a_linear_synthesis() -> None:
    torch.manual_seed(0)
    G = ToyStyleGenerator(4, (1, 8, 8))
    regulariser = PathLength()
    regulariser.setup(G, LinearCritic(64))
    inputs = UpdateInputs(torch.zeros(1), None, torch.randn(8192, 4), None)
    # length = 3 / sqrt(64 x 4) x chi_32: its mean and variance are known
    expected = 3 / math.sqrt(64 * 4) * chi_mean(32)
    variance = 3 ** 2 / (64 * 4) * 32 - expected ** 2
    means = []
    for _ in range(3):
        penalty = regulariser.generator_penalty(inputs)
        means.append(regulariser.mean.item())
    # a <- a + 0.01 (batch mean - a) from 0: a_t = E (1 - 0.99^t), each batch of 4096 within 1%
    for t, mean in enumerate(means, start=1):
        assert mean == pytest.approx(expected * (1 - 0.99 ** t), rel=0.01)
    # the penalty: E[(length - a)^2] = Var + (E - a)^2
    assert penalty.item() == pytest.approx(variance + (expected - means[-1]) ** 2, rel=0.05)
    penalty.backward()
    assert G.weight.grad.abs().sum() > 0  # the penalty trains the synthesis (whose Jacobian is here constant in w)


def test_path_length_state_round_trips_and_a_g_without_styles_is_refused() -> None:
    torch.manual_seed(0)
    G = ToyStyleGenerator(4, (1, 8, 8))
    regulariser = PathLength()
    regulariser.setup(G, LinearCritic(64))
    regulariser.generator_penalty(UpdateInputs(torch.zeros(1), None, torch.randn(16, 4), None))
    restored = PathLength()
    restored.load_state_dict(regulariser.state_dict())
    assert restored.mean.item() == regulariser.mean.item() != 0
    with pytest.raises(UserError, match="style-based generator.*arch=stylegan2"):
        PathLength().setup(nn.Linear(4, 64), LinearCritic(64))


def test_gan_run_refuses_path_length_with_a_generator_without_styles(tmp_path: Path) -> None:
    refused = run("gan-run", "regulariser=path_length", "debug=fast", "logger=none", "metrics=none",
                  "train.device=cpu", cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "path_length" in refused.stderr and "G.styles" in refused.stderr and "Fix:" in refused.stderr


def step_inputs(n: int = 8) -> UpdateInputs:
    return UpdateInputs(torch.randn(n, 1, 8, 8), None, torch.randn(n, 4), None)


def test_path_length_takes_an_optimiser_step_of_its_own_after_gs_main_step() -> None:
    """g_step on a due step = G's main Adam step, then zero_grad, backward of 2 x 4 x penalty and a second step."""
    torch.manual_seed(0)
    G, D = ToyStyleGenerator(4, (1, 8, 8)), LinearCritic(64)
    regulariser = PathLength()
    regulariser.setup(G, D)
    by_hand, by_hand_regulariser = copy.deepcopy(G), PathLength()
    by_hand_regulariser.setup(by_hand, D)
    optimiser = torch.optim.Adam(G.parameters(), lr=1e-2, betas=(0.0, 0.99))
    by_hand_optimiser = torch.optim.Adam(by_hand.parameters(), lr=1e-2, betas=(0.0, 0.99))
    run_ = Updates(G, D, NonSaturating(), {"path_length": regulariser})
    for g_steps_done in (0, 1, 2, 3, 4):
        batch = step_inputs()
        torch.manual_seed(g_steps_done)
        stats = g_step(run_, optimiser, batch, g_steps_done)
        torch.manual_seed(g_steps_done)
        by_hand_optimiser.zero_grad()
        NonSaturating().g_loss(D(by_hand(batch.z))).backward()
        by_hand_optimiser.step()
        due = g_steps_done % 4 == 0
        if due:
            by_hand_optimiser.zero_grad()
            (2.0 * 4 * by_hand_regulariser.generator_penalty(batch)).backward()
            by_hand_optimiser.step()
        assert ("reg_g/path_length" in stats) is due and ("grad_norm/g_path_length" in stats) is due
        assert ("reg_g/path_length_mean" in stats) is due
        for mine, theirs in zip(G.parameters(), by_hand.parameters()):
            torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-7)


def test_r1_lazy_takes_an_optimiser_step_of_its_own_every_16_d_updates_scaled_by_16() -> None:
    torch.manual_seed(0)
    G, D = ToyStyleGenerator(4, (1, 8, 8)), LinearCritic(64)
    by_hand = copy.deepcopy(D)
    r1_lazy = GradientPenalty(weight=5.0, every=16, target=0.0, points=OnReal(), own_step=True)
    optimiser = torch.optim.Adam(D.parameters(), lr=1e-2, betas=(0.0, 0.99))
    by_hand_optimiser = torch.optim.Adam(by_hand.parameters(), lr=1e-2, betas=(0.0, 0.99))
    run_ = Updates(G, D, NonSaturating(), {"r1_lazy": r1_lazy})
    for d_steps_done in (0, 1, 15, 16, 17, 32):
        batch = step_inputs()
        stats = d_step(run_, optimiser, batch, d_steps_done)
        fake = G(batch.z).detach()
        by_hand_optimiser.zero_grad()
        scores = by_hand(torch.cat([batch.real, fake]))
        NonSaturating().d_loss(scores[:8], scores[8:]).backward()
        by_hand_optimiser.step()
        due = d_steps_done % 16 == 0
        if due:  # on the same real samples, with D as its main step left it
            by_hand_optimiser.zero_grad()
            x = batch.real.clone().requires_grad_(True)
            (gradient,) = torch.autograd.grad(by_hand(x).sum(), x, create_graph=True)
            (16 * 5.0 * gradient.square().flatten(1).sum(1).mean()).backward()
            by_hand_optimiser.step()
        assert ("reg/r1_lazy" in stats) is due and ("grad_norm/d_r1_lazy" in stats) is due
        for mine, theirs in zip(D.parameters(), by_hand.parameters()):
            torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-7)


def test_lazy_correction_of_learning_rates_and_betas_survives_the_schedule() -> None:
    cfg = make_config(*SHRINK, *TOY_G, "regulariser=[path_length,r1_lazy]", "train.lr_end_factor=0.5",
                      "train.lr_g=0.002", "train.lr_d=0.002", "train.betas=[0,0.99]")
    parts = build_parts(cfg)
    step = build_step(cfg, parts)
    for factor in (1.0, 0.75):  # the schedule's rates at G updates 0 and 1 of 2 (linear to 0.5)
        step()
        for optimiser, ratio in ((parts.state.opt_g, 4 / 5), (parts.state.opt_d, 16 / 17)):
            (group,) = optimiser.param_groups
            assert group["lr"] == pytest.approx(0.002 * factor * ratio, rel=1e-12)
            assert group["betas"] == pytest.approx((0.0, 0.99 ** ratio), rel=1e-12)
    plain = build_parts(make_config(*SHRINK, *TOY_G, "train.lr_g=0.002", "train.betas=[0,0.99]"))
    assert plain.state.opt_g.param_groups[0]["lr"] == 0.002 and plain.state.opt_g.param_groups[0]["betas"] == (0, 0.99)


def test_two_regularisers_with_own_steps_on_one_network_are_refused() -> None:
    two = {name: GradientPenalty(target=0.0, points=OnReal(), every=k, own_step=True) for name, k in (("a", 4), ("b", 16))}
    with pytest.raises(UserError, match="a, b each take an optimiser step of their own on D"):
        lazy_ratio(two, "d")
    assert lazy_ratio(two, "g") == 1.0 and lazy_ratio({"a": two["a"]}, "d") == 4 / 5


def test_a_run_regularises_on_its_lazy_steps_only_and_checkpoints_the_running_mean(tmp_path: Path) -> None:
    cfg = make_config(*SHRINK, *TOY_G, "regulariser=[path_length,r1_lazy]", "train.steps=17",
                      "train.sample_every=100", "train.checkpoint_every=100")
    train(cfg, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    rows = [row for row in rows if "loss/d" in row]
    assert [row["step"] for row in rows if "reg_g/path_length" in row] == [1, 5, 9, 13, 17]
    assert [row["step"] for row in rows if "reg_g/path_length_mean" in row] == [1, 5, 9, 13, 17]
    assert [row["step"] for row in rows if "reg/r1_lazy" in row] == [1, 17]
    state = Checkpoint.load(tmp_path / "checkpoints" / "last.pt").state
    assert state["regularisers"]["path_length"]["mean"].item() == pytest.approx(rows[-1]["reg_g/path_length_mean"])


def official_ema_beta(ema_kimg: float, ema_rampup: float | None, cur_nimg: int, batch_size: int) -> float:
    """stylegan2-ada-pytorch training/training_loop.py l.298-301."""
    ema_nimg = ema_kimg * 1000
    if ema_rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
    return 0.5 ** (batch_size / max(ema_nimg, 1e-8))


@pytest.mark.parametrize("rampup", [0.5, None])
def test_ema_by_half_life_in_images_follows_the_official_formula(rampup: float | None) -> None:
    G = nn.Linear(2, 2)
    ema = EMA(G, decay=0.999, rampup=rampup, kimg=0.01)
    seen = 0
    for batch in (8, 8, 8, 32, 64, 64):  # a batch size that changes mid-run (progressive growing's)
        assert ema.beta(seen // 8 + 1, seen, batch) == official_ema_beta(0.01, rampup, seen, batch)
        seen += batch
    assert EMA(G, decay=0.999, rampup=0.05).beta(7, 1000, 64) == EMA(G, decay=0.999, rampup=0.05).beta(7)


def test_the_steps_average_g_by_images_seen_as_the_official_loop() -> None:
    cfg = make_config(*SHRINK, *TOY_G, "train.ema_kimg=0.01", "train.ema_rampup=0.5")
    parts = build_parts(cfg)
    step = build_step(cfg, parts)
    expected = [p.detach().clone() for p in parts.state.G.parameters()]
    for cur_nimg in (0, 8, 16, 24, 32):
        step()
        beta = official_ema_beta(0.01, 0.5, cur_nimg, 8)
        expected = [p.detach().lerp(e, beta) for p, e in zip(parts.state.G.parameters(), expected)]
        for mine, theirs in zip(parts.state.ema.model.parameters(), expected):
            torch.testing.assert_close(mine, theirs, rtol=1e-6, atol=1e-7)


def _graph_config(*extra: str, steps: int = 12) -> object:
    return make_config(*(o for o in SHRINK if not o.startswith(("train.device", "train.steps", "train.sample_every"))),
                       "train.device=cuda", f"train.steps={steps}", "train.sample_every=100", *TOY_G, *extra)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_own_steps_are_recorded_in_cuda_graphs(tmp_path: Path) -> None:
    """R1's own step (no random draw) replays the eager run's arithmetic; path length's (its noise from the graph's
    own offsets) records, never synchronises and moves its running mean on the GPU."""
    from gan_runner.engine.build import build_parts, build_step
    from tests.conftest import metric_rows, without_synchronising

    lazy = ("regulariser=[r1_lazy]", "regulariser.r1_lazy.every=2")
    train(_graph_config(*lazy), tmp_path / "eager")
    train(_graph_config(*lazy, "train.cuda_graph=true"), tmp_path / "graphed")
    rows = [metric_rows(tmp_path / name) for name in ("eager", "graphed")]
    for eager, graphed in zip(*rows, strict=True):
        assert graphed.keys() == eager.keys()
        for key in eager:
            assert graphed[key] == pytest.approx(eager[key], rel=1e-4, abs=1e-6), (eager["step"], key)
    cfg = _graph_config("train.cuda_graph=true", "regulariser=[path_length,r1_lazy]", "regulariser.path_length.every=2")
    parts = build_parts(cfg)
    step = build_step(cfg, parts)
    for _ in range(12):
        step()
    assert len(step.recorded) >= 2
    mean = parts.state.regularisers["path_length"].mean.item()
    without_synchronising(lambda: [step() for _ in range(4)])
    assert parts.state.regularisers["path_length"].mean.item() > mean > 0


def test_a_run_with_path_length_resumes_exactly_across_its_running_mean(tmp_path: Path) -> None:
    common = (*SHRINK, *TOY_G, "regulariser=[path_length,r1_lazy]", "regulariser.r1_lazy.every=4",
              "train.sample_every=100", "train.checkpoint_every=100", "train.ema_kimg=0.01")
    train(make_config(*common, "train.steps=10"), tmp_path / "whole")
    train(make_config(*common, "train.steps=5"), tmp_path / "parts")
    train(make_config(*common, "train.steps=10"), tmp_path / "parts",
          resume=Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt"))
    whole, parts = (Checkpoint.load(tmp_path / name / "checkpoints" / "last.pt").state for name in ("whole", "parts"))
    assert parts["regularisers"]["path_length"]["mean"].item() == whole["regularisers"]["path_length"]["mean"].item()
    for key in ("G", "D", "G_ema"):
        for name, value in whole[key].items():
            torch.testing.assert_close(parts[key][name], value, rtol=0, atol=0, msg=f"{key}.{name}")
