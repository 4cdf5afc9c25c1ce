"""The training state, with one owner: everything a run changes as it trains, and so everything its
checkpoint holds. A new stateful part (a scheduler, a second average) is one entry in `TrainingState.parts`."""

from __future__ import annotations

import copy
import random
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from gan_runner import distributed
from gan_runner.augment import NoAugment
from gan_runner.errors import UserError
from gan_runner.regularisers import Regulariser
from gan_runner.engine.stats import StatsCollector


def _declared_state(module: nn.Module) -> tuple[str, ...]:
    return getattr(module, "state_buffers", ())


def _copied(module: nn.Module) -> tuple[str, ...]:
    return getattr(module, "copied_buffers", ())


def running_statistics(model: nn.Module) -> list[torch.Tensor]:
    """The buffers that are statistics of the data a module has seen (batch norm's running means and variances):
    every floating-point buffer except those its module declares as state of its own in `state_buffers` (a tuple
    of its own buffers' names; spectral norm's power-iteration vectors) or as copied in `copied_buffers`. The moving
    average averages them, and several processes average theirs (each saw its share of the batch) before a
    checkpoint, an evaluation or a picture."""
    return [buffer for module in model.modules() for name, buffer in module.named_buffers(recurse=False)
            if buffer.is_floating_point() and name not in _declared_state(module) + _copied(module)]


def counters(model: nn.Module) -> list[torch.Tensor]:
    """The integer buffers (batch norm's batch counts): copied by the moving average."""
    return [buffer for module in model.modules() for name, buffer in module.named_buffers(recurse=False)
            if not buffer.is_floating_point() and name not in _declared_state(module)]


def copied_statistics(model: nn.Module) -> list[torch.Tensor]:
    """The floating-point buffers a module declares in `copied_buffers`: statistics the moving average copies from G
    rather than averages (StyleGAN2's tracked average w, which its official code copies into G_ema: an average of an
    average would trail G's); several processes average them as running statistics."""
    return [buffer for module in model.modules() for name, buffer in module.named_buffers(recurse=False)
            if buffer.is_floating_point() and name in _copied(module)]


@torch.no_grad()
def refine_parametrizations(model: nn.Module) -> None:
    """Evaluates every parametrised weight of `model` once as training does: spectral norm's power iteration then
    refines its u and v (declared state) on the weights as they are now."""
    for module in model.modules():
        if parametrize.is_parametrized(module):
            for parametrisation in module.parametrizations.values():
                was_training = parametrisation.training
                parametrisation.train()
                parametrisation()
                parametrisation.train(was_training)


class EMA:
    """An exponential moving average of a generator: θ_ema <- β θ_ema + (1 - β) θ after each G update, for
    the parameters and for the running statistics alike (batch norm's running means and variances), so that the
    averaged weights are evaluated with statistics averaged over the same horizon rather than with the
    current generator's (which belong to other weights). Integer buffers (batch counts) are copied from G.
    State a module keeps about its own weights (declared in `state_buffers`: spectral norm's power-iteration
    vectors u and v) is neither averaged nor copied: the average keeps its own, refined on the averaged weights by
    one power iteration after each update, as training refines G's. Averaged, u shrinks below unit length and the
    normalised weights grow past σ = 1; copied from G, they estimate G's singular vectors, not the average's (a
    3-layer MLP at lr 3e-2, 300 updates: σ up to 1.25 averaged, 1.004-1.25 copied, 1.0000 refined).

    Averaging the buffers was chosen over BigGAN's "standing statistics" (re-estimating them by running the
    averaged generator on many batches before each use): it costs nothing per use, needs no choice of how
    many batches, and makes evaluation a pure function of the state.

    The horizon ramps up with the run (stylegan2-ada's `ema_rampup`): the half-life, in G updates, is that
    of `decay` but at most `rampup` x the updates done so far, so a young run's average does not lag its
    generator by more than a fraction of what it has seen. `rampup` 0 or None: the plain fixed decay.
    Until update `start` the average is G itself (BigGAN's ema_start: averaging begins once G is past its
    first, fast-changing updates).

    With `kimg` (train.ema_kimg) the half-life is counted in images rather than updates, as stylegan2-ada's
    (training/training_loop.py l.297-301): β = 0.5 ** (batch / h), h = kimg x 1000 images but at most `rampup` x the
    images seen before this update, batch = the images of this update (read from the step's counters, so a batch
    size that changes mid-run, as progressive growing's, counts as it is); `decay` is then unused."""

    def __init__(self, model: nn.Module, decay: float, rampup: float | None = 0.05, start: int = 0,
                 kimg: float | None = None) -> None:
        self.decay, self.rampup, self.start, self.kimg = decay, rampup, start, kimg
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def beta(self, updates: int, images_before: int = 0, images: int = 0) -> float:
        """The weight of the old average at the update that makes `updates` of them (1, 2, ...), which saw `images`
        more after `images_before`."""
        if updates <= self.start:
            return 0.0
        if self.kimg is not None:
            half_life = self.kimg * 1000
            if self.rampup:  # the official code's `ema_rampup is not None`; 0 here means none, as for `decay`
                half_life = min(half_life, images_before * self.rampup)
            return 0.5 ** (images / max(half_life, 1e-8))
        if not self.rampup or self.decay == 0:
            return self.decay
        return min(self.decay, 0.5 ** (1.0 / (self.rampup * updates)))

    @torch.no_grad()
    def update(self, model: nn.Module, updates: int, images_before: int = 0, images: int = 0) -> None:
        beta = self.beta(updates, images_before, images)
        averaged = [*self.model.parameters()] + running_statistics(self.model)
        current = [*model.parameters()] + running_statistics(model)
        torch._foreach_lerp_(averaged, current, 1.0 - beta)
        for mine, theirs in zip(counters(self.model) + copied_statistics(self.model),
                                counters(model) + copied_statistics(model)):
            mine.copy_(theirs)
        refine_parametrizations(self.model)


class TrainingState:
    """G, D, the averaged G, both optimisers, the regularisers' states, the game's own parts, how the steps compute (precision, whose fp16
    loss scalers are state), the statistics collected since the last log row, the health detectors' history, the
    step, D-step and images-seen counters and the best evaluation so far. `state_dict()` is what a checkpoint holds
    (with every RNG's state); `load_state_dict` puts it back into freshly built parts."""

    def __init__(self, G: nn.Module, D: nn.Module, ema: EMA, opt_g: torch.optim.Optimizer,
                 opt_d: torch.optim.Optimizer, regularisers: dict[str, Regulariser], precision: Any,
                 health: Any, game: str = "noise_to_data", augment: nn.Module | None = None,
                 game_parts: dict[str, Any] | None = None) -> None:
        self.G, self.D, self.ema, self.opt_g, self.opt_d = G, D, ema, opt_g, opt_d
        # What the game itself changes as it trains, by checkpoint key (Game.state_parts: CycleGAN's history pools)
        self.game_parts = dict(game_parts or {})
        self.augment = augment if augment is not None else NoAugment()  # D's inputs in training (ADA's p is state)
        self.game = game  # the game's kind (gan_runner/game): a checkpoint of another game does not load
        self.regularisers = regularisers
        self.precision = precision  # gan_runner.engine.step.Precision
        self.health = health  # gan_runner.health.Health: its detectors' history is state
        self.stats = StatsCollector()
        self.step = 0      # generator updates done
        self.d_steps = 0   # discriminator updates done (the data order's position)
        self.images_seen = 0  # real samples the discriminator has seen: the step axis that lines up runs of
                              # different batch sizes and n_critic
        self.best: dict[str, Any] | None = None  # {"key", "value", "step"} of the best evaluation
        self.phase: Any = None  # the game's phase of the last step (Game.phase; progressive growing's resolution)

    def share_running_statistics(self) -> None:
        """On several processes: batch norm's running statistics of G, D and the average become their mean over
        the processes (each saw its share of the batches), so that what is checkpointed, evaluated or drawn is
        the same state on every process. Training itself never reads them (batch norm normalises by the batch's
        own statistics in training mode)."""
        distributed.average([*running_statistics(self.G), *running_statistics(self.D),
                             *running_statistics(self.ema.model), *copied_statistics(self.G),
                             *copied_statistics(self.ema.model)])

    def parts(self) -> dict[str, Any]:
        """Everything with a state_dict, by its key in the checkpoint."""
        return {"G": self.G, "D": self.D, "G_ema": self.ema.model, "opt_g": self.opt_g, "opt_d": self.opt_d,
                "stats": self.stats, "scaler_d": self.precision.scaler_d, "scaler_g": self.precision.scaler_g,
                "health": self.health, **self.game_parts}

    def state_dict(self) -> dict[str, Any]:
        return {
            **{key: part.state_dict() for key, part in self.parts().items()},
            "regularisers": {name: r.state_dict() for name, r in self.regularisers.items()},
            "step": self.step, "d_steps": self.d_steps, "images_seen": self.images_seen, "best": self.best,
            "rng": rng_state(), "game": self.game, "phase": self.phase, "augment": self.augment.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Everything but the RNG states (restore_rng, once everything that draws while being built is built), or
        one paragraph saying why the checkpoint does not fit these parts. A checkpoint without a `game` was written
        before games were a choice: noise_to_data's, whose keys it shares."""
        written_by = state.get("game", "noise_to_data")
        if written_by != self.game:
            raise UserError(f"The checkpoint was written by a run of game={written_by}, and this run is "
                            f"game={self.game}: their networks and inputs differ. Fix: resume it with its own "
                            f"game (gan-run resume=RUN_DIR keeps the run's config; drop a game= override), or "
                            "start a new run.")
        try:
            for key, part in self.parts().items():
                part.load_state_dict(state[key])
            for name, regulariser in self.regularisers.items():
                regulariser.load_state_dict(state["regularisers"].get(name, {}))
            if state.get("augment"):  # absent before augmentation (and empty for augment=none): a fresh one's state
                self.augment.load_state_dict(state["augment"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise UserError(f"The checkpoint does not fit this configuration ({str(error).splitlines()[0]}). "
                            "Resume with the run's own architecture and regularisers; only values such as "
                            "train.steps may change.") from None
        self.step, self.d_steps, self.best = int(state["step"]), int(state["d_steps"]), state["best"]
        self.images_seen = int(state["images_seen"])
        self.phase = state.get("phase")  # absent in checkpoints written before games had phases: None, the default's


def rng_state() -> dict[str, Any]:
    """Every RNG's state as tensors and plain containers, so that checkpoints load with weights_only=True."""
    kind, key, position, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "key": torch.from_numpy(key.astype(np.int64)), "position": int(position),
                       "has_gauss": int(has_gauss), "gauss": float(gauss)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
        state["cuda_current"] = torch.cuda.get_rng_state()  # the generator this process draws from
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], numpy["key"].numpy().astype(np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
        if distributed.active() and "cuda_current" in state:
            # Each process draws on its own GPU, and all must draw alike: every one continues process 0's.
            torch.cuda.set_rng_state(state["cuda_current"])
