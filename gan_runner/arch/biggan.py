"""BigGAN (Brock et al. 2019): SAGAN's ResNets with the generator's conditioning reworked, at our sizes.

What BigGAN adds to SAGAN, and what is kept here:

- A shared class embedding (`G.shared`): one vector of `shared_dim` (128 in the paper) per class for the whole
  generator, instead of a table of gains and biases per class in every batch norm. Each conditional batch norm
  (BigGAN's `ccbn`) maps its conditioning vector through two linear layers without bias to a gain 1 + W_g c and
  a bias W_b c per channel. Kept.
- A hierarchical latent (`hier`): z is split into one chunk for the first linear layer and one per up-block;
  block k's conditioning vector is [shared(y), z_k], so z acts at every resolution and not only through the
  bottom map. Kept. BigGAN drops the remainder of z_dim // chunks (it shortens z); here the remainder goes to
  the first chunk, so that every z_dim the runner samples is used (64 at side 32: 4 chunks of 16).
- Self-attention at one feature-map side (half the image side by default, as BigGAN's 64 at 128x128) and the
  projection discriminator with attention: sagan.py's layer and Discriminator, reused as they are.
- Orthogonal regularisation and spectral normalisation of G (and D): not part of the architecture but
  regularisers (regulariser=[spectral_norm,orthogonal], spectral_norm.generator=true), as in BigGAN's training.

Dropped or changed, and why:

- The shared embedding is a plain K x shared_dim parameter, not an nn.Embedding, because the spectral_norm
  regulariser normalises every Linear, Conv and Embedding module and BigGAN deliberately does not normalise
  G.shared ("applying SN to G's embedding seems to randomly cripple G", their code). Its conditional batch norms'
  linear layers are ordinary nn.Linear modules, which spectral norm does normalise, as in BigGAN.
- Unconditional runs (num_classes None) have no embedding: with `hier` each block's batch norm is conditioned on
  its z chunk alone (what BigGAN's ccbn does with a hierarchical z and no classes); without `hier` they are
  plain batch norms and the whole z goes to the first layer, i.e. SAGAN's generator.
- Widths and layouts are resnet.py's (SNGAN's per image side). BigGAN's G is the same at 32x32 (4x4x256, three
  up-blocks of 256), its 32x32 D is 256 wide rather than 128 (arch.discriminator.width=256), and at 128x128 its
  base width is 96 rather than 64. BigGAN-deep's bottleneck blocks, the truncation trick and cross-replica batch
  norm are left out.
- Initialisation: `init: xavier` (the default) keeps SNGAN's Xavier-uniform of the reused blocks; `init: orthogonal`
  is BigGAN's (`--G_init ortho --D_init ortho`, ajbrock/BigGAN-PyTorch BigGAN.py init_weights): torch's
  orthogonal_ on the weight of every Conv2d, Linear and Embedding of the network once it is built, biases left as
  they are (zero here). An option of each network. The shared class embedding is orthogonal either way.
- The attention options `attention_pool` and `attention_bias` and D's `output_bias` are sagan.py's and resnet.py's;
  BigGAN's own code pools keys and values 2x2 and has no attention biases (layers.py Attention).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gan_runner.arch import check_labels, check_num_classes, resnet, sagan
from gan_runner.errors import UserError


class SharedEmbedding(nn.Module):
    """The class embedding that every conditional batch norm of the generator reads (BigGAN's G.shared): one
    `dim`-vector per class, orthogonally initialised as BigGAN's. A parameter rather than an nn.Embedding, so that
    spectral normalisation of G leaves it alone (see the module's docstring)."""

    lookup_table = True  # rows are classes: orthogonal regularisation leaves it out, as BigGAN does

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, dim))
        nn.init.orthogonal_(self.weight)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.weight[y]


class VectorConditionalBatchNorm2d(nn.Module):
    """Batch norm whose per-sample gain and bias are linear in a conditioning vector c (BigGAN's ccbn with a shared
    embedding): 1 + W_g c and W_b c, linear layers without bias. Called as norm(x, c), c of N x condition_dim."""

    def __init__(self, channels: int, condition_dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(condition_dim, channels, bias=False)
        self.bias = nn.Linear(condition_dim, channels, bias=False)
        for layer in (self.gain, self.bias):
            # Not zeros: spectral normalisation divides by the largest singular value, 0 for a zero matrix.
            nn.init.xavier_uniform_(layer.weight)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        return h * (1 + self.gain(condition))[:, :, None, None] + self.bias(condition)[:, :, None, None]


def chunk_sizes(z_dim: int, blocks: int, hier: bool) -> list[int]:
    """How z is split: the first layer's chunk, then one per up-block (none when not `hier`). Equal chunks of
    z_dim // (blocks + 1), the remainder added to the first chunk."""
    if not hier:
        return [z_dim]
    chunks = blocks + 1
    if z_dim < chunks:
        raise UserError(f"arch=biggan splits z into one chunk for its first layer and one per up-block, {chunks} "
                        f"chunks at this image side, so z_dim needs at least {chunks} (better a multiple of {chunks} "
                        f"such as {16 * chunks}); it is {z_dim}. Fix: set z_dim={16 * chunks}, or "
                        "arch.generator.hier=false to feed the whole z to the first layer.")
    size = z_dim // chunks
    return [size + z_dim - size * chunks] + [size] * blocks


INITS = ("xavier", "orthogonal")


def check_init(init: str) -> None:
    if init not in INITS:
        raise ValueError(f"init must be xavier (SNGAN's Xavier-uniform, the default) or orthogonal (BigGAN's "
                         f"--G_init/--D_init ortho), got {init!r}")


def initialise(network: nn.Module, init: str) -> None:
    """With init "orthogonal", every Conv2d, Linear and Embedding weight of `network` made orthogonal (rows or
    columns orthonormal, whichever are fewer, the weight seen as out x in*k*k), as BigGAN's init_weights does; biases
    untouched. "xavier" leaves the network as built. Called once the network is complete, before any regulariser's
    set-up (spectral normalisation then starts from these weights)."""
    check_init(init)
    if init == "orthogonal":
        for module in network.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear, nn.Embedding)):
                nn.init.orthogonal_(module.weight)


class Generator(nn.Module):
    """z (and a label) -> image: linear(z_0) to the bottom map, resnet.py's up-blocks whose batch norms are
    conditioned on [shared(y), z_k], self-attention at `attention_at`, then BN-ReLU-conv3x3-tanh.
    `maps` lists (side, channels) of the feature map after the input layer and after each up-block."""

    family = "BigGAN"  # names the architecture in error messages

    def __init__(self, z_dim: int, data_shape: Sequence[int], width: int | None = None,
                 factors: Sequence[int] | None = None, num_classes: int | None = None,
                 attention_at: Sequence[int] | None = None, shared_dim: int = 128, hier: bool = True,
                 attention_pool: int = 1, attention_bias: bool = True, init: str = "xavier") -> None:
        super().__init__()
        check_num_classes(num_classes)
        check_init(init)
        if num_classes is not None and shared_dim < 1:
            raise ValueError(f"shared_dim (the class embedding's size) must be positive, got {shared_dim}")
        plan, widths = resnet.generator_widths(data_shape, width, factors, self.family)
        self.num_classes, self.bottom, self.hier = num_classes, plan.bottom, hier
        self.chunk_sizes = chunk_sizes(z_dim, len(widths) - 1, hier)
        self.shared = SharedEmbedding(num_classes, shared_dim) if num_classes is not None else None
        condition_dim = (shared_dim if num_classes is not None else 0) + (self.chunk_sizes[1] if hier else 0)
        if condition_dim:
            def norm(channels: int) -> nn.Module:
                return VectorConditionalBatchNorm2d(channels, condition_dim)
        else:  # unconditional without a hierarchical z: nothing to condition on
            def norm(channels: int) -> nn.Module:
                return resnet.ConditionalBatchNorm2d(channels)
        self.input = resnet.linear(self.chunk_sizes[0], widths[0] * plan.bottom**2)
        self.num_blocks = len(widths) - 1
        up_blocks = [resnet.UpBlock(w_in, w_out, norm=norm) for w_in, w_out in zip(widths, widths[1:])]
        self.maps = [(plan.bottom * 2**level, w) for level, w in enumerate(widths)]
        sites = [(position, side, channels) for position, (side, channels) in enumerate(self.maps)]
        self.blocks = sagan.with_attention(nn.ModuleList(up_blocks), sites,
                                           sagan.attention_sides(attention_at, data_shape), "generator",
                                           attention_pool, attention_bias)
        # The up-block each layer of `blocks` is (None: an attention layer), to hand it its own conditioning.
        self.block_of_layer = [next((k for k, block in enumerate(up_blocks) if block is layer), None)
                               for layer in self.blocks]
        self.output_norm = nn.BatchNorm2d(widths[-1])
        self.output = resnet.conv(widths[-1], data_shape[0], 3)
        initialise(self, init)

    def conditions(self, z_blocks: Sequence[torch.Tensor], y: torch.Tensor | None) -> list[torch.Tensor | None]:
        """Each up-block's conditioning vector [shared(y), z_k]: without z_k when not `hier`, without shared(y)
        when unconditional, None when neither (plain batch norm)."""
        embedding = self.shared(y) if self.shared is not None else None  # one embedding, read by every block
        z_parts = z_blocks if self.hier else [None] * self.num_blocks
        conditions = []
        for z_k in z_parts:
            parts = [part for part in (embedding, z_k) if part is not None]
            conditions.append(torch.cat(parts, 1) if parts else None)
        return conditions

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(y, self.num_classes)
        z_first, *z_blocks = torch.split(z, self.chunk_sizes, dim=1)
        conditions = self.conditions(z_blocks, y)
        h = self.input(z_first).view(z.shape[0], -1, self.bottom, self.bottom)
        for layer, block in zip(self.blocks, self.block_of_layer):
            h = layer(h, conditions[block] if block is not None else None)
        return torch.tanh(self.output(F.relu(self.output_norm(h))))


class Discriminator(sagan.Discriminator):
    """SAGAN's discriminator, which is already BigGAN's: resnet.py's projection discriminator with self-attention
    at `attention_at` (default half the image side), initialised by `init` (xavier or orthogonal)."""

    family = "BigGAN"

    def __init__(self, data_shape: Sequence[int], width: int | None = None, factors: Sequence[int] | None = None,
                 num_classes: int | None = None, attention_at: Sequence[int] | None = None,
                 attention_pool: int = 1, attention_bias: bool = True, output_bias: bool = True,
                 init: str = "xavier") -> None:
        check_init(init)
        super().__init__(data_shape, width, factors, num_classes, attention_at, attention_pool, attention_bias,
                         output_bias)
        initialise(self, init)
