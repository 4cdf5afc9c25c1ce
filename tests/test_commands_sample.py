"""gan-sample (commands/sample.py): arrays and grids from a run's averaged generator, a class of a conditional
run, and one paragraph for what cannot be drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gan_runner.commands.sample import load_generator, main as sample_main
from gan_runner.engine.loop import train
from gan_runner.engine.sampling import draw
from tests.conftest import SHRINK, TINY, make_config, run




def test_gan_sample_writes_arrays_and_grids(trained_run: Path, tmp_path: Path) -> None:
    run("gan-sample", f"run_dir={trained_run}", "n=10", f"out={tmp_path / 'x.npz'}", cwd=tmp_path)
    x = np.load(tmp_path / "x.npz")["x"]
    assert x.shape == (10, 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    run("gan-sample", f"run_dir={trained_run}", "n=16", f"out={tmp_path / 'grid.png'}", cwd=tmp_path)
    assert (tmp_path / "grid.png").stat().st_size > 0
    bad = run("gan-sample", f"run_dir={tmp_path / 'nothing'}", "n=1", "out=a.npz", cwd=tmp_path, check=False)
    assert bad.returncode == 2 and "There is no checkpoint at" in bad.stderr and "Traceback" not in bad.stderr


def test_gan_sample_draws_the_asked_class(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    train(make_config(*SHRINK, "arch=sagan", *TINY, "dataset=digits", "conditional=true"), run)
    sample_main([f"run_dir={run}", "n=6", f"out={tmp_path / 'three.npz'}", "y=3"])
    three = np.load(tmp_path / "three.npz")["x"]
    assert three.shape == (6, 1, 8, 8)
    # The same z (seed 0) through the EMA generator with label 3 by hand.
    generator, z_dim = load_generator(run)
    z = torch.randn(6, z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        by_hand = generator(z, torch.full((6,), 3))
    np.testing.assert_allclose(three, by_hand.numpy(), rtol=0, atol=1e-6)
    assert not torch.allclose(draw(generator, z_dim, 6, y=4), torch.from_numpy(three))
    assert draw(generator, z_dim, 6).shape == (6, 1, 8, 8)  # no y: random classes
    for bad in ("y=10", "y=-1", "y=three"):
        with pytest.raises(SystemExit) as exit_info:
            sample_main([f"run_dir={run}", "n=2", f"out={tmp_path / 'bad.npz'}", bad])
        assert exit_info.value.code == 2
    assert "not a class of this run" in capsys.readouterr().err


def test_gan_sample_refuses_a_class_from_an_unconditional_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    train(make_config(*SHRINK, *TINY, "dataset=digits"), tmp_path)
    with pytest.raises(SystemExit):
        sample_main([f"run_dir={tmp_path}", "n=2", f"out={tmp_path / 'x.npz'}", "y=1"])
    assert "unconditional" in capsys.readouterr().err


def test_gan_sample_truncates_stylegan2s_styles_by_psi_and_refuses_psi_elsewhere(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    train(make_config(*SHRINK, "arch=stylegan2", "dataset=digits", "arch.generator.noise_mode=const"), run)
    draws = {}
    for psi in (None, "0", "0.5"):
        out = tmp_path / f"psi{psi}.npz"
        sample_main([f"run={run}", "n=4", f"out={out}"] + ([f"psi={psi}"] if psi is not None else []))
        draws[psi] = torch.from_numpy(np.load(out)["x"])
    # psi 0: every w is the tracked average, so (noise held constant) every sample is the same image
    torch.testing.assert_close(draws["0"], draws["0"][:1].expand_as(draws["0"]))
    assert not torch.allclose(draws[None], draws[None][:1].expand_as(draws[None]))
    # psi 0.5: each sample is the synthesis of w_avg + 0.5 (w - w_avg), the same z as the untruncated draw
    generator, z_dim = load_generator(run)
    z = torch.randn(4, z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ws = generator.mapping(z, None).unsqueeze(1).repeat(1, generator.num_ws, 1)
        by_hand = generator.synthesis(generator.w_avg.lerp(ws, 0.5))
    torch.testing.assert_close(draws["0.5"], by_hand, rtol=0, atol=1e-5)
    other = tmp_path / "dcgan"
    train(make_config(*SHRINK, *TINY, "dataset=digits"), other)
    with pytest.raises(SystemExit) as exit_info:
        sample_main([f"run={other}", "n=2", f"out={tmp_path / 'x.npz'}", "psi=0.7"])
    assert exit_info.value.code == 2 and "has no styles to truncate" in capsys.readouterr().err
