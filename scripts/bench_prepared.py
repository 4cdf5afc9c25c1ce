"""Which prepared format for image folders: start-up, feed rate and memory of three ways to serve the same JPEGs as
batches, measured in a fresh process each (docs/data.md).

    python scripts/bench_prepared.py [--images 2000] [--source-size 512] [--resolutions 64 256] [--batches 50]

It writes --images JPEGs of --source-size pixels (smooth random pictures, quality 90) into a temporary folder, then
for each resolution compares

    decode    today's route: every start decodes and resizes the whole folder into memory (PIL, one process)
    npy       gan-runner's prepared copy (gan_runner/data/prepared.py): one uint8 .npy memory map, a batch indexes it
    zip-png   stylegan2-ada's dataset_tool format: one PNG an image at the resolution, in an uncompressed zip; a
              batch reads and decodes its PNGs

prepare: seconds to make the format from the folder (once); start-up: seconds from a fresh process with its imports
done to its first batch (npy: the source's fingerprint checked too, as a run does); feed: images a second into float
batches of 64 in a shuffled order over --batches batches, after the first; peak: the process's peak resident memory
above what its imports took (MB; the memory map's pages count once a batch has read them); disk: the format's size
(MB; decode: the JPEGs'). The page cache is warm (the files were just written): a cold disk adds its read time to
npy and zip-png alike. Run it on an idle machine: another job on the same cores changes every number.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gan_runner.data import ImageTensorDataset
from gan_runner.data.image_folder import ImageSource, decode_image
from gan_runner.data.prepared import prepared_copy, read_prepared, to_training_size

BATCH = 64


def write_source(folder: Path, n: int, size: int) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for number in range(n):
        coarse = torch.from_numpy(rng.random((1, 3, 8, 8), dtype=np.float32))
        image = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic").clamp(0, 1)[0]
        Image.fromarray((image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(folder / f"{number:06d}.jpg",
                                                                                          quality=90)


def write_zip_png(source: Path, resolution: int, zip_path: Path) -> None:
    """As stylegan2-ada's dataset_tool.py writes a dataset: PNGs at the resolution, stored uncompressed."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as archive:
        for name, image, _, _ in ImageSource(source).decoded("RGB"):
            buffer = io.BytesIO()
            pixels = to_training_size(image, resolution, 3)[0].permute(1, 2, 0).numpy()
            Image.fromarray(pixels).save(buffer, format="png", compress_level=0, optimize=False)
            archive.writestr(name.replace(".jpg", ".png"), buffer.getvalue())


class ZipPNG:
    """Batches decoded from the zip of PNGs, in the same shuffled order as ImageTensorDataset's."""

    def __init__(self, path: Path) -> None:
        self.archive = zipfile.ZipFile(path)
        self.names = sorted(self.archive.namelist())

    def batches(self, generator: torch.Generator):
        while True:
            order = torch.randperm(len(self.names), generator=generator)
            for first in range(0, len(order) - BATCH + 1, BATCH):
                images = [decode_image(io.BytesIO(self.archive.read(self.names[i])), i)[0] for i in order[first:first + BATCH]]
                yield torch.stack(images).float() / 127.5 - 1, None


def measure(kind: str, source: Path, resolution: int, where: Path, batches: int) -> dict:
    """In this (fresh) process: start-up to the first batch, then the feed rate and the peak memory above what the
    imports took."""
    imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if kind == "decode":
        images = torch.cat([to_training_size(image, resolution, 3) for _, image, _, _ in
                            ImageSource(source).decoded("RGB")])
        feed = ImageTensorDataset(images, None, None).batches(BATCH, torch.Generator().manual_seed(0))
    elif kind == "npy":
        folder = prepared_copy(ImageSource(source), resolution, 3, where)  # checks the fingerprint, as a run does
        images, reader, _, _ = read_prepared(folder)
        feed = ImageTensorDataset(images, None, None, reader=reader).batches(BATCH, torch.Generator().manual_seed(0))
    else:
        feed = ZipPNG(where / f"{resolution}.zip").batches(torch.Generator().manual_seed(0))
    next(feed)
    start_up = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(batches):
        next(feed)
    rate = batches * BATCH / (time.perf_counter() - started)
    return {"start_up": start_up, "feed": rate, "peak": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - imported) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--source-size", type=int, default=512)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--measure", nargs=4, metavar=("KIND", "SOURCE", "RESOLUTION", "WHERE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        kind, source, resolution, where = args.measure
        print(json.dumps(measure(kind, Path(source), int(resolution), Path(where), args.batches)))
        return
    with tempfile.TemporaryDirectory() as temporary:
        source, where = Path(temporary) / "source", Path(temporary) / "formats"
        write_source(source, args.images, args.source_size)
        where.mkdir()
        print(f"{args.images} JPEGs of {args.source_size}x{args.source_size}, batches of {BATCH}, "
              f"{torch.get_num_threads()} torch threads\n")
        print("| format | resolution | prepare (s) | start-up (s) | feed (images/s) | peak above imports (MB) | disk (MB) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for resolution in args.resolutions:
            started = time.perf_counter()
            prepared_copy(ImageSource(source), resolution, 3, where)
            prepare = {"decode": None, "npy": time.perf_counter() - started}
            started = time.perf_counter()
            write_zip_png(source, resolution, where / f"{resolution}.zip")
            prepare["zip-png"] = time.perf_counter() - started
            disk = {"decode": sum(p.stat().st_size for p in source.iterdir()),
                    "npy": sum(p.stat().st_size for p in where.glob(f"*-{resolution}px-3c-*/*")),
                    "zip-png": (where / f"{resolution}.zip").stat().st_size}
            for kind in ("decode", "npy", "zip-png"):
                out = subprocess.run([sys.executable, __file__, "--batches", str(args.batches), "--measure", kind,
                                      str(source), str(resolution), str(where)],
                                     check=True, capture_output=True, text=True).stdout
                row = json.loads(out.splitlines()[-1])
                made = "-" if prepare[kind] is None else f"{prepare[kind]:.1f}"
                print(f"| {kind} | {resolution} | {made} | {row['start_up']:.2f} | {row['feed']:,.0f} | "
                      f"{row['peak']:,.0f} | {disk[kind] / 1e6:,.1f} |", flush=True)


if __name__ == "__main__":
    main()
