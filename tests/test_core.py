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
from omegaconf import DictConfig
from torch import nn

from gan_runner.arch.dcgan import Discriminator
from gan_runner.engine.state import restore_rng, rng_state
from gan_runner.run_directory import Checkpoint, UnsafeCheckpoint, read_safely
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
from gan_runner.commands.sample import load_generator
from gan_runner.engine.state import EMA
from gan_runner.engine.stats import StatsCollector
from gan_runner.engine.step import UpdateInputs, d_step
from gan_runner.engine.loop import train
from tests.conftest import REPO, SHRINK, TINY, make_config, metric_rows

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


# --- 2. statistics between log rows ---------------------------------------------------------------------


def test_the_collector_averages_each_statistic_over_the_steps_that_reported_it() -> None:
    collector = StatsCollector()
    for step in range(8):
        stats = {"loss/d": torch.tensor(float(step))}
        if step % 4 == 1:  # a lazy penalty, on steps 1 and 5
            stats["reg/gp0"] = torch.tensor(10.0 * step)
        collector.add(stats, step)
    assert collector.means() == {"loss/d": pytest.approx(3.5), "reg/gp0": pytest.approx(30.0)}
    assert collector.means() == {}  # a row starts the next one afresh
    collector.add({"loss/g": torch.tensor(2.0)}, 8)
    restored = StatsCollector()
    restored.load_state_dict(collector.state_dict())
    restored.add({"loss/g": torch.tensor(4.0)}, 9)
    assert restored.means() == {"loss/g": pytest.approx(3.0)}


def test_a_lazy_penalty_appears_in_every_row_of_the_ring8_defaults(tmp_path: Path) -> None:
    # ring8: gp0 every 4 D steps, a row every 50 steps. Before, the row held only the last step's
    # statistics, and step 50's D step (number 49) computes no penalty, so no row had reg/gp0.
    cfg = make_config("dataset=ring8", "logger=none", "metrics=none", "train.steps=100", "train.sample_every=1000",
                      "train.device=cpu", *TINY)
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
    common = [*SHRINK, *TINY, "dataset.resolution=16", "regulariser=[gp,r1]"]
    (warning,) = train(make_config(*common), tmp_path / "batch")["warnings"]
    assert "gp, r1 with a batch-normalised discriminator" in warning and "arch.discriminator.norm=layer" in warning
    assert train(make_config(*common, "arch.discriminator.norm=layer"), tmp_path / "layer")["warnings"] == []


def test_an_unknown_norm_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="norm must be one of batch, layer, instance, none"):
        train(make_config(*SHRINK, *TINY, "arch.discriminator.norm=group"), tmp_path)


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
    batch = UpdateInputs(torch.randn(4, 2), torch.tensor([0, 1, 2, 3]), torch.randn(4, 2), torch.tensor([7, 7, 8, 8]))
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
        read_safely(path)
    for load in (lambda: load_generator(run), lambda: Checkpoint.load(path)):
        with pytest.raises(UserError, match="Refused to open .*could run arbitrary code"):
            load()
    assert not marker.exists()


def test_checkpoints_hold_only_tensors_and_plain_containers(tmp_path: Path) -> None:
    train(make_config(*SHRINK, "dataset=ring8", *TINY, "regulariser=[spectral_norm,instance_noise]"),
          tmp_path)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)  # no allow-list at all
    assert state["step"] == 2 and state["regularisers"]["instance_noise"] == {"d_steps": 2}


def test_rng_states_round_trip_through_plain_containers() -> None:
    np.random.seed(5)
    np.random.normal()  # a cached Gaussian half-pair is part of NumPy's state
    saved = rng_state()
    first = (np.random.normal(), np.random.rand(), torch.rand(1).item())
    restore_rng(saved)
    assert (np.random.normal(), np.random.rand(), torch.rand(1).item()) == first


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
         *TINY, "train.steps=3", "logger=none", "metrics=none", "train.device=cpu",
         f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    config = (tmp_path / "run" / ".hydra" / "config.yaml").read_text()
    assert summary["status"] == "completed" and "my_losses.SoftHinge" in config
    assert REPO not in Path(tmp_path).parents  # the component lives outside the package


def test_a_target_that_cannot_be_imported_is_a_clear_error(tmp_path: Path) -> None:
    cfg = make_config(*SHRINK, "dataset=ring8", *TINY)
    cfg.objective._target_ = "nowhere.Missing"
    with pytest.raises(UserError, match="objective: .*nowhere.Missing.*PYTHONPATH"):
        train(cfg, tmp_path)


# --- the GPU path ---------------------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_conditional_run_trains_checkpoints_and_resumes_on_cuda(tmp_path: Path) -> None:
    from gan_runner.run_directory import Checkpoint

    common = [*(o for o in SHRINK if not o.startswith("train.device")), "train.device=cuda", "arch=resnet",
              *TINY, "dataset=digits", "conditional=true", "objective=hinge",
              "regulariser=[spectral_norm,r1]", "train.ema=0.9"]
    whole = train(make_config(*common, "train.steps=4"), tmp_path / "whole")
    assert whole["status"] == "completed" and whole["device"] == "cuda"
    train(make_config(*common, "train.steps=2"), tmp_path / "parts")
    resumed = make_config(*common, "train.steps=4")
    train(resumed, tmp_path / "parts", resume=Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt"))
    a = Checkpoint.load(tmp_path / "whole" / "checkpoints" / "last.pt").state
    b = Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt").state
    for key in a["G_ema"]:  # cuDNN may pick other algorithms between processes' runs: close, not bit-equal
        torch.testing.assert_close(a["G_ema"][key], b["G_ema"][key], rtol=1e-4, atol=1e-5, msg=key)
    assert (tmp_path / "parts" / "samples" / "step_000004.png").is_file()


def test_a_gradient_penalty_saved_by_an_earlier_version_still_builds() -> None:
    # Until 2026-11 conf/regulariser/*.yaml named the points as partial functions; saved runs keep that.
    from hydra.utils import instantiate

    from gan_runner.run_directory import upgrade

    old = {"train": {}, "regulariser": {"dragan": {
        "_target_": "gan_runner.regularisers.gradient_penalty.GradientPenalty", "target": 1.0,
        "points": {"_target_": "gan_runner.regularisers.gradient_penalty.perturbed_real", "_partial_": True,
                   "scale": 0.25}}}}
    penalty = instantiate(upgrade("config", old)["regulariser"]["dragan"])
    assert isinstance(penalty.points, PerturbedReal) and penalty.points.scale == 0.25


# --- no host synchronisation in the steady state --------------------------------------------------------

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


def test_a_non_finite_statistic_names_its_first_step_at_the_next_row() -> None:
    from gan_runner.engine.stopping import Diverged

    collector = StatsCollector()
    for step, value in ((1, 0.5), (2, float("inf")), (3, float("nan")), (4, 0.5)):
        collector.add({"loss/d": torch.tensor(0.1), "loss/g": torch.tensor(value)}, step)
    with pytest.raises(Diverged) as bad:
        collector.check()
    assert (bad.value.quantity, bad.value.step) == ("loss/g", 2)
    with pytest.raises(Diverged):
        collector.means()


# --- precision ------------------------------------------------------------------------------------------


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


def without_synchronising(work: object) -> None:
    """`work()` with any host synchronisation an error (torch.cuda.set_sync_debug_mode)."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        work()
    finally:
        torch.cuda.set_sync_debug_mode(0)


# --- CUDA graphs (train.cuda_graph) -----------------------------------------------------------------------


def test_a_cuda_graph_is_refused_where_it_cannot_record_the_step(tmp_path: Path) -> None:
    cfg = make_config(*SHRINK, *TINY, "train.cuda_graph=true", "train.precision=fp16",
                      "regulariser=[instance_noise]")
    with pytest.raises(UserError) as refused:
        train(cfg, tmp_path)
    message = str(refused.value)
    for reason in ("on cpu", "train.precision=fp16", "regulariser instance_noise", "train.cuda_graph=false"):
        assert reason in message, reason
    assert not (tmp_path / "checkpoints").exists()  # refused before any work


def _graph_config(*extra: str, steps: int = 12) -> DictConfig:
    return make_config(*(o for o in SHRINK if not o.startswith(("train.device", "train.steps", "train.sample_every"))),
                       "train.device=cuda", f"train.steps={steps}", "train.sample_every=100", *TINY,
                       "arch.discriminator.norm=layer", *extra)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("n_critic", [1, 2])
def test_a_graphed_run_trains_as_the_eager_one(tmp_path: Path, n_critic: int) -> None:
    # No random draw inside the step (no penalty), so the graph replays the eager run's arithmetic on the same
    # batches and z; the learning rates decay (lr_end_factor), which the graph reads from the GPU each step.
    common = [f"train.n_critic={n_critic}", "train.lr_end_factor=0.1"]
    train(_graph_config(*common), tmp_path / "eager")
    summary = train(_graph_config(*common, "train.cuda_graph=true"), tmp_path / "graphed")
    assert summary["status"] == "completed"
    rows = [metric_rows(tmp_path / run) for run in ("eager", "graphed")]
    assert len(rows[0]) == len(rows[1]) == 12
    for eager, graphed in zip(*rows):
        assert graphed.keys() == eager.keys()
        for key in eager:
            assert graphed[key] == pytest.approx(eager[key], rel=1e-4, abs=1e-6), (eager["step"], key)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_graphed_steps_never_synchronise_and_lazy_phases_resume(tmp_path: Path) -> None:
    from gan_runner.engine.build import build_parts, build_step

    # gp0 every 2 D steps: two phases, two graphs; spectral norm's vectors change in place on each replay.
    extra = ("train.cuda_graph=true", "regulariser=[spectral_norm,gp0]", "regulariser.gp0.every=2")
    cfg = _graph_config(*extra)
    parts = build_parts(cfg)
    step = build_step(cfg, parts)
    for _ in range(9):  # each phase: 3 eager steps, then recorded
        step()
    assert len(step.recorded) == 2
    without_synchronising(lambda: [step() for _ in range(6)])
    state = parts.state
    row = state.stats.means()
    assert row["reg/gp0"] > 0 and row["loss/d"] == row["loss/d"]  # finite, and the lazy penalty is in the row
    # A graphed run resumed from its step-6 checkpoint (records its graphs afresh) ends as the uninterrupted one;
    # without the penalty's random draws, so that both do the same arithmetic, and with constant learning rates
    # (a decay's slope depends on train.steps, which the two parts' configs set apart).
    resumable = ("train.cuda_graph=true", "regulariser=[spectral_norm]")
    train(_graph_config(*resumable), tmp_path / "whole")
    train(_graph_config(*resumable, steps=6), tmp_path / "parts")
    train(_graph_config(*resumable), tmp_path / "parts",
          resume=Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt"))
    a = Checkpoint.load(tmp_path / "whole" / "checkpoints" / "last.pt").state
    b = Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt").state
    for key in a["G"]:
        torch.testing.assert_close(a["G"][key], b["G"][key], rtol=1e-4, atol=1e-5, msg=key)
