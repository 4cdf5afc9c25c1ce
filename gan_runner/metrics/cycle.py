"""Metrics of the cycle (unpaired image-to-image) game: how well the averaged generators translate each domain's
held-out images into the other domain and back.

The metric is called as every metric is, `metric(sample, dataset)`, where for the cycle game `sample` is an object
with `sample.translate(direction, images)` ("a_to_b" or "b_to_a"; CPU images in [-1, 1] of that direction's input
domain -> their translations, CPU, in [-1, 1], repeatable), and `dataset.held_out_domains()` gives
(a, labels_a, b, labels_b): each domain's held-out images at the served size and their classes or None. The first
`n` of each domain are measured (null: all). Translations are clamped to [-1, 1], as the pictures show them.

- `cycle/reconstruction_a`: mean |b_to_a(a_to_b(a)) - a| over pixels, then images, in [-1, 1] units: the cycle
  loss's L1 (unweighted); `cycle/reconstruction_b` likewise from B. A generator pair that copies its input scores 0
  here, so these say that the cycle closes, not that the translations look like the other domain.
- `cycle/fid_b` (with `fid: true`): a_to_b(held-out A) against the held-out real B images in pytorch-fid's Inception
  features, exactly as metrics=paired's paired/fid (Paired's plumbing: 8-bit quantisation, one channel repeated into
  three, the same weights check); `cycle/fid_a`: b_to_a(held-out B) against held-out real A. Refused with fewer
  held-out images than feature dimensions.
- With a digit judge per domain (CycleDigits, metrics=cycle_digits, for dataset=mnist_digits8), each judge being
  metrics=digits' (gan_runner/metrics/digits.py: an RBF SVC on the digits pooled to its side, and a small network
  whose hidden layer gives the Fréchet features), fitted on its own domain's training digits and shared through
  fitted_judges:
  - `cycle/class_kept_a_to_b`: the fraction of held-out A images whose translation judge_b labels as the A image's
    class; `cycle/class_kept_a_to_b_floor`: judge_b on the UNtranslated A images, what copying the input scores;
    `cycle/class_kept_b_to_a` and its `_floor` with judge_a;
  - `cycle/judge_a_real`, `cycle/judge_b_real`: each judge's accuracy on its own domain's held-out images as served
    (pooled to its side): the ceiling, what a translation indistinguishable from that domain's real digit of the
    same class would score;
  - `cycle/class_kept`: the mean of the two ways; checkpoints/best.pt keeps the highest;
  - `cycle/frechet_b`: the translations into B against the held-out real B images in judge_b's feature layer;
    `cycle/frechet_a` likewise with judge_a.

metrics=cycle keeps no best.pt: its reconstruction errors are lowest for generators that copy their input, and its
FIDs are optional. These numbers are cheap (a few hundred held-out images a domain): on several processes each
computes them all and process 0's values are kept, as for metrics=paired. What stays the same between evaluations
(the real images' statistics, the floors, the ceilings) is computed once per dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from gan_runner.errors import UserError
from gan_runner.metrics.digits import DigitsClassifier, MNIST5kDigits, ScikitDigits, to_judge
from gan_runner.metrics.fid import frechet_distance, statistics
from gan_runner.metrics.paired import Paired, per_image_l1


class Domain(NamedTuple):
    """The first n held-out images of one domain (N x C x H x W in [-1, 1]) and their classes (or None)."""

    images: torch.Tensor
    labels: torch.Tensor | None


@dataclass(frozen=True)
class Way:
    """One direction of translation, from domain `source` ("a" or "b") into domain `target`."""

    source: str
    target: str

    @property
    def forward(self) -> str:
        return f"{self.source}_to_{self.target}"

    @property
    def back(self) -> str:
        return f"{self.target}_to_{self.source}"


WAYS = (Way("a", "b"), Way("b", "a"))


class Cycle(Paired):
    """cycle/reconstruction_a, cycle/reconstruction_b (and cycle/fid_a, cycle/fid_b with fid=True) of the first `n`
    held-out images of each domain (None: all); see the module's docstring. Paired's options and Inception plumbing
    (dims, weights, download, batch_size, device as metrics=fid takes them), on the held-out images of two domains
    instead of held-out pairs."""

    best_key = None  # see the module's docstring: no number of metrics=cycle tells translating from copying
    option = "cycle"  # as the user chooses it (metrics=...), for the refusals

    def __init__(self, n: int | None = None, **options: Any) -> None:
        if n is not None and n < 1:
            raise UserError(f"metrics.n={n}: metrics={self.option} needs at least one held-out image of each domain. "
                            "Fix: metrics.n=null (every held-out image) or a positive count.")
        super().__init__(n=n, **options)

    def held_out_domains(self, dataset: Any) -> dict[str, Domain]:
        """{"a": Domain, "b": Domain}: every held-out image of each domain, asked once per dataset (a folder's are
        read from disk)."""
        if self._held_out is None or self._held_out[0] is not dataset:
            a, labels_a, b, labels_b = dataset.held_out_domains()
            self._held_out = (dataset, {"a": Domain(a, labels_a), "b": Domain(b, labels_b)})
            self._target_statistics.clear()  # they were another dataset's
        return self._held_out[1]

    def domains(self, dataset: Any) -> dict[str, Domain]:
        """The first n held-out images of each domain (all of them when n is None), and their labels."""
        return {name: Domain(domain.images[: self.n], None if domain.labels is None else domain.labels[: self.n])
                for name, domain in self.held_out_domains(dataset).items()}

    def counts(self, dataset: Any) -> dict[str, int]:
        """How many held-out images of each domain are measured."""
        return {name: len(domain.images) for name, domain in self.domains(dataset).items()}

    def check(self, dataset: object) -> None:
        if not getattr(dataset, "unpaired", False):
            raise UserError(
                f"metrics={self.option} needs an unpaired dataset (two domains of images, A and B, each with held-out "
                f"images to translate into the other and back), but {type(dataset).__name__} is not one. Fix: train "
                "game=cycle on an unpaired dataset (dataset=mnist_digits8, or dataset=unpaired_folder with "
                "trainA/ trainB/ testA/ testB/ folders), or choose this dataset's own metric (metrics=paired for a "
                "paired dataset; digits, mnist_5k, fid, toy) or metrics=none.")
        held = {name: len(domain.images) for name, domain in self.held_out_domains(dataset).items()}
        empty = [name.upper() for name, count in held.items() if count == 0]
        if empty:
            raise UserError(f"metrics={self.option} measures each domain's held-out images, but "
                            f"{type(dataset).__name__} holds none of domain {' or '.join(empty)}. Fix: held-out "
                            "images of both domains (a folder dataset's testA/ and testB/), or metrics=none.")
        if self.n is not None and self.n > min(held.values()):
            raise UserError(f"metrics.n={self.n}, but the dataset holds {held['a']} held-out images of domain A and "
                            f"{held['b']} of domain B. Fix: metrics.n=null (all of each) or at most "
                            f"{min(held.values())}.")
        if self.fid:
            self.check_fid(min(self.counts(dataset).values()), "held-out images of a domain", "images",
                           "translations")

    def protocol(self) -> dict[str, str]:
        described = {
            "n": "all held-out images of each domain" if self.n is None else f"the first {self.n} of each domain",
            "reconstruction": "mean |b_to_a(a_to_b(a)) - a| (and from B) in [-1, 1] units, over pixels then images: "
                              "the cycle loss's L1, unweighted",
        }
        if self._held_out is not None:
            described["counts"] = ", ".join(f"{name.upper()}: {count} held-out images"
                                            for name, count in self.counts(self._held_out[0]).items())
        if self.fid:
            described["fid"] = (f"translations into each domain vs its held-out real images, {self.dims}-d pytorch-fid "
                                f"Inception features, weights {self.weights_path} (SHA-256 {self.weights_sha256}), "
                                "uint8 as PNG")
        return described

    def __call__(self, sample: Any, dataset: object) -> dict[str, float]:
        if self.fid and self.weights_path is None:  # not checked before (the engine and gan-eval check first)
            self.check(dataset)
        domains = self.domains(dataset)
        values: dict[str, float] = {}
        for way in WAYS:
            source = domains[way.source].images
            translated = translation(sample, way.forward, source, domains[way.target].images.shape[1:])
            reconstructed = translation(sample, way.back, translated, source.shape[1:])
            values[f"cycle/reconstruction_{way.source}"] = per_image_l1(reconstructed, source).mean().item()
            values.update(self.measured(way, translated, domains))
        return values

    def measured(self, way: Way, translated: torch.Tensor, domains: dict[str, Domain]) -> dict[str, float]:
        """What is measured of one way's translations (held-out images of way.source, now in domain way.target)."""
        if not self.fid:
            return {}
        real = domains[way.target].images
        key = f"inception_{way.target}"
        if key not in self._target_statistics:
            self._target_statistics[key] = statistics(self.inception_features(
                real.split(self.batch_size), len(real), f"Inception features: real {way.target.upper()}"))
        features = self.inception_features(translated.split(self.batch_size), len(translated),
                                           f"Inception features: {way.forward}")
        return {f"cycle/fid_{way.target}": frechet_distance(*statistics(features), *self._target_statistics[key])}


def translation(sample: Any, direction: str, images: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """sample.translate(direction, images), on the CPU in float, clamped to [-1, 1]; its shape checked against the
    images of the domain it translates into (N x `shape`)."""
    translated = sample.translate(direction, images).detach().float().cpu().clamp(-1, 1)
    if translated.shape != (len(images), *shape):
        raise ValueError(f"translate({direction!r}) returned {tuple(translated.shape)} for {len(images)} images; "
                         f"expected {(len(images), *shape)}")
    return translated


class CycleDigits(Cycle):
    """Cycle's numbers and, for one-channel digit domains with class labels (dataset=mnist_digits8), a digit judge
    per domain (metrics=digits' judge, DigitsClassifier): the class each translation keeps against the floor of the
    untranslated inputs and the ceiling of the judges' accuracy on real held-out digits, and Fréchet distances in the
    judges' feature layers. `judge_a` and `judge_b` are each domain's real digits (MNIST5kDigits, ScikitDigits: the
    `digits` of metrics=mnist_5k and metrics=digits), `seed` the judges' fitting seed; fitted once (fitted_judges)."""

    best_key = "cycle/class_kept"
    higher_is_better = True
    option = "cycle_digits"

    def __init__(self, judge_a: object = None, judge_b: object = None, seed: int = 0, **options: Any) -> None:
        super().__init__(**options)
        # metrics=digits' metric, used for its judge (classifier and features); its n_samples is not used here
        self.judges = {"a": DigitsClassifier(n_samples=1, seed=seed, digits=judge_a or MNIST5kDigits()),
                       "b": DigitsClassifier(n_samples=1, seed=seed, digits=judge_b or ScikitDigits(seed))}

    def check(self, dataset: object) -> None:
        super().check(dataset)
        unfit = [f"domain {name.upper()}'s images are {list(domain.images.shape[1:])} and "
                 f"{'have no class labels' if domain.labels is None else 'labelled'}"
                 for name, domain in self.domains(dataset).items()
                 if domain.labels is None or domain.images.shape[1] != 1]
        if unfit:
            raise UserError(
                f"metrics={self.option} judges one-channel digits whose held-out images carry their class, but "
                f"{type(dataset).__name__}'s {' and '.join(unfit)}. Fix: metrics={self.option} with "
                "dataset=mnist_digits8; metrics=cycle for other unpaired datasets.")

    def protocol(self) -> dict[str, str]:
        described = super().protocol()
        for name, judge in self.judges.items():
            described[f"judge_{name}"] = (f"{judge.digits.name} (domain {name.upper()}'s judge): "
                                          f"{judge.protocol()['judge']}")
        return described

    def judged(self, name: str, images: torch.Tensor) -> np.ndarray:
        """Images in [-1, 1] as domain `name`'s judge reads them (pooled to its side, 0-16)."""
        return to_judge(images, self.judges[name].side)

    def accuracy(self, name: str, images: torch.Tensor, labels: torch.Tensor) -> float:
        """The fraction of `images` domain `name`'s judge labels as `labels`."""
        return float((self.judges[name].classifier.predict(self.judged(name, images)) == labels.numpy()).mean())

    def __call__(self, sample: Any, dataset: object) -> dict[str, float]:
        values = super().__call__(sample, dataset)
        values["cycle/class_kept"] = (values["cycle/class_kept_a_to_b"] + values["cycle/class_kept_b_to_a"]) / 2
        return values

    def measured(self, way: Way, translated: torch.Tensor, domains: dict[str, Domain]) -> dict[str, float]:
        values = super().measured(way, translated, domains)
        source, target, judge = domains[way.source], domains[way.target], self.judges[way.target]
        if f"real_{way.target}" not in self._target_statistics:  # the same at every evaluation
            self._target_statistics[f"real_{way.target}"] = (
                self.accuracy(way.target, target.images, target.labels),
                self.accuracy(way.target, source.images, source.labels),  # the floor: the inputs, untranslated
                statistics(judge.features(self.judged(way.target, target.images))))
        ceiling, floor, real_statistics = self._target_statistics[f"real_{way.target}"]
        values[f"cycle/class_kept_{way.forward}"] = self.accuracy(way.target, translated, source.labels)
        values[f"cycle/class_kept_{way.forward}_floor"] = floor
        values[f"cycle/judge_{way.target}_real"] = ceiling
        values[f"cycle/frechet_{way.target}"] = frechet_distance(
            *statistics(judge.features(self.judged(way.target, translated))), *real_statistics)
        return values
