"""experiment=cyclegan against its source, the authors' PyTorch port (junyanz/pytorch-CycleGAN-and-pix2pix): it
composes to the values the port's code gives; at 256x256 its generator has the port's 9 blocks and 11,378,179
parameters; its rate is constant for 100 epochs, then within 1% of the port's per-epoch decay; and three iterations
of the preset's step leave all four networks where the port's optimize_parameters loop, written out here from
models/cycle_gan_model.py, leaves copies of the same networks fed the same images (history pools of size 0: the
ImagePool then returns its input; the pool itself is tested in tests/test_game_cycle.py)."""

from __future__ import annotations

import copy
import itertools

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from gan_runner.arch import count_parameters
from gan_runner.engine.build import build_parts, build_step
from tests.conftest import make_config

# The dataset's own metrics (metrics=cycle, cycle_digits) are not the preset's: they are left out here.
NO_METRICS = "metrics=none"
HORSE2ZEBRA_EPOCH = max(1067, 1334)  # the port's epoch: max(|trainA|, |trainB|) items (UnalignedDataset.__len__)

# What the port says, written from its code (not from our YAML).
CYCLEGAN = {
    "game._target_": "gan_runner.game.cycle.Cycle",
    "arch.generator._target_": "gan_runner.arch.cyclegan.Generator",
    "arch.discriminator._target_": "gan_runner.arch.pix2pix.Discriminator",  # NLayerDiscriminator, images alone
    "objective._target_": "gan_runner.objectives.lsgan.LeastSquares",          # gan_mode lsgan: MSELoss
    "objective.a": 0.0, "objective.b": 1.0, "objective.c": 1.0,                 # fake label 0, real label 1
    "optimizer.g._target_": "torch.optim.Adam", "optimizer.d._target_": "torch.optim.Adam",
    "dataset._target_": "gan_runner.data.unpaired.UnpairedFolder",             # dataset_mode unaligned
    "dataset.load_size": 286, "dataset.crop_size": 256, "dataset.flip": True,  # resize_and_crop, flips
    "arch.generator.width": 64, "arch.generator.blocks": None, "arch.generator.norm": "instance",
    "arch.generator.dropout": 0.0,                                              # no_dropout=True
    "arch.discriminator.width": 64, "arch.discriminator.n_layers": 3, "arch.discriminator.norm": "instance",
    "game.cycle_weight_a": 10.0, "game.cycle_weight_b": 10.0, "game.identity_weight": 0.5, "game.pool_size": 50,
    "game.adversarial_weight": 2.0,                                             # MSELoss: twice lsgan's 1/2 E[.]
    "train.batch_size": 1, "train.n_critic": 1, "train.lr_g": 2e-4, "train.lr_d": 2e-4, "train.betas": [0.5, 0.999],
    "train.steps": (100 + 100) * HORSE2ZEBRA_EPOCH, "train.lr_decay_start": 100 * HORSE2ZEBRA_EPOCH,
    "train.lr_end_factor": 0.0, "train.lr_drop_at": None, "train.d_loss_scale": 1.0, "train.separate_passes": True,
    "train.ema": 0.0, "train.g_batch_size": None, "train.simultaneous": False,
}


def test_the_cyclegan_preset_composes_to_the_ports_values() -> None:
    cfg = make_config("experiment=cyclegan", NO_METRICS)
    found = {key: OmegaConf.to_object(value) if OmegaConf.is_config(value) else value
             for key in CYCLEGAN for value in [OmegaConf.select(cfg, key)]}
    assert found == CYCLEGAN
    assert dict(cfg.regulariser) == {} and cfg.conditional is False
    assert cfg.arch.game == "cycle"


def test_at_256_the_presets_generator_is_resnet_9blocks_with_the_ports_count() -> None:
    """--netG resnet_9blocks at horse2zebra's 256x256: 9 blocks, "[Network G_A] Total number of parameters :
    11.378 M"; on the 32x32 digit task the same preset builds 6 (resnet_6blocks' rule for smaller images)."""
    cfg = make_config("experiment=cyclegan", NO_METRICS)
    G = instantiate(cfg.arch.generator, data_shape=(3, 256, 256), source_shape=(3, 256, 256))
    assert (G.blocks, count_parameters(G)) == (9, 11_378_179)
    assert instantiate(cfg.arch.generator, data_shape=(1, 32, 32), source_shape=(1, 32, 32), width=2).blocks == 6


def test_the_cyclegan_rate_is_constant_for_100_epochs_then_within_1_percent_of_the_ports_decay() -> None:
    from gan_runner.engine.step import Schedule

    train = make_config("experiment=cyclegan", NO_METRICS).train
    schedule = Schedule(train.lr_g, train.lr_d, train.lr_end_factor, train.steps, decay_start=train.lr_decay_start)
    epoch = HORSE2ZEBRA_EPOCH
    assert schedule.rates(0) == schedule.rates(100 * epoch) == (2e-4, 2e-4)
    for number in range(101, 201):  # get_scheduler's lambda rule in each decay epoch: 1 - (epoch - 100) / 101
        port = 2e-4 * (1 - (number - 100) / 101)
        for update in ((number - 1) * epoch, number * epoch - 1):
            assert abs(schedule.rates(update)[0] - port) <= 0.01 * 2e-4


class RandomUnpaired:
    """Two domains of random 1 x 32 x 32 images with the unpaired contract's attributes (the training step is fed its
    batches by the test; the run's diagnostics draw from `batches`)."""

    unpaired, num_classes, reads_its_share = True, None, True
    shape = source_shape = (1, 32, 32)
    domain_sizes = (8, 8)

    def __len__(self) -> int:
        return min(self.domain_sizes)

    def batches(self, batch_size, generator, start=0, device=None, rows=None):
        first, stop = rows or (0, batch_size)
        draw = torch.Generator().manual_seed(generator.initial_seed() + start)
        while True:
            yield tuple(torch.rand(batch_size, *self.shape, generator=draw)[first:stop] * 2 - 1 for _ in "ba")

    def held_out_domains(self):
        images = torch.zeros(2, *self.shape)
        return images, None, images, None


def gan_loss(prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    """networks.py GANLoss('lsgan'): MSELoss against a label tensor (1.0 real, 0.0 fake) the prediction's size."""
    target = torch.tensor(1.0 if target_is_real else 0.0).expand_as(prediction)
    return nn.MSELoss()(prediction, target)


class PortCycleGAN:
    """cycle_gan_model.py's CycleGANModel.optimize_parameters, written out from the port's code: one Adam over both
    generators and one over both discriminators (itertools.chain), pool_size 0 (ImagePool.query returns its input),
    direction AtoB. netD_A judges B images (real_B against netG_A's fake_B), netD_B judges A images."""

    def __init__(self, netG_A: nn.Module, netG_B: nn.Module, netD_A: nn.Module, netD_B: nn.Module,
                 lr: float = 2e-4, beta1: float = 0.5, lambda_A: float = 10.0, lambda_B: float = 10.0,
                 lambda_identity: float = 0.5) -> None:
        self.netG_A, self.netG_B, self.netD_A, self.netD_B = netG_A, netG_B, netD_A, netD_B
        self.lambda_A, self.lambda_B, self.lambda_identity = lambda_A, lambda_B, lambda_identity
        self.criterionCycle, self.criterionIdt = nn.L1Loss(), nn.L1Loss()
        self.optimizer_G = torch.optim.Adam(itertools.chain(netG_A.parameters(), netG_B.parameters()), lr=lr,
                                            betas=(beta1, 0.999))
        self.optimizer_D = torch.optim.Adam(itertools.chain(netD_A.parameters(), netD_B.parameters()), lr=lr,
                                            betas=(beta1, 0.999))

    def set_requires_grad(self, nets: list[nn.Module], requires_grad: bool) -> None:
        for net in nets:
            for param in net.parameters():
                param.requires_grad = requires_grad

    def forward(self) -> None:
        self.fake_B = self.netG_A(self.real_A)
        self.rec_A = self.netG_B(self.fake_B)
        self.fake_A = self.netG_B(self.real_B)
        self.rec_B = self.netG_A(self.fake_A)

    def backward_D_basic(self, netD: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        loss_D_real = gan_loss(netD(real), True)
        loss_D_fake = gan_loss(netD(fake.detach()), False)
        loss_D = (loss_D_real + loss_D_fake) * 0.5
        loss_D.backward()
        return loss_D

    def backward_G(self) -> None:
        lambda_idt, lambda_A, lambda_B = self.lambda_identity, self.lambda_A, self.lambda_B
        self.idt_A = self.netG_A(self.real_B)
        loss_idt_A = self.criterionIdt(self.idt_A, self.real_B) * lambda_B * lambda_idt
        self.idt_B = self.netG_B(self.real_A)
        loss_idt_B = self.criterionIdt(self.idt_B, self.real_A) * lambda_A * lambda_idt
        loss_G_A = gan_loss(self.netD_A(self.fake_B), True)
        loss_G_B = gan_loss(self.netD_B(self.fake_A), True)
        loss_cycle_A = self.criterionCycle(self.rec_A, self.real_A) * lambda_A
        loss_cycle_B = self.criterionCycle(self.rec_B, self.real_B) * lambda_B
        (loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B).backward()

    def optimize_parameters(self, real_A: torch.Tensor, real_B: torch.Tensor) -> None:
        self.real_A, self.real_B = real_A, real_B  # set_input
        self.forward()
        self.set_requires_grad([self.netD_A, self.netD_B], False)
        self.optimizer_G.zero_grad()
        self.backward_G()
        self.optimizer_G.step()
        self.set_requires_grad([self.netD_A, self.netD_B], True)
        self.optimizer_D.zero_grad()
        self.backward_D_basic(self.netD_A, self.real_B, self.fake_B)  # backward_D_A, the pool's draw = fake_B
        self.backward_D_basic(self.netD_B, self.real_A, self.fake_A)  # backward_D_B
        self.optimizer_D.step()


def unpaired_batches(n: int, batch: int = 2) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """n steps of (b, a): an unpaired dataset's batches, B first. A: smooth blobs; B: sparse strokes (two domains)."""
    rng = torch.Generator().manual_seed(0)
    return [((torch.rand(batch, 1, 32, 32, generator=rng) > 0.8).float() * 2 - 1,
             torch.tanh(torch.randn(batch, 1, 32, 32, generator=rng))) for _ in range(n)]


def cancelled_biases(net: nn.Module) -> set[str]:
    """The biases of convolutions that an instance norm follows: its mean subtraction removes them from every output,
    so their gradients are rounding noise that Adam scales up to steps of about lr in either direction."""
    names = set()
    for prefix, module in net.named_modules():
        if isinstance(module, nn.Sequential):
            for index, (layer, following) in enumerate(zip(module, list(module)[1:])):
                if isinstance(following, nn.InstanceNorm2d) and getattr(layer, "bias", None) is not None:
                    names.add(f"{prefix}.{index}.bias".lstrip("."))
    return names


def assert_where_the_port_left(port_net: nn.Module, ours: nn.Module, lr: float, steps: int) -> None:
    state = dict(ours.named_parameters())
    skipped = cancelled_biases(ours)
    assert skipped, "the instance-norm networks have biases that the norm cancels"
    for name, value in port_net.named_parameters():
        if name in skipped:  # noise either way, bounded by Adam's steps; the outputs compared below do not see it
            assert (value - state[name]).abs().max() <= 2 * steps * 1.5 * lr, name
        else:
            assert torch.allclose(value, state[name], rtol=1e-4, atol=1e-5), name


def test_three_iterations_of_the_preset_leave_all_four_networks_where_the_ports_loop_leaves_them() -> None:
    """From the same weights and images, three steps of experiment=cyclegan (tiny: width 8, 2 blocks, 32x32, pools of
    0, batch 2) and three of the port's optimize_parameters: the generators' update first (GAN x 1 each way with
    MSE, cycle L1 x 10 each way, identity L1 x 0.5 x 10), then both discriminators on (real, fake) with
    (MSE_real + MSE_fake) x 0.5, each an Adam step at 2e-4, beta1 0.5. Every weight agrees but the biases that
    instance norm cancels (rounding noise), and so do the four networks' outputs."""
    cfg = make_config("experiment=cyclegan", "dataset=mnist_digits8", NO_METRICS,
                      "dataset._target_=tests.test_presets_cycle.RandomUnpaired", "arch.generator.width=8",
                      "arch.generator.blocks=2", "arch.discriminator.width=8", "game.pool_size=0",
                      "train.batch_size=2", "train.device=cpu", "logger=none", "health=none")
    parts = build_parts(cfg)
    G, D = parts.state.G, parts.state.D
    start = {name: value.clone() for name, value in [*G.state_dict().items(), *D.state_dict().items()]}
    port = PortCycleGAN(copy.deepcopy(G.a_to_b), copy.deepcopy(G.b_to_a), copy.deepcopy(D.judge_b),
                        copy.deepcopy(D.judge_a))
    batches = unpaired_batches(3)
    step = build_step(cfg, parts)
    step.inputs.data = iter(batches)
    for _ in batches:
        step()
    for b, a in batches:
        port.optimize_parameters(a, b)

    for network in (G, D):  # every weight that reaches an output has trained
        noise = cancelled_biases(network)
        assert all(not torch.equal(value, start[name]) for name, value in network.state_dict().items()
                   if name not in noise)
    pairs = [(port.netG_A, G.a_to_b), (port.netG_B, G.b_to_a), (port.netD_A, D.judge_b), (port.netD_B, D.judge_a)]
    for theirs, ours in pairs:
        assert_where_the_port_left(theirs, ours, lr=2e-4, steps=3)
    b, a = unpaired_batches(1, batch=3)[0]
    with torch.no_grad():
        for (theirs, ours), images in zip(pairs, (a, b, b, a)):
            assert torch.allclose(theirs(images), ours(images), rtol=1e-4, atol=1e-5)
