"""game=cycle (CycleGAN): the history pool (its size, the 50/50 draw, its state across a checkpoint), G's update
against the closed forms of the cycle and identity losses, each discriminator's update on its own domain, the
statistics per discriminator, the moving average of both generators, and the checkpointed state (all four networks,
both optimisers, both pools) that makes a resumed run exact. The data is a small unpaired dataset made here, with the
contract's shape (docs/games.md; gan_runner/data/unpaired.py is the real one)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gan_runner.commands.sample import load_run, sources_of
from gan_runner.engine.build import build_parts, build_step
from gan_runner.engine.loop import train
from gan_runner.game.cycle import CycleGenerators, HistoryPool, HistoryPools, per_domain
from gan_runner.run_directory import Checkpoint
from tests.conftest import losses, make_config, run, wandb_records
from tests.test_game_paired import one_paragraph


class TinyUnpaired:
    """Two domains of random 1 x 16 x 16 images, A in [-1, 1] and B in [-1, 0], drawn independently per batch."""

    unpaired, num_classes, reads_its_share = True, None, True

    def __init__(self, n_a: int = 12, n_b: int = 18) -> None:
        generator = torch.Generator().manual_seed(0)
        self.a = torch.rand(n_a, 1, 16, 16, generator=generator) * 2 - 1
        self.b = -torch.rand(n_b, 1, 16, 16, generator=generator)
        self.shape, self.source_shape, self.domain_sizes = (1, 16, 16), (1, 16, 16), (n_a, n_b)

    def __len__(self) -> int:
        return min(self.domain_sizes)

    def batches(self, batch_size, generator, start=0, device=None, rows=None):
        first, stop = rows or (0, batch_size)
        number = start
        while True:
            draw = torch.Generator().manual_seed(generator.initial_seed() * 1000 + number)
            a = torch.randint(len(self.a), (batch_size,), generator=draw)[first:stop]
            b = torch.randint(len(self.b), (batch_size,), generator=draw)[first:stop]
            yield self.b[b], self.a[a]
            number += 1

    def held_out_domains(self):
        return self.a[:8], None, self.b[:8], None


# pix2pix's networks translate an image (G) and judge one (D alone): enough for the game's own checks at 16x16.
TINY_CYCLE = ["dataset=digits", "dataset._target_=tests.test_game_cycle.TinyUnpaired", "~dataset.resolution",
              "game=cycle", "arch=pix2pix", "arch.game=cycle", "arch.generator.width=4", "arch.generator.dropout=0",
              "arch.discriminator.width=4", "arch.discriminator.n_layers=1", "objective=lsgan", "regulariser=[none]",
              "metrics=none", "logger=none", "health=none", "train.device=cpu", "train.batch_size=4",
              "train.log_every=1", "train.sample_every=1000", "game.pool_size=3"]


def test_the_pool_fills_first_then_shows_a_stored_image_half_the_time_and_stores_the_new_one() -> None:
    pool = HistoryPool(5, seed=0)
    first = torch.arange(3.0).view(3, 1, 1, 1)
    assert torch.equal(pool.query(first), first) and pool.count == 3  # not full: shown and stored
    second = torch.arange(3.0, 6.0).view(3, 1, 1, 1)
    assert torch.equal(pool.query(second), second) and pool.count == 5  # the fifth fills it, the sixth ...
    assert pool.count == pool.size and pool.images.shape == (5, 1, 1, 1)
    from_pool, drawn = 0, 4000
    for index in range(drawn):
        fresh = torch.full((1, 1, 1, 1), 100.0 + index)
        before = pool.images.clone()
        shown = pool.query(fresh)
        if not torch.equal(shown, fresh):  # a stored image, whose place the new one takes
            from_pool += 1
            place = (before != pool.images).flatten().nonzero().flatten()
            assert place.tolist() == [int((before == shown[0]).flatten().nonzero()[0])]
            assert pool.images[place] == fresh.flatten()
        else:
            assert torch.equal(before, pool.images)
        assert pool.count == 5
    batch = torch.arange(8.0).view(8, 1, 1, 1)
    assert pool.query(batch).shape == batch.shape  # one image shown for each
    assert 0.47 < from_pool / drawn < 0.53  # the port's p > 0.5: half of each batch from the pool


def test_a_pool_of_size_zero_shows_the_new_images_and_keeps_none() -> None:
    pool = HistoryPool(0, seed=0)
    images = torch.randn(4, 1, 2, 2)
    assert pool.query(images) is images and pool.count == 0


def test_a_pools_state_restores_its_images_count_and_draws() -> None:
    pool = HistoryPool(4, seed=3)
    for _ in range(5):
        pool.query(torch.randn(3, 1, 2, 2))
    copy_ = HistoryPool(4, seed=99)
    copy_.load_state_dict(pool.state_dict())
    batch = torch.randn(16, 1, 2, 2)
    assert torch.equal(pool.query(batch), copy_.query(batch)) and torch.equal(pool.images, copy_.images)


def test_the_pools_state_keeps_each_process_pair() -> None:
    pools = HistoryPools(2, seed=0)
    pools["b"].query(torch.ones(1, 1, 2, 2))
    state = pools.state_dict()
    assert len(state["processes"]) == 1 and state["processes"][0]["b"]["count"] == 1
    assert state["processes"][0]["a"]["count"] == 0
    restored = HistoryPools(2, seed=5)
    restored.load_state_dict(state)
    assert restored["b"].count == 1 and torch.equal(restored["b"].images[0], torch.ones(1, 2, 2))


def test_g_update_adds_the_cycle_and_identity_losses_with_their_closed_form_weights() -> None:
    """With SGD and no momentum, G's step is -lr x the gradient of its loss: the loss computed here by hand from the
    networks before the step (the objective's G term x 2, 10 x each cycle L1, 0.5 x 10 x each identity L1) moves G's
    weights exactly as the step did; each term is logged unweighted as g/<name>."""
    cfg = make_config(*TINY_CYCLE, "optimizer@optimizer.g=sgd", "optimizer.g.momentum=0", "train.lr_g=0.01",
                      "train.steps=1")
    parts = build_parts(cfg)
    step = build_step(cfg, parts)
    G, D = copy.deepcopy(parts.state.G), copy.deepcopy(parts.state.D)
    batch = step.inputs.next()
    step.inputs.next = lambda: batch
    step()
    fake_b, fake_a = G.a_to_b(batch.a), G.b_to_a(batch.b)
    rec_a, rec_b = G.b_to_a(fake_b), G.a_to_b(fake_a)
    cycle_a, cycle_b = F.l1_loss(rec_a, batch.a), F.l1_loss(rec_b, batch.b)
    identity_b, identity_a = F.l1_loss(G.a_to_b(batch.b), batch.b), F.l1_loss(G.b_to_a(batch.a), batch.a)
    adversarial = 0.5 * ((D.judge_b(fake_b) - 1) ** 2).mean() + 0.5 * ((D.judge_a(fake_a) - 1) ** 2).mean()
    loss = 2 * adversarial + 10 * cycle_a + 10 * cycle_b + 5 * identity_b + 5 * identity_a
    loss.backward()
    for before, after in zip(G.parameters(), parts.state.G.parameters()):
        torch.testing.assert_close(after, before - 0.01 * before.grad, rtol=1e-5, atol=1e-6)
    logged = parts.state.stats.means()
    for name, value in {"g/cycle_a": cycle_a, "g/cycle_b": cycle_b, "g/identity_a": identity_a,
                        "g/identity_b": identity_b, "loss/g": adversarial / 2}.items():
        assert logged[name] == pytest.approx(value.item(), rel=1e-5), name


def test_identity_weight_zero_drops_the_identity_terms() -> None:
    cfg = make_config(*TINY_CYCLE, "game.identity_weight=0", "train.steps=1")
    parts = build_parts(cfg)
    build_step(cfg, parts)()
    assert "g/cycle_a" in parts.state.stats.means() and "g/identity_a" not in parts.state.stats.means()


def test_each_discriminator_judges_its_own_domain_on_the_pools_draw() -> None:
    """judge_b sees real B and a_to_b's images (through its pool), judge_a real A and b_to_a's; their losses are the
    objective's, logged per discriminator and as their mean under the usual names."""
    cfg = make_config(*TINY_CYCLE, "train.steps=1", "game.pool_size=0")
    parts = build_parts(cfg)
    step = build_step(cfg, parts)
    batch = step.inputs.next()
    step.inputs.next = lambda: batch
    seen = {domain: [] for domain in "ab"}
    for domain in "ab":
        getattr(parts.state.D, f"judge_{domain}").register_forward_pre_hook(
            lambda _, args, domain=domain: seen[domain].append(args[0].detach().clone()))
    G = copy.deepcopy(parts.state.G)
    step()
    with torch.no_grad():
        fake_b, fake_a = G.a_to_b(batch.a), G.b_to_a(batch.b)
    # G's update: judge_b scores a_to_b(A), judge_a b_to_a(B); then each D update: real, then the fakes (one pass)
    assert torch.allclose(seen["b"][0], fake_b, atol=1e-6) and torch.allclose(seen["a"][0], fake_a, atol=1e-6)
    assert torch.allclose(seen["b"][1], torch.cat([batch.b, fake_b]), atol=1e-6)
    assert torch.allclose(seen["a"][1], torch.cat([batch.a, fake_a]), atol=1e-6)
    logged = parts.state.stats.means()
    assert logged["loss/d"] == pytest.approx((logged["loss/d_a"] + logged["loss/d_b"]) / 2)
    assert {"d_a/real", "d_b/fake", "grad_norm/d_a", "grad_norm/d_b"} <= set(logged)


def test_per_domain_names() -> None:
    stats = {"loss/d": 1, "d/real": 2, "grad_norm/d": 3, "reg/r1": 4, "amp/skipped_d": 0}
    assert per_domain(stats, "b") == {"loss/d_b": 1, "d_b/real": 2, "grad_norm/d_b": 3, "reg/r1_b": 4}


def test_the_average_follows_each_generator() -> None:
    cfg = make_config(*TINY_CYCLE, "train.steps=3", "train.ema=0.5", "train.ema_rampup=0")
    parts = build_parts(cfg)
    initial = copy.deepcopy(parts.state.G)
    step = build_step(cfg, parts)
    for _ in range(3):
        step()
    average = parts.state.ema.model
    assert isinstance(average, CycleGenerators)
    for name in ("a_to_b", "b_to_a"):
        for start, now, averaged in zip(getattr(initial, name).parameters(),
                                        getattr(parts.state.G, name).parameters(),
                                        getattr(average, name).parameters()):
            assert not torch.equal(averaged, now) and not torch.equal(averaged, start)


def test_a_cycle_run_resumes_exactly_with_its_four_networks_two_optimisers_and_pools(tmp_path) -> None:
    """Stopped at step 3 and resumed to 6, the losses are those of a run of 6; the checkpoint holds both pools (full
    after 1 step of 4 images, so the resumed steps draw from them)."""
    common = [*TINY_CYCLE, "train.checkpoint_every=3"]
    train(make_config(*common, "train.steps=6"), tmp_path / "whole")
    train(make_config(*common, "train.steps=3"), tmp_path / "parts")
    saved = Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt")
    state = saved.state
    assert state["game"] == "cycle"
    assert {"judge_a.model.0.weight", "judge_b.model.0.weight"} <= set(state["D"])
    assert any(key.startswith("a_to_b.") for key in state["G"]) and any(k.startswith("b_to_a.") for k in state["G"])
    networks = build_parts(make_config(*common)).state
    assert len(state["opt_g"]["state"]) == len(list(networks.G.parameters()))  # one optimiser, both generators
    assert len(state["opt_d"]["state"]) == len(list(networks.D.parameters()))
    pools = state["pools"]["processes"][0]
    assert pools["a"]["count"] == pools["b"]["count"] == 3
    train(make_config(*common, "train.steps=6"), tmp_path / "parts", resume=saved)
    assert losses(tmp_path / "parts") == losses(tmp_path / "whole")



# dataset=mnist_digits8 (the real unpaired task) with CycleGAN's networks a few channels wide: a step in ~0.05 s.
DIGITS8 = ["dataset=mnist_digits8", "logger=none", "train.device=cpu", "train.batch_size=4", "train.log_every=1",
           "arch.generator.width=4", "arch.generator.blocks=1", "arch.discriminator.width=4",
           "arch.discriminator.n_layers=1"]


def unpaired_folders(root: Path, channels_b: int = 3) -> Path:
    for split, count in (("train", 4), ("test", 2)):
        for domain in "AB":
            for index in range(count):
                pixels = np.random.default_rng(index + 7 * (domain == "B")).integers(0, 256, (32, 32, 3), np.uint8)
                (root / f"{split}{domain}").mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(root / f"{split}{domain}" / f"{index}.png")
    return root


@pytest.mark.parametrize("overrides, needle", [
    (["dataset=mnist_edges", "game=cycle", "arch=cyclegan"], "holds pairs of images"),
    (["game=noise_to_data", "arch=dcgan", "metrics=none"], "game=cycle arch=cyclegan"),
    (["game=paired", "arch=pix2pix", "metrics=none"], "two domains of images that are not paired"),
    (["game=progressive", "arch=progan", "metrics=none"], "game=cycle arch=cyclegan"),
    (["arch=dcgan"], "Fix: arch=cyclegan"),
    (["train.n_critic=2"], "train.n_critic cannot be used with game=cycle"),
    (["regulariser=path_length"], "regulariser=path_length penalises a generator's mapping from noise"),
    (["augment=diffaugment"], "augment=none"),
    (["train.batch_size=2000"], "train.batch_size=2000 is larger than the dataset, which holds 1347"),
], ids=["paired_data", "noise_to_data", "paired_game", "progressive", "arch", "n_critic", "path_length", "augment",
        "batch"])
def test_what_game_cycle_cannot_train_is_refused_in_one_paragraph(tmp_path: Path, overrides: list[str],
                                                                  needle: str) -> None:
    # the refusals come before any network is built: the defaults' widths cost nothing
    result = run("gan-run", *DIGITS8[:4], "train.steps=1", *overrides, cwd=tmp_path, check=False)
    assert needle in one_paragraph(result)


def test_the_identity_loss_between_domains_of_different_channels_is_refused(tmp_path: Path) -> None:
    """Grey A and colour B: the identity loss (a_to_b(b) against b) cannot apply, as the port asserts; without it the
    run trains."""
    root = unpaired_folders(tmp_path / "data")
    folder = ["dataset=unpaired_folder", f"dataset.root={root}", "dataset.load_size=36", "dataset.crop_size=32",
              "dataset.channels_a=1", "metrics=cycle", f"dataset.prepared_dir={tmp_path / 'prepared'}"]
    message = one_paragraph(run("gan-run", *DIGITS8[1:], *folder, "train.steps=1", cwd=tmp_path, check=False))
    assert "serves A with 1 and B with 3" in message and "game.identity_weight=0" in message
    run("gan-run", *DIGITS8[1:], *folder, "game.identity_weight=0", "train.steps=2", "hydra.run.dir=run",
        cwd=tmp_path)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and "cycle/reconstruction_a" in summary["metrics"]


def test_gan_sample_translates_a_folder_either_way_as_the_runs_generators_do(tmp_path: Path) -> None:
    run("gan-run", *DIGITS8, "metrics=none", "train.steps=2", "hydra.run.dir=run", cwd=tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for index in range(3):
        pixels = np.random.default_rng(index).integers(0, 256, (32, 32), np.uint8)
        Image.fromarray(pixels).save(inputs / f"digit{index}.png")
    generator, _ = load_run(tmp_path / "run")
    images = sources_of(sorted(inputs.iterdir()), (1, 32, 32))
    for direction in ("a_to_b", "b_to_a"):
        run("gan-sample", "run=run", "inputs=inputs/", f"out={direction}/", f"direction={direction}", cwd=tmp_path)
        written = sorted(p.name for p in (tmp_path / direction).iterdir())
        assert written == ["digit0.png", "digit1.png", "digit2.png"]
        with torch.no_grad():
            expected = ((generator(images, direction) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
        got = torch.stack([torch.from_numpy(np.array(Image.open(tmp_path / direction / name))) for name in written])
        assert (got.int() - expected[:, 0].int()).abs().max() <= 1  # the PNG's rounding
    default = run("gan-sample", "run=run", "inputs=inputs/", "out=default/", cwd=tmp_path)
    assert default.returncode == 0 and all(
        np.array_equal(np.array(Image.open(tmp_path / "default" / name)), np.array(Image.open(tmp_path / "a_to_b" / name)))
        for name in written)  # a_to_b unless told
    refused = run("gan-sample", "run=run", "inputs=inputs/", "out=x/", "direction=BtoA", cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "direction=a_to_b or direction=b_to_a" in refused.stderr
    no_noise = run("gan-sample", "run=run", "n=4", "out=x.png", cwd=tmp_path, check=False)
    assert no_noise.returncode == 2 and "game=cycle" in no_noise.stderr


@pytest.mark.slow
def test_two_processes_keep_their_own_pools_in_the_checkpoint_and_resume_exactly(tmp_path: Path) -> None:
    """torchrun with 2 processes: each keeps its own pools (it sees its own rows of each batch), the checkpoint holds
    both processes' pools, and a run stopped at step 3 and resumed on 2 processes logs the uninterrupted run's rows."""
    from tests.test_distributed import assert_same_rows, gan_run

    args = [*DIGITS8, "metrics=none", "game.pool_size=3", "train.checkpoint_every=3", "train.sample_every=1000"]
    gan_run(2, *args, "train.steps=5", "hydra.run.dir=whole", cwd=tmp_path)
    gan_run(2, *args, "train.steps=3", "hydra.run.dir=parts", cwd=tmp_path)
    pools = Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt").state["pools"]["processes"]
    assert len(pools) == 2 and all(process[d]["count"] == 3 for process in pools for d in "ab")
    assert not torch.equal(pools[0]["b"]["images"], pools[1]["b"]["images"])
    gan_run(2, *args, "train.steps=5", "resume=parts", cwd=tmp_path)
    assert_same_rows(losses(tmp_path / "whole"), losses(tmp_path / "parts"), rel=1e-6)


def test_a_cycle_run_logs_both_ways_and_their_pictures_to_wandb_and_gan_eval_scores_it_alike(tmp_path: Path) -> None:
    """The W&B run gets the class each way keeps, the per-discriminator losses, the cycle and identity terms, and the
    A | A->B | A->B->A and B | B->A | B->A->B picture, which samples/ keeps too; best.pt follows cycle/class_kept;
    gan-eval of the last checkpoint gives the training's final numbers."""
    run("gan-run", *DIGITS8, "logger=wandb", "train.steps=2", "train.sample_every=2", "metrics.n=20",
        "hydra.run.dir=run", cwd=tmp_path)
    history = [r["history"]["item"] for r in wandb_records(tmp_path / "run") if r["type"] == "history"]
    assert [h["_step"] for h in history if h.get("samples._type") == "image-file"] == [2]
    assert any({"cycle/class_kept_a_to_b", "cycle/class_kept_b_to_a_floor", "cycle/reconstruction_a"} <= set(h)
               for h in history)
    assert all({"g/cycle_a", "g/identity_b", "loss/d_a", "loss/d_b"} <= set(h) for h in history if "loss/d" in h)
    picture = Image.open(tmp_path / "run" / "samples" / "step_000002.png")
    assert picture.width > picture.height / 3  # two blocks of three columns side by side, eight rows
    assert (tmp_path / "run" / "checkpoints" / "best.pt").is_file()
    # gan-eval scores the run as its training's last evaluation did (the same translations, judges and seed)
    run("gan-eval", "run=run", "checkpoint=last", "out=scores.json", cwd=tmp_path)
    scores = json.loads((tmp_path / "scores.json").read_text())
    final = json.loads((tmp_path / "run" / "summary.json").read_text())["metrics"]
    assert {key: scores[key] for key in final} == pytest.approx(final, rel=1e-6)
