"""`gan-sample run_dir=PATH n=N out=FILE [seed=S] [checkpoint=last] [y=K]`: samples from a run's EMA generator.

A class-conditional run's samples have random classes (uniform), or class K with y=K.

`out` ending in .npz writes the samples under key `x`, in the data's own shape (images N x C x H x W in
[-1, 1], 2-D points N x 2); ending in .png writes a grid of images, or a scatter plot for 2-D data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from gan_runner.engine.build import networks
from gan_runner.engine.sampling import draw
from gan_runner.errors import UserError
from gan_runner.pictures import image_grid, save_png, scatter_plot
from gan_runner.run_directory import Checkpoint, RunDirectory

USAGE = ("usage: gan-sample run_dir=PATH n=N out=FILE.npz|FILE.png [seed=0] [checkpoint=last] [device=cpu] "
         "[y=CLASS]")


def load_generator(run_dir: Path, checkpoint: str = "last", device: str = "cpu") -> tuple[torch.nn.Module, int]:
    """The EMA generator of a run, in eval mode, from checkpoints/<checkpoint>.pt (or the checkpoint file itself when
    `checkpoint` is a path), and its z_dim. G is built as training built it (spectral norm may wrap its layers)."""
    path = Path(checkpoint) if checkpoint.endswith(".pt") else RunDirectory(run_dir).checkpoint(checkpoint)
    saved = Checkpoint.load(path, map_location=device)
    cfg = OmegaConf.create(saved.config)
    generator, _, _ = networks(cfg, saved.data_shape, saved.num_classes)
    try:
        generator.load_state_dict(saved.state["G_ema"])
    except RuntimeError as error:  # another architecture than the config says
        raise UserError(f"The generator in {path} does not fit the run's own architecture "
                        f"({str(error).splitlines()[0]}). Fix: check that the file belongs to that run.") from None
    return generator.to(device).eval(), int(cfg.z_dim)


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
