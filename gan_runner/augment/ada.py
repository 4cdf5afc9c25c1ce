"""ADA, adaptive discriminator augmentation (Karras, Aittala, Hellsten, Laine, Lehtinen & Aila 2020, "Training
Generative Adversarial Networks with Limited Data"), after NVlabs/stylegan2-ada-pytorch:

- the pipeline: training/augment.py's AugmentPipe, the transforms of its 'bgc' set (train.py l.279): pixel blitting
  (x-flip, 90-degree rotations, integer translation), general geometric transforms (isotropic scaling, rotation,
  anisotropic scaling, fractional translation) and colour transforms (brightness, contrast, luma flip, hue rotation,
  saturation), each applied to each image with probability p x its multiplier, with the official distributions,
  matrices and order of random draws (augment.py l.192-366). Not built: image-space filtering, additive noise and
  cutout (its 'f', 'n' and 'c' sets, not in 'bgc').
- the geometric transforms executed as the official code does (l.269-301): reflect padding, 2x upsampling with the
  sym6 wavelet, bilinear grid_sample, 2x downsampling, all differentiable with respect to the image; upfirdn2d is
  written here with conv2d (the official reference implementation, torch_utils/ops/upfirdn2d.py l.169-208).
  Deviation: the reflect padding is always the largest the official code pads (width - 1, height - 1 on each
  side: its margin's upper clamp, l.282), rather than the margin that the drawn transforms need, read back from
  the GPU (l.283). The step then has fixed shapes and never waits for the device (a CUDA graph records it); the
  pixels differ only where the official margin stops short of that clamp and its zero padding would show, which
  its margin keeps out of reach (2 x the filter's half-length beyond the image's transformed corners).
- the control of p (training/training_loop.py l.311-315): the signs of D's scores of the (augmented) real images
  are summed over `interval` D updates; then r_t = their mean, and p moves by sign(r_t - target) x (images in
  the interval) / (kimg x 1000), never below 0. Done on the device without branches (a CUDA graph records it).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gan_runner import distributed
from gan_runner.augment import Augmentation, draw
from gan_runner.errors import UserError

# The sym6 wavelet's low-pass filter, the geometric transforms' (augment.py l.36, l.167).
SYM6 = [0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633, 0.4910559419267466,
        0.787641141030194, 0.3379294217276218, -0.07263752278646252, -0.021060292512300564, 0.04472490177066578,
        0.0017677118642428036, -0.007800708325034148]


def matrix(*rows: list, device: torch.device) -> torch.Tensor:
    """A matrix per image from rows of numbers and per-image tensors (augment.py l.43-51): [batch, rows, cols]."""
    elements = [x for row in rows for x in row]
    reference = next((x for x in elements if isinstance(x, torch.Tensor)), None)
    if reference is None:  # filled on the device, not copied from the host: a CUDA graph can record it
        reference = torch.zeros((), device=device)
    elements = [x if isinstance(x, torch.Tensor) else torch.full_like(reference, x) for x in elements]
    return torch.stack(elements, dim=-1).reshape(reference.shape + (len(rows), -1))


def translate2d(tx, ty, device=None):
    return matrix([1, 0, tx], [0, 1, ty], [0, 0, 1], device=device)


def translate3d(tx, ty, tz, device=None):
    return matrix([1, 0, 0, tx], [0, 1, 0, ty], [0, 0, 1, tz], [0, 0, 0, 1], device=device)


def scale2d(sx, sy, device=None):
    return matrix([sx, 0, 0], [0, sy, 0], [0, 0, 1], device=device)


def scale3d(sx, sy, sz, device=None):
    return matrix([sx, 0, 0, 0], [0, sy, 0, 0], [0, 0, sz, 0], [0, 0, 0, 1], device=device)


def rotate2d(theta, device=None):
    return matrix([torch.cos(theta), torch.sin(-theta), 0], [torch.sin(theta), torch.cos(theta), 0], [0, 0, 1],
                  device=device)


def rotate3d(v, theta, device=None):
    vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
    s, c = torch.sin(theta), torch.cos(theta)
    cc = 1 - c
    return matrix([vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
                  [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
                  [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
                  [0, 0, 0, 1], device=device)


def translate2d_inv(tx, ty, device=None):
    return translate2d(-tx, -ty, device=device)


def scale2d_inv(sx, sy, device=None):
    return scale2d(1 / sx, 1 / sy, device=device)


def rotate2d_inv(theta, device=None):
    return rotate2d(-theta, device=device)


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1, padding: tuple = (0, 0, 0, 0),
              flip_filter: bool = False, gain: float = 1) -> torch.Tensor:
    """Upsample by zeros, pad (negative: crop), convolve with the separable filter `f`, downsample
    (torch_utils/ops/upfirdn2d.py's _upfirdn2d_ref, l.169-208, for a separable filter)."""
    batch, channels, height, width = x.shape
    x = x.reshape(batch, channels, height, 1, width, 1)
    x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape(batch, channels, height * up, width * up)
    px0, px1, py0, py1 = padding
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0):x.shape[2] - max(-py1, 0), max(-px0, 0):x.shape[3] - max(-px1, 0)]
    f = (f * gain ** 0.5).to(x.dtype)
    if not flip_filter:
        f = f.flip(0)
    f = f[None, None].repeat(channels, 1, 1)
    x = F.conv2d(x, f.unsqueeze(2), groups=channels)
    x = F.conv2d(x, f.unsqueeze(3), groups=channels)
    return x[:, :, ::down, ::down]


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """2x (upfirdn2d.py's upsample2d, l.308-343, up=2, padding 0)."""
    taps = len(f)
    pad0, pad1 = (taps + 1) // 2, (taps - 2) // 2
    return upfirdn2d(x, f, up=2, padding=(pad0, pad1, pad0, pad1), gain=4)


def downsample2d(x: torch.Tensor, f: torch.Tensor, padding: int, flip_filter: bool) -> torch.Tensor:
    """1/2 (upfirdn2d.py's downsample2d, l.347-382, down=2)."""
    taps = len(f)
    pad0, pad1 = padding + (taps - 1) // 2, padding + (taps - 2) // 2
    return upfirdn2d(x, f, down=2, padding=(pad0, pad1, pad0, pad1), flip_filter=flip_filter)


class ADA(Augmentation):
    """augment=ada: AugmentPipe's 'bgc' transforms with the adaptive probability p (the module's docstring). Each
    transform's multiplier (1: on, 0: off) and spread are AugmentPipe's arguments (augment.py l.118-164);
    `target` None keeps p fixed (stylegan2-ada's --aug=fixed)."""

    name = "ada"

    def __init__(self, p: float = 0.0, target: float | None = 0.6, interval: int = 4, kimg: float = 500,
                 xflip: float = 1, rotate90: float = 1, xint: float = 1, xint_max: float = 0.125,
                 scale: float = 1, rotate: float = 1, aniso: float = 1, xfrac: float = 1, scale_std: float = 0.2,
                 rotate_max: float = 1, aniso_std: float = 0.2, xfrac_std: float = 0.125,
                 brightness: float = 1, contrast: float = 1, lumaflip: float = 1, hue: float = 1,
                 saturation: float = 1, brightness_std: float = 0.2, contrast_std: float = 0.5, hue_max: float = 1,
                 saturation_std: float = 1) -> None:
        super().__init__()
        if p < 0 or interval < 1 or kimg <= 0 or (target is not None and not 0 <= target <= 1):
            raise ValueError(f"ada needs p >= 0, interval >= 1, kimg > 0 and a target in [0, 1] (or null: p fixed); "
                             f"got p={p}, interval={interval}, kimg={kimg}, target={target}")
        self.target, self.interval, self.kimg = target, int(interval), float(kimg)
        self.xflip, self.rotate90, self.xint, self.xint_max = float(xflip), float(rotate90), float(xint), xint_max
        self.scale, self.rotate, self.aniso, self.xfrac = float(scale), float(rotate), float(aniso), float(xfrac)
        self.scale_std, self.rotate_max, self.aniso_std, self.xfrac_std = scale_std, rotate_max, aniso_std, xfrac_std
        self.brightness, self.contrast, self.lumaflip = float(brightness), float(contrast), float(lumaflip)
        self.hue, self.saturation = float(hue), float(saturation)
        self.brightness_std, self.contrast_std = brightness_std, contrast_std
        self.hue_max, self.saturation_std = hue_max, saturation_std
        # The state a checkpoint keeps: p, and the signs summed since the last adjustment (with their count and
        # the D updates observed, whose multiples of `interval` adjust p).
        self.register_buffer("p", torch.tensor(float(p)))
        self.register_buffer("sign_sum", torch.zeros(()))
        self.register_buffer("sign_count", torch.zeros(()))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))
        self.register_buffer("Hz_geom", torch.tensor(SYM6) / sum(SYM6), persistent=False)  # setup_filter: sum 1

    def check(self, shape: tuple, paired: bool) -> None:
        super().check(shape, paired)
        colour = self.brightness or self.contrast or self.lumaflip or self.hue or self.saturation
        if colour and shape[0] not in (1, 3):
            raise UserError(f"augment=ada's colour transforms work on RGB or greyscale images (3 or 1 channels), as "
                            f"the official pipeline's (augment.py l.359-365), and these have {shape[0]}. Fix: "
                            "augment.brightness=0 augment.contrast=0 augment.lumaflip=0 augment.hue=0 "
                            "augment.saturation=0, or augment=diffaugment.")

    def observe(self, real_scores: torch.Tensor) -> dict[str, torch.Tensor]:
        """After each D update: the signs of its real scores join the interval's sum; every `interval` updates p
        moves one official step towards r_t = target (training_loop.py l.312-315) and the sum restarts."""
        signs = real_scores.detach().float().sign()
        sums = torch.stack([signs.sum(), torch.full_like(signs[0], len(signs))])
        distributed.average([sums])  # the mean over processes: the ratio is the global batch's mean sign
        stats = {"aug/rt": sums[0] / sums[1]}
        if self.target is None:
            return {**stats, "aug/p": self.p.detach().clone()}
        self.sign_sum += sums[0]
        self.sign_count += sums[1]
        self.updates += 1
        due = self.updates % self.interval == 0
        rt = self.sign_sum / self.sign_count.clamp(min=1)
        images = self.sign_count * distributed.size()  # the interval's images over all processes
        adjusted = (self.p + torch.sign(rt - self.target) * images / (self.kimg * 1000)).clamp(min=0)
        self.p.copy_(torch.where(due, adjusted, self.p))
        self.sign_sum.copy_(torch.where(due, torch.zeros_like(self.sign_sum), self.sign_sum))
        self.sign_count.copy_(torch.where(due, torch.zeros_like(self.sign_count), self.sign_count))
        return {**stats, "aug/p": self.p.detach().clone()}

    def _rand(self, *shape: int, device: torch.device) -> torch.Tensor:
        return draw(torch.rand, shape, device)

    def _randn(self, *shape: int, device: torch.device) -> torch.Tensor:
        return draw(torch.randn, shape, device)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """augment.py's AugmentPipe.forward (l.181-366), 'bgc' part, with the padding above."""
        batch_size, num_channels, height, width = images.shape
        device, rand, randn = images.device, self._rand, self._randn
        p = self.p

        # Pixel blitting (l.192-218): G_inv @ pixel_out ==> pixel_in.
        I_3 = torch.eye(3, device=device)
        G_inv = I_3
        if self.xflip > 0:
            i = torch.floor(rand(batch_size, device=device) * 2)
            i = torch.where(rand(batch_size, device=device) < self.xflip * p, i, torch.zeros_like(i))
            G_inv = G_inv @ scale2d_inv(1 - 2 * i, 1)
        if self.rotate90 > 0:
            i = torch.floor(rand(batch_size, device=device) * 4)
            i = torch.where(rand(batch_size, device=device) < self.rotate90 * p, i, torch.zeros_like(i))
            G_inv = G_inv @ rotate2d_inv(-math.pi / 2 * i)
        if self.xint > 0:
            t = (rand(batch_size, 2, device=device) * 2 - 1) * self.xint_max
            t = torch.where(rand(batch_size, 1, device=device) < self.xint * p, t, torch.zeros_like(t))
            G_inv = G_inv @ translate2d_inv(torch.round(t[:, 0] * width), torch.round(t[:, 1] * height))

        # General geometric transformations (l.224-263).
        if self.scale > 0:
            s = torch.exp2(randn(batch_size, device=device) * self.scale_std)
            s = torch.where(rand(batch_size, device=device) < self.scale * p, s, torch.ones_like(s))
            G_inv = G_inv @ scale2d_inv(s, s)
        p_rot = 1 - torch.sqrt((1 - self.rotate * p).clamp(0, 1))  # P(pre OR post) = p
        if self.rotate > 0:
            theta = (rand(batch_size, device=device) * 2 - 1) * math.pi * self.rotate_max
            theta = torch.where(rand(batch_size, device=device) < p_rot, theta, torch.zeros_like(theta))
            G_inv = G_inv @ rotate2d_inv(-theta)  # before anisotropic scaling
        if self.aniso > 0:
            s = torch.exp2(randn(batch_size, device=device) * self.aniso_std)
            s = torch.where(rand(batch_size, device=device) < self.aniso * p, s, torch.ones_like(s))
            G_inv = G_inv @ scale2d_inv(s, 1 / s)
        if self.rotate > 0:
            theta = (rand(batch_size, device=device) * 2 - 1) * math.pi * self.rotate_max
            theta = torch.where(rand(batch_size, device=device) < p_rot, theta, torch.zeros_like(theta))
            G_inv = G_inv @ rotate2d_inv(-theta)  # after anisotropic scaling
        if self.xfrac > 0:
            t = randn(batch_size, 2, device=device) * self.xfrac_std
            t = torch.where(rand(batch_size, 1, device=device) < self.xfrac * p, t, torch.zeros_like(t))
            G_inv = G_inv @ translate2d_inv(t[:, 0] * width, t[:, 1] * height)

        if G_inv is not I_3:  # some geometric transform is on (l.269-301)
            Hz_pad = len(self.Hz_geom) // 4
            # The official margin's upper clamp on every side (the module's docstring); symmetric, so the origin's
            # adjustment (l.287) is a translation by 0.
            images = F.pad(images, [width - 1, width - 1, height - 1, height - 1], mode="reflect")
            images = upsample2d(images, self.Hz_geom)
            G_inv = scale2d(2, 2, device=device) @ G_inv @ scale2d_inv(2, 2, device=device)
            G_inv = translate2d(-0.5, -0.5, device=device) @ G_inv @ translate2d_inv(-0.5, -0.5, device=device)
            shape = [batch_size, num_channels, (height + Hz_pad * 2) * 2, (width + Hz_pad * 2) * 2]
            G_inv = scale2d(2 / images.shape[3], 2 / images.shape[2], device=device) @ G_inv @ \
                scale2d_inv(2 / shape[3], 2 / shape[2], device=device)
            grid = F.affine_grid(G_inv[:, :2, :].to(images.dtype), size=shape, align_corners=False)
            images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            images = downsample2d(images, self.Hz_geom, padding=-Hz_pad * 2, flip_filter=True)

        # Colour transformations (l.307-366): C @ colour_in ==> colour_out.
        I_4 = torch.eye(4, device=device)
        C = I_4
        if self.brightness > 0:
            b = randn(batch_size, device=device) * self.brightness_std
            b = torch.where(rand(batch_size, device=device) < self.brightness * p, b, torch.zeros_like(b))
            C = translate3d(b, b, b) @ C
        if self.contrast > 0:
            c = torch.exp2(randn(batch_size, device=device) * self.contrast_std)
            c = torch.where(rand(batch_size, device=device) < self.contrast * p, c, torch.ones_like(c))
            C = scale3d(c, c, c) @ C
        v = torch.ones(4, device=device) / math.sqrt(3)  # the luma axis (1, 1, 1, 0) / sqrt(3)
        v[3] = 0
        if self.lumaflip > 0:
            i = torch.floor(rand(batch_size, 1, 1, device=device) * 2)
            i = torch.where(rand(batch_size, 1, 1, device=device) < self.lumaflip * p, i, torch.zeros_like(i))
            C = (I_4 - 2 * v.outer(v) * i) @ C  # Householder reflection
        if self.hue > 0 and num_channels > 1:
            theta = (rand(batch_size, device=device) * 2 - 1) * math.pi * self.hue_max
            theta = torch.where(rand(batch_size, device=device) < self.hue * p, theta, torch.zeros_like(theta))
            C = rotate3d(v, theta) @ C  # rotation about the luma axis
        if self.saturation > 0 and num_channels > 1:
            s = torch.exp2(randn(batch_size, 1, 1, device=device) * self.saturation_std)
            s = torch.where(rand(batch_size, 1, 1, device=device) < self.saturation * p, s, torch.ones_like(s))
            C = (v.outer(v) + (I_4 - v.outer(v)) * s) @ C
        if C is not I_4:
            C = C.to(images.dtype)
            images = images.reshape(batch_size, num_channels, height * width)
            if num_channels == 3:
                images = C[:, :3, :3] @ images + C[:, :3, 3:]
            else:  # greyscale (check refuses other channel counts): the mean of the RGB rows
                C = C[:, :3, :].mean(dim=1, keepdim=True)
                images = images * C[:, :, :3].sum(dim=2, keepdim=True) + C[:, :, 3:]
            images = images.reshape(batch_size, num_channels, height, width)
        return images
