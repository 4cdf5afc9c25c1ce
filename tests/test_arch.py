"""Architectures: the contract's shapes at every resolution offered, and clear errors otherwise."""

from __future__ import annotations

import pytest
import torch

from gan_runner.arch import count_parameters, dcgan, mlp


@pytest.mark.parametrize("resolution", [8, 16, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(resolution: int, channels: int) -> None:
    shape = (channels, resolution, resolution)
    G, D = dcgan.Generator(z_dim=10, data_shape=shape, width=4), dcgan.Discriminator(shape, width=4)
    x = G(torch.randn(5, 10))
    assert x.shape == (5, *shape)
    assert x.min() >= -1 and x.max() <= 1
    assert D(x).shape == (5,)


def test_dcgan_paper_widths_at_32() -> None:
    G = dcgan.Generator(z_dim=100, data_shape=(3, 32, 32), width=64)
    D = dcgan.Discriminator((3, 32, 32), width=64)
    g_widths = [m.out_channels for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    d_widths = [m.out_channels for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert g_widths == [256, 128, 64, 3]
    assert d_widths == [64, 128, 256, 1]


def test_dcgan_bias_default_keeps_the_earlier_networks() -> None:
    """bias=True (the default) is the networks of earlier versions, whose checkpoints still load: pytorch/examples'
    (bias=False; G 3,576,704 and D 2,765,568 at 64x64x3) plus G's last convolution's 3 biases and D's first and
    last convolutions' 64 + 1."""
    G = dcgan.Generator(z_dim=100, data_shape=(3, 64, 64))
    D = dcgan.Discriminator((3, 64, 64))
    assert (count_parameters(G), count_parameters(D)) == (3_576_704 + 3, 2_765_568 + 65)
    G.load_state_dict(dcgan.Generator(z_dim=100, data_shape=(3, 64, 64), bias=True).state_dict())
    with pytest.raises(RuntimeError, match="Unexpected key"):
        dcgan.Generator(z_dim=100, data_shape=(3, 64, 64), bias=False).load_state_dict(G.state_dict())
    # With no normalisation, every convolution of D is one that no normalisation follows.
    plain = dcgan.Discriminator((3, 32, 32), width=8, norm="none", bias=False)
    assert all(m.bias is None for m in plain.modules() if isinstance(m, torch.nn.Conv2d))


@pytest.mark.parametrize("shape", [(1, 24, 24), (1, 4, 4), (1, 32, 16), (2,)])
def test_dcgan_refuses_shapes_it_cannot_make(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="power of two|arch=mlp"):
        dcgan.Generator(z_dim=8, data_shape=shape)


@pytest.mark.parametrize("shape", [(2,), (1, 8, 8), (3, 16, 16)])
def test_mlp_shapes(shape: tuple[int, ...]) -> None:
    G, D = mlp.Generator(z_dim=6, data_shape=shape, depth=2, width=8), mlp.Discriminator(shape, depth=2, width=8)
    x = G(torch.randn(7, 6))
    assert x.shape == (7, *shape)
    assert D(x).shape == (7,)
    if len(shape) == 3:  # images are bounded by tanh, 2-D data is not
        assert x.abs().max() <= 1
    else:
        assert isinstance(G.output, torch.nn.Identity)
