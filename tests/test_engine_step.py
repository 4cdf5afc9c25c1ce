"""engine/step.py: the loop's step fetches nothing from the device until a row (and never synchronises on
CUDA), every precision trains (fp16's scaled gradient penalty equals fp32's), torch.compile matches eager, an
unconditional run draws no labels."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from gan_runner.engine.build import build_parts, build_step
from gan_runner.engine.loop import train
from gan_runner.engine.step import Schedule
from gan_runner.regularisers.gradient_penalty import GradientPenalty
from gan_runner.run_directory import Checkpoint
from tests.conftest import SHRINK, TINY, make_config, metric_rows, without_synchronising




FETCHES = ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__")


@pytest.mark.parametrize("overrides", [
    ["dataset=ring8", *TINY],
    ["arch=resnet", *TINY, "conditional=true", "regulariser=[spectral_norm,r1,instance_noise]"],
], ids=["ring8-gp0", "conditional-resnet"])
def test_steady_state_steps_return_device_tensors_and_fetch_nothing_until_a_row(
        monkeypatch: pytest.MonkeyPatch, overrides: list[str]) -> None:
    """The loop's own step (schedule, updates, counters, statistics, the moving average) fetches nothing from the
    device: its statistics stay device tensors until a row reads them all at once."""
    from gan_runner.engine.build import build_parts, build_step

    cfg = make_config(*SHRINK, *overrides)
    parts = build_parts(cfg)
    step = build_step(cfg, parts)

    def refusing(name: str):
        original = getattr(torch.Tensor, name)

        def refuse(self, *args, **kwargs):
            # foreach Adam reads its step counters, CPU scalars, with .item(): no device fetch (on CUDA the
            # counters are CPU tensors, or device tensors with fused Adam). Anything else is refused.
            if "torch/optim" in sys._getframe(1).f_code.co_filename:
                return original(self, *args, **kwargs)
            raise AssertionError(f"Tensor.{name} fetched a value inside the steady-state step")
        return refuse

    with monkeypatch.context() as patch:
        for name in FETCHES:
            patch.setattr(torch.Tensor, name, refusing(name))
        for _ in range(5):
            step()
        assert all(isinstance(total, torch.Tensor) for total, _ in parts.state.stats.groups.values())
    assert parts.state.step == 5 and parts.state.d_steps == 5 and parts.state.images_seen == 5 * 8
    row = parts.state.stats.means()  # the row fetches, once
    assert {"loss/d", "loss/g", "d/real", "d/fake"} <= set(row)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_every_precision_trains_on_the_cpu(tmp_path: Path, precision: str) -> None:
    cfg = make_config(*SHRINK, "train.steps=4", *TINY, "regulariser=[gp]", "arch.discriminator.norm=layer",
                      f"train.precision={precision}")
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed" and summary["step"] == 4
    state = Checkpoint.load(tmp_path / "checkpoints" / "last.pt").state
    assert (state["scaler_d"] != {}) is (precision == "fp16")  # fp16's loss scales are training state
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(v) for row in rows for v in row.values())


class TinyCritic(nn.Module):
    """A critic whose input gradients (~1e-8) lie below fp16's smallest number (6e-8)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 1))
        with torch.no_grad():
            self.net[0].weight.mul_(1e-2)
            self.net[2].weight.mul_(1e-5)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).squeeze(1)


def test_an_fp16_gradient_penalty_scales_its_inner_gradient_and_equals_fp32() -> None:
    from gan_runner.engine.step import Precision, StepCritic

    D, cpu = TinyCritic(), torch.device("cpu")
    real, fake, penalty = torch.randn(32, 8), torch.randn(32, 8), GradientPenalty(target=0)
    torch.manual_seed(1)
    fp32 = penalty.penalty(StepCritic(D, Precision("fp32", cpu)), real, fake).item()
    fp16 = Precision("fp16", cpu)
    fp16.scaler_d = torch.amp.GradScaler("cpu", init_scale=2.0**15)
    critic = StepCritic(D, fp16)
    torch.manual_seed(1)
    scaled = penalty.penalty(critic, real, fake).item()
    critic.gradient_scale = None  # the same fp16 pass without the loss scale: the gradient underflows to 0
    torch.manual_seed(1)
    unscaled = penalty.penalty(critic, real, fake).item()
    assert fp32 > 0 and scaled == pytest.approx(fp32, rel=1e-2) and unscaled == 0.0


def test_a_compiled_run_matches_the_eager_one(tmp_path: Path) -> None:
    # torch.compile of G and D (inductor builds CPU kernels with the system's C compiler); the gradient
    # penalty's double backward runs on the eager D. Fused kernels round differently: close, not equal.
    common = [*SHRINK, "train.steps=3", *TINY, "regulariser=[gp,spectral_norm]", "arch.discriminator.norm=layer"]
    train(make_config(*common), tmp_path / "eager")
    train(make_config(*common, "train.compile=true"), tmp_path / "compiled")
    rows = [metric_rows(tmp_path / run) for run in ("eager", "compiled")]
    for eager, compiled in zip(*rows):
        assert compiled.keys() == eager.keys()
        for key in eager:
            assert compiled[key] == pytest.approx(eager[key], rel=1e-3, abs=1e-5), key


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_steady_state_steps_never_synchronise_on_cuda(precision: str) -> None:
    from gan_runner.engine.build import build_parts, build_step

    cfg = make_config(*(o for o in SHRINK if not o.startswith("train.device")), "train.device=cuda", "arch=resnet",
                      *TINY, "conditional=true", "regulariser=[spectral_norm,r1]",
                      f"train.precision={precision}")
    parts = build_parts(cfg)
    step = build_step(cfg, parts)
    for _ in range(2):  # warm-up: cuDNN's autotuner and first allocations may synchronise
        step()
    without_synchronising(lambda: [step() for _ in range(5)])
    assert "loss/d" in parts.state.stats.means()


def test_an_unconditional_run_draws_no_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Its random numbers must stay those of the runs made before conditioning existed.
    def refuse(*args, **kwargs):
        raise AssertionError("torch.randint called by an unconditional run")

    monkeypatch.setattr(torch, "randint", refuse)
    summary = train(make_config(*SHRINK, *TINY, "dataset=digits"), tmp_path)
    assert summary["status"] == "completed"


def rows_seen(module: nn.Module, log: list[int]) -> None:
    module.register_forward_pre_hook(lambda _, args: log.append(len(args[0])))


def test_g_batch_size_gives_gs_update_its_own_batch() -> None:
    """train.g_batch_size=16 with D's batch 8 (SNGAN's n_gen_samples = 2 x batchsize): G's forward in D's update
    makes 8 fakes, in its own update 16, and D scores 8 + 8 then 16."""
    cfg = make_config(*SHRINK, *TINY, "train.batch_size=8", "train.g_batch_size=16")
    parts = build_parts(cfg)
    step = build_step(cfg, parts)
    g_rows, d_rows = [], []
    rows_seen(parts.state.G, g_rows)
    rows_seen(parts.state.D, d_rows)
    step()
    assert g_rows == [8, 16] and d_rows == [16, 16]  # one pass over real + fake for D's update, then G's fakes


def test_a_simultaneous_update_takes_both_gradients_from_one_forward_pass() -> None:
    """train.simultaneous=true: G makes its fakes once; D's and G's gradients are those of their losses at the
    weights before either update (computed here by hand from the same inputs), applied by one SGD step each."""
    cfg = make_config(*SHRINK, "dataset=ring8", *TINY, "train.simultaneous=true", "train.d_loss_scale=0.5",
                      "optimizer@optimizer.g=sgd", "optimizer@optimizer.d=sgd", "optimizer.g.momentum=0",
                      "optimizer.d.momentum=0", "train.lr_g=0.1", "train.lr_d=0.1", "regulariser=none",
                      "objective=nonsaturating")
    parts = build_parts(cfg)
    step = build_step(cfg, parts)
    G, D, objective = parts.state.G, parts.state.D, parts.objective
    G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)  # the weights before the step
    g_calls = []
    rows_seen(G, g_calls)
    torch.manual_seed(5)
    step()
    assert g_calls == [8]  # one forward pass of G a step
    reference = build_step(cfg, build_parts(cfg))  # the same data order
    torch.manual_seed(5)
    inputs = reference.inputs.next()  # and the same z
    fake = G_ref(inputs.z)
    real_scores, fake_scores = D_ref(torch.cat([inputs.real, fake])).split([8, 8])
    d_grads = torch.autograd.grad(0.5 * objective.d_loss(real_scores, fake_scores), list(D_ref.parameters()),
                                  retain_graph=True)
    g_grads = torch.autograd.grad(objective.g_loss(fake_scores), list(G_ref.parameters()))
    for module, start, grads in ((D, D_ref, d_grads), (G, G_ref, g_grads)):
        for parameter, before, grad in zip(module.parameters(), start.parameters(), grads):
            torch.testing.assert_close(parameter.detach(), before.detach() - 0.1 * grad)


def test_d_loss_scale_scales_ds_sgd_step() -> None:
    common = [*SHRINK, "dataset=ring8", *TINY, "optimizer@optimizer.d=sgd", "optimizer.d.momentum=0",
              "regulariser=none"]
    moved = []
    for scale in (1.0, 0.5):
        cfg = make_config(*common, f"train.d_loss_scale={scale}")
        parts = build_parts(cfg)
        start = [p.detach().clone() for p in parts.state.D.parameters()]
        build_step(cfg, parts)()
        moved.append(torch.cat([(p.detach() - s).flatten() for p, s in zip(parts.state.D.parameters(), start)]))
    torch.testing.assert_close(moved[1], 0.5 * moved[0])


def test_critic_bursts_take_their_d_updates_at_the_start_and_every_so_often() -> None:
    cfg = make_config(*SHRINK, "dataset=ring8", *TINY, "train.steps=6",
                      "train.critic_bursts.n_critic=3",
                      "train.critic_bursts.first=2", "train.critic_bursts.every=4")
    parts = build_parts(cfg)
    step = build_step(cfg, parts)
    counts = []
    for _ in range(6):
        before = parts.state.d_steps
        step()
        counts.append(parts.state.d_steps - before)
    assert counts == [3, 3, 1, 1, 3, 1] and parts.state.images_seen == 12 * 8


def test_the_schedule_decays_per_update_to_its_floor_and_moves_the_momentum() -> None:
    schedule = Schedule(0.1, 0.2, 1.0, 100, decay=1.000004, lr_min=0.05, momentum_start=0.5, momentum_end=0.7,
                        momentum_steps=4)
    assert schedule.rates(0) == (0.1, 0.2)
    assert schedule.rates(20000) == pytest.approx((0.1 / 1.000004 ** 20000, 0.2 / 1.000004 ** 20000))  # 0.0923
    assert schedule.rates(300_000) == pytest.approx((0.05, 0.2 / 1.000004 ** 300_000))  # G's at the floor
    assert [schedule.momentum(t) for t in (0, 2, 4, 100)] == pytest.approx([0.5, 0.6, 0.7, 0.7])
    cfg = make_config(*SHRINK, "dataset=ring8", *TINY, "train.steps=3", "optimizer@optimizer.g=sgd",
                      "optimizer@optimizer.d=sgd", "train.lr_decay=2.0", "train.lr_end_factor=1.0",
                      "train.momentum_end=0.7", "train.momentum_steps=4")
    parts = build_parts(cfg)
    step = build_step(cfg, parts)
    for _ in range(3):
        step()
    group = parts.state.opt_g.param_groups[0]
    assert group["lr"] == pytest.approx(cfg.train.lr_g / 4) and group["momentum"] == pytest.approx(0.6)
