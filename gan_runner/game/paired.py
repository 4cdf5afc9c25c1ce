"""game=paired: G translates a source image into its target (pix2pix, Isola et al. 2017; SRGAN, Ledig et al. 2017).
D judges the pair, the source concatenated on channels (pix2pix's conditional PatchGAN: `conditional_d: true`), or
the image alone (SRGAN's). G's loss is the adversarial one plus `reconstruction_weight` x the L1 or MSE distance of
its output to the target (pix2pix: L1, 100) and, optionally, `content_weight` x the MSE of a feature network's maps
(SRGAN's VGG54). With `pretrain_steps` G first trains on those terms alone, D untouched (SRGAN's generator is first
the MSE-trained SRResNet). Evaluation and pictures translate the dataset's held-out sources (dataset.held_out()).

The update's inputs are `PairedInputs`: the target as `real`, the source as G's input, and the source again as D's
condition of both real and fake pairs (None when D judges images alone); so the engine's D and G updates, every
D penalty (R1, gradient penalty: on the pair's image, conditioned on the source) and the objectives apply as they
are. docs/games.md."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_runner.engine.build import build
from gan_runner.engine.step import UpdateInputs, g_step, to_device
from gan_runner.errors import UserError
from gan_runner.game import Game
from gan_runner.game.noise_to_data import dataset_name


@dataclasses.dataclass
class PairedInputs(UpdateInputs):
    """An update's pairs: `real` the targets, `z` the sources (G's input), `real_labels` and `fake_labels` D's
    condition (the sources, or None when D judges the image alone)."""

    def generate(self, G: nn.Module) -> torch.Tensor:
        return G(self.z)

    @property
    def source(self) -> torch.Tensor:
        return self.z


class PairedStream:
    """The updates' inputs from the dataset's (target, source) batches in its seeded order; no noise is drawn
    (pix2pix's noise is its dropout). `reuse_fakes`: G's update scores the fakes of D's (the PyTorch port's
    forward() makes fake_B once for both); otherwise G translates the same sources again."""

    def __init__(self, data: Iterator, device: torch.device, conditional_d: bool, reuse_fakes: bool) -> None:
        self.data, self.device, self.conditional_d, self.reuse_fakes = data, device, conditional_d, reuse_fakes

    def next(self) -> PairedInputs:
        target, source = next(self.data)
        target, source = to_device(target, self.device), to_device(source, self.device)
        condition = source if self.conditional_d else None
        return PairedInputs(target, condition, source, condition, keep_fake=self.reuse_fakes)

    def for_generator(self, last: PairedInputs) -> PairedInputs:
        return last if self.reuse_fakes else dataclasses.replace(last, keep_fake=False, fake=None)


def distance(kind: str) -> Any:
    """The reconstruction distance by name: l1 (pix2pix) or mse (SRGAN's pixel-wise MSE)."""
    return {"l1": F.l1_loss, "mse": F.mse_loss}[kind]


class Paired(Game):
    kind = "paired"

    def __init__(self, reconstruction: str = "l1", reconstruction_weight: float = 100.0, content: Any = None,
                 content_weight: float = 0.0, conditional_d: bool = True, pretrain_steps: int = 0,
                 adversarial_weight: float = 1.0, pretrain_reconstruction_weight: float | None = None,
                 pretrain_content_weight: float | None = None) -> None:
        if reconstruction not in ("l1", "mse"):
            raise ValueError(f"game.reconstruction={reconstruction} is not a distance of the paired game. Fix: "
                             "game.reconstruction=l1 (pix2pix) or game.reconstruction=mse (SRGAN)")
        if min(reconstruction_weight, content_weight, pretrain_steps, adversarial_weight) < 0:
            raise ValueError("game.reconstruction_weight, game.content_weight, game.adversarial_weight and "
                             "game.pretrain_steps must be >= 0. Fix: give each a number >= 0")
        # The pretraining updates' weights (SRGAN's SRResNet: MSE alone, where the adversarial phase weighs VGG54
        # content alone); None: the adversarial phase's.
        pretrain_reconstruction_weight = (reconstruction_weight if pretrain_reconstruction_weight is None
                                          else pretrain_reconstruction_weight)
        pretrain_content_weight = content_weight if pretrain_content_weight is None else pretrain_content_weight
        if min(pretrain_reconstruction_weight, pretrain_content_weight) < 0:
            raise ValueError("game.pretrain_reconstruction_weight and game.pretrain_content_weight must be >= 0. Fix: "
                             "give each a number >= 0, or null (the adversarial phase's)")
        if max(content_weight, pretrain_content_weight) > 0 and content is None:
            raise ValueError("game.content_weight > 0 (or game.pretrain_content_weight > 0) needs a feature network, "
                             "game.content. Fix: game.content={_target_:gan_runner.game.paired.VGGContent} (SRGAN's VGG54), or "
                             "a weight of 0")
        if pretrain_steps > 0 and pretrain_reconstruction_weight == pretrain_content_weight == 0:
            raise ValueError("game.pretrain_steps > 0 trains G on its own terms alone, but both are weighted 0 there: "
                             "Fix: game.pretrain_reconstruction_weight=1 (SRGAN's MSE) or game.pretrain_steps=0")
        self.reconstruction, self.reconstruction_weight = reconstruction, reconstruction_weight
        self.content, self.content_weight = content, content_weight
        self.pretrain_reconstruction_weight, self.pretrain_content_weight = (pretrain_reconstruction_weight,
                                                                             pretrain_content_weight)
        self.conditional_d, self.pretrain_steps = conditional_d, pretrain_steps
        self.adversarial_weight = adversarial_weight

    def check(self, cfg: Any, dataset: Any) -> None:
        if not getattr(dataset, "paired", False):
            held = "two domains of images that are not paired (for game=cycle)" if getattr(
                dataset, "unpaired", False) else "single samples"
            raise UserError(f"game=paired trains on pairs of images (a source and its target), but dataset="
                            f"{dataset_name(cfg)} holds {held}. Fix: a paired dataset: dataset=mnist_edges, "
                            "dataset=mnist_sr, or your own pairs with dataset=paired_folder dataset.root=DIR "
                            "(pix2pix's layouts: DIR/train/ of side-by-side A|B images, or DIR/A/ and DIR/B/ with "
                            "matching names); or game=noise_to_data for a dataset of single samples.")
        if cfg.arch.get("game", "noise_to_data") != self.kind:
            raise UserError(f"game=paired needs networks that translate an image, but the chosen arch builds G(z) "
                            f"for game={cfg.arch.get('game', 'noise_to_data')}. Fix: arch=pix2pix or arch=srgan "
                            "(or experiment=pix2pix / experiment=srgan).")
        if cfg.conditional:
            raise UserError("conditional=true conditions G and D on class labels; game=paired conditions them on "
                            "the source image. Fix: drop conditional=true.")
        if cfg.train.g_batch_size is not None:
            raise UserError("train.g_batch_size draws G's own batch of noise, which game=paired has none of: G's "
                            "update translates the sources of D's batch. Fix: drop train.g_batch_size.")

    def networks(self, cfg: Any, dataset: Any, num_classes: int | None) -> tuple[nn.Module, nn.Module]:
        G = build(cfg, "arch.generator", data_shape=dataset.shape, source_shape=dataset.source_shape)
        D = build(cfg, "arch.discriminator", data_shape=dataset.shape,
                  source_shape=dataset.source_shape if self.conditional_d else None)
        return G, D

    def input_stream(self, data: Iterator, cfg: Any, num_classes: int | None, device: torch.device, latent: Any,
                     g_batch_size: int | None) -> PairedStream:
        return PairedStream(data, device, self.conditional_d, cfg.train.reuse_fakes)

    def generator_terms(self, inputs: PairedInputs, fake: torch.Tensor) -> Iterator[tuple[str, tuple]]:
        """G's own terms in the adversarial phase: reconstruction (logged as g/reconstruction, unweighted) and
        content (g/content)."""
        return self.terms(inputs, fake, self.reconstruction_weight, self.content_weight)

    def pretraining_terms(self, inputs: PairedInputs, fake: torch.Tensor) -> Iterator[tuple[str, tuple]]:
        """G's terms in the pretraining updates, weighted by game.pretrain_reconstruction_weight and
        game.pretrain_content_weight."""
        return self.terms(inputs, fake, self.pretrain_reconstruction_weight, self.pretrain_content_weight)

    def terms(self, inputs: PairedInputs, fake: torch.Tensor, reconstruction_weight: float,
              content_weight: float) -> Iterator[tuple[str, tuple]]:
        if reconstruction_weight > 0:
            raw = distance(self.reconstruction)(fake, inputs.real)
            yield "reconstruction", (reconstruction_weight * raw, raw)
        if self.content is not None and content_weight > 0:
            raw = self.content(fake, inputs.real)
            yield "content", (content_weight * raw, raw)

    def updates(self, step: Any, next_inputs: Any, for_generator: Any, g_steps_done: int, n_critic: int) -> list:
        if g_steps_done >= self.pretrain_steps:
            return step.alternating(next_inputs, for_generator, g_steps_done, n_critic)
        inputs = [next_inputs() for _ in range(n_critic)][-1]  # the data order advances as in adversarial steps
        pretraining = dataclasses.replace(step.run, generator_terms=self.pretraining_terms)
        return [g_step(pretraining, step.state.opt_g, dataclasses.replace(inputs, keep_fake=False, fake=None),
                       g_steps_done, adversarial=False)]

    def graph_refusals(self) -> list[str]:
        return ["game=paired: its step is not recorded as a CUDA graph yet (unmeasured on a GPU)"]

    def sampler(self, G: nn.Module, cfg: Any, dataset: Any, seed: int, device: torch.device) -> Any:
        """G's outputs for the first n held-out sources, in order, in batches of 100; pix2pix's dropout, kept at
        sampling, draws from a generator seeded with `seed`, so each call gives the same outputs."""
        sources = dataset.held_out()[0]

        def sample(n: int, rows: tuple[int, int] | None = None) -> Iterator[torch.Tensor]:
            first, stop = rows or (0, n)
            with seeded(seed, device):
                for start in range(first, stop, 100):
                    with torch.no_grad():
                        yield G(sources[start:min(start + 100, stop)].to(device))
        return sample

    def fixed_inputs(self, cfg: Any, dataset: Any, num_classes: int | None, device: torch.device,
                     latent: Any) -> Any:
        """The picture's 8 held-out pairs, spread evenly over the held-out order (the digits': one of each of 8
        classes)."""
        sources, targets, _ = dataset.held_out()
        chosen = torch.linspace(0, len(sources) - 1, min(8, len(sources))).round().long()
        return sources[chosen], targets[chosen]

    def picture(self, G: nn.Module, D: nn.Module, fixed: Any, dataset: Any, sample: Any, seed: int, step: int,
                objective: Any) -> np.ndarray:
        from gan_runner.pictures import paired_picture

        sources, targets = fixed
        device = next(G.parameters()).device
        with seeded(seed, device), torch.no_grad():
            outputs = G(sources.to(device)).cpu()
        return paired_picture(sources, outputs, targets)

    def diversity_inputs(self, cfg: Any, num_classes: int | None, latent: Any) -> Any:
        def inputs(batch: Any, n: int, rng: torch.Generator) -> tuple:
            return (batch[1],)  # the batch's sources: do G's outputs spread as their targets do?
        return inputs


class seeded:
    """Runs its block with torch's global RNG (and CUDA's) seeded, then puts it back: sampling with dropout never
    changes training's draws."""

    def __init__(self, seed: int, device: torch.device) -> None:
        self.seed, self.devices = seed, [device] if torch.device(device).type == "cuda" else []

    def __enter__(self) -> None:
        self.fork = torch.random.fork_rng(devices=self.devices)
        self.fork.__enter__()
        torch.manual_seed(self.seed)

    def __exit__(self, *exception: Any) -> None:
        self.fork.__exit__(*exception)


class VGGContent(nn.Module):
    """SRGAN's VGG54 content loss (Ledig et al. 2017, section 2.2.2): the MSE between the feature maps of the output
    and of the target at φ5,4, the 4th convolution (after its ReLU) before VGG19's 5th max-pooling, on ImageNet
    weights, times `rescale` (the paper's 1/12.75², i.e. feature maps rescaled by 1/12.75). Images in [-1, 1] are
    mapped to ImageNet's normalisation; one channel is repeated to three. Uses torchvision's VGG19 weights when they
    are in torch's cache; they cannot be downloaded here, and a run that asks for them without them is refused."""

    FILE = "vgg19-dcbb9e9d.pth"  # torchvision.models.VGG19_Weights.IMAGENET1K_V1

    def __init__(self, layer: int = 54, rescale: float = 1 / 12.75 ** 2) -> None:
        super().__init__()
        from torchvision.models import vgg19

        path = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints" / self.FILE
        if not path.is_file():
            raise UserError(f"the VGG54 content loss (game.content: gan_runner.game.paired.VGGContent, as "
                            f"experiment=srgan asks) needs torchvision's ImageNet VGG19 weights, {path}, which are not "
                            "there and cannot be downloaded here. Fix: copy vgg19-dcbb9e9d.pth into "
                            f"{path.parent} (TORCH_HOME moves it), or train without the content loss, on the pixel "
                            "MSE as the paper's SRGAN-MSE: game.content=null game.content_weight=0 "
                            "game.reconstruction_weight=1.")
        network = vgg19()
        network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        # features[34] is conv5_4 and [35] its ReLU: φ5,4 "after activation" ends at index 36 (exclusive).
        block, conv = divmod(layer, 10)
        self.features = network.features[:vgg_cut(block, conv)].eval().requires_grad_(False)
        self.rescale = rescale
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def normalised(self, x: torch.Tensor) -> torch.Tensor:
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        return ((x + 1) / 2 - self.mean) / self.std

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        self.features.to(fake.device)
        return F.mse_loss(self.features(self.normalised(fake)), self.features(self.normalised(real))) * self.rescale


def vgg_cut(block: int, conv: int) -> int:
    """The index in torchvision's vgg19().features just after the ReLU of convolution `conv` of block `block`
    (blocks of 2, 2, 4, 4, 4 convolutions, each conv + ReLU, a max-pool after each block)."""
    sizes = (2, 2, 4, 4, 4)
    if not (1 <= block <= 5 and 1 <= conv <= sizes[block - 1]):
        raise ValueError(f"VGG19 has no φ{block},{conv}: blocks 1-5 of {sizes} convolutions")
    return sum(2 * size + 1 for size in sizes[:block - 1]) + 2 * conv
