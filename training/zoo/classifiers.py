"""The DFDC classifiers: a timm encoder, a pooling step and one logit.

Attribute names (`encoder`, `avg_pool`, `dropout`, `fc`, `srm_conv`) are part
of the checkpoint format: the released weights' keys are these names under
`module.`, so they must not change.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import timm
import torch
from torch import nn

# Encoder names used by the original configs and checkpoints -> (timm 1.x name, drop-path rate).
LEGACY_ENCODERS: dict[str, tuple[str, float]] = {
    "tf_efficientnet_b0_ns": ("tf_efficientnet_b0.ns_jft_in1k", 0.2),
    "tf_efficientnet_b1_ns": ("tf_efficientnet_b1.ns_jft_in1k", 0.2),
    "tf_efficientnet_b2_ns": ("tf_efficientnet_b2.ns_jft_in1k", 0.2),
    "tf_efficientnet_b3_ns": ("tf_efficientnet_b3.ns_jft_in1k", 0.2),
    "tf_efficientnet_b4_ns": ("tf_efficientnet_b4.ns_jft_in1k", 0.5),
    "tf_efficientnet_b4_ns_03d": ("tf_efficientnet_b4.ns_jft_in1k", 0.3),
    "tf_efficientnet_b5_ns": ("tf_efficientnet_b5.ns_jft_in1k", 0.2),
    "tf_efficientnet_b5_ns_03d": ("tf_efficientnet_b5.ns_jft_in1k", 0.3),
    "tf_efficientnet_b5_ns_04d": ("tf_efficientnet_b5.ns_jft_in1k", 0.4),
    "tf_efficientnet_b6_ns": ("tf_efficientnet_b6.ns_jft_in1k", 0.2),
    "tf_efficientnet_b6_ns_04d": ("tf_efficientnet_b6.ns_jft_in1k", 0.4),
    "tf_efficientnet_b7_ns": ("tf_efficientnet_b7.ns_jft_in1k", 0.2),
}


class EncoderNotFoundError(ValueError):
    pass


class PretrainedWeightsError(FileNotFoundError):
    """ImageNet weights that were asked for and cannot be had: training must not start from random weights
    instead."""


def cached_pretrained_file(timm_name: str) -> Path | None:
    """The model's ImageNet weights where timm would have saved them (the Hugging Face hub cache, or torch
    hub's checkpoints folder for older downloads), found without any network request; None when they are not
    there."""
    from huggingface_hub import try_to_load_from_cache
    from timm.models import get_pretrained_cfg

    config = get_pretrained_cfg(timm_name)
    if config is None:
        return None
    if config.hf_hub_id:
        for filename in dict.fromkeys(
            [config.hf_hub_filename or "model.safetensors", "model.safetensors", "pytorch_model.bin"]
        ):
            found = try_to_load_from_cache(config.hf_hub_id, filename)
            if isinstance(found, str):
                return Path(found)
    if config.url:
        old_download = Path(torch.hub.get_dir()) / "checkpoints" / config.url.rsplit("/", 1)[-1]
        if old_download.is_file():
            return old_download
    return None


def create_encoder(
    encoder: str, pretrained: bool | str | os.PathLike = False, allow_download: bool = False
) -> nn.Module:
    """Build a timm encoder by its legacy DFDC name or any timm model name.

    `pretrained` is False (random init), a path to a weights file, or True for the ImageNet weights timm names
    for the model, read from its local cache; only with `allow_download` may timm fetch them from the hub when
    they are not there. Missing weights raise PretrainedWeightsError, never a silent random start.
    """
    timm_name, drop_path_rate = LEGACY_ENCODERS.get(encoder, (encoder, 0.0))
    if not timm.is_model(timm_name.split(".")[0]):
        known = ", ".join(sorted(LEGACY_ENCODERS))
        raise EncoderNotFoundError(f"unknown encoder {encoder!r}: use one of {known} or a timm model name")
    kwargs: dict = {"drop_path_rate": drop_path_rate} if drop_path_rate else {}
    if pretrained is False or pretrained is None:
        return timm.create_model(timm_name, pretrained=False, **kwargs)
    if pretrained is True:
        cached = cached_pretrained_file(timm_name)
        if cached is None and allow_download:
            return timm.create_model(timm_name, pretrained=True, **kwargs)
        if cached is None:
            raise PretrainedWeightsError(
                f"ImageNet weights for {timm_name} are not in the local cache and downloads are off: give a "
                "weights file "
                '(--pretrained PATH, or the config key "pretrained": "PATH"), or let timm fetch them with '
                "--download-pretrained"
            )
        pretrained = cached
    path = Path(pretrained)
    if not path.is_file():
        raise PretrainedWeightsError(f"encoder weights file not found: {path}")
    return timm.create_model(timm_name, pretrained=True, pretrained_cfg_overlay={"file": str(path)}, **kwargs)


def srm_kernels(input_channels: int = 3) -> torch.Tensor:
    """The three fixed SRM high-pass filters (Fridrich & Kodovsky), each summed over the input channels."""
    first_order = np.zeros((5, 5))
    first_order[2, 1:4] = [1, -2, 1]
    second_order = np.zeros((5, 5))
    second_order[1:4, 1:4] = [[-1, 2, -1], [2, -4, 2], [-1, 2, -1]]
    third_order = np.array(
        [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]],
        dtype=np.float64,
    )
    kernels = np.stack([first_order / 2, second_order / 4, third_order / 12]).astype(np.float32)
    return torch.from_numpy(kernels).view(3, 1, 5, 5).repeat(1, input_channels, 1, 1)


def srm_layer(input_channels: int = 3) -> nn.Conv2d:
    conv = nn.Conv2d(input_channels, 3, kernel_size=5, stride=1, padding=2, bias=False)
    conv.weight = nn.Parameter(srm_kernels(input_channels), requires_grad=False)
    return conv


class GlobalWeightedAvgPool2d(nn.Module):
    """Average pooling weighted by a learned per-position score (softmax over positions of sigmoid scores)."""

    def __init__(self, features: int, flatten: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(features, 1, kernel_size=1, bias=True)
        self.flatten = flatten

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.conv(x).sigmoid().flatten(2), dim=-1).view_as(x[:, :1])
        return (x * weights).sum(dim=(2, 3), keepdim=not self.flatten)


class DeepFakeClassifier(nn.Module):
    # The original's default dropout before the logit, per network: its trainer never passed another.
    DROPOUT = 0.0

    def __init__(
        self,
        encoder: str = "tf_efficientnet_b7_ns",
        dropout_rate: float | None = None,
        pretrained: bool | str = False,
        allow_download: bool = False,
    ):
        """`dropout_rate`: None for the network's own default (DROPOUT)."""
        super().__init__()
        self.encoder = create_encoder(encoder, pretrained, allow_download)
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(self.DROPOUT if dropout_rate is None else dropout_rate)
        self.fc = nn.Linear(self.encoder.num_features, 1)

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.avg_pool(self.encoder.forward_features(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.pooled_features(x)))


class DeepFakeClassifierSRM(DeepFakeClassifier):
    """Classifies the SRM noise residuals of the image instead of its pixels."""

    DROPOUT = 0.5

    def __init__(
        self,
        encoder: str,
        dropout_rate: float | None = None,
        pretrained: bool | str = False,
        allow_download: bool = False,
    ):
        super().__init__(encoder, dropout_rate, pretrained, allow_download)
        self.srm_conv = srm_layer(3)

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        return super().pooled_features(self.srm_conv(x))


class DeepFakeClassifierGWAP(DeepFakeClassifier):
    DROPOUT = 0.5

    def __init__(
        self,
        encoder: str,
        dropout_rate: float | None = None,
        pretrained: bool | str = False,
        allow_download: bool = False,
    ):
        super().__init__(encoder, dropout_rate, pretrained, allow_download)
        self.avg_pool = GlobalWeightedAvgPool2d(self.encoder.num_features, flatten=True)

    def pooled_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.avg_pool(self.encoder.forward_features(x))


NETWORKS: dict[str, type[DeepFakeClassifier]] = {
    cls.__name__: cls for cls in (DeepFakeClassifier, DeepFakeClassifierSRM, DeepFakeClassifierGWAP)
}
