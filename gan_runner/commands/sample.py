"""`gan-sample`: samples from a run's averaged generator, as an array, a picture, or a folder of PNG files; or, for a
run that translates images (game=paired, game=cycle), translates a folder of images (a cycle run either way:
direction=a_to_b or b_to_a).

A class-conditional run's samples have random classes (uniform), or class K with y=K. The same seed gives the same
samples in the same order. A folder of PNGs (one 8-bit file per sample, named NNNNNN.png, NNNNNN_yK.png with its
class in a conditional run) is what torch-fidelity, clean-fid and pytorch-fid read as they are.

With inputs=DIR/ every image directly in DIR (sorted by name) is read as the run's sources are: decoded to its
channels (grey or RGB), resized to its source size as paired_folder resizes held-out pairs (bicubic, antialiased,
aspect ratio ignored), mapped to [-1, 1]; translated in batches of 100 with pix2pix's dropout seeded as the game's
evaluation seeds it (gan_runner.game.paired.seeded), so the same seed gives the same files; and written as one PNG
per input with the input's name (stem.png) in out=DIR/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gan_runner.commands.arguments import Command, Option, number, whole
from gan_runner.errors import UserError

COMMAND = Command(
    name="gan-sample",
    summary="samples from a run's averaged generator: an array (.npz), a picture (.png), or a folder of PNG files; "
            "or, for a run that translates images (game=paired), translates a folder of images (inputs=)",
    options=[
        Option("run", "the run directory (the folder holding checkpoints/)", placeholder="RUN_DIR"),
        Option("n", "how many samples", whole, placeholder="N"),
        Option("out", "FILE.npz (the samples as an array, key x, in the data's shape and range), FILE.png (a grid, or "
               "a scatter plot of 2-D data) or DIR/ (a PNG file per sample; made if missing). With inputs=: DIR/, "
               "one PNG per input, named as the input (stem.png; a file of that name already there is replaced)",
               placeholder="PATH"),
        Option("inputs", "for a run that translates images (game=paired: mnist_edges, pix2pix, SRGAN; game=cycle): a "
               "folder whose "
               "images (png, jpg, jpeg, bmp, gif, webp, tif; directly inside, not in subfolders) are each translated "
               "by the run's averaged G, read as its sources are (its channels, resized to its source size)",
               placeholder="DIR/"),
        Option("direction", "with inputs=, for a run that translates both ways (game=cycle): a_to_b (the inputs are "
               "A images, default) or b_to_a", placeholder="WAY"),
        Option("seed", "the seed of the noise (and of the classes); with inputs=, of pix2pix's dropout", whole, 0,
               "S"),
        Option("checkpoint", "best, last, or the path of a checkpoint file", default="last", placeholder="NAME"),
        Option("y", "a class of a conditional run (0, 1, ...): every sample of that class", whole, placeholder="K"),
        Option("psi", "StyleGAN2's truncation (arch=stylegan2): each w moved towards the tracked average, w_avg + psi "
               "(w - w_avg); 1 draws as trained, 0.5-0.7 trades variety for fidelity (default: the run's "
               "arch.generator.truncation_psi)", number, placeholder="PSI"),
        Option("device", "where the generator runs: cpu, cuda, cuda:N", default="cpu", placeholder="DEVICE"),
        Option("run_dir", "the older name of run=", placeholder="RUN_DIR"),
    ],
    examples=["gan-sample run=outputs/2026-12-04/10-00-00 n=1000 out=samples.npz",
              "gan-sample run=outputs/2026-12-04/10-00-00 n=64 y=7 out=sevens.png checkpoint=best",
              "gan-sample run=outputs/2026-12-04/10-00-00 n=10000 out=fakes/    # then: python -m pytorch_fid fakes/ real/",
              "gan-sample run=outputs/2026-12-05/09-00-00 inputs=edges/ out=digits/    # a paired run: edges/a.png -> "
              "digits/a.png",
              "gan-sample run=outputs/2026-12-07/09-00-00 inputs=blocky/ out=mnist/ direction=b_to_a    # a cycle run"],
)

TRANSLATION_BATCH = 100  # as the paired game's evaluation sampler (the dropout drawn depends on the batches)


def load_generator(run_dir: Path, checkpoint: str = "last", device: str = "cpu") -> tuple[Any, int]:
    """The EMA generator of a run, in eval mode, from checkpoints/<checkpoint>.pt (or the checkpoint file itself when
    `checkpoint` is a path), and its z_dim. G is built as training built it (spectral norm may wrap its layers)."""
    generator, saved = load_run(run_dir, checkpoint, device)
    return generator, z_dim_of(saved)


def z_dim_of(saved: Any) -> int:
    from omegaconf import OmegaConf

    return int(OmegaConf.create(saved.config).z_dim)  # resolved, as the run read it


def load_run(run_dir: Path, checkpoint: str = "last", device: str = "cpu") -> tuple[Any, Any]:
    """load_generator's G and the Checkpoint it came from (its game, state["game"], and a paired run's
    source_shape)."""
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
    return generator.to(device).eval(), saved


def is_folder(out: str) -> bool:
    return out.endswith(("/", "\\")) or Path(out).is_dir() or not Path(out).suffix


def write_folder(samples: Any, labels: Any, folder: Path) -> None:
    """One PNG per sample, named by its number (and class), as write_pngs writes them."""
    write_pngs(samples, [f"{number:06d}" + (f"_y{int(labels[number])}" if labels is not None else "")
                         for number in range(len(samples))], folder)


def write_pngs(samples: Any, names: list[str], folder: Path) -> None:
    """Sample i as folder/names[i].png, 8 bits a channel (one channel stays greyscale), as the samples' images would
    be saved."""
    import numpy as np
    import torch
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    pixels = ((samples.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)
    for name, image in zip(names, pixels.numpy()):
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else np.ascontiguousarray(image)).save(
            folder / f"{name}.png")


def sample(options: dict[str, Any], prefixed: list[str], plain: list[str]) -> None:
    run = options["run"] or options["run_dir"]
    if options["inputs"] is not None:
        translate(options, run)
        return
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

    generator, saved = load_run(Path(run), options["checkpoint"], options["device"])
    if saved.source_shape is not None:
        raise UserError(f"run={run} translates images (game={saved.state['game']}): its G turns a source image into "
                        "its target and draws nothing from noise, so it has no n= samples to give. Fix: give "
                        f"inputs=DIR/, a folder of source images, and out=DIR/: e.g. gan-sample run={run} "
                        "inputs=sources/ out=translated/ (one PNG per input, of the same name).")
    check_direction(options["direction"], saved, generator)
    truncate(generator, options["psi"], run)
    z_dim = z_dim_of(saved)
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


def truncate(generator: Any, psi: float | None, run: str) -> None:
    """psi=: the truncation of a generator that declares it (`truncation_psi`: StyleGAN2's, towards its w_avg)."""
    if psi is None:
        return
    if not hasattr(generator, "truncation_psi"):
        raise UserError(f"psi={psi:g} truncates StyleGAN2's styles towards their average w, and run={run}'s generator "
                        f"({type(generator).__module__}) has no styles to truncate. Fix: drop psi= (or use it with "
                        "a run of arch=stylegan2).")
    generator.truncation_psi = psi


def check_direction(direction: str | None, saved: Any, generator: Any) -> str | None:
    """The way to translate: None for a run whose G has one (it declares no `directions`); for a G that translates
    both ways (game=cycle's: a_to_b, b_to_a) direction=, by default the first; anything else refused."""
    directions = getattr(generator, "directions", None)
    if directions is None:
        if direction is not None:
            raise UserError(f"direction={direction}: this run's game ({saved.state['game']}) has one direction, the "
                            "one it was trained in, so there is none to choose; direction= is for runs that translate "
                            "both ways (game=cycle). Fix: drop direction=.")
        return None
    if direction is None:
        return directions[0]
    if direction not in directions:
        raise UserError(f"direction={direction} is not a way this run translates: it translates {directions[0]} (A "
                        f"images into B) and {directions[1]} (B into A). Fix: direction={directions[0]} or "
                        f"direction={directions[1]}.")
    return direction


def input_images(inputs: str, out: str) -> list[Path]:
    """The image files directly in the folder `inputs` (paired_folder.images_in: sorted by name, suffixes of
    image_folder.IMAGE_SUFFIXES, any case), or one paragraph saying why there are none, or why their outputs would
    clash (two inputs of the same stem, or out= the inputs folder itself: the translations would replace them)."""
    from gan_runner.data.paired_folder import few, images_in

    folder = Path(inputs).expanduser()
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise UserError(f"inputs={inputs} {what}: inputs= is the folder of images to translate. Fix: give the folder "
                        "holding them, e.g. inputs=sources/.")
    images = images_in(folder)
    if not images:
        entries = sorted(folder.iterdir())
        found = ("it is empty" if not entries else "it holds " + few([p.name + ("/" if p.is_dir() else "")
                                                                     for p in entries]) + ", none of them an image")
        raise UserError(f"inputs={inputs} holds no images to translate: {found} (images are files ending in .png, "
                        ".jpg, .jpeg, .bmp, .gif, .webp or .tif directly in the folder; subfolders are not read). "
                        "Fix: give the folder that holds the images themselves.")
    stems: dict[str, list[str]] = {}
    for path in images:
        stems.setdefault(path.stem, []).append(path.name)
    clashing = [names for names in stems.values() if len(names) > 1]
    if clashing:
        raise UserError(f"inputs={inputs} holds images of the same name but another suffix ({' and '.join(clashing[0])}"
                        f"), whose translations would both be {Path(clashing[0][0]).stem}.png in out=. Fix: rename "
                        "one of each such pair, or move it to another folder.")
    if Path(out).expanduser().resolve() == folder.resolve():
        raise UserError(f"out={out} is the inputs folder itself: the translations (stem.png) would replace the input "
                        "PNG files. Fix: another folder, e.g. out=translated/.")
    return images


def sources_of(images: list[Path], source_shape: Any) -> Any:
    """The images as the run's sources: decoded to its channels (1: grey, 3: RGB, PIL's convert), resized to its
    source size as paired_folder resizes held-out pairs (`square`: bicubic, antialiased when shrinking, aspect ratio
    ignored; every paired dataset's sources are square), mapped to [-1, 1] as the paired datasets map theirs."""
    import torch

    from gan_runner.data.image_folder import decode_image
    from gan_runner.data.paired import to_float
    from gan_runner.data.paired_folder import MODES, square

    channels, height, width = source_shape
    return to_float(torch.stack([square(decode_image(path, path, MODES[channels])[0], height) for path in images]))


def translate_sources(generator: Any, sources: Any, seed: int, device: str, direction: str | None = None) -> Any:
    """G's outputs for `sources` in batches of TRANSLATION_BATCH (in `direction`, for a G that translates both ways),
    pix2pix's dropout drawn from torch's RNG seeded with `seed` (the paired game's `seeded`, which evaluation uses
    too), on the CPU."""
    import torch

    from gan_runner.game.paired import seeded

    way = () if direction is None else (direction,)
    with seeded(seed, torch.device(device)), torch.no_grad():
        return torch.cat([generator(sources[start:start + TRANSLATION_BATCH].to(device), *way).cpu()
                          for start in range(0, len(sources), TRANSLATION_BATCH)])


def translate(options: dict[str, Any], run: str | None) -> None:
    """gan-sample inputs=DIR/ out=DIR/: one PNG per input image, of the same stem, translated by the run's G."""
    meaningless = {"n": "n= (there is one output per input image)",
                   "y": "y= (a class of a conditional noise_to_data run; a translating G takes only its source image)"}
    given = [meaning for key, meaning in meaningless.items() if options[key] is not None]
    if given:
        raise UserError(f"{' and '.join(given)} mean nothing with inputs=, which translates every image of the "
                        f"folder. Fix: drop {' and '.join(key + '=' for key in meaningless if options[key] is not None)}"
                        "; or, for samples from noise, drop inputs=.")
    missing = [key for key, value in (("run", run), ("out", options["out"])) if value is None]
    if missing:
        raise UserError(f"{' and '.join(f'{key}=' for key in missing)} missing. Fix: e.g. {COMMAND.examples[3]} "
                        "(gan-sample --help lists every option).")
    out = str(options["out"])
    if not is_folder(out) or Path(out).is_file():
        raise UserError(f"out={out} is not a folder: with inputs=, gan-sample writes one PNG per input image, named as "
                        "the input, into the folder out= (made if missing). Fix: a folder, ending in /, e.g. "
                        "out=translated/.")
    images = input_images(str(options["inputs"]), out)
    generator, saved = load_run(Path(run), options["checkpoint"], options["device"])
    if saved.source_shape is None:
        raise UserError(f"run={run} is a {saved.state['game']} run: its G draws images from noise and translates "
                        "none, so inputs= has nothing to go to. Fix: gan-sample run=RUN n=N out=DIR/ for N samples "
                        "from noise; or a run that translates images (game=paired: dataset=mnist_edges, "
                        "experiment=pix2pix, experiment=srgan) for inputs=.")
    direction = check_direction(options["direction"], saved, generator)
    # A G's first direction reads the run's sources (source_shape), the other translates its data back (data_shape)
    shape = saved.source_shape if direction in (None, *getattr(generator, "directions", ())[:1]) else saved.data_shape
    outputs = translate_sources(generator, sources_of(images, shape), options["seed"], options["device"], direction)
    write_pngs(outputs, [path.stem for path in images], Path(out))
    print(f"translated {len(images)} images of {options['inputs']} into {out}")


def main(argv: list[str] | None = None) -> None:
    COMMAND.run(sample, argv)


if __name__ == "__main__":
    main()
