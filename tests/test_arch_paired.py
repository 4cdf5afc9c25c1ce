"""arch/pix2pix.py and arch/srgan.py, the paired game's networks: parameter counts against the references (pix2pix's
PyTorch port's printed counts; SRResNet's counted by hand from the paper's figure 4), shapes at the papers' sizes
and on the 28x28 digits, pix2pix's dropout kept at sampling, its initialisation, the conditional discriminator's
view of the pair, the refusals, and every conf/arch file that says `game: paired` built as the paired game builds
it (data_shape and source_shape) and taking one backward pass."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from gan_runner.arch import count_parameters, pix2pix, srgan
from tests.conftest import TINY, archs_of, make_config


def conv(k: int, c_in: int, c_out: int, bias: bool = True) -> int:
    """Parameters of a k x k convolution (or transposed convolution)."""
    return k * k * c_in * c_out + (c_out if bias else 0)


def bn(c: int) -> int:
    return 2 * c


def test_pix2pix_at_256_has_the_parameter_counts_the_reference_prints() -> None:
    """facades (RGB -> RGB, 256x256, --netG unet_256 --netD basic --norm batch): the port prints "[Network G] Total
    number of parameters : 54.414 M" and "[Network D] ... : 2.769 M" (BaseModel.print_networks, %.3f of millions).
    The exact counts, from models/networks.py's layers: no bias before batch norm, a bias in the outermost
    transposed convolution and in D's first and last convolutions, no norm in the innermost level's down path."""
    ngf = 64
    innermost = conv(4, 8 * ngf, 8 * ngf, False) + conv(4, 8 * ngf, 8 * ngf, False) + bn(8 * ngf)

    def level(outer: int, inner: int) -> int:  # down conv + norm, up conv (from inner + skip) + norm
        return conv(4, outer, inner, False) + bn(inner) + conv(4, 2 * inner, outer, False) + bn(outer)

    outermost = conv(4, 3, ngf, False) + conv(4, 2 * ngf, 3)
    g = innermost + 3 * level(8 * ngf, 8 * ngf) + level(4 * ngf, 8 * ngf) + level(2 * ngf, 4 * ngf) \
        + level(ngf, 2 * ngf) + outermost
    ndf = 64
    d = conv(4, 6, ndf) + conv(4, ndf, 2 * ndf, False) + bn(2 * ndf) + conv(4, 2 * ndf, 4 * ndf, False) \
        + bn(4 * ndf) + conv(4, 4 * ndf, 8 * ndf, False) + bn(8 * ndf) + conv(4, 8 * ndf, 1)
    G = pix2pix.Generator(data_shape=(3, 256, 256), source_shape=(3, 256, 256))
    D = pix2pix.Discriminator(data_shape=(3, 256, 256), source_shape=(3, 256, 256))
    assert (count_parameters(G), count_parameters(D)) == (g, d) == (54_413_955, 2_768_705)
    assert (f"{count_parameters(G) / 1e6:.3f} M", f"{count_parameters(D) / 1e6:.3f} M") == ("54.414 M", "2.769 M")


def test_pix2pix_shapes_at_256() -> None:
    """num_downs 8 at 256 (a 1x1 bottleneck, no padding); the 70x70 PatchGAN gives a 30x30 map."""
    G = pix2pix.Generator(data_shape=(3, 256, 256), source_shape=(3, 256, 256), width=4)
    D = pix2pix.Discriminator(data_shape=(3, 256, 256), source_shape=(3, 256, 256), width=4)
    convs = [m for m in G.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 8 and G.pads == (0, 0, 0, 0)
    source = torch.rand(2, 3, 256, 256) * 2 - 1
    x = G(source)
    assert x.shape == (2, 3, 256, 256) and x.min() >= -1 and x.max() <= 1
    assert D(x, source).shape == (2, 1, 30, 30)


def test_pix2pix_on_28x28_digits_pads_to_32_and_crops_back() -> None:
    """num_downs null is 5 at 28 (reflection-padded to 32, 2 pixels each side); D's map is 1x1 there."""
    G = pix2pix.Generator(data_shape=(1, 28, 28), source_shape=(1, 28, 28), width=8)
    D = pix2pix.Discriminator(data_shape=(1, 28, 28), source_shape=(1, 28, 28), width=8)
    assert len([m for m in G.modules() if isinstance(m, nn.Conv2d)]) == 5 and G.pads == (2, 2, 2, 2)
    source = torch.rand(4, 1, 28, 28) * 2 - 1
    x = G(source)
    assert x.shape == (4, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert D(x, source).shape == (4, 1, 1, 1)
    assert pix2pix.Discriminator(data_shape=(1, 28, 28), width=8, n_layers=1)(x).shape == (4, 1, 12, 12)
    shallow = pix2pix.Generator(data_shape=(1, 28, 28), source_shape=(1, 28, 28), width=8, num_downs=3)
    assert shallow.pads == (2, 2, 2, 2) and shallow(source).shape == (4, 1, 28, 28)  # 28 -> 32, multiple of 8


def test_the_reflection_padding_and_the_crop_undo_each_other() -> None:
    """The U-Net sees the source reflected into a 32x32 border (2 pixels each side at 28), and G's output is cut back
    at the same offsets: a U-Net that returned its input would give the source back exactly."""
    G = pix2pix.Generator(data_shape=(1, 28, 28), source_shape=(1, 28, 28), width=4)
    seen = []

    class Recorder(nn.Module):
        def forward(self, padded: torch.Tensor) -> torch.Tensor:
            seen.append(padded)
            return padded

    G.model = Recorder()
    source = torch.rand(2, 1, 28, 28)
    assert torch.equal(G(source), source)
    (padded,) = seen
    assert padded.shape == (2, 1, 32, 32)
    assert torch.equal(padded[..., 2:30, 0], source[..., :, 2])  # reflected: x2 x1 | x0 x1 ...
    assert torch.equal(padded[..., 31, 2:30], source[..., 25, :])


def _dropouts(G: nn.Module) -> list[nn.Dropout]:
    return [m for m in G.modules() if isinstance(m, nn.Dropout)]


@pytest.mark.parametrize("side", [256, 28])
def test_dropout_sits_after_the_decoder_norm_of_the_three_levels_outside_the_innermost(side: int) -> None:
    """At 256: the port's num_downs - 5 = 3 middle levels (widths 8 x ngf both sides); at 28 (num_downs 5, where the
    reference's rule leaves none) the three levels 2-4. Each follows a batch norm of the level's outer width."""
    G = pix2pix.Generator(data_shape=(1, side, side), source_shape=(1, side, side), width=2)
    after = [block.model[-2] for block in G.modules() if isinstance(block, pix2pix.SkipBlock)
             and isinstance(block.model[-1], nn.Dropout)]
    outer = [norm.num_features for norm in after]
    assert len(_dropouts(G)) == 3 and all(d.p == 0.5 for d in _dropouts(G))
    assert outer == ([16, 16, 16] if side == 256 else [2, 4, 8])
    assert _dropouts(pix2pix.Generator(data_shape=(1, side, side), source_shape=(1, side, side), width=2,
                                       dropout=0)) == []


@pytest.mark.parametrize("at_sampling", [True, False])
def test_dropout_stays_on_after_eval_only_when_kept_at_sampling(at_sampling: bool) -> None:
    """pix2pix's noise is its dropout, kept at test time: two eval() calls on one source then differ; with
    dropout_at_sampling false eval() turns dropout off (same output twice). In train() both drop."""
    G = pix2pix.Generator(data_shape=(1, 28, 28), source_shape=(1, 28, 28), width=8, dropout_at_sampling=at_sampling)
    source = torch.rand(3, 1, 28, 28) * 2 - 1
    G.train()
    assert not torch.equal(G(source), G(source))
    G.eval()
    with torch.no_grad():
        assert torch.equal(G(source), G(source)) is not at_sampling
    assert G.state_dict().keys() == pix2pix.Generator(data_shape=(1, 28, 28), source_shape=(1, 28, 28), width=8,
                                                      dropout_at_sampling=not at_sampling).state_dict().keys()


def test_pix2pix_starts_from_normal_0_02_weights() -> None:
    """init_weights 'normal': convolution weights N(0, 0.02), their biases 0; batch norm gains N(1, 0.02), biases 0."""
    torch.manual_seed(0)
    for net in (pix2pix.Generator(data_shape=(3, 64, 64), source_shape=(3, 64, 64)),
                pix2pix.Discriminator(data_shape=(3, 64, 64), source_shape=(3, 64, 64))):
        convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        weights = torch.cat([m.weight.detach().flatten() for m in convs])
        gains = torch.cat([m.weight.detach() for m in net.modules() if isinstance(m, nn.BatchNorm2d)])
        biases = [m.bias for m in net.modules() if getattr(m, "bias", None) is not None]
        assert abs(weights.mean().item()) < 1e-3 and weights.std().item() == pytest.approx(0.02, rel=0.02)
        assert gains.mean().item() == pytest.approx(1, abs=0.01) and gains.std().item() == pytest.approx(0.02, rel=0.2)
        assert all(not b.any() for b in biases)


@pytest.mark.parametrize("module, data_shape, source_shape", [
    (pix2pix, (1, 28, 28), (1, 28, 28)), (srgan, (1, 28, 28), (1, 7, 7))])
def test_a_discriminator_built_with_a_source_judges_the_pair(module, data_shape, source_shape) -> None:
    """The source is concatenated on channels (first), enlarged to the image's size when smaller: another source
    changes the scores; none is refused. Built with source_shape None, D sees the image's channels only."""
    torch.manual_seed(0)
    D = module.Discriminator(data_shape=data_shape, source_shape=source_shape, width=8).eval()
    image, source = torch.rand(2, *data_shape), torch.rand(2, *source_shape)
    first = next(m for m in D.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == data_shape[0] + source_shape[0]
    assert not torch.equal(D(image, source), D(image, -source))
    with pytest.raises(ValueError, match="needs the source"):
        D(image)
    alone = module.Discriminator(data_shape=data_shape, width=8).eval()
    assert next(m for m in alone.modules() if isinstance(m, nn.Conv2d)).in_channels == data_shape[0]
    assert torch.equal(alone(image), alone(image, source))  # SRGAN's: the image alone


@pytest.mark.parametrize("channels, source_side, side", [(1, 7, 28), (3, 24, 96)])
def test_srgan_shapes_at_x4(channels: int, source_side: int, side: int) -> None:
    G = srgan.Generator(data_shape=(channels, side, side), source_shape=(channels, source_side, source_side),
                        width=8, blocks=2)
    D = srgan.Discriminator(data_shape=(channels, side, side), width=8, dense=16)
    assert sum(isinstance(m, nn.PixelShuffle) for m in G.modules()) == 2
    x = G(torch.rand(3, channels, source_side, source_side) * 2 - 1)
    assert x.shape == (3, channels, side, side) and x.min() >= -1 and x.max() <= 1
    assert D(x).shape == (3,)
    flat = 64 * ((side + 15) // 16) ** 2  # 8 x width channels after four stride-2 convolutions (ceil halving)
    assert next(m for m in D.modules() if isinstance(m, nn.Linear)).in_features == flat


def test_srresnet_parameter_count_from_figure_4() -> None:
    """RGB, x4, B = 16, 64 channels: 9x9 conv + PReLU; 16 x (conv, BN, PReLU, conv, BN); conv + BN; 2 x (conv to 256,
    PixelShuffle, PReLU); 9x9 conv to 3. Biases in every convolution, one slope per PReLU (our choices)."""
    prelu = 1
    expected = (conv(9, 3, 64) + prelu
                + 16 * (2 * conv(3, 64, 64) + 2 * bn(64) + prelu)
                + conv(3, 64, 64) + bn(64)
                + 2 * (conv(3, 64, 256) + prelu)
                + conv(9, 64, 3))
    G = srgan.Generator(data_shape=(3, 96, 96), source_shape=(3, 24, 24))
    assert count_parameters(G) == expected == 1_549_462
    widths = [3, 64, 64, 128, 128, 256, 256, 512, 512]
    d = sum(conv(3, a, b) for a, b in zip(widths, widths[1:])) + sum(bn(w) for w in widths[2:]) \
        + (512 * 6 * 6 * 1024 + 1024) + (1024 + 1)
    assert count_parameters(srgan.Discriminator(data_shape=(3, 96, 96))) == d


@pytest.mark.parametrize("build, match", [
    (lambda: srgan.Generator(data_shape=(1, 28, 28), source_shape=(1, 10, 10)), "power of two"),
    (lambda: srgan.Generator(data_shape=(1, 28, 28), source_shape=(1, 7, 14)), "power of two"),
    (lambda: pix2pix.Generator(data_shape=(1, 28, 28), source_shape=(1, 7, 7)), "arch=srgan"),
    (lambda: pix2pix.Generator(data_shape=(1, 28, 28), source_shape=(1, 28, 28), num_downs=7), "smaller num_downs"),
    (lambda: pix2pix.Discriminator(data_shape=(1, 16, 16), n_layers=3), "fewer layers"),
    (lambda: pix2pix.Generator(data_shape=(2,), source_shape=(2,)), "image shape"),
])
def test_shapes_the_networks_cannot_take_are_refused_with_the_fix(build, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


# The shapes each paired architecture is built with in the paired game's embedded tasks (a new one must be added).
PAIRED_SHAPES = {"pix2pix": ((1, 28, 28), (1, 28, 28)),  # dataset=mnist_edges: edges -> digit
                 "srgan": ((1, 28, 28), (1, 7, 7))}      # dataset=mnist_sr: 7x7 -> 28x28


@pytest.mark.parametrize("arch", archs_of("paired"))
def test_every_paired_arch_yaml_builds_its_networks_and_trains_a_step(arch: str) -> None:
    """conf/arch/<name>.yaml with `game: paired`, composed as a user does and built as the paired game builds it
    (data_shape, source_shape): G translates a batch, D scores it, and one backward pass reaches every parameter."""
    assert arch in PAIRED_SHAPES, f"conf/arch/{arch}.yaml says game: paired; give it shapes in PAIRED_SHAPES"
    cfg = make_config(f"arch={arch}", *TINY)
    assert cfg.arch.game == "paired"
    data_shape, source_shape = PAIRED_SHAPES[arch]
    G = instantiate(cfg.arch.generator, data_shape=data_shape, source_shape=source_shape)
    D = instantiate(cfg.arch.discriminator, data_shape=data_shape, source_shape=source_shape)
    source = torch.rand(4, *source_shape) * 2 - 1
    image = G(source)
    assert image.shape == (4, *data_shape)
    D(image, source).mean().backward()
    assert all(p.grad is not None for p in [*G.parameters(), *D.parameters()])
