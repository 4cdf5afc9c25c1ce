"""Multi-layer perceptrons for 2-D toy data and flattened images.

Class-conditional (num_classes set): a learned label embedding of `embed_dim` is concatenated to z in G and
to the flattened data in D (Mirza & Osindero 2014, with an embedding in place of the one-hot vector).

Options for Goodfellow et al.'s first GAN (2014), whose MNIST networks are goodfeli/adversarial's mnist.yaml run by
pylearn2: maxout units in D (`pieces`), dropout of each of D's layers' inputs (`input_dropout`, `hidden_dropout`),
weights drawn uniformly in a range with zero biases (`init_range`) and a sigmoid image output (`output`). Each
option's default is the plain MLP, so a config that does not name them builds the same networks as before.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Callable, Sequence

import torch
from torch import nn

from gan_runner.arch import check_labels, check_num_classes

OUTPUTS = ("auto", "tanh", "sigmoid", "linear")


class Maxout(nn.Module):
    """The maximum over each disjoint group of `pieces` consecutive features: N x (units * pieces) -> N x units.

    After a linear layer to units * pieces outputs it makes a layer of maxout units (Goodfellow et al. 2013, "Maxout
    Networks"), as pylearn2's Maxout does with its default pooling (lisa-lab/pylearn2 models/maxout.py:
    detector_layer_dim = num_units * num_pieces, pool_stride = pool_size = num_pieces, unit j the max of outputs
    j * pieces ... j * pieces + pieces - 1)."""

    def __init__(self, pieces: int) -> None:
        super().__init__()
        self.pieces = pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (-1, self.pieces)).amax(-1)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


class SigmoidToImageRange(nn.Module):
    """2 * sigmoid(x) - 1 (= tanh(x / 2)): Goodfellow et al.'s sigmoid image output (mnist.yaml's `Sigmoid` layer of
    784 units, for pixels in [0, 1]) mapped affinely onto our image range [-1, 1]. The same family of networks as a
    tanh output, whose last layer has twice these weights and bias; pylearn2's initial output bias, the logit of each
    pixel's mean over the training set (models/dbm/__init__.py init_sigmoid_bias_from_marginals), is not reproduced."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * torch.sigmoid(x) - 1


def check_options(depth: int, width: int, init_range: float | None, pieces: int = 1,
                  input_dropout: float = 0.0, hidden_dropout: float = 0.0) -> None:
    """Refuses options that would build a different network than they say (build.py turns the ValueError into one
    paragraph naming the config key)."""
    if depth < 1 or width < 1:
        raise ValueError(f"an MLP needs depth >= 1 and width >= 1, got depth={depth}, width={width}")
    if isinstance(pieces, bool) or not isinstance(pieces, int) or pieces < 1:
        raise ValueError(f"pieces (linear pieces per maxout unit) must be a whole number >= 1 (1: no maxout, the "
                         f"activation), got {pieces!r}")
    for name, p in (("input_dropout", input_dropout), ("hidden_dropout", hidden_dropout)):
        if not 0 <= p < 1:
            raise ValueError(f"{name} (the probability of dropping each input of a layer) must be in [0, 1), got {p!r}")
    if init_range is not None and not init_range > 0:
        raise ValueError(f"init_range must be a positive number (weights ~ U(-init_range, init_range), biases 0) or "
                         f"null (PyTorch's default initialisation), got {init_range!r}")


def _mlp(in_features: int, out_features: int, depth: int, width: int, activation: Callable[[], nn.Module],
         pieces: int = 1, hidden_dropout: float = 0.0) -> nn.Sequential:
    """`depth` hidden layers of `width` units (maxout units of `pieces` pieces when pieces > 1, in place of
    `activation`), then a linear layer to `out_features`. With hidden_dropout, each layer after the first drops its
    inputs (the hidden units) with that probability."""
    # The linear layers and their activations are numbered 0, 1, 2, ... as in an unnamed nn.Sequential, whatever
    # dropout comes between them, so that a network without dropout has the state-dict keys of earlier versions.
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    features = in_features
    for index in range(depth + 1):
        number = 2 * index
        if index > 0 and hidden_dropout > 0:
            layers[f"dropout_before_{number}"] = nn.Dropout(hidden_dropout)
        if index == depth:
            layers[str(number)] = nn.Linear(features, out_features)
        else:
            layers[str(number)] = nn.Linear(features, width * pieces)
            layers[str(number + 1)] = Maxout(pieces) if pieces > 1 else activation()
            features = width
    return nn.Sequential(layers)


def init_uniform(network: nn.Module, init_range: float | None) -> None:
    """Every linear layer's weights ~ U(-init_range, init_range) and biases 0, as pylearn2's `irange` (models/mlp.py
    Linear and models/maxout.py Maxout: rng.uniform(-irange, irange); biases start at 0); None keeps PyTorch's
    default. The label embedding (not in the paper) keeps its N(0, 1) initialisation."""
    if init_range is None:
        return
    for layer in network.modules():
        if isinstance(layer, nn.Linear):
            nn.init.uniform_(layer.weight, -init_range, init_range)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class Generator(nn.Module):
    """z -> `depth` hidden layers of `width` units -> data.

    `output`: "auto" (the default) gives images (samples of shape C x H x W, which live in [-1, 1]) a tanh and vector
    data (the 2-D mixtures, unbounded) a linear output; "tanh", "linear" and "sigmoid" choose one whatever the data.
    "sigmoid" is 2 * sigmoid(x) - 1 (SigmoidToImageRange): Goodfellow et al.'s sigmoid output, whose data is in
    [0, 1] where ours is in [-1, 1]. `init_range` r: weights ~ U(-r, r) and zero biases (pylearn2's irange; their G
    0.05); None: PyTorch's default.
    """

    def __init__(
        self,
        z_dim: int,
        data_shape: Sequence[int],
        depth: int = 3,
        width: int = 256,
        activation: Callable[[], nn.Module] = nn.ReLU,
        num_classes: int | None = None,
        embed_dim: int = 16,
        init_range: float | None = None,
        output: str = "auto",
    ) -> None:
        super().__init__()
        check_num_classes(num_classes)
        check_options(depth, width, init_range)
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)} (auto: tanh for images, linear for vector "
                             f"data), got {output!r}")
        self.data_shape, self.num_classes = tuple(data_shape), num_classes
        inputs = z_dim + (embed_dim if num_classes is not None else 0)
        self.net = _mlp(inputs, math.prod(self.data_shape), depth, width, activation)
        if output == "auto":
            output = "tanh" if len(self.data_shape) == 3 else "linear"
        self.output = {"tanh": nn.Tanh, "sigmoid": SigmoidToImageRange, "linear": nn.Identity}[output]()
        init_uniform(self.net, init_range)
        if num_classes is not None:
            self.embed = nn.Embedding(num_classes, embed_dim)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(y, self.num_classes)
        if self.num_classes is not None:
            z = torch.cat([z, self.embed(y)], 1)
        return self.output(self.net(z)).view(z.shape[0], *self.data_shape)


class Discriminator(nn.Module):
    """Flattened data -> `depth` hidden layers of `width` units -> one raw score per sample.

    Goodfellow et al.'s D (mnist.yaml: two maxout layers of 240 units x 5 pieces, dropout, irange 0.005) is
    `depth=2, width=240, pieces=5, input_dropout=0.2, hidden_dropout=0.5, init_range=0.005`:
    - `pieces` k > 1: each hidden layer is a linear layer to width * k outputs and the max over each group of k
      consecutive ones (Maxout), in place of `activation`. 1: the activation.
    - `input_dropout`: each sample's data coordinates (pixels) are dropped with this probability and the kept ones
      scaled by 1 / (1 - input_dropout); `hidden_dropout` the same for the inputs of every later layer (each hidden
      layer after the first, and the output layer). pylearn2's dropout_fprop (models/mlp.py) keeps each input with
      an include probability p and scales it by a given scale, per example; mnist.yaml keeps the pixels with p 0.8
      (scale 1.25) and the other layers' inputs with p 0.5 (scale 2), i.e. drop 0.2 and 0.5 here. nn.Dropout, so
      it is on in training mode and off in eval mode (as when the 2-D pictures draw D's contours). A conditional
      D's label embedding is not dropped.
    - `init_range` r: weights ~ U(-r, r) and zero biases (pylearn2's irange); None: PyTorch's default.
    """

    def __init__(
        self,
        data_shape: Sequence[int],
        depth: int = 3,
        width: int = 256,
        activation: Callable[[], nn.Module] = nn.ReLU,
        num_classes: int | None = None,
        embed_dim: int = 16,
        pieces: int = 1,
        input_dropout: float = 0.0,
        hidden_dropout: float = 0.0,
        init_range: float | None = None,
    ) -> None:
        super().__init__()
        check_num_classes(num_classes)
        check_options(depth, width, init_range, pieces, input_dropout, hidden_dropout)
        self.num_classes = num_classes
        inputs = math.prod(data_shape) + (embed_dim if num_classes is not None else 0)
        self.input_dropout = nn.Dropout(input_dropout)  # p = 0 returns its input, drawing no random numbers
        self.net = _mlp(inputs, 1, depth, width, activation, pieces, hidden_dropout)
        init_uniform(self.net, init_range)
        if num_classes is not None:
            self.embed = nn.Embedding(num_classes, embed_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_labels(y, self.num_classes)
        x = self.input_dropout(x.flatten(1))
        if self.num_classes is not None:
            x = torch.cat([x, self.embed(y)], 1)
        return self.net(x).squeeze(1)
