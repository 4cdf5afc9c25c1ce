"""The layers progressive growing and StyleGAN2 share (gan_runner/arch/equalized.py): equalized learning rate's
runtime scale, minibatch standard deviation and pixel norm against their closed forms."""

import math

import pytest
import torch
import torch.nn.functional as F

from gan_runner.arch.equalized import EqualizedConv2d, EqualizedLinear, MinibatchStddev, PixelNorm


def test_equalized_linear_scales_its_stored_weight_at_run_time_by_the_he_constant_and_lr_multiplier():
    torch.manual_seed(0)
    layer = EqualizedLinear(512, 256, bias_init=1.0, lr_mul=0.01, gain=2.0)
    x = torch.randn(8, 512)
    c = 2.0 * 0.01 / math.sqrt(512)
    expected = x @ (layer.weight * c).T + layer.bias * 0.01
    torch.testing.assert_close(layer(x), expected)
    # stored as N(0, 1/lr_mul^2): the effective weight starts N(0, (gain/sqrt(fan_in))^2), the bias at bias_init
    assert abs(layer.weight.std().item() - 100.0) < 2.0
    torch.testing.assert_close(layer.bias * layer.bias_gain, torch.ones(256))
    assert abs((layer.weight * c).std().item() - 2.0 / math.sqrt(512)) < 2e-3


def test_equalized_convolution_is_a_convolution_with_the_weight_scaled_by_one_over_root_fan_in():
    torch.manual_seed(1)
    conv = EqualizedConv2d(16, 8, 3, gain=math.sqrt(2))
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, 16, 5, 5)
    expected = F.conv2d(x, conv.weight * math.sqrt(2) / math.sqrt(16 * 9), conv.bias, padding=1)
    torch.testing.assert_close(conv(x), expected)
    assert conv(x).shape == (2, 8, 5, 5)


def test_the_stored_weights_gradient_is_the_effective_weights_times_the_runtime_scale():
    # why equalisation equalises: Adam divides out a gradient's scale, so stored weights of layers with any fan-in
    # take steps of the same size relative to their N(0, 1) scale
    torch.manual_seed(2)
    for fan_in in (4, 400):
        layer = EqualizedLinear(fan_in, 3)
        effective = (layer.weight * layer.weight_gain).detach().requires_grad_(True)
        x = torch.randn(5, fan_in)
        F.linear(x, effective, layer.bias).square().sum().backward()
        layer(x).square().sum().backward()
        torch.testing.assert_close(layer.weight.grad, effective.grad * layer.weight_gain)
        optimiser = torch.optim.Adam(layer.parameters(), lr=0.01)
        before = layer.weight.detach().clone()
        optimiser.step()
        # Adam's first step moves every stored weight by lr (sign of its gradient), whatever the fan-in
        torch.testing.assert_close((layer.weight - before).abs(), torch.full_like(before, 0.01), rtol=1e-3, atol=1e-6)


def test_minibatch_stddev_appends_each_groups_mean_standard_deviation_as_a_constant_feature_map():
    torch.manual_seed(3)
    x = torch.randn(8, 6, 4, 4)
    y = MinibatchStddev(group_size=4, num_channels=1)(x)
    assert y.shape == (8, 7, 4, 4)
    torch.testing.assert_close(y[:, :6], x)
    for member in range(2):  # groups are samples {0, 2, 4, 6} and {1, 3, 5, 7} (the official reshape's order)
        group = x[member::2]
        std = (group.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        torch.testing.assert_close(y[member::2, 6], std.expand(4, 4, 4))


def test_minibatch_stddev_with_two_channels_averages_each_half_of_the_features_apart():
    torch.manual_seed(4)
    x = torch.randn(4, 6, 2, 2)
    y = MinibatchStddev(group_size=4, num_channels=2)(x)
    for slice_, features in enumerate((slice(0, 3), slice(3, 6))):
        std = (x[:, features].var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        torch.testing.assert_close(y[:, 6 + slice_], std.expand(4, 2, 2))


def test_minibatch_stddev_refuses_a_batch_that_does_not_divide_into_its_groups():
    with pytest.raises(ValueError, match="multiple of 4"):
        MinibatchStddev(4)(torch.randn(6, 2, 2, 2))
    assert MinibatchStddev(4)(torch.randn(3, 2, 2, 2)).shape == (3, 3, 2, 2)  # a smaller batch is one group


def test_pixel_norm_gives_every_pixels_feature_vector_unit_mean_square():
    x = torch.randn(3, 10, 4, 4) * 7
    y = PixelNorm()(x)
    torch.testing.assert_close(y.square().mean(dim=1), torch.ones(3, 4, 4), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y / y.norm(dim=1, keepdim=True), x / x.norm(dim=1, keepdim=True))
