"""Layers that progressive growing (Karras et al. 2018) and StyleGAN2 (Karras et al. 2020) share.

Equalized learning rate (ProGAN section 4.1): a weight is stored as N(0, 1) draws and scaled at run time by its He
constant c = gain / sqrt(fan_in), instead of being initialised at that scale. Adam's step is invariant to the
gradient's scale, so every weight then moves at the same speed relative to its own scale, whatever its layer's
fan-in. A learning-rate multiplier `lr_mul` (StyleGAN's mapping network: 0.01) stores the weight as N(0, 1/lr_mul^2)
and scales it by c x lr_mul at run time: the same initial function, updates lr_mul times as large relative to it.
Both official codes write it so (tkarras/progressive_growing_of_gans networks.py get_weight with use_wscale;
NVlabs/stylegan2-ada-pytorch training/networks.py FullyConnectedLayer and Conv2dLayer's weight_gain).

Where the He gain goes differs between the two papers and is kept as each wrote it: ProGAN puts sqrt(2) into the
weight's scale (`gain`), StyleGAN2 multiplies the activation's output by sqrt(2) (`gain` 1 here, its bias_act's
def_gain in the architecture file); leaky ReLU is positively homogeneous, so the two differ only in the bias's scale.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class EqualizedLinear(nn.Module):
    """y = x (c w)^T + lr_mul b with c = gain x lr_mul / sqrt(in_features); w stored ~ N(0, 1/lr_mul^2), b stored
    as bias_init / lr_mul (so that it starts at bias_init: StyleGAN2's affine layers start their styles at 1)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, gain: float = 1.0) -> None:
        super().__init__()
        self.in_features, self.out_features, self.lr_mul = in_features, out_features, lr_mul
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul)) if bias else None
        self.weight_gain = gain * lr_mul / math.sqrt(in_features)
        self.bias_gain = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.bias_gain if self.bias is not None else None
        return F.linear(x, self.weight * self.weight_gain, bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"lr_mul={self.lr_mul}")


class EqualizedConv2d(nn.Module):
    """A square convolution whose weight is scaled at run time by c = gain x lr_mul / sqrt(in_channels x k x k),
    its bias by lr_mul; 'same' padding (k // 2) unless told otherwise."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 gain: float = 1.0, lr_mul: float = 1.0, padding: int | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.padding = kernel_size // 2 if padding is None else padding
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = gain * lr_mul / math.sqrt(in_channels * kernel_size * kernel_size)
        self.bias_gain = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.bias_gain if self.bias is not None else None
        return F.conv2d(x, self.weight * self.weight_gain, bias, padding=self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, padding={self.padding}, "
                f"bias={self.bias is not None}")


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """x / sqrt(mean(x^2 over dim) + eps): ProGAN's pixelwise feature normalisation (section 4.2, over channels) and
    StyleGAN2's normalisation of z before its mapping network."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class PixelNorm(nn.Module):
    """Pixelwise feature vector normalisation (ProGAN section 4.2): each pixel's feature vector to unit mean square."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return normalize_2nd_moment(x, dim=1)


class MinibatchStddev(nn.Module):
    """Minibatch standard deviation (ProGAN section 3; StyleGAN2's MinibatchStdLayer): the batch is split into
    groups of `group_size` samples (all of it when smaller), the standard deviation of each feature and pixel is
    taken over each group, averaged over the features and pixels of each of `num_channels` channel slices, and
    appended to every sample of the group as that many constant feature maps. Samples i, i + n, i + 2n, ... form a
    group (n = N / group size), as the official reshape [G, -1, F, c, H, W] groups them."""

    def __init__(self, group_size: int = 4, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, C, H, W = x.shape
        group = min(self.group_size, N)
        if N % group:
            raise ValueError(f"minibatch standard deviation groups the batch by {group}, and a batch of {N} does not "
                             f"divide into such groups; use a batch size that is a multiple of {group}")
        features = self.num_channels
        y = x.reshape(group, -1, features, C // features, H, W)
        y = y - y.mean(dim=0)
        y = (y.square().mean(dim=0) + 1e-8).sqrt()
        y = y.mean(dim=[2, 3, 4]).reshape(-1, features, 1, 1)
        return torch.cat([x, y.repeat(group, 1, H, W)], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
