"""arch/cyclegan.py and pix2pix's discriminator with instance norm, CycleGAN's networks: parameter counts against the
authors' port's printed ones, the port's state_dict layout (so its checkpoints' keys load), G's forward against the
port's layer list written out as functions, closed forms (a block whose last convolution is zero is the identity,
the reflection border, outputs in (-1, 1)), the number of blocks by size, the initialisation, the refusals, and
every conf/arch file that says `game: cycle` built as the cycle game builds it.

The counts, layouts and forwards were also checked once against the port's own classes (ResnetGenerator,
NLayerDiscriminator at junyanz/pytorch-CycleGAN-and-pix2pix 032e884) in a scratch script outside the repository: the
same state_dict keys and shapes with instance and batch norm, 6 and 9 blocks, with and without dropout, and the same
outputs bit for bit from the same weights. CI cannot import the port, so the tests below rebuild what it says."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from PIL import Image
from torch import nn

from gan_runner.arch import count_parameters, cyclegan, pix2pix
from tests.conftest import TINY, archs_of, make_config, run


def conv(k: int, c_in: int, c_out: int, bias: bool = True) -> int:
    """Parameters of a k x k convolution (or transposed convolution)."""
    return k * k * c_in * c_out + (c_out if bias else 0)


def test_cyclegan_at_256_has_the_parameter_counts_the_reference_prints() -> None:
    """horse2zebra (RGB <-> RGB, 256x256, --netG resnet_9blocks --netD basic --norm instance): the port prints
    "[Network G_A] Total number of parameters : 11.378 M" and "[Network D_A] ... : 2.765 M" (BaseModel.print_networks,
    %.3f of millions). The exact counts, from networks.py's layers: instance norm has no parameters and every
    convolution keeps its bias (use_bias is true with instance norm)."""
    ngf, ndf = 64, 64
    g = (conv(7, 3, ngf) + conv(3, ngf, 2 * ngf) + conv(3, 2 * ngf, 4 * ngf)     # in, two down
         + 9 * 2 * conv(3, 4 * ngf, 4 * ngf)                                      # nine residual blocks
         + conv(3, 4 * ngf, 2 * ngf) + conv(3, 2 * ngf, ngf) + conv(7, ngf, 3))   # two up, out
    d = conv(4, 3, ndf) + conv(4, ndf, 2 * ndf) + conv(4, 2 * ndf, 4 * ndf) + conv(4, 4 * ndf, 8 * ndf) \
        + conv(4, 8 * ndf, 1)
    G = cyclegan.Generator(data_shape=(3, 256, 256), source_shape=(3, 256, 256))
    D = pix2pix.Discriminator(data_shape=(3, 256, 256), norm="instance")
    assert (count_parameters(G), count_parameters(D)) == (g, d) == (11_378_179, 2_764_737)
    assert (f"{count_parameters(G) / 1e6:.3f} M", f"{count_parameters(D) / 1e6:.3f} M") == ("11.378 M", "2.765 M")


def port_layout(blocks: int, dropout: bool, width: int = 64, channels: tuple[int, int] = (3, 3),
                bias: bool = True) -> dict[str, tuple[int, ...]]:
    """ResnetGenerator's state_dict keys and shapes, from the indices of its nn.Sequential: pad, conv, norm, ReLU; two
    (conv, norm, ReLU) down; the blocks (each: pad, conv, norm, ReLU, [Dropout], pad, conv, norm); two (transposed
    conv, norm, ReLU) up; pad, conv, Tanh. Instance norm without affine parameters adds no keys (bias True); batch
    norm adds its gain and shift right after each convolution but the last, which lose their biases (bias False)."""
    source, target = channels
    keys: dict[str, tuple[int, ...]] = {}

    def add(index: str, weight: tuple[int, ...], out: int, normed: bool = True) -> None:
        keys[f"model.{index}.weight"] = weight
        if bias or not normed:
            keys[f"model.{index}.bias"] = (out,)
        if normed and not bias:  # batch norm, the next module of the list
            *parent, position = index.split(".")
            norm = ".".join([*parent, str(int(position) + 1)])
            keys.update({f"model.{norm}.{p}": (out,) for p in ("weight", "bias")})

    add("1", (width, source, 7, 7), width)
    add("4", (2 * width, width, 3, 3), 2 * width)
    add("7", (4 * width, 2 * width, 3, 3), 4 * width)
    second = 6 if dropout else 5
    for block in range(blocks):
        for index in (1, second):
            add(f"{10 + block}.conv_block.{index}", (4 * width, 4 * width, 3, 3), 4 * width)
    up = 10 + blocks
    for offset, (c_in, c_out) in enumerate([(4 * width, 2 * width), (2 * width, width)]):
        add(str(up + 3 * offset), (c_in, c_out, 3, 3), c_out)  # ConvTranspose2d's weight: (in, out, k, k)
    add(str(up + 7), (target, width, 7, 7), target, normed=False)  # the last convolution: a bias, no norm
    return keys


@pytest.mark.parametrize("blocks, dropout, norm", [(9, 0.0, "instance"), (6, 0.5, "instance"), (2, 0.0, "batch")])
def test_the_state_dict_has_the_ports_keys_and_shapes(blocks: int, dropout: float, norm: str) -> None:
    """A checkpoint of the port's netG_A (its keys, less the running statistics old instance norms saved, which the
    port's own loader deletes) loads into ours: the same module indices and shapes, with dropout shifting the
    blocks' second convolution from index 5 to 6, as the port's list does."""
    G = cyclegan.Generator(data_shape=(1, 32, 32), source_shape=(3, 32, 32), width=4, blocks=blocks, norm=norm,
                           dropout=dropout)
    expected = port_layout(blocks, dropout > 0, width=4, channels=(3, 1), bias=norm == "instance")
    params = {key: tuple(value.shape) for key, value in G.named_parameters()}
    assert params == expected, set(params) ^ set(expected)
    if norm == "instance":
        assert {key: tuple(value.shape) for key, value in G.state_dict().items()} == expected  # no buffers either
    assert sum(isinstance(m, nn.Dropout) for m in G.modules()) == (blocks if dropout else 0)


def port_forward(weights: dict[str, torch.Tensor], source: torch.Tensor, blocks: int) -> torch.Tensor:
    """ResnetGenerator.forward with instance norm (eps 1e-5, no affine, batch statistics always), written out as
    functions from networks.py's layer list; the port's module indices name the weights."""

    def conv(name: str, x: torch.Tensor, **options) -> torch.Tensor:
        return F.conv2d(x, weights[f"{name}.weight"], weights[f"{name}.bias"], **options)

    def reflect(x: torch.Tensor, pixels: int) -> torch.Tensor:
        return F.pad(x, (pixels,) * 4, mode="reflect")

    x = F.relu(F.instance_norm(conv("model.1", reflect(source, 3))))
    x = F.relu(F.instance_norm(conv("model.4", x, stride=2, padding=1)))
    x = F.relu(F.instance_norm(conv("model.7", x, stride=2, padding=1)))
    for block in range(blocks):
        name = f"model.{10 + block}.conv_block"
        h = F.relu(F.instance_norm(conv(f"{name}.1", reflect(x, 1))))
        x = x + F.instance_norm(conv(f"{name}.5", reflect(h, 1)))
    for index in (10 + blocks, 13 + blocks):
        x = F.relu(F.instance_norm(F.conv_transpose2d(x, weights[f"model.{index}.weight"],
                                                      weights[f"model.{index}.bias"], stride=2, padding=1,
                                                      output_padding=1)))
    return torch.tanh(conv(f"model.{17 + blocks}", reflect(x, 3)))


@pytest.mark.parametrize("source_channels, channels, side", [(3, 3, 32), (1, 3, 36), (3, 1, 20)])
def test_the_generator_computes_the_ports_forward(source_channels: int, channels: int, side: int) -> None:
    """From the same weights, G's output is the port's layer list applied in order (reflection pads 3 and 1, stride-2
    convolutions, residual sums, transposed convolutions with output_padding 1, Tanh), in train() and eval() alike:
    instance norm keeps no running statistics."""
    G = cyclegan.Generator(data_shape=(channels, side, side), source_shape=(source_channels, side, side), width=4,
                           blocks=3)
    with torch.no_grad():  # non-zero biases, so that a misplaced one shows
        for name, param in G.named_parameters():
            if name.endswith("bias"):
                param.normal_(0, 0.1, generator=torch.Generator().manual_seed(len(name)))
    source = torch.rand(2, source_channels, side, side) * 2 - 1
    expected = port_forward(dict(G.named_parameters()), source, blocks=3)
    assert expected.shape == (2, channels, side, side)
    with torch.no_grad():
        assert torch.allclose(G.train()(source), expected, atol=1e-6)
        assert torch.allclose(G.eval()(source), expected, atol=1e-6)


def test_a_block_whose_last_convolution_is_zero_is_the_identity() -> None:
    """x + norm(conv_0(...)) with conv_0 = 0: instance norm of a zero map is zero, so each such block passes its input
    unchanged, and G equals the same network without blocks (blocks=0) from the same other weights."""
    G = cyclegan.Generator(data_shape=(1, 16, 16), source_shape=(1, 16, 16), width=4, blocks=2)
    bare = cyclegan.Generator(data_shape=(1, 16, 16), source_shape=(1, 16, 16), width=4, blocks=0)
    with torch.no_grad():
        for block in G.model[10:12]:
            assert isinstance(block, cyclegan.ResidualBlock)
            block.conv_block[5].weight.zero_()
            block.conv_block[5].bias.fill_(0.25)  # a bias alone is removed by the norm's mean
        ends = [module for module in G.model if not isinstance(module, cyclegan.ResidualBlock)]
        for ours, theirs in zip(ends, bare.model):
            for name, param in theirs.named_parameters():
                param.copy_(dict(ours.named_parameters())[name])
    source = torch.rand(3, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(G(source), bare(source), atol=1e-6)
        block = G.model[10]
        features = torch.randn(3, 16, 4, 4)
        assert torch.allclose(block(features), features, atol=1e-6)


def test_the_borders_are_reflected_and_the_outputs_lie_in_minus_one_one() -> None:
    """The first 7x7 convolution sees the source padded by reflection, 3 pixels each side (no zero border, which
    would be mid-grey in [-1, 1]); Tanh bounds the output even for inputs far outside [-1, 1]."""
    G = cyclegan.Generator(data_shape=(3, 24, 24), source_shape=(1, 24, 24), width=4)
    seen = []
    G.model[1].register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    source = torch.rand(2, 1, 24, 24)
    with torch.no_grad():
        out = G(source * 100)
    (padded,) = seen
    assert padded.shape == (2, 1, 30, 30)
    assert torch.equal(padded[..., 3:27, 0], source[..., :, 3] * 100)  # x3 x2 x1 | x0 x1 ...
    assert torch.equal(padded[..., 29, 3:27], source[..., 20, :] * 100)  # ... x22 x23 | x22 x21 x20
    assert out.shape == (2, 3, 24, 24) and out.abs().max() < 1


@pytest.mark.parametrize("side, blocks", [(256, 9), (512, 9), (128, 6), (32, 6)])
def test_blocks_null_takes_9_at_256_and_6_below(side: int, blocks: int) -> None:
    """define_G's resnet_9blocks at 256x256 and resnet_6blocks at 128x128 (the paper's appendix 7.2: 9 for 256 and
    higher); the shorter side decides."""
    G = cyclegan.Generator(data_shape=(1, side, side), source_shape=(1, side, side), width=2)
    assert G.blocks == blocks == sum(isinstance(m, cyclegan.ResidualBlock) for m in G.modules())
    wide = cyclegan.Generator(data_shape=(1, 128, 256), source_shape=(1, 128, 256), width=2)
    assert wide.blocks == 6


def test_the_initialisation_is_the_ports_normal_with_gain_0_02() -> None:
    """init_weights 'normal', gain 0.02: convolution weights N(0, 0.02), biases 0; batch norm's gains N(1, 0.02)."""
    G = cyclegan.Generator(data_shape=(3, 64, 64), source_shape=(3, 64, 64))
    trunk = G.model[10].conv_block[1].weight
    assert trunk.std().item() == pytest.approx(0.02, rel=0.01) and abs(trunk.mean().item()) < 1e-3
    assert all(torch.all(p == 0) for name, p in G.named_parameters() if name.endswith("bias"))
    batch = cyclegan.Generator(data_shape=(3, 64, 64), source_shape=(3, 64, 64), norm="batch")
    gains = torch.cat([m.weight for m in batch.modules() if isinstance(m, nn.BatchNorm2d)])
    assert gains.mean().item() == pytest.approx(1.0, abs=2e-3) and gains.std().item() == pytest.approx(0.02, rel=0.1)


def test_pix2pix_discriminator_takes_instance_norm_with_biases_and_keeps_batch_norm_by_default() -> None:
    """norm: instance is CycleGAN's D: instance norm without parameters or running statistics after the convolutions
    after the first, which then keep their biases (use_bias); the default is pix2pix's batch norm, biases dropped."""
    D = pix2pix.Discriminator(data_shape=(1, 32, 32), width=8, norm="instance")
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in D.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert all(c.bias is not None for c in convs) and len(norms) == 3
    assert all(not n.affine and not n.track_running_stats for n in norms)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules()) and list(D.buffers()) == []
    image = torch.rand(2, 1, 32, 32) * 2 - 1
    assert D(image).shape == (2, 1, 2, 2)
    assert torch.equal(D.train()(image), D.eval()(image))  # no running statistics: one behaviour
    default = pix2pix.Discriminator(data_shape=(1, 32, 32), width=8)
    assert [c.bias is not None for c in default.modules() if isinstance(c, nn.Conv2d)] == [True, False, False,
                                                                                          False, True]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in default.modules()) == 3


@pytest.mark.parametrize("build, match", [
    (lambda: cyclegan.Generator(data_shape=(1, 30, 30), source_shape=(1, 30, 30)), "multiples of 4"),
    (lambda: cyclegan.Generator(data_shape=(1, 4, 4), source_shape=(1, 4, 4)), "at least 8"),
    (lambda: cyclegan.Generator(data_shape=(1, 32, 32), source_shape=(1, 28, 28)), "one size"),
    (lambda: cyclegan.Generator(data_shape=(1, 32, 32), source_shape=(1, 32, 32), blocks=-1), "blocks"),
    (lambda: cyclegan.Generator(data_shape=(1, 32, 32), source_shape=(1, 32, 32), dropout=1.0), "dropout"),
    (lambda: cyclegan.Generator(data_shape=(1, 32, 32), source_shape=(1, 32, 32), norm="group"), "'instance'"),
    (lambda: pix2pix.Discriminator(data_shape=(1, 32, 32), norm="none"), "'batch' or 'instance'"),
])
def test_what_the_networks_cannot_take_is_refused_in_one_sentence_with_the_fix(build, match: str) -> None:
    with pytest.raises(ValueError, match=match) as refused:
        build()
    assert "\n" not in str(refused.value)


def test_gan_run_refuses_a_crop_size_the_generator_cannot_keep_in_one_paragraph(tmp_path: Path) -> None:
    """Your own folders cut to 30x30 (not a multiple of 4): gan-run experiment=cyclegan stops before training with
    exit 2 and one paragraph naming the key and the fix, no traceback."""
    for folder in ("trainA", "trainB", "testA", "testB"):
        (tmp_path / "data" / folder).mkdir(parents=True)
        for index in range(2):
            pixels = (torch.rand(36, 36, 3) * 255).to(torch.uint8).numpy()
            Image.fromarray(pixels).save(tmp_path / "data" / folder / f"{index}.png")
    result = run("gan-run", "experiment=cyclegan", f"dataset.root={tmp_path / 'data'}", "dataset.load_size=32",
                 "dataset.crop_size=30", "metrics=none", "logger=none", "train.device=cpu", "train.steps=1",
                 cwd=tmp_path, check=False)
    message = result.stderr.strip()
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert message.startswith("gan-run: error:") and "\n" not in message
    assert "arch.generator" in message and "30x30" in message and "dataset.crop_size=256" in message


# The shapes each cycle architecture is built with in the cycle game's embedded task (a new one must be added):
# dataset=mnist_digits8, MNIST digits (A) and scikit-learn's 8x8 digits enlarged (B), both 1 x 32 x 32.
CYCLE_SHAPES = {"cyclegan": ((1, 32, 32), (1, 32, 32))}


@pytest.mark.parametrize("arch", archs_of("cycle"))
def test_every_cycle_arch_yaml_builds_its_four_networks_and_trains_a_step(arch: str) -> None:
    """conf/arch/<name>.yaml with `game: cycle`, composed as a user does and built as the cycle game builds it:
    a_to_b (data_shape B, source_shape A), b_to_a (the two swapped), judge_b and judge_a (source_shape None: each
    judges its domain's images alone). A -> B -> A and the judges' scores take one backward pass to every parameter."""
    assert arch in CYCLE_SHAPES, f"conf/arch/{arch}.yaml says game: cycle; give it shapes in CYCLE_SHAPES"
    cfg = make_config(f"arch={arch}", *TINY)
    assert cfg.arch.game == "cycle"
    shape_b, shape_a = CYCLE_SHAPES[arch]
    a_to_b = instantiate(cfg.arch.generator, data_shape=shape_b, source_shape=shape_a)
    b_to_a = instantiate(cfg.arch.generator, data_shape=shape_a, source_shape=shape_b)
    judge_b = instantiate(cfg.arch.discriminator, data_shape=shape_b, source_shape=None)
    judge_a = instantiate(cfg.arch.discriminator, data_shape=shape_a, source_shape=None)
    a = torch.rand(2, *shape_a) * 2 - 1
    fake_b = a_to_b(a)
    assert fake_b.shape == (2, *shape_b)
    (judge_b(fake_b).mean() + judge_a(b_to_a(fake_b)).mean()).backward()
    networks = [a_to_b, b_to_a, judge_b, judge_a]
    assert all(p.grad is not None for net in networks for p in net.parameters())


def test_the_cyclegan_arch_is_the_ports_instance_norm_networks() -> None:
    """conf/arch/cyclegan.yaml at its defaults: ngf 64 and the blocks by size, no dropout, instance norm in G; pix2pix's
    70x70 PatchGAN with ndf 64 and instance norm as D."""
    cfg = make_config("arch=cyclegan")
    assert dict(cfg.arch.generator) == {"_target_": "gan_runner.arch.cyclegan.Generator", "width": 64,
                                        "blocks": None, "norm": "instance", "dropout": 0.0}
    assert dict(cfg.arch.discriminator) == {"_target_": "gan_runner.arch.pix2pix.Discriminator", "width": 64,
                                            "n_layers": 3, "norm": "instance"}
