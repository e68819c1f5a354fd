"""Make a loaded classifier cheaper to run for inference without changing what it computes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.layers import Conv2dSame
from timm.layers.norm_act import BatchNormAct2d
from timm.layers.padding import get_same_padding
from timm.models._efficientnet_blocks import ConvBnAct, DepthwiseSeparableConv, EdgeResidual, InvertedResidual
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

# (convolution, batch norm that directly follows it in forward()) for each timm EfficientNet building block.
_CONV_BN_PAIRS: dict[type, tuple[tuple[str, str], ...]] = {
    ConvBnAct: (("conv", "bn1"),),
    InvertedResidual: (("conv_s2d", "bn_s2d"), ("conv_pw", "bn1"), ("conv_dw", "bn2"), ("conv_pwl", "bn3")),
    DepthwiseSeparableConv: (("conv_s2d", "bn_s2d"), ("conv_dw", "bn1"), ("conv_pw", "bn2")),
    EdgeResidual: (("conv_exp", "bn1"), ("conv_pwl", "bn2")),
}
_ENCODER_PAIRS = (("conv_stem", "bn1"), ("conv_head", "bn2"))


def _fold(parent: nn.Module, conv_name: str, bn_name: str) -> bool:
    conv, bn = getattr(parent, conv_name, None), getattr(parent, bn_name, None)
    if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d) or not bn.track_running_stats:
        return False
    setattr(parent, conv_name, fuse_conv_bn_eval(conv, bn))
    if isinstance(bn, BatchNormAct2d):
        after = [module for module in (bn.drop, bn.act) if not isinstance(module, nn.Identity)]
        setattr(
            parent,
            bn_name,
            nn.Sequential(*after) if len(after) > 1 else (after[0] if after else nn.Identity()),
        )
    else:
        setattr(parent, bn_name, nn.Identity())
    return True


def fold_batchnorm(encoder: nn.Module) -> int:
    """Fold eval-mode batch norms of a timm EfficientNet into the convolutions before them; returns how many.

    Batch norm in eval mode is an affine map, so it can be merged into the
    convolution's weights and bias. On CPU that removes a full pass over every
    activation tensor, a fifth of the B7's time. Only the known block types are
    touched, so other encoders are left as they are. Call it after loading the
    weights, and only for inference: the folded model cannot be trained.
    """
    if encoder.training:
        raise ValueError("fold_batchnorm needs a model in eval mode")
    return sum(_fold(parent, conv, bn) for parent, conv, bn in _conv_bn_pairs(encoder))


def _conv_bn_pairs(encoder: nn.Module) -> list[tuple[nn.Module, str, str]]:
    """(module, convolution name, name of what follows it) for the encoder's stem and head and every known
    block."""
    return [(encoder, conv, bn) for conv, bn in _ENCODER_PAIRS] + [
        (module, conv, bn)
        for module in encoder.modules()
        for conv, bn in _CONV_BN_PAIRS.get(type(module), ())
    ]


class PackedConv2d(nn.Module):
    """A convolution, and the SiLU after it if any, as one oneDNN call on weights laid out once for the CPU.

    Fusing the activation saves a pass over the convolution's output; reordering
    the weights at load time (for the input shape they will see) saves doing it on
    every call. TF "SAME" padding, which pads the right and bottom one more when
    the total is odd, is done without a padded copy of the input where it can be
    (see `_same_padding`). Same arithmetic as the convolution it replaces;
    inference only: the reordered weights are not trainable and not meant to be saved.
    """

    def __init__(self, conv: nn.Conv2d, silu: bool, input_shape: Sequence[int]):
        super().__init__()
        self.same_padding = isinstance(conv, Conv2dSame)
        self.kernel_size, self.stride, self.dilation = (
            list(conv.kernel_size),
            list(conv.stride),
            list(conv.dilation),
        )
        self.padding, self.groups = list(conv.padding), conv.groups
        self.attr = "swish" if silu else "none"
        weight, shape = conv.weight.detach(), list(input_shape)
        totals = self._same_totals(shape[-2:]) if self.same_padding else [2 * p for p in self.padding]
        self.register_buffer(
            "weight",
            self._reorder(weight, [t // 2 if t % 2 == 0 else 0 for t in totals], shape),
            persistent=False,
        )
        # A depthwise convolution is cheap next to a padded copy of its input (a third of the time
        # measured), so for the odd totals of the expected input size it gets a second set of
        # weights with a leading zero row/column: then symmetric padding puts the taps where TF does.
        self.odd_sides = tuple(t % 2 == 1 for t in totals)
        shifted = None
        if any(self.odd_sides) and conv.groups == conv.in_channels and self.dilation == [1, 1]:
            leading = F.pad(weight, (int(self.odd_sides[1]), 0, int(self.odd_sides[0]), 0))
            shifted = self._reorder(leading, [(t + 1) // 2 for t in totals], shape)
        self.register_buffer("shifted_weight", shifted, persistent=False)
        self.register_buffer("bias", conv.bias.detach() if conv.bias is not None else None, persistent=False)

    def _reorder(self, weight: torch.Tensor, padding: list[int], input_shape: list[int]) -> torch.Tensor:
        return torch.ops.mkldnn._reorder_convolution_weight(
            weight, padding, self.stride, self.dilation, self.groups, input_shape
        )

    def _same_totals(self, size: Sequence[int]) -> list[int]:
        """Rows and columns of zeros TF "SAME" adds around an input of `size` (height, width)."""
        return [
            get_same_padding(int(length), k, s, d)
            for length, k, s, d in zip(size, self.kernel_size, self.stride, self.dilation, strict=True)
        ]

    def _same_padding(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """(input, weights, symmetric padding for the convolution) that give TF "SAME" results for `x`."""
        totals = self._same_totals(x.shape[-2:])
        odd_sides = tuple(t % 2 == 1 for t in totals)
        if not any(odd_sides):
            return x, self.weight, [t // 2 for t in totals]
        if self.shifted_weight is not None and odd_sides == self.odd_sides:
            return x, self.shifted_weight, [(t + 1) // 2 for t in totals]
        return _pad_with_zeros(x, totals), self.weight, [0, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, padding = self.weight, self.padding
        if self.same_padding:
            x, weight, padding = self._same_padding(x)
        return torch.ops.mkldnn._convolution_pointwise(
            x, weight, self.bias, padding, self.stride, self.dilation, self.groups, self.attr, [], None
        )


def _pad_with_zeros(x: torch.Tensor, totals: Sequence[int]) -> torch.Tensor:
    """Zero-pad height and width by `totals` (the odd one out after the image, as TF does).

    Writes zeros only into the border: F.pad first zeroes the whole output, a
    full extra pass over the largest activations of the network.
    """
    (top, left), (height, width) = [total // 2 for total in totals], x.shape[-2:]
    padded = torch.empty(
        (*x.shape[:2], height + totals[0], width + totals[1]),
        dtype=x.dtype,
        device=x.device,
        memory_format=torch.channels_last,
    )
    padded[:, :, top : top + height, left : left + width] = x
    padded[:, :, :top].zero_()
    padded[:, :, top + height :].zero_()
    padded[:, :, top : top + height, :left].zero_()
    padded[:, :, top : top + height, left + width :].zero_()
    return padded


def _pack(parent: nn.Module, conv_name: str, act_name: str, input_shapes: dict[nn.Module, list[int]]) -> bool:
    conv, act = getattr(parent, conv_name, None), getattr(parent, act_name, None)
    if (
        not isinstance(conv, nn.Conv2d)
        or conv not in input_shapes
        or not isinstance(act, (nn.SiLU, nn.Identity))
    ):
        return False
    # popped so that each replaced convolution's weights are freed now: one copy of the weights at a time
    setattr(parent, conv_name, PackedConv2d(conv, isinstance(act, nn.SiLU), input_shapes.pop(conv)))
    if isinstance(act, nn.SiLU):
        setattr(parent, act_name, nn.Identity())
    return True


def can_pack_for_cpu(model: nn.Module) -> bool:
    """A float32 model on the CPU, and a torch built with the oneDNN operators that PackedConv2d calls."""
    parameter = next(model.parameters())
    return (
        parameter.device.type == "cpu"
        and parameter.dtype == torch.float32
        and torch.backends.mkldnn.is_available()
        and all(
            hasattr(torch.ops.mkldnn, op) for op in ("_convolution_pointwise", "_reorder_convolution_weight")
        )
    )


@torch.inference_mode()
def pack_for_cpu(encoder: nn.Module, input_size: int) -> int:
    """Replace the convolutions of a batch-norm-folded timm EfficientNet by PackedConv2d; returns how many.

    The weights are laid out for `input_size` square images (laying them out for a
    batch of 8 instead of 1 was no faster for either); other shapes give the same
    results, only slower. The gain is in benchmarks/README.md.
    The encoder's features are checked against the unpacked ones before returning.
    """
    if not can_pack_for_cpu(encoder):
        raise ValueError("pack_for_cpu needs a float32 model on the CPU and a torch built with oneDNN")
    probe = torch.randn(1, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    probe = probe.contiguous(memory_format=torch.channels_last)
    input_shapes: dict[nn.Module, list[int]] = {}

    def record_shape(module: nn.Module, args: tuple) -> None:
        input_shapes[module] = list(args[0].shape)

    hooks = [
        module.register_forward_pre_hook(record_shape)
        for module in encoder.modules()
        if isinstance(module, nn.Conv2d)
    ]
    try:
        expected = encoder.forward_features(probe)
    finally:
        for hook in hooks:
            hook.remove()
    # once folded, each batch norm's place holds its activation
    packed = sum(_pack(parent, conv, act, input_shapes) for parent, conv, act in _conv_bn_pairs(encoder))
    scale = expected.abs().max().item()
    if not torch.allclose(encoder.forward_features(probe), expected, rtol=1e-3, atol=1e-4 * scale):
        raise RuntimeError(
            "packed convolutions changed the encoder's output: this torch build's oneDNN path is not usable"
        )
    return packed
