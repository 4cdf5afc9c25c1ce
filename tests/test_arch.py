"""arch/: every architecture's shapes at every resolution offered (conditional and not) and clear errors otherwise;
the parts checked against their definitions (DCGAN's widths, attention, projection, conditional batch norm,
BigGAN's shared embedding and hierarchical z, spectral norm reaching the layers); the paper presets' options
(the MLP's maxout, dropout, uniform initialisation and sigmoid output; pooled and bias-free attention; D without an
output bias; BigGAN's orthogonal initialisation; Adam's eps reaching the optimiser), each off by default; which
normalisations mix samples; two steps of each family on digits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch.nn.utils import parametrize

from gan_runner.arch import biggan, count_parameters, dcgan, mlp, resnet, sagan
from gan_runner.arch.dcgan import Discriminator
from gan_runner.commands.sample import load_generator
from gan_runner.engine.build import build_parts
from gan_runner.engine.loop import train
from gan_runner.engine.sampling import draw
from gan_runner.errors import UserError
from gan_runner.regularisers.spectral_norm import apply_spectral_norm
from tests.conftest import SHRINK, TINY, make_config, metric_rows




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


def test_maxout_takes_the_max_over_groups_of_consecutive_pieces() -> None:
    """pieces=3: a hidden layer is a linear layer to width * 3 outputs and the max over outputs 0-2, 3-5, ...
    (pylearn2's grouping), not over every other output and not through the activation."""
    D = mlp.Discriminator((4,), depth=1, width=2, pieces=3)
    first, maxout, last = D.net
    assert (first.out_features, last.in_features) == (6, 2) and isinstance(maxout, mlp.Maxout)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1., 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0],
                                         [0, 0, 0, 1], [0, 0, 0, -1], [-1, 0, 0, 0]]))
        first.bias.zero_()
        last.weight.copy_(torch.tensor([[1.0, 10.0]]))
        last.bias.zero_()
    x = torch.tensor([[3.0, 9.0, -2.0, 1.0]])  # outputs [3, 9, -2 | 1, -1, -3]: units max 9 and max 1
    assert torch.equal(maxout(first(x)), torch.tensor([[9.0, 1.0]]))  # strided groups would give [3, 9]
    assert D(x).item() == 9.0 + 10.0 * 1.0
    with pytest.raises(ValueError, match="pieces .* must be a whole number >= 1"):
        mlp.Discriminator((4,), pieces=0)


def _inputs_of(network: torch.nn.Module, layers: list[str], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """What each named layer of network.net receives and, for activations, gives, in one forward pass."""
    seen: dict[str, torch.Tensor] = {}
    named = dict(network.net.named_children())
    hooks = [named[name].register_forward_hook(lambda m, inputs, out, name=name: seen.update(
        {f"{name} in": inputs[0].detach(), f"{name} out": out.detach()})) for name in layers]
    network(x)
    for hook in hooks:
        hook.remove()
    return seen


def test_dropout_drops_layer_inputs_in_training_and_scales_the_kept_ones() -> None:
    """Goodfellow et al.'s D: each input pixel kept with probability 0.8 and scaled by 1 / 0.8, each later layer's
    input kept with 0.5 and doubled, per example; in eval mode nothing is dropped."""
    torch.manual_seed(0)
    D = mlp.Discriminator((1, 20, 20), depth=2, width=300, input_dropout=0.2, hidden_dropout=0.5)
    x = torch.rand(64, 1, 20, 20) + 0.5  # no zero pixel: a zero seen by the first layer was dropped
    seen = _inputs_of(D, ["0", "1", "2", "3", "4"], x)
    pixels, received = x.flatten(1), seen["0 in"]
    dropped = received == 0
    torch.testing.assert_close(received[~dropped], pixels[~dropped] / 0.8)
    assert dropped.float().mean().item() == pytest.approx(0.2, abs=0.01)
    assert not torch.equal(dropped[0], dropped[1])  # a mask per example
    for activation, layer in (("1", "2"), ("3", "4")):  # the hidden layer's and the output layer's inputs
        hidden, received = seen[f"{activation} out"], seen[f"{layer} in"]
        live = hidden != 0  # ReLU zeros are not drops
        kept = live & (received != 0)
        torch.testing.assert_close(received[kept], hidden[kept] * 2)
        assert kept.sum().item() / live.sum().item() == pytest.approx(0.5, abs=0.02)
    D.eval()
    seen = _inputs_of(D, ["0", "1", "2"], x)
    assert torch.equal(seen["0 in"], pixels) and torch.equal(seen["2 in"], seen["1 out"])
    assert torch.equal(D(x), D(x))
    for option in ("input_dropout", "hidden_dropout"):
        with pytest.raises(ValueError, match=rf"{option} .* must be in \[0, 1\)"):
            mlp.Discriminator((4,), **{option: 1.0})


def test_init_range_draws_weights_in_the_range_and_zeroes_biases() -> None:
    """pylearn2's irange (G 0.05, D 0.005 in Goodfellow et al.'s MNIST run): every linear weight in [-r, r], filling
    the range, every bias 0; the maxout layer's too."""
    torch.manual_seed(0)
    G = mlp.Generator(100, (1, 8, 8), depth=2, width=120, init_range=0.05)
    D = mlp.Discriminator((1, 8, 8), depth=2, width=24, pieces=5, init_range=0.005)
    for network, r in ((G, 0.05), (D, 0.005)):
        layers = [m for m in network.modules() if isinstance(m, torch.nn.Linear)]
        assert len(layers) == 3
        for layer in layers:
            assert layer.weight.abs().max().item() <= r
            assert layer.weight.abs().max().item() > 0.9 * r  # uniform over the range, not a narrower default
            assert torch.equal(layer.bias, torch.zeros_like(layer.bias))
    default = mlp.Generator(100, (1, 8, 8), depth=2, width=120)
    assert default.net[0].bias.abs().max() > 0  # null: PyTorch's initialisation, as before
    with pytest.raises(ValueError, match="init_range must be a positive number"):
        mlp.Discriminator((4,), init_range=0.0)


def test_sigmoid_output_is_two_sigmoid_minus_one_of_the_last_layer() -> None:
    """output=sigmoid: Goodfellow et al.'s sigmoid output moved from [0, 1] to our image range [-1, 1]."""
    torch.manual_seed(0)
    G = mlp.Generator(6, (1, 8, 8), depth=2, width=8, output="sigmoid")
    z = torch.randn(5, 6)
    torch.testing.assert_close(G(z), (2 * torch.sigmoid(G.net(z)) - 1).view(5, 1, 8, 8))
    with torch.no_grad():
        G.net[-1].weight.mul_(1000.0)  # saturated: still inside the image range
    x = G(z)
    assert x.min() >= -1 and x.max() <= 1 and x.abs().max() > 0.999
    assert isinstance(mlp.Generator(6, (1, 8, 8), output="auto").output, torch.nn.Tanh)
    assert isinstance(mlp.Generator(6, (1, 8, 8), output="linear").output, torch.nn.Identity)
    assert isinstance(mlp.Generator(6, (2,), output="tanh").output, torch.nn.Tanh)
    with pytest.raises(ValueError, match="output must be one of auto, tanh, sigmoid, linear"):
        mlp.Generator(6, (2,), output="softmax")


def test_the_mlp_options_off_build_the_earlier_networks() -> None:
    """At their defaults the new options add nothing: the state-dict keys of earlier versions (net.0, net.2, ...),
    a ReLU after every hidden layer, no dropout module in the layers."""
    G, D = mlp.Generator(6, (2,), depth=2, width=8), mlp.Discriminator((2,), depth=2, width=8)
    assert list(D.state_dict()) == list(G.state_dict()) == [
        "net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias", "net.4.weight", "net.4.bias"]
    assert [type(m) for m in D.net] == [torch.nn.Linear, torch.nn.ReLU] * 2 + [torch.nn.Linear]
    # With dropout between them, the linear layers keep their names: checkpoint keys do not depend on dropout.
    dropped = mlp.Discriminator((2,), depth=2, width=8, hidden_dropout=0.5)
    assert list(dropped.state_dict()) == list(D.state_dict())


LABELS = 3


def _labels(n: int) -> torch.Tensor:
    return torch.arange(n) % LABELS


# (module, resolutions it offers, tiny keyword arguments); widths shrink with the layouts' larger factors.
IMAGE_ARCHS = [
    (resnet, [8, 16, 32], {"width": 4}),
    (resnet, [48, 64, 128], {"width": 1}),
    (sagan, [8, 16, 32], {"width": 8}),
    (sagan, [48, 64], {"width": 1}),
    (sagan, [128], {"width": 1, "attention_at": [8]}),  # the default, side 64, is slow on a CPU
    (biggan, [8, 16, 32], {"width": 8}),
    (biggan, [64], {"width": 1}),
    (dcgan, [8, 16, 32, 64], {"width": 4}),
]


SHAPE_CASES = [(module, side, kwargs) for module, sides, kwargs in IMAGE_ARCHS for side in sides]


@pytest.mark.parametrize("num_classes", [None, LABELS])
@pytest.mark.parametrize("module, side, kwargs", SHAPE_CASES,
                         ids=[f"{m.__name__.rsplit('.', 1)[-1]}-{s}" for m, s, _ in SHAPE_CASES])
def test_image_architectures_make_and_score_images_of_every_side(module, side, kwargs, num_classes) -> None:
    shape = (3, side, side)
    G = module.Generator(z_dim=8, data_shape=shape, num_classes=num_classes, **kwargs)
    D = module.Discriminator(data_shape=shape, num_classes=num_classes, **kwargs)
    y = _labels(2) if num_classes else None
    x = G(torch.randn(2, 8), y)
    assert x.shape == (2, *shape) and x.abs().max() <= 1
    assert D(x, y).shape == (2,)
    assert G.num_classes == D.num_classes == num_classes


@pytest.mark.parametrize("num_classes", [None, LABELS])
@pytest.mark.parametrize("shape", [(2,), (1, 8, 8)])
def test_mlp_conditional_and_not(shape: tuple[int, ...], num_classes: int | None) -> None:
    G = mlp.Generator(6, shape, depth=2, width=8, num_classes=num_classes)
    D = mlp.Discriminator(shape, depth=2, width=8, num_classes=num_classes)
    y = _labels(5) if num_classes else None
    x = G(torch.randn(5, 6), y)
    assert x.shape == (5, *shape) and D(x, y).shape == (5,)


@pytest.mark.parametrize("build", [
    lambda: resnet.Generator(8, (1, 8, 8), width=4, num_classes=LABELS),
    lambda: sagan.Discriminator((1, 8, 8), width=4, num_classes=LABELS),
    lambda: dcgan.Discriminator((1, 8, 8), width=4, num_classes=LABELS),
    lambda: mlp.Generator(8, (2,), width=4, num_classes=LABELS),
    lambda: biggan.Generator(8, (1, 8, 8), width=4, num_classes=LABELS),
])
def test_a_conditional_network_refuses_to_run_without_labels(build) -> None:
    net = build()
    generators = (resnet.Generator, mlp.Generator, biggan.Generator)
    x = torch.randn(2, 8) if isinstance(net, generators) else torch.randn(2, 1, 8, 8)
    with pytest.raises(ValueError, match="class-conditional"):
        net(x)


def test_unconditional_networks_ignore_labels() -> None:
    torch.manual_seed(0)
    G, D = resnet.Generator(8, (1, 8, 8), width=4).eval(), resnet.Discriminator((1, 8, 8), width=4)
    z = torch.randn(3, 8)
    assert torch.equal(G(z), G(z, _labels(3)))
    assert torch.equal(D(G(z)), D(G(z), _labels(3)))


@pytest.mark.parametrize("shape, match", [((2,), "arch=mlp"), ((3, 24, 24), "8, 16, 32, 48, 64, 128"),
                                          ((3, 32, 16), "dataset.resolution")])
def test_resnet_refuses_shapes_it_cannot_make(shape: tuple[int, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        resnet.Generator(8, shape)
    with pytest.raises(ValueError, match=match):
        sagan.Discriminator(shape)


def test_resnet_refuses_factors_that_do_not_fit_the_resolution() -> None:
    with pytest.raises(ValueError, match="factors needs 4 entries"):
        resnet.Generator(8, (3, 32, 32), width=4, factors=[1, 1])
    with pytest.raises(ValueError, match="at least 2 entries"):
        resnet.Discriminator((3, 32, 32), width=4, factors=[1])
    with pytest.raises(ValueError, match=r"sides \[4, 8\]"):
        sagan.Generator(8, (1, 8, 8), width=8, attention_at=[16])


def test_resnet_at_32_has_sngans_parameter_counts() -> None:
    # SNGAN's CIFAR-10 networks counted from their definition (z of 128, biases and batch-norm gains included):
    # G: linear 128 -> 4*4*256 (528,384); 3 up-blocks of 2 BN (512 each), 2 conv3x3 256->256 (590,080 each) and
    # a 1x1 shortcut (65,792): 1,246,976 each; final BN 512 and conv3x3 256->3 (6,915): 4,276,739.
    # D: optimised block conv3x3 3->128 (3,584), conv3x3 128->128 (147,584), shortcut 3->128 (512); a
    # down-block 2 x 147,584 + shortcut 16,512; two plain blocks 2 x 295,168; linear 129: 1,053,825.
    assert count_parameters(resnet.Generator(128, (3, 32, 32))) == 4_276_739
    assert count_parameters(resnet.Discriminator((3, 32, 32))) == 1_053_825
    widths = [m.out_channels for m in resnet.Discriminator((3, 32, 32)).modules()
              if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert widths == [128] * 8


def test_attention_weights_sum_to_one_and_gamma_zero_is_the_identity() -> None:
    torch.manual_seed(0)
    layer = sagan.SelfAttention(16)
    x = torch.randn(2, 16, 5, 4)
    weights = layer.weights(x)
    assert weights.shape == (2, 20, 20) and (weights >= 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 20))
    assert torch.equal(layer(x), x)  # gamma starts at 0
    with torch.no_grad():
        layer.gamma.fill_(0.7)
    # By hand: o_j = sum_i w_ji value(x)_i, then the output convolution, gated and added to x.
    values = layer.value(x).flatten(2)  # N x C/2 x HW
    attended = torch.einsum("nji,nci->ncj", weights, values).view(2, 8, 5, 4)
    torch.testing.assert_close(layer(x), 0.7 * layer.out(attended) + x)
    assert (layer.query.out_channels, layer.value.out_channels) == (2, 8)


def _attention_before_the_options(layer: sagan.SelfAttention, x: torch.Tensor) -> torch.Tensor:
    """SelfAttention's forward as it was before attention_pool and attention_bias (a copy of the earlier code)."""
    n, _, height, width = x.shape
    queries, keys = layer.query(x).flatten(2), layer.key(x).flatten(2)
    weights = torch.softmax(queries.transpose(1, 2) @ keys, dim=-1)
    attended = layer.value(x).flatten(2) @ weights.transpose(1, 2)
    return layer.gamma * layer.out(attended.view(n, -1, height, width)) + x


def test_attention_defaults_are_the_earlier_layer() -> None:
    """pool 1 and biases, the defaults: the same parameters from the same seed and the earlier forward's output."""
    torch.manual_seed(0)
    default = sagan.SelfAttention(16)
    torch.manual_seed(0)
    explicit = sagan.SelfAttention(16, pool=1, bias=True)
    assert [name for name, _ in default.named_parameters()] == [
        "gamma", "query.weight", "query.bias", "key.weight", "key.bias", "value.weight", "value.bias",
        "out.weight", "out.bias"]
    for (_, a), (_, b) in zip(default.named_parameters(), explicit.named_parameters()):
        assert torch.equal(a, b)
    with torch.no_grad():
        default.gamma.fill_(0.7)
    x = torch.randn(2, 16, 6, 4)
    assert torch.equal(default(x), _attention_before_the_options(default, x))
    assert default.weights(x).shape == (2, 24, 24)


def test_pooled_attention_attends_over_a_quarter_of_the_positions() -> None:
    """attention_pool=2 (SAGAN's non_local.py, BigGAN's layers.py): keys and values 2x2 max-pooled, so each of the HW
    positions weighs HW / 4 pooled positions; queries and the output keep every position."""
    torch.manual_seed(0)
    layer = sagan.SelfAttention(16, pool=2)
    x = torch.randn(2, 16, 6, 4)
    weights = layer.weights(x)
    assert weights.shape == (2, 24, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 24))
    keys = F.max_pool2d(layer.key(x), 2).flatten(2)  # N x C/8 x 6
    torch.testing.assert_close(weights, torch.softmax(layer.query(x).flatten(2).transpose(1, 2) @ keys, -1))
    with torch.no_grad():
        layer.gamma.fill_(0.7)
    values = F.max_pool2d(layer.value(x), 2).flatten(2)  # N x C/2 x 6
    attended = torch.einsum("nji,nci->ncj", weights, values).view(2, 8, 6, 4)
    torch.testing.assert_close(layer(x), 0.7 * layer.out(attended) + x)
    G = sagan.Generator(8, (1, 16, 16), width=8, attention_pool=2)  # attention at side 8, pooled to 4 x 4
    assert [m.pool for m in G.modules() if isinstance(m, sagan.SelfAttention)] == [2]
    with pytest.raises(ValueError, match="attention_pool=3 must divide the side"):
        sagan.Discriminator((1, 16, 16), width=8, attention_pool=3)
    with pytest.raises(ValueError, match="attention_pool must be a whole number >= 1"):
        biggan.Generator(8, (1, 8, 8), width=8, hier=False, attention_pool=0)


@pytest.mark.parametrize("module", [sagan, biggan])
def test_bias_free_attention_has_no_bias_in_its_convolutions(module) -> None:
    """attention_bias=false (BigGAN's layers.py, SAGAN's non_local.py): the four 1x1 convolutions of every attention
    layer of G and D without bias; the blocks' convolutions keep theirs."""
    G = module.Generator(8, (1, 8, 8), width=8, attention_bias=False)
    D = module.Discriminator((1, 8, 8), width=8, attention_bias=False)
    for network, default in ((G, module.Generator(8, (1, 8, 8), width=8)), (D, module.Discriminator((1, 8, 8), width=8))):
        (attention,) = [m for m in network.modules() if isinstance(m, sagan.SelfAttention)]
        convolutions = [attention.query, attention.key, attention.value, attention.out]
        assert all(conv.bias is None for conv in convolutions)
        assert all(m.bias is not None for m in network.blocks.modules()
                   if isinstance(m, torch.nn.Conv2d) and not any(m is conv for conv in convolutions))
        channels = attention.out.out_channels  # C: biases of C/8 + C/8 + C/2 + C fewer
        assert count_parameters(default) - count_parameters(network) == 2 * (channels // 8) + channels // 2 + channels


@pytest.mark.parametrize("module", [resnet, sagan, biggan])
def test_a_discriminator_without_output_bias_loses_exactly_that_bias(module) -> None:
    """output_bias=false (SNGAN's snresnet_32.py: SNLinear(ch, 1, nobias=True)): the last linear layer has no bias
    and D has one parameter fewer; the scores are otherwise those of the same weights."""
    torch.manual_seed(0)
    D = module.Discriminator((1, 8, 8), width=8, num_classes=LABELS)
    torch.manual_seed(0)
    bare = module.Discriminator((1, 8, 8), width=8, num_classes=LABELS, output_bias=False)
    assert bare.linear.bias is None and D.linear.bias is not None
    assert count_parameters(bare) == count_parameters(D) - 1
    bare.load_state_dict({k: v for k, v in D.state_dict().items() if k != "linear.bias"})
    with torch.no_grad():
        D.linear.bias.fill_(0.25)
    x, y = torch.randn(4, 1, 8, 8), _labels(4)
    torch.testing.assert_close(D(x, y), bare(x, y) + 0.25)


def _is_orthogonal(weight: torch.Tensor) -> bool:
    """Rows orthonormal (or columns, when there are fewer of them), the weight seen as out x everything else."""
    matrix = weight.detach().flatten(1)
    gram = matrix @ matrix.T if matrix.shape[0] <= matrix.shape[1] else matrix.T @ matrix
    return torch.allclose(gram, torch.eye(gram.shape[0]), atol=1e-5)


def test_biggan_orthogonal_init_makes_every_layer_weight_orthogonal() -> None:
    """init=orthogonal (BigGAN's --G_init ortho --D_init ortho): every Conv2d, Linear and Embedding weight of G and D
    orthogonal, the biases as built (zero), the shared embedding orthogonal; xavier (the default) is not."""
    torch.manual_seed(0)
    G = biggan.Generator(24, (3, 16, 16), width=8, shared_dim=6, num_classes=LABELS, init="orthogonal")
    D = biggan.Discriminator((3, 16, 16), width=8, num_classes=LABELS, init="orthogonal")
    kinds = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.Embedding)
    for network in (G, D):
        layers = [m for m in network.modules() if isinstance(m, kinds)]
        assert {type(m) for m in layers} >= {torch.nn.Conv2d, torch.nn.Linear}
        assert all(_is_orthogonal(m.weight) for m in layers)
        assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in layers if getattr(m, "bias", None) is not None)
    assert any(isinstance(m, torch.nn.Embedding) for m in D.modules())  # the projection's
    assert _is_orthogonal(G.shared.weight)
    xavier = biggan.Discriminator((3, 16, 16), width=8, num_classes=LABELS)
    assert not all(_is_orthogonal(m.weight) for m in xavier.modules() if isinstance(m, kinds))
    with pytest.raises(ValueError, match="init must be xavier .* or orthogonal"):
        biggan.Discriminator((3, 16, 16), width=8, init="ortho")


def test_the_projection_term_is_the_class_embedding_dot_the_features() -> None:
    torch.manual_seed(0)
    D = resnet.Discriminator((1, 8, 8), width=4, num_classes=LABELS)
    x, y = torch.randn(6, 1, 8, 8), _labels(6)
    phi = D.features(x)
    # phi by hand: the blocks, ReLU, a sum over positions.
    h = x
    for block in D.blocks:
        h = block(h)
    torch.testing.assert_close(phi, F.relu(h).sum((2, 3)))
    projection = (D.embed.weight[y] * phi).sum(1)
    torch.testing.assert_close(D(x, y), D.linear(phi).squeeze(1) + projection)
    assert not torch.allclose(D(x, y), D(x, (y + 1) % LABELS))


def test_conditional_batch_norm_starts_as_batch_norm_and_learns_per_class() -> None:
    torch.manual_seed(0)
    conditional, plain = resnet.ConditionalBatchNorm2d(4, num_classes=LABELS), torch.nn.BatchNorm2d(4)
    x, y = torch.randn(6, 4, 3, 3), _labels(6)
    torch.testing.assert_close(conditional(x, y), plain(x))  # training mode: batch statistics
    conditional.eval(), plain.eval()
    torch.testing.assert_close(conditional(x, y), plain(x))  # eval mode: the same running statistics
    with torch.no_grad():
        conditional.gain_offset.normal_(0.0, 0.5), conditional.bias.normal_(0.0, 0.5)
    same_x = x[:1].expand(LABELS, -1, -1, -1)
    out = conditional(same_x, torch.arange(LABELS))
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])
    gains = 1 + conditional.gain_offset
    expected = plain(same_x) * gains[:, :, None, None] + conditional.bias[:, :, None, None]
    torch.testing.assert_close(out, expected)
    # Unconditional: ordinary batch norm with its own gain and bias.
    assert isinstance(resnet.ConditionalBatchNorm2d(4).norm, torch.nn.BatchNorm2d)
    assert resnet.ConditionalBatchNorm2d(4).norm.affine


def _largest_singular_value(weight: torch.Tensor) -> float:
    return torch.linalg.matrix_norm(weight.flatten(1), ord=2).item()


@pytest.mark.parametrize("module", [resnet, sagan])
def test_spectral_norm_reaches_the_new_layers(module) -> None:
    torch.manual_seed(0)
    G = module.Generator(8, (1, 8, 8), width=8, num_classes=LABELS)
    D = module.Discriminator((1, 8, 8), width=8, num_classes=LABELS)
    for network in (G, D):
        apply_spectral_norm(network, power_iterations=20)
    x, y = torch.randn(4, 1, 8, 8), _labels(4)
    for _ in range(3):  # power iteration refines u, v in training mode
        D(x, y), G(torch.randn(4, 8), y)
    normalised = [m for m in [*G.modules(), *D.modules()] if parametrize.is_parametrized(m, "weight")]
    for kind in (torch.nn.Embedding, torch.nn.Conv2d, torch.nn.Linear):  # the projection's embedding included
        assert any(isinstance(m, kind) for m in normalised), kind
    if module is sagan:
        attention = [m for m in D.modules() if isinstance(m, sagan.SelfAttention)]
        assert attention and all(parametrize.is_parametrized(m.query, "weight") for m in attention)
    for layer in normalised:
        assert _largest_singular_value(layer.weight) == pytest.approx(1.0, abs=0.02), layer
    # The generator's per-class batch-norm gains are not layer weights: spectral norm leaves them alone.
    norms = [m for m in G.modules() if isinstance(m, resnet.ConditionalBatchNorm2d)]
    assert norms and not any(parametrize.is_parametrized(m) for m in norms)
    assert all(torch.equal(m.gain_offset, torch.zeros_like(m.gain_offset)) for m in norms)


def _norm_calls(G: biggan.Generator, z: torch.Tensor, y: torch.Tensor | None) -> list[tuple]:
    """(norm, x, condition, output) for every conditional batch norm call of one forward pass, in order."""
    calls: list[tuple] = []
    norms = [m for m in G.modules() if isinstance(m, biggan.VectorConditionalBatchNorm2d)]
    hooks = [m.register_forward_hook(lambda m, inputs, out: calls.append((m, *inputs, out))) for m in norms]
    G(z, y)
    for hook in hooks:
        hook.remove()
    return calls


def test_biggan_reads_one_shared_class_embedding_in_every_block() -> None:
    torch.manual_seed(0)
    G = biggan.Generator(24, (3, 32, 32), width=8, shared_dim=6, num_classes=LABELS)
    # One K x shared_dim table in the whole generator, no per-class tables in the norms: with one class more,
    # only the embedding grows.
    more = biggan.Generator(24, (3, 32, 32), width=8, shared_dim=6, num_classes=LABELS + 1)
    more = dict(more.named_parameters())
    assert [name for name, p in G.named_parameters() if p.shape != more[name].shape] == ["shared.weight"]
    assert G.shared.weight.shape == (LABELS, 6)
    z, y = torch.randn(4, 24), _labels(4)
    calls = _norm_calls(G, z, y)
    assert len(calls) == 2 * 3  # two norms in each of the three up-blocks
    for _, _, condition, _ in calls:
        torch.testing.assert_close(condition[:, :6], G.shared(y))
    # Changing class 0's embedding changes what every norm makes of the same input, for class 0 alone.
    with torch.no_grad():
        G.shared.weight[0] += 1.0
    zero = y == 0
    for norm, x, condition, out in calls:
        changed = norm(x, torch.cat([G.shared(y), condition[:, 6:]], 1))
        assert not torch.allclose(changed[zero], out[zero])
        torch.testing.assert_close(changed[~zero], out[~zero])


def test_biggan_splits_z_into_one_chunk_per_block() -> None:
    torch.manual_seed(0)
    G = biggan.Generator(26, (3, 32, 32), width=8, shared_dim=6, num_classes=LABELS).eval()
    assert G.chunk_sizes == [8, 6, 6, 6]  # 26 // 4 = 6 each, the remainder 2 to the first layer's chunk
    z, y = torch.randn(4, 26), _labels(4)
    calls = _norm_calls(G, z, y)
    block_chunks = torch.split(z, G.chunk_sizes, 1)[1:]
    for k, chunk in enumerate(block_chunks):  # both norms of up-block k read z's chunk k
        for _, _, condition, _ in calls[2 * k: 2 * k + 2]:
            torch.testing.assert_close(condition[:, 6:], chunk)
    assert G.input.in_features == 8
    # The image depends on every chunk, the first layer's included.
    with torch.no_grad():
        x = G(z, y)
        start = 0
        for size in G.chunk_sizes:
            nudged = z.clone()
            nudged[:, start:start + size] += 1.0
            assert not torch.allclose(G(nudged, y), x)
            start += size


def test_biggan_conditioning_without_classes_or_hierarchy() -> None:
    torch.manual_seed(0)
    # Unconditional with a hierarchical z: no embedding, each block's norms conditioned on its z chunk alone.
    G = biggan.Generator(12, (1, 16, 16), width=4).eval()
    assert G.shared is None and G.chunk_sizes == [4, 4, 4]
    z = torch.randn(3, 12)
    calls = _norm_calls(G, z, None)
    torch.testing.assert_close(calls[0][2], z[:, 4:8])
    assert torch.equal(G(z), G(z, _labels(3)))  # labels are ignored
    # Conditional without hierarchy: the whole z to the first layer, the norms conditioned on the class alone.
    G = biggan.Generator(12, (1, 16, 16), width=4, shared_dim=5, num_classes=LABELS, hier=False)
    assert G.input.in_features == 12
    calls = _norm_calls(G, z, _labels(3))
    assert all(torch.equal(condition, G.shared(_labels(3))) for _, _, condition, _ in calls)
    # Neither: plain batch norms, i.e. SAGAN's unconditional generator.
    G = biggan.Generator(12, (1, 16, 16), width=4, hier=False)
    assert not _norm_calls(G, z, None) and G(z).shape == (3, 1, 16, 16)
    assert all(m.norm.affine for m in G.modules() if isinstance(m, resnet.ConditionalBatchNorm2d))


def test_biggan_conditional_batch_norm_is_linear_in_its_condition() -> None:
    torch.manual_seed(0)
    norm = biggan.VectorConditionalBatchNorm2d(4, condition_dim=3)
    x, c = torch.randn(6, 4, 3, 3), torch.randn(6, 3)
    plain = F.batch_norm(x, None, None, training=True)
    gain, bias = 1 + c @ norm.gain.weight.t(), c @ norm.bias.weight.t()
    torch.testing.assert_close(norm(x, c), plain * gain[:, :, None, None] + bias[:, :, None, None])
    assert norm.gain.bias is None and norm.bias.bias is None  # as BigGAN's: no constant term


def test_biggan_refuses_a_z_too_small_to_split() -> None:
    with pytest.raises(UserError, match=r"at least 4.*z_dim=64.*hier=false"):
        biggan.Generator(3, (3, 32, 32), width=4)
    assert biggan.Generator(3, (3, 32, 32), width=4, hier=False).chunk_sizes == [3]
    cfg = make_config(*SHRINK, "arch=biggan", *TINY, "dataset=digits", "z_dim=1")
    with pytest.raises(UserError, match="z_dim needs at least 2"):
        train(cfg, Path("unused"))


def test_biggan_at_32_parameter_count() -> None:
    # Counted from the definition, 10 classes, z of 128 in four chunks of 32: linear 32 -> 4*4*256 (135,168);
    # three up-blocks of 2 conv3x3 256->256 (590,080 each) and a 1x1 shortcut (65,792), with 2 norms of two
    # 160 -> 256 linear layers without bias (40,960 each): 1,409,792 each; attention at 16 on 256 channels (q, k
    # 8,224 each, v 32,896, o 33,024, gamma 1: 82,369); the shared embedding 10 x 128 (1,280); final BN 512 and
    # conv3x3 256->3 (6,915): 4,455,620. D is SAGAN's conditional D.
    G = biggan.Generator(128, (3, 32, 32), num_classes=10)
    assert count_parameters(G) == 4_455_620
    assert count_parameters(biggan.Discriminator((3, 32, 32), num_classes=10)) == count_parameters(
        sagan.Discriminator((3, 32, 32), num_classes=10)) == 1_075_810


def test_spectral_norm_reaches_biggans_layers_but_not_its_shared_embedding() -> None:
    torch.manual_seed(0)
    G = biggan.Generator(16, (1, 8, 8), width=8, shared_dim=8, num_classes=LABELS)
    apply_spectral_norm(G, power_iterations=20)
    for _ in range(3):
        G(torch.randn(4, 16), _labels(4))
    layers = [m for m in G.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert all(parametrize.is_parametrized(m, "weight") for m in layers)
    norms = [m for m in G.modules() if isinstance(m, biggan.VectorConditionalBatchNorm2d)]
    assert norms and all(parametrize.is_parametrized(m.gain, "weight") for m in norms)
    for layer in layers:
        assert _largest_singular_value(layer.weight) == pytest.approx(1.0, abs=0.02), layer
    assert not parametrize.is_parametrized(G.shared)  # as BigGAN: SN "seems to randomly cripple G" there


def test_a_conditional_biggan_trains_with_its_papers_regularisers(tmp_path: Path) -> None:
    cfg = make_config(*SHRINK, "arch=biggan", *TINY, "dataset=digits", "conditional=true",
                      "objective=hinge", "regulariser=[spectral_norm,orthogonal]",
                      "regulariser.spectral_norm.generator=true")
    assert train(cfg, tmp_path)["status"] == "completed"
    rows = _rows(tmp_path)
    assert [row["step"] for row in rows] == [1, 2] and rows[0]["reg_g/orthogonal"] > 0
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)["G_ema"]
    assert "input.parametrizations.weight.original" in state and "shared.weight" in state
    generator, z_dim = load_generator(tmp_path)
    assert draw(generator, z_dim, 5, y=7).shape == (5, 1, 8, 8)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("module", [resnet, sagan, biggan])
def test_a_cuda_training_step(module) -> None:
    device = torch.device("cuda")
    G = module.Generator(16, (3, 32, 32), width=16, num_classes=LABELS).to(device)
    D = module.Discriminator((3, 32, 32), width=16, num_classes=LABELS).to(device)
    apply_spectral_norm(D)
    y = _labels(8).to(device)
    fake = G(torch.randn(8, 16, device=device), y)
    loss = F.relu(1 + D(fake, y)).mean()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in G.parameters() if p.requires_grad)


def _rows(run_dir: Path) -> list[dict]:
    return metric_rows(run_dir)


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("arch", ["resnet", "sagan", "biggan"])
def test_two_steps_on_digits(tmp_path: Path, arch: str, conditional: bool) -> None:
    cfg = make_config(*SHRINK, f"arch={arch}", *TINY, "dataset=digits", f"conditional={conditional}",
                      "objective=hinge", "regulariser=spectral_norm")
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed" and [row["step"] for row in _rows(tmp_path)] == [1, 2]
    grid = Image.open(tmp_path / "samples" / "step_000002.png")
    # 8x8 digits are shown at 32x32 with 2-pixel gaps: a row per class (10) when conditional, else 8 x 8.
    assert grid.size == (8 * 34 + 2, (10 if conditional else 8) * 34 + 2)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)
    assert state["num_classes"] == (10 if conditional else None)


def test_the_paper_options_train_through_the_config(tmp_path: Path) -> None:
    """Goodfellow et al.'s MLP options and the official SAGAN/BigGAN/SNGAN options, set as a user writes them, train
    two steps."""
    gan2014 = ["arch=mlp", "arch.discriminator.pieces=5", "arch.discriminator.input_dropout=0.2",
               "arch.discriminator.hidden_dropout=0.5", "arch.discriminator.init_range=0.005",
               "arch.generator.init_range=0.05", "arch.generator.output=sigmoid"]
    biggan_code = ["arch=biggan", "conditional=true", "arch.generator.attention_pool=2",
                   "arch.discriminator.attention_pool=2", "arch.generator.attention_bias=false",
                   "arch.discriminator.attention_bias=false", "arch.discriminator.output_bias=false",
                   "arch.generator.init=orthogonal", "arch.discriminator.init=orthogonal", "optimizer.g.eps=1e-6"]
    for name, overrides in (("gan2014", gan2014), ("biggan", biggan_code)):
        cfg = make_config(*SHRINK, *TINY, "dataset=digits", *overrides)
        assert train(cfg, tmp_path / name)["status"] == "completed"


@pytest.mark.parametrize("option, message", [
    ("arch=mlp arch.discriminator.pieces=0", "arch.discriminator: pieces"),
    ("arch=mlp arch.discriminator.input_dropout=1.0", "arch.discriminator: input_dropout"),
    ("arch=mlp arch.generator.output=softmax", "arch.generator: output must be one of"),
    ("arch=sagan arch.generator.attention_pool=3", "arch.generator: attention_pool=3 must divide"),
    ("arch=biggan arch.discriminator.init=ortho", "arch.discriminator: init must be xavier"),
])
def test_a_bad_option_value_is_one_paragraph_naming_the_key(tmp_path: Path, option: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        train(make_config(*SHRINK, *TINY, "dataset=digits", *option.split()), tmp_path)


def test_adams_eps_reaches_the_optimiser() -> None:
    """optimizer.g.eps (BigGAN's --adam_eps 1e-6) is passed to torch's Adam; the default is torch's 1e-8, and AdamW
    takes it too."""
    parts = build_parts(make_config(*SHRINK, *TINY, "optimizer.g.eps=1e-6"))
    assert parts.state.opt_g.param_groups[0]["eps"] == 1e-6
    assert parts.state.opt_d.param_groups[0]["eps"] == 1e-8
    parts = build_parts(make_config(*SHRINK, *TINY, "optimizer@optimizer.d=adamw", "optimizer.d.eps=1e-7"))
    assert isinstance(parts.state.opt_d, torch.optim.AdamW) and parts.state.opt_d.param_groups[0]["eps"] == 1e-7


@pytest.mark.parametrize("norm, mixes", [("batch", True), ("layer", False), ("instance", False), ("none", False)])
def test_only_batch_norm_makes_one_samples_gradient_depend_on_the_others(norm: str, mixes: bool) -> None:
    torch.manual_seed(0)
    D = Discriminator((1, 16, 16), width=8, norm=norm).train()
    x = torch.randn(6, 1, 16, 16, requires_grad=True)
    (grad,) = torch.autograd.grad(D(x)[0], x)
    assert (grad[1:].abs().max().item() > 1e-6) is mixes  # D(x_0)'s dependence on the other samples


def test_an_unknown_norm_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="norm must be one of batch, layer, instance, none"):
        train(make_config(*SHRINK, *TINY, "arch.discriminator.norm=group"), tmp_path)
