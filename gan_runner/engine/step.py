"""One training step, whole: the learning rates of the step, n_critic discriminator updates and one generator
update, the counters, the statistics and the moving average of G (`TrainingStep`), and the inputs each update
consumes (`InputStream`). Each update returns a flat dict of device tensors (`loss/d`, `d/real`, `reg/gp`, ...)
that the state's collector averages; nothing in a step fetches a value from the device (the collector checks
finiteness at log rows and checkpoints). The loop calls `step()` and decides only when rows, evaluations,
pictures and checkpoints are due; benchmarks, profiles and tests call the same object.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from torch import nn

from gan_runner import distributed
from gan_runner.data import Samples
from gan_runner.latent import STANDARD_NORMAL, StandardNormal, Uniform
from gan_runner.objectives import Objective
from gan_runner.regularisers import Regulariser

Stats = dict[str, torch.Tensor]


@dataclass
class UpdateInputs:
    """What one update consumes: real samples, the noise z of as many fakes, and the class labels of both (None in
    an unconditional run, where G and D ignore them). With `keep_fake` the D update keeps its fakes, with G's graph,
    as `fake`, for the G update to score again (InputStream's reuse_fakes)."""

    real: torch.Tensor
    real_labels: torch.Tensor | None
    z: torch.Tensor
    fake_labels: torch.Tensor | None
    keep_fake: bool = False
    fake: torch.Tensor | None = None

    def generate(self, G: nn.Module) -> torch.Tensor:
        """G's output for these inputs: G(z, labels) here; a game whose G takes other inputs subclasses this (the
        paired game's G(source): gan_runner/game/paired.py)."""
        return G(self.z, self.fake_labels)


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """An update's input on the step's device; from the CPU to CUDA through pinned memory, so the copy never waits
    for the GPU to finish its queue (a copy from pageable memory would)."""
    if device.type == "cuda" and not tensor.is_cuda:
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


class InputStream:
    """Updates' inputs from the dataset's seeded order: z from `latent` (gan_runner.latent; N(0, I) by default)
    and, in a conditional run, uniform labels for the fakes, both from the global RNG (which checkpoints keep),
    z first. On several processes `data` yields each one's slice of the global batch, and z and the labels are
    its slice of the global batch's draws (distributed.per_sample).

    `reuse_fakes` (train.reuse_fakes): the G step scores the fakes of the last D step again, after D's update,
    as pytorch/examples' DCGAN does (one G forward per iteration instead of two, and G's batch norm statistics
    from that one pass); otherwise it draws fresh z, `g_batch_size` of them (train.g_batch_size, this process's
    share; None: as many as D's batch), as SNGAN's code draws n_gen_samples = 2 x batchsize for G's update."""

    def __init__(self, data: Iterator[Samples], z_dim: int, num_classes: int | None, device: torch.device,
                 latent: StandardNormal | Uniform = STANDARD_NORMAL, reuse_fakes: bool = False,
                 g_batch_size: int | None = None) -> None:
        self.data, self.z_dim, self.num_classes, self.device = data, z_dim, num_classes, device
        self.latent, self.reuse_fakes, self.g_batch_size = latent, reuse_fakes, g_batch_size

    def next(self) -> UpdateInputs:
        real, labels = next(self.data)
        real_labels = self.to_device(labels) if self.num_classes is not None else None
        return self.with_new_fakes(self.to_device(real), real_labels)

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        return to_device(tensor, self.device)

    def with_new_fakes(self, real: torch.Tensor, real_labels: torch.Tensor | None,
                       fakes: int | None = None) -> UpdateInputs:
        """The real samples with fresh noise (and fake labels) for `fakes` samples (default: as many as real)."""
        n = len(real) if fakes is None else fakes
        z = distributed.per_sample(lambda shape, **kw: self.latent.sample(*shape, **kw), (n, self.z_dim),
                                   device=self.device)
        fake_labels = None if self.num_classes is None else distributed.per_sample(
            lambda shape, **kw: torch.randint(self.num_classes, shape, **kw), (n,), device=self.device)
        return UpdateInputs(real, real_labels, z, fake_labels, keep_fake=self.reuse_fakes)

    def for_generator(self, last: UpdateInputs) -> UpdateInputs:
        """The G step's batch after the D step on `last`: `last` itself, its fakes kept (reuse_fakes), or the
        same real samples with fresh noise for G's batch."""
        if self.reuse_fakes:
            return last
        return self.with_new_fakes(last.real, last.real_labels, self.g_batch_size)


class Precision:
    """How the steps compute: `fp32`, or autocast to `bf16` or `fp16` (losses stay float32). fp16 also scales
    each network's loss with its own GradScaler (whose state the checkpoint keeps); with fp32 and bf16 the
    scalers are disabled and pass everything through unchanged. `cache_casts=False` casts a weight each time it
    is used rather than once per autocast region, as a step recorded in a CUDA graph must (the cache's copies
    would be freed when the region ends, under the graph's feet)."""

    DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

    def __init__(self, name: str, device: torch.device, cache_casts: bool = True) -> None:
        self.name, self.device_type, self.dtype, self.cache_casts = name, device.type, self.DTYPES[name], cache_casts
        self.scaler_d = torch.amp.GradScaler(device.type, enabled=name == "fp16")
        self.scaler_g = torch.amp.GradScaler(device.type, enabled=name == "fp16")

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype, cache_enabled=self.cache_casts)


FP32 = Precision("fp32", torch.device("cpu"))  # the steps' default: plain float32, scalers disabled


class StepCritic:
    """D as a D step's penalties see it: its scores under the step's precision, and under fp16 the loss scale
    as `gradient_scale` (a device tensor), so that input gradients do not underflow (regularisers.input_gradient).
    A compiled D's penalties use the eager module: double backward does not compile."""

    def __init__(self, D: nn.Module, precision: Precision) -> None:
        self.D, self.precision = getattr(D, "_orig_mod", D), precision
        scaler = precision.scaler_d
        self.gradient_scale = scaler.scale(torch.ones((), device=self._device())) if scaler.is_enabled() else None

    def _device(self) -> torch.device:
        return next(self.D.parameters()).device

    def __call__(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        with self.precision.autocast():
            return self.D(x, labels).float()


@dataclass
class Updates:
    """What every update of a run works with, one object instead of a dozen positional arguments: the networks (as
    the step calls them: compiled wrappers under train.compile), the objective, the regularisers by name, the
    precision, whether D scores real and fake in separate passes, the factor of D's loss (train.d_loss_scale) and
    the game's extra terms of G's loss (`generator_terms(inputs, fake)`: name -> (term, raw); the paired game's
    reconstruction and content losses, none in noise_to_data) and the weight of the objective's term in it."""

    G: nn.Module
    D: nn.Module
    objective: Objective
    regularisers: dict[str, Regulariser]
    precision: Precision = FP32
    separate_passes: bool = False
    d_loss_scale: float = 1.0
    generator_terms: Callable[[UpdateInputs, torch.Tensor], Iterator[tuple[str, tuple]]] | None = None
    adversarial_weight: float = 1.0  # the objective's share of G's loss (SRGAN's 1e-3 beside its content loss)
    augment: Any = None  # the run's augmentation (gan_runner/augment): told D's real scores after each D update


def with_terms(loss: torch.Tensor, terms: Iterator[tuple[str, tuple]], stats: Stats, prefix: str) -> torch.Tensor:
    """`loss` plus each regulariser's term that is due this step; its raw value is logged as prefix/name."""
    for name, (term, raw) in terms:
        if term is not None:
            loss = loss + term
            stats[f"{prefix}/{name}"] = raw.detach()
    return loss


def backward_and_step(loss: torch.Tensor, optimiser: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                      stats: Stats, network: str) -> None:
    """Backward, the gradients' mean over the run's processes (distributed.average; before unscaling,
    so an overflow on any process is every process's), and the optimiser's step through the loss scaler. Logs the gradient's norm over the network's
    parameters as `grad_norm/<network>` (of the unscaled gradient) and, under fp16, whether the scaler skipped the
    update (overflowing gradients) as `amp/skipped_<network>`, a device tensor read before `update` forgets it."""
    optimiser.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    _step(optimiser, scaler, stats, network)


def _step(optimiser: torch.optim.Optimizer, scaler: torch.amp.GradScaler, stats: Stats, network: str) -> None:
    """The optimiser's step on the gradients its parameters hold (see backward_and_step)."""
    gradients = [p.grad for group in optimiser.param_groups for p in group["params"] if p.grad is not None]
    distributed.average(gradients)
    if scaler.is_enabled():
        scaler.unscale_(optimiser)  # the norm of the true gradient; the step then skips its own unscaling
    stats[f"grad_norm/{network}"] = torch.nn.utils.get_total_norm(gradients).detach()
    scaler.step(optimiser)
    if scaler.is_enabled():
        stats[f"amp/skipped_{network}"] = sum(scaler._found_inf_per_device(optimiser).values()).clamp(max=1)
    scaler.update()


def _joint(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    """The labels of one pass over real and fake samples together."""
    return None if a is None else torch.cat([a, b])


def scores_of(D: nn.Module, batch: UpdateInputs, fake: torch.Tensor, separate_passes: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """D's scores of the batch's real samples and of `fake` (float32): one pass over both together, so that batch
    norm normalises both halves alike, or (separate_passes) a pass each, as pytorch/examples' DCGAN (each batch
    normalised alone: ganhacks' "construct different mini-batches for real and fake")."""
    real = batch.real
    if separate_passes:
        return D(real, batch.real_labels).float(), D(fake, batch.fake_labels).float()
    scores = D(torch.cat([real, fake]), _joint(batch.real_labels, batch.fake_labels)).float()
    real_scores, fake_scores = scores.split([len(real), len(fake)])
    return real_scores, fake_scores


def d_step(run: Updates, optimiser: torch.optim.Optimizer, batch: UpdateInputs, d_steps_done: int) -> Stats:
    """One discriminator update; `d_steps_done` sets the lazy regularisers' phase. A batch that keeps its fakes
    (keep_fake) gets them as `batch.fake`, G's graph attached, for the G step."""
    for regulariser in run.regularisers.values():
        regulariser.before_d_step(run.D)
    with torch.set_grad_enabled(batch.keep_fake), run.precision.autocast():
        fake = batch.generate(run.G).float()
    batch.fake = fake if batch.keep_fake else None
    fake = fake.detach()
    with run.precision.autocast():
        real_scores, fake_scores = scores_of(run.D, batch, fake, run.separate_passes)
    loss, stats = d_loss(run, batch, fake, real_scores, fake_scores, d_steps_done)
    backward_and_step(loss, optimiser, run.precision.scaler_d, stats, "d")
    own_steps(run, "d", optimiser, batch, fake, d_steps_done, stats)
    for regulariser in run.regularisers.values():
        regulariser.after_d_step(run.D)
    if run.augment is not None:  # ADA steers its p by the signs of these scores (aug/p, aug/rt)
        stats.update(run.augment.observe(real_scores))
    return stats


def own_steps(run: Updates, network: str, optimiser: torch.optim.Optimizer, batch: UpdateInputs,
              fake: torch.Tensor | None, steps_done: int, stats: Stats) -> None:
    """The lazy regularisers of `network` ("d" or "g") that take an optimiser step of their own (own_step), after its
    main update, on their due steps: stylegan2-ada's Dreg and Greg phases (training/training_loop.py l.270-292: zero
    the gradients, backward of the term x every, the optimiser's step). D's penalty sees the main update's real samples
    (l.260-281: each phase of a round gets the same real batch), its detached `fake` and no scores; G's sees the
    update's inputs and no fake (path length runs G on them itself). The raw penalty is logged as reg/<name> (reg_g/
    for G) as in the main loss; its gradient norm as grad_norm/<network>_<name>."""
    scaler = run.precision.scaler_d if network == "d" else run.precision.scaler_g
    critic = StepCritic(run.D, run.precision) if network == "d" else None
    for name, regulariser in run.regularisers.items():
        if not (regulariser.own_step and regulariser.regularises == network):
            continue
        if network == "d":
            term, raw = regulariser.scaled_penalty(steps_done, critic, batch.real, fake, None, None,
                                                   batch.real_labels, batch.fake_labels)
        else:
            term, raw = regulariser.scaled_generator_penalty(steps_done, batch, None)
        if term is None:
            continue
        prefix = f"{'reg' if network == 'd' else 'reg_g'}/{name}"
        stats[prefix] = raw.detach()
        stats.update({f"{prefix}_{key}": value.detach().clone() for key, value in regulariser.statistics().items()})
        backward_and_step(term, optimiser, scaler, stats, f"{network}_{name}")


def d_loss(run: Updates, batch: UpdateInputs, fake: torch.Tensor, real_scores: torch.Tensor,
           fake_scores: torch.Tensor, d_steps_done: int) -> tuple[torch.Tensor, Stats]:
    """D's loss (the objective's, times run.d_loss_scale, plus every penalty due) and its statistics; `fake`
    detached."""
    loss = run.objective.d_loss(real_scores, fake_scores) * run.d_loss_scale
    stats = {"loss/d": loss.detach(), "d/real": real_scores.detach().mean(), "d/fake": fake_scores.detach().mean()}
    threshold = run.objective.decision_threshold
    if threshold is not None:  # how often D tells them apart: near 1 on both when D wins (G's gradients vanish)
        stats["d/accuracy_real"] = (real_scores.detach() > threshold).float().mean()
        stats["d/accuracy_fake"] = (fake_scores.detach() < threshold).float().mean()
    critic = StepCritic(run.D, run.precision)
    terms = ((name, r.scaled_penalty(d_steps_done, critic, batch.real, fake, real_scores, fake_scores,
                                     batch.real_labels, batch.fake_labels))
             for name, r in run.regularisers.items() if not r.own_step)  # own_step: in own_steps
    return with_terms(loss, terms, stats, "reg"), stats


def g_loss(run: Updates, batch: UpdateInputs, fake: torch.Tensor, fake_scores: torch.Tensor | None,
           real_scores: torch.Tensor | None, g_steps_done: int) -> tuple[torch.Tensor, Stats]:
    """G's loss and its statistics: the objective's (none when `fake_scores` is None: a game's update of G on its
    own terms, as SRGAN's pre-training on MSE), the game's terms of G's loss (logged as g/<name>) and every
    generator penalty due; penalties and terms see the update's inputs and G's output `fake`."""
    loss = run.objective.g_loss(fake_scores, real_scores) if fake_scores is not None else fake.new_zeros(())
    stats = {"loss/g": loss.detach()} if fake_scores is not None else {}
    if run.adversarial_weight != 1.0:
        loss = loss * run.adversarial_weight
    if run.generator_terms is not None:
        loss = with_terms(loss, run.generator_terms(batch, fake), stats, "g")
    terms = ((name, r.scaled_generator_penalty(g_steps_done, batch, fake))
             for name, r in run.regularisers.items() if not r.own_step)  # own_step: in own_steps
    return with_terms(loss, terms, stats, "reg_g"), stats


def simultaneous_step(run: Updates, opt_d: torch.optim.Optimizer, opt_g: torch.optim.Optimizer, batch: UpdateInputs,
                      d_steps_done: int, g_steps_done: int) -> Stats:
    """Both updates from one forward pass (train.simultaneous): G makes the fakes once, D scores them once
    (with the same dropout masks), D's gradient of its loss and G's of its loss are both taken at the current
    weights, then both optimisers step. Goodfellow et al.'s code (goodfeli/adversarial, pylearn2: get_gradients
    returns both from one forward pass) and f-GAN's single-step gradient method (Nowozin et al. 2016, Algorithm 1).
    G's update therefore scores the fakes against D before D's update, not after it as in alternating steps."""
    precision = run.precision
    for regulariser in run.regularisers.values():
        regulariser.before_d_step(run.D)
    with precision.autocast():
        fake = batch.generate(run.G).float()
        real_scores, fake_scores = scores_of(run.D, batch, fake, run.separate_passes)
    loss_d, stats = d_loss(run, batch, fake.detach(), real_scores, fake_scores, d_steps_done)
    loss_g, g_stats = g_loss(run, batch, fake, fake_scores, real_scores if run.objective.g_needs_real_scores else None,
                             g_steps_done)
    opt_d.zero_grad(set_to_none=True)
    opt_g.zero_grad(set_to_none=True)
    precision.scaler_d.scale(loss_d).backward(inputs=list(run.D.parameters()), retain_graph=True)
    precision.scaler_g.scale(loss_g).backward(inputs=list(run.G.parameters()))
    _step(opt_d, precision.scaler_d, stats, "d")
    own_steps(run, "d", opt_d, batch, fake.detach(), d_steps_done, stats)
    for regulariser in run.regularisers.values():
        regulariser.after_d_step(run.D)
    if run.augment is not None:  # as d_step
        stats.update(run.augment.observe(real_scores))
    _step(opt_g, precision.scaler_g, g_stats, "g")
    own_steps(run, "g", opt_g, batch, None, g_steps_done, g_stats)
    return {**stats, **g_stats}


def g_step(run: Updates, optimiser: torch.optim.Optimizer, batch: UpdateInputs, g_steps_done: int,
           adversarial: bool = True) -> Stats:
    """One generator update, of the fakes the D step kept (`batch.fake`) or of fresh ones from the batch's inputs;
    the real samples serve relativistic objectives only. `adversarial=False`: G's update on the game's terms alone,
    D not consulted (SRGAN's generator trained on MSE before the adversarial phase)."""
    G, D, precision = run.G, run.D, run.precision
    D.requires_grad_(False)  # G's loss needs gradients through D, not for it
    with precision.autocast():
        fake = batch.fake if batch.fake is not None else batch.generate(G).float()
        batch.fake = None  # its graph is used once
        if not adversarial:
            real_scores, fake_scores = None, None
        elif run.objective.g_needs_real_scores:
            real_scores, fake_scores = scores_of(D, batch, fake, run.separate_passes)
        else:
            real_scores, fake_scores = None, D(fake, batch.fake_labels).float()
    loss, stats = g_loss(run, batch, fake, fake_scores, real_scores, g_steps_done)
    backward_and_step(loss, optimiser, precision.scaler_g, stats, "g")
    own_steps(run, "g", optimiser, batch, None, g_steps_done, stats)
    D.requires_grad_(True)
    return stats


@dataclass(frozen=True)
class Schedule:
    """The learning rates and momentum of each step, a pure function of the G updates done (so a resumed run, even
    one given more steps, needs no state of it). Each network's rate is its base rate times a factor that moves
    linearly from 1 to `end_factor` between G updates `decay_start` and `steps` (1.0: constant; SNGAN decays to 0
    from the start, pix2pix from half the run), times `drop_factor` from update `drop_at` on (SRGAN's 1e-4 then
    1e-5), divided by `decay` once per update done (Goodfellow et al.'s ExponentialDecay: 1.000004), and never below
    `lr_min`. With `momentum_end` the optimisers' momentum (SGD's; Adam's is its betas) moves linearly from
    `momentum_start` to it over `momentum_steps` updates, then stays (Goodfellow et al.'s MomentumAdjustor: 0.5 to
    0.7)."""

    lr_g: float
    lr_d: float
    end_factor: float
    steps: int
    decay: float = 1.0
    lr_min: float = 0.0
    momentum_start: float | None = None
    momentum_end: float | None = None
    momentum_steps: int = 1
    decay_start: int = 0
    drop_at: int | None = None
    drop_factor: float = 0.1

    def factor(self, updates_done: int) -> float:
        span = max(self.steps - self.decay_start, 1)
        moved = min(max(updates_done - self.decay_start, 0), span) / span
        dropped = self.drop_factor if self.drop_at is not None and updates_done >= self.drop_at else 1.0
        return (1.0 + (self.end_factor - 1.0) * moved) * dropped / self.decay ** updates_done

    def rates(self, updates_done: int) -> tuple[float, float]:
        factor = self.factor(updates_done)
        return max(self.lr_g * factor, self.lr_min), max(self.lr_d * factor, self.lr_min)

    def momentum(self, updates_done: int) -> float | None:
        if self.momentum_end is None:
            return None
        done = min(updates_done, self.momentum_steps) / self.momentum_steps
        return self.momentum_start + (self.momentum_end - self.momentum_start) * done


@dataclass(frozen=True)
class CriticBursts:
    """WGAN's critic schedule (martinarjovsky/WassersteinGAN main.py: Diters = 100 while fewer than 25 G updates are
    done and at every 500th): `n_critic` D updates in the steps whose G updates done are below `first` or a
    multiple of `every`, the step's usual n_critic otherwise."""

    n_critic: int
    first: int
    every: int

    def at(self, g_steps_done: int) -> bool:
        return g_steps_done < self.first or g_steps_done % self.every == 0


@dataclass(frozen=True)
class StepSettings:
    """How a run's steps go, from train.*: the schedule, D updates per step (and WGAN's bursts), the global batch
    size, separate passes of D over real and fake, torch.compile, simultaneous updates, the factor of D's loss."""

    schedule: Schedule
    n_critic: int = 1
    batch_size: int = 64
    separate_passes: bool = False
    compiled: bool = False
    simultaneous: bool = False
    d_loss_scale: float = 1.0
    bursts: CriticBursts | None = None


class TrainingStep:
    """One whole step of the loop on the training state: the schedule's learning rates (and momentum), the game's
    updates (gan_runner/game: noise_to_data's n_critic D updates on fresh inputs and one G update, or both from one
    forward pass), then the bookkeeping (the statistics collected, the D-step, images-seen and step counters, the
    moving average of G). The networks, optimisers, regularisers and precision are the state's; under
    train.compile the updates call compiled wrappers of the state's G and D (sharing their parameters)."""

    def __init__(self, state: Any, inputs: InputStream, objective: Objective, settings: StepSettings,
                 game: Any) -> None:
        self.state, self.inputs, self.objective, self.settings, self.game = state, inputs, objective, settings, game
        self.schedule, self.n_critic, self.batch_size = settings.schedule, settings.n_critic, settings.batch_size
        self.simultaneous, self.bursts = settings.simultaneous, settings.bursts
        G, D = (torch.compile(state.G), torch.compile(state.D)) if settings.compiled else (state.G, state.D)
        # Augmentation (conf/augment): every update and penalty sees D through it, D(augment(x), y); none: D itself
        D = state.augment.wrap(D)
        self.run = Updates(G, D, objective, state.regularisers, state.precision, settings.separate_passes,
                           settings.d_loss_scale, game.generator_terms, game.adversarial_weight, state.augment)

    @property
    def G(self) -> nn.Module:
        return self.run.G

    @property
    def D(self) -> nn.Module:
        return self.run.D

    def __call__(self) -> None:
        """Step number state.step + 1."""
        state = self.state
        step = state.step + 1
        self.game.before_step(state)  # what the game moves within a phase (progressive growing's fade-in alpha)
        self.set_learning_rates(*self.schedule.rates(step - 1))
        self.set_momentum(self.schedule.momentum(step - 1))
        n_critic = self.critic_updates(step - 1)
        for stats in self.updates(step - 1, n_critic):
            state.stats.add(stats, step)
        state.d_steps += n_critic
        images_before = state.images_seen  # the average's half-life may count images (train.ema_kimg)
        state.images_seen += n_critic * self.batch_size
        state.ema.update(state.G, step, images_before, state.images_seen - images_before)
        state.step = step

    def critic_updates(self, g_steps_done: int) -> int:
        return self.bursts.n_critic if self.bursts is not None and self.bursts.at(g_steps_done) else self.n_critic

    def set_learning_rates(self, lr_g: float, lr_d: float) -> None:
        for optimiser, lr in ((self.state.opt_g, lr_g), (self.state.opt_d, lr_d)):
            for group in optimiser.param_groups:
                group["lr"] = lr

    def set_momentum(self, momentum: float | None) -> None:
        if momentum is None:
            return
        for optimiser in (self.state.opt_g, self.state.opt_d):
            for group in optimiser.param_groups:
                group["momentum"] = momentum

    def updates(self, g_steps_done: int, n_critic: int) -> list[Stats]:
        """The step's updates on inputs drawn one update at a time; their statistics, a dict each."""
        return self.run_updates(self.inputs.next, self.inputs.for_generator, g_steps_done, n_critic)

    def run_updates(self, next_inputs: Callable[[], UpdateInputs],
                    for_generator: Callable[[UpdateInputs], UpdateInputs], g_steps_done: int,
                    n_critic: int) -> list[Stats]:
        """The game's updates, in its order (Game.updates), each drawing its inputs from `next_inputs`."""
        return self.game.updates(self, next_inputs, for_generator, g_steps_done, n_critic)

    def alternating(self, next_inputs: Callable[[], UpdateInputs],
                    for_generator: Callable[[UpdateInputs], UpdateInputs], g_steps_done: int,
                    n_critic: int) -> list[Stats]:
        """The usual order: n_critic D updates, each on fresh inputs, then G's against the updated D (or, with
        train.simultaneous, both from one forward pass); what the games call unless theirs differs."""
        state, run, stats, inputs = self.state, self.run, [], None
        if self.simultaneous:
            return [simultaneous_step(run, state.opt_d, state.opt_g, next_inputs(), state.d_steps, g_steps_done)]
        for i in range(n_critic):
            inputs = next_inputs()
            stats.append(d_step(run, state.opt_d, inputs, state.d_steps + i))
        stats.append(g_step(run, state.opt_g, for_generator(inputs), g_steps_done))
        return stats
