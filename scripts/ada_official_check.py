"""gan_runner/augment/ada.py against the official pipeline: NVlabs/stylegan2-ada-pytorch's training/augment.py
AugmentPipe with the 'bgc' transforms, on the same images from the same seed (same random draws), on the CPU (where
the official upfirdn2d and grid_sample run their reference implementations). Prints the largest and mean absolute
difference, per channel count and p. Needs a checkout of the official code (it is not a dependency):

    git clone https://github.com/NVlabs/stylegan2-ada-pytorch /tmp/stylegan2-ada-pytorch
    python scripts/ada_official_check.py /tmp/stylegan2-ada-pytorch
"""

from __future__ import annotations

import sys

import torch

from gan_runner.augment.ada import ADA

BGC = dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1, brightness=1, contrast=1, lumaflip=1,
           hue=1, saturation=1)  # train.py l.279


def main(official: str) -> None:
    sys.path.insert(0, official)
    from training.augment import AugmentPipe  # the official code, imported from the given checkout

    for channels in (3, 1):
        for p in (0.0, 0.3, 1.0):
            images = torch.rand(16, channels, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
            pipe = AugmentPipe(**BGC)
            pipe.p.fill_(p)
            torch.manual_seed(1)
            expected = pipe(images)
            torch.manual_seed(1)
            ours = ADA(p=p)(images)
            difference = (ours - expected).abs()
            print(f"{channels} channels, p={p}: max |ours - official| {difference.max().item():.1e}, "
                  f"mean {difference.mean().item():.1e} (images in [-1, 1])")


if __name__ == "__main__":
    main(sys.argv[1])
