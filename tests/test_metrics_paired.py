"""The paired games' metrics (gan_runner/metrics/paired.py: metrics=paired, metrics=paired_digits) and their picture
(gan_runner.pictures.paired_picture). SSIM and PSNR agree with scikit-image, the FID of outputs against targets with
pytorch-fid, the digit judge's class agreement with its held-out accuracy; an unpaired dataset is refused in one
paragraph. The paired datasets here are made in the test, following the contract of issue 35 (held_out() ->
sources, targets, labels in [-1, 1])."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from PIL import Image
from skimage import data as skimage_data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from gan_runner.errors import UserError
from gan_runner.metrics.paired import PSNR_CAP_DB, Paired, PairedDigits
from gan_runner.pictures import paired_picture
from tests.conftest import make_config


class Pairs:
    """A paired dataset as issue 35's contract has it, over given held-out pairs (training pairs: the same ones)."""

    paired = True
    num_classes = None

    def __init__(self, sources: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        self.sources, self.targets, self.labels = sources, targets, labels
        self.shape, self.source_shape = tuple(targets.shape[1:]), tuple(sources.shape[1:])

    def __len__(self) -> int:
        return len(self.targets)

    def held_out(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        return self.sources.clone(), self.targets.clone(), self.labels

    def batches(self, batch_size: int, generator: torch.Generator, start: int = 0,
                device: torch.device | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        per_epoch = len(self) // batch_size
        for batch in range(start, 10**9):
            order = torch.randperm(len(self), generator=torch.Generator().manual_seed(
                generator.initial_seed() + batch // per_epoch))
            rows = order[batch % per_epoch * batch_size:][:batch_size]
            yield self.targets[rows].to(device), self.sources[rows].to(device)


def sampler(outputs: torch.Tensor, asked: list | None = None):
    """A paired game's sampler: the first n outputs in order, in batches of 37 (not a divisor of the counts used)."""

    def sample(n: int, rows: tuple[int, int] | None = None) -> Iterator[torch.Tensor]:
        if asked is not None:
            asked.append((n, rows))
        start, stop = rows or (0, n)
        return iter(outputs[:n][start:stop].split(37))

    return sample


def downsampled(targets: torch.Tensor, factor: int = 4) -> torch.Tensor:
    return F.avg_pool2d(targets, factor)


def photographs(channels: int, n: int = 6, side: int = 48) -> torch.Tensor:
    """Crops of scikit-image's photographs (structure, not noise) in [-1, 1]: grey from camera(), colour from
    astronaut()."""
    image = skimage_data.astronaut() if channels == 3 else skimage_data.camera()[..., None]
    pixels = torch.from_numpy(image).permute(2, 0, 1).double() / 127.5 - 1
    return torch.stack([pixels[:, 60 * i : 60 * i + side, 40 * i + 100 : 40 * i + 100 + side] for i in range(n)])


def skimage_scores(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's SSIM (Wang et al.'s Gaussian weighting) and PSNR of each pair, on images mapped to [0, 1]."""
    ssims, psnrs = [], []
    for output, target in zip(outputs, targets):
        x, y = ((target.double() + 1) / 2).clamp(0, 1).numpy(), ((output.double() + 1) / 2).clamp(0, 1).numpy()
        ssims.append(structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                           data_range=1, channel_axis=0))
        psnrs.append(peak_signal_noise_ratio(x, y, data_range=1))
    return np.array(ssims), np.array(psnrs)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kind", ["random", "photographs"])
def test_ssim_and_psnr_agree_with_scikit_image_and_l1_is_the_mean_absolute_error(channels: int, kind: str) -> None:
    g = torch.Generator().manual_seed(channels)
    if kind == "random":
        targets = torch.rand(50, channels, 24, 32, generator=g, dtype=torch.float64) * 2 - 1
    else:
        targets = photographs(channels).repeat(8, 1, 1, 1)[:45]  # 45: two batches of 37 and 8
    # Outputs of every quality: noise from slight to heavy, a blur, a brightness shift, values past [-1, 1].
    noise = torch.randn(targets.shape, generator=g, dtype=torch.float64) * torch.linspace(0.02, 0.8, len(targets)
                                                                                           ).view(-1, 1, 1, 1)
    outputs = targets + noise
    outputs[::5] = F.avg_pool2d(targets[::5], 3, stride=1, padding=1, count_include_pad=False)
    outputs[1::7] = targets[1::7] + 0.3
    outputs = outputs.float()
    values = Paired()(sampler(outputs), Pairs(downsampled(targets), targets.float()))
    ssims, psnrs = skimage_scores(outputs.clamp(-1, 1), targets)
    assert ssims.min() < 0.3 and ssims.max() > 0.95  # a spread of qualities, not one easy case
    assert values["paired/ssim"] == pytest.approx(ssims.mean(), abs=1e-5)
    assert values["paired/psnr"] == pytest.approx(psnrs.mean(), abs=1e-4)
    assert values["paired/l1"] == pytest.approx((outputs.clamp(-1, 1).double() - targets).abs().mean().item(), abs=1e-6)


def test_outputs_equal_to_targets_score_l1_0_ssim_1_and_the_psnr_cap_and_better_outputs_score_better() -> None:
    targets = photographs(3)
    pairs = Pairs(downsampled(targets), targets.float())
    metric = Paired()
    perfect = metric(sampler(targets.float()), pairs)
    assert perfect["paired/l1"] == 0 and perfect["paired/ssim"] == pytest.approx(1, abs=1e-12)
    assert perfect["paired/psnr"] == PSNR_CAP_DB  # not inf: one equal pair would make the mean inf
    # One exact pair among others: its capped 100 dB enters the mean like any other image's value.
    noisy = targets.float() + 0.1 * torch.randn(targets.shape, generator=torch.Generator().manual_seed(0))
    one_exact = noisy.clone()
    one_exact[0] = targets[0]
    _, psnrs = skimage_scores(noisy.clamp(-1, 1), targets)
    assert metric(sampler(one_exact), pairs)["paired/psnr"] == pytest.approx((PSNR_CAP_DB + psnrs[1:].sum()) / 6,
                                                                             abs=1e-4)
    blurred = metric(sampler(F.avg_pool2d(targets.float(), 5, stride=1, padding=2)), pairs)
    assert metric.best_key == "paired/ssim" and metric.better(perfect["paired/ssim"], blurred["paired/ssim"])
    assert blurred["paired/l1"] > 0 and blurred["paired/psnr"] < PSNR_CAP_DB


def test_n_measures_the_first_n_held_out_pairs_in_order() -> None:
    targets = torch.rand(90, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    pairs, asked = Pairs(downsampled(targets), targets), []
    outputs = targets.clone()
    outputs[40:] = -targets[40:]  # wrong from pair 40 on
    assert Paired(n=40)(sampler(outputs, asked), pairs)["paired/l1"] == 0 and asked == [(40, None)]
    metric = Paired()
    assert metric(sampler(outputs, asked), pairs)["paired/l1"] > 0 and asked[-1] == (90, None)
    # The held-out pairs are read once per dataset: another dataset's are its own.
    assert metric(sampler(outputs), Pairs(downsampled(outputs), outputs))["paired/l1"] == 0
    with pytest.raises(UserError, match=r"metrics.n=91, but the dataset holds 90 held-out pairs\. Fix: "):
        Paired(n=91).check(pairs)


def one_paragraph(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and "Fix: " in message
    return message


def test_an_unpaired_dataset_is_refused_in_one_paragraph_by_both_metrics(digit_judge: PairedDigits) -> None:
    digits = instantiate(make_config().dataset)  # the default dataset=digits, as gan-run builds it
    for metric, name in ((Paired(), "paired"), (digit_judge, "paired_digits")):
        with pytest.raises(UserError) as refused:
            metric.check(digits)
        assert one_paragraph(refused).startswith(f"metrics={name} needs a paired dataset") and "Digits" in str(
            refused.value)


def test_gan_run_with_metrics_paired_on_an_unpaired_dataset_stops_with_one_paragraph(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from gan_runner.commands.run import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["gan-run", "metrics=paired", "logger=none", "train.steps=1", "train.device=cpu",
                                     "dataset.resolution=8"])
    with pytest.raises(SystemExit) as exit_status:
        main()
    assert exit_status.value.code == 2
    (paragraph,) = capsys.readouterr().err.strip().splitlines()
    assert paragraph.startswith("gan-run: error: metrics=paired needs a paired dataset") and "Fix: " in paragraph


def test_images_too_small_for_ssims_window_are_refused() -> None:
    targets = torch.zeros(20, 1, 8, 8)
    with pytest.raises(UserError) as refused:
        Paired().check(Pairs(targets, targets))
    assert "11x11 window" in one_paragraph(refused)


# --- The digit judge ---------------------------------------------------------------------------------------------

@pytest.fixture
def digit_judge() -> PairedDigits:
    """metrics=paired_digits as gan-run builds it (its judge is fitted once a process: fitted_judges keeps it)."""
    return instantiate(make_config("metrics=paired_digits").metrics)


@pytest.fixture(scope="module")
def mnist_sr() -> Pairs:
    """A stand-in for dataset=mnist_sr: mnist_5k's 500 held-out digits (the last 50 of each class) as targets, their
    7x7 area averages as sources, the classes as labels."""
    from gan_runner.data.mnist_5k import read_digits, split

    pixels, classes = read_digits()
    held_out = split(classes, train=False)
    targets = torch.from_numpy(pixels[held_out]).float().unsqueeze(1) / 255 * 2 - 1
    return Pairs(downsampled(targets), targets, torch.from_numpy(classes[held_out]).long())


def test_class_agreement_of_the_targets_themselves_is_the_judges_held_out_accuracy_and_of_others_chance(
        digit_judge: PairedDigits, mnist_sr: Pairs) -> None:
    digit_judge.check(mnist_sr)
    judge = digit_judge.judge
    accuracy = (judge.classifier.predict(digit_judge.judged(judge.held_out * 2 - 1)) == judge.digits.held_out_y).mean()
    same = digit_judge(sampler(mnist_sr.targets), mnist_sr)
    assert same["paired/class_agreement"] == pytest.approx(accuracy) and 0.93 < accuracy < 0.97
    assert same["paired/frechet"] == pytest.approx(0, abs=1e-6) and same["paired/ssim"] == pytest.approx(1)
    # The same digits in another order: each output is some other digit, so agreement falls to chance (one class
    # later: below chance), while the Fréchet distance of the two sets, which ignores the pairing, stays 0.
    shuffled = mnist_sr.targets[torch.randperm(500, generator=torch.Generator().manual_seed(0))]
    chance = digit_judge(sampler(shuffled), mnist_sr)
    assert 0.05 < chance["paired/class_agreement"] < 0.16
    assert chance["paired/frechet"] == pytest.approx(0, abs=1e-6) and chance["paired/ssim"] < 0.5
    next_class = digit_judge(sampler(mnist_sr.targets.roll(50, 0)), mnist_sr)
    assert next_class["paired/class_agreement"] < 0.05
    # Blurred or noisy outputs lie off the targets' distribution in the judge's features.
    noise = torch.rand(mnist_sr.targets.shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert digit_judge(sampler(noise), mnist_sr)["paired/frechet"] > 10
    assert "held-out accuracy 0.95" in digit_judge.protocol()["judge"]


def test_paired_digits_refuses_pairs_without_labels_or_of_colour_images(digit_judge: PairedDigits,
                                                                          mnist_sr: Pairs) -> None:
    for pairs in (Pairs(mnist_sr.sources, mnist_sr.targets), Pairs(mnist_sr.sources.expand(-1, 3, -1, -1),
                                                                     mnist_sr.targets.expand(-1, 3, -1, -1),
                                                                     mnist_sr.labels)):
        with pytest.raises(UserError) as refused:
            digit_judge.check(pairs)
        assert one_paragraph(refused).startswith("metrics=paired_digits judges one-channel digits")
        Paired().check(pairs)  # metrics=paired takes them


# --- FID of outputs against targets (a random-weight Inception: plumbing, as in test_fid.py) ----------------------

@pytest.fixture
def random_inception(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    from gan_runner.metrics.inception import WEIGHTS_FILE, write_random_weights

    home = tmp_path_factory.getbasetemp() / "paired_torch_home"
    if not (home / "hub" / "checkpoints" / WEIGHTS_FILE).is_file():
        write_random_weights(home / "hub" / "checkpoints" / WEIGHTS_FILE)
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


def test_fid_of_outputs_against_targets_agrees_with_pytorch_fid(random_inception: Path, tmp_path: Path) -> None:
    """The outputs' and targets' features are pytorch-fid's activations of the same images saved as PNG, and paired/fid
    the Fréchet distance of their statistics. 8 pairs keep the test short (the network sees every image at 299 x
    299): fewer than the 64 dimensions, which check() refuses, so the weights are located here instead."""
    from pytorch_fid.fid_score import get_activations
    from pytorch_fid.inception import InceptionV3

    from gan_runner.metrics.fid import frechet_distance, statistics
    from gan_runner.metrics.inception import verified_weights

    g = torch.Generator().manual_seed(0)
    targets = (torch.rand(8, 3, 16, 16, generator=g) * 1.4 - 1).clamp(-1, 1)
    outputs = (targets + 0.6 * torch.rand(8, 3, 16, 16, generator=g)).clamp(-1, 1)
    pairs = Pairs(downsampled(targets, 2), targets)
    metric = instantiate(make_config("metrics=paired", "metrics.fid=true", "metrics.dims=64").metrics)
    metric.weights_path, metric.weights_sha256 = verified_weights()
    fid = metric(sampler(outputs), pairs)["paired/fid"]
    folders = {}
    for name, images in (("outputs", outputs), ("targets", targets)):
        folders[name] = tmp_path / name
        folders[name].mkdir()
        for i, image in enumerate(((images + 1) / 2).clamp(0, 1).mul(255).round().byte()):
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(folders[name] / f"{i:03d}.png")
    model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[64]])
    theirs = [get_activations(sorted(folders[k].glob("*.png")), model, 50, 64, "cpu", num_workers=0)
              for k in ("outputs", "targets")]
    assert metric.inception_features([outputs], 8, "") == pytest.approx(theirs[0], rel=1e-3, abs=1e-5)
    assert fid > 0.1 and fid == pytest.approx(frechet_distance(*statistics(theirs[0]), *statistics(theirs[1])), rel=1e-3)
    assert metric(sampler(targets), pairs)["paired/fid"] == pytest.approx(0, abs=1e-6)
    assert "SHA-256" in metric.protocol()["fid"]


def test_fid_with_fewer_pairs_than_feature_dimensions_is_refused(random_inception: Path) -> None:
    targets = torch.zeros(500, 1, 28, 28)
    with pytest.raises(UserError) as refused:
        Paired(fid=True).check(Pairs(downsampled(targets), targets))
    assert "2048-dimensional Inception features on 500 held-out pairs" in one_paragraph(refused)
    Paired(fid=True, dims=192).check(Pairs(downsampled(targets), targets))


# --- The picture -------------------------------------------------------------------------------------------------

def test_paired_picture_puts_source_output_and_target_in_their_columns_one_pair_a_row() -> None:
    n, side = 10, 28
    sources = -torch.ones(n, 1, 7, 7)  # grey, 4x smaller: black with a white top-left pixel
    sources[:, :, 0, 0] = 1
    outputs = torch.linspace(-1, 0.8, n).view(n, 1, 1, 1).expand(n, 3, side, side).contiguous()  # a grey per row
    targets = -torch.ones(n, 3, side, side)
    targets[:, 0] = 1  # red
    picture = paired_picture(sources, outputs, targets)
    scale, title, cell = 3, 14, 3 * side + 2  # 28 pixels are shown 84 wide (at least 64), framed by 2
    assert picture.dtype == np.uint8 and picture.shape == (title + 8 * cell + 2, 3 * cell + 2, 3)  # 8 of 10 rows

    def at(row: int, column: int, y: int, x: int) -> list[int]:
        return picture[title + 2 + row * cell + y, 2 + column * cell + x].tolist()

    for row in range(8):
        block = 4 * scale  # the source's pixel, enlarged to the target's size, then shown 3x
        assert at(row, 0, 0, 0) == at(row, 0, block - 1, block - 1) == [255, 255, 255]
        assert at(row, 0, block, block) == at(row, 0, 0, block) == [0, 0, 0]
        grey = round((outputs[row, 0, 0, 0].item() + 1) * 127.5)
        assert at(row, 1, 40, 40) == [grey, grey, grey]
        assert at(row, 2, 40, 40) == [255, 0, 0]
    for column in range(3):  # each column's title is drawn above it, in dark pixels on white
        header = picture[:title, 2 + column * cell : 2 + (column + 1) * cell - 2]
        assert (header.min(-1) < 100).sum() > 20
    assert paired_picture(sources[:3], outputs[:3], targets[:3]).shape[0] == title + 3 * cell + 2
