"""game=paired as a user meets it: both of pix2pix's folder layouts and the digit tasks train through gan-run, a
paired run resumes exactly, a checkpoint of one game is refused by the other, one written before games resumes, and
every mismatch of game, data and networks is refused in one paragraph (docs/games.md)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_runner.engine.build import build_parts, build_step
from gan_runner.engine.loop import train
from gan_runner.run_directory import Checkpoint
from gan_runner.regularisers import Regulariser
from tests.conftest import TINY, losses, make_config, run, wandb_records

# pix2pix's networks 8 channels wide (SRGAN's with 2 residual blocks): a paired step in a fraction of a second.
SMALL_PAIRED = ["logger=none", "train.device=cpu", "train.batch_size=4", "train.log_every=1", *TINY]
EDGES = ["dataset=mnist_edges", *SMALL_PAIRED]


def one_paragraph(result) -> str:
    """The error of a refused command: exit 2, one paragraph, no traceback."""
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("gan-run: error:") and "Fix:" in message
    return message


def save(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def picture(index: int, side: int = 32) -> np.ndarray:
    return np.random.default_rng(index).integers(0, 256, (side, side, 3), dtype=np.uint8)


def aligned(root: Path, width_odd: bool = False) -> Path:
    for split, count in (("train", 6), ("val", 2)):
        for i in range(count):
            a = picture(i + 10 * (split == "val"))
            pair = np.concatenate([a, 255 - a], axis=1)
            save(pair[:, :-1] if width_odd and i == 0 else pair, root / split / f"{i}.png")
    return root


def two_folders(root: Path, drop_partner: bool = False) -> Path:
    for split, count in (("train", 6), ("val", 2)):
        for i in range(count):
            a = picture(i + 10 * (split == "val"))
            save(a, root / "A" / split / f"{i}.png")
            if not (drop_partner and split == "train" and i == 3):
                save(255 - a, root / "B" / split / f"{i}.png")
    return root


FOLDER = ["dataset=paired_folder", "dataset.load_size=36", "dataset.crop_size=32", "train.steps=2",
          "train.sample_every=2", "train.checkpoint_every=2"]


@pytest.mark.parametrize("layout", [aligned, two_folders])
def test_each_layout_trains_through_gan_run_and_draws_source_output_target(tmp_path: Path, layout) -> None:
    root = layout(tmp_path / "pairs")
    run("gan-run", *FOLDER, f"dataset.root={root}", *SMALL_PAIRED, "hydra.run.dir=run", cwd=tmp_path)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert {"paired/l1", "paired/psnr", "paired/ssim"} <= set(summary["metrics"])
    rows = losses(tmp_path / "run")
    assert all("g/reconstruction" in row and "loss/d" in row for row in rows)  # pix2pix's L1 beside the GAN loss
    picture_file = Image.open(tmp_path / "run" / "samples" / "step_000002.png")
    assert picture_file.width > picture_file.height / 3  # three columns: source | output | target, two rows of pairs


@pytest.mark.parametrize("folder, needle", [(lambda root: aligned(root, width_odd=True), "odd width"),
                                            (lambda root: two_folders(root, drop_partner=True), "partner")])
def test_bad_folders_are_refused_by_gan_run_in_one_paragraph(tmp_path: Path, folder, needle: str) -> None:
    root = folder(tmp_path / "pairs")
    message = one_paragraph(run("gan-run", *FOLDER, f"dataset.root={root}", *SMALL_PAIRED, cwd=tmp_path,
                                check=False))
    assert needle in message.lower()


def test_unpaired_folders_given_to_the_paired_game_are_refused(tmp_path: Path) -> None:
    for i in range(4):
        save(picture(i), tmp_path / "photos" / f"{i}.png")
    message = one_paragraph(run("gan-run", *FOLDER, f"dataset.root={tmp_path / 'photos'}", *SMALL_PAIRED,
                                cwd=tmp_path, check=False))
    assert "paired" in message and "dataset=image_folder" in message


@pytest.mark.parametrize("overrides, needle", [
    (["game=paired", "dataset=digits"], "game=paired trains on pairs"),                 # an unpaired dataset
    (["dataset=mnist_edges", "game=noise_to_data", "arch=dcgan"], "holds pairs"),      # pairs to G(z)
    (["arch=pix2pix"], "built for game=paired"),                                      # translating nets to G(z)
    (["dataset=mnist_edges", "arch=dcgan"], "needs networks that translate"),          # G(z) nets to pairs
    (["dataset=mnist_edges", "conditional=true"], "conditional=true"),
    (["dataset=mnist_edges", "train.g_batch_size=8"], "train.g_batch_size"),
    (["dataset=mnist_edges", "game.reconstruction=l2"], "not a distance"),
])
def test_mismatches_of_game_data_and_networks_are_refused(tmp_path: Path, overrides: list[str],
                                                          needle: str) -> None:
    message = one_paragraph(run("gan-run", *SMALL_PAIRED, "train.steps=1", *overrides, cwd=tmp_path, check=False))
    assert needle in message


def test_a_paired_run_resumes_exactly(tmp_path: Path) -> None:
    """pix2pix's dropout (kept at sampling), batch norm, the data order and the L1 term: a run stopped at step 3 and
    resumed to 6 logs the losses of a run of 6, and evaluates to the same numbers."""
    common = [*EDGES, "train.checkpoint_every=3", "metrics.n=20"]
    whole = train(make_config(*common, "train.steps=6"), tmp_path / "whole")
    train(make_config(*common, "train.steps=3"), tmp_path / "parts")
    state = Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt")
    assert state.state["game"] == "paired" and state.source_shape == [1, 28, 28]
    parts = train(make_config(*common, "train.steps=6"), tmp_path / "parts", resume=state)
    assert parts["resumed_from_step"] == 3
    assert losses(tmp_path / "parts") == losses(tmp_path / "whole")
    assert parts["metrics"] == whole["metrics"]


def test_a_checkpoint_of_one_game_is_refused_by_the_other(tmp_path: Path) -> None:
    train(make_config(*EDGES, "train.steps=1", "metrics=none"), tmp_path / "paired")
    state = Checkpoint.load(tmp_path / "paired" / "checkpoints" / "last.pt")
    cfg = make_config("dataset=digits", "logger=none", "metrics=none", "train.device=cpu", "train.steps=2", *TINY)
    with pytest.raises(Exception) as refused:
        train(cfg, tmp_path / "other", resume=state)
    assert "written by a run of game=paired" in str(refused.value) and "game=noise_to_data" in str(refused.value)


def test_a_checkpoint_written_before_games_resumes_as_noise_to_data(tmp_path: Path) -> None:
    """A checkpoint without the `game` and `source_shape` keys (every one before games) continues exactly."""
    common = ["dataset=digits", "logger=none", "metrics=none", "train.device=cpu", "train.batch_size=8",
              "train.log_every=1", "train.checkpoint_every=2", *TINY]
    train(make_config(*common, "train.steps=4"), tmp_path / "whole")
    train(make_config(*common, "train.steps=2"), tmp_path / "parts")
    path = tmp_path / "parts" / "checkpoints" / "last.pt"
    contents = torch.load(path, weights_only=False)
    del contents["game"], contents["source_shape"]
    torch.save(contents, path)
    train(make_config(*common, "train.steps=4"), tmp_path / "parts", resume=Checkpoint.load(path))
    assert losses(tmp_path / "parts") == losses(tmp_path / "whole")


def test_the_paired_step_adds_the_weighted_reconstruction_and_d_judges_the_pair() -> None:
    """G's loss is the objective's plus 100 x L1(G(source), target), logged unweighted as g/reconstruction (computed
    here by hand with the networks before the step; dropout off so G's output is known); D's scores of the pairs take
    the source as its condition (pix2pix's cat(real_A, real_B))."""
    cfg = make_config(*EDGES, "train.steps=1", "metrics=none", "health=none", "arch.generator.dropout=0")
    parts = build_parts(cfg)
    step = build_step(cfg, parts)
    G_before = copy.deepcopy(parts.state.G)
    seen = []
    parts.state.D.register_forward_pre_hook(lambda _, args: seen.append(args))
    inputs = step.inputs.next()
    step.inputs.next = lambda: inputs  # the step's batch, known here
    step()
    images, condition = seen[0]  # D's update: one pass over the real and the fake pairs
    assert torch.equal(condition, torch.cat([inputs.source, inputs.source]))  # D(image, source)
    with torch.no_grad():
        expected = torch.nn.functional.l1_loss(G_before(inputs.source), inputs.real).item()
    assert parts.state.stats.means()["g/reconstruction"] == pytest.approx(expected, rel=1e-5)


def test_a_paired_run_logs_its_metrics_and_source_output_target_pictures_to_wandb(tmp_path: Path) -> None:
    run("gan-run", *EDGES, "logger=wandb", "train.steps=2", "train.sample_every=2", "metrics.n=20",
        "hydra.run.dir=run", cwd=tmp_path)
    records = wandb_records(tmp_path / "run")
    history = [r["history"]["item"] for r in records if r["type"] == "history"]
    assert [h["_step"] for h in history if h.get("samples._type") == "image-file"] == [2]
    assert any({"paired/ssim", "paired/class_agreement"} <= set(h) for h in history)
    assert all("g/reconstruction" in h for h in history if "loss/d" in h)
    picture_file = Image.open(tmp_path / "run" / "samples" / "step_000002.png")
    assert picture_file.height > 2 * picture_file.width  # eight rows of source | output | target


class Recording(Regulariser):
    """A generator penalty that keeps what it was shown."""

    def __init__(self) -> None:
        super().__init__(weight=1.0)
        self.shown: list = []

    def generator_penalty(self, inputs=None, fake=None):
        self.shown.append((inputs, fake))
        return fake.square().mean()


def test_gs_penalties_see_the_games_inputs_and_output() -> None:
    """A penalty of G's mapping (StyleGAN2's path length) needs G's inputs and output: a G regulariser of the paired
    game is shown the update's source and G's output for it, graph attached."""
    cfg = make_config(*EDGES, "train.steps=1", "metrics=none", "health=none")
    parts = build_parts(cfg)
    recording = Recording()
    parts.state.regularisers["recording"] = recording
    step = build_step(cfg, parts)
    step()
    (inputs, fake), = recording.shown
    assert inputs.source.shape == (4, 1, 28, 28) and fake.shape == (4, 1, 28, 28) and fake.requires_grad
    assert parts.state.stats.means()["reg_g/recording"] > 0


def test_gan_eval_scores_a_paired_run_as_its_training_did(tmp_path: Path) -> None:
    """gan-eval translates the held-out sources through the game's sampler (dropout seeded alike): the same numbers
    as the run's own last evaluation."""
    run("gan-run", *EDGES, "train.steps=2", "metrics.n=20", "hydra.run.dir=run", cwd=tmp_path)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    run("gan-eval", "run=run", "checkpoint=last", "out=scores.json", cwd=tmp_path)
    scores = json.loads((tmp_path / "scores.json").read_text())
    # the same numbers up to float rounding (gan-eval's threads may sum in another order)
    assert {key: scores[key] for key in summary["metrics"]} == pytest.approx(summary["metrics"], rel=1e-4, abs=1e-4)
