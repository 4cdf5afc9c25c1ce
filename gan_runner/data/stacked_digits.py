"""Stacked digits: the 1,000-mode benchmark of Metz et al. 2017 (Unrolled GANs), Srivastava et al. 2017
(VEEGAN) and Lin et al. 2018 (PacGAN), built from scikit-learn's 8x8 digits instead of MNIST, so that it
needs no download.

Each sample is three training digits drawn independently and uniformly, one in each of the R, G and B
channels; its label, the mode, is 100 x R's class + 10 x G's + B's (0-999). The digits are the training part
of `train_and_held_out`: the held-out part is never stacked here, because metrics=stacked measures its judge
and its real-data yardstick on it. The `size` stacks are drawn once with the dataset's own `seed` (not the
run's), so every run of every seed trains on the same images.
"""

from __future__ import annotations

import torch

from gan_runner.data import ImageTensorDataset
from gan_runner.data.digits import digit_images, train_and_held_out
from gan_runner.errors import UserError

MODES = 1000
PLACE_VALUES = torch.tensor([100, 10, 1])  # a stack's mode from its R, G and B digits' classes (metrics=stacked too)


class StackedDigits(ImageTensorDataset):
    """`size` stacks (3 x resolution x resolution) of training digits, labelled by their mode."""

    stacked_digits = True  # what metrics=stacked asks of a dataset: each channel holds one scikit-learn digit

    def __init__(self, resolution: int = 32, size: int = 50000, seed: int = 0) -> None:
        def whole(value: object) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        if not (whole(size) and size >= 1 and whole(resolution) and resolution >= 8):
            raise UserError(
                f"dataset=stacked_digits needs a positive whole number of stacks (dataset.size, got {size!r}) and a "
                f"resolution of at least the digits' own 8 (dataset.resolution, got {resolution!r}). Fix: gan-run "
                "dataset=stacked_digits dataset.size=50000 dataset.resolution=32 (8, 16 or 32)."
            )
        images, classes = digit_images(resolution)  # resized once per digit: a stack's channels are these images
        train, _ = train_and_held_out()
        draws = torch.randint(len(train), (size, 3), generator=torch.Generator().manual_seed(seed))
        self.digit_index = torch.from_numpy(train)[draws]  # size x 3: which of load_digits()'s digits is in R, G, B
        stacks = images[self.digit_index].squeeze(2)  # size x 3 x 1 x H x W -> size x 3 x H x W
        modes = (classes[self.digit_index] * PLACE_VALUES).sum(1)
        super().__init__(stacks, modes, num_classes=MODES)
