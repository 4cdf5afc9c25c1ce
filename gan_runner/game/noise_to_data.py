"""game=noise_to_data, the default: G maps noise z (and, in a conditional run, a class label) to a sample, D judges
samples alone (or with their labels). Goodfellow et al. 2014 through DCGAN, WGAN, SNGAN, SAGAN and BigGAN: every
game of the runner before games were a choice, and still the same losses step for step
(tests/test_game_trajectories.py pins them)."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from gan_runner.engine.build import build
from gan_runner.engine import sampling
from gan_runner.engine.step import InputStream
from gan_runner.errors import UserError
from gan_runner.game import Game
from gan_runner.pictures import sample_picture


class NoiseToData(Game):
    kind = "noise_to_data"

    def check(self, cfg: Any, dataset: Any) -> None:
        if getattr(dataset, "paired", False):
            raise UserError(f"dataset={dataset_name(cfg)} holds pairs of images (a source and its target), which "
                            "game=noise_to_data (the default: G maps noise to data) does not train on. Fix: gan-run "
                            f"game=paired dataset={dataset_name(cfg)} (or a preset: experiment=pix2pix, "
                            "experiment=srgan).")
        if getattr(dataset, "unpaired", False):
            raise UserError(f"dataset={dataset_name(cfg)} holds two domains of images to translate between (unpaired: "
                            "CycleGAN's data), which game=noise_to_data (the default: G maps noise to data) does not "
                            f"train on. Fix: gan-run game=cycle arch=cyclegan dataset={dataset_name(cfg)} (or "
                            "experiment=cyclegan).")
        if cfg.arch.get("game", "noise_to_data") != self.kind:
            raise UserError(f"arch={arch_name(cfg)} is built for game={cfg.arch.game}, not game=noise_to_data: "
                            "its networks are made for that game (pix2pix's and srgan's G translate an image, "
                            "progan's grow through resolutions). Fix: gan-run "
                            f"game={cfg.arch.game} with a dataset of its kind, or an architecture of noise_to_data "
                            "(mlp, dcgan, resnet, sagan, biggan).")

    def networks(self, cfg: Any, dataset: Any, num_classes: int | None) -> tuple[nn.Module, nn.Module]:
        """G(z, y) and D(x, y); G carries the distribution of its noise as `G.latent`."""
        G = build(cfg, "arch.generator", z_dim=cfg.z_dim, data_shape=dataset.shape, num_classes=num_classes)
        G.latent = build(cfg, "latent")
        D = build(cfg, "arch.discriminator", data_shape=dataset.shape, num_classes=num_classes)
        return G, D

    def input_stream(self, data: Iterator, cfg: Any, num_classes: int | None, device: torch.device, latent: Any,
                     g_batch_size: int | None) -> InputStream:
        return InputStream(data, cfg.z_dim, num_classes, device, latent, cfg.train.reuse_fakes, g_batch_size)

    def sampler(self, G: nn.Module, cfg: Any, dataset: Any, seed: int, device: torch.device) -> Any:
        def sample(n: int, rows: tuple[int, int] | None = None) -> Iterator[torch.Tensor]:
            return sampling.draw_batches(G, cfg.z_dim, n, seed=seed, device=device, rows=rows)
        return sample

    def fixed_inputs(self, cfg: Any, dataset: Any, num_classes: int | None, device: torch.device,
                     latent: Any) -> Any:
        return sampling.fixed_inputs(cfg.z_dim, num_classes, cfg.seed + 1, device, latent)

    def picture(self, G: nn.Module, D: nn.Module, fixed: Any, dataset: Any, sample: Any, seed: int, step: int,
                objective: Any) -> np.ndarray:
        return sample_picture(G, D, fixed, dataset, sample, seed, step, objective)

    def diversity_inputs(self, cfg: Any, num_classes: int | None, latent: Any) -> Any:
        def inputs(batch: Any, n: int, rng: torch.Generator) -> tuple:
            z = latent.sample(n, cfg.z_dim, generator=rng)
            return z, None if num_classes is None else torch.randint(num_classes, (n,), generator=rng)
        return inputs


def dataset_name(cfg: Any) -> str:
    """The dataset option a run chose, as typed (hydra's choice), else its _target_."""
    return choice(cfg, "dataset") or str(cfg.dataset.get("_target_", "?"))


def arch_name(cfg: Any) -> str:
    return choice(cfg, "arch") or str(cfg.arch.generator.get("_target_", "?"))


def choice(cfg: Any, group: str) -> str | None:
    try:
        from hydra.core.hydra_config import HydraConfig
        return HydraConfig.get().runtime.choices.get(group)
    except (ValueError, ImportError, AttributeError):
        return None
