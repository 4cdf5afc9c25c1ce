"""gan_runner/augment (conf/augment/): DiffAugment equals the official functions; every transform is differentiable
(gradcheck in double); ADA at p = 0 is the identity and its p follows the official control loop; the step shows D
nothing un-augmented (real and fake, D's and G's updates, the penalties' points) and evaluation nothing augmented;
p survives an exact resume; data it cannot augment is refused in one paragraph."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gan_runner.augment import Augmentation
from gan_runner.augment.ada import ADA
from gan_runner.augment.diffaugment import DiffAugment, TRANSFORMS
from gan_runner.engine.build import build_parts
from gan_runner.engine.loop import train
from gan_runner.errors import UserError
from gan_runner.run_directory import Checkpoint
from tests.conftest import SHRINK, TINY, losses, make_config, metric_rows, options, run

DIGITS_8 = ["dataset=digits", "dataset.resolution=8"]


# ------------------------------------------------------------------ the official DiffAugment, rewritten directly
# mit-han-lab/data-efficient-gans, DiffAugment_pytorch.py l.9-76 (meshgrid's indexing made explicit: its default).

def official_diffaugment(x, policy):
    for p in policy.split(","):
        for f in OFFICIAL_FNS[p]:
            x = f(x)
    return x.contiguous()


def rand_brightness(x):
    return x + (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5)


def rand_saturation(x):
    x_mean = x.mean(dim=1, keepdim=True)
    return (x - x_mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) * 2) + x_mean


def rand_contrast(x):
    x_mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - x_mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) + 0.5) + x_mean


def rand_translation(x, ratio=0.125):
    shift_x, shift_y = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    translation_x = torch.randint(-shift_x, shift_x + 1, size=[x.size(0), 1, 1], device=x.device)
    translation_y = torch.randint(-shift_y, shift_y + 1, size=[x.size(0), 1, 1], device=x.device)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0), dtype=torch.long, device=x.device),
        torch.arange(x.size(2), dtype=torch.long, device=x.device),
        torch.arange(x.size(3), dtype=torch.long, device=x.device), indexing="ij")
    grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2).contiguous()


def rand_cutout(x, ratio=0.5):
    cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    offset_x = torch.randint(0, x.size(2) + (1 - cutout_size[0] % 2), size=[x.size(0), 1, 1], device=x.device)
    offset_y = torch.randint(0, x.size(3) + (1 - cutout_size[1] % 2), size=[x.size(0), 1, 1], device=x.device)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0), dtype=torch.long, device=x.device),
        torch.arange(cutout_size[0], dtype=torch.long, device=x.device),
        torch.arange(cutout_size[1], dtype=torch.long, device=x.device), indexing="ij")
    grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype, device=x.device)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


OFFICIAL_FNS = {"color": [rand_brightness, rand_saturation, rand_contrast], "translation": [rand_translation],
                "cutout": [rand_cutout]}


@pytest.mark.parametrize("policy", ["color,translation,cutout", "translation", "cutout,color"])
@pytest.mark.parametrize("shape", [(6, 3, 16, 16), (5, 1, 15, 12)])
def test_diffaugment_equals_the_official_functions_on_a_seeded_input(policy: str, shape: tuple) -> None:
    x = torch.rand(shape, generator=torch.Generator().manual_seed(3)) * 2 - 1
    torch.manual_seed(0)
    expected = official_diffaugment(x, policy)
    torch.manual_seed(0)
    assert torch.equal(DiffAugment(policy)(x), expected)
    assert not torch.equal(expected, x)


# ----------------------------------------------------------------------------------------------- differentiability

def seeded(transform):
    """`transform` with the same random draws at each call: a fixed linear map of the image, for gradcheck."""
    def call(x):
        torch.manual_seed(0)
        return transform(x)
    return call


# Each of ADA's transforms alone, at p = 1 (every other multiplier 0).
ADA_TRANSFORMS = ["xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac", "brightness", "contrast",
                  "lumaflip", "hue", "saturation"]


def ada_alone(name: str) -> ADA:
    return ADA(p=1.0, **{other: (1 if other == name else 0) for other in ADA_TRANSFORMS})


@pytest.mark.parametrize("name", ADA_TRANSFORMS)
def test_each_ada_transform_passes_gradients_to_the_image(name: str) -> None:
    x = torch.rand(2, 3, 6, 6, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(seeded(ada_alone(name)), (x,), fast_mode=True)


@pytest.mark.parametrize("word", list(TRANSFORMS))
def test_each_diffaugment_transform_passes_gradients_to_the_image(word: str) -> None:
    x = torch.rand(2, 3, 6, 6, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(seeded(DiffAugment(word)), (x,), fast_mode=True)


def test_the_whole_ada_pipeline_is_differentiable_on_greyscale_images() -> None:
    x = torch.rand(3, 1, 8, 8, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(seeded(ADA(p=0.7)), (x,), fast_mode=True)


# ------------------------------------------------------------------------------------------------------------- ADA

@pytest.mark.parametrize("channels", [1, 3])
def test_ada_at_p_zero_is_the_identity(channels: int) -> None:
    x = torch.rand(8, channels, 16, 16) * 2 - 1
    assert torch.allclose(ADA(p=0.0)(x), x, atol=1e-5)  # the geometric path's filters, exact up to float rounding
    assert not torch.allclose(ADA(p=0.5)(x), x, atol=1e-2)


BATCH = 8
STEP = BATCH * 4 / (500 * 1000)  # the official step: batch x ada_interval / (ada_kimg x 1000)


def scores(positive: int) -> torch.Tensor:
    """D's scripted scores of a batch of BATCH real images, `positive` of them above 0."""
    return torch.tensor([1.0] * positive + [-1.0] * (BATCH - positive))


def test_ada_p_follows_the_official_control_loop() -> None:
    """p moves by the official step at the end of each interval of 4 D updates, up when r_t (the mean sign over the
    whole interval) is above 0.6, down when below, never below 0."""
    ada = ADA(p=0.0, target=0.6, interval=4, kimg=500)
    S = STEP
    script = [
        ([8] * 12, [0, 0, 0, S, S, S, S, 2 * S, 2 * S, 2 * S, 2 * S, 3 * S]),  # r_t = 1: up
        ([0] * 4, [3 * S, 3 * S, 3 * S, 2 * S]),  # r_t = -1: down
        ([6] * 4, [2 * S, 2 * S, 2 * S, S]),  # 6 of 8 above 0: r_t = 0.5 < 0.6: down
        ([0, 0, 0, 8], [S, S, S, 0]),  # r_t = (-24 + 8) / 32 over the interval (its last batch alone: 1): down
        ([0] * 8, [0] * 8),  # clamped at 0
    ]
    for positives, expected in script:
        p = [ada.observe(scores(n))["aug/p"].item() for n in positives]
        assert p == pytest.approx(expected, abs=1e-9)  # p is float32, as the official buffer
    assert ada.observe(scores(6))["aug/rt"].item() == 0.5  # logged: this update's mean sign


def test_ada_with_a_null_target_keeps_p_fixed() -> None:
    ada = ADA(p=0.3, target=None, interval=1)
    for _ in range(4):
        assert ada.observe(scores(8))["aug/p"].item() == pytest.approx(0.3)


# ------------------------------------------------------------------------------------------------- in the engine

class SpyAugment(Augmentation):
    """Replaces every image by 7s (keeping the graph) and records each batch's size: D's input is 7s exactly when
    it came through the augmentation."""

    calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        SpyAugment.calls.append(len(x))
        return x * 0 + 7


def test_d_sees_only_augmented_images_in_training_and_never_in_evaluation(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SpyAugment, "calls", [])
    seen: list[bool] = []  # for each of D's forward passes: was its input the augmentation's?
    original = torch.nn.Module.__call__
    cfg = make_config(*SHRINK, *DIGITS_8, *TINY, "regulariser=r1", "metrics=digits", "metrics.every=0",
                      "metrics.n_samples=50", "augment._target_=tests.test_augment.SpyAugment")

    def spy_call(module, *args, **kwargs):
        if type(module).__name__ == "Discriminator" and args:
            seen.append(bool((args[0] == 7).all()))
        return original(module, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__call__", spy_call)
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed"
    batch = cfg.train.batch_size
    # Each step: D's update scores real and fake together (2B), R1 differentiates at the real points (B), G's
    # update scores its fakes (B); every pass of D saw augmented images. The evaluations, pictures and health
    # diagnostics, which ran after each step, called the augmentation never (no more calls than the steps').
    assert SpyAugment.calls == [2 * batch, batch, batch] * cfg.train.steps
    assert seen == [True] * len(SpyAugment.calls)
    assert sum("digits/frechet" in row for row in metric_rows(tmp_path)) == 1
    assert (tmp_path / "samples" / "step_000002.png").is_file()


@pytest.mark.parametrize("augment", options("augment"))
def test_every_augment_option_trains_and_logs(tmp_path: Path, augment: str) -> None:
    summary = train(make_config(*SHRINK, *DIGITS_8, *TINY, f"augment={augment}", "regulariser=r1"), tmp_path)
    assert summary["status"] == "completed" and summary["step"] == 2
    row = losses(tmp_path)[-1]
    assert math.isfinite(row["loss/d"]) and math.isfinite(row["reg/r1"])
    assert ("aug/p" in row) == (augment == "ada")


def test_ada_p_survives_an_exact_resume(tmp_path: Path) -> None:
    common = [*SHRINK, *DIGITS_8, *TINY, "train.batch_size=16", "train.checkpoint_every=3", "augment=ada",
              "augment.interval=1", "augment.kimg=0.1", "augment.target=0.0"]  # p moves by 0.16 a D update
    train(make_config(*common, "train.steps=6"), tmp_path / "whole")
    train(make_config(*common, "train.steps=3"), tmp_path / "parts")
    state = Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt")
    train(make_config(*common, "train.steps=6"), tmp_path / "parts", resume=state)
    whole = losses(tmp_path / "whole")
    assert losses(tmp_path / "parts") == whole
    assert whole[2]["aug/p"] > 0 and whole[-1]["aug/p"] != whole[2]["aug/p"]


def test_a_checkpoint_from_before_augmentation_loads() -> None:
    state = build_parts(make_config(*SHRINK, *DIGITS_8, *TINY, "augment=ada", "augment.p=0.25")).state
    saved = state.state_dict()
    del saved["augment"]
    state.load_state_dict(saved)
    assert state.augment.p.item() == 0.25


def test_data_that_cannot_be_augmented_is_refused_in_one_paragraph(tmp_path: Path) -> None:
    result = run("gan-run", "dataset=ring8", "augment=diffaugment", "logger=none", "train.steps=1", cwd=tmp_path,
                 check=False)
    assert result.returncode == 2
    assert "gan-run: error: augment=diffaugment augments images" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(UserError, match="paired game"):
        ADA().check((3, 32, 32), paired=True)
    with pytest.raises(UserError, match="3 or 1 channels"):
        ADA().check((2, 32, 32), paired=False)
