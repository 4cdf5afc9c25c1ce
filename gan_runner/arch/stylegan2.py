"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"), built as NVlabs/
stylegan2-ada-pytorch's training/networks.py builds it (its config F: the skip generator, the residual discriminator);
the module, parameter and buffer names are the official ones, so an official state dict's tensors line up by name.

Generator: a mapping network (`mapping_layers` equalized fully connected layers at w_dim, learning-rate multiplier
0.01, leaky ReLU) turns the normalised z (and, class-conditional, a normalised embedding of the one-hot label,
concatenated) into w; the synthesis network starts from a learned constant 4x4 input and runs two modulated 3x3
convolutions per resolution (the first of each block upsamples 2x), each with per-pixel noise scaled by a learned
strength, and a modulated 1x1 toRGB at every resolution whose images are upsampled and summed (the skip generator).
Each modulated convolution scales its weight's input channels by a style (an affine map of w, starting at 1) and
demodulates: divides each output channel's weights by their L2 norm, so unit-variance inputs give unit-variance outputs
(paper section 2.2, eq. 1-3). `fused_modconv` chooses how: one grouped convolution with a weight per sample (fused)
or the shared weight between a scaling of the inputs and of the outputs (unfused); null follows the official choice,
fused in eval mode and unfused in training (SynthesisBlock.forward). Both compute the same function.

`G.styles(z, y)` returns ws, N x num_ws x w_dim (one w per layer that takes a style); `G.synthesis(ws)` the images;
`G(z, y) == G.synthesis(G.styles(z, y))`. In training mode styles() tracks the average w (buffer w_avg, decay 0.995)
and mixes styles with probability `style_mixing` (stylegan2-ada's loss.py run_G: one crossover index per batch, drawn
in [1, num_ws), the ws from it on come from a second z drawn from N(0, I)); in eval mode it moves every w (the first
`truncation_cutoff` only, when set) towards w_avg by `truncation_psi` (1: none; 0: w_avg itself).

Discriminator: `architecture` resnet (config F; a fromRGB at the input, then per resolution two 3x3 convolutions, the
second downsampling, plus a 1x1 downsampling skip, the sum scaled by sqrt(1/2)) or orig (no skip: the cifar config);
then minibatch standard deviation (group 4, 1 channel), a 3x3 convolution, two fully connected layers. Class-
conditional, it projects as the official code does: its last layer gives cmap_dim features whose dot product with a
mapped label embedding (an 8-layer mapping network of D's own), divided by sqrt(cmap_dim), is the score.

Equalized learning rate everywhere (gan_runner/arch/equalized.py), leaky ReLU 0.2 times sqrt(2) (bias_act's lrelu
gain), resampling with the FIR filter [1, 3, 3, 1] (upfirdn2d below, in plain torch). Channels at resolution r are
min(channel_base // r, width) (the official channel_base and channel_max; `width` is channel_max's name here, as every
conf/arch/ architecture's width). The generator's images are not squashed into [-1, 1] (no tanh, as official); the
pictures clip them. Left out: fp16 and conv_clamp (the official code clamps activations only to keep fp16 finite),
freeze-D, the orig/resnet generators and the skip discriminator (no config of the papers' uses them).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gan_runner.arch import check_labels, check_num_classes
from gan_runner.arch.equalized import EqualizedConv2d, EqualizedLinear, MinibatchStddev, normalize_2nd_moment

RESAMPLE_TAPS = (1, 3, 3, 1)  # networks.py's resample_filter default in every layer
LRELU_SLOPE, LRELU_GAIN = 0.2, math.sqrt(2)  # bias_act.py activation_funcs['lrelu']: alpha 0.2, def_gain sqrt(2)


def lrelu(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    return F.leaky_relu(x, LRELU_SLOPE) * (LRELU_GAIN * gain)


# ---------------------------------------------------------------------------------------------------------------------
# Resampling (torch_utils/ops/upfirdn2d.py and conv2d_resample.py, for the one filter and factor 2 that StyleGAN2 uses)

def resample_filter(taps: Sequence[float] = RESAMPLE_TAPS) -> torch.Tensor:
    """The 2-D filter: the outer product of the taps with themselves, normalised to sum 1 (upfirdn2d.setup_filter)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1,
              padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample by inserting up-1 zeros after each pixel, pad (left, right, top, bottom), filter with f x gain, keep
    every down-th pixel: upfirdn2d.py's _upfirdn2d_ref for non-negative padding. f is symmetric, so convolution and
    correlation (its flip_filter) agree."""
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, list(padding))
    x = F.conv2d(x, (f * gain).to(x.dtype).expand(c, 1, *f.shape), groups=c)
    return x[:, :, ::down, ::down]


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x upsampling of images (the skip generator's): upfirdn2d.upsample2d's padding and gain 4 for a 4-tap f."""
    return upfirdn2d(x, f, up=2, padding=(2, 1, 2, 1), gain=4.0)


def conv2d_up2(x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """A k x k convolution of x upsampled 2x, 'same' padding at the upsampled size: conv2d_resample.py's fast path, a
    stride-2 transposed convolution and then the filter (gain 4). The official up layers convolve (flip_weight=False
    for up=2), which is what conv_transpose2d does with the weight as stored."""
    out_channels, in_per_group, k, _ = weight.shape
    w = weight.reshape(groups, out_channels // groups, in_per_group, k, k).transpose(1, 2)
    x = F.conv_transpose2d(x, w.reshape(groups * in_per_group, out_channels // groups, k, k), stride=2, groups=groups)
    fw = f.shape[-1]
    before, after = k // 2 + (fw + 1) // 2 - (k - 1), k // 2 + (fw - 2) // 2 - (k - 2)  # 1, 1 for k 3, fw 4
    return upfirdn2d(x, f, padding=(before, after, before, after), gain=4.0)


def conv2d_down2(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, f: torch.Tensor) -> torch.Tensor:
    """A k x k convolution (correlation, as F.conv2d) with stride 2 of x filtered by f: conv2d_resample.py's down path
    (its 1x1 'downsample first' path is the same sum)."""
    k, fw = weight.shape[-1], f.shape[-1]
    before, after = k // 2 + (fw - 1) // 2, k // 2 + (fw - 2) // 2  # 2, 2 for k 3; 1, 1 for k 1
    return F.conv2d(upfirdn2d(x, f, padding=(before, after, before, after)), weight, bias, stride=2)


# ---------------------------------------------------------------------------------------------------------------------
# Modulated convolution

def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     up: bool = False, f: torch.Tensor | None = None, fused: bool = True) -> torch.Tensor:
    """networks.py modulated_conv2d: weight (O, I, k, k) scaled per sample by styles (N, I); with `demodulate` each
    output channel's scaled weights divided by sqrt(their sum of squares + 1e-8). Fused: one grouped convolution with
    a weight per sample. Unfused: inputs x styles, the shared weight, outputs x the demodulation coefficients: the same
    sum in another order (styles and coefficients are constant over the kernel's window)."""
    n = x.shape[0]
    out_channels, in_channels, k, _ = weight.shape
    w = weight.unsqueeze(0) * styles.reshape(n, 1, in_channels, 1, 1)  # N x O x I x k x k
    dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt() if demodulate else None  # N x O
    if not fused:
        x = x * styles.to(x.dtype).reshape(n, in_channels, 1, 1)
        x = conv2d_up2(x, weight.to(x.dtype), f) if up else F.conv2d(x, weight.to(x.dtype), padding=k // 2)
        return x * dcoefs.to(x.dtype).reshape(n, out_channels, 1, 1) if demodulate else x
    if demodulate:
        w = w * dcoefs.reshape(n, out_channels, 1, 1, 1)
    x = x.reshape(1, n * in_channels, *x.shape[2:])
    w = w.reshape(n * out_channels, in_channels, k, k).to(x.dtype)
    x = conv2d_up2(x, w, f, groups=n) if up else F.conv2d(x, w, padding=k // 2, groups=n)
    return x.reshape(n, out_channels, *x.shape[2:])


class SynthesisLayer(nn.Module):
    """networks.py SynthesisLayer: modulated, demodulated 3x3 convolution (upsampling 2x with `up`), per-pixel noise
    times a learned strength (starting at 0), bias, leaky ReLU x sqrt(2)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool = False) -> None:
        super().__init__()
        self.up, self.resolution = up, resolution
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("resample_filter", resample_filter())

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str, fused: bool) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight, self.affine(w), up=self.up, f=self.resample_filter, fused=fused)
        if noise_mode == "random":
            x = x + torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device,
                                dtype=x.dtype) * self.noise_strength
        elif noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        return lrelu(x + self.bias.to(x.dtype).reshape(1, -1, 1, 1))


class ToRGBLayer(nn.Module):
    """networks.py ToRGBLayer: modulated 1x1 convolution without demodulation, the styles scaled by the equalized
    learning rate's 1/sqrt(fan_in), bias, no activation."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        return x + self.bias.to(x.dtype).reshape(1, -1, 1, 1)


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator (networks.py SynthesisBlock, architecture 'skip'): the learned constant
    (first block) or an upsampling layer, a second layer, and a toRGB whose image is added to the upsampled image of
    the blocks before. It reads num_conv + 1 ws; its toRGB's w is the next block's first (SynthesisNetwork.forward)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int) -> None:
        super().__init__()
        self.first = in_channels == 0
        if self.first:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=True)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim)
        self.register_buffer("resample_filter", resample_filter())
        self.num_conv = 1 if self.first else 2

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, noise_mode: str,
                fused: bool) -> tuple[torch.Tensor, torch.Tensor]:
        ws = ws.unbind(dim=1)
        if self.first:
            x = self.conv1(self.const.unsqueeze(0).repeat(ws[0].shape[0], 1, 1, 1), ws[0], noise_mode, fused)
        else:
            x = self.conv1(self.conv0(x, ws[0], noise_mode, fused), ws[1], noise_mode, fused)
        rgb = self.torgb(x, ws[self.num_conv], fused)
        return x, rgb if img is None else upsample2d(img, self.resample_filter) + rgb


def channels_at(resolution: int, channel_base: int, width: int) -> int:
    """networks.py's channels_dict: min(channel_base // resolution, channel_max)."""
    return min(channel_base // resolution, width)


class SynthesisNetwork(nn.Module):
    """networks.py SynthesisNetwork: blocks b4, b8, ..., b<resolution>. `noise_mode` random (fresh noise every call)
    | const (the stored noise_const, fixed) | none; `fused_modconv` true | false | None (fused in eval mode only)."""

    def __init__(self, w_dim: int, resolution: int, img_channels: int, channel_base: int, width: int,
                 noise_mode: str = "random", fused_modconv: bool | None = None) -> None:
        super().__init__()
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be random, const or none, got {noise_mode!r}")
        if fused_modconv not in (True, False, None):
            raise ValueError(f"fused_modconv must be true, false or null (fused in eval mode only), got "
                             f"{fused_modconv!r}")
        self.w_dim, self.noise_mode, self.fused_modconv = w_dim, noise_mode, fused_modconv
        self.block_resolutions = [2 ** i for i in range(2, int(math.log2(resolution)) + 1)]
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels_at(res // 2, channel_base, width) if res > 4 else 0
            block = SynthesisBlock(in_channels, channels_at(res, channel_base, width), w_dim, res, img_channels)
            setattr(self, f"b{res}", block)
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last toRGB's

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"the synthesis network takes ws of shape (N, {self.num_ws}, {self.w_dim}), got "
                             f"{tuple(ws.shape)}")
        # null: the official choice (fused in eval mode, unfused in training) on a GPU; on the CPU unfused always, which
        # samples 1.2-1.8x faster there and trains as fast (scripts/bench_modconv.py, docs/architectures.md)
        fused = (not self.training and ws.is_cuda) if self.fused_modconv is None else self.fused_modconv
        x = img = None
        index = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, index, block.num_conv + 1), self.noise_mode, fused)
            index += block.num_conv
        return img


# ---------------------------------------------------------------------------------------------------------------------
# Mapping network

class FullyConnected(EqualizedLinear):
    """networks.py FullyConnectedLayer with activation 'lrelu' (gain sqrt(2)) or none."""

    def __init__(self, in_features: int, out_features: int, activate: bool, lr_mul: float = 1.0) -> None:
        super().__init__(in_features, out_features, lr_mul=lr_mul)
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        return lrelu(x) if self.activate else x


class MappingNetwork(nn.Module):
    """networks.py MappingNetwork: normalised z and/or the normalised embedding of the one-hot label (embed: a linear
    layer of w_dim outputs), concatenated, through num_layers leaky-ReLU layers at w_dim with lr_mul. z_dim 0: labels
    only (the discriminator's label mapping)."""

    def __init__(self, z_dim: int, num_classes: int | None, w_dim: int, num_layers: int, lr_mul: float,
                 track_w_avg: bool = False) -> None:
        super().__init__()
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"mapping_layers must be a whole number >= 1, got {num_layers!r}")
        self.z_dim, self.num_classes, self.num_layers = z_dim, num_classes, num_layers
        embed_features = w_dim if num_classes is not None else 0
        if num_classes is not None:
            self.embed = FullyConnected(num_classes, embed_features, activate=False)
        features = [z_dim + embed_features] + [w_dim] * num_layers
        for index in range(num_layers):
            setattr(self, f"fc{index}", FullyConnected(features[index], features[index + 1], True, lr_mul))
        if track_w_avg:
            self.register_buffer("w_avg", torch.zeros(w_dim))
            self.copied_buffers = ("w_avg",)  # G_ema takes G's, as training_loop.py l.304-305 copies buffers

    def forward(self, z: torch.Tensor | None, y: torch.Tensor | None) -> torch.Tensor:
        parts = [normalize_2nd_moment(z.float())] if self.z_dim else []
        if self.num_classes is not None:
            one_hot = F.one_hot(y.long(), self.num_classes).float()
            parts.append(normalize_2nd_moment(self.embed(one_hot)))
        x = torch.cat(parts, dim=1)
        for index in range(self.num_layers):
            x = getattr(self, f"fc{index}")(x)
        return x


def image_side(data_shape: Sequence[int]) -> tuple[int, int]:
    """(channels, side) of a square image whose side is a power of two >= 4, or a ValueError saying what to set."""
    if len(data_shape) != 3:
        raise ValueError(f"StyleGAN2 makes images, but the dataset's samples have shape {list(data_shape)}; use "
                         "arch=mlp for vector data such as ring8 and grid25")
    channels, height, width = (int(side) for side in data_shape)
    if height != width or height < 4 or height & (height - 1):
        raise ValueError(f"StyleGAN2 needs a square image whose side is a power of two, at least 4 (4, 8, 16, 32, ..., "
                         f"1024); the dataset gives {height}x{width}: set dataset.resolution to one of those")
    return channels, height


def check_widths(channel_base: int, width: int, resolution: int) -> None:
    for name, value in (("channel_base", channel_base), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    if channel_base < resolution:
        raise ValueError(f"channel_base={channel_base} leaves the {resolution}x{resolution} layers without channels "
                         f"(channels at resolution r are min(channel_base // r, width)); set channel_base to at least "
                         f"{resolution}")


# ---------------------------------------------------------------------------------------------------------------------
# Generator

class Generator(nn.Module):
    """The StyleGAN2 generator of the module's docstring: G(z, y) == G.synthesis(G.styles(z, y))."""

    def __init__(self, z_dim: int, data_shape: Sequence[int], num_classes: int | None = None, w_dim: int = 512,
                 mapping_layers: int = 8, mapping_lr_mul: float = 0.01, channel_base: int = 32768, width: int = 512,
                 style_mixing: float = 0.9, w_avg_beta: float = 0.995, truncation_psi: float = 1.0,
                 truncation_cutoff: int | None = None, noise_mode: str = "random",
                 fused_modconv: bool | None = None) -> None:
        super().__init__()
        check_num_classes(num_classes)
        img_channels, resolution = image_side(data_shape)
        check_widths(channel_base, width, resolution)
        if not 0.0 <= style_mixing <= 1.0:
            raise ValueError(f"style_mixing is a probability (0: off; StyleGAN2: 0.9), got {style_mixing!r}")
        self.z_dim, self.w_dim, self.num_classes = z_dim, w_dim, num_classes
        self.style_mixing, self.w_avg_beta = style_mixing, w_avg_beta
        self.truncation_psi, self.truncation_cutoff = truncation_psi, truncation_cutoff
        self.synthesis = SynthesisNetwork(w_dim, resolution, img_channels, channel_base, width, noise_mode,
                                          fused_modconv)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, num_classes, w_dim, mapping_layers, mapping_lr_mul, track_w_avg=True)

    @property
    def w_avg(self) -> torch.Tensor:
        """The tracked average w (the buffer mapping.w_avg, as official), what truncation moves towards."""
        return self.mapping.w_avg

    def styles(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(y, self.num_classes)
        w = self.mapping(z, y).float()  # fp32 under autocast too, as the official mapping and w_avg are
        if self.training:
            self.w_avg.copy_(w.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if self.training and self.style_mixing > 0:
            # run_G's crossover, without reading the index on the host (a CUDA graph records the step): the ws from
            # `cutoff` on come from a second z; cutoff = num_ws (no mixing) with probability 1 - style_mixing.
            cutoff = torch.randint(1, self.num_ws, [], device=ws.device)
            cutoff = torch.where(torch.rand([], device=ws.device) < self.style_mixing, cutoff, self.num_ws)
            mixed = self.mapping(torch.randn_like(z), y).float().unsqueeze(1)
            ws = torch.where(torch.arange(self.num_ws, device=ws.device).reshape(1, -1, 1) >= cutoff, mixed, ws)
        if not self.training and self.truncation_psi != 1:
            cutoff = self.num_ws if self.truncation_cutoff is None else self.truncation_cutoff
            ws = torch.cat([self.w_avg.lerp(ws[:, :cutoff], self.truncation_psi), ws[:, cutoff:]], dim=1)
        return ws

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.synthesis(self.styles(z, y))


# ---------------------------------------------------------------------------------------------------------------------
# Discriminator

class Conv(EqualizedConv2d):
    """networks.py Conv2dLayer: an equalized convolution, optionally downsampling 2x (filter, then stride 2), then
    leaky ReLU x sqrt(2) (or none), all times `gain` (the residual blocks' sqrt(1/2))."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activate: bool = True, down: bool = False) -> None:
        super().__init__(in_channels, out_channels, kernel_size, bias=bias)
        self.activate, self.down = activate, down
        if down:
            self.register_buffer("resample_filter", resample_filter())

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        if self.down:
            bias = self.bias * self.bias_gain if self.bias is not None else None
            x = conv2d_down2(x, self.weight * self.weight_gain, bias, self.resample_filter)
        else:
            x = super().forward(x)
        return lrelu(x, gain) if self.activate else x * gain


class DiscriminatorBlock(nn.Module):
    """networks.py DiscriminatorBlock (architecture resnet or orig): fromRGB in the first block, conv0, conv1 down;
    resnet adds a 1x1 downsampling skip, both branches x sqrt(1/2)."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, img_channels: int,
                 architecture: str) -> None:
        super().__init__()
        self.residual = architecture == "resnet"
        if in_channels == 0:
            self.fromrgb = Conv(img_channels, tmp_channels, 1)
        self.conv0 = Conv(tmp_channels, tmp_channels, 3)
        self.conv1 = Conv(tmp_channels, out_channels, 3, down=True)
        if self.residual:
            self.skip = Conv(tmp_channels, out_channels, 1, bias=False, activate=False, down=True)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor) -> torch.Tensor:
        if x is None:
            x = self.fromrgb(img)
        if self.residual:
            return self.skip(x, gain=math.sqrt(0.5)) + self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return self.conv1(self.conv0(x))


class DiscriminatorEpilogue(nn.Module):
    """networks.py DiscriminatorEpilogue at 4x4: minibatch standard deviation, a 3x3 convolution, a fully connected
    layer, the output layer (1 score, or cmap_dim features to project on the label). At a 4x4 dataset no block comes
    first, so it reads the image through a fromRGB of its own (the official code has none there)."""

    def __init__(self, channels: int, img_channels: int, cmap_dim: int, mbstd_group_size: int, mbstd_channels: int,
                 first: bool) -> None:
        super().__init__()
        if first:
            self.fromrgb = Conv(img_channels, channels, 1)
        self.mbstd = MinibatchStddev(mbstd_group_size, mbstd_channels) if mbstd_channels > 0 else None
        self.conv = Conv(channels + mbstd_channels, channels, 3)
        self.fc = FullyConnected(channels * 4 * 4, channels, activate=True)
        self.out = FullyConnected(channels, cmap_dim or 1, activate=False)
        self.cmap_dim = cmap_dim

    def forward(self, x: torch.Tensor | None, img: torch.Tensor, cmap: torch.Tensor | None) -> torch.Tensor:
        if x is None:
            x = self.fromrgb(img)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if cmap is not None:
            x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x


class Discriminator(nn.Module):
    """The StyleGAN2 discriminator of the module's docstring; scores (N,), higher = more real."""

    # Minibatch standard deviation compares the samples of a batch, so the step scores real and fake in separate
    # passes (engine/build.py), as the official loss does: a joint pass would put both into the same groups.
    compares_samples = True

    def __init__(self, data_shape: Sequence[int], num_classes: int | None = None, channel_base: int = 32768,
                 width: int = 512, architecture: str = "resnet", mbstd_group_size: int = 4, mbstd_channels: int = 1,
                 cmap_dim: int | None = None, mapping_layers: int = 8, mapping_lr_mul: float = 0.01) -> None:
        super().__init__()
        check_num_classes(num_classes)
        img_channels, resolution = image_side(data_shape)
        check_widths(channel_base, width, resolution)
        if architecture not in ("resnet", "orig"):
            raise ValueError(f"architecture must be resnet (residual blocks, config F) or orig (plain blocks, the "
                             f"cifar config), got {architecture!r}")
        self.num_classes = num_classes
        self.block_resolutions = [2 ** i for i in range(int(math.log2(resolution)), 2, -1)]
        for res in self.block_resolutions:
            in_channels = channels_at(res, channel_base, width) if res < resolution else 0
            setattr(self, f"b{res}", DiscriminatorBlock(in_channels, channels_at(res, channel_base, width),
                                                        channels_at(res // 2, channel_base, width), img_channels,
                                                        architecture))
        channels = channels_at(4, channel_base, width)
        if num_classes is not None:
            cmap_dim = channels if cmap_dim is None else cmap_dim
            self.mapping = MappingNetwork(0, num_classes, cmap_dim, mapping_layers, mapping_lr_mul)
        self.b4 = DiscriminatorEpilogue(channels, img_channels, cmap_dim if num_classes is not None else 0,
                                        mbstd_group_size, mbstd_channels, first=resolution == 4)

    def forward(self, img: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(y, self.num_classes)
        x = None
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x, img)
        cmap = self.mapping(None, y) if self.num_classes is not None else None
        return self.b4(x, img, cmap).squeeze(1)
