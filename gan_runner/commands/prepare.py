"""`gan-prepare`: decodes a folder (or zip) of images once into the prepared copy that dataset=image_folder reads,
ahead of training (e.g. on a login node), with a progress bar.

    gan-prepare SRC DEST resolution=R [channels=C] [workers=N]

DEST is the folder of prepared copies (gan-run's dataset.prepared_dir); the copy inside it is named after the
source, the resolution and the channels. A copy already there and up to date is kept; one whose source has changed
is prepared again. Exit statuses: 0 prepared (or already so); 2 bad input: one paragraph on stderr.
"""

from __future__ import annotations

import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from gan_runner.commands.arguments import Command, Option, whole
from gan_runner.errors import UserError

COMMAND = Command(
    name="gan-prepare",
    summary="decodes a folder or zip of images once, at one resolution, into the prepared copy dataset=image_folder "
            "reads (a uint8 memory map), with a progress bar",
    options=[Option("resolution", "the side of the square images (shorter side resized, then centre-cropped)",
                    whole, placeholder="R"),
             Option("channels", "1 (grey) or 3 (RGB)", whole, default=3, placeholder="C"),
             Option("workers", "processes that decode (default: one a core, at most one a 1,000 images)", whole,
                    placeholder="N")],
    positional="SRC DEST",
    details=__doc__.split("\n\n", 2)[2],
    examples=["gan-prepare ~/images /scratch/prepared resolution=64",
              "gan-run dataset=image_folder dataset.root=~/images dataset.prepared_dir=/scratch/prepared "
              "dataset.resolution=64"],
)


def prepare(options: dict[str, Any], prefixed: list[str], plain: list[str]) -> None:
    if len(plain) != 2 or options["resolution"] is None:
        raise UserError(f"gan-prepare takes a source, a destination and resolution=R (given: {shlex.join(plain) or 'nothing'}"
                        f"{'' if options['resolution'] is None else ' resolution=%d' % options['resolution']}). "
                        f"Fix: e.g. {COMMAND.examples[0]}.")
    if options["resolution"] < 1:
        raise UserError(f"resolution={options['resolution']}: the side in pixels must be at least 1. Fix: e.g. "
                        "resolution=64.")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    from gan_runner.data.image_folder import ImageFolder

    source, dest = plain
    started = time.perf_counter()
    dataset = ImageFolder(source, options["resolution"], options["channels"], prepared_dir=dest,
                          workers=options["workers"])
    print(f"{len(dataset)} images of {Path(source).expanduser().resolve()} ready at {dataset.prepared} "
          f"({time.perf_counter() - started:.1f} s). Train on them with: gan-run dataset=image_folder "
          f"dataset.root={shlex.quote(source)} dataset.prepared_dir={shlex.quote(dest)} "
          f"dataset.resolution={options['resolution']} dataset.channels={options['channels']}")


def main(argv: list[str] | None = None) -> None:
    COMMAND.run(prepare, argv)


if __name__ == "__main__":
    main()
