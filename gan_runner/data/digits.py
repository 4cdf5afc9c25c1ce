"""scikit-learn's bundled 8x8 handwritten digits (UCI optdigits test set): 1,797 images, 10 classes.

Real data that needs no download, which makes it the default dataset. Pixel values 0-16 are scaled to
[0, 1]; at a `resolution` above 8 the images are upsampled (bilinear).
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from gan_runner.data import ImageTensorDataset, to_uint8_images


class Digits(ImageTensorDataset):
    def __init__(self, resolution: int = 8) -> None:
        digits = load_digits()
        images = torch.from_numpy(digits.images).float().unsqueeze(1) / 16.0
        labels = torch.from_numpy(digits.target).long()
        super().__init__(to_uint8_images(images, resolution, channels=1), labels, num_classes=10)
