"""The checkpoint format of the released DFDC weights: load it safely and strictly, write it atomically.

A checkpoint is a `torch.save` file of `{"epoch", "state_dict", "bce_best"}`
whose state-dict keys carry the `module.` prefix of a DistributedDataParallel
wrapper, and whose `bce_best` may be a numpy float.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.atomic import atomic_path

PREFIX = "module."

# What a weights-only load may rebuild besides tensors: numpy scalars, under
# the module paths both numpy 1.x (`numpy.core`) and 2.x (`numpy._core`) write.
_scalar = np._core.multiarray.scalar
_NUMPY_SCALAR_GLOBALS = [
    (_scalar, "numpy.core.multiarray.scalar"),
    (_scalar, "numpy._core.multiarray.scalar"),
    np.dtype,
    *(type(np.dtype(name)) for name in ("float64", "float32", "float16", "int64", "int32")),
]


class CheckpointError(Exception):
    """A checkpoint file that cannot be read or does not fit the model."""


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint without executing arbitrary pickled code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals(_NUMPY_SCALAR_GLOBALS):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"cannot load checkpoint {path}: {first_line}") from error
    if (
        isinstance(checkpoint, dict)
        and "state_dict" not in checkpoint
        and all(isinstance(v, torch.Tensor) for v in checkpoint.values())
    ):
        checkpoint = {"state_dict": checkpoint}
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise CheckpointError(f"{path} holds no state_dict")
    return checkpoint


def file_identity(path: Path) -> str:
    """Size and the SHA-256 of the first and last MiB: tells two checkpoints apart without reading 1.8 GB.

    A torch checkpoint is a zip file whose central directory, at its end, holds the CRC-32 of every tensor
    record, so the last MiB changes with any weight; a fine-tuned copy of the same size is told apart too.
    """
    digest = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as f:
        digest.update(f.read(1 << 20))
        f.seek(max(size - (1 << 20), 0))
        digest.update(f.read(1 << 20))
    return f"{size}:{digest.hexdigest()[:16]}"


def strip_prefix(state_dict: dict[str, torch.Tensor], prefix: str = PREFIX) -> dict[str, torch.Tensor]:
    return {key[len(prefix) :] if key.startswith(prefix) else key: value for key, value in state_dict.items()}


def _describe(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def load_weights(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load every weight strictly; a missing, extra or misshapen key is an error that names it."""
    state_dict = strip_prefix(state_dict)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    misshapen = sorted(
        key for key in set(expected) & set(state_dict) if expected[key].shape != state_dict[key].shape
    )
    problems = []
    if missing:
        problems.append(f"missing keys: {_describe(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_describe(unexpected)}")
    if misshapen:
        problems.append(
            "shape mismatch: "
            + _describe(
                [f"{k} {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}" for k in misshapen]
            )
        )
    if problems:
        raise CheckpointError(f"{source} does not match {type(model).__name__}: " + "; ".join(problems))
    model.load_state_dict(state_dict, strict=True)


def save_checkpoint(path: str | os.PathLike, model: nn.Module, epoch: int, bce_best: float, **extra) -> None:
    """Write a checkpoint in the released format (`module.`-prefixed keys), atomically."""
    model = getattr(model, "module", model)
    state_dict = {PREFIX + key: value.detach().cpu() for key, value in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"epoch": epoch, "state_dict": state_dict, "bce_best": bce_best, **extra}, tmp)


CHECKPOINT_NAME = re.compile(
    r"(?P<network>DeepFakeClassifier(?:SRM|GWAP)?)_(?P<encoder>.+)_(?P<fold>\d+)_(?P<epoch>\w+?)(?:\.\w+)?$"
)


# What the original solution's predict_folder.py built for every checkpoint, whatever the file was called.
ORIGINAL_ARCHITECTURE = ("DeepFakeClassifier", "tf_efficientnet_b7_ns")


def parse_checkpoint_name(name: str) -> tuple[str, str]:
    """(network class name, encoder) from a name like
    `final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36`."""
    match = CHECKPOINT_NAME.search(Path(name).name)
    if not match:
        raise CheckpointError(
            f"cannot tell the architecture from the file name {Path(name).name!r}: "
            "expected <prefix><Network>_<encoder>_<fold>_<epoch>, e.g. "
            "final_111_DeepFakeClassifier_tf_efficientnet_b7_ns_0_36"
        )
    return match["network"], match["encoder"]


def checkpoint_architecture(
    path: str | os.PathLike, network: str | None = None, encoder: str | None = None
) -> tuple[str, str]:
    """(network, encoder) of a checkpoint: those given, else those its file name spells out, else the original
    solution's DeepFakeClassifier on tf_efficientnet_b7_ns (a released file renamed, say, to
    b7_weights.pth)."""
    try:
        named = parse_checkpoint_name(path)
    except CheckpointError:
        named = ORIGINAL_ARCHITECTURE
    return network or named[0], encoder or named[1]


def training_config_for(path: str | os.PathLike) -> dict:
    """The training config train_classifier.py saved beside a checkpoint (`<run>.config.json`, where the
    checkpoint is `<run>_<epoch>`, `<run>_last` or `<run>_best`), or {} when there is none (the released
    checkpoints)."""
    path = Path(path)
    match = CHECKPOINT_NAME.search(path.name)
    if not match:
        return {}
    config_file = path.with_name(path.name[: match.start("epoch") - 1] + ".config.json")
    if not config_file.is_file():
        return {}
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointError(
            f"cannot read the training config {config_file} beside {path.name}: {error}"
        ) from None
    if not isinstance(config, dict):
        raise CheckpointError(f"the training config {config_file} is not a JSON object")
    return config
