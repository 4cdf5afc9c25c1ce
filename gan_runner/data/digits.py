"""scikit-learn's bundled 8x8 handwritten digits (UCI optdigits test set): 1,797 images, 10 classes.

Real data that needs no download, which makes it the default dataset. Pixel values 0-16 are scaled to
[0, 1]; at a `resolution` above 8 the images are upsampled (bilinear).

`train_and_held_out` is the one split of these digits into a training part and a held-out part that the
digit judges (metrics=digits, metrics=stacked) and dataset=stacked_digits share, so that every judge is
trained on the same digits and no held-out digit is ever trained on by a stacked-digits generator.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from gan_runner.data import ImageTensorDataset, to_uint8_images


def train_and_held_out(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices into load_digits() of the training digits (1,347) and the held-out ones (450): a quarter held
    out, stratified by class, shuffled with `seed`."""
    target = load_digits().target
    train, held_out = train_test_split(np.arange(len(target)), test_size=0.25, random_state=seed, stratify=target)
    return train, held_out


def digit_images(resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as uint8 images (N x 1 x resolution x resolution) and their classes (N), in
    load_digits()'s order."""
    digits = load_digits()
    images = torch.from_numpy(digits.images).float().unsqueeze(1) / 16.0
    return to_uint8_images(images, resolution, channels=1), torch.from_numpy(digits.target).long()


class Digits(ImageTensorDataset):
    def __init__(self, resolution: int = 8) -> None:
        images, labels = digit_images(resolution)
        super().__init__(images, labels, num_classes=10)
