"""pytorch-fid's Inception network (the TensorFlow FID Inception, ported) and images turned into its features
exactly as `python -m pytorch_fid` turns image files into them, so that our numbers agree with its numbers.

- Weights: pytorch-fid's file `pt_inception-2015-12-05-6726825d.pth`, looked for where pytorch-fid looks
  (torch hub's cache, `$TORCH_HOME/hub/checkpoints/`) or at a path the user gives; downloaded into the cache
  when absent, with a socket timeout so that an offline machine fails in seconds, not minutes.
- Pixels: uint8 images / 255 (torchvision's ToTensor), one channel repeated into three (PIL's
  `convert("RGB")`), resized to 299 x 299 (bilinear) and scaled to [-1, 1] inside the network.
- Features: the output of block 0, 1, 2 or 3 for dims 64, 192, 768 or 2048 (pytorch-fid's block index),
  averaged over space; logits: the 2048-d pool features times the 1008-way fc weight, without its bias
  (torch-fidelity's "logits_unbiased", the input of its Inception Score), in the same forward pass.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_fid.fid_score import IMAGE_EXTENSIONS
from pytorch_fid.inception import (
    FID_WEIGHTS_URL, FIDInceptionA, FIDInceptionC, FIDInceptionE_1, FIDInceptionE_2, InceptionV3, _inception_v3,
)
from torch import nn
from tqdm.auto import tqdm

from gan_runner.data.image_folder import read_image
from gan_runner.errors import UserError

log = logging.getLogger(__name__)

WEIGHTS_FILE = FID_WEIGHTS_URL.rsplit("/", 1)[-1]  # pt_inception-2015-12-05-6726825d.pth
WEIGHTS_SHA256_PREFIX = "6726825d"  # torch hub names a weights file after the start of its SHA-256
DIMS = tuple(InceptionV3.BLOCK_INDEX_BY_DIM)  # 64, 192, 768, 2048
DOWNLOAD_TIMEOUT_S = 15.0


def hub_weights_path() -> Path:
    """Where pytorch-fid keeps (and first looks for) its weights: torch hub's checkpoint cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download_weights(target: Path) -> None:
    """Fetches pytorch-fid's weights to `target` through a temporary file, checking the SHA-256 prefix
    that the file's name promises. Raises OSError (URLError and socket timeouts are OSErrors) on failure."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        # Unlike pytorch-fid's load_state_dict_from_url, a timeout: a firewalled machine fails in seconds.
        response = urllib.request.urlopen(FID_WEIGHTS_URL, timeout=DOWNLOAD_TIMEOUT_S)
        with response, open(partial, "wb") as out:
            size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=size, unit="B", unit_scale=True, desc=f"downloading {WEIGHTS_FILE}") as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        if not sha256_of(partial).startswith(WEIGHTS_SHA256_PREFIX):
            raise OSError(f"the downloaded file's SHA-256 does not start with {WEIGHTS_SHA256_PREFIX}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def locate_weights(weights: str | None = None, download: bool = True) -> Path:
    """The weights file: `weights` when given, else torch hub's cache, downloaded there first when absent
    and `download` is true. Raises UserError, naming the file and the folder, when it cannot be had."""
    if weights is not None:
        path = Path(str(weights)).expanduser()
        if path.is_file():
            return path
        problem, folder = f"the given path {path} is not a file", path.parent
    else:
        path = hub_weights_path()
        folder = path.parent
        if path.is_file():
            return path
        problem = "downloading it is switched off (download=false)"
        if download:
            try:
                download_weights(path)
                return path
            except OSError as error:
                problem = f"downloading it from {FID_WEIGHTS_URL} failed ({error})"
    raise UserError(
        f"FID and the Inception Score need pytorch-fid's Inception weights {WEIGHTS_FILE}, which are not in "
        f"{folder}: {problem}. Fix: put that file in {hub_weights_path().parent} (on a machine with internet, "
        f"`python -m pytorch_fid` or a browser fetches it from {FID_WEIGHTS_URL}; TORCH_HOME moves the folder), "
        "or give its path with weights=PATH (gan-run metrics.weights=PATH), or choose metrics=none."
    )


def verified_weights(weights: str | None = None, download: bool = True) -> tuple[Path, str]:
    """locate_weights's file and its SHA-256, with a warning when it is not pytorch-fid's file (its scores then do
    not compare with published ones)."""
    path = locate_weights(weights, download)
    sha256 = sha256_of(path)
    if not sha256.startswith(WEIGHTS_SHA256_PREFIX):
        log.warning("The Inception weights %s are not pytorch-fid's (SHA-256 %s...): these FIDs do not compare with "
                    "published ones.", path, sha256[:8])
    return path, sha256


def fid_inception_structure() -> nn.Module:
    """pytorch_fid.inception.fid_inception_v3's network, without its weights: that function downloads them
    from a fixed URL, where we load them from a file of the user's choosing."""
    net = _inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE_1(1280)
    net.Mixed_7c = FIDInceptionE_2(2048)
    return net


def write_random_weights(path: Path, seed: int = 0) -> Path:
    """A weights file for pytorch-fid's network with random weights, for checks of plumbing and speed where the
    real file cannot be had (tests, benchmarks, machines without internet): the convolutions Kaiming-normal,
    since torchvision's default initialisation makes the features vanish through the depth. Its scores are no
    FID; a run that uses it says so (the file's SHA-256 is not pytorch-fid's)."""
    torch.manual_seed(seed)
    net = fid_inception_structure()
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path


class FIDInception(nn.Module):
    """Images in [0, 1] (N x 3 x H x W) -> (features N x dims, logits N x 1008 or None), as pytorch-fid's
    InceptionV3 with output block BLOCK_INDEX_BY_DIM[dims] computes the features. The network is cut after
    the features' block unless `logits` may be asked for, so that dims=64 costs what it costs pytorch-fid."""

    def __init__(self, weights: Path, dims: int = 2048, logits: bool = False) -> None:
        super().__init__()
        net = fid_inception_structure()
        try:
            net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        except Exception as error:  # a truncated download, another network's weights, not a torch file
            raise UserError(
                f"Could not load Inception weights from {weights}: {error}. Fix: replace it with pytorch-fid's "
                f"{WEIGHTS_FILE} (delete it from torch hub's cache and it is downloaded again)."
            ) from None
        self.block = InceptionV3.BLOCK_INDEX_BY_DIM[dims]
        blocks = [
            [net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, nn.MaxPool2d(kernel_size=3, stride=2)],
            [net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, nn.MaxPool2d(kernel_size=3, stride=2)],
            [net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c, net.Mixed_6d,
             net.Mixed_6e],
            [net.Mixed_7a, net.Mixed_7b, net.Mixed_7c, nn.AdaptiveAvgPool2d(output_size=(1, 1))],
        ]
        self.blocks = nn.ModuleList(nn.Sequential(*b) for b in blocks[: 4 if logits else self.block + 1])
        self.fc_weight = nn.Parameter(net.fc.weight.detach()) if logits else None
        self.eval().requires_grad_(False)

    def forward(self, images: torch.Tensor, logits: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        features = None
        for index, block in enumerate(self.blocks[: 4 if logits else self.block + 1]):
            x = block(x)
            if index == self.block:  # maps larger than 1 x 1 (dims < 2048) are averaged, as pytorch-fid does
                features = F.adaptive_avg_pool2d(x, output_size=(1, 1)).flatten(1)
        return features, (x.flatten(1) @ self.fc_weight.T if logits else None)


def inception_network(weights: Path, dims: int, logits: bool, device: torch.device) -> FIDInception:
    """FIDInception on `device`; on a CPU in channels-last layout (oneDNN's convolutions: about 1.5x faster here,
    and within 1e-6 of the default layout)."""
    network = FIDInception(weights, dims, logits=logits).to(device)
    return network.to(memory_format=torch.channels_last) if device.type == "cpu" else network


@torch.no_grad()
def extract(
    network: FIDInception, batches: Iterable[torch.Tensor], total: int, device: torch.device | str = "cpu",
    logits: bool = False, desc: str = "Inception features",
) -> tuple[np.ndarray, np.ndarray | None]:
    """uint8 image batches (N x 1|3 x H x W) -> features (total x dims, float32) and logits when asked."""
    features, all_logits = [], []
    with tqdm(total=total, desc=desc, unit="img", mininterval=1.0, dynamic_ncols=True, leave=False) as bar:
        for batch in batches:
            x = batch.to(device).float() / 255  # ToTensor's division, on uint8 values equal to the PNG's
            if x.shape[1] == 1:  # PIL's convert("RGB") copies grey into all three channels
                x = x.expand(-1, 3, -1, -1)
            f, l = network(x, logits)
            features.append(f)  # kept on the device: one transfer at the end, not a wait each batch
            if logits:
                all_logits.append(l)
            bar.update(len(batch))
    return torch.cat(features).cpu().numpy(), (torch.cat(all_logits).cpu().numpy() if logits else None)


def quantise(images: torch.Tensor) -> torch.Tensor:
    """Generated images in [-1, 1] -> uint8 as this repo writes them to PNG (gan_runner.data.to_uint8_images
    and visualise.image_grid: clamp, x 255, round half to even), so a FID measured in memory equals the FID
    of the same samples written to PNG. (torchvision's save_image rounds half up: it differs only on exact
    ties, which continuous samples practically never hit.)"""
    return ((images.detach().float() + 1) / 2).clamp(0, 1).mul(255).round().to(torch.uint8)  # on their device


def quantised_batches(generated: Iterable[torch.Tensor], batch_size: int) -> Iterator[torch.Tensor]:
    """Generated batches in [-1, 1] (of any size) -> uint8 batches of at most `batch_size` for the network,
    each quantised when its turn comes: one generated batch is in memory at a time, never all n images
    (50,000 at 128 x 128 are 10 GB as float32)."""
    for images in generated:
        yield from quantise(images).split(batch_size)


def image_files(folder: Path) -> list[Path]:
    """The images of a folder as pytorch-fid lists them: not recursive, its lower-case extensions, sorted."""
    return sorted(f for extension in IMAGE_EXTENSIONS for f in folder.glob(f"*.{extension}"))


def read_rgb(path: Path) -> torch.Tensor:
    """One image file -> uint8 3 x H x W, through PIL's convert("RGB") as pytorch-fid reads it."""
    return read_image(path, "RGB")


def file_batches(files: list[Path], batch_size: int) -> Iterator[torch.Tensor]:
    """Batches of up to `batch_size` decoded files; consecutive files of one size share a batch (a folder of
    mixed sizes works, one size at a time, where pytorch-fid's collate fails)."""
    for start in range(0, len(files), batch_size):
        images = [read_rgb(f) for f in files[start : start + batch_size]]
        run = [images[0]]
        for image in images[1:]:
            if image.shape != run[0].shape:
                yield torch.stack(run)
                run = []
            run.append(image)
        yield torch.stack(run)
