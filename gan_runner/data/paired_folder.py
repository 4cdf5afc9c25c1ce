"""Your own pairs of images in pix2pix's two layouts (phillipi/pix2pix; junyanz/pytorch-CycleGAN-and-pix2pix's
datasets page), found from what is on disk:

- aligned: `root/train/*.jpg`, each image the pair side by side, A on the left and B on the right (pix2pix's AB
  images, as its datasets/combine_A_and_B.py writes them); the held-out pairs in `root/val/`, else `root/test/`.
- two folders: `root/A/` and `root/B/`, a pair being two images of the same file name (A/1.jpg and B/1.jpg, the same
  size). Inside each, the training pairs are in `train/` (combine_A_and_B.py's input) or directly in A/ and B/; the
  held-out pairs in `val/`, else `test/`, of both.

`direction` AtoB (the default) makes A the source and B the target; BtoA the reverse (pix2pix's facades go BtoA:
labels to photos). Training pairs are resized to `load_size` squared (bicubic), and each drawn pair is cut to a random
`crop_size` square and flipped left-right with probability 1/2 when `flip`, the same for both images (pix2pix's
`--preprocess resize_and_crop`; gan_runner/data/paired.py's StackedPairs draws them from the seed and batch number).
Held-out pairs are resized straight to `crop_size`: evaluated whole, the same every time.

The images are decoded at each start and held in memory as uint8 (at 286x286, 490 KB a pair: 200 MB for 400 pairs);
there is no prepared copy (gan_runner/data/prepared.py) for paired data: pix2pix's datasets are hundreds to a few
thousand pairs, decoded in seconds.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from gan_runner.data.image_folder import IMAGE_SUFFIXES, decode_image
from gan_runner.data.paired import StackedPairs, check_jitter
from gan_runner.errors import UserError

HELD_OUT_SPLITS = ("val", "test")  # the first that holds images is held out
DIRECTIONS = ("AtoB", "BtoA")
MODES = {1: "L", 3: "RGB"}  # channels -> PIL's mode
LAYOUTS = ("pix2pix's aligned layout (train/*.jpg, each image the source and the target side by side, and val/ "
           "likewise) or its two-folder layout (A/ and B/, each with train/ and val/ subfolders, a pair being two "
           "images of the same name)")

Pair = tuple[str, torch.Tensor, torch.Tensor]  # a pair's name, its A image and its B image (uint8 C x H x W)


def images_in(folder: Path) -> list[Path]:
    """The image files directly in `folder` (not its subfolders), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES) \
        if folder.is_dir() else []


def few(names: list[str], count: int = 3) -> str:
    """Up to `count` names, then an ellipsis when there are more."""
    return ", ".join(names[:count]) + (", ..." if len(names) > count else "")


def size(image: torch.Tensor) -> str:
    return f"{image.shape[-1]}x{image.shape[-2]}"  # width x height, as image viewers say it


def square(image: torch.Tensor, side: int) -> torch.Tensor:
    """A uint8 C x H x W image resized to side x side (bicubic, antialiased when shrinking: PIL's resize, which pix2pix
    uses, antialiases too), ignoring its aspect ratio as pix2pix's resize_and_crop does."""
    if image.shape[-2:] == (side, side):
        return image
    resized = F.interpolate(image.float()[None], size=(side, side), mode="bicubic", align_corners=False,
                            antialias=True)[0]
    return resized.clamp(0, 255).round().to(torch.uint8)


class Aligned:
    """pix2pix's AB layout: root/train/*.jpg (A | B side by side); held out: root/val, else root/test."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def training(self, mode: str) -> list[Pair]:
        return self.read(self.root / "train", mode)

    def held_out(self, mode: str) -> list[Pair]:
        for split in HELD_OUT_SPLITS:
            if images_in(self.root / split):
                return self.read(self.root / split, mode)
        raise UserError(
            f"The paired folder {self.root} has no held-out pairs: neither {self.root / 'val'} nor "
            f"{self.root / 'test'} holds images. Evaluation measures the translation on pairs that training never "
            f"sees. Fix: move some of the pairs of {self.root / 'train'} into {self.root / 'val'} (pix2pix's "
            "datasets come with train/, val/ and test/)."
        )

    def read(self, folder: Path, mode: str) -> list[Pair]:
        files = images_in(folder)
        if not files:
            raise UserError(f"{folder} holds no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))}, not in "
                            f"subfolders). Fix: put the aligned pairs there, or point dataset.root at a folder in "
                            f"{LAYOUTS}.")
        decoded = [(path, decode_image(path, path, mode)[0]) for path in files]
        odd = [f"{path.name} {size(image)}" for path, image in decoded if image.shape[-1] % 2]
        if odd:
            raise UserError(
                f"{len(odd)} of the {len(files)} images in {folder} have an odd width ({few(odd)}), but an aligned "
                "pair is its A and B images side by side, two halves of equal width. Fix: write each pair as two "
                "images of the same size side by side (pix2pix's datasets/combine_A_and_B.py does), or put the two "
                "images of each pair into A/ and B/ folders under the same name."
            )
        half = lambda image: image.shape[-1] // 2  # noqa: E731
        return [(path.name, image[..., : half(image)], image[..., half(image) :]) for path, image in decoded]


class TwoFolders:
    """pix2pix's A/ and B/ folders (combine_A_and_B.py's input): pairs are same-named images of A and B, in their
    train/ (or directly in A/ and B/) and val/ (else test/) subfolders."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def training(self, mode: str) -> list[Pair]:
        within = "train" if (self.root / "A" / "train").is_dir() or (self.root / "B" / "train").is_dir() else ""
        return self.read(within, mode)

    def held_out(self, mode: str) -> list[Pair]:
        for split in HELD_OUT_SPLITS:
            if images_in(self.root / "A" / split) or images_in(self.root / "B" / split):
                return self.read(split, mode)
        raise UserError(
            f"The paired folder {self.root} has no held-out pairs: none of A/val, B/val, A/test, B/test in it holds "
            "images. Evaluation measures the translation on pairs that training never sees. Fix: move some pairs "
            f"into {self.root / 'A' / 'val'} and {self.root / 'B' / 'val'} (same names in both), and the others into "
            "A/train and B/train, as pix2pix's datasets/combine_A_and_B.py expects."
        )

    def read(self, split: str, mode: str) -> list[Pair]:
        folder_a, folder_b = self.root / "A" / split, self.root / "B" / split
        files_a = {p.name: p for p in images_in(folder_a)}
        files_b = {p.name: p for p in images_in(folder_b)}
        if not files_a and not files_b:
            raise UserError(f"Neither {folder_a} nor {folder_b} holds images (looked for "
                            f"{', '.join(sorted(IMAGE_SUFFIXES))}). Fix: put the pairs there, same-named images in "
                            f"both, or point dataset.root at a folder in {LAYOUTS}.")
        lonely_a, lonely_b = sorted(files_a.keys() - files_b.keys()), sorted(files_b.keys() - files_a.keys())
        if lonely_a or lonely_b:
            what = (
                f"{len(lonely_a)} of the {len(files_a)} images of A have no partner of the same name in B"
                + (f" ({few(lonely_a)})" if lonely_a else "")
                + f" and {len(lonely_b)} of the {len(files_b)} images of B none in A"
                + (f" ({few(lonely_b)})" if lonely_b else ""))
            raise UserError(
                f"The pairs of {folder_a} and {folder_b} do not match: {what}. A pair is an image of A and the image "
                f"of B with the same file name (A/{split + '/' if split else ''}1.jpg with "
                f"B/{split + '/' if split else ''}1.jpg). Fix: give each image a same-named partner in the other "
                "folder, or remove the images that have none."
            )
        pairs = [(name, decode_image(files_a[name], files_a[name], mode)[0],
                  decode_image(files_b[name], files_b[name], mode)[0]) for name in sorted(files_a)]
        unequal = [f"{name}: A {size(a)}, B {size(b)}" for name, a, b in pairs if a.shape[-2:] != b.shape[-2:]]
        if unequal:
            raise UserError(
                f"{len(unequal)} of the {len(pairs)} pairs of {folder_a} and {folder_b} have images of different sizes "
                f"({few(unequal)}), but the two images of a pair must be the same size, pixel for pixel aligned. Fix: "
                "resize the images of each pair to one size, or check that the same-named images are partners."
            )
        return pairs


def layout_of(root: Path):
    """The layout `root` is in, from its subfolders: A/ and B/ (two folders), else train/ (aligned)."""
    if not root.is_dir():
        raise UserError(f"The paired folder {root} does not exist or is not a folder. Fix: set dataset.root to a "
                        f"folder in {LAYOUTS}, e.g. gan-run game=paired dataset=paired_folder "
                        "dataset.root=/path/to/facades.")
    if (root / "A").is_dir() and (root / "B").is_dir():
        return TwoFolders(root)
    if (root / "train").is_dir():
        return Aligned(root)
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    images = images_in(root)
    found = [f"{len(images)} image{'s' * (len(images) > 1)}" if images else "", f"the subfolders {few(folders, 5)}" if folders else ""]
    raise UserError(
        f"The folder {root} is not a paired dataset: it has no train/ subfolder and no A/ and B/ subfolders (it holds "
        f"{' and '.join(part for part in found if part) or 'nothing'}). dataset=paired_folder reads {LAYOUTS}. "
        "Fix: arrange the pairs so (pix2pix's datasets/combine_A_and_B.py turns A/ and B/ folders into the aligned "
        "layout), or, for images that are not pairs, use dataset=image_folder with the noise-to-data game."
    )


class PairedFolder(StackedPairs):
    """The pairs of `root` (see the module's docstring) as a paired dataset: `direction` AtoB or BtoA, training pairs
    resized to `load_size` and randomly cropped to `crop_size` (and flipped with `flip`), `channels` 1 (grey) or 3."""

    def __init__(self, root: str, direction: str = "AtoB", load_size: int = 286, crop_size: int = 256,
                 flip: bool = True, channels: int = 3) -> None:
        if direction not in DIRECTIONS:
            raise UserError(f"dataset.direction={direction!r}: the direction is AtoB (A is the source, B the target) "
                            "or BtoA. Fix: dataset.direction=AtoB or dataset.direction=BtoA.")
        if channels not in MODES:
            raise UserError(f"dataset.channels={channels!r}: images have 1 (grey) or 3 (RGB) channels. Fix: "
                            "dataset.channels=1 or 3.")
        check_jitter(load_size, crop_size, "training pairs", "pix2pix's")
        root_path = Path(root).expanduser().resolve()
        layout = layout_of(root_path)
        mode = MODES[channels]
        held_out = layout.held_out(mode)  # first: a missing split is found before decoding the training pairs
        training = layout.training(mode)
        b_is_target = direction == "AtoB"

        def stacked(pairs: list[Pair], side: int) -> torch.Tensor:  # N x 2C x side x side: target, then source
            return torch.stack([torch.cat([square(b, side), square(a, side)] if b_is_target else
                                          [square(a, side), square(b, side)]) for _, a, b in pairs])

        super().__init__(stacked(training, load_size), target_channels=channels,
                         held_out=stacked(held_out, crop_size), crop_size=crop_size, flip=bool(flip))
        self.root, self.direction = root_path, direction
        self.names = [name for name, _, _ in training]
        self.held_out_names = [name for name, _, _ in held_out]
