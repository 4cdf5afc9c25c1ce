"""CycleGAN's generator (Zhu et al. 2017), as the authors' PyTorch port builds it (junyanz/pytorch-CycleGAN-and-pix2pix,
models/networks.py: ResnetGenerator, ResnetBlock, define_G, get_norm_layer, init_weights); its discriminators are
pix2pix's 70x70 PatchGAN with `norm: instance` (gan_runner.arch.pix2pix.Discriminator, judging images alone).

Generator (ResnetGenerator, after Johnson et al.'s fast style transfer): the source padded by reflection 3 pixels each
side and a 7x7 convolution to `width` (ngf, 64) channels; two 3x3 stride-2 convolutions down (2 x width, 4 x width);
`blocks` residual blocks at 4 x width channels, each reflection pad 1, 3x3 convolution, norm, ReLU, (dropout),
reflection pad 1, 3x3 convolution, norm, plus the block's input; two 3x3 stride-2 transposed convolutions up
(output_padding 1: each doubles a side exactly) to 2 x width and width; reflection pad 3, a 7x7 convolution to the
output's channels (with a bias) and Tanh. Every convolution but the last is followed by the norm and a ReLU (the
blocks' second by the norm alone). Norm: instance norm without affine parameters or running statistics (the port's
--norm instance, CycleGAN's default), and then every convolution has a bias (the port's use_bias); batch norm, and then
none but the last. At 256x256 RGB with 9 blocks (define_G 'resnet_9blocks'): 11,378,179 parameters, the port's
"[Network G_A] Total number of parameters : 11.378 M" (BaseModel.print_networks); its discriminators 2,764,737 each,
"2.765 M" (tests/test_arch_cyclegan.py counts both from this layer list).

`blocks` null takes the port's choice by size: resnet_9blocks at 256 and above, resnet_6blocks below (the paper's
appendix 7.2: 6 blocks for 128x128 training images, 9 for 256x256 and higher). Input channels come from source_shape,
output channels from data_shape (the game builds a_to_b and b_to_a with the two swapped); the sides must be equal, as
the network keeps its input's size, and multiples of 4 (two halvings, then two exact doublings) of at least 8 (the
blocks' reflection padding needs a map wider than 1 pixel). Dropout 0 is CycleGAN's: cycle_gan_model.py sets
no_dropout=True; `dropout` p > 0 puts the port's nn.Dropout(p) after each block's first ReLU.
The modules are laid out as the port's (`model` a Sequential, each block's `conv_block`), so a state_dict has the
port's keys and shapes. Initialisation: init_weights 'normal', gain 0.02 (gan_runner.arch.normal_init: convolution
weights N(0, 0.02), biases 0, batch norm gains N(1, 0.02); instance norm here has no parameters).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from gan_runner.arch import image_shape, normal_init
from gan_runner.arch.pix2pix import norm_layer

DOWNSAMPLINGS = 2  # the port's n_downsampling: the residual trunk runs at 1/4 of the image's side


class ResidualBlock(nn.Module):
    """The port's ResnetBlock, padding_type 'reflect': x + (pad, conv, norm, ReLU, [dropout], pad, conv, norm)(x)."""

    def __init__(self, channels: int, normalisation: Callable[[int], nn.Module], bias: bool, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
                                   normalisation(channels), nn.ReLU()]
        layers += [nn.Dropout(dropout)] if dropout > 0 else []
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), normalisation(channels)]
        self.conv_block = nn.Sequential(*layers)  # the port's name: its checkpoints' keys

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


def default_blocks(height: int, width: int) -> int:
    """define_G's resnet_9blocks for 256x256 images (and larger), resnet_6blocks for 128x128 (and smaller)."""
    return 9 if min(height, width) >= 256 else 6


class Generator(nn.Module):
    num_classes = None  # translates a source image; draws no labels (gan-sample reads this)

    def __init__(self, data_shape: Sequence[int], source_shape: Sequence[int], width: int = 64,
                 blocks: int | None = None, norm: str = "instance", dropout: float = 0.0) -> None:
        super().__init__()
        self.data_shape = image_shape(data_shape, "output (data_shape)")
        self.source_shape = image_shape(source_shape, "input (source_shape)")
        (channels, height, width_px), (source_channels, *source_sides) = self.data_shape, self.source_shape
        if tuple(source_sides) != (height, width_px):
            raise ValueError(f"CycleGAN's ResNet generator keeps its input's size, but the input is "
                             f"{source_sides[0]}x{source_sides[1]} and the output {height}x{width_px}: give both "
                             "domains one size")
        if height % 4 or width_px % 4 or min(height, width_px) < 8:
            raise ValueError(f"CycleGAN's ResNet generator needs image sides that are multiples of 4 and at least 8 "
                             f"(two stride-2 halvings, then two exact doublings), but the images are "
                             f"{height}x{width_px}: crop or resize them to such a size (dataset=unpaired_folder: "
                             "dataset.crop_size=256)")
        if blocks is None:
            blocks = default_blocks(height, width_px)
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 0:
            raise ValueError(f"blocks must be a whole number of at least 0 (or null: 9 at 256x256, 6 below), "
                             f"got {blocks!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout is a probability in [0, 1) (0: CycleGAN's --no_dropout), got {dropout!r}")
        normalisation, bias = norm_layer(norm)
        self.blocks = blocks

        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(source_channels, width, 7, bias=bias),
                                   normalisation(width), nn.ReLU()]
        for level in range(DOWNSAMPLINGS):
            inner = width * 2 ** level
            layers += [nn.Conv2d(inner, 2 * inner, 3, stride=2, padding=1, bias=bias), normalisation(2 * inner),
                       nn.ReLU()]
        trunk = width * 2 ** DOWNSAMPLINGS
        layers += [ResidualBlock(trunk, normalisation, bias, dropout) for _ in range(blocks)]
        for level in range(DOWNSAMPLINGS, 0, -1):
            inner = width * 2 ** level
            layers += [nn.ConvTranspose2d(inner, inner // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       normalisation(inner // 2), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)  # the port's name and layout: its checkpoints' keys
        self.apply(normal_init)

    def forward(self, source: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(source)
