"""Checkpoints made ready to score faces: what input each classifier takes, reading the network and its
weights, and preparing it for inference on PyTorch or compiling it with OpenVINO. VideoPredictor takes the
models loaded here."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from core.checkpoints import (
    CheckpointError,
    checkpoint_architecture,
    file_identity,
    load_checkpoint,
    load_weights,
    training_config_for,
)
from core.images import IMAGENET_MEAN, IMAGENET_STD
from core.openvino_runtime import resolve_backend
from inference.optimize import can_pack_for_cpu, fold_batchnorm, pack_for_cpu
from training.zoo.classifiers import NETWORKS

DEFAULT_INPUT_SIZE = 380  # the released checkpoints' face size


@dataclass(frozen=True)
class InputSpec:
    """What a classifier takes: faces resized and padded to size x size, normalised by mean and std (0-1
    scale)."""

    size: int = DEFAULT_INPUT_SIZE
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD


def input_specs(models: dict[str, nn.Module], input_size: int | None = None) -> dict[str, InputSpec]:
    """Each model's input: the spec load_classifier keeps on it (else the released checkpoints'), with
    `input_size`, when given, as every model's size."""
    specs = {name: getattr(model, "input_spec", InputSpec()) for name, model in models.items()}
    return {name: replace(spec, size=input_size) for name, spec in specs.items()} if input_size else specs


def read_classifier(
    path: str | os.PathLike, network: str | None = None, encoder: str | None = None
) -> nn.Module:
    """The network of the checkpoint (see checkpoint_architecture), with its weights loaded strictly; nothing
    folded or packed."""
    network, encoder = checkpoint_architecture(path, network, encoder)
    model = NETWORKS[network](encoder=encoder)
    # the checkpoint is freed here
    load_weights(model, load_checkpoint(path)["state_dict"], source=Path(path).name)
    return model


def prepare_for_inference(
    model: nn.Module, device: torch.device, fp16: bool = False, input_size: int = DEFAULT_INPUT_SIZE
) -> nn.Module:
    """Eval mode, batch norms folded, channels-last on `device`; then half precision (CUDA only) or, on the
    CPU, convolutions packed for `input_size` faces (see inference.optimize). The outputs stay those of the
    trained model."""
    model.eval()
    fold_batchnorm(model.encoder)
    model.to(device, memory_format=torch.channels_last)
    if fp16:
        if device.type != "cuda":
            raise CheckpointError("fp16 inference is only supported on CUDA")
        model.half()
    elif can_pack_for_cpu(model):
        pack_for_cpu(model.encoder, input_size)
    return model


def checkpoint_input_spec(path: str | os.PathLike, input_size: int | None = None) -> InputSpec:
    """The input size and normalisation of the training config saved beside the checkpoint
    (training_config_for), else 380 px and ImageNet statistics as for the released checkpoints; `input_size`
    overrides the size."""
    config = training_config_for(path)
    normalize = config.get("normalize", {})
    spec = InputSpec(
        int(config.get("size", DEFAULT_INPUT_SIZE)),
        tuple(normalize.get("mean", IMAGENET_MEAN)),
        tuple(normalize.get("std", IMAGENET_STD)),
    )
    return replace(spec, size=input_size) if input_size else spec


def load_classifier(
    path: str | os.PathLike,
    device: torch.device,
    fp16: bool = False,
    input_size: int | None = None,
    network: str | None = None,
    encoder: str | None = None,
    backend: str = "torch",
    cache_dir: str | os.PathLike | None = None,
) -> nn.Module:
    """The checkpoint's network with its weights (see read_classifier), prepared for inference at its input
    size, on PyTorch or, with backend "openvino" (or "auto" on a CPU where it is installed), compiled by
    OpenVINO.

    Its input (checkpoint_input_spec) is kept on the model as `input_spec`, which VideoPredictor reads
    (input_specs).
    """
    spec = checkpoint_input_spec(path, input_size)
    network, encoder = checkpoint_architecture(path, network, encoder)
    if resolve_backend(backend, device) == "openvino":
        from core.openvino_runtime import OpenVINOUnavailable, default_cache_dir, openvino_classifier

        try:
            return openvino_classifier(
                lambda: read_classifier(path, network, encoder).eval(),
                spec,
                file_identity(Path(path)),
                f"{network}/{encoder}",
                Path(cache_dir) if cache_dir else default_cache_dir(),
                Path(path).name,
            )
        except OpenVINOUnavailable as error:
            print(f"warning: {error}; {Path(path).name} runs on PyTorch", file=sys.stderr)
    model = read_classifier(path, network, encoder)
    model.input_spec = spec
    return prepare_for_inference(model, device, fp16, spec.size)
