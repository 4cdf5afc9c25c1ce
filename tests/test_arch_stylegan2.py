"""arch=stylegan2 (gan_runner/arch/stylegan2.py): modulation and demodulation against their closed form, the fused and
unfused forms agreeing, the FIR resampling's gain, style mixing's probability, w_avg's tracking and truncation,
conditioning, the shapes at every side, and the parameter counts of G and D equal to the official networks' (counted
from NVlabs/stylegan2-ada-pytorch training/networks.py's layer list) at 1024x1024 (config F) and 32x32 (cifar)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gan_runner.arch import count_parameters, stylegan2
from gan_runner.arch.stylegan2 import Discriminator, Generator


def tiny_generator(**kwargs) -> Generator:
    options = dict(z_dim=8, data_shape=(1, 16, 16), w_dim=16, mapping_layers=2, channel_base=128, width=8)
    return Generator(**{**options, **kwargs})


# --- modulation and demodulation -----------------------------------------------------------------------------------

def test_demodulated_weights_have_unit_norm_per_output_channel_and_keep_unit_variance() -> None:
    """Paper eq. 3: w''_ijk = w'_ijk / sqrt(sum_ik w'_ijk^2), w' = s_i w_ijk. Each output channel's modulated weights
    then have unit L2 norm, so inputs of unit variance (independent) give outputs of unit variance (eq. 2), whatever
    the styles: checked on the closed form and on the layer's output away from the zero-padded border."""
    torch.manual_seed(0)
    n, cin, cout = 4, 128, 32
    weight, styles = torch.randn(cout, cin, 3, 3), torch.randn(n, cin) * 3
    x = torch.randn(n, cin, 24, 24)
    out = stylegan2.modulated_conv2d(x, weight, styles)
    for i in range(n):
        w = weight * styles[i].reshape(1, cin, 1, 1)
        demodulated = w / w.square().sum(dim=[1, 2, 3], keepdim=True).sqrt()
        torch.testing.assert_close(demodulated.square().sum(dim=[1, 2, 3]), torch.ones(cout))
        torch.testing.assert_close(out[i], F.conv2d(x[i:i + 1], demodulated, padding=1)[0], rtol=1e-4, atol=1e-4)
    interior = out[:, :, 1:-1, 1:-1]
    assert abs(interior.std().item() - 1.0) < 0.03 and abs(interior.mean().item()) < 0.03
    # without demodulation the output's scale follows the styles' (here about 3 x sqrt(fan-in))
    assert stylegan2.modulated_conv2d(x, weight, styles, demodulate=False)[:, :, 1:-1, 1:-1].std() > 20


@pytest.mark.parametrize("up", [False, True])
@pytest.mark.parametrize("demodulate", [False, True])
def test_fused_and_unfused_modulated_convolutions_agree(up: bool, demodulate: bool) -> None:
    torch.manual_seed(1)
    x, weight, styles = torch.randn(3, 6, 8, 8), torch.randn(5, 6, 3, 3), torch.randn(3, 6)
    f = stylegan2.resample_filter()
    fused = stylegan2.modulated_conv2d(x, weight, styles, demodulate, up=up, f=f, fused=True)
    unfused = stylegan2.modulated_conv2d(x, weight, styles, demodulate, up=up, f=f, fused=False)
    assert fused.shape == (3, 5, 16 if up else 8, 16 if up else 8)
    torch.testing.assert_close(fused, unfused, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("training", [False, True])
def test_the_generator_is_the_same_function_fused_or_unfused(training: bool) -> None:
    torch.manual_seed(2)
    G = tiny_generator(noise_mode="const", style_mixing=0.0, num_classes=3).train(training)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.5)
    z, y = torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    images = []
    for fused in (True, False):
        G.synthesis.fused_modconv = fused
        images.append(G.synthesis(G.styles(z, y).detach()))
    torch.testing.assert_close(images[0], images[1], rtol=1e-4, atol=1e-5)


def test_null_fused_modconv_is_unfused_on_the_cpu_and_the_official_choice_on_a_gpu(monkeypatch) -> None:
    """null: the official (fused in eval, unfused in training) where ws are on CUDA; unfused on the CPU, where the
    benchmark found it as fast in training and faster for sampling."""
    seen = []
    original = stylegan2.modulated_conv2d

    def spy(*args, fused=None, **kwargs):
        seen.append(fused)
        return original(*args, fused=fused, **kwargs)

    monkeypatch.setattr(stylegan2, "modulated_conv2d", spy)
    G = tiny_generator()
    for training in (True, False):
        seen.clear()
        G.train(training)
        G(torch.randn(4, 8))
        assert seen and not any(seen)
    G.synthesis.fused_modconv = True
    seen.clear()
    G(torch.randn(4, 8))
    assert seen and all(seen)


def test_fir_resampling_keeps_a_constant_image_constant() -> None:
    """[1, 3, 3, 1] normalised, gain 4 when upsampling: a constant image stays that constant away from the border."""
    f = stylegan2.resample_filter()
    torch.testing.assert_close(f.sum(), torch.tensor(1.0))
    image = torch.full((1, 2, 8, 8), 0.7)
    up = stylegan2.upsample2d(image, f)
    assert up.shape == (1, 2, 16, 16)
    torch.testing.assert_close(up[:, :, 2:-2, 2:-2], torch.full((1, 2, 12, 12), 0.7))
    down = stylegan2.conv2d_down2(image, torch.ones(1, 2, 1, 1), None, f)
    assert down.shape == (1, 1, 4, 4)
    torch.testing.assert_close(down[:, :, 1:-1, 1:-1], torch.full((1, 1, 2, 2), 1.4))


# --- mapping: style mixing, w_avg, truncation, conditioning ---------------------------------------------------------

def mixed(ws: torch.Tensor) -> torch.Tensor:
    """For each layer's w: whether it differs from the first layer's (all layers share one w unless mixed)."""
    return (ws - ws[:, :1]).abs().amax(dim=(0, 2)) > 0


def test_style_mixing_happens_with_its_probability_in_training_and_never_in_eval() -> None:
    torch.manual_seed(3)
    G = tiny_generator(style_mixing=0.9)  # num_ws 6 at 16x16
    z = torch.randn(4, 8)
    crossovers = []
    for _ in range(400):
        differs = mixed(G.styles(z))
        crossovers.append(int(differs.float().argmax()) if differs.any() else None)
        if differs.any():  # one crossover index for the batch: every layer from it on is the second z's
            assert differs[crossovers[-1]:].all()
    rate = sum(c is not None for c in crossovers) / len(crossovers)
    assert 0.85 < rate < 0.95  # 0.9 +- 3.3 standard deviations of 400 draws
    assert {c for c in crossovers if c is not None} == set(range(1, G.num_ws))  # run_G's random_(1, num_ws)
    G.eval()
    assert not any(mixed(G.styles(z)).any() for _ in range(50))
    G.train()
    G.style_mixing = 0.0
    assert not any(mixed(G.styles(z)).any() for _ in range(50))


def test_w_avg_tracks_the_mapped_w_in_training_only_and_truncation_moves_towards_it() -> None:
    torch.manual_seed(4)
    G = tiny_generator(style_mixing=0.0)
    z = torch.randn(16, 8)
    w = G.styles(z)[:, 0]  # training mode: w_avg <- lerp(mean w, w_avg, 0.995) from zeros
    torch.testing.assert_close(G.w_avg, 0.005 * w.mean(dim=0).detach())
    G.eval()
    before = G.w_avg.clone()
    ws = G.styles(z)
    torch.testing.assert_close(G.w_avg, before)  # not updated in eval
    G.truncation_psi = 0.0
    torch.testing.assert_close(G.styles(z), G.w_avg.expand_as(ws))
    G.truncation_psi, G.truncation_cutoff = 0.5, 2
    truncated = G.styles(z)
    torch.testing.assert_close(truncated[:, :2], G.w_avg + 0.5 * (ws[:, :2] - G.w_avg))
    torch.testing.assert_close(truncated[:, 2:], ws[:, 2:])


def test_forward_is_synthesis_of_styles() -> None:
    torch.manual_seed(5)
    G = tiny_generator(noise_mode="const").eval()
    z = torch.randn(3, 8)
    torch.testing.assert_close(G(z), G.synthesis(G.styles(z)))


def test_conditioning_changes_the_output_and_an_unconditional_network_ignores_labels() -> None:
    torch.manual_seed(6)
    G = tiny_generator(num_classes=4, noise_mode="const").eval()
    D = Discriminator((1, 16, 16), num_classes=4, channel_base=128, width=8)
    z = torch.randn(4, 8).repeat(2, 1)
    y = torch.tensor([0, 1, 2, 3, 1, 2, 3, 0])
    images = G(z, y)
    assert (images[:4] - images[4:]).abs().amax(dim=(1, 2, 3)).min() > 1e-3  # same z, another class
    scores = D(images[:4].repeat(2, 1, 1, 1), y)
    assert (scores[:4] - scores[4:]).abs().min() > 1e-6
    for network, x in ((G, z), (D, images)):
        with pytest.raises(ValueError, match="class-conditional"):
            network(x)
    G0 = tiny_generator(noise_mode="const").eval()
    D0 = Discriminator((1, 16, 16), channel_base=128, width=8)
    torch.testing.assert_close(G0(z), G0(z, y))
    torch.testing.assert_close(D0(images), D0(images, y))


# --- shapes and refusals -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("side", [4, 8, 32])
@pytest.mark.parametrize("channels, num_classes", [(1, None), (3, 5)])
@pytest.mark.parametrize("architecture", ["resnet", "orig"])
def test_shapes_at_every_side(side: int, channels: int, num_classes: int | None, architecture: str) -> None:
    shape = (channels, side, side)
    G = Generator(6, shape, num_classes, w_dim=8, mapping_layers=2, channel_base=64, width=8)
    D = Discriminator(shape, num_classes, channel_base=64, width=8, architecture=architecture)
    y = torch.arange(4) % 5 if num_classes else None
    ws = G.styles(torch.randn(4, 6), y)
    assert ws.shape == (4, G.num_ws, G.w_dim) and G.num_ws == 2 * int(math.log2(side)) - 2
    images = G.synthesis(ws)
    assert images.shape == (4, *shape)
    assert D(images, y).shape == (4,)


@pytest.mark.parametrize("shape, match", [((2,), "arch=mlp"), ((1, 12, 12), "power of two"), ((1, 2, 2), "at least 4")])
def test_shapes_it_cannot_make_are_refused(shape, match) -> None:
    for build in (lambda: Generator(4, shape), lambda: Discriminator(shape)):
        with pytest.raises(ValueError, match=match):
            build()


# --- parameter counts against the official layer list ---------------------------------------------------------------
# NVlabs/stylegan2-ada-pytorch's README and code state no parameter count (its training log prints one from the
# networks it builds), so the expected numbers are counted here from training/networks.py's layers as written there.

def fc(fan_in: int, fan_out: int, bias: bool = True) -> int:  # FullyConnectedLayer: weight [out, in], bias [out]
    return fan_in * fan_out + (fan_out if bias else 0)


def conv(fan_in: int, fan_out: int, kernel: int, bias: bool = True) -> int:  # Conv2dLayer: weight [out, in, k, k]
    return fan_in * fan_out * kernel * kernel + (fan_out if bias else 0)


def official_mapping(z_dim: int, c_dim: int, w_dim: int, num_layers: int) -> int:
    """MappingNetwork.__init__ (networks.py l.195-209): embed FC(c_dim, w_dim) when conditional, then num_layers FCs
    along features_list = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]."""
    embed_features = w_dim if c_dim else 0
    features = [z_dim + embed_features] + [w_dim] * (num_layers - 1) + [w_dim]
    return (fc(c_dim, embed_features) if c_dim else 0) + sum(fc(features[i], features[i + 1]) for i in range(num_layers))


def official_synthesis_layer(fan_in: int, fan_out: int, w_dim: int) -> int:
    """SynthesisLayer (l.278-284): affine FC(w_dim, in), weight [out, in, 3, 3], noise_strength [], bias [out]."""
    return fc(w_dim, fan_in) + fan_out * fan_in * 9 + 1 + fan_out


def official_generator(resolution: int, img_channels: int, z_dim: int, w_dim: int, c_dim: int, mapping_layers: int,
                       channel_base: int, channel_max: int) -> int:
    """Generator = SynthesisNetwork (l.440-455) + MappingNetwork; SynthesisBlock 'skip' (l.358-373): const [out, 4, 4]
    in the first block, conv0 (up) in the others, conv1, and a ToRGB (l.314-317: affine, weight [img, in, 1, 1], bias)
    in every block."""
    channels = {res: min(channel_base // res, channel_max) for res in (2 ** i for i in range(2, 11))}
    total = official_mapping(z_dim, c_dim, w_dim, mapping_layers)
    for res in (2 ** i for i in range(2, int(math.log2(resolution)) + 1)):
        in_channels, out_channels = (channels[res // 2] if res > 4 else 0), channels[res]
        total += out_channels * res * res if in_channels == 0 else official_synthesis_layer(in_channels, out_channels,
                                                                                            w_dim)
        total += official_synthesis_layer(out_channels, out_channels, w_dim)
        total += fc(w_dim, out_channels) + img_channels * out_channels + img_channels
    return total


def official_discriminator(resolution: int, img_channels: int, c_dim: int, channel_base: int, channel_max: int,
                           architecture: str) -> int:
    """Discriminator (l.693-715): DiscriminatorBlocks (l.542-554: fromrgb in the first, conv0, conv1, and a bias-free
    1x1 skip for 'resnet'), D's MappingNetwork with its defaults (8 layers, cmap_dim = channels at 4) when
    conditional, and DiscriminatorEpilogue (l.637-640: conv over in + 1 mbstd channel, fc, out)."""
    channels = {res: min(channel_base // res, channel_max) for res in (2 ** i for i in range(2, 11))}
    cmap_dim = channels[4] if c_dim else 0
    total = 0
    for res in (2 ** i for i in range(int(math.log2(resolution)), 2, -1)):
        tmp, out = channels[res], channels[res // 2]
        total += conv(img_channels, tmp, 1) if res == resolution else 0
        total += conv(tmp, tmp, 3) + conv(tmp, out, 3)
        total += conv(tmp, out, 1, bias=False) if architecture == "resnet" else 0
    total += official_mapping(0, c_dim, cmap_dim, 8) if c_dim else 0
    c = channels[4]
    return total + conv(c + 1, c, 3) + fc(c * 16, c) + fc(c, cmap_dim or 1)


@pytest.mark.parametrize("resolution, channels, c_dim, mapping_layers, architecture", [
    (1024, 3, 0, 8, "resnet"),  # config F (train.py cfg paper1024 / stylegan2: map 8, fmaps 1)
    (32, 3, 10, 2, "orig"),     # train.py cfg cifar: map 2, fmaps 1, D architecture 'orig', conditional
])
def test_parameter_counts_equal_the_official_networks(resolution, channels, c_dim, mapping_layers,
                                                      architecture) -> None:
    shape = (channels, resolution, resolution)
    with torch.device("meta"):  # counted without allocating 60M parameters
        G = Generator(512, shape, c_dim or None, w_dim=512, mapping_layers=mapping_layers, channel_base=32768,
                      width=512)
        D = Discriminator(shape, c_dim or None, channel_base=32768, width=512, architecture=architecture)
    assert count_parameters(G) == official_generator(resolution, channels, 512, 512, c_dim, mapping_layers, 32768, 512)
    assert count_parameters(D) == official_discriminator(resolution, channels, c_dim, 32768, 512, architecture)
    if resolution == 1024:
        assert G.num_ws == 18  # the 18 styles of the paper's 1024x1024 generator


# --- the presets and the engine ------------------------------------------------------------------------------------

@pytest.mark.parametrize("experiment, resolution, num_classes, mapping_layers, architecture", [
    ("stylegan2", 1024, None, 8, "resnet"),
    ("stylegan2_cifar", 32, 10, 2, "orig"),
])
def test_the_presets_build_the_official_networks(experiment, resolution, num_classes, mapping_layers,
                                                 architecture) -> None:
    """The presets' arch values, as composed, give the official parameter counts (and conditioning) at their data."""
    from hydra.utils import instantiate

    from tests.conftest import make_config

    cfg = make_config(f"experiment={experiment}")
    assert cfg.conditional == (num_classes is not None)
    shape = (3, resolution, resolution)
    with torch.device("meta"):
        G = instantiate(cfg.arch.generator, z_dim=cfg.z_dim, data_shape=shape, num_classes=num_classes)
        D = instantiate(cfg.arch.discriminator, data_shape=shape, num_classes=num_classes)
    c_dim = num_classes or 0
    assert count_parameters(G) == official_generator(resolution, 3, 512, 512, c_dim, mapping_layers, 32768, 512)
    assert count_parameters(D) == official_discriminator(resolution, 3, c_dim, 32768, 512, architecture)


def test_the_discriminator_sees_real_and_fake_in_passes_of_their_own(tmp_path, monkeypatch) -> None:
    """Minibatch standard deviation groups the samples of one call: with real and fake in one pass (the engine's
    default, train.separate_passes=false) they would share groups. The official loss calls D on each alone."""
    from gan_runner.engine.loop import train
    from tests.conftest import SHRINK, TINY, make_config

    batches = []
    forward = Discriminator.forward

    def recording(self, img, y=None):
        batches.append(img.shape[0])
        return forward(self, img, y)

    monkeypatch.setattr(Discriminator, "forward", recording)
    cfg = make_config(*SHRINK, "arch=stylegan2", "dataset=digits", "dataset.resolution=8", *TINY)
    assert cfg.train.separate_passes is False and cfg.train.batch_size == 8
    assert train(cfg, tmp_path)["status"] == "completed"
    assert batches and set(batches) == {8}


def test_styles_and_w_avg_stay_float32_under_autocast() -> None:
    """bf16 autocast (train.precision=bf16) computes the mapping's layers in bf16; ws and the tracked w_avg stay fp32,
    as the official code keeps them."""
    G = tiny_generator(num_classes=3)
    z, y = torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ws = G.styles(z, y)
        G.eval()
        G.truncation_psi = 0.5
        images = G(z, y)
    assert ws.dtype == G.w_avg.dtype == torch.float32 and images.shape == (4, 1, 16, 16)
