"""The training core: the generator's moving average, statistics between log rows, what penalties see,
combination warnings from capabilities, the data order on resume and safe checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from gan_runner.arch.dcgan import Discriminator
from gan_runner.checkpoint import UnsafeCheckpoint, load_checkpoint, load_for_resume, rng_state, set_rng_state
from gan_runner.data.digits import Digits
from gan_runner.data.toy import Ring
from gan_runner.errors import UserError
from gan_runner.objectives import Objective
from gan_runner.objectives.fgan import JensenShannon
from gan_runner.objectives.hinge import Hinge
from gan_runner.objectives.wgan import Wasserstein
from gan_runner.regularisers import combination_warnings
from gan_runner.regularisers.gradient_penalty import GradientPenalty, Interpolates, OnFake, OnReal, PerturbedReal
from gan_runner.regularisers.label_smoothing import LabelSmoothing
from gan_runner.regularisers.spectral_norm import SpectralNorm
from gan_runner.regularisers.weight_clipping import WeightClipping
from gan_runner.sample import load_generator
from gan_runner.state import EMA
from gan_runner.stats import StatsCollector
from gan_runner.steps import Batch, d_step
from gan_runner.train import train
from tests.conftest import REPO, SHRINK, TINY_ARCH, make_config

# --- 1. the generator's moving average -------------------------------------------------------------------


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
    cfg = make_config(*SHRINK, "train.steps=3", *TINY_ARCH["dcgan"], "train.ema=0.9", "train.ema_rampup=null")
    train(cfg, tmp_path)
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    G, G_ema = state["G"], state["G_ema"]
    running = [k for k in G if k.endswith("running_mean")]
    assert running and all(not torch.equal(G[k], G_ema[k]) for k in running)  # averaged, not copied


# --- 2. statistics between log rows ---------------------------------------------------------------------


def test_the_collector_averages_each_statistic_over_the_steps_that_reported_it() -> None:
    collector = StatsCollector()
    for step in range(8):
        stats = {"loss/d": torch.tensor(float(step))}
        if step % 4 == 1:  # a lazy penalty, on steps 1 and 5
            stats["reg/gp0"] = torch.tensor(10.0 * step)
        collector.add(stats)
    assert collector.means() == {"loss/d": pytest.approx(3.5), "reg/gp0": pytest.approx(30.0)}
    assert collector.means() == {}  # a row starts the next one afresh
    collector.add({"loss/g": torch.tensor(2.0)})
    restored = StatsCollector()
    restored.load_state_dict(collector.state_dict())
    restored.add({"loss/g": torch.tensor(4.0)})
    assert restored.means() == {"loss/g": pytest.approx(3.0)}


def test_a_lazy_penalty_appears_in_every_row_of_the_ring8_defaults(tmp_path: Path) -> None:
    # ring8: gp0 every 4 D steps, a row every 50 steps. Before, the row held only the last step's
    # statistics, and step 50's D step (number 49) computes no penalty, so no row had reg/gp0.
    cfg = make_config("dataset=ring8", "logger=none", "metrics=none", "train.steps=100", "train.sample_every=1000",
                      "train.device=cpu", *TINY_ARCH["mlp"])
    assert cfg.regulariser.gp0.every == 4 and cfg.train.log_every == 50
    train(cfg, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [50, 100]
    assert all(row["reg/gp0"] > 0 for row in rows)


# --- 3. gradient penalties and batch norm ---------------------------------------------------------------


@pytest.mark.parametrize("norm, mixes", [("batch", True), ("layer", False), ("instance", False), ("none", False)])
def test_only_batch_norm_makes_one_samples_gradient_depend_on_the_others(norm: str, mixes: bool) -> None:
    torch.manual_seed(0)
    D = Discriminator((1, 16, 16), width=8, norm=norm).train()
    x = torch.randn(6, 1, 16, 16, requires_grad=True)
    (grad,) = torch.autograd.grad(D(x)[0], x)
    assert (grad[1:].abs().max().item() > 1e-6) is mixes  # D(x_0)'s dependence on the other samples


def test_a_penalty_with_a_batch_normalised_d_warns_and_names_the_fix(tmp_path: Path) -> None:
    common = [*SHRINK, *TINY_ARCH["dcgan"], "dataset.resolution=16", "regulariser=[gp,r1]"]
    (warning,) = train(make_config(*common), tmp_path / "batch")["warnings"]
    assert "gp, r1 with a batch-normalised discriminator" in warning and "arch.discriminator.norm=layer" in warning
    assert train(make_config(*common, "arch.discriminator.norm=layer"), tmp_path / "layer")["warnings"] == []


def test_an_unknown_norm_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="norm must be one of batch, layer, instance, none"):
        train(make_config(*SHRINK, *TINY_ARCH["dcgan"], "arch.discriminator.norm=group"), tmp_path)


# --- 4. warnings from capabilities ----------------------------------------------------------------------


@pytest.mark.parametrize("penalty", [
    GradientPenalty(target=0, points=OnReal()), GradientPenalty(target=0, points=OnFake()),
    GradientPenalty(target=1, points=PerturbedReal()), GradientPenalty(target=0, points=Interpolates()),
])
def test_wgan_with_a_penalty_that_is_no_lipschitz_constraint_is_warned(penalty: GradientPenalty) -> None:
    (message,) = combination_warnings(Wasserstein(), {"p": penalty})
    assert "without a Lipschitz constraint" in message


@pytest.mark.parametrize("constraint", [GradientPenalty(), SpectralNorm(), WeightClipping()])
def test_wgan_with_a_lipschitz_constraint_is_not_warned(constraint: object) -> None:
    assert combination_warnings(Wasserstein(), {"c": constraint}) == []


def test_a_new_objective_declares_what_it_is_and_needs_no_edit_elsewhere() -> None:
    class MyLogistic(Objective):
        logistic = True

    class MyCritic(Objective):
        needs_lipschitz_critic = True

    assert combination_warnings(MyLogistic(), {"ls": LabelSmoothing()}) == []
    assert combination_warnings(JensenShannon(), {"ls": LabelSmoothing()}) == []  # softplus losses, up to log 4
    assert "cross-entropy" in combination_warnings(Hinge(), {"ls": LabelSmoothing()})[0]
    assert "Lipschitz" in combination_warnings(MyCritic(), {})[0]


# --- 7. the data order on resume ------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", [Digits(8), Ring()], ids=["images", "mixture"])
def test_the_data_order_starts_at_any_batch_as_if_replayed(dataset: object) -> None:
    replayed = dataset.batches(64, torch.Generator().manual_seed(3))
    order = [next(replayed) for _ in range(90)]  # digits: 28 batches an epoch
    for start in (0, 1, 27, 28, 29, 56, 85):
        batches = dataset.batches(64, torch.Generator().manual_seed(3), start=start)
        for expected in order[start:start + 3]:
            x, y = next(batches)
            assert torch.equal(x, expected[0]) and torch.equal(y, expected[1]), start


def test_skipping_the_data_order_builds_no_images() -> None:
    # 250,000 batches of 128x128 images: replaying them built every batch (minutes); skipping draws one
    # permutation an epoch. Generous bound: this only catches a return to replaying.
    digits = Digits(128)
    started = time.perf_counter()
    next(digits.batches(64, torch.Generator().manual_seed(0), start=250_000))
    assert time.perf_counter() - started < 20


# --- 8. conditional R2 scores the fakes with their own labels --------------------------------------------


class LabelRecorder(nn.Module):
    """A conditional critic that remembers the labels of each call."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(2))
        self.calls: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self.calls.append(y)
        return x.flatten(1) @ self.weight + y.float()


@pytest.mark.parametrize("points, side", [(OnFake(), "fake"), (OnReal(), "real"), (Interpolates(), "real")])
def test_penalties_score_their_points_with_the_matching_labels(points: object, side: str) -> None:
    D, G = LabelRecorder(), nn.Identity()
    batch = Batch(torch.randn(4, 2), torch.tensor([0, 1, 2, 3]), torch.randn(4, 2), torch.tensor([7, 7, 8, 8]))
    G.forward = lambda z, y=None: z  # noqa: E731
    optimiser = torch.optim.SGD(D.parameters(), lr=0.0)
    d_step(G, D, Hinge(), {"r": GradientPenalty(target=0, points=points)}, optimiser, batch, 0)
    expected = batch.fake_labels if side == "fake" else batch.real_labels
    assert torch.equal(D.calls[-1], expected)


# --- 9. checkpoints open with weights_only=True ---------------------------------------------------------


class Payload:
    """What a crafted checkpoint can hide: unpickling it calls open(marker, "w")."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def test_a_checkpoint_holding_a_pickled_callable_is_refused_unopened(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    run = tmp_path / "shared-run"
    (run / "checkpoints").mkdir(parents=True)
    path = run / "checkpoints" / "last.pt"
    torch.save({"G_ema": {}, "config": {}, "data_shape": [2], "surprise": Payload(marker)}, path)
    with pytest.raises(UnsafeCheckpoint, match=r"io\.open"):
        load_checkpoint(path)
    for load in (lambda: load_generator(run), lambda: load_for_resume(path)):
        with pytest.raises(UserError, match="Refused to open .*could run arbitrary code"):
            load()
    assert not marker.exists()


def test_checkpoints_hold_only_tensors_and_plain_containers(tmp_path: Path) -> None:
    train(make_config(*SHRINK, "dataset=ring8", *TINY_ARCH["mlp"], "regulariser=[spectral_norm,instance_noise]"),
          tmp_path)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)  # no allow-list at all
    assert state["step"] == 2 and state["regularisers"]["instance_noise"] == {"d_steps": 2}


def test_rng_states_round_trip_through_plain_containers() -> None:
    np.random.seed(5)
    np.random.normal()  # a cached Gaussian half-pair is part of NumPy's state
    saved = rng_state()
    first = (np.random.normal(), np.random.rand(), torch.rand(1).item())
    set_rng_state(saved)
    assert (np.random.normal(), np.random.rand(), torch.rand(1).item()) == first
    set_rng_state({**saved, "numpy": np.random.get_state()})  # an earlier version's tuple still loads


# --- users' own components ------------------------------------------------------------------------------


def test_a_users_own_objective_plugs_in_from_their_folder(tmp_path: Path) -> None:
    (tmp_path / "conf" / "objective").mkdir(parents=True)
    (tmp_path / "my_losses.py").write_text(
        "import torch.nn.functional as F\n"
        "from gan_runner.objectives import Objective\n\n\n"
        "class SoftHinge(Objective):\n"
        "    def d_loss(self, real_scores, fake_scores):\n"
        "        return F.softplus(1 - real_scores).mean() + F.softplus(1 + fake_scores).mean()\n\n"
        "    def g_loss(self, fake_scores, real_scores=None):\n"
        "        return -fake_scores.mean()\n")
    (tmp_path / "conf" / "objective" / "soft_hinge.yaml").write_text("_target_: my_losses.SoftHinge\n")
    gan_run = Path(sys.executable).with_name("gan-run")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [str(gan_run), f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "objective=soft_hinge", "dataset=ring8",
         *TINY_ARCH["mlp"], "train.steps=3", "logger=none", "metrics=none", "train.device=cpu",
         f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    config = (tmp_path / "run" / ".hydra" / "config.yaml").read_text()
    assert summary["status"] == "completed" and "my_losses.SoftHinge" in config
    assert REPO not in Path(tmp_path).parents  # the component lives outside the package


def test_a_target_that_cannot_be_imported_is_a_clear_error(tmp_path: Path) -> None:
    cfg = make_config(*SHRINK, "dataset=ring8", *TINY_ARCH["mlp"])
    cfg.objective._target_ = "nowhere.Missing"
    with pytest.raises(UserError, match="objective: .*nowhere.Missing.*PYTHONPATH"):
        train(cfg, tmp_path)


# --- the GPU path ---------------------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_conditional_run_trains_checkpoints_and_resumes_on_cuda(tmp_path: Path) -> None:
    from gan_runner.checkpoint import load_for_resume

    common = [*(o for o in SHRINK if not o.startswith("train.device")), "train.device=cuda", "arch=resnet",
              *TINY_ARCH["resnet"], "dataset=digits", "conditional=true", "objective=hinge",
              "regulariser=[spectral_norm,r1]", "train.ema=0.9"]
    whole = train(make_config(*common, "train.steps=4"), tmp_path / "whole")
    assert whole["status"] == "completed" and whole["device"] == "cuda"
    train(make_config(*common, "train.steps=2"), tmp_path / "parts")
    resumed = make_config(*common, "train.steps=4")
    train(resumed, tmp_path / "parts", resume=load_for_resume(tmp_path / "parts" / "checkpoints" / "last.pt"))
    a = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "parts" / "checkpoints" / "last.pt")
    for key in a["G_ema"]:  # cuDNN may pick other algorithms between processes' runs: close, not bit-equal
        torch.testing.assert_close(a["G_ema"][key], b["G_ema"][key], rtol=1e-4, atol=1e-5, msg=key)
    assert (tmp_path / "parts" / "samples" / "step_000004.png").is_file()


def test_a_gradient_penalty_saved_by_an_earlier_version_still_builds() -> None:
    # Until 2026-11 conf/regulariser/*.yaml named the points as partial functions; saved runs keep that.
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    old = OmegaConf.create({"_target_": "gan_runner.regularisers.gradient_penalty.GradientPenalty", "target": 1.0,
                            "points": {"_target_": "gan_runner.regularisers.gradient_penalty.perturbed_real",
                                       "_partial_": True, "scale": 0.25}})
    penalty = instantiate(old)
    assert isinstance(penalty.points, PerturbedReal) and penalty.points.scale == 0.25
