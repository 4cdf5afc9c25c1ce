"""`gan-sample run_dir=PATH n=N out=FILE [seed=S] [checkpoint=last] [y=K]`: samples from a run's EMA generator.

A class-conditional run's samples have random classes (uniform), or class K with y=K.

`out` ending in .npz writes the samples under key `x`, in the data's own shape (images N x C x H x W in
[-1, 1], 2-D points N x 2); ending in .png writes a grid of images, or a scatter plot for 2-D data.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from omegaconf import OmegaConf

from gan_runner.engine.build import networks
from gan_runner.run_directory import UnsafeCheckpoint, load_checkpoint, refusal
from gan_runner.errors import UserError
from gan_runner.latent import STANDARD_NORMAL
from gan_runner.pictures import image_grid, save_png, scatter_plot

USAGE = ("usage: gan-sample run_dir=PATH n=N out=FILE.npz|FILE.png [seed=0] [checkpoint=last] [device=cpu] "
         "[y=CLASS]")


def load_generator(run_dir: Path, checkpoint: str = "last", device: str = "cpu") -> tuple[torch.nn.Module, int]:
    """The EMA generator of a run, in eval mode, from checkpoints/<checkpoint>.pt, and its z_dim."""
    path = run_dir / "checkpoints" / f"{checkpoint}.pt"
    if not path.is_file():
        raise UserError(f"No checkpoint at {path}. Fix: give run_dir= the run directory of a gan-run job "
                        "(the folder holding summary.json and checkpoints/).")
    try:
        state = load_checkpoint(path, map_location=device)
        cfg = OmegaConf.create(state["config"])
        # G as training built it (spectral_norm may wrap its layers); num_classes is absent from old checkpoints
        generator, _, _ = networks(cfg, state["data_shape"], state.get("num_classes"))
        generator.load_state_dict(state["G_ema"])
    except UnsafeCheckpoint as error:
        raise UserError(refusal(path, error)) from None
    except UserError:
        raise
    except Exception as error:  # a truncated file, another tool's checkpoint, a changed architecture
        raise UserError(f"Could not load a generator from {path}: {error}. Fix: check that the file is a "
                        "complete gan-run checkpoint made by this version of gan-runner.") from None
    return generator.to(device).eval(), int(cfg.z_dim)


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
    rng = torch.Generator().manual_seed(seed)
    latent = getattr(generator, "latent", STANDARD_NORMAL)
    z = latent.sample(n, z_dim, generator=rng)  # all n at once: chunked draws would give other numbers
    num_classes = getattr(generator, "num_classes", None)
    if num_classes is None:
        if y is not None:
            raise ValueError(f"y={y} asks for a class, but this run is unconditional (trained with "
                             "conditional=false); drop y=, or train a run with conditional=true")
        labels = None
    elif y is None:
        labels = torch.randint(num_classes, (n,), generator=rng)
    elif 0 <= y < num_classes:
        labels = torch.full((n,), y, dtype=torch.long)
    else:
        raise ValueError(f"y={y} is not a class of this run, whose classes are 0 to {num_classes - 1}; "
                         f"give y= one of those")
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


def draw(generator: torch.nn.Module, z_dim: int, n: int, seed: int = 0, device: str = "cpu",
         y: int | None = None) -> torch.Tensor:
    """All n samples of draw_batches at once (its default batches of 500), on the CPU."""
    return torch.cat([images.cpu() for images in draw_batches(generator, z_dim, n, seed, device, y)])


def main(argv: list[str] | None = None) -> None:
    args = OmegaConf.from_dotlist(sys.argv[1:] if argv is None else argv)
    try:
        missing = [key for key in ("run_dir", "n", "out") if key not in args]
        if missing:
            raise UserError(f"Missing {', '.join(missing)}. {USAGE}")
        out = Path(str(args.out))
        if out.suffix not in (".npz", ".png"):
            raise UserError(f"out={out} must end in .npz (the samples as an array) or .png (a picture). {USAGE}")
        device = str(args.get("device", "cpu"))
        generator, z_dim = load_generator(Path(str(args.run_dir)), str(args.get("checkpoint", "last")), device)
        label = args.get("y")
        if label is not None and not (isinstance(label, int) and not isinstance(label, bool)):
            raise UserError(f"y={label} must be a class number (0, 1, ...). {USAGE}")
        try:
            samples = draw(generator, z_dim, int(args.n), int(args.get("seed", 0)), device, label)
        except ValueError as error:  # a class the run does not have
            raise UserError(f"{error}.") from None
    except UserError as error:
        print(f"gan-sample: error: {error}", file=sys.stderr)
        sys.exit(2)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npz":
        np.savez(out, x=samples.numpy())
    elif samples.dim() == 4:
        save_png(image_grid(samples), out)
    else:
        save_png(scatter_plot(samples, samples[:0], title=f"{len(samples)} samples"), out)
    print(f"wrote {len(samples)} samples to {out}")


if __name__ == "__main__":
    main()
