"""SRGAN's networks (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network", figure 4 and section 2.2). There is no official code; where the paper says nothing we say what we chose.

Generator (SRResNet): a 9x9 convolution to `width` (64) channels and PReLU; `blocks` (16, the paper's B) residual
blocks, each 3x3 convolution, batch norm, PReLU, 3x3 convolution, batch norm, plus the block's input; a 3x3
convolution and batch norm added to the output of the first PReLU (the long skip); then one upsampling stage per
factor of two of the scale (two for x4), each a 3x3 convolution to 4 * width (256) channels, PixelShuffle x2 (the
paper's sub-pixel convolution) and PReLU; a last 9x9 convolution to the target's channels. The scale is the target's
side over the source's (data_shape over source_shape), a power of two. Our choices where the paper is silent: every
convolution has a bias; each PReLU has one slope (torch's nn.PReLU(), a "channel-shared" PReLU of He et al. 2015);
torch's default initialisation; and a tanh on the output, so that it lies in [-1, 1] like the targets (the paper
trains the HR images in [-1, 1] with no output activation drawn in figure 4). At x4 with 3 channels: 1,549,462
parameters (tests/test_arch_paired.py counts them from this layer list).

Discriminator: eight 3x3 convolutions of width x (1, 1, 2, 2, 4, 4, 8, 8) channels (64 ... 512) at strides 1, 2, 1,
2, 1, 2, 1, 2 (padding 1), each followed by LeakyReLU(0.2), with batch norm between convolution and activation in
all but the first; then a dense layer of `dense` (1024) units, LeakyReLU(0.2), and a dense layer to one raw score
(the paper's sigmoid is left to the objective, which takes logits). The first dense layer's input is the last map
flattened, its size from data_shape (512 x 6 x 6 at 96x96, 512 x 2 x 2 at 28x28). SRGAN's discriminator judges the
image alone: built with source_shape None (the paper's); given a source_shape, it judges the pair as pix2pix's does,
the source enlarged to the image's size (gan_runner.arch.with_source).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from gan_runner.arch import PairedDiscriminator, image_shape


def upsampling_stages(data_shape: tuple[int, int, int], source_shape: tuple[int, int, int]) -> int:
    """log2 of the scale from source to target: how many x2 PixelShuffle stages the generator needs."""
    (_, height, width), (_, source_height, source_width) = data_shape, source_shape
    scale = height / source_height
    if width / source_width != scale or not scale.is_integer() or not math.log2(scale).is_integer():
        raise ValueError(f"SRResNet enlarges its source by a power of two (x2, x4, x8) on both sides, but the source "
                         f"is {source_height}x{source_width} and the target {height}x{width}")
    return int(math.log2(scale))


class ResidualBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width), nn.PReLU(),
                                  nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Generator(nn.Module):
    num_classes = None  # translates a source image; draws no labels (gan-sample reads this)

    def __init__(self, data_shape: Sequence[int], source_shape: Sequence[int], width: int = 64,
                 blocks: int = 16) -> None:
        super().__init__()
        self.data_shape = image_shape(data_shape, "target (data_shape)")
        self.source_shape = image_shape(source_shape, "source (source_shape)")
        stages = upsampling_stages(self.data_shape, self.source_shape)
        self.head = nn.Sequential(nn.Conv2d(self.source_shape[0], width, 9, 1, 4), nn.PReLU())
        self.blocks = nn.Sequential(*(ResidualBlock(width) for _ in range(blocks)),
                                    nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width))
        self.upsample = nn.Sequential(*(layer for _ in range(stages) for layer in (
            nn.Conv2d(width, 4 * width, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU())))
        self.tail = nn.Conv2d(width, self.data_shape[0], 9, 1, 4)

    def forward(self, source: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        features = self.head(source)
        return torch.tanh(self.tail(self.upsample(features + self.blocks(features))))


class Discriminator(PairedDiscriminator):
    def __init__(self, data_shape: Sequence[int], source_shape: Sequence[int] | None = None, width: int = 64,
                 dense: int = 1024) -> None:
        super().__init__(data_shape, source_shape)
        height, width_px = self.data_shape[1:]
        widths = [width * factor for factor in (1, 1, 2, 2, 4, 4, 8, 8)]
        inputs = [self.input_channels, *widths[:-1]]
        layers: list[nn.Module] = []
        for i, (w_in, w_out) in enumerate(zip(inputs, widths)):
            stride = 1 + i % 2
            layers += [nn.Conv2d(w_in, w_out, 3, stride, 1)]
            layers += [nn.BatchNorm2d(w_out)] if i > 0 else []
            layers += [nn.LeakyReLU(0.2)]
            height, width_px = -(-height // stride), -(-width_px // stride)  # 3x3, padding 1: ceil(side / stride)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(widths[-1] * height * width_px, dense),
                                        nn.LeakyReLU(0.2), nn.Linear(dense, 1))

    def forward(self, image: torch.Tensor, source: torch.Tensor | None = None) -> torch.Tensor:
        return self.classifier(self.features(self.judged(image, source))).flatten()
