"""The cycle game's metrics (gan_runner/metrics/cycle.py: metrics=cycle, metrics=cycle_digits) and its picture
(gan_runner.pictures.cycle_picture), against closed forms: a translation that copies its input reconstructs exactly
and keeps each class exactly as often as the floor; one that returns the other domain's real digits of the same class
keeps them exactly as often as that domain's judge labels its real digits (the ceiling). The unpaired dataset and the
game's sampler are made here, following issue 37's contract (held_out_domains() -> a, labels_a, b, labels_b in
[-1, 1]; sample.translate(direction, images)): domain A mnist_5k's held-out digits at 32x32, domain B scikit-learn's
held-out 8x8 digits enlarged (nearest) to 32x32, as dataset=mnist_digits8 serves them."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from sklearn.datasets import load_digits

from gan_runner.data import to_uint8_images
from gan_runner.errors import UserError
from gan_runner.metrics.cycle import Cycle, CycleDigits
from gan_runner.pictures import cycle_picture
from tests.conftest import make_config


class TwoDomains:
    """An unpaired dataset as issue 37's contract has it, over given held-out images of domains A and B."""

    unpaired = True
    num_classes = None

    def __init__(self, a: torch.Tensor, labels_a: torch.Tensor | None, b: torch.Tensor,
                 labels_b: torch.Tensor | None) -> None:
        self.a, self.labels_a, self.b, self.labels_b = a, labels_a, b, labels_b
        self.shape, self.source_shape = tuple(b.shape[1:]), tuple(a.shape[1:])

    def held_out_domains(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
        return self.a.clone(), self.labels_a, self.b.clone(), self.labels_b


class Translator:
    """The cycle game's sampler: `sample.translate(direction, images)` by the given function of each direction."""

    def __init__(self, a_to_b: Callable[[torch.Tensor], torch.Tensor],
                 b_to_a: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.ways = {"a_to_b": a_to_b, "b_to_a": b_to_a}
        self.asked: list[tuple[str, int]] = []

    def translate(self, direction: str, images: torch.Tensor) -> torch.Tensor:
        self.asked.append((direction, len(images)))
        return self.ways[direction](images.clone())


def identity(images: torch.Tensor) -> torch.Tensor:
    return images


@pytest.fixture(scope="module")
def digits8() -> TwoDomains:
    """dataset=mnist_digits8's held-out images: B scikit-learn's 450 held-out digits (train_and_held_out(0), the
    split metrics=digits' judge is not trained on) enlarged to 32x32; A mnist_5k's held-out digits at 32x32 (the last
    50 of each class, the digits its judge is not trained on), as many of each class as B holds, so that a
    translation can map each domain onto the other's real digits of the same class one to one."""
    from gan_runner.data.digits import train_and_held_out
    from gan_runner.data.mnist_5k import read_digits, split

    digits = load_digits()
    held_out = train_and_held_out(0)[1]
    b = F.interpolate(torch.from_numpy(digits.images[held_out]).float().unsqueeze(1) / 8 - 1, size=32, mode="nearest")
    labels_b = torch.from_numpy(digits.target[held_out]).long()
    pixels, classes = read_digits()
    mnist_held_out = split(classes, train=False)
    chosen = np.concatenate([mnist_held_out[classes[mnist_held_out] == c][: int((labels_b == c).sum())]
                             for c in range(10)])
    a = to_uint8_images(torch.from_numpy(pixels[chosen]).float().unsqueeze(1) / 255, 32, 1).float() / 127.5 - 1
    return TwoDomains(a, torch.from_numpy(classes[chosen]).long(), b, labels_b)


def same_class(source: TwoDomains) -> Translator:
    """Translations that map each domain's held-out digits one to one onto the other's of the same class (the i-th
    of class c in A to the i-th of class c in B, and back), looked up by the image: an exact cycle."""
    counterpart: dict[bytes, torch.Tensor] = {}
    for c in range(10):
        for a, b in zip(source.a[source.labels_a == c], source.b[source.labels_b == c], strict=True):
            counterpart[a.numpy().tobytes()], counterpart[b.numpy().tobytes()] = b, a
    assert len(counterpart) == len(source.a) + len(source.b)  # no digit twice: the map is one to one

    def translate(images: torch.Tensor) -> torch.Tensor:
        return torch.stack([counterpart[image.numpy().tobytes()] for image in images])

    return Translator(translate, translate)


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> CycleDigits:
    """metrics=cycle_digits as gan-run builds it (its judges are fitted once a process: fitted_judges keeps them; on
    disk in a folder of the tests' own, never the user's cache)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GAN_RUNNER_CACHE", str(tmp_path_factory.mktemp("cycle-judges")))
        return instantiate(make_config("metrics=cycle_digits").metrics)


def test_a_translation_that_copies_its_input_reconstructs_exactly_and_keeps_the_class_as_often_as_the_floor(
        judged: CycleDigits, digits8: TwoDomains) -> None:
    judged.check(digits8)
    sample = Translator(identity, identity)
    values = judged(sample, digits8)
    assert values["cycle/reconstruction_a"] == 0 and values["cycle/reconstruction_b"] == 0
    for way in ("a_to_b", "b_to_a"):
        assert values[f"cycle/class_kept_{way}"] == values[f"cycle/class_kept_{way}_floor"]
    # The floor is the target domain's judge on the other domain's digits: far below the ceiling (thin MNIST strokes
    # read at 8x8, blocky 8x8 digits read at 14x14).
    assert values["cycle/class_kept_a_to_b_floor"] < values["cycle/judge_b_real"] - 0.4
    assert values["cycle/class_kept_b_to_a_floor"] < values["cycle/judge_a_real"] - 0.4
    assert values["cycle/class_kept"] == pytest.approx(
        (values["cycle/class_kept_a_to_b"] + values["cycle/class_kept_b_to_a"]) / 2)
    assert values["cycle/frechet_b"] > 1 and values["cycle/frechet_a"] > 1  # A's digits are not B's
    assert sample.asked == [("a_to_b", 450), ("b_to_a", 450), ("b_to_a", 450), ("a_to_b", 450)]


def test_a_translation_into_the_other_domains_real_digits_of_the_same_class_reaches_the_ceiling(
        judged: CycleDigits, digits8: TwoDomains) -> None:
    values = judged(same_class(digits8), digits8)
    judge_b, judge_a = judged.judges["b"], judged.judges["a"]
    # The ceilings are each judge's accuracy on its own domain's held-out digits as served, here at 32x32.
    assert values["cycle/judge_b_real"] == pytest.approx(
        (judge_b.classifier.predict(judged.judged("b", digits8.b)) == digits8.labels_b.numpy()).mean())
    assert 0.93 < values["cycle/judge_b_real"] and 0.9 < values["cycle/judge_a_real"] < 0.98
    assert values["cycle/class_kept_a_to_b"] == values["cycle/judge_b_real"]
    assert values["cycle/class_kept_b_to_a"] == values["cycle/judge_a_real"]
    assert values["cycle/class_kept"] > max(values["cycle/class_kept_a_to_b_floor"],
                                            values["cycle/class_kept_b_to_a_floor"]) + 0.3
    # Each domain's translations are that domain's held-out digits, in another order: Fréchet distance 0; and each
    # digit comes back as itself.
    assert values["cycle/frechet_b"] == pytest.approx(0, abs=1e-6)
    assert values["cycle/frechet_a"] == pytest.approx(0, abs=1e-6)
    assert values["cycle/reconstruction_a"] == 0 and values["cycle/reconstruction_b"] == 0
    assert judged.better(values["cycle/class_kept"], judged(Translator(identity, identity), digits8)["cycle/class_kept"])
    assert judged.best_key == "cycle/class_kept" and judge_a is not judge_b
    protocol = judged.protocol()
    assert protocol["judge_a"].startswith("mnist_5k (domain A's judge): RBF SVC") and "14x14" in protocol["judge_a"]
    assert protocol["judge_b"].startswith("sklearn_digits (domain B's judge)") and "8x8" in protocol["judge_b"]
    assert protocol["counts"] == "A: 450 held-out images, B: 450 held-out images"


def test_reconstruction_is_the_mean_absolute_error_in_minus_one_to_one_units_and_n_measures_the_first_n() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(30, 1, 12, 12, generator=g) * 2 - 1, torch.rand(20, 3, 12, 12, generator=g) * 2 - 1
    two = TwoDomains(a, None, b, None)
    # a_to_b: negate A's one channel into three; b_to_a: B's first channel. Then b_to_a(a_to_b(a)) = -a and
    # a_to_b(b_to_a(b)) = -b's first channel, three times.
    sample = Translator(lambda x: -x.expand(-1, 3, -1, -1), lambda x: x[:, :1])
    values = Cycle()(sample, two)
    assert values == {"cycle/reconstruction_a": pytest.approx(2 * a.abs().mean().item(), rel=1e-6),
                      "cycle/reconstruction_b": pytest.approx((b[:, :1] + b).abs().mean().item(), rel=1e-6)}
    first = Cycle(n=10)
    assert first(sample, two)["cycle/reconstruction_a"] == pytest.approx(2 * a[:10].abs().mean().item(), rel=1e-6)
    assert sample.asked[-4:] == [("a_to_b", 10), ("b_to_a", 10), ("b_to_a", 10), ("a_to_b", 10)]
    assert Cycle.best_key is None  # copying the input reconstructs perfectly: no best.pt from these numbers
    # Translations past [-1, 1] are clamped, as the pictures show them; a translation of the wrong shape is a bug.
    assert Cycle()(Translator(lambda x: 5 * x.expand(-1, 3, -1, -1), lambda x: x[:, :1] * 0 + 9), two)[
        "cycle/reconstruction_a"] == pytest.approx((1 - a).abs().mean().item(), rel=1e-6)
    with pytest.raises(ValueError, match=r"translate\('a_to_b'\) returned \(30, 1, 12, 12\) for 30 images"):
        Cycle()(Translator(identity, identity), two)


def one_paragraph(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and "Fix: " in message
    return message


def test_a_dataset_that_is_not_unpaired_is_refused_in_one_paragraph_by_both_metrics(judged: CycleDigits) -> None:
    digits = instantiate(make_config().dataset)  # the default dataset=digits, as gan-run builds it
    for metric, name in ((Cycle(), "cycle"), (judged, "cycle_digits")):
        with pytest.raises(UserError) as refused:
            metric.check(digits)
        message = one_paragraph(refused)
        assert message.startswith(f"metrics={name} needs an unpaired dataset") and "Digits" in message
        assert "dataset=mnist_digits8" in message and "dataset=unpaired_folder" in message


def test_gan_run_with_metrics_cycle_on_a_dataset_that_is_not_unpaired_stops_with_one_paragraph(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from gan_runner.commands.run import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["gan-run", "metrics=cycle", "logger=none", "train.steps=1", "train.device=cpu",
                                     "dataset.resolution=8"])
    with pytest.raises(SystemExit) as exit_status:
        main()
    assert exit_status.value.code == 2
    (paragraph,) = capsys.readouterr().err.strip().splitlines()
    assert paragraph.startswith("gan-run: error: metrics=cycle needs an unpaired dataset") and "Fix: " in paragraph


def test_cycle_digits_refuses_held_out_images_without_labels_or_with_colour_and_cycle_takes_them(
        judged: CycleDigits, digits8: TwoDomains) -> None:
    d = digits8
    for two, problem in ((TwoDomains(d.a, None, d.b, d.labels_b), "domain A's images are [1, 32, 32] and have no "
                                                                   "class labels"),
                         (TwoDomains(d.a, d.labels_a, d.b.expand(-1, 3, -1, -1), d.labels_b),
                          "domain B's images are [3, 32, 32] and labelled")):
        with pytest.raises(UserError) as refused:
            judged.check(two)
        message = one_paragraph(refused)
        assert message.startswith("metrics=cycle_digits judges one-channel digits") and problem in message
        Cycle().check(two)  # metrics=cycle takes them


def test_counts_the_held_out_images_cannot_give_are_refused_in_one_paragraph() -> None:
    images = torch.zeros(40, 1, 8, 8)
    with pytest.raises(UserError) as refused:
        Cycle(n=41).check(TwoDomains(images, None, images[:30], None))
    assert "metrics.n=41, but the dataset holds 40 held-out images of domain A and 30 of domain B" in one_paragraph(
        refused)
    with pytest.raises(UserError) as refused:
        Cycle().check(TwoDomains(images[:0], None, images, None))
    assert "holds none of domain A" in one_paragraph(refused)
    with pytest.raises(UserError) as refused:
        Cycle(n=0)
    assert one_paragraph(refused).startswith("metrics.n=0: metrics=cycle needs at least one held-out image")


# --- FID of translations against each domain's real images (a random-weight Inception: plumbing, as test_fid.py) ---

@pytest.fixture
def random_inception(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    from gan_runner.metrics.inception import WEIGHTS_FILE, write_random_weights

    home = tmp_path_factory.getbasetemp() / "cycle_torch_home"
    if not (home / "hub" / "checkpoints" / WEIGHTS_FILE).is_file():
        write_random_weights(home / "hub" / "checkpoints" / WEIGHTS_FILE)
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


def test_fid_b_measures_translations_from_a_against_real_b_with_paireds_inception_plumbing(
        random_inception: Path) -> None:
    """8 images a domain keep the test short (the network sees each at 299 x 299): fewer than the 64 dimensions,
    which check() refuses, so the weights are located here instead."""
    from gan_runner.metrics.fid import frechet_distance, statistics
    from gan_runner.metrics.inception import verified_weights

    g = torch.Generator().manual_seed(0)
    a = (torch.rand(8, 1, 16, 16, generator=g) * 1.4 - 1).clamp(-1, 1)
    b = (torch.rand(8, 3, 16, 16, generator=g) * 0.6).clamp(-1, 1)
    metric = instantiate(make_config("metrics=cycle", "metrics.fid=true", "metrics.dims=64").metrics)
    metric.weights_path, metric.weights_sha256 = verified_weights()
    # a_to_b returns B's real images in reverse order; b_to_a keeps B's first channel.
    values = metric(Translator(lambda x: b.flip(0), lambda x: x[:, :1]), TwoDomains(a, None, b, None))
    assert values["cycle/fid_b"] == pytest.approx(0, abs=1e-6)
    features = {name: metric.inception_features([images], 8, "") for name, images in (("a", a), ("b_grey", b[:, :1]))}
    assert values["cycle/fid_a"] > 0.1 and values["cycle/fid_a"] == pytest.approx(
        frechet_distance(*statistics(features["b_grey"]), *statistics(features["a"])), rel=1e-6)
    assert "SHA-256" in metric.protocol()["fid"]


def test_fid_with_fewer_held_out_images_than_feature_dimensions_is_refused(random_inception: Path) -> None:
    images = torch.zeros(500, 1, 8, 8)
    with pytest.raises(UserError) as refused:
        Cycle(fid=True).check(TwoDomains(images, None, images[:450], None))
    assert "2048-dimensional Inception features on 450 held-out images of a domain" in one_paragraph(refused)
    assert "metrics.dims=64 or 192" in str(refused.value)
    Cycle(fid=True, dims=192).check(TwoDomains(images, None, images[:450], None))


# --- The picture -------------------------------------------------------------------------------------------------

def test_cycle_picture_shows_each_domains_input_translation_and_reconstruction_in_two_titled_blocks() -> None:
    n, side = 10, 28

    def filled(colour: tuple[float, float, float], channels: int = 3) -> torch.Tensor:
        return torch.tensor(colour[:channels]).view(1, channels, 1, 1).expand(n, channels, side, side).contiguous()

    a = torch.linspace(-1, 0.8, n).view(n, 1, 1, 1).expand(n, 1, side, side).contiguous()  # grey, a shade per row
    fake_b, rec_a = filled((1, -1, -1)), filled((-1, 1, -1))  # red, green
    b, fake_a, rec_b = filled((-1, -1, 1)), filled((-1, -1, -1), 1), filled((1, 1, -1))  # blue, black, yellow
    picture = cycle_picture(a, fake_b, rec_a, b, fake_a, rec_b)
    title, cell, block = 14, 3 * side + 2, 3 * (3 * side + 2) + 2  # 28 pixels shown 84 wide, framed by 2
    assert picture.dtype == np.uint8 and picture.shape == (title + 8 * cell + 2, 2 * block + 8, 3)  # 8 of 10 rows

    def at(left: int, row: int, column: int) -> list[int]:
        return picture[title + 2 + row * cell + 40, left + 2 + column * cell + 40].tolist()

    for row in range(8):
        grey = round((a[row, 0, 0, 0].item() + 1) * 127.5)
        assert at(0, row, 0) == [grey] * 3
        assert at(0, row, 1) == [255, 0, 0] and at(0, row, 2) == [0, 255, 0]
        right = block + 8
        assert at(right, row, 0) == [0, 0, 255] and at(right, row, 1) == [0, 0, 0] and at(right, row, 2) == [255, 255, 0]
    assert (picture[:, block : block + 8] == 255).all()  # the white gap between the blocks
    for left in (0, block + 8):  # each column's title is drawn above it, in dark pixels on white
        for column in range(3):
            header = picture[:title, left + 2 + column * cell : left + 2 + (column + 1) * cell - 2]
            assert (header.min(-1) < 100).sum() > 10
    # Fewer rows than 8, and domains of different sizes: both shown at the larger, the shorter block padded white.
    small = cycle_picture(a[:3, :, :14, :14], fake_b[:3], rec_a[:3, :, :14, :14], b[:2], fake_a[:2], rec_b[:2])
    assert small.shape == (title + 3 * cell + 2, 2 * block + 8, 3)
    assert (small[title + 2 * cell + 2 :, block + 8 :] == 255).all()
    assert small[title + 2 + 40, 2 + 40].tolist() == [0, 0, 0]  # A's 14-pixel black digit, enlarged to 28, then 84
