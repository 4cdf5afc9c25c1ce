"""scripts/cgan_digits_check.py: each class's agreement is the digits judge's reading of gan-sample's samples of
that class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gan_runner.commands.sample import load_generator
from gan_runner.engine.loop import train
from gan_runner.engine.sampling import draw
from tests.conftest import SHRINK, TINY, make_config




def test_cgan_digits_check_reports_each_class(tmp_path: Path) -> None:
    train(make_config(*SHRINK, "arch=resnet", *TINY, "dataset=digits", "conditional=true"), tmp_path)
    import cgan_digits_check as check

    table, agreement = check.check(tmp_path, n=20)
    assert set(agreement) == set(range(10))
    generator, z_dim = load_generator(tmp_path)
    judge = check.DigitsClassifier(seed=0)
    for k, value in agreement.items():  # recomputed without gan-sample: class k's 20 samples (seed 0), judged
        samples = draw(generator, z_dim, 20, seed=0, y=k)
        assert torch.equal(torch.from_numpy(np.load(tmp_path / "class_check" / f"class_{k}.npz")["x"]), samples)
        assert value == float((judge.classifier.predict(check.to_8x8(samples)) == k).mean())
    assert table.splitlines()[0].startswith("| class")
    assert check.main([str(tmp_path), "--n", "20", "--threshold", "1.01"]) == 1  # nothing reaches 101%
