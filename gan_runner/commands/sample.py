"""`gan-sample`: samples from a run's averaged generator, as an array, a picture, or a folder of PNG files.

A class-conditional run's samples have random classes (uniform), or class K with y=K. The same seed gives the same
samples in the same order. A folder of PNGs (one 8-bit file per sample, named NNNNNN.png, NNNNNN_yK.png with its
class in a conditional run) is what torch-fidelity, clean-fid and pytorch-fid read as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gan_runner.commands.arguments import Command, Option, whole
from gan_runner.errors import UserError

COMMAND = Command(
    name="gan-sample",
    summary="samples from a run's averaged generator: an array (.npz), a picture (.png), or a folder of PNG files",
    options=[
        Option("run", "the run directory (the folder holding checkpoints/)", placeholder="RUN_DIR"),
        Option("n", "how many samples", whole, placeholder="N"),
        Option("out", "FILE.npz (the samples as an array, key x, in the data's shape and range), FILE.png (a grid, or "
               "a scatter plot of 2-D data) or DIR/ (a PNG file per sample; made if missing)", placeholder="PATH"),
        Option("seed", "the seed of the noise (and of the classes)", whole, 0, "S"),
        Option("checkpoint", "best, last, or the path of a checkpoint file", default="last", placeholder="NAME"),
        Option("y", "a class of a conditional run (0, 1, ...): every sample of that class", whole, placeholder="K"),
        Option("device", "where the generator runs: cpu, cuda, cuda:N", default="cpu", placeholder="DEVICE"),
        Option("run_dir", "the older name of run=", placeholder="RUN_DIR"),
    ],
    examples=["gan-sample run=outputs/2026-12-04/10-00-00 n=1000 out=samples.npz",
              "gan-sample run=outputs/2026-12-04/10-00-00 n=64 y=7 out=sevens.png checkpoint=best",
              "gan-sample run=outputs/2026-12-04/10-00-00 n=10000 out=fakes/    # then: python -m pytorch_fid fakes/ real/"],
)


def load_generator(run_dir: Path, checkpoint: str = "last", device: str = "cpu") -> tuple[Any, int]:
    """The EMA generator of a run, in eval mode, from checkpoints/<checkpoint>.pt (or the checkpoint file itself when
    `checkpoint` is a path), and its z_dim. G is built as training built it (spectral norm may wrap its layers)."""
    from omegaconf import OmegaConf

    from gan_runner.engine.build import networks
    from gan_runner.run_directory import Checkpoint, RunDirectory

    path = Path(checkpoint) if checkpoint.endswith(".pt") else RunDirectory(run_dir).checkpoint(checkpoint)
    saved = Checkpoint.load(path, map_location=device)
    cfg = OmegaConf.create(saved.config)
    generator, _, _ = networks(cfg, saved.data_shape, saved.num_classes, saved.source_shape)
    try:
        generator.load_state_dict(saved.state["G_ema"])
    except RuntimeError as error:  # another architecture than the config says
        raise UserError(f"The generator in {path} does not fit the run's own architecture "
                        f"({str(error).splitlines()[0]}). Fix: check that the file belongs to that run.") from None
    return generator.to(device).eval(), int(cfg.z_dim)


def is_folder(out: str) -> bool:
    return out.endswith(("/", "\\")) or Path(out).is_dir() or not Path(out).suffix


def write_folder(samples: Any, labels: Any, folder: Path) -> None:
    """One PNG per sample, 8 bits a channel (one channel stays greyscale), as the samples' images would be saved."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    import torch

    pixels = ((samples.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)
    for number, image in enumerate(pixels.numpy()):
        name = f"{number:06d}" + (f"_y{int(labels[number])}" if labels is not None else "")
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else np.ascontiguousarray(image)).save(
            folder / f"{name}.png")


def sample(options: dict[str, Any], prefixed: list[str], plain: list[str]) -> None:
    run = options["run"] or options["run_dir"]
    missing = [key for key, value in (("run", run), ("n", options["n"]), ("out", options["out"])) if value is None]
    if missing:
        raise UserError(f"{', '.join(f'{key}=' for key in missing)} missing. Fix: e.g. {COMMAND.examples[0]} "
                        "(gan-sample --help lists every option).")
    out = str(options["out"])
    if not (is_folder(out) or Path(out).suffix in (".npz", ".png")):
        raise UserError(f"out={out} must end in .npz (the samples as an array), .png (a picture) or / (a folder of "
                        "PNG files). Fix: e.g. out=samples.npz or out=fakes/.")
    import numpy as np

    from gan_runner.engine.sampling import draw, labels_of
    from gan_runner.pictures import image_grid, save_png, scatter_plot

    generator, z_dim = load_generator(Path(run), options["checkpoint"], options["device"])
    try:
        samples = draw(generator, z_dim, options["n"], options["seed"], options["device"], options["y"])
    except ValueError as error:  # a class the run does not have
        raise UserError(f"{error}.") from None
    if is_folder(out):
        if samples.dim() != 4:
            raise UserError(f"out={out} asks for a folder of PNG files, but the run's samples are not images (shape "
                            f"{list(samples.shape[1:])}). Fix: out=FILE.npz or out=FILE.png.")
        write_folder(samples, labels_of(generator, z_dim, options["n"], options["seed"], options["y"]), Path(out))
        print(f"wrote {len(samples)} PNG files to {out}")
        return
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    if out.endswith(".npz"):
        np.savez(out, x=samples.numpy())
    elif samples.dim() == 4:
        save_png(image_grid(samples), Path(out))
    else:
        save_png(scatter_plot(samples, samples[:0], title=f"{len(samples)} samples"), Path(out))
    print(f"wrote {len(samples)} samples to {out}")


def main(argv: list[str] | None = None) -> None:
    COMMAND.run(sample, argv)


if __name__ == "__main__":
    main()
