"""Samples of a generator: the batches a metric, gan-sample and gan-eval draw (`draw_batches`, `draw`), and the fixed
inputs of a run's sample grids (`fixed_inputs`). All draw from their own seeded generator, never from the global RNG
that training draws from, so sampling never changes a run."""

from __future__ import annotations

from typing import Iterator

import torch

from gan_runner.latent import STANDARD_NORMAL, StandardNormal, Uniform


def draw_batches(generator: torch.nn.Module, z_dim: int, n: int, seed: int = 0, device: str = "cpu",
                 y: int | None = None, batch_size: int = 500, rows: tuple[int, int] | None = None
                 ) -> Iterator[torch.Tensor]:
    """n samples from z drawn with `seed` from the generator's latent (`generator.latent`, which build.networks
    sets; N(0, I) for a generator without one), yielded `batch_size` at a time on `device` (where a metric's
    network takes them without a round trip through the host), so that n images never need to fit in memory at
    once. A class-conditional generator (num_classes set) makes class `y`, or uniformly random classes (drawn
    after all n z) when y is None. The same arguments give the same samples in the same order, whatever the
    batch size (up to the rounding of batched arithmetic). `rows` (start, stop): only those of the n (a
    process's share of a metric's samples)."""
    z, labels = noise_and_labels(generator, z_dim, n, seed, y)
    first, stop = rows or (0, n)
    for start in range(first, stop, batch_size):
        end = min(start + batch_size, stop)
        chunk = z[start:end].to(device)
        with torch.no_grad():
            if labels is None:
                images = generator(chunk)
            else:
                images = generator(chunk, labels[start:end].to(device))
        yield images


def noise_and_labels(generator: torch.nn.Module, z_dim: int, n: int, seed: int = 0, y: int | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The n z (all at once: chunked draws would give other numbers) and, for a class-conditional generator, the
    labels (class y, or uniform, drawn after the z) of draw_batches' samples. ValueError for a class it lacks."""
    rng = torch.Generator().manual_seed(seed)
    z = getattr(generator, "latent", STANDARD_NORMAL).sample(n, z_dim, generator=rng)
    num_classes = getattr(generator, "num_classes", None)
    if num_classes is None:
        if y is not None:
            raise ValueError(f"y={y} asks for a class, but this run is unconditional (trained with "
                             "conditional=false); drop y=, or train a run with conditional=true")
        return z, None
    if y is None:
        return z, torch.randint(num_classes, (n,), generator=rng)
    if 0 <= y < num_classes:
        return z, torch.full((n,), y, dtype=torch.long)
    raise ValueError(f"y={y} is not a class of this run, whose classes are 0 to {num_classes - 1}; give y= one of "
                     "those")


def labels_of(generator: torch.nn.Module, z_dim: int, n: int, seed: int = 0, y: int | None = None
              ) -> torch.Tensor | None:
    """The classes of draw_batches' samples with the same arguments (None for an unconditional generator)."""
    return noise_and_labels(generator, z_dim, n, seed, y)[1]


def draw(generator: torch.nn.Module, z_dim: int, n: int, seed: int = 0, device: str = "cpu",
         y: int | None = None) -> torch.Tensor:
    """All n samples of draw_batches at once (its default batches of 500), on the CPU."""
    return torch.cat([images.cpu() for images in draw_batches(generator, z_dim, n, seed, device, y)])


def fixed_inputs(z_dim: int, num_classes: int | None, seed: int, device: torch.device,
                 latent: StandardNormal | Uniform = STANDARD_NORMAL) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The z (and labels) of every sample grid of a run, from their own seed so they never disturb training's
    RNG: 64 z; in a conditional run a row per class (the first 16), the same 8 z down the columns."""
    z = latent.sample(64, z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    if num_classes is None:
        return z, None
    rows = min(num_classes, 16)
    return z[:8].repeat(rows, 1), torch.arange(rows).repeat_interleave(8).to(device)
