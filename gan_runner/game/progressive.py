"""game=progressive: progressive growing (Karras et al. 2018), as tkarras/progressive_growing_of_gans trains it.
G draws from noise as in noise_to_data; what the game adds is the schedule, a pure function of the real images seen
(train.py TrainingSchedule):

    phase k (k = 0, 1, ...) lasts stable_images + fade_images; in its first stable_images the networks train at
    initial_resolution x 2^k, then fade in resolution initial_resolution x 2^(k+1) over fade_images images, its
    weight alpha rising linearly from 0 to 1; at the dataset's resolution they train stable to the end.

Each change of (resolution, fading) is a phase of the engine (`phase`): the loop enters it (`enter_phase`: the
networks grow, the optimisers' state is reset as the official reset_opt_for_new_lod does when the level of detail's
floor or ceiling changes, i.e. at each start of a fade-in and of a stable phase) and builds the step anew, with the
phase's minibatch size (`batch_sizes`, the official minibatch_dict) and a CUDA graph recorded again. Within a phase,
alpha is set each step (`before_step`).

The real images are processed as the official process_reals does: average-pooled to the current resolution, during
a fade-in blended with their own 2x coarser version by alpha (FadeLOD), and nearest-upsampled back to the dataset's
resolution (UpscaleLOD), the size at which the networks' images always are (gan_runner/arch/progan.py)."""

from __future__ import annotations

import math
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from gan_runner import distributed
from gan_runner.engine.step import InputStream, UpdateInputs
from gan_runner.errors import UserError
from gan_runner.game.noise_to_data import NoiseToData, arch_name, dataset_name


class Progressive(NoiseToData):
    kind = "progressive"

    def __init__(self, initial_resolution: int = 4, stable_images: int = 20000, fade_images: int = 20000,
                 batch_sizes: dict | None = None, reset_optimisers: bool = True) -> None:
        if initial_resolution < 4 or initial_resolution & (initial_resolution - 1):
            raise ValueError(f"game.initial_resolution={initial_resolution} is not a power of two from 4. Fix: "
                             "game.initial_resolution=4 (the official lod_initial_resolution)")
        if min(stable_images, fade_images) < 0:
            raise ValueError("game.stable_images and game.fade_images count images and must be >= 0. Fix: give each "
                             "a number >= 0 (the official 600000 each)")
        self.initial_resolution, self.stable_images, self.fade_images = initial_resolution, stable_images, fade_images
        self.batch_sizes = {int(resolution): int(size) for resolution, size in (batch_sizes or {}).items()}
        self.reset_optimisers = reset_optimisers
        # This step's resolution and fade-in weight (before_step), read by the stream's processing of reals.
        self.resolution, self.alpha = initial_resolution, 1.0

    def check(self, cfg: Any, dataset: Any) -> None:
        if getattr(dataset, "paired", False):
            raise UserError(f"dataset={dataset_name(cfg)} holds pairs of images (a source and its target); "
                            "game=progressive grows G(z) on single images. Fix: a dataset of single images "
                            "(dataset=mnist_5k, image_folder, ...), or game=paired for pairs.")
        if getattr(dataset, "unpaired", False):
            raise UserError(f"dataset={dataset_name(cfg)} holds two domains of images to translate between (CycleGAN's "
                            "data); game=progressive grows G(z) on single images. Fix: a dataset of single images "
                            "(dataset=mnist_5k, image_folder, ...), or game=cycle arch=cyclegan for this one.")
        if cfg.arch.get("game", "noise_to_data") != self.kind:
            raise UserError(f"game=progressive grows its networks from 4x4 to the dataset's resolution, but arch="
                            f"{arch_name(cfg)} has no resolutions to grow through. Fix: arch=progan (or "
                            "experiment=progan), or game=noise_to_data for this architecture.")
        if dataset.shape[-1] < self.initial_resolution:
            raise UserError(f"game.initial_resolution={self.initial_resolution} is above the dataset's resolution "
                            f"({dataset.shape[-1]}). Fix: game.initial_resolution=4.")
        group = int(cfg.arch.discriminator.get("mbstd_group_size", 0) or 0)
        sizes = {f"game.batch_sizes.{r}": size for r, size in self.batch_sizes.items()}
        for key, size in {"train.batch_size": int(cfg.train.batch_size), **sizes}.items():
            share = distributed.share(size, key)  # each phase's minibatch is split over the processes
            if group > 1 and share >= group and share % group:
                raise UserError(f"{key}={size} gives each process {share} images a step, which minibatch standard "
                                f"deviation cannot split into groups of {group} "
                                f"(arch.discriminator.mbstd_group_size). Fix: a multiple of {group} per process.")

    # The schedule: a pure function of the images seen (train.py l.103-116).

    def schedule(self, images: int, full_resolution: int) -> tuple[int, float]:
        """(resolution, alpha) after `images` real images: alpha < 1 only during a fade-in."""
        duration = self.stable_images + self.fade_images
        index = images // duration if duration > 0 else 0
        within = images - index * duration
        steps_to_full = int(math.log2(full_resolution // self.initial_resolution))
        if index >= steps_to_full:
            return full_resolution, 1.0
        if within < self.stable_images or self.fade_images == 0:
            return self.initial_resolution * 2 ** index, 1.0
        return self.initial_resolution * 2 ** (index + 1), (within - self.stable_images) / self.fade_images

    def phase(self, state: Any) -> tuple[int, bool]:
        resolution, alpha = self.schedule(state.images_seen, state.G.full_resolution)
        return resolution, alpha < 1.0

    def enter_phase(self, state: Any, phase: tuple[int, bool]) -> None:
        resolution, fading = phase
        for network in (state.G, state.D, state.ema.model):
            network.grow(resolution, fading)
        if self.reset_optimisers:  # reset_opt_for_new_lod (train.py l.221-223): Adam's moments and step count anew
            for optimiser in (state.opt_g, state.opt_d):
                optimiser.state.clear()

    def before_step(self, state: Any) -> None:
        self.resolution, self.alpha = self.schedule(state.images_seen, state.G.full_resolution)
        for network in (state.G, state.D, state.ema.model):
            network.fade(self.alpha)

    def global_batches(self, cfg: Any, dataset: Any) -> dict[str, int]:
        """train.batch_size and the minibatch of each resolution the run grows through."""
        return {**super().global_batches(cfg, dataset),
                **{f"game.batch_sizes.{resolution}": size for resolution, size in self.batch_sizes.items()
                   if self.initial_resolution <= resolution <= dataset.shape[-1]}}

    def batch_size(self, cfg: Any, state: Any) -> int:
        """minibatch_dict.get(resolution, minibatch_base) (train.py l.119): train.batch_size where the game names no
        size for the current resolution."""
        resolution, _ = self.schedule(state.images_seen, state.G.full_resolution)
        return self.batch_sizes.get(resolution, int(cfg.train.batch_size))

    def input_stream(self, data: Iterator, cfg: Any, num_classes: int | None, device: torch.device, latent: Any,
                     g_batch_size: int | None) -> ProgressiveStream:
        return ProgressiveStream(self, super().input_stream(data, cfg, num_classes, device, latent, g_batch_size))


def process_reals(x: torch.Tensor, resolution: int, alpha: float) -> torch.Tensor:
    """train.py process_reals (l.56-80): x pooled to `resolution` (the official dataset's level of detail, built by
    2x2 averages), blended during a fade-in with its 2x2 averages repeated (FadeLOD: lerp(x, y, 1 - alpha)), then
    repeated back to x's size (UpscaleLOD)."""
    factor = x.shape[-1] // resolution
    small = F.avg_pool2d(x, factor) if factor > 1 else x
    if alpha < 1.0:
        coarse = F.interpolate(F.avg_pool2d(small, 2), scale_factor=2, mode="nearest")
        small = torch.lerp(coarse, small, alpha)
    return F.interpolate(small, scale_factor=factor, mode="nearest") if factor > 1 else small


class ProgressiveStream:
    """noise_to_data's inputs, the real images processed for this step's resolution and alpha."""

    def __init__(self, game: Progressive, inputs: InputStream) -> None:
        self.game, self.inputs = game, inputs

    def next(self) -> UpdateInputs:
        batch = self.inputs.next()
        batch.real = process_reals(batch.real, self.game.resolution, self.game.alpha)
        return batch

    def for_generator(self, last: UpdateInputs) -> UpdateInputs:
        return self.inputs.for_generator(last)
