"""Any folder of images, searched recursively, resized and centre-cropped to the resolution.

When the images sit in subfolders of the root, each subfolder is a class (torchvision's ImageFolder
layout) and labels are exposed; images directly in the root are unlabelled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from gan_runner.data import ImageTensorDataset, to_uint8_images
from gan_runner.errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def read_image(path: Path, mode: str = "RGB") -> torch.Tensor:
    """One image file as uint8 C x H x W through PIL's convert(mode) ("L": grey, "RGB"), or one paragraph
    naming the file that cannot be decoded. FID's folder reader uses it too."""
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert(mode))
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise UserError(f"Could not decode the image {path}: {error}. Fix: remove or replace that file.") from None
    tensor = torch.from_numpy(pixels.copy())
    return tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)


def _read(path: Path, channels: int) -> torch.Tensor:
    return read_image(path, "L" if channels == 1 else "RGB").float() / 255.0


class ImageFolder(ImageTensorDataset):
    def __init__(self, root: str, resolution: int = 32, channels: int = 3) -> None:
        folder = Path(root).expanduser()
        if not folder.is_dir():
            raise UserError(
                f"The image folder {folder.resolve()} does not exist or is not a folder. Fix: set "
                "dataset.root to a folder that holds your images (searched recursively), e.g. "
                "gan-run dataset=image_folder dataset.root=/path/to/images."
            )
        paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not paths:
            raise UserError(
                f"The image folder {folder.resolve()} holds no images (looked recursively for "
                f"{', '.join(sorted(IMAGE_SUFFIXES))}). Fix: put images there or point dataset.root elsewhere."
            )
        images = torch.cat([to_uint8_images(_read(p, channels)[None], resolution, channels) for p in paths])
        classes = sorted({p.relative_to(folder).parts[0] for p in paths if len(p.relative_to(folder).parts) > 1})
        labelled = len(classes) > 0 and all(len(p.relative_to(folder).parts) > 1 for p in paths)
        if labelled:
            index = {name: i for i, name in enumerate(classes)}
            labels = torch.tensor([index[p.relative_to(folder).parts[0]] for p in paths])
            super().__init__(images, labels, num_classes=len(classes))
        else:
            super().__init__(images, None, num_classes=None)
        self.classes = classes if labelled else []
