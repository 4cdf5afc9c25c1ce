"""Any folder (searched recursively) or zip of images, resized and centre-cropped to the resolution, served from
a prepared copy (gan_runner/data/prepared.py) made on first use: later runs start without decoding an image.

Labels: a `dataset.json` at the root as stylegan2-ada's dataset_tool writes it ({"labels": [["relative/path.png",
3], ...]}, or "labels": null) gives each image its class; without one, when the images sit in subfolders of the root,
each subfolder is a class (torchvision's ImageFolder layout); images directly in the root are unlabelled.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from gan_runner.data import ImageTensorDataset
from gan_runner.data.prepared import check_workers, prepared_copy, read_prepared
from gan_runner.errors import UserError

LABELS_FILE = "dataset.json"  # stylegan2-ada's dataset_tool: {"labels": [[name, class], ...]}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def decode_image(file: Path | IO[bytes], name: object, mode: str = "RGB") -> tuple[torch.Tensor, str, tuple[int, int]]:
    """One image file as uint8 C x H x W through PIL's convert(mode) ("L": grey, "RGB"), with the mode and size it
    had, or one paragraph naming the file (`name`) that cannot be decoded."""
    try:
        with Image.open(file) as image:
            pixels = np.asarray(image.convert(mode))
            original = image.mode, image.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise UserError(f"Could not decode the image {name}: {error}. Fix: remove or replace that file.") from None
    tensor = torch.from_numpy(pixels.copy())
    return (tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)), *original


def read_image(path: Path, mode: str = "RGB") -> torch.Tensor:
    """One image file as uint8 C x H x W ("L": grey, "RGB"). FID's folder reader uses it too."""
    return decode_image(path, path, mode)[0]


class ImageSource:
    """The images of a folder (searched recursively) or of a zip file, in sorted order of their relative paths,
    with class labels when every image sits in a subfolder."""

    def __init__(self, root: str | Path) -> None:
        self.location = Path(root).expanduser().resolve()
        if self.location.is_file() and zipfile.is_zipfile(self.location):
            with zipfile.ZipFile(self.location) as archive:
                members = [info for info in archive.infolist() if not info.is_dir()]
            files = [info.filename for info in members]
            # A zip's members name their content (CRC-32) and size: a changed member changes the fingerprint.
            facts = {m.filename: (m.file_size, m.CRC) for m in members}
        elif self.location.is_dir():
            paths = sorted(p for p in self.location.rglob("*") if p.is_file())
            files = [p.relative_to(self.location).as_posix() for p in paths]
            # Size and modification time of every file: cheap to read at each start, changed by any edit.
            facts = {name: (p.stat().st_size, p.stat().st_mtime_ns) for name, p in zip(files, paths)}
        else:
            raise UserError(
                f"The image folder {self.location} does not exist or is neither a folder nor a zip file. Fix: set "
                "dataset.root to a folder that holds your images (searched recursively) or to a zip of them, e.g. "
                "gan-run dataset=image_folder dataset.root=/path/to/images."
            )
        # Sorted folder by folder (as paths sort, and as the in-memory image folder ordered them): "a/x" before "a-b/x".
        self.names = sorted((name for name in files if Path(name).suffix.lower() in IMAGE_SUFFIXES),
                            key=lambda name: name.split("/"))
        if not self.names:
            others = sorted(set(files) - set(self.names))
            what = (f"none of its {len(others)} files ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}) "
                    "has an image suffix" if others else "it is empty")
            raise UserError(
                f"The image folder {self.location} holds no images: {what} (looked recursively for "
                f"{', '.join(sorted(IMAGE_SUFFIXES))}). Fix: put images there or point dataset.root elsewhere."
            )
        listed = LABELS_FILE in facts  # stylegan2-ada's labels beat the subfolders
        # Of the images, in order (and of the labels file, whose edits change the labels).
        self.fingerprint = digest([(name, *facts[name]) for name in self.names]
                                  + ([(LABELS_FILE, *facts[LABELS_FILE])] if listed else []))
        self.classes, self.labels = self.labels_from_file() if listed else self.labels_from_folders()

    def labels_from_folders(self) -> tuple[list[str], list[int] | None]:
        """Class names and each image's class when every image sits in a subfolder (the subfolders, sorted)."""
        parts = [name.split("/") for name in self.names]
        if not all(len(part) > 1 for part in parts):
            return [], None
        classes = sorted({part[0] for part in parts})
        index = {name: i for i, name in enumerate(classes)}
        return classes, [index[part[0]] for part in parts]

    def labels_from_file(self) -> tuple[list[str], list[int] | None]:
        """Classes "0", "1", ... and each image's class, from dataset.json's {"labels": [[name, class], ...]}."""
        where = f"{self.location / LABELS_FILE}" if self.location.is_dir() else f"{LABELS_FILE} in {self.location}"
        fix = ('Fix: write it as stylegan2-ada\'s dataset_tool does, {"labels": [["relative/path.png", 0], ...]} '
               '(whole classes from 0; "labels": null for none), or remove it to take the classes from subfolders.')
        try:
            if self.location.is_dir():
                text = (self.location / LABELS_FILE).read_bytes()
            else:
                with zipfile.ZipFile(self.location) as archive:
                    text = archive.read(LABELS_FILE)
            table = json.loads(text)["labels"]
            if table is None:
                return [], None
            given = {str(name): label for name, label in table}
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
            raise UserError(f"Could not read the labels in {where} ({type(error).__name__}: {error}). {fix}") from None
        missing = [name for name in self.names if name not in given]
        bad = [label for label in given.values() if not isinstance(label, int) or isinstance(label, bool) or label < 0]
        if missing or bad:
            what = (f"{len(missing)} of the {len(self.names)} images have no label ({', '.join(missing[:3])}"
                    f"{', ...' if len(missing) > 3 else ''})" if missing else f"labels such as {bad[0]!r} are not "
                    "whole numbers from 0")
            raise UserError(f"The labels in {where} do not fit the images: {what}. {fix}")
        labels = [given[name] for name in self.names]
        return [str(k) for k in range(max(labels) + 1)], labels

    def decode(self, name: str, mode: str) -> tuple[torch.Tensor, str, tuple[int, int]]:
        """One image (uint8 C x H x W, converted to `mode`) with the mode and size it had."""
        if self.location.is_dir():
            return decode_image(self.location / name, self.location / name, mode)
        if getattr(self, "_archive", None) is None:  # opened once a process (a worker's too)
            self._archive = zipfile.ZipFile(self.location)
        try:
            data = self._archive.read(name)  # whole: PIL seeks, and a compressed member is not seekable
        except (zipfile.BadZipFile, zlib.error, OSError) as error:
            raise UserError(f"Could not read {name} from the zip file {self.location}: {error}. Fix: "
                            "repair or remake the zip file.") from None
        return decode_image(io.BytesIO(data), f"{name} in {self.location}", mode)

    def __getstate__(self) -> dict:  # sent to decoding workers without the open zip file
        return {key: value for key, value in self.__dict__.items() if key != "_archive"}

    def decoded(self, mode: str):
        """(name, uint8 C x H x W, original mode, original size) for each image, in order."""
        for name in self.names:
            yield name, *self.decode(name, mode)


def digest(rows: list) -> str:
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


class ImageFolder(ImageTensorDataset):
    """The images of `root` (a folder or a zip), read from their prepared copy under `prepared_dir` (null:
    $GAN_RUNNER_CACHE/prepared, else ~/.cache/gan-runner/prepared), which is made first when it is missing or its
    source has changed, by `workers` processes (null: chosen from the cores and the image count). The copy is a
    memory map: a batch reads its own images from disk, nothing more. `mirror` flips half the images drawn."""

    def __init__(self, root: str, resolution: int = 32, channels: int = 3, prepared_dir: str | None = None,
                 mirror: bool = False, workers: int | None = None) -> None:
        if channels not in (1, 3):
            raise UserError(f"dataset.channels={channels}: images have 1 (grey) or 3 (RGB) channels. Fix: "
                            "dataset.channels=1 or 3.")
        check_workers(workers)
        source = ImageSource(root)
        folder = prepared_copy(source, resolution, channels, prepared_dir, workers)
        images, reader, labels, index = read_prepared(folder)
        super().__init__(images, labels, num_classes=len(index["classes"]) if labels is not None else None,
                         mirror=bool(mirror), reader=reader)
        self.classes = index["classes"]
        self.prepared = folder
