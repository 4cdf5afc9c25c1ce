"""ResNet, SAGAN, BigGAN and class conditioning: shapes at every resolution offered, conditional and not; the
parts checked against their definitions (attention, projection, conditional batch norm, spectral norm, BigGAN's
shared embedding and hierarchical latent); short training runs, resume and gan-sample y=K on conditional runs;
the experiment presets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch.nn.utils import parametrize

from gan_runner.arch import biggan, count_parameters, dcgan, mlp, resnet, sagan
from gan_runner.run_directory import Checkpoint
from gan_runner.errors import UserError
from gan_runner.regularisers.spectral_norm import apply_spectral_norm
from gan_runner.commands.sample import load_generator
from gan_runner.engine.sampling import draw
from gan_runner.commands.sample import main as sample_main
from gan_runner.engine.loop import train
from tests.conftest import SHRINK, TINY, make_config, metric_rows, options

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


def test_an_unconditional_run_draws_no_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Its random numbers must stay those of the runs made before conditioning existed.
    def refuse(*args, **kwargs):
        raise AssertionError("torch.randint called by an unconditional run")

    monkeypatch.setattr(torch, "randint", refuse)
    summary = train(make_config(*SHRINK, *TINY, "dataset=digits"), tmp_path)
    assert summary["status"] == "completed"


def test_conditional_needs_a_labelled_dataset(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(8):  # images directly in the root: unlabelled
        Image.fromarray(np.full((8, 8), 30 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    cfg = make_config(*SHRINK, *TINY, "dataset=image_folder", f"dataset.root={folder}",
                      "dataset.resolution=8", "dataset.channels=1", "conditional=true")
    with pytest.raises(UserError, match="conditional=true needs class labels.*conditional=false"):
        train(cfg, tmp_path / "run")


def test_a_conditional_run_resumes_exactly(tmp_path: Path) -> None:
    common = [*SHRINK, "arch=resnet", *TINY, "dataset=digits", "conditional=true", "train.n_critic=2",
              "regulariser=r1"]
    train(make_config(*common, "train.steps=4"), tmp_path / "whole")
    train(make_config(*common, "train.steps=2"), tmp_path / "parts")
    state = Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt")
    train(make_config(*common, "train.steps=4"), tmp_path / "parts", resume=state)
    assert _rows(tmp_path / "parts") == _rows(tmp_path / "whole")


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


def test_the_experiment_presets_compose_as_their_papers_say() -> None:
    sngan_cfg = make_config("experiment=sngan")
    assert sngan_cfg.arch.generator._target_ == "gan_runner.arch.resnet.Generator"
    assert sngan_cfg.objective._target_.endswith("Hinge") and set(sngan_cfg.regulariser) == {"spectral_norm"}
    train_cfg = sngan_cfg.train
    assert (train_cfg.n_critic, train_cfg.lr_end_factor, list(train_cfg.betas)) == (5, 0.0, [0.0, 0.9])
    sagan_cfg = make_config("experiment=sagan")
    assert sagan_cfg.arch.discriminator._target_ == "gan_runner.arch.sagan.Discriminator"
    assert sagan_cfg.regulariser.spectral_norm.generator is True
    assert (sagan_cfg.train.lr_g, sagan_cfg.train.lr_d) == (1e-4, 4e-4)
    assert make_config("experiment=cgan_digits").conditional is True


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_trains_two_steps(tmp_path: Path, experiment: str) -> None:
    arch = make_config(f"experiment={experiment}").arch.generator._target_.split(".")[2]
    cfg = make_config(f"experiment={experiment}", *SHRINK, "dataset=digits", "dataset.resolution=8", *TINY)
    assert train(cfg, tmp_path)["status"] == "completed"


def test_cgan_digits_check_reports_each_class(tmp_path: Path) -> None:
    train(make_config(*SHRINK, "arch=resnet", *TINY, "dataset=digits", "conditional=true"), tmp_path)
    from gan_runner.study import cgan_digits_check as check

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
