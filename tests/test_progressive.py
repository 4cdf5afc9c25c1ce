"""Progressive growing (gan_runner/arch/progan.py, gan_runner/game/progressive.py, the engine's phases): the fade-in's
schedule against the official level-of-detail arithmetic, the networks' blend at alpha 0 and 1, growth through every
phase of a real run (resolution, alpha, minibatch, optimiser reset, the step built anew), exact resume across phase
boundaries, the official parameter counts and preset length, WGAN's drift term, and the command as a user types it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan_runner.arch import count_parameters
from gan_runner.arch.progan import Discriminator, Generator
from gan_runner.engine import loop
from gan_runner.engine.loop import train
from gan_runner.game.progressive import Progressive, process_reals
from gan_runner.objectives.wgan import Wasserstein
from gan_runner.run_directory import Checkpoint
from tests.conftest import TINY, losses, make_config, run

# A grown run in seconds: digits at 16x16 (4 -> 8 -> 16), 32 images of each stable phase and each fade-in, the
# minibatch 8 at 4x4 and 16x16 and 16 at 8x8 (so the batch size changes with the phases), WGAN-GP with drift.
GROWING = ["dataset=digits", "dataset.resolution=16", "arch=progan", "game=progressive", "objective=wgan",
           "objective.drift=0.001", "regulariser=gp", *TINY, "train.device=cpu", "logger=none", "metrics=none",
           "train.batch_size=8", "game.stable_images=32", "game.fade_images=32", "game.batch_sizes={8:16}",
           "train.log_every=1", "train.sample_every=100", "train.ema_rampup=null"]
# (phase, alpha, images seen after it) of steps 1 to 14 of that run: 4 steps at 4x4, 2 fading in 8x8 (batch 16),
# 2 at 8x8, 4 fading in 16x16, then 16x16 to the end.
EXPECTED = ([((4, False), 1.0)] * 4 + [((8, True), 0.0), ((8, True), 0.5)] + [((8, False), 1.0)] * 2
            + [((16, True), a) for a in (0.0, 0.25, 0.5, 0.75)] + [((16, False), 1.0)] * 2)
IMAGES = [8, 16, 24, 32, 48, 64, 80, 96, 104, 112, 120, 128, 136, 144]


def official_schedule(images: int, full: int, initial: int, training_kimg: float, transition_kimg: float
                      ) -> tuple[int, float]:
    """train.py TrainingSchedule's lod (l.103-116) for cur_nimg = images, as (resolution, alpha): alpha is
    1 - frac(lod), the new level's weight in G's lerp(toRGB(new), upscale(toRGB(old)), lod - floor(lod))."""
    kimg = images / 1000.0
    phase_dur = training_kimg + transition_kimg
    phase_idx = int(math.floor(kimg / phase_dur)) if phase_dur > 0 else 0
    phase_kimg = kimg - phase_idx * phase_dur
    lod = math.log2(full) - math.floor(math.log2(initial)) - phase_idx
    if transition_kimg > 0:
        lod -= max(phase_kimg - training_kimg, 0.0) / transition_kimg
    lod = max(lod, 0.0)
    return 2 ** (int(math.log2(full)) - int(math.floor(lod))), 1.0 - (lod - math.floor(lod))


def test_alpha_rises_linearly_over_each_fade_in_as_the_official_level_of_detail() -> None:
    game = Progressive(initial_resolution=4, stable_images=3000, fade_images=2000)
    for images in range(0, 40000, 50):
        resolution, alpha = game.schedule(images, 64)
        official = official_schedule(images, 64, 4, 3.0, 2.0)
        if official[1] == 1.0 and alpha == 0.0:  # the fade-in's first images: the official lod is still whole
            assert resolution == 2 * official[0]
        else:
            assert resolution == official[0] and alpha == pytest.approx(official[1], abs=1e-9)
    # the closed form: phase k = images // 5000 stable at 4 x 2^k for 3000 images, then 2000 of fade-in
    assert game.schedule(3000 + 500, 64) == (8, 0.25)
    assert game.schedule(4 * 5000 + 2999, 64) == (64, 1.0)  # 4 -> 64 is four doublings: then 64 for ever
    assert game.schedule(10 ** 9, 64) == (64, 1.0)


def tiny(resolution: int = 16) -> tuple[Generator, Discriminator]:
    torch.manual_seed(0)
    return (Generator(8, (1, resolution, resolution), fmap_base=32, width=8),
            Discriminator((1, resolution, resolution), fmap_base=32, width=8))


def test_a_fade_in_at_alpha_0_is_the_previous_resolution_and_at_alpha_1_the_new_one() -> None:
    G, D = tiny()
    z, x = torch.randn(8, 8), torch.rand(8, 1, 16, 16) * 2 - 1
    outputs = {}
    for resolution, fading, alpha in [(4, False, 1.0), (8, True, 0.0), (8, True, 1.0), (8, False, 1.0),
                                      (8, True, 0.25)]:
        for network in (G, D):
            network.grow(resolution, fading)
            network.fade(alpha)
        outputs[resolution, fading, alpha] = G(z), D(x)
    for i in range(2):
        assert torch.allclose(outputs[8, True, 0.0][i], outputs[4, False, 1.0][i], atol=1e-6)
        assert torch.allclose(outputs[8, True, 1.0][i], outputs[8, False, 1.0][i], atol=1e-6)
    # G's image at 16x16 is its 8x8 one repeated, blended: alpha x new + (1 - alpha) x old
    blend = 0.25 * outputs[8, False, 1.0][0] + 0.75 * outputs[4, False, 1.0][0]
    assert torch.allclose(outputs[8, True, 0.25][0], blend, atol=1e-6)
    assert outputs[4, False, 1.0][0].shape == (8, 1, 16, 16)  # always the dataset's size, as the official G's
    image = outputs[4, False, 1.0][0]
    assert torch.allclose(image, F.interpolate(F.avg_pool2d(image, 4), scale_factor=4, mode="nearest"), atol=1e-6)


def test_reals_are_pooled_to_the_resolution_and_faded_as_process_reals() -> None:
    x = torch.rand(4, 1, 16, 16)
    at8 = F.avg_pool2d(x, 2)
    at4 = F.avg_pool2d(x, 4)
    up = lambda y, k: F.interpolate(y, scale_factor=k, mode="nearest")  # noqa: E731
    assert torch.allclose(process_reals(x, 8, 1.0), up(at8, 2))
    assert torch.allclose(process_reals(x, 8, 0.0), up(at4, 4))
    assert torch.allclose(process_reals(x, 8, 0.3), 0.3 * up(at8, 2) + 0.7 * up(at4, 4), atol=1e-6)
    assert torch.equal(process_reals(x, 16, 1.0), x)


def checkpoints(run_dir: Path) -> list[dict]:
    return [torch.load(path, weights_only=True)
            for path in sorted((run_dir / "checkpoints").glob("step_*.pt"))]


def adam_steps(optimiser: dict) -> int:
    """The most updates any parameter's Adam state has counted (layers of a resolution not in use get no gradient,
    hence no update, as they are outside the official graph)."""
    return max(int(parameter["step"]) for parameter in optimiser["state"].values())


loop_build = loop.build_step


def test_a_run_grows_through_every_phase_with_its_minibatch_a_new_step_and_fresh_optimisers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = []
    monkeypatch.setattr(loop, "build_step", lambda cfg, parts: built.append(loop_build(cfg, parts)) or built[-1])
    train(make_config(*GROWING, "train.steps=14", "train.checkpoint_every=1", "train.keep_checkpoints=20"), tmp_path)
    states = checkpoints(tmp_path)
    assert [(s["phase"], float(s["G"]["alpha"])) for s in states] == EXPECTED
    assert [s["images_seen"] for s in states] == IMAGES  # 8 a step at 4x4 and 16x16, 16 at 8x8
    for state in states:
        resolution = state["phase"][0]
        for network in ("G", "G_ema", "D"):
            assert int(state[network]["resolution"]) == resolution
        assert float(state["G_ema"]["alpha"]) == float(state["D"]["alpha"]) == float(state["G"]["alpha"])
    # Adam's step count restarts at every new phase (reset_opt_for_new_lod): updates since the phase began
    for optimiser in ("opt_g", "opt_d"):
        assert [adam_steps(s[optimiser]) for s in states] == [1, 2, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 1, 2]
    # the step was built at the start, then anew for each of the 5 phases (a CUDA graph would be recorded again)
    assert len(built) == 6 and len({id(step) for step in built}) == 6
    assert [step.batch_size for step in built[1:]] == [8, 16, 16, 8, 8]


def test_without_the_reset_adam_keeps_its_moments_across_phases(tmp_path: Path) -> None:
    train(make_config(*GROWING, "train.steps=6", "train.checkpoint_every=1", "train.keep_checkpoints=20",
                      "game.reset_optimisers=false"), tmp_path)
    assert [adam_steps(s["opt_g"]) for s in checkpoints(tmp_path)] == [1, 2, 3, 4, 5, 6]


def test_resume_across_phase_boundaries_is_exact(tmp_path: Path) -> None:
    """Stopped in 8x8's fade-in (step 6), resumed to step 10: through the start of 8x8's stable phase (a new batch
    size, the data's order restarted at its batch number) and 16x16's fade-in, the uninterrupted run's losses and
    weights."""
    train(make_config(*GROWING, "train.steps=10"), tmp_path / "whole")
    train(make_config(*GROWING, "train.steps=6"), tmp_path / "parts")
    state = Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt")
    assert state.state["phase"] == (8, True)
    summary = train(make_config(*GROWING, "train.steps=10"), tmp_path / "parts", resume=state)
    assert summary["resumed_from_step"] == 6 and summary["images_seen"] == 112
    assert losses(tmp_path / "parts") == losses(tmp_path / "whole")
    whole, parts = (torch.load(tmp_path / name / "checkpoints" / "last.pt", weights_only=True)
                    for name in ("whole", "parts"))
    assert whole["phase"] == parts["phase"] == (16, True)
    for network in ("G", "D", "G_ema"):
        assert all(torch.equal(whole[network][key], parts[network][key]) for key in whole[network])


def official_counts(resolution: int, channels: int, fmap_base: int = 8192, fmap_decay: float = 1.0,
                    fmap_max: int = 512) -> tuple[int, int]:
    """G_paper's and D_paper's trainable parameters, layer by layer as networks.py builds them (label_size 0,
    latent_size nf(0)): get_weight's shapes plus apply_bias's [fmaps]."""
    def nf(stage: int) -> int:
        return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)
    top = int(math.log2(resolution))
    conv = lambda k, fin, fout: k * k * fin * fout + fout  # noqa: E731 conv2d + apply_bias
    g = nf(0) * nf(1) * 16 + nf(1)                                  # 4x4/Dense (bias after the reshape: nf(1))
    g += conv(3, nf(1), nf(1))                                      # 4x4/Conv
    for res in range(3, top + 1):
        g += conv(3, nf(res - 2), nf(res - 1)) + conv(3, nf(res - 1), nf(res - 1))  # Conv0_up, Conv1
    g += sum(conv(1, nf(res - 1), channels) for res in range(2, top + 1))  # ToRGB_lod*
    d = sum(conv(1, channels, nf(res - 1)) for res in range(2, top + 1))  # FromRGB_lod*
    for res in range(3, top + 1):
        d += conv(3, nf(res - 1), nf(res - 1)) + conv(3, nf(res - 1), nf(res - 2))  # Conv0, Conv1_down
    d += conv(3, nf(1) + 1, nf(1))                                  # 4x4/Conv after MinibatchStddev's extra map
    d += nf(1) * 16 * nf(0) + nf(0) + nf(0) * 1 + 1                 # Dense0, Dense1
    return g, d


@pytest.mark.parametrize("resolution, channels", [(1024, 3), (32, 1)])
def test_parameter_counts_are_the_official_networks(resolution: int, channels: int) -> None:
    G = Generator(512, (channels, resolution, resolution))
    D = Discriminator((channels, resolution, resolution))
    assert (count_parameters(G), count_parameters(D)) == official_counts(resolution, channels)
    G.grow(resolution, False)  # every layer exists from the start: growth adds none
    assert count_parameters(G) == official_counts(resolution, channels)[0]
    if resolution == 1024:  # the paper's Table 2: "Total trainable parameters 23.1M" for G and for D
        assert [round(n / 1e6, 1) for n in official_counts(1024, 3)] == [23.1, 23.1]


def test_the_presets_steps_show_the_official_12000_kimg_at_1024() -> None:
    cfg = make_config("experiment=progan")
    game = Progressive(**{k: v for k, v in cfg.game.items() if k != "_target_"})
    images = steps = 0
    while images < 12_000_000:  # phase by phase: each phase's whole steps at its minibatch
        resolution, alpha = game.schedule(images, 1024)
        duration = game.stable_images + game.fade_images
        index = images // duration
        end = index * duration + (game.stable_images if alpha == 1.0 and resolution < 1024 else duration)
        end = 12_000_000 if resolution == 1024 and alpha == 1.0 else end
        batch = game.batch_sizes.get(resolution, cfg.train.batch_size)
        taken = -(-(end - images) // batch)
        steps, images = steps + taken, images + taken * batch
    assert cfg.train.steps == steps


def test_wgans_drift_adds_epsilon_times_the_real_scores_mean_square() -> None:
    real, fake = torch.tensor([1.0, -3.0]), torch.tensor([0.5, 2.0])
    assert Wasserstein(drift=0.001).d_loss(real, fake) == pytest.approx(1.25 - (-1.0) + 0.001 * 5.0)
    assert Wasserstein().d_loss(real, fake) == pytest.approx(2.25)


def test_gan_run_grows_progan_on_mnist_5k_and_refuses_another_arch(tmp_path: Path) -> None:
    run("gan-run", "arch=progan", "game=progressive", "dataset=mnist_5k", "debug=fast", "logger=none",
        "hydra.run.dir=run", cwd=tmp_path)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["params"]["generator"] > 0
    # still at 4x4 after debug=fast's 4 steps: gan-sample's images are the dataset's 32x32, each 8x8 block one pixel
    run("gan-sample", "run=run", "n=4", "out=samples.npz", cwd=tmp_path)
    x = torch.from_numpy(np.load(tmp_path / "samples.npz")["x"])
    assert x.shape == (4, 1, 32, 32)
    assert torch.allclose(x, F.interpolate(F.avg_pool2d(x, 8), scale_factor=8, mode="nearest"), atol=1e-5)
    refused = run("gan-run", "arch=dcgan", "game=progressive", "debug=fast", "hydra.run.dir=no", cwd=tmp_path,
                  check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "Fix: arch=progan" in refused.stderr


def test_a_minibatch_that_minibatch_stddev_cannot_group_is_refused_before_training(tmp_path: Path) -> None:
    from gan_runner.errors import UserError

    with pytest.raises(UserError, match=r"game.batch_sizes.8=10 .* groups of 4"):
        train(make_config(*GROWING, "game.batch_sizes={8:10}"), tmp_path)


def test_progan_without_its_game_is_refused_with_the_way_in(tmp_path: Path) -> None:
    from gan_runner.errors import UserError

    with pytest.raises(UserError, match="built for game=progressive.*grow through resolutions.*game=progressive"):
        train(make_config("arch=progan", *TINY, "train.device=cpu", "logger=none", "metrics=none"), tmp_path)


def test_a_minibatch_larger_than_the_dataset_is_refused_before_training(tmp_path: Path) -> None:
    from gan_runner.errors import UserError

    # digits: 1,797 images; the minibatch of a resolution the run grows through is checked as train.batch_size is
    with pytest.raises(UserError, match=r"game.batch_sizes.8=2048 is larger than the dataset, which holds 1797"):
        train(make_config(*GROWING, "game.batch_sizes={8:2048}"), tmp_path)
