"""Metrics of a paired (image-to-image) game: how close the averaged G's outputs for the held-out sources come to
their targets, pair by pair.

The metric is called as every metric is, `metric(sample, dataset)`, where for a paired game `sample(n)` yields, in
batches and in order, the outputs for the first n held-out sources of `dataset.held_out()` (sources, targets,
labels), so that output i is compared with target i. Outputs are clamped to [-1, 1], as the pictures show them.

- `paired/l1`: the mean absolute difference of output and target pixels in [-1, 1] units, pix2pix's L1 loss.
- `paired/psnr` (dB): images mapped to [0, 1]; 10 log10(1 / MSE) of each image (all its pixels and channels), then
  the MEAN OVER IMAGES of those per-image values (not the PSNR of the pooled MSE). An output equal to its target
  (MSE 0) counts as PSNR_CAP_DB = 100 dB, not inf: one inf would make the mean inf, hiding every other image, and
  is not a number JSON files and W&B's charts hold. 100 dB is an MSE of 1e-10, far below 8-bit quantisation's ~1e-6.
- `paired/ssim`: pytorch_msssim.ssim on images mapped to [0, 1] (data_range 1, Gaussian window 11, sigma 1.5,
  K = 0.01, 0.03; the mean of the SSIM map over the valid window positions and over channels) per image, then the
  mean over images; equal to scikit-image's structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1) (tests/test_metrics_paired.py). Needs images of at least 11 x 11.
- `paired/fid` (with `fid: true`): the Fréchet distance of the outputs' Inception features to the targets', with
  pytorch-fid's network and weights as metrics=fid uses them (images quantised to 8 bits as PNGs, one channel
  repeated into three, resized to 299). Refused with fewer pairs than feature dimensions (see `check`).
- With a digits judge (PairedDigits, metrics=paired_digits, for dataset=mnist_edges and mnist_sr):
  `paired/class_agreement`, the fraction of outputs the judge of metrics=mnist_5k (gan_runner/metrics/digits.py)
  labels as their source's digit class, and `paired/frechet`, the Fréchet distance of the outputs to the targets in
  that judge's feature layer (what digits/frechet measures against the training digits).

`checkpoints/best.pt` keeps the highest `paired/ssim`, not the lowest `paired/l1`: L1 is the generator's own
reconstruction loss (weighted 100 in pix2pix), lowest for the blurry average of the plausible targets that the
adversarial loss is there to move G away from; SSIM compares local structure (contrast and correlation), which
blur lowers, and is bounded in [-1, 1], so it reads the same on every dataset.

These numbers are cheap (a held-out set of a few hundred pairs): on several processes each computes them all from
the whole sample (`rows` is not used) and process 0's values are kept, as for metrics=digits. The targets' side of
the Fréchet distances is computed once per metric object.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch
from pytorch_msssim import ssim

from gan_runner.errors import UserError
from gan_runner.metrics import Metric, Sampler
from gan_runner.metrics.digits import DigitsClassifier, MNIST5kDigits, to_judge
from gan_runner.metrics.fid import frechet_distance, statistics
from gan_runner.metrics.inception import DIMS, extract, inception_network, quantise, verified_weights

PSNR_CAP_DB = 100.0  # an output equal to its target (MSE 0): see the module's docstring
SSIM_WINDOW, SSIM_SIGMA = 11, 1.5


def unit_range(images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] -> float64 in [0, 1] (clamped), on the CPU."""
    return ((images.detach().double().cpu() + 1) / 2).clamp(0, 1)


def per_image_l1(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of each pair in [-1, 1] units (pix2pix's L1 loss, per image)."""
    return (outputs.double().clamp(-1, 1) - targets.double()).abs().flatten(1).mean(1)


def per_image_psnr(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of each pair of images in [-1, 1], mapped to [0, 1] (data range 1), capped at PSNR_CAP_DB."""
    mse = (unit_range(outputs) - unit_range(targets)).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(1 / mse)).clamp(max=PSNR_CAP_DB)  # mse 0: log10(inf) = inf, then the cap


def per_image_ssim(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """SSIM of each pair of images in [-1, 1], mapped to [0, 1]: pytorch_msssim's, in float64."""
    return ssim(unit_range(outputs), unit_range(targets), data_range=1.0, size_average=False,
                win_size=SSIM_WINDOW, win_sigma=SSIM_SIGMA)


class Paired(Metric):
    """paired/l1, paired/psnr, paired/ssim (and paired/fid with fid=True) of the first `n` held-out pairs (None:
    all of them); see the module's docstring. dims, weights, download, batch_size, device: the Inception network's,
    as metrics=fid takes them."""

    best_key = "paired/ssim"
    higher_is_better = True
    option = "paired"  # as the user chooses it (metrics=...), for the refusals

    def __init__(self, n: int | None = None, every: int = 0, fid: bool = False, dims: int = 2048,
                 weights: str | None = None, download: bool = True, batch_size: int = 50, device: str = "auto") -> None:
        super().__init__(every)
        if n is not None and n < 1:
            raise UserError(f"metrics.n={n}: the paired metrics need at least one held-out pair. Fix: metrics.n=null "
                            "(every held-out pair) or a positive count.")
        if dims not in DIMS:
            raise UserError(f"metrics.dims={dims} is not one of pytorch-fid's feature sizes {list(DIMS)}. Fix: "
                            "dims=2048 (the standard FID), or 64, 192, 768 for the earlier blocks.")
        self.n, self.fid, self.dims, self.batch_size = n, bool(fid), dims, batch_size
        self.weights, self.download = weights, download
        self.device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device)
        self.weights_path, self.weights_sha256 = None, ""
        self._network = None
        self._held_out: tuple[object, tuple] | None = None  # (dataset, its held_out()): read once, not per evaluation
        self._target_statistics: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # the targets' side, computed once

    def held_out(self, dataset: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """dataset.held_out() (sources, targets, labels), asked once per dataset (a folder's are read from disk)."""
        if self._held_out is None or self._held_out[0] is not dataset:
            self._held_out = (dataset, dataset.held_out())
            self._target_statistics.clear()  # they were another dataset's
        return self._held_out[1]

    def pairs(self, dataset: Any) -> int:
        """How many held-out pairs are measured: n, or all of them."""
        return len(self.held_out(dataset)[1]) if self.n is None else self.n

    def check(self, dataset: object) -> None:
        if not getattr(dataset, "paired", False):
            raise UserError(
                f"metrics={self.option} needs a paired dataset (source and target images, compared pair by pair "
                f"on its held-out pairs), but {type(dataset).__name__} is not one. Fix: train game=paired on a "
                "paired dataset (dataset=mnist_edges, dataset=mnist_sr, or pix2pix's folders), or choose this "
                "dataset's own metric (metrics=digits, mnist_5k, fid, toy) or metrics=none."
            )
        available = len(self.held_out(dataset)[1])
        if self.n is not None and self.n > available:
            raise UserError(f"metrics.n={self.n}, but the dataset holds {available} held-out pairs. Fix: "
                            f"metrics.n=null (all {available}) or a smaller count.")
        side = min(dataset.shape[-2:])
        if side < SSIM_WINDOW:
            raise UserError(f"metrics={self.option} measures SSIM with an {SSIM_WINDOW}x{SSIM_WINDOW} window, but the "
                            f"target images are {dataset.shape[-2]}x{dataset.shape[-1]}. Fix: targets of at least "
                            f"{SSIM_WINDOW}x{SSIM_WINDOW} pixels, or metrics=none.")
        if self.fid:
            self.check_fid(self.pairs(dataset), "held-out pairs", "pairs", "outputs")

    def check_fid(self, count: int, held: str, unit: str, measured: str) -> None:
        """With metrics.fid: refuses fewer held-out images (`count` of them, `held` saying which, `unit` what they
        are) than Inception feature dimensions, then finds and verifies the weights once."""
        if count < self.dims:
            fewer = [str(d) for d in DIMS if d < count]
            smaller = f"metrics.dims={' or '.join(fewer)} (fewer dimensions than {unit}), " if fewer else ""
            raise UserError(
                f"metrics.fid=true measures FID with {self.dims}-dimensional Inception features on {count} "
                f"{held}: with fewer images than dimensions the covariances are singular and the FID is "
                f"dominated by that bias, not by the {measured}. Fix: {smaller}a dataset with more held-out {unit}"
                f"{'' if self.n is None else ' (metrics.n=null uses them all)'}, or metrics.fid=false.")
        if self.weights_path is None:
            self.weights_path, self.weights_sha256 = verified_weights(self.weights, self.download)

    def protocol(self) -> dict[str, str]:
        described = {
            "n": "all held-out pairs" if self.n is None else str(self.n),
            "l1": "mean |output - target| in [-1, 1], over pixels then images",
            "psnr": f"per image on [0, 1] (data range 1), mean over images, capped at {PSNR_CAP_DB:g} dB",
            "ssim": f"pytorch_msssim.ssim per image on [0, 1], data range 1, Gaussian window {SSIM_WINDOW}, "
                    f"sigma {SSIM_SIGMA}; mean over images",
        }
        if self.fid:
            described["fid"] = (f"outputs vs targets, {self.dims}-d pytorch-fid Inception features, weights "
                                f"{self.weights_path} (SHA-256 {self.weights_sha256}), uint8 as PNG")
        return described

    def inception_features(self, batches: Any, count: int, desc: str) -> np.ndarray:
        """Inception features (count x dims) of image batches in [-1, 1], quantised to 8 bits as metrics=fid does."""
        if self._network is None:
            self._network = inception_network(self.weights_path, self.dims, False, self.device)
        quantised = (q for images in batches for q in quantise(images).split(self.batch_size))
        return extract(self._network, quantised, count, self.device, False, desc)[0]

    def __call__(self, sample: Sampler, dataset: object) -> dict[str, float]:
        if self.fid and self.weights_path is None:  # not checked before (the engine and gan-eval check first)
            self.check(dataset)
        n = self.pairs(dataset)
        targets = self.held_out(dataset)[1][:n]
        l1, psnr, ssims, output_features, done = [], [], [], [], 0
        for outputs in sample(n):
            outputs = outputs.detach().float().cpu().clamp(-1, 1)
            real = targets[done : done + len(outputs)]
            if real.shape != outputs.shape:
                raise ValueError(f"outputs {tuple(outputs.shape)} for held-out targets {tuple(real.shape)} "
                                 f"(pairs {done} to {done + len(outputs)} of {n})")
            l1.append(per_image_l1(outputs, real))
            psnr.append(per_image_psnr(outputs, real))
            ssims.append(per_image_ssim(outputs, real))
            if self.fid:
                output_features.append(self.inception_features([outputs], len(outputs), "Inception features: outputs"))
            done += len(outputs)
        if done != n:
            raise ValueError(f"the sampler yielded {done} outputs for {n} held-out pairs")
        values = {"paired/l1": torch.cat(l1).mean().item(), "paired/psnr": torch.cat(psnr).mean().item(),
                  "paired/ssim": torch.cat(ssims).mean().item()}
        if self.fid:
            if "inception" not in self._target_statistics:
                self._target_statistics["inception"] = statistics(
                    self.inception_features(targets.split(self.batch_size), n, "Inception features: targets"))
            values["paired/fid"] = frechet_distance(*statistics(np.concatenate(output_features)),
                                                    *self._target_statistics["inception"])
        return values


class PairedDigits(Paired):
    """Paired's numbers and, for digit targets with class labels (dataset=mnist_edges, mnist_sr), the judge of
    metrics=mnist_5k on the outputs: paired/class_agreement (the fraction labelled as their source's class) and
    paired/frechet (outputs against targets in the judge's feature layer). `digits` is the judge's real digits, as
    metrics=mnist_5k takes it (MNIST5kDigits), and `seed` the judge's fitting seed; the fitted judge is shared with
    that metric (fitted_judges)."""

    option = "paired_digits"

    def __init__(self, digits: object = None, seed: int = 0, **options: Any) -> None:
        super().__init__(**options)
        # metrics=mnist_5k's metric, used for its judge (classifier and features); its n_samples is not used here
        self.judge = DigitsClassifier(n_samples=1, seed=seed, digits=digits if digits is not None else MNIST5kDigits())

    def check(self, dataset: object) -> None:
        super().check(dataset)
        labels = self.held_out(dataset)[2]
        if dataset.shape[0] != 1 or labels is None:
            raise UserError(
                f"metrics=paired_digits judges one-channel digits whose held-out pairs carry their class, but "
                f"{type(dataset).__name__}'s targets have shape {list(dataset.shape)} and "
                f"{'no class labels' if labels is None else 'class labels'}. Fix: metrics=paired_digits with "
                "dataset=mnist_edges or dataset=mnist_sr; metrics=paired for other paired datasets.")

    def protocol(self) -> dict[str, str]:
        return {**super().protocol(), "judge": self.judge.protocol()["judge"]}

    def judged(self, images: torch.Tensor) -> np.ndarray:
        """Images in [-1, 1] as the judge reads them (pooled to its side, 0-16)."""
        return to_judge(images, self.judge.side)

    def __call__(self, sample: Sampler, dataset: object) -> dict[str, float]:
        seen: list[np.ndarray] = []

        def recorded(n: int, rows: tuple[int, int] | None = None) -> Iterator[torch.Tensor]:
            for outputs in sample(n) if rows is None else sample(n, rows=rows):  # kept pooled (196 numbers a digit)
                seen.append(self.judged(outputs.detach().float().cpu().clamp(-1, 1)))
                yield outputs

        values = super().__call__(recorded, dataset)
        n = self.pairs(dataset)
        _, targets, labels = self.held_out(dataset)
        outputs = np.concatenate(seen)
        agreement = self.judge.classifier.predict(outputs) == labels[:n].numpy()
        if "judge" not in self._target_statistics:
            self._target_statistics["judge"] = statistics(self.judge.features(self.judged(targets[:n])))
        values["paired/class_agreement"] = float(agreement.mean())
        values["paired/frechet"] = frechet_distance(*statistics(self.judge.features(outputs)),
                                                    *self._target_statistics["judge"])
        return values
