"""FID, Inception Score, KID and precision/recall: closed forms, agreement with pytorch-fid, and plumbing.

The tests that run the network use a random-weight Inception file, its convolutions re-initialised
Kaiming-normal (with torchvision's default initialisation the features vanish and every FID is about 0),
saved where pytorch-fid looks for its weights ($TORCH_HOME/hub/checkpoints/). A FID with random weights is
a plumbing check: it shows that our pipeline and pytorch-fid's compute the same function of the same
pixels, not a FID anyone should quote.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_fid.fid_score import (
    calculate_frechet_distance, compute_statistics_of_path, get_activations, save_fid_stats,
)
from pytorch_fid.inception import InceptionV3
from scipy.spatial.distance import cdist
from torchvision.utils import save_image

from gan_runner.engine import sampling as sample
from gan_runner.run_directory import Checkpoint
from gan_runner.data.digits import Digits
from gan_runner.data.torchvision_datasets import MNIST
from gan_runner.errors import UserError
from gan_runner.commands.evaluate import main as gan_eval
from gan_runner.metrics.fid import (
    FID, count_label, dataset_images, frechet_distance, inception_score, kernel_inception_distance, precision_recall, statistics,
)
from gan_runner.metrics import inception
from gan_runner.metrics.inception import (
    WEIGHTS_FILE, FIDInception, extract, fid_inception_structure, image_files, quantise, sha256_of, write_random_weights,
)
from gan_runner.engine.loop import train
from tests.conftest import SHRINK, TINY, make_config
from tests.test_data import write_idx

DIMS = 64  # the first block: the cheapest features, and pytorch-fid's --dims 64


def relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


# --- Closed forms ---------------------------------------------------------------------------------------

def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form() -> None:
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    s1, s2 = rng.uniform(0.1, 3, size=8), rng.uniform(0.1, 3, size=8)
    expected = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_agrees_with_pytorch_fid_on_full_covariances() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(300, 16)), rng.normal(size=(300, 16)) @ rng.normal(size=(16, 16)) * 0.5 + 0.3
    (mu1, s1), (mu2, s2) = statistics(x), statistics(y)
    ours, theirs = frechet_distance(mu1, s1, mu2, s2), calculate_frechet_distance(mu1, s1, mu2, s2)
    assert theirs > 1 and relative(ours, theirs) < 1e-9


def test_frechet_distance_is_real_and_finite_on_rank_deficient_covariances(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(10, 64)), rng.normal(size=(10, 64)) + 0.5
    with caplog.at_level(logging.WARNING):
        (mu1, s1), (mu2, s2) = statistics(x), statistics(y)
    assert "10 images of 64-dimensional features" in caplog.text
    different = frechet_distance(mu1, s1, mu2, s2)
    assert isinstance(different, float) and np.isfinite(different) and different > 0
    assert abs(frechet_distance(mu1, s1, mu1, s1)) < 1e-9 * np.trace(s1)  # identical sets: 0


def test_inception_score_of_uniform_and_of_evenly_spread_one_hot_predictions() -> None:
    assert inception_score(np.zeros((100, 1008))) == pytest.approx((1.0, 0.0))
    one_hot = np.eye(10)[np.arange(200) % 10] * 1000.0  # softmax of these logits is one-hot in float64
    assert inception_score(one_hot, splits=1)[0] == pytest.approx(10.0, rel=1e-12)
    assert inception_score(np.eye(10)[np.zeros(200, int)] * 1000.0, splits=1)[0] == pytest.approx(1.0)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_shifted_ones() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same, _ = kernel_inception_distance(a, b, subsets=20, subset_size=200)
    shifted, spread = kernel_inception_distance(a, b + 0.5, subsets=20, subset_size=200)
    assert abs(same) < 0.01 * shifted and shifted > 10 * spread > 0


def test_precision_and_recall_of_identical_and_of_far_apart_sets() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(50, 8))
    assert precision_recall(x, x.copy()) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)


@pytest.mark.parametrize("k, expected", [(1, (0.4, 0.6)), (2, (0.6, 0.8)), (3, (0.8, 0.8)), (4, (1.0, 1.0))])
def test_precision_and_recall_on_a_line_by_hand(k: int, expected: tuple[float, float]) -> None:
    """Kynkaanniemi et al. 2019: a sample's ball reaches its k-th nearest neighbour in its own set, itself not
    counted. Every k gives other values, so using the (k+1)-th or forgetting to skip the point itself (the k-th
    counting itself: the (k-1)-th neighbour) gives a neighbouring row's answer. By hand, every edge at least
    0.4 from a point:
    real 0, 1, 3, 6, 10; neighbour distances 0: 1 3 6 10; 1: 1 2 5 9; 3: 2 3 3 7; 6: 3 4 5 6; 10: 4 7 9 10.
      Their balls' union: k=1 [-1, 14], k=2 [-3, 17], k=3 [-6, 19], k=4 [-10, 20].
      Generated -8, -5, -2, 0.5, 2.2 inside: k=1 0.5, 2.2 (2/5); k=2 also -2 (3/5); k=3 also -5 (4/5); k=4 all.
    generated -8, -5, -2, 0.5, 2.2; neighbour distances -8: 3 6 8.5 10.2; -5: 3 3 5.5 7.2; -2: 2.5 3 4.2 6;
      0.5: 1.7 2.5 5.5 8.5; 2.2: 1.7 4.2 7.2 10.2. Their balls' union: k=1 [-11, 3.9], k=2 [-14, 6.4],
      k=3 [-16.5, 9.4], k=4 [-18.2, 12.4]. Real inside: k=1 0, 1, 3 (3/5); k=2 and 3 also 6 (4/5); k=4 all.
    """
    real, fake = np.array([[0.0], [1], [3], [6], [10]]), np.array([[-8.0], [-5], [-2], [0.5], [2.2]])
    assert precision_recall(real, fake, k) == pytest.approx(expected)


def brute_force_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """The definition read literally, in float64: sort each centre's distances to its own set (the first is
    to itself) and take the k-th after it."""

    def inside(points: np.ndarray, centres: np.ndarray) -> float:
        radii = np.sort(cdist(centres, centres), axis=1)[:, k]
        return float((cdist(points, centres) <= radii).any(1).mean())

    return inside(fake, real), inside(real, fake)


def test_precision_and_recall_agree_with_brute_force() -> None:
    # Small integer coordinates: every distance is exact in float32 too, so ties break alike in both. More
    # than 1,000 points on each side crosses precision_recall's 1,000-row chunks.
    rng = np.random.default_rng(5)
    real, fake = rng.integers(0, 8, size=(1300, 6)), rng.integers(0, 8, size=(1100, 6)) + [1, 0, 0, 0, 0, 0]
    results = {k: precision_recall(real, fake, k) for k in (1, 2, 3, 4)}
    assert results == {k: brute_force_precision_recall(real, fake, k) for k in (1, 2, 3, 4)}
    assert len(set(results.values())) == 4  # the data tells every k apart


def test_metric_names_record_the_protocol() -> None:
    assert [count_label(n) for n in (10000, 1000, 50000, 500, 2500)] == ["10k", "1k", "50k", "500", "2500"]
    assert FID().names() == {"fid": "fid10k_train", "kid_mean": "kid10k_train_mean", "kid_std": "kid10k_train_std",
                             "precision": "precision10k_train", "recall": "recall10k_train",
                             "is_mean": "is10k_mean", "is_std": "is10k_std"}
    assert FID(n_samples=500, reference="/data/CIFAR stats.npz", dims=64).names()["fid"] == "fid500_cifar_stats_64d"
    assert FID().best_key == "fid10k_train" and not FID.higher_is_better  # best.pt: the lowest FID
    with pytest.raises(UserError, match="dims=100"):
        FID(dims=100)


def test_reference_images_train_subset_and_test_split(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    for split, n, value in (("train", 12, 0), ("t10k", 5, 255)):  # black training, white test images
        write_idx(raw / f"{split}-images-idx3-ubyte", np.full((n, 28, 28), value))
        write_idx(raw / f"{split}-labels-idx1-ubyte", np.zeros(n))
    mnist = MNIST(root=str(tmp_path), resolution=16)
    test, train = dataset_images(mnist, "test", 100), dataset_images(mnist, "train", 4)
    assert test.count == 5 and all((batch == 255).all() for batch in test.batches(2))
    assert train.count == 4 and all((batch == 0).all() for batch in train.batches(2))
    assert train.digest != dataset_images(mnist, "train", 5).digest  # another subset, another cache entry
    with pytest.raises(UserError, match="reference=test needs a dataset with a test split"):
        FID(reference="test").check(Digits(resolution=8))
    with pytest.raises(UserError, match="metrics=fid measures images"):
        FID().check(type("Points", (), {"shape": (2,)})())  # a 2-D mixture's shape


# --- Plumbing with a random-weight Inception ------------------------------------------------------------

@pytest.fixture(scope="session")
def torch_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TORCH_HOME whose hub cache holds a random-weight file under the name of pytorch-fid's weights."""
    home = tmp_path_factory.mktemp("torch_home")
    write_random_weights(home / "hub" / "checkpoints" / WEIGHTS_FILE)
    return home


@pytest.fixture
def weights(torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    return torch_home / "hub" / "checkpoints" / WEIGHTS_FILE


def write_pngs(folder: Path, n: int, shift: float, seed: int, channels: int = 3) -> Path:
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(seed)
    for i in range(n):
        x = (torch.rand(channels, 16, 16, generator=g) * 0.7 + shift).clamp(0, 1)
        Image.fromarray((x * 255).round().byte().permute(1, 2, 0).squeeze(-1).numpy()).save(folder / f"{i:03d}.png")
    return folder


@pytest.fixture(scope="session")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A and B: two sets of 72 PNGs (more than the 64 dimensions, so pytorch-fid's sqrtm is well posed);
    B is brighter and grey. C: 8 PNGs."""
    root = tmp_path_factory.mktemp("images")
    return {"A": write_pngs(root / "A", 72, 0.0, 1), "B": write_pngs(root / "B", 72, 0.3, 2, channels=1),
            "C": write_pngs(root / "C", 8, 0.1, 3)}


@pytest.fixture(scope="session")
def theirs(torch_home: Path, folders: dict[str, Path]) -> dict:
    """pytorch-fid's own activations of A and B and its FID between them (calculate_fid_given_paths's steps:
    get_activations, mean, np.cov, calculate_frechet_distance), with its model and its weights loading."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(torch_home))
        model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[DIMS]])
        acts = {k: get_activations(image_files(folders[k]), model, 50, DIMS, "cpu", num_workers=0) for k in "AB"}
    stats = {k: (a.mean(0), np.cov(a, rowvar=False)) for k, a in acts.items()}
    return {"acts": acts, "stats": stats, "fid": calculate_frechet_distance(*stats["A"], *stats["B"])}


@pytest.fixture(scope="session")
def ours(torch_home: Path, folders: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`gan-eval fake=A real=B dims=64`, in-process; its JSON and its statistics cache."""
    out, cache = tmp_path_factory.mktemp("gan_eval") / "result.json", tmp_path_factory.mktemp("fid_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(torch_home))
        gan_eval([f"fake={folders['A']}", f"real={folders['B']}", f"dims={DIMS}", f"cache_dir={cache}", f"out={out}"])
    return {"result": json.loads(out.read_text()), "cache": cache}


def test_our_features_equal_pytorch_fids_activations(ours: dict, theirs: dict) -> None:
    (features_file,) = ours["cache"].glob("*.features.npy")  # B's features, as gan-eval computed them
    features, expected = np.load(features_file), theirs["acts"]["B"]
    assert features.shape == expected.shape == (72, DIMS) and expected.std() > 0.01
    assert np.abs(features - expected).max() <= 1e-3 * np.abs(expected).max()


def test_gan_eval_agrees_with_pytorch_fid(ours: dict, theirs: dict, folders: dict[str, Path]) -> None:
    result = ours["result"]
    assert theirs["fid"] > 0.1 and relative(result["fid"], theirs["fid"]) < 1e-3
    assert result["protocol"]["dims"] == "64" and result["protocol"]["n"] == "72"
    assert result["protocol"]["weights"].endswith(WEIGHTS_FILE) and len(result["protocol"]["weights_sha256"]) == 64
    assert result["is_mean"] is None  # dims=64: the Inception Score would cost the rest of the network
    a, b = theirs["acts"]["A"], theirs["acts"]["B"]  # KID and precision/recall from pytorch-fid's features
    assert relative(result["kid_mean"], kernel_inception_distance(a, b)[0]) < 1e-3
    assert (result["precision"], result["recall"]) == brute_force_precision_recall(b, a, 3) == (0.0, 0.0)  # apart


def test_gan_eval_precision_and_recall_of_overlapping_sets_agree_with_brute_force(
    weights: Path, theirs: dict, folders: dict[str, Path], tmp_path: Path
) -> None:
    # Real: A's first 36 images and B's first 36; generated: all of A. Precision and recall differ (a swap of
    # the two shows) and lie strictly between 0 and 1.
    real = tmp_path / "real"
    real.mkdir()
    for key in "AB":
        for file in image_files(folders[key])[:36]:
            (real / f"{key}_{file.name}").write_bytes(file.read_bytes())
    out = tmp_path / "result.json"
    gan_eval([f"fake={folders['A']}", f"real={real}", f"dims={DIMS}", f"cache_dir={tmp_path / 'cache'}", f"out={out}"])
    result = json.loads(out.read_text())
    expected = brute_force_precision_recall(np.concatenate([theirs["acts"]["A"][:36], theirs["acts"]["B"][:36]]),
                                            theirs["acts"]["A"], 3)
    assert (result["precision"], result["recall"]) == expected == (68 / 72, 36 / 72)


def test_statistics_files_interoperate_with_pytorch_fid(
    ours: dict, theirs: dict, weights: Path, folders: dict[str, Path], tmp_path: Path
) -> None:
    (cached,) = ours["cache"].glob("*.npz")
    mu, sigma = compute_statistics_of_path(str(cached), None, 50, DIMS, "cpu")  # pytorch-fid reads ours
    assert np.allclose(mu, theirs["stats"]["B"][0], rtol=1e-4, atol=1e-6)
    assert np.allclose(sigma, theirs["stats"]["B"][1], rtol=1e-3, atol=1e-6 * np.abs(sigma).max())
    save_fid_stats([str(folders["C"]), str(tmp_path / "c.npz")], 50, "cpu", DIMS, num_workers=0)
    gan_eval([f"fake={folders['C']}", f"real={tmp_path / 'c.npz'}", f"dims={DIMS}", f"out={tmp_path / 'r.json'}"])
    result = json.loads((tmp_path / "r.json").read_text())  # we read theirs: C against C's own statistics
    with np.load(tmp_path / "c.npz") as c:
        assert abs(result["fid"]) < 1e-3 * np.trace(c["sigma"])
    assert result["kid_mean"] is None and result["precision"] is None  # statistics only: FID only


def test_in_memory_fid_equals_fid_of_the_same_samples_saved_as_png(
    weights: Path, folders: dict[str, Path], tmp_path: Path
) -> None:
    g = torch.Generator().manual_seed(5)
    coarse = torch.rand(16, 1, 4, 4, generator=g)
    samples = torch.nn.functional.interpolate(coarse, size=16, mode="bilinear") * 2.2 - 1.1  # some outside [-1, 1]
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    for i, image in enumerate(samples):  # torchvision's writer, not ours
        save_image((image + 1) / 2, pngs / f"{i:02d}.png")
    metric = FID(n_samples=16, reference=str(folders["C"]), dims=DIMS, cache_dir=str(tmp_path / "cache"))
    def sample(n: int, rows: tuple[int, int] | None = None):  # batches of 5, 5, 5, 1
        return iter(samples[slice(*(rows or (0, n)))].split(5))

    in_memory = metric(sample, None)["fid16_c_64d"]
    out = tmp_path / "png.json"
    gan_eval([f"fake={pngs}", f"real={folders['C']}", f"dims={DIMS}", f"cache_dir={tmp_path / 'cache'}", f"out={out}"])
    from_png = json.loads(out.read_text())["fid"]
    assert in_memory > 0.1 and relative(in_memory, from_png) < 1e-9
    model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[DIMS]])  # and pytorch-fid reads those PNGs alike
    expected = get_activations(image_files(pngs), model, 50, DIMS, "cpu", num_workers=0)
    features, _ = extract(metric.network(), quantise(samples).split(50), 16)
    assert np.abs(features - expected).max() <= 1e-3 * np.abs(expected).max()


def record_network_calls(monkeypatch: pytest.MonkeyPatch, events: list[tuple[str, int]]) -> None:
    """Appends ("inception", batch size) to `events` at every forward pass of the Inception network."""
    forward = FIDInception.forward

    def recorded(self: FIDInception, images: torch.Tensor, logits: bool = False) -> tuple:
        events.append(("inception", len(images)))
        return forward(self, images, logits)

    monkeypatch.setattr(FIDInception, "forward", recorded)


def test_fid_measures_each_generated_batch_before_drawing_the_next(
    weights: Path, folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metric = FID(n_samples=40, reference=str(folders["C"]), dims=DIMS, batch_size=5, cache_dir=str(tmp_path))
    metric.check(None)
    metric.reference_statistics(None)  # the real images' passes, before the ones counted
    events: list[tuple[str, int]] = []
    record_network_calls(monkeypatch, events)
    quantise_one = inception.quantise

    def recorded_quantise(images: torch.Tensor) -> torch.Tensor:
        events.append(("quantised", len(images)))
        return quantise_one(images)

    monkeypatch.setattr(inception, "quantise", recorded_quantise)

    def sampler(n: int, rows: tuple[int, int] | None = None):
        g = torch.Generator().manual_seed(7)
        assert rows == (0, n)  # one process: all of them
        for start in range(0, n, 10):
            events.append(("generated", min(10, n - start)))
            yield torch.rand(min(10, n - start), 3, 16, 16, generator=g) * 2 - 1

    assert np.isfinite(metric(sampler, None)["fid40_c_64d"])
    # Never more than one generated batch in memory: each is quantised and measured before the next is drawn.
    assert events == [("generated", 10), ("quantised", 10), ("inception", 5), ("inception", 5)] * 4


def test_inception_score_logits_are_the_fc_head_without_its_bias(weights: Path, folders: dict[str, Path]) -> None:
    network = FIDInception(weights, DIMS, logits=True)
    net = fid_inception_structure()
    net.load_state_dict(torch.load(weights, weights_only=True))
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        features, logits = network(images, logits=True)
        expected = net.eval()(2 * torch.nn.functional.interpolate(images, size=(299, 299), mode="bilinear") - 1)
    assert features.shape == (3, DIMS) and logits.shape == (3, 1008)
    assert torch.allclose(logits + net.fc.bias, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


def test_fid_check_without_weights_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(UserError, match=f"{WEIGHTS_FILE}.*{tmp_path / 'empty'}.*weights=PATH.*metrics=none"):
        FID(download=False).check(Digits(resolution=8))

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network here")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(UserError, match="downloading it from .* failed .*no network here"):
        FID().check(Digits(resolution=8))
    with pytest.raises(UserError, match="not a file"):
        FID(weights=str(tmp_path / "missing.pth")).check(Digits(resolution=8))


def test_gan_eval_bad_input_is_one_paragraph_and_exit_2(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    for args in ([f"fake={tmp_path}", f"real={tmp_path}"], ["fake=x"], ["run=x", "fake=y", "real=z"], ["fid=1"]):
        with pytest.raises(SystemExit) as exit_info:
            gan_eval(args)
        assert exit_info.value.code == 2
        error = capsys.readouterr().err
        assert error.startswith("gan-eval: error: ") and "Traceback" not in error and error.count("\n") == 1


# The config tests' shrunk run, with the FID metric instead of none.
FID_RUN = [o for o in SHRINK if o != "metrics=none"] + [
    "metrics=fid", "dataset=digits", "dataset.resolution=8", *TINY,
    "metrics.n_samples=20", f"metrics.dims={DIMS}",
]


def test_gan_run_without_weights_stops_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(UserError, match=WEIGHTS_FILE):
        train(make_config(*FID_RUN, "metrics.download=false"), tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "metrics.jsonl").exists()


def test_gan_run_logs_fid_and_gan_eval_of_the_run_agrees(weights: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    summary = train(make_config(*FID_RUN, f"metrics.cache_dir={cache}"), tmp_path / "run")
    scores = summary["metrics"]
    assert set(scores) == {"fid20_train_64d", "kid20_train_64d_mean", "kid20_train_64d_std",
                           "precision20_train_64d", "recall20_train_64d"}
    assert len(list(cache.glob("digits_train_8px_20_64d_*.npz"))) == 1
    # The protocol and the best FID reach summary.json; best.pt holds the state it was measured on.
    assert summary["metrics_protocol"]["weights_sha256"] == sha256_of(weights)
    assert summary["metrics_protocol"]["dims"] == str(DIMS)
    assert summary["best"] == {"key": "fid20_train_64d", "value": scores["fid20_train_64d"], "step": summary["step"]}
    assert Checkpoint.load(tmp_path / "run" / "checkpoints" / "best.pt").state["step"] == summary["step"]
    # The loop samples with seed + 2, gan-eval by default too: the same images and the cached statistics.
    out = tmp_path / "eval.json"
    gan_eval([f"run={tmp_path / 'run'}", "n=20", f"dims={DIMS}", f"cache_dir={cache}", f"out={out}"])
    result = json.loads(out.read_text())
    assert result["protocol"]["seed"] == 2 and set(result) == {*scores, "protocol"}
    assert relative(result["fid20_train_64d"], scores["fid20_train_64d"]) < 1e-6
    assert result["protocol"]["reference"].startswith("reference=train: Digits as configured, 20 of 1797 images")


def test_gan_eval_of_a_run_measures_each_generated_batch_before_drawing_the_next(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train(make_config(*SHRINK, "dataset=digits", "dataset.resolution=8", *TINY), tmp_path / "run")
    gan_eval([f"run={tmp_path / 'run'}", "n=20", f"dims={DIMS}", f"cache_dir={tmp_path / 'cache'}"])  # real side
    events: list[tuple[str, int]] = []
    record_network_calls(monkeypatch, events)
    draw_in_500s = sample.draw_batches

    def draw_in_fives(*args: object, **kwargs: object):
        for batch in draw_in_500s(*args, **{**kwargs, "batch_size": 5}):
            events.append(("generated", len(batch)))
            yield batch

    monkeypatch.setattr(sample, "draw_batches", draw_in_fives)
    gan_eval([f"run={tmp_path / 'run'}", "n=20", f"dims={DIMS}", f"cache_dir={tmp_path / 'cache'}"])
    assert events == [("generated", 5), ("inception", 5)] * 4
