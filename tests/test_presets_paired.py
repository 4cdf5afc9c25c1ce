"""The paired presets, experiment=pix2pix and experiment=srgan, against their sources: each composes to the values
the authors' code (pix2pix: junyanz/pytorch-CycleGAN-and-pix2pix) or the paper (SRGAN: Ledig et al. 2017) gives;
three iterations of the pix2pix preset's step leave G and D where the port's optimize_parameters loop, written out
here from its code, leaves copies of the same networks fed the same pairs; SRGAN's G first trains on the pixel MSE
alone with D untouched, then on the content loss plus 1e-3 x the adversarial loss; and without the VGG19 weights
experiment=srgan is refused in one paragraph."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

from gan_runner.engine.build import build_parts, build_step
from gan_runner.game import paired
from tests.conftest import make_config, run

# What the sources say, written from them (not from our YAML).
PIX2PIX = {
    "game._target_": "gan_runner.game.paired.Paired",
    "arch.generator._target_": "gan_runner.arch.pix2pix.Generator",
    "arch.discriminator._target_": "gan_runner.arch.pix2pix.Discriminator",
    "objective._target_": "gan_runner.objectives.nonsaturating.NonSaturating",   # gan_mode vanilla: BCEWithLogits
    "optimizer.g._target_": "torch.optim.Adam", "optimizer.d._target_": "torch.optim.Adam",
    "metrics._target_": "gan_runner.metrics.paired.PairedDigits",   # the dataset's own metrics (mnist_edges: with the judge)
    "arch.generator.width": 64, "arch.generator.dropout": 0.5, "arch.generator.dropout_blocks": 3,
    "arch.generator.dropout_at_sampling": True,
    "arch.discriminator.width": 64, "arch.discriminator.n_layers": 3,             # netD basic: the 70x70 PatchGAN
    "game.reconstruction": "l1", "game.reconstruction_weight": 100.0, "game.adversarial_weight": 1.0,
    "game.content": None, "game.content_weight": 0.0, "game.conditional_d": True, "game.pretrain_steps": 0,
    "train.batch_size": 1, "train.n_critic": 1, "train.lr_g": 2e-4, "train.lr_d": 2e-4, "train.betas": [0.5, 0.999],
    "train.steps": (100 + 100) * 400, "train.lr_decay_start": 100 * 400, "train.lr_end_factor": 0.0,  # facades: 400
    "train.lr_drop_at": None, "train.d_loss_scale": 0.5, "train.separate_passes": True, "train.reuse_fakes": True,
    "train.ema": 0.0, "train.g_batch_size": None, "train.simultaneous": False,
}
SRGAN = {
    "game._target_": "gan_runner.game.paired.Paired",
    "arch.generator._target_": "gan_runner.arch.srgan.Generator",
    "arch.discriminator._target_": "gan_runner.arch.srgan.Discriminator",
    "objective._target_": "gan_runner.objectives.nonsaturating.NonSaturating",   # eq. 6: -log D(G(I_LR))
    "optimizer.g._target_": "torch.optim.Adam", "optimizer.d._target_": "torch.optim.Adam",
    "metrics._target_": "gan_runner.metrics.paired.Paired",                        # PSNR, SSIM (tables 1-2)
    "arch.generator.width": 64, "arch.generator.blocks": 16, "arch.discriminator.width": 64,
    "arch.discriminator.dense": 1024,
    "game.content._target_": "gan_runner.game.paired.VGGContent", "game.content.layer": 54,  # VGG54
    "game.content_weight": 1.0, "game.adversarial_weight": 1e-3, "game.reconstruction": "mse",  # eq. 3, 4
    "game.reconstruction_weight": 0.0, "game.conditional_d": False,
    "game.pretrain_steps": 10**6, "game.pretrain_reconstruction_weight": 1.0, "game.pretrain_content_weight": 0.0,
    "train.batch_size": 16, "train.n_critic": 1, "train.lr_g": 1e-4, "train.lr_d": 1e-4, "train.betas": [0.9, 0.999],
    "train.steps": 10**6 + 2 * 10**5, "train.lr_drop_at": 10**6 + 10**5, "train.lr_drop_factor": 0.1,
    "train.lr_end_factor": 1.0, "train.ema": 0.0,
}


@pytest.mark.parametrize("experiment, dataset, expected", [("pix2pix", "mnist_edges", PIX2PIX),
                                                           ("srgan", "mnist_sr", SRGAN)])
def test_the_preset_composes_to_its_sources_values(experiment: str, dataset: str, expected: dict) -> None:
    cfg = make_config(f"experiment={experiment}", f"dataset={dataset}")
    found = {key: OmegaConf.to_object(value) if OmegaConf.is_config(value) else value
             for key in expected for value in [OmegaConf.select(cfg, key)]}
    assert found == expected
    assert dict(cfg.regulariser) == {} and cfg.conditional is False


def test_the_srgan_schedule_is_1e4_then_1e5_over_the_last_1e5_updates() -> None:
    from gan_runner.engine.step import Schedule

    train = make_config("experiment=srgan", "dataset=mnist_sr").train
    schedule = Schedule(train.lr_g, train.lr_d, train.lr_end_factor, train.steps, decay_start=train.lr_decay_start,
                        drop_at=train.lr_drop_at, drop_factor=train.lr_drop_factor)
    assert schedule.rates(0)[0] == schedule.rates(10**6 + 10**5 - 1)[0] == pytest.approx(1e-4)
    assert schedule.rates(10**6 + 10**5)[0] == schedule.rates(10**6 + 2 * 10**5 - 1)[0] == pytest.approx(1e-5)


def test_the_pix2pix_rate_is_constant_for_100_epochs_then_decays_linearly_to_zero() -> None:
    from gan_runner.engine.step import Schedule

    train = make_config("experiment=pix2pix", "dataset=mnist_edges").train
    schedule = Schedule(train.lr_g, train.lr_d, train.lr_end_factor, train.steps, decay_start=train.lr_decay_start)
    assert schedule.rates(40_000) == (2e-4, 2e-4)
    for epoch in range(101, 201):  # the port's rate in each decay epoch: within 1% of the base rate of ours
        port = 2e-4 * (1 - (epoch - 100) / 101)
        for update in ((epoch - 1) * 400, epoch * 400 - 1):
            assert abs(schedule.rates(update)[0] - port) <= 0.01 * 2e-4


def gan_loss(prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    """networks.py GANLoss('vanilla'): BCEWithLogitsLoss against a label tensor the prediction's size."""
    target = torch.tensor(1.0 if target_is_real else 0.0).expand_as(prediction)
    return nn.BCEWithLogitsLoss()(prediction, target)


class PortPix2Pix:
    """pix2pix_model.py's Pix2PixModel.optimize_parameters, written out from the port's code (pool_size 0: the
    ImagePool returns its input; direction AtoB). netD is the module that takes the (A, B) pair concatenated on
    channels, as define_D's NLayerDiscriminator does."""

    def __init__(self, netG: nn.Module, netD: nn.Module, lr: float = 2e-4, beta1: float = 0.5,
                 lambda_L1: float = 100.0) -> None:
        self.netG, self.netD, self.lambda_L1 = netG, netD, lambda_L1
        self.optimizer_G = torch.optim.Adam(self.netG.parameters(), lr=lr, betas=(beta1, 0.999))
        self.optimizer_D = torch.optim.Adam(self.netD.parameters(), lr=lr, betas=(beta1, 0.999))

    def set_requires_grad(self, net: nn.Module, requires_grad: bool) -> None:
        for param in net.parameters():
            param.requires_grad = requires_grad

    def forward(self) -> None:
        self.fake_B = self.netG(self.real_A)

    def backward_D(self) -> None:
        fake_AB = torch.cat((self.real_A, self.fake_B), 1)
        pred_fake = self.netD(fake_AB.detach())
        loss_D_fake = gan_loss(pred_fake, False)
        real_AB = torch.cat((self.real_A, self.real_B), 1)
        pred_real = self.netD(real_AB)
        loss_D_real = gan_loss(pred_real, True)
        ((loss_D_fake + loss_D_real) * 0.5).backward()

    def backward_G(self) -> None:
        fake_AB = torch.cat((self.real_A, self.fake_B), 1)
        pred_fake = self.netD(fake_AB)
        loss_G_GAN = gan_loss(pred_fake, True)
        loss_G_L1 = F.l1_loss(self.fake_B, self.real_B) * self.lambda_L1
        (loss_G_GAN + loss_G_L1).backward()

    def optimize_parameters(self, real_A: torch.Tensor, real_B: torch.Tensor) -> None:
        self.real_A, self.real_B = real_A, real_B  # set_input
        self.forward()
        self.set_requires_grad(self.netD, True)
        self.optimizer_D.zero_grad()
        self.backward_D()
        self.optimizer_D.step()
        self.set_requires_grad(self.netD, False)
        self.optimizer_G.zero_grad()
        self.backward_G()
        self.optimizer_G.step()


def pairs(n: int, source_side: int, target_side: int, batch: int = 2) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """n batches of (target, source) pairs, as a paired dataset's batches() yields them."""
    rng = torch.Generator().manual_seed(0)
    return [(torch.rand(batch, 1, target_side, target_side, generator=rng) * 2 - 1,
             torch.rand(batch, 1, source_side, source_side, generator=rng).round() * 2 - 1) for _ in range(n)]


TINY_PIX2PIX = ["arch.generator.width=8", "arch.discriminator.width=8", "train.device=cpu", "train.batch_size=2",
                "logger=none", "metrics=none"]


def test_pix2pix_preset_steps_as_the_ports_optimize_parameters() -> None:
    """From the same weights and pairs (and the same dropout draws), three iterations of the preset's step leave G
    and D where the port's loop leaves copies of them: G translates each batch once, D's loss is halved, G's adds
    100 x L1. D's batch-norm running statistics are left out: the port scores the fakes first (a stated deviation)."""
    cfg = make_config("experiment=pix2pix", "dataset=mnist_edges", *TINY_PIX2PIX)
    parts = build_parts(cfg)
    G, D = parts.state.G, parts.state.D
    start = {name: value.clone() for name, value in [*G.state_dict().items(), *D.state_dict().items()]}
    port = PortPix2Pix(copy.deepcopy(G), copy.deepcopy(D).model)  # D.model: the net over cat((A, B), 1)
    batches = pairs(3, 28, 28)
    step = build_step(cfg, parts)
    step.inputs.data = iter(batches)
    torch.manual_seed(1)
    for _ in batches:
        step()
    torch.manual_seed(1)
    for target, source in batches:
        port.optimize_parameters(source, target)
    assert any(not torch.equal(value, start[key]) for key, value in G.state_dict().items())  # they trained
    assert any(not torch.equal(value, start[key]) for key, value in D.state_dict().items())
    for key, value in port.netG.state_dict().items():
        assert torch.allclose(value.float(), G.state_dict()[key].float(), rtol=1e-4, atol=1e-6), key
    ours = dict(D.model.named_parameters())
    for key, value in port.netD.named_parameters():
        assert torch.allclose(value, ours[key], rtol=1e-4, atol=1e-6), key


class RandomFeatures(nn.Module):
    """A stand-in for VGG54 (whose ImageNet weights are not here): the MSE of a fixed random convolution's maps."""

    def __init__(self, layer: int = 54) -> None:
        super().__init__()
        self.net = nn.Conv2d(1, 4, 3, padding=1)
        with torch.no_grad():
            for param in self.net.parameters():
                param.copy_(torch.randn(param.shape, generator=torch.Generator().manual_seed(layer)))
        self.net.requires_grad_(False)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.net(fake), self.net(real))


def test_srgan_trains_g_on_mse_alone_then_on_content_and_a_thousandth_of_the_adversarial_loss(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two pretraining steps and one adversarial step of the preset (tiny widths, the VGG54 loss replaced by a random
    stand-in) against the same updates written out: the SRResNet's Adam steps on the pixel MSE (D untouched, never
    run), then a D step on BCE (real and fake in one pass, fakes made without G's graph) and G's step on
    content + 1e-3 x -log D(G(I_LR)) of fresh fakes, with the MSE weighted 0."""
    monkeypatch.setattr(paired, "VGGContent", RandomFeatures)
    cfg = make_config("experiment=srgan", "dataset=mnist_sr", *TINY_PIX2PIX, "arch.generator.blocks=2",
                      "arch.discriminator.dense=16", "game.pretrain_steps=2")
    parts = build_parts(cfg)
    G, D, content = parts.state.G, parts.state.D, parts.game.content
    assert isinstance(content, RandomFeatures)
    G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
    opt_g = torch.optim.Adam(G_ref.parameters(), lr=1e-4, betas=(0.9, 0.999))
    opt_d = torch.optim.Adam(D_ref.parameters(), lr=1e-4, betas=(0.9, 0.999))
    d_start = copy.deepcopy(D.state_dict())
    d_calls: list[int] = []
    D.register_forward_pre_hook(lambda *_: d_calls.append(1))
    batches = pairs(3, 7, 28)
    step = build_step(cfg, parts)
    step.inputs.data = iter(batches)
    updates, seen = step.updates, []
    step.updates = lambda *args: seen.append(updates(*args)) or seen[-1]  # each step's statistics, as the loop's

    for target, source in batches[:2]:  # the SRResNet: MSE alone
        step()
        stats = seen[-1]
        assert set(stats[0]) >= {"g/reconstruction"} and "loss/g" not in stats[0] and "g/content" not in stats[0]
        opt_g.zero_grad()
        F.mse_loss(G_ref(source), target).backward()
        opt_g.step()
        assert_same(G_ref, G)
    assert d_calls == [] and all(torch.equal(v, D.state_dict()[k]) for k, v in d_start.items())

    target, source = batches[2]  # SRGAN: D's update, then G's on content + 1e-3 x adversarial
    step()
    stats = seen[-1]
    with torch.no_grad():
        fake = G_ref(source)
    scores = D_ref(torch.cat([target, fake]))
    real_scores, fake_scores = scores[:2], scores[2:]
    # -log D(I_HR) - log(1 - D(G(I_LR))) (eq. 2) and -log D(G(I_LR)) (eq. 6) on logits: softplus(-s), softplus(s).
    # Written as the objective computes them: D's convolutions before batch norm have biases whose gradient is
    # rounding noise (batch norm cancels them), which Adam's first step would scale up to the learning rate.
    opt_d.zero_grad()
    (F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()).backward()
    opt_d.step()
    D_ref.requires_grad_(False)
    fake = G_ref(source)
    opt_g.zero_grad()
    (content(fake, target) + 1e-3 * F.softplus(-D_ref(fake)).mean()).backward()
    opt_g.step()
    assert "g/reconstruction" not in stats[-1] and {"g/content", "loss/g"} <= set(stats[-1])
    assert_same(D_ref, D)
    assert_same(G_ref, G)


def assert_same(theirs: nn.Module, ours: nn.Module) -> None:
    state = ours.state_dict()
    for key, value in theirs.state_dict().items():
        assert torch.allclose(value.float(), state[key].float(), rtol=1e-4, atol=1e-6), key


def test_srgan_without_the_vgg19_weights_is_refused_in_one_paragraph(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's cache (TORCH_HOME) holds no VGG19: gan-run refuses before training, exit 2, no traceback."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    result = run("gan-run", "experiment=srgan", "dataset=mnist_sr", "logger=none", cwd=tmp_path, check=False)
    assert result.returncode == 2
    message = result.stderr.strip()
    assert "Traceback" not in result.stderr and message.startswith("gan-run: error:") and "\n" not in message
    assert "vgg19-dcbb9e9d.pth" in message and "game.content=null game.content_weight=0" in message


def test_pretraining_weights_default_to_the_adversarial_phases_and_refuse_weightless_pretraining(tmp_path: Path) -> None:
    """game.pretrain_reconstruction_weight / pretrain_content_weight null: pretraining weighs G's terms as the
    adversarial phase does (pix2pix-like games unchanged); SRGAN's 1 / 0 give the MSE alone. A pretraining with both
    weights 0 would train G on nothing: refused in one paragraph."""
    fake, real = torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4)
    inputs = paired.PairedInputs(real, None, torch.zeros(2, 1, 4, 4), None)
    same = paired.Paired(reconstruction_weight=100.0, pretrain_steps=5)
    assert [(n, t.item()) for n, (t, _) in same.pretraining_terms(inputs, fake)] == [("reconstruction", 100.0)]
    srgan = paired.Paired(reconstruction="mse", reconstruction_weight=0.0, content=RandomFeatures(), content_weight=1.0,
                          pretrain_steps=5, pretrain_reconstruction_weight=1.0, pretrain_content_weight=0.0)
    assert [n for n, _ in srgan.pretraining_terms(inputs, fake)] == ["reconstruction"]
    assert [n for n, _ in srgan.generator_terms(inputs, fake)] == ["content"]
    result = run("gan-run", "dataset=mnist_edges", "game.pretrain_steps=2", "game.reconstruction_weight=0",
                 "logger=none", "train.steps=1", cwd=tmp_path, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "game.pretrain_reconstruction_weight" in result.stderr and "\n" not in result.stderr.strip()
