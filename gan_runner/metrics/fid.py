"""FID, Inception Score, KID and precision/recall from pytorch-fid's Inception, agreeing with pytorch-fid.

Generated images are quantised to 8 bits as PNG files would be and fed to the network as pytorch-fid feeds
image files (see inception.py), so an in-memory FID equals `python -m pytorch_fid` on the same samples
written to PNG. Each image passes through the network once: the same features serve FID, KID and
precision/recall, and the Inception Score's logits come from the same forward pass.

- FID: ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^1/2) of the features' means and covariances (float64).
- Inception Score, as torch-fidelity defines it: logits without the fc bias, shuffled with seed 2020,
  softmax in float64, exp(E KL(p(y|x) || p(y))) in 10 splits; mean and std over the splits.
- KID (Binkowski et al. 2018), as torch-fidelity: the unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3 over
  100 random subsets of 1000 (of min(1000, n) for smaller sets, as clean-fid); mean and std.
- Precision and recall (Kynkaanniemi et al. 2019) with k = 3: the fraction of generated samples inside
  the real samples' k-NN balls, and of real samples inside the generated ones', in the same features.

Real-data statistics are computed once and cached on disk: `<key>.npz` in pytorch-fid's format (`mu`,
`sigma`; `python -m pytorch_fid` reads it) and the features beside it as `<key>.features.npy` (KID and
precision/recall need them). The key names the dataset, split, resolution, image count, dims, the
weights file's SHA-256 and the images' own SHA-256, so changed data or weights never hit a stale entry.

Metric names record the protocol as stylegan2-ada's do: `fid10k_train` (10,000 generated images
against the training images), `kid10k_train_mean`/`_std`, `precision10k_train`, `recall10k_train`,
`is10k_mean`/`_std`; features other than the standard 2048-d add `_<dims>d` (e.g. `fid500_train_64d`).
`protocol()` gives the rest (weights file and hash, dims, counts, the reference) for summary.json.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from gan_runner import distributed
from gan_runner.errors import UserError
from gan_runner.metrics import Metric, Sampler
from gan_runner.metrics.inception import (
    DIMS, FIDInception, extract, file_batches, image_files, inception_network, quantised_batches, verified_weights,
)
from gan_runner.run_directory import replacing

log = logging.getLogger(__name__)

SEED = 2020  # torch-fidelity's seed for the Inception Score's shuffle and KID's subsets
IS_SPLITS = 10
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000
PR_NEIGHBOURS = 3
SPLITS = ("train", "test")


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, float64) of N x d features, as pytorch-fid computes them."""
    features = np.asarray(features, dtype=np.float64)
    if len(features) < features.shape[1]:
        log.warning(
            "FID from %d images of %d-dimensional features: the covariance is singular and the FID is biased "
            "upwards; use more images than dimensions (10,000 or more for numbers comparable with papers).",
            len(features), features.shape[1],
        )
    return features.mean(0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^1/2), in float64.

    tr((sigma1 sigma2)^1/2) is the sum of the square roots of the eigenvalues of sigma1 sigma2, which equal
    those of the symmetric positive semi-definite sigma1^1/2 sigma2 sigma1^1/2. Taking them with eigh and
    clipping rounding's tiny negative ones at 0 keeps the result real and finite for rank-deficient
    covariances (fewer samples than dimensions), where scipy's sqrtm in pytorch-fid can fail or turn complex.
    """

    def resolvable(eigenvalues: np.ndarray) -> np.ndarray:
        # Eigenvalues below rounding's reach (numpy's matrix_rank tolerance) are zeros in disguise; their
        # square roots would turn 1e-16 of noise into 1e-8 each, summed over the null space.
        tolerance = np.abs(eigenvalues).max(initial=0) * len(eigenvalues) * np.finfo(np.float64).eps
        return np.where(eigenvalues > tolerance, eigenvalues, 0.0)

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics of different dimensions: {mu1.shape} and {mu2.shape}")
    values, vectors = np.linalg.eigh(sigma1)
    root1 = (vectors * np.sqrt(resolvable(values))) @ vectors.T
    middle = root1 @ sigma2 @ root1
    trace_root = np.sqrt(resolvable(np.linalg.eigvalsh((middle + middle.T) / 2))).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_root)


def inception_score(logits: np.ndarray, splits: int = IS_SPLITS) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) in `splits` chunks of the shuffled logits; their mean and std
    (torch-fidelity's isc_features_to_metric). Fewer samples than splits: one chunk a sample."""
    n = len(logits)
    splits = min(splits, n)
    logits = torch.as_tensor(np.asarray(logits)[np.random.RandomState(SEED).permutation(n)]).double()
    p, log_p = logits.softmax(1), logits.log_softmax(1)
    scores = []
    for i in range(splits):
        chunk = slice(i * n // splits, (i + 1) * n // splits)
        log_p_y = p[chunk].mean(0, keepdim=True).log()
        # 0 log 0 = 0: classes no sample predicts would otherwise give 0 x inf = NaN (torch-fidelity does)
        kl = torch.where(p[chunk] > 0, p[chunk] * (log_p[chunk] - log_p_y), 0.0).sum(1)
        scores.append(kl.mean().exp().item())
    return float(np.mean(scores)), float(np.std(scores))


def kernel_inception_distance(
    fake: np.ndarray, real: np.ndarray, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
    device: torch.device | str = "cpu",
) -> tuple[float, float]:
    """The unbiased MMD^2 with the cubic polynomial kernel over random subsets (torch-fidelity's kid, with
    min(subset_size, n) as clean-fid does instead of refusing small sets); mean and std over the subsets.
    In float64 on `device` (the subsets drawn by numpy, as torch-fidelity draws them)."""
    m, d = min(subset_size, len(fake), len(real)), np.shape(fake)[1]
    rng = np.random.RandomState(SEED)
    fake_rows, real_rows = (torch.as_tensor(np.asarray(a, np.float64), device=device) for a in (fake, real))
    values = []
    for _ in range(subsets):
        x = fake_rows[torch.as_tensor(rng.choice(len(fake), m, replace=False), device=device)]
        y = real_rows[torch.as_tensor(rng.choice(len(real), m, replace=False), device=device)]
        k_xx, k_yy, k_xy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        within = (k_xx.sum() - k_xx.trace() + k_yy.sum() - k_yy.trace()) / (m * (m - 1))
        values.append(within - 2 * k_xy.sum() / m**2)
    values = torch.stack(values).cpu().numpy()
    return float(np.mean(values)), float(np.std(values))


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = PR_NEIGHBOURS, device: torch.device | str = "cpu"
                     ) -> tuple[float, float]:
    """Kynkaanniemi et al. 2019: each sample's ball reaches its k-th nearest neighbour in its own set;
    precision is the fraction of generated samples inside some real ball, recall the fraction of real
    samples inside some generated ball. Distances in float32 on `device`, 1,000 rows at a time (50,000
    samples: 2.5 billion distances, minutes on a CPU, a second on a GPU)."""
    real, fake = (torch.as_tensor(np.asarray(a, np.float32), device=device) for a in (real, fake))

    def radii(points: torch.Tensor) -> torch.Tensor:  # the (k+1)-th smallest distance skips the point itself
        return torch.cat([torch.cdist(rows, points).kthvalue(k + 1, dim=1).values for rows in points.split(1000)])

    def covered(points: torch.Tensor, centres: torch.Tensor, radius: torch.Tensor) -> float:
        inside = [(torch.cdist(rows, centres) <= radius).any(1) for rows in points.split(1000)]
        return torch.cat(inside).double().mean().item()

    return covered(fake, real, radii(real)), covered(real, fake, radii(fake))


@dataclass
class Reference:
    """The real side: statistics always; features when computed here (KID and precision/recall need them)."""

    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray | None
    description: str


@dataclass
class RealImages:
    """Real images not yet through the network: a readable name, their count, a digest of their content
    (for the cache key) and a function batch_size -> uint8 batches."""

    name: str
    count: int
    digest: str
    batches: Callable[[int], Iterable[torch.Tensor]]
    description: str


def dataset_images(dataset: object, split: str, n: int) -> RealImages:
    """The images of an in-memory dataset (`split` train: the dataset as configured; test: its test_split()),
    a fixed random subset (seed 0) of n when it holds more."""
    source = dataset if split == "train" else dataset.test_split()
    images = source.images
    total = len(images)
    if total > n:
        images = images[torch.randperm(total, generator=torch.Generator().manual_seed(0))[:n].sort().values]
    digest = hashlib.sha256(images.contiguous().numpy().tobytes()).hexdigest()
    name = f"{type(dataset).__name__.lower()}_{split}_{images.shape[-1]}px"
    which = "its test split" if split == "test" else "as configured"
    return RealImages(name, len(images), digest, lambda b: images.split(b),
                      f"reference={split}: {type(dataset).__name__} {which}, {len(images)} of {total} images "
                      f"at {images.shape[-1]}px (subset seed 0)")


def folder_images(folder: Path) -> RealImages:
    """Every image of a folder (pytorch-fid's listing), streamed from disk; the digest hashes the files."""
    files = image_files(folder)
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    name = re.sub(r"[^a-z0-9]+", "-", folder.name.lower()).strip("-") or "folder"
    return RealImages(f"folder-{name}", len(files), digest.hexdigest(), lambda b: file_batches(files, b),
                      f"folder {folder.resolve()} ({len(files)} images)")


def load_statistics(path: Path, dims: int) -> Reference:
    """A .npz of pytorch-fid's format (`mu`, `sigma`), and the features saved beside it when there are."""
    try:
        with np.load(path) as stats:
            mu, sigma = stats["mu"][:], stats["sigma"][:]
    except Exception as error:
        raise UserError(f"Could not read FID statistics from {path}: {error}. Fix: give a .npz with arrays mu and "
                        "sigma, as `python -m pytorch_fid --save-stats` writes it.") from None
    if mu.shape != (dims,) or sigma.shape != (dims, dims):
        raise UserError(f"The statistics in {path} are {mu.shape[0]}-dimensional, but dims={dims}. Fix: give "
                        f"dims={mu.shape[0]}, or statistics computed with {dims}-dimensional features.")
    features_file = path.with_suffix(".features.npy")
    features = np.load(features_file) if features_file.is_file() else None
    return Reference(mu, sigma, features, f"statistics {path.resolve()}")


def save_statistics(path: Path, features: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> None:
    """Features first, then the .npz, each through a temporary file: the .npz's presence means both are whole,
    and two runs of a sweep writing one entry never leave half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, write in ((path.with_suffix(".features.npy"), lambda h: np.save(h, features)),
                          (path, lambda h: np.savez_compressed(h, mu=mu, sigma=sigma))):
        with replacing(target, temporary=target.with_name(f".{target.name}.{os.getpid()}.tmp")) as handle:
            write(handle)


def compare(fake: np.ndarray, logits: np.ndarray | None, reference: Reference, kid: bool = True,
            precision_and_recall: bool = True, device: torch.device | str = "cpu") -> dict[str, float]:
    """Every score the inputs allow: fid; is_mean, is_std with logits; kid_mean, kid_std, precision, recall
    when asked for and the reference has features (those two computed on `device`)."""
    scores = {"fid": frechet_distance(*statistics(fake), reference.mu, reference.sigma)}
    if logits is not None:
        scores["is_mean"], scores["is_std"] = inception_score(logits)
    if reference.features is not None:
        if kid:
            scores["kid_mean"], scores["kid_std"] = kernel_inception_distance(fake, reference.features, device=device)
        if precision_and_recall and min(len(fake), len(reference.features)) > PR_NEIGHBOURS:
            scores["precision"], scores["recall"] = precision_recall(reference.features, fake, device=device)
    elif kid or precision_and_recall:
        log.info("KID and precision/recall need real features, which %s lacks: skipped.", reference.description)
    return scores


def count_label(n: int) -> str:
    """10000 -> 10k, 1000 -> 1k, 500 -> 500, as in stylegan2-ada's metric names."""
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


class FID(Metric):
    """FID (and IS, KID, precision/recall) of `n_samples` generated images against a reference: the run's
    `train` images, the `test` split of a torchvision dataset, a folder of images, or a .npz of statistics.
    Everything costly (weights, network, reference statistics) happens once, on first use."""

    def __init__(
        self, n_samples: int = 10000, reference: str = "train", every: int = 0, batch_size: int = 50,
        dims: int = 2048, weights: str | None = None, download: bool = True,
        cache_dir: str = "~/.cache/gan-runner/fid_stats", inception_score: bool | None = None, kid: bool = True,
        precision_recall: bool = True, device: str = "auto",
    ) -> None:
        super().__init__(every)
        if dims not in DIMS:
            raise UserError(f"dims={dims} is not one of pytorch-fid's feature sizes {list(DIMS)}. Fix: dims=2048 "
                            "(the standard FID), or 64, 192, 768 for the earlier blocks.")
        if n_samples < 2 or batch_size < 1:
            raise UserError(f"n_samples={n_samples} and batch_size={batch_size}: FID needs at least 2 images and "
                            "a positive batch size. Fix: n_samples=10000 (50000 for numbers comparable with papers).")
        self.n_samples, self.reference, self.batch_size, self.dims = n_samples, str(reference), batch_size, dims
        self.weights, self.download = weights, download
        self.cache_dir = Path(str(cache_dir)).expanduser()
        # The logits cost nothing more at dims=2048 (the pool features are the fc's input), the rest of the
        # network at smaller dims: then only when asked for.
        self.with_logits = dims == 2048 if inception_score is None else bool(inception_score)
        self.kid, self.precision_recall = kid, precision_recall
        self.device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device)
        self.weights_path: Path | None = None
        self.weights_sha256 = ""
        self._network: FIDInception | None = None
        self._reference: Reference | None = None
        self.best_key = self.names()["fid"]  # checkpoints/best.pt keeps the lowest FID (higher_is_better: False)

    def reference_label(self) -> str:
        if self.reference in SPLITS:
            return self.reference
        return re.sub(r"[^a-z0-9]+", "_", Path(self.reference).stem.lower()).strip("_") or "reference"

    def names(self) -> dict[str, str]:
        """Our plain score names -> the protocol-recording metric names."""
        n, suffix = count_label(self.n_samples), "" if self.dims == 2048 else f"_{self.dims}d"
        against = f"{n}_{self.reference_label()}{suffix}"
        return {"fid": f"fid{against}", "kid_mean": f"kid{against}_mean", "kid_std": f"kid{against}_std",
                "precision": f"precision{against}", "recall": f"recall{against}",
                "is_mean": f"is{n}_mean", "is_std": f"is{n}_std"}

    def check(self, dataset: object) -> None:
        shape = tuple(getattr(dataset, "shape", ()))
        if dataset is not None and (len(shape) != 3 or shape[0] not in (1, 3)):
            raise UserError(f"metrics=fid measures images, but the dataset's samples have shape {list(shape)}. "
                            "Fix: choose metrics=toy for the 2-D mixtures, or metrics=none.")
        if self.reference in SPLITS:
            if not hasattr(dataset, "images"):
                raise UserError(f"reference={self.reference} means the run's own dataset, and there is none here. "
                                "Fix: give a folder of images or a .npz of statistics as the reference.")
            if self.reference == "test" and not hasattr(dataset, "test_split"):
                raise UserError(f"reference=test needs a dataset with a test split (mnist, fashion_mnist, cifar10, mnist_5k); "
                                f"{type(dataset).__name__} has none. Fix: reference=train, or a folder of images "
                                "or a .npz of statistics.")
        else:
            path = Path(self.reference).expanduser()
            if not ((path.suffix == ".npz" and path.is_file()) or (path.is_dir() and len(image_files(path)) > 1)):
                raise UserError(f"reference={self.reference} is neither train, test, a folder holding at least two "
                                "images (.png, .jpg, ...; not searched recursively, as pytorch-fid) nor a .npz file "
                                "of statistics. Fix: give one of those.")
        if self.weights_path is None:
            self.weights_path, self.weights_sha256 = verified_weights(self.weights, self.download)

    def network(self) -> FIDInception:
        if self._network is None:
            self._network = inception_network(self.weights_path, self.dims, self.with_logits, self.device)
        return self._network

    def features(self, batches: Iterable[torch.Tensor], count: int, logits: bool, desc: str
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        return extract(self.network(), batches, count, self.device, logits, desc)

    def reference_statistics(self, dataset: object) -> Reference:
        """The reference's statistics (and features), from the disk cache or computed and cached once."""
        if self._reference is not None:
            return self._reference
        path = Path(self.reference).expanduser()
        if self.reference not in SPLITS and path.suffix == ".npz":
            self._reference = load_statistics(path, self.dims)
            return self._reference
        if self.reference in SPLITS:
            real = dataset_images(dataset, self.reference, self.n_samples)
        else:
            real = folder_images(path)
        key = f"{real.name}_{real.count}_{self.dims}d_w{self.weights_sha256[:8]}_{real.digest[:12]}"
        cached = self.cache_dir / f"{key}.npz"
        if cached.is_file() and cached.with_suffix(".features.npy").is_file():
            self._reference = load_statistics(cached, self.dims)
        else:  # on several processes each computes them (none waits for another), and process 0 caches them
            features, _ = self.features(real.batches(self.batch_size), real.count, False, "Inception features: real")
            mu, sigma = statistics(features)
            if distributed.is_main():
                save_statistics(cached, features, mu, sigma)
            self._reference = Reference(mu, sigma, features, "")
        self._reference.description = f"{real.description}; cached in {cached}"
        return self._reference

    def evaluate(self, fake: Iterable[torch.Tensor], count: int, dataset: object) -> dict[str, float]:
        """Plain-named scores (fid, is_mean, ...) of `count` generated uint8 images given in batches. On several
        processes each gives its share (distributed.rows) and the features are gathered, in order, on all."""
        if self.weights_path is None:
            self.check(dataset)
        reference = self.reference_statistics(dataset)
        features, logits = self.features(fake, count, self.with_logits, "Inception features: generated")
        features, logits = distributed.gather_rows(features), distributed.gather_rows(logits)
        return compare(features, logits, reference, self.kid, self.precision_recall, self.device)

    def __call__(self, sample: Sampler, dataset: object) -> dict[str, float]:
        # One call for all n (the sampler draws the same z each time, so several calls would repeat images),
        # consumed a batch at a time: generated, quantised and through the network before the next is drawn.
        # On several processes each generates and embeds its own rows of the n.
        start, stop = distributed.rows(self.n_samples)
        fake = quantised_batches(sample(self.n_samples, rows=(start, stop)), self.batch_size)
        scores = self.evaluate(fake, stop - start, dataset)
        names = self.names()
        return {names[key]: value for key, value in scores.items()}

    def protocol(self) -> dict[str, str]:
        """How the numbers were made, for summary.json: they compare only when these agree."""
        reference = self._reference.description if self._reference is not None else self.reference
        return {
            "weights": str(self.weights_path), "weights_sha256": self.weights_sha256, "dims": str(self.dims),
            "n": str(self.n_samples), "reference": reference, "quantisation": "uint8, round half to even, as PNG",
            "inception_score": f"{IS_SPLITS} splits, logits without fc bias" if self.with_logits else "off",
            "kid": f"{KID_SUBSETS} subsets of min({KID_SUBSET_SIZE}, n)" if self.kid else "off",
            "precision_recall": f"k={PR_NEIGHBOURS}" if self.precision_recall else "off",
        }
