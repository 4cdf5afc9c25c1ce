"""Progressive growing of GANs (Karras et al. 2018): the paper's networks as tkarras/progressive_growing_of_gans
builds them (networks.py G_paper and D_paper with their defaults). Their fused_scale layers are written as what they
compute: D's conv2d_downscale2d is a 3x3 convolution then 2x2 average pooling (the same numbers for the same weights),
G's upscale2d_conv2d a nearest upsampling then a 3x3 convolution (the same numbers for the kernel mirrored spatially:
the same networks at the same N(0, 1) initialisation).

Generator: z normalised to unit mean square, a dense layer to 4x4 x nf(1) (gain sqrt(2)/4, a bias per channel), a
3x3 convolution; then per resolution 8, 16, ... a nearest 2x upsampling and two 3x3 convolutions; leaky ReLU 0.2 and
pixel norm after every layer; a 1x1 toRGB (gain 1, linear) at every resolution. Discriminator: a 1x1 fromRGB (leaky
ReLU) at every resolution; per resolution two 3x3 convolutions, the second followed by 2x2 average pooling before
its activation (the default fused_scale's conv2d_downscale2d); at 4x4 minibatch standard
deviation (group 4), a 3x3 convolution and two dense layers. Equalized learning rate everywhere
(gan_runner/arch/equalized.py). Channels nf(stage) = min(fmap_base / 2^(stage x fmap_decay), fmap_max) as official:
stage s is the level of resolution 2^(s+1).

Every layer of every resolution exists from the start (the official graph holds them all), so the parameter count
never changes with growth. Each network keeps its current resolution and fade-in weight alpha as buffers
(checkpointed; declared `state_buffers`, so that the moving average neither averages nor copies them: the game sets
G's, D's and the average's). As in the official code the networks' images are always at the dataset's resolution:
G computes at its current resolution and upsamples (nearest) to the full size, D average-pools its input down to its
current resolution. So a gradient penalty is taken with respect to the full-size image, as the official
D_wgangp_acgan takes it, and every sampler (evaluation, pictures, gan-sample) gets full-size images. During a fade-in
the new resolution's output is blended with the previous one's by alpha (G: alpha x toRGB(new) + (1 - alpha) x
upsampled toRGB(previous); D: alpha x block(fromRGB(image)) + (1 - alpha) x fromRGB(pooled image))."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gan_runner.arch.equalized import EqualizedConv2d, EqualizedLinear, MinibatchStddev, normalize_2nd_moment

HE = math.sqrt(2)  # get_weight's default gain (networks.py l.22)


def channels(stage: int, fmap_base: int, fmap_decay: float, fmap_max: int) -> int:
    """nf(stage) of networks.py l.167 and l.252."""
    return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)


def log2_side(data_shape) -> int:
    channels_, height, width = data_shape
    side = int(height)
    if height != width or side < 4 or side & (side - 1):
        raise ValueError(f"arch=progan grows square images whose side is a power of two from 4 (4, 8, ..., 1024); the "
                         f"dataset's are {height}x{width}. Fix: dataset.resolution=32 (or another power of two)")
    return int(math.log2(side))


class Growing(nn.Module):
    """What both networks share: the current resolution and alpha (buffers, checkpointed), with Python copies of
    what decides the forward pass's structure (refreshed when a checkpoint is loaded), so a pass never reads a
    device value on the host."""

    state_buffers = ("resolution", "alpha")

    def __init__(self, data_shape) -> None:
        super().__init__()
        self.full_log2 = log2_side(data_shape)
        self.register_buffer("resolution", torch.tensor(4))
        self.register_buffer("alpha", torch.tensor(1.0))
        self.level, self.fading = 2, False  # log2 of the current resolution; whether a fade-in blends
        self.register_load_state_dict_post_hook(lambda module, keys: module._mirror())

    def _mirror(self) -> None:
        self.level = int(self.resolution.item()).bit_length() - 1
        self.fading = bool(self.alpha.item() < 1.0)

    def grow(self, resolution: int, fading: bool) -> None:
        """Trains at `resolution` from now on; with `fading`, blended with the previous resolution by alpha (from 0,
        set each step with `fade`), else alone (alpha 1)."""
        if resolution < 4 or resolution > 2 ** self.full_log2 or resolution & (resolution - 1):
            raise ValueError(f"resolution {resolution} is not a power of two between 4 and {2 ** self.full_log2}")
        self.resolution.fill_(resolution)
        self.alpha.fill_(0.0 if fading and resolution > 4 else 1.0)
        self._mirror()

    def fade(self, alpha: float) -> None:
        """The fade-in's weight of the new resolution (in place: a recorded CUDA graph reads the same tensor)."""
        self.alpha.fill_(alpha)

    @property
    def full_resolution(self) -> int:
        return 2 ** self.full_log2


class Generator(Growing):
    """G_paper (networks.py l.144-229). `z_dim` is the official latent_size, `width` its fmap_max (named as every
    architecture's width, so that debug=fast's width=8 shrinks it)."""

    def __init__(self, z_dim: int, data_shape, num_classes: int | None = None, fmap_base: int = 8192,
                 fmap_decay: float = 1.0, width: int = 512, normalize_latents: bool = True) -> None:
        super().__init__(data_shape)
        if num_classes is not None:
            raise ValueError("arch=progan is unconditional here: the official code conditions by AC-GAN (label "
                             "logits from D), which gan-runner does not build. Fix: conditional=false")
        self.num_classes, self.z_dim, self.normalize_latents = None, z_dim, normalize_latents
        nf = lambda stage: channels(stage, fmap_base, fmap_decay, width)  # noqa: E731
        self.nf1 = nf(1)
        # 4x4: Dense (gain sqrt(2)/4, "to match the original Theano implementation", l.184), its bias per channel
        # after the reshape (apply_bias on [N, nf(1), 4, 4]), then Conv.
        self.dense = EqualizedLinear(z_dim, nf(1) * 16, bias=False, gain=HE / 4)
        self.dense_bias = nn.Parameter(torch.zeros(nf(1)))
        self.blocks = nn.ModuleList([nn.ModuleList([EqualizedConv2d(nf(1), nf(1), 3, gain=HE)])])
        for res in range(3, self.full_log2 + 1):  # Conv0 (after the upsampling) and Conv1, l.194-198
            self.blocks.append(nn.ModuleList([EqualizedConv2d(nf(res - 2), nf(res - 1), 3, gain=HE),
                                              EqualizedConv2d(nf(res - 1), nf(res - 1), 3, gain=HE)]))
        self.to_rgb = nn.ModuleList([EqualizedConv2d(nf(res - 1), data_shape[0], 1, gain=1.0)  # ToRGB_lod, l.200-203
                                     for res in range(2, self.full_log2 + 1)])

    @staticmethod
    def act(x: torch.Tensor) -> torch.Tensor:
        return normalize_2nd_moment(F.leaky_relu(x, 0.2), dim=1)  # PN(act(...)) after every layer

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = normalize_2nd_moment(z, dim=1) if self.normalize_latents else z
        x = self.dense(x).view(-1, self.nf1, 4, 4) + self.dense_bias.view(1, -1, 1, 1)
        x = self.act(self.blocks[0][0](self.act(x)))
        previous = x
        for block in self.blocks[1:self.level - 1]:
            previous = x
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.act(block[1](self.act(block[0](x))))
        image = self.to_rgb[self.level - 2](x)
        if self.fading:  # lerp(toRGB(new), upscale(toRGB(previous)), 1 - alpha), l.213-215
            old = F.interpolate(self.to_rgb[self.level - 3](previous), scale_factor=2, mode="nearest")
            image = torch.lerp(old, image, self.alpha.to(image.dtype))
        scale = 2 ** (self.full_log2 - self.level)
        return F.interpolate(image, scale_factor=scale, mode="nearest") if scale > 1 else image


class Discriminator(Growing):
    """D_paper (networks.py l.234-313), one score per image (label_size 0). `width` is the official fmap_max."""

    compares_samples = True  # minibatch stddev: real and fake are scored in passes of their own, as loss.py's
                             # D_wgangp_acgan calls D on reals and on fakes apart (engine/build.py reads this)

    def __init__(self, data_shape, num_classes: int | None = None, fmap_base: int = 8192, fmap_decay: float = 1.0,
                 width: int = 512, mbstd_group_size: int = 4) -> None:
        super().__init__(data_shape)
        if num_classes is not None:
            raise ValueError("arch=progan is unconditional here: the official code conditions by AC-GAN (label "
                             "logits from D), which gan-runner does not build. Fix: conditional=false")
        self.num_classes = None
        nf = lambda stage: channels(stage, fmap_base, fmap_decay, width)  # noqa: E731
        self.from_rgb = nn.ModuleList([EqualizedConv2d(data_shape[0], nf(res - 1), 1, gain=HE)  # FromRGB_lod, l.261
                                       for res in range(2, self.full_log2 + 1)])
        self.blocks = nn.ModuleList([nn.ModuleList()])  # the 4x4 block is `final`; index = log2(resolution) - 2
        for res in range(3, self.full_log2 + 1):  # Conv0 and Conv1_down (fused_scale, the default), l.266-271
            self.blocks.append(nn.ModuleList([EqualizedConv2d(nf(res - 1), nf(res - 1), 3, gain=HE),
                                              EqualizedConv2d(nf(res - 1), nf(res - 2), 3, gain=HE)]))
        # 4x4, l.276-284: MinibatchStddev, Conv, Dense0, Dense1 (gain 1)
        self.stddev = MinibatchStddev(mbstd_group_size) if mbstd_group_size > 1 else None
        extra = 1 if self.stddev is not None else 0
        self.conv = EqualizedConv2d(nf(1) + extra, nf(1), 3, gain=HE)
        self.dense0 = EqualizedLinear(nf(1) * 16, nf(0), gain=HE)
        self.dense1 = EqualizedLinear(nf(0), 1, gain=1.0)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        scale = 2 ** (self.full_log2 - self.level)
        image = F.avg_pool2d(x, scale) if scale > 1 else x  # downscale2d(images_in, 2**lod), l.303
        h = F.leaky_relu(self.from_rgb[self.level - 2](image), 0.2)
        for index in range(self.level - 2, 0, -1):
            conv0, conv1 = self.blocks[index]
            h = F.leaky_relu(conv0(h), 0.2)
            h = F.leaky_relu(F.avg_pool2d(conv1(h), 2), 0.2)  # Conv1_down: pooled before bias and act, l.269-271
            if index == self.level - 2 and self.fading:  # lerp(block(x), fromRGB(pooled), 1 - alpha), l.296-297
                old = F.leaky_relu(self.from_rgb[self.level - 3](F.avg_pool2d(image, 2)), 0.2)
                h = torch.lerp(old, h, self.alpha.to(h.dtype))
        if self.stddev is not None:
            h = self.stddev(h)
        h = F.leaky_relu(self.conv(h), 0.2)
        h = F.leaky_relu(self.dense0(h.flatten(1)), 0.2)
        return self.dense1(h).squeeze(1)
