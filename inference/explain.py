"""Heat maps of what each classifier looked at: class-activation maps towards "fake" on an encoder feature
map, per face and model.

The map is HiResCAM (Draelos & Carin, 2020): each position's activations times the gradient of the fake logit
there, summed over channels, negatives dropped: the places whose features raised the fake score. On the
encoder's last feature map, which the classifiers average and feed to one linear layer, the gradient is the
same at every position, so this is exactly Grad-CAM (a test checks it). On an earlier layer Grad-CAM's
averaging of the gradient over the map spreads it over the whole face; HiResCAM keeps it where the evidence is
(measured on the demo's self-blended fakes: tests/test_demo.py, figures in docs/report.md).

It runs on a plain PyTorch copy of each checkpoint (the scoring models may be OpenVINO-compiled, or have their
batch norms folded and convolutions packed, with no backward pass), with captum's LayerGradientXActivation,
and costs one forward and one backward pass per face and model; docs/report.md and docs/speed.md give the
measured cost.

The map comes from the encoder's last feature map (12x12 for a B7 at 380 px). A small input makes that map too
coarse to say anything (2x2 for a ResNet-18 at 64 px), so the deepest stage whose output is at least
MIN_MAP_SIDE on each side is taken instead (layer2, 8x8, for that ResNet-18).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.images import normalize_batch
from inference.loading import read_classifier

MIN_MAP_SIDE = 8
# One face per backward pass: autograd keeps every activation of every face, and on a CPU larger batches are
# slower per face as well as larger (benchmarks/README.md, "Heat maps and the report").
FACES_PER_PASS = 1


@dataclass(frozen=True)
class MapLayer:
    name: str  # the module's name inside the classifier, e.g. "encoder.bn2"
    module: nn.Module
    shape: tuple[int, int]  # (height, width) of its output for the model's input size


def heat_map_layer(model: nn.Module, input_size: int, min_side: int = MIN_MAP_SIDE) -> MapLayer:
    """The encoder module whose output is the last feature map, or, when that map is smaller than `min_side`,
    the last stage of the encoder whose output is at least that large. Found by running one face through the
    model and watching every module's output, so it holds for any timm encoder."""
    outputs: list[tuple[str, nn.Module, tuple[int, ...]]] = []
    hooks = [
        module.register_forward_hook(
            lambda module, args, output, name=name: outputs.append((name, module, tuple(output.shape)))
        )
        for name, module in model.encoder.named_modules()
        if name
    ]
    try:
        with torch.no_grad():
            features = model.encoder.forward_features(
                torch.zeros(1, 3, input_size, input_size, device=next(model.parameters()).device)
            )
    finally:
        for hook in hooks:
            hook.remove()
    maps = [(name, module, shape) for name, module, shape in outputs if len(shape) == 4]
    last = [entry for entry in maps if entry[2] == tuple(features.shape)]
    if last and min(features.shape[2:]) >= min_side:
        candidates = last
    else:  # the output of a stage (timm's feature_info), rather than a layer inside a block
        stages = {info["module"] for info in getattr(model.encoder, "feature_info", [])}
        large = [entry for entry in maps if min(entry[2][2:]) >= min_side]
        candidates = [entry for entry in large if entry[0] in stages] or large
    if not candidates:
        raise ValueError(
            f"no feature map of the encoder is {min_side}x{min_side} or larger at {input_size} px"
        )
    name, module, shape = candidates[-1]
    return MapLayer(f"encoder.{name}", module, (shape[2], shape[3]))


def encode_map(heat: np.ndarray) -> str:
    """A heat map scaled to its maximum (all zero stays zero), as base64 of uint8 rows: 192 characters for
    12x12."""
    peak = float(heat.max())
    scaled = np.round(np.clip(heat / peak, 0, 1) * 255) if peak > 0 else np.zeros_like(heat)
    return base64.b64encode(scaled.astype(np.uint8).tobytes()).decode("ascii")


def decode_map(text: str, shape: Sequence[int]) -> np.ndarray:
    """The heat map of encode_map as floats in [0, 1]."""
    return (
        np.frombuffer(base64.b64decode(text), dtype=np.uint8).reshape(tuple(shape)).astype(np.float32) / 255
    )


class HeatMapExplainer:
    """Heat maps of faces (see the module's text) for every model of an ensemble."""

    def __init__(
        self,
        checkpoints: dict[str, str | os.PathLike],
        specs: dict,
        device: torch.device,
        network: str | None = None,
        encoder: str | None = None,
    ):
        from captum.attr import LayerGradientXActivation

        self.device = device
        self.specs = specs
        self.layers: dict[str, MapLayer] = {}
        self.cams: dict[str, LayerGradientXActivation] = {}
        for name, path in checkpoints.items():
            model = read_classifier(Path(path), network, encoder).eval().to(device)
            for parameter in model.parameters():
                parameter.requires_grad_(False)  # gradients flow to the feature map only
            layer = heat_map_layer(model, specs[name].size)
            self.layers[name] = layer
            self.cams[name] = LayerGradientXActivation(model, layer.module)

    def explain(
        self, inputs: dict[int, Sequence[np.ndarray]], positions: Sequence[int] | None = None
    ) -> dict[str, dict]:
        """Per model: its layer, the map's shape and each face's encoded map (aligned with the faces; None for
        a face not in `positions`, when given), from the model-ready faces at each input size
        (PreparedVideo.inputs)."""
        explained = {}
        for name, cam in self.cams.items():
            spec, layer = self.specs[name], self.layers[name]
            faces = inputs[spec.size]
            chosen = list(range(len(faces))) if positions is None else sorted(set(positions))
            encoded: list[str | None] = [None] * len(faces)
            for start in range(0, len(chosen), FACES_PER_PASS):
                part = chosen[start : start + FACES_PER_PASS]
                batch = normalize_batch(
                    [faces[i] for i in part], self.device, torch.float32, spec.mean, spec.std
                )
                with torch.enable_grad():
                    heat = cam.attribute(batch.requires_grad_(True), target=0).sum(dim=1).clamp(min=0)
                for position, face_map in zip(part, heat.detach().float().cpu().numpy(), strict=True):
                    encoded[position] = encode_map(face_map)
            explained[name] = {"layer": layer.name, "shape": list(layer.shape), "faces": encoded}
        return explained
