"""game=cycle: unpaired image-to-image translation (CycleGAN, Zhu et al. 2017), as the authors' port trains it
(junyanz/pytorch-CycleGAN-and-pix2pix, models/cycle_gan_model.py and util/image_pool.py).

Two generators, `a_to_b` (the port's netG_A) and `b_to_a` (netG_B), and two discriminators named by the domain they
judge, `judge_b` (real B against a_to_b(A): the port's netD_A) and `judge_a` (netD_B). The engine's G and D are the
two pairs (`CycleGenerators`, `CycleDiscriminators`), so one optimiser steps both generators and one both
discriminators (the port's itertools.chain), the moving average averages each generator, and a checkpoint holds all
four networks and both optimisers as it holds any G and D.

One step, on a batch of A images and an unrelated batch of B images (the port's optimize_parameters):
1. G's update: fake_b = a_to_b(a), rec_a = b_to_a(fake_b), fake_a = b_to_a(b), rec_b = a_to_b(fake_a); G's loss is
   the objective's G term on judge_b(fake_b) and on judge_a(fake_a), times `adversarial_weight`, plus
   cycle_weight_a x |rec_a - a|_1 + cycle_weight_b x |rec_b - b|_1 and, with identity_weight > 0,
   identity_weight x (cycle_weight_b x |a_to_b(b) - b|_1 + cycle_weight_a x |b_to_a(a) - a|_1), the
   discriminators frozen.
2. Each discriminator's update (the engine's d_step, so its penalties and statistics are the usual ones): its
   domain's real batch against the history pool's draw of the fakes made in 1 (`HistoryPool`: of 50 images, the
   port's ImagePool), the objective's D loss (objective=lsgan's is the port's (MSE_real + MSE_fake) x 0.5).

The pools are the game's own training state (`state_parts`: kept in every checkpoint, so a resumed run draws what
the uninterrupted one would); under torchrun each process keeps its own pools, as each would keep its own copy of the
port's, and the checkpoint keeps every process's. docs/games.md.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

from gan_runner import distributed
from gan_runner.engine.build import build
from gan_runner.engine.step import Stats, UpdateInputs, backward_and_step, d_step, to_device, with_terms
from gan_runner.errors import UserError
from gan_runner.game import Game
from gan_runner.game.noise_to_data import dataset_name
from gan_runner.game.paired import seeded

DIRECTIONS = ("a_to_b", "b_to_a")


class CycleGenerators(nn.Module):
    """The two generators as one network for the engine: `forward(source, direction)` translates A images into B
    ("a_to_b", the default: what health's diversity score and gan-sample draw) or B into A ("b_to_a"); `directions`
    says so to gan-sample (direction=), the first from the dataset's sources (A, its source_shape) to its data (B)."""

    directions = DIRECTIONS

    def __init__(self, a_to_b: nn.Module, b_to_a: nn.Module) -> None:
        super().__init__()
        self.a_to_b, self.b_to_a = a_to_b, b_to_a

    def forward(self, source: torch.Tensor, direction: str = "a_to_b") -> torch.Tensor:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be a_to_b or b_to_a, got {direction!r}")
        return getattr(self, direction)(source)


class CycleDiscriminators(nn.Module):
    """The two discriminators as one network for the engine, each named by the domain it judges: `judge_b` scores
    B images (real, or a_to_b's), `judge_a` A images."""

    def __init__(self, judge_a: nn.Module, judge_b: nn.Module) -> None:
        super().__init__()
        self.judge_a, self.judge_b = judge_a, judge_b

    def forward(self, image: torch.Tensor, domain: str = "b") -> torch.Tensor:
        return getattr(self, f"judge_{domain}")(image)


class HistoryPool:
    """The port's ImagePool (util/image_pool.py; Shrivastava et al. 2017): D is shown generated images from a history
    of `size` of them rather than only the latest generator's. Until the pool is full each generated image is stored
    and shown; after that, for each image a coin is tossed: with probability 1/2 (the port's `p > 0.5` on a uniform
    draw) a stored image chosen uniformly is shown and the new image takes its place, otherwise the new image is
    shown. So, once full, half of each batch comes from the pool on average. Size 0: the new images, always.
    The coins and choices come from a generator of the pool's own (the port draws from Python's global `random`), so
    the pool's draws are part of its state: `state_dict` holds its images, their count and the generator."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = int(size)
        self.images: torch.Tensor | None = None  # size x C x H x W once the first image arrives, on its device
        self.count = 0
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """The batch D is shown in place of `images` (generated, detached), one image each."""
        if self.size == 0:
            return images
        if self.images is None:
            self.images = images.new_empty((self.size, *images.shape[1:]))
        elif self.images.device != images.device:
            self.images = self.images.to(images.device)
        shown = []
        for image in images:
            if self.count < self.size:
                self.images[self.count] = image
                self.count += 1
                shown.append(image)
            elif torch.rand((), generator=self.generator).item() > 0.5:
                place = int(torch.randint(self.size, (), generator=self.generator))
                shown.append(self.images[place].clone())
                self.images[place] = image
            else:
                shown.append(image)
        return torch.stack(shown)

    def state_dict(self) -> dict[str, Any]:
        stored = self.images[:self.count].detach().cpu().clone() if self.images is not None else torch.empty(0)
        return {"images": stored, "count": self.count, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count = int(state["count"])
        self.generator.set_state(state["generator"])
        if self.count == 0:
            self.images = None
            return
        stored = state["images"]
        self.images = stored.new_empty((self.size, *stored.shape[1:]))
        self.images[:self.count] = stored


class HistoryPools:
    """Both discriminators' pools (`b`: a_to_b's images for judge_b; `a`: b_to_a's for judge_a), one pair a process.
    The checkpoint holds every process's pair (gathered: every process calls state_dict), in process order; on
    resume each process takes its own (a run resumed on other processes than it was saved from takes process
    `rank mod saved count`'s)."""

    def __init__(self, size: int, seed: int) -> None:
        rank = distributed.rank()
        # Each process and domain its own stream of coins, from the run's seed (Knuth's MMIX multiplier mixes them).
        self.pools = {domain: HistoryPool(size, (seed * 6364136223846793005 + 2 * rank + offset) % (1 << 63))
                      for offset, domain in enumerate(("a", "b"))}

    def __getitem__(self, domain: str) -> HistoryPool:
        return self.pools[domain]

    def state_dict(self) -> dict[str, Any]:
        mine = {domain: pool.state_dict() for domain, pool in self.pools.items()}
        return {"processes": distributed.gather_objects(mine)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state["processes"]
        mine = saved[distributed.rank() % len(saved)]
        for domain, pool in self.pools.items():
            pool.load_state_dict(mine[domain])


@dataclasses.dataclass
class CycleBatch:
    """One step's images: a batch of A and an unrelated batch of B (the dataset yields them as (b, a))."""

    a: torch.Tensor
    b: torch.Tensor


class CycleStream:
    """Each step's CycleBatch from the unpaired dataset's seeded batches, on the step's device."""

    def __init__(self, data: Iterator, device: torch.device) -> None:
        self.data, self.device = data, device

    def next(self) -> CycleBatch:
        b, a = next(self.data)
        return CycleBatch(to_device(a, self.device), to_device(b, self.device))

    def for_generator(self, last: CycleBatch) -> CycleBatch:
        return last


@dataclasses.dataclass
class JudgedInputs(UpdateInputs):
    """One discriminator update's inputs: its domain's real images (`real`) and the pool's draw of generated ones
    (held in `z`): a cycle D update shows D images made before G's update, so `generate` returns them as they are."""

    def generate(self, G: nn.Module) -> torch.Tensor:
        return self.z


def per_domain(stats: Stats, domain: str) -> Stats:
    """One discriminator's update statistics under names of its own (loss/d_b, d_b/real, grad_norm/d_b, reg/r1_b),
    beside the two updates' mean under the usual names (loss/d, d/real, ...; what health's detectors read)."""
    def renamed(key: str) -> str:
        section, name = key.split("/", 1)
        return f"d_{domain}/{name}" if section == "d" else f"{key}_{domain}"
    return {renamed(key): value for key, value in stats.items() if not key.startswith("amp/")}


class CycleSampler:
    """What evaluation translates: `translate(direction, images)` runs the (averaged) generators on CPU images in
    batches of 100, without gradients, seeded (a generator with dropout draws the same masks at each call), and
    returns CPU images; called as a sampler, the a_to_b translations of the first n held-out A images."""

    def __init__(self, G: nn.Module, dataset: Any, seed: int, device: torch.device) -> None:
        self.G, self.dataset, self.seed, self.device = G, dataset, seed, device

    def translate(self, direction: str, images: torch.Tensor) -> torch.Tensor:
        outputs = []
        with seeded(self.seed, self.device), torch.no_grad():
            for start in range(0, len(images), 100):
                outputs.append(self.G(images[start:start + 100].to(self.device), direction).float().cpu())
        return torch.cat(outputs) if outputs else images.new_empty((0, *images.shape[1:]))

    def __call__(self, n: int, rows: tuple[int, int] | None = None) -> Iterator[torch.Tensor]:
        first, stop = rows or (0, n)
        a = self.dataset.held_out_domains()[0]
        for start in range(first, stop, 100):
            yield self.translate("a_to_b", a[start:min(start + 100, stop)]).to(self.device)


class Cycle(Game):
    kind = "cycle"

    def __init__(self, cycle_weight_a: float = 10.0, cycle_weight_b: float = 10.0, identity_weight: float = 0.5,
                 pool_size: int = 50, adversarial_weight: float = 2.0) -> None:
        if min(cycle_weight_a, cycle_weight_b, identity_weight, adversarial_weight) < 0:
            raise ValueError("game.cycle_weight_a, game.cycle_weight_b, game.identity_weight and "
                             "game.adversarial_weight must be >= 0. Fix: give each a number >= 0 (the paper's: 10, "
                             "10, 0.5 and 2 with objective=lsgan)")
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 0:
            raise ValueError(f"game.pool_size={pool_size!r} is the number of generated images each discriminator's "
                             "history holds. Fix: a whole number >= 0 (the paper's 50; 0: no history)")
        self.cycle_weight_a, self.cycle_weight_b = float(cycle_weight_a), float(cycle_weight_b)
        self.identity_weight, self.pool_size = float(identity_weight), pool_size
        self.adversarial_weight = float(adversarial_weight)

    def check(self, cfg: Any, dataset: Any) -> None:
        if not getattr(dataset, "unpaired", False):
            held = "pairs of images" if getattr(dataset, "paired", False) else "one kind of sample"
            raise UserError(f"game=cycle translates between two domains of images that are not paired (CycleGAN), "
                            f"but dataset={dataset_name(cfg)} holds {held}. Fix: an unpaired dataset: "
                            "dataset=mnist_digits8 (no download), or your own with dataset=unpaired_folder "
                            "dataset.root=DIR (DIR/trainA/, trainB/, testA/, testB/); for pairs, game=paired.")
        if cfg.arch.get("game", "noise_to_data") != self.kind:
            raise UserError(f"game=cycle needs networks that translate an image, built twice each way, but the chosen "
                            f"arch is made for game={cfg.arch.get('game', 'noise_to_data')}. Fix: arch=cyclegan (or "
                            "experiment=cyclegan).")
        refused = {"conditional=true": cfg.conditional,
                   "train.g_batch_size": cfg.train.g_batch_size is not None,
                   "train.n_critic": cfg.train.n_critic != 1,
                   "train.simultaneous=true": cfg.train.simultaneous,
                   "train.compile=true": cfg.train.compile,
                   "train.critic_bursts": cfg.train.critic_bursts.n_critic is not None}
        given = [key for key, present in refused.items() if present]
        if given:
            raise UserError(f"{', '.join(given)} cannot be used with game=cycle: each step makes one update of both "
                            "generators, then one of each discriminator, on one batch of each domain, unconditioned "
                            "and uncompiled. Fix: drop " + " and ".join(given) + ".")
        if OmegaConf.select(cfg, "augment") is not None:
            probe = nn.Identity()
            if build(cfg, "augment").wrap(probe) is not probe:  # an augmentation wraps D; none returns it as it is
                raise UserError("augment= (differentiable augmentation of what D sees) is not built for game=cycle's "
                                "two discriminators. Fix: augment=none.")
        for name in cfg.regulariser:
            if getattr(build(cfg, f"regulariser.{name}"), "regularises", "d") == "g":
                raise UserError(f"regulariser={name} penalises a generator's mapping from noise, and game=cycle's "
                                "generators translate images. Fix: drop it (penalties of the discriminators, such as "
                                "r1 or gp, apply to both).")
        channels_a, channels_b = dataset.source_shape[0], dataset.shape[0]
        if self.identity_weight > 0 and channels_a != channels_b:
            raise UserError(f"The identity loss (game.identity_weight={self.identity_weight:g}) feeds B images to "
                            f"the A->B generator and compares its output with them, so both domains need the same "
                            f"channels, but dataset={dataset_name(cfg)} serves A with {channels_a} and B with "
                            f"{channels_b}. Fix: game.identity_weight=0 (the port asserts the same: "
                            "input_nc == output_nc when lambda_identity > 0), or the same channels for both domains "
                            "(dataset.channels_a, dataset.channels_b).")

    def networks(self, cfg: Any, shapes: Any, num_classes: int | None) -> tuple[nn.Module, nn.Module]:
        """Both generators, then both discriminators, in the port's order (netG_A, netG_B, netD_A, netD_B)."""
        a_to_b = build(cfg, "arch.generator", data_shape=shapes.shape, source_shape=shapes.source_shape)
        b_to_a = build(cfg, "arch.generator", data_shape=shapes.source_shape, source_shape=shapes.shape)
        judge_b = build(cfg, "arch.discriminator", data_shape=shapes.shape)
        judge_a = build(cfg, "arch.discriminator", data_shape=shapes.source_shape)
        return CycleGenerators(a_to_b, b_to_a), CycleDiscriminators(judge_a, judge_b)

    def state_parts(self, cfg: Any) -> dict[str, Any]:
        return {"pools": HistoryPools(self.pool_size, int(cfg.seed))}

    def input_stream(self, data: Iterator, cfg: Any, num_classes: int | None, device: torch.device, latent: Any,
                     g_batch_size: int | None) -> CycleStream:
        return CycleStream(data, device)

    def terms(self, batch: CycleBatch, G: nn.Module, rec_a: torch.Tensor,
              rec_b: torch.Tensor) -> Iterator[tuple[str, tuple]]:
        """G's own terms by name -> (weighted, raw): the cycle losses each way and, with identity_weight > 0, the
        identity losses (the port's backward_G: loss_idt_A = |netG_A(real_B) - real_B| x lambda_B x lambda_idt)."""
        raw = F.l1_loss(rec_a, batch.a)
        yield "cycle_a", (self.cycle_weight_a * raw, raw)
        raw = F.l1_loss(rec_b, batch.b)
        yield "cycle_b", (self.cycle_weight_b * raw, raw)
        if self.identity_weight > 0:
            raw = F.l1_loss(G.a_to_b(batch.b).float(), batch.b)
            yield "identity_b", (self.identity_weight * self.cycle_weight_b * raw, raw)
            raw = F.l1_loss(G.b_to_a(batch.a).float(), batch.a)
            yield "identity_a", (self.identity_weight * self.cycle_weight_a * raw, raw)

    def generator_update(self, run: Any, optimiser: torch.optim.Optimizer, batch: CycleBatch,
                         ) -> tuple[Stats, torch.Tensor, torch.Tensor]:
        """Both generators' update (step 1 of the module's docstring); its statistics and the two fakes, detached."""
        G, D, objective = run.G, run.D, run.objective
        D.requires_grad_(False)  # G's loss needs gradients through the discriminators, not for them
        with run.precision.autocast():
            fake_b = G.a_to_b(batch.a).float()
            rec_a = G.b_to_a(fake_b).float()
            fake_a = G.b_to_a(batch.b).float()
            rec_b = G.a_to_b(fake_a).float()
            real_b = D.judge_b(batch.b).float() if objective.g_needs_real_scores else None
            real_a = D.judge_a(batch.a).float() if objective.g_needs_real_scores else None
            adversarial_b = objective.g_loss(D.judge_b(fake_b).float(), real_b)
            adversarial_a = objective.g_loss(D.judge_a(fake_a).float(), real_a)
            stats = {"loss/g": ((adversarial_a + adversarial_b) / 2).detach(),
                     "g/adversarial_a_to_b": adversarial_b.detach(), "g/adversarial_b_to_a": adversarial_a.detach()}
            loss = with_terms((adversarial_a + adversarial_b) * self.adversarial_weight,
                              self.terms(batch, G, rec_a, rec_b), stats, "g")
        backward_and_step(loss, optimiser, run.precision.scaler_g, stats, "g")
        D.requires_grad_(True)
        return stats, fake_b.detach(), fake_a.detach()

    def updates(self, step: Any, next_inputs: Any, for_generator: Any, g_steps_done: int, n_critic: int) -> list:
        state, run = step.state, step.run
        batch = next_inputs()
        g_stats, fake_b, fake_a = self.generator_update(run, state.opt_g, batch)
        pools, stats = state.game_parts["pools"], [g_stats]
        for domain, real, fake in (("b", batch.b, fake_b), ("a", batch.a, fake_a)):
            judge = dataclasses.replace(run, D=getattr(run.D, f"judge_{domain}"))
            judged = d_step(judge, state.opt_d, JudgedInputs(real, None, pools[domain].query(fake), None),
                            state.d_steps)
            stats += [judged, per_domain(judged, domain)]
        return stats

    def graph_refusals(self) -> list[str]:
        return ["game=cycle: its history pools decide on the host which images D is shown, which a recorded step "
                "cannot replay"]

    def sampler(self, G: nn.Module, cfg: Any, dataset: Any, seed: int, device: torch.device) -> CycleSampler:
        return CycleSampler(G, dataset, seed, device)

    def fixed_inputs(self, cfg: Any, dataset: Any, num_classes: int | None, device: torch.device,
                     latent: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The picture's 8 held-out images of each domain, spread evenly over each held-out order."""
        a, _, b, _ = dataset.held_out_domains()

        def spread(images: torch.Tensor) -> torch.Tensor:
            return images[torch.linspace(0, len(images) - 1, min(8, len(images))).round().long()]
        return spread(a), spread(b)

    def picture(self, G: nn.Module, D: nn.Module, fixed: Any, dataset: Any, sample: Any, seed: int, step: int,
                objective: Any) -> Any:
        """Rows of A | A->B | A->B->A, then of B | B->A | B->A->B (gan_runner.pictures.cycle_picture)."""
        from gan_runner.pictures import cycle_picture

        a, b = fixed
        translate = CycleSampler(G, dataset, seed, next(G.parameters()).device).translate
        fake_b, fake_a = translate("a_to_b", a), translate("b_to_a", b)
        return cycle_picture(a, fake_b, translate("b_to_a", fake_b), b, fake_a, translate("a_to_b", fake_a))

    def diversity_inputs(self, cfg: Any, num_classes: int | None, latent: Any) -> Any:
        def inputs(batch: Any, n: int, rng: torch.Generator) -> tuple:
            return (batch[1],)  # the batch's A images: do a_to_b's outputs spread as B images do (batch[0])?
        return inputs

