"""gan-sample inputs=DIR/ out=DIR/ (commands/sample.py): a paired run's averaged G translates every image of a folder
into a PNG of the same name, repeatably (seeded dropout); and one paragraph for each input it cannot translate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_runner.commands.sample import load_generator
from gan_runner.data.mnist_pairs import MNISTEdges
from gan_runner.data.paired import to_float
from gan_runner.data.paired_folder import square
from gan_runner.engine.loop import train
from gan_runner.game.paired import seeded
from tests.conftest import RING, TINY, make_config, run

PAIRED = ["dataset=mnist_edges", "logger=none", "metrics=none", "train.device=cpu", "train.steps=4",
          "train.batch_size=4", "train.log_every=2", *TINY]


@pytest.fixture(scope="module")
def paired_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny pix2pix run on mnist_edges (4 steps, 8 filters): its G maps 28x28 grey edges to 28x28 digits."""
    folder = tmp_path_factory.mktemp("paired") / "run"
    train(make_config(*PAIRED), folder)
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five held-out edge images as PNGs (exactly the dataset's sources), a larger colour JPEG (greyed and resized
    to 28x28), and what is not read: a text file and an image in a subfolder."""
    folder = tmp_path_factory.mktemp("inputs")
    sources = MNISTEdges().held_out()[0][:5]
    for number, source in enumerate(sources):
        Image.fromarray(((source[0] + 1) * 127.5).round().byte().numpy()).save(folder / f"edge{number}.png")
    colours = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    Image.fromarray(colours).save(folder / "big.jpg")
    (folder / "notes.txt").write_text("not an image")
    (folder / "nested").mkdir()
    Image.fromarray(colours).save(folder / "nested" / "deeper.png")
    return folder


def pixels(folder: Path) -> dict[str, np.ndarray]:
    return {path.name: np.asarray(Image.open(path)) for path in sorted(folder.iterdir())}


def test_each_input_becomes_a_png_of_its_name_that_g_translated(paired_run: Path, inputs: Path,
                                                                 tmp_path: Path) -> None:
    for out, seed in (("out", 0), ("again", 0), ("other", 1)):
        run("gan-sample", f"run={paired_run}", f"inputs={inputs}", f"out={tmp_path / out}/", f"seed={seed}",
            cwd=tmp_path)
    written = pixels(tmp_path / "out")
    assert sorted(written) == ["big.png", *(f"edge{n}.png" for n in range(5))]  # not notes.txt, not nested/
    assert all(image.shape == (28, 28) for image in written.values())  # the run's target: 28x28 grey

    # The same sources by hand: the PNGs are the dataset's held-out sources exactly; the JPEG greyed and resized as
    # paired_folder resizes held-out pairs; all through G_ema in one batch, in name order, dropout seeded with 0.
    with Image.open(inputs / "big.jpg") as jpeg:
        grey = torch.from_numpy(np.asarray(jpeg.convert("L")).copy())[None]
    sources = torch.cat([to_float(square(grey, 28))[None], MNISTEdges().held_out()[0][:5]])
    generator, _ = load_generator(paired_run)
    with seeded(0, torch.device("cpu")), torch.no_grad():
        by_hand = ((generator(sources).clamp(-1, 1) + 1) * 127.5).round().byte()[:, 0].numpy()
    for image, expected in zip(written.values(), by_hand):
        np.testing.assert_array_equal(image, expected)

    # Repeatable: the same seed gives the same files; another seed other dropout (pix2pix's noise stays on).
    again, other = pixels(tmp_path / "again"), pixels(tmp_path / "other")
    assert all(np.array_equal(written[name], again[name]) for name in written)
    assert not all(np.array_equal(written[name], other[name]) for name in written)


@pytest.fixture(scope="module")
def noise_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("noise") / "run"
    train(make_config(*RING, "train.steps=2"), folder)
    return folder


def bad_cases(paired: Path, noise: Path, inputs: Path, tmp: Path) -> dict[str, tuple[list[str], list[str]]]:
    """name -> (gan-sample's arguments, what its one paragraph must say)."""
    (tmp / "empty").mkdir(exist_ok=True)
    (tmp / "no_images" / "sub").mkdir(parents=True, exist_ok=True)
    (tmp / "no_images" / "readme.txt").write_text("x")
    (tmp / "a_file").write_text("x")
    (tmp / "clash").mkdir(exist_ok=True)
    for name in ("seven.png", "seven.jpg"):
        Image.new("L", (28, 28)).save(tmp / "clash" / name)
    out = f"out={tmp / 'out'}/"
    return {
        "noise_run": ([f"run={noise}", f"inputs={inputs}", out],
                      ["draws images from noise", "Fix: gan-sample run=RUN n="]),
        "missing": ([f"run={paired}", f"inputs={tmp / 'nowhere'}", out], ["does not exist", "Fix:"]),
        "empty": ([f"run={paired}", f"inputs={tmp / 'empty'}", out], ["holds no images", "it is empty"]),
        "no_images": ([f"run={paired}", f"inputs={tmp / 'no_images'}", out],
                      ["holds no images", "readme.txt, sub/", "subfolders are not read"]),
        "n_and_y": ([f"run={paired}", f"inputs={inputs}", out, "n=4", "y=1"],
                    ["n= (there is one output per input image) and y=", "mean nothing with inputs=",
                     "Fix: drop n= and y="]),
        "out_a_picture": ([f"run={paired}", f"inputs={inputs}", f"out={tmp / 'x.png'}"], ["is not a folder"]),
        "out_a_file": ([f"run={paired}", f"inputs={inputs}", f"out={tmp / 'a_file'}"], ["is not a folder"]),
        "out_the_inputs": ([f"run={paired}", f"inputs={inputs}", f"out={inputs}/"], ["is the inputs folder itself"]),
        "same_stem": ([f"run={paired}", f"inputs={tmp / 'clash'}", out],
                      ["seven.jpg and seven.png", "seven.png in out="]),
        "direction": ([f"run={paired}", f"inputs={inputs}", out, "direction=BtoA"],
                      ["game (paired) has one direction", "Fix: drop direction="]),
        "no_inputs_on_a_paired_run": ([f"run={paired}", "n=16", f"out={tmp / 'x.png'}"],
                                      ["translates images", "Fix: give inputs=DIR/"]),
    }


BAD = ["noise_run", "missing", "empty", "no_images", "n_and_y", "out_a_picture", "out_a_file", "out_the_inputs",
       "same_stem", "direction", "no_inputs_on_a_paired_run"]


@pytest.mark.parametrize("case", BAD)
def test_what_cannot_be_translated_is_one_paragraph(case: str, paired_run: Path, noise_run: Path, inputs: Path,
                                                    tmp_path: Path) -> None:
    arguments, said = bad_cases(paired_run, noise_run, inputs, tmp_path)[case]
    before = sorted(path.name for path in inputs.iterdir())
    result = run("gan-sample", *arguments, cwd=tmp_path, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("gan-sample: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr and all(text in result.stderr for text in said), result.stderr
    assert not (tmp_path / "out").exists() and sorted(path.name for path in inputs.iterdir()) == before


def test_the_help_says_how_to_translate(tmp_path: Path) -> None:
    shown = run("gan-sample", "--help", cwd=tmp_path).stdout
    assert "inputs=DIR/" in shown and "direction=" in shown and "inputs=edges/ out=digits/" in shown
