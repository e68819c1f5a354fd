"""Classifiers run by OpenVINO on the CPU, in fp32, with the scores of the PyTorch model they come from.

A checkpoint's network is converted once (openvino.convert_model on the module itself, dynamic batch) and cached on
disk under a key of the checkpoint's identity, the architecture, the input size and the runtime's version. Every load
checks the compiled model against the PyTorch one on a fixed probe face; an entry that cannot be read or disagrees is
converted again, and a model that still disagrees, or a runtime that is missing, is left to PyTorch with a one-line
message: a different score is never the result. Where the time goes is measured in benchmarks/README.md.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.atomic import fsync_path, write_json_atomic

log = logging.getLogger("dfdc.predict")

CACHE_ENVIRONMENT = "DFDC_CACHE_DIR"
AGREEMENT = 1e-4  # largest probability difference from the PyTorch model on the probe faces


class OpenVINOUnavailable(RuntimeError):
    pass


def default_cache_dir() -> Path:
    """$DFDC_CACHE_DIR, else the user's cache folder ($XDG_CACHE_HOME or ~/.cache) / dfdc."""
    if os.environ.get(CACHE_ENVIRONMENT):
        return Path(os.environ[CACHE_ENVIRONMENT])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dfdc"


def runtime_version() -> str:
    try:
        import openvino
    except ImportError as error:
        raise OpenVINOUnavailable(f"OpenVINO is not installed ({error})") from None
    return openvino.get_version()


def probe_faces(size: int, count: int = 2) -> torch.Tensor:
    """Fixed normalised inputs on which the converted model must agree with the PyTorch one."""
    return torch.randn(count, 3, size, size, generator=torch.Generator().manual_seed(0))


class OpenVINOClassifier:
    """A compiled classifier that takes the normalised NCHW float batch a PyTorch classifier takes and returns its
    logits as a tensor; several threads may call it at once (one infer request each)."""

    def __init__(self, compiled, input_spec, source: str):
        self.compiled = compiled
        self.input_spec = input_spec
        self.source = source
        self.dtype = torch.float32

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        request = self.compiled.create_infer_request()
        output = request.infer([np.ascontiguousarray(batch.detach().to(torch.float32).contiguous().numpy())])
        return torch.from_numpy(np.array(output[self.compiled.output(0)]))

    def eval(self) -> OpenVINOClassifier:
        return self


def _key(identity: str, architecture: str, size: int, version: str) -> str:
    return hashlib.sha256(f"{identity}|{architecture}|{size}|{version}".encode()).hexdigest()[:24]


def _convert(model: nn.Module, size: int, folder: Path) -> None:
    """Convert into a temporary folder beside `folder`, then move it into place whole: an entry being replaced is renamed
    aside first, and when another process (a torchrun rank) put its own conversion in place meanwhile, that one stays."""
    import openvino

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # the conversion traces the module with torch.jit, which torch now calls deprecated at every use
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.trace", category=FutureWarning)
            converted = openvino.convert_model(model, example_input=torch.zeros(1, 3, size, size), input=[(-1, 3, size, size)])
        openvino.save_model(converted, staging / "model.xml", compress_to_fp16=False)
        for item in staging.iterdir():
            fsync_path(item)
        aside = folder.with_name(staging.name.replace(".tmp", ".old"))
        with contextlib.suppress(FileNotFoundError):
            folder.rename(aside)
        with contextlib.suppress(OSError):  # another process's entry arrived first
            staging.rename(folder)
        shutil.rmtree(aside, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _compile(folder: Path):
    import openvino

    core = openvino.Core()
    return core.compile_model(core.read_model(folder / "model.xml"), "CPU",
                              {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "THROUGHPUT"})


def _agrees(compiled, model: nn.Module, size: int) -> float:
    probe = probe_faces(size)
    with torch.no_grad():
        expected = torch.sigmoid(model(probe).float()).flatten()
    request = compiled.create_infer_request()
    got = torch.sigmoid(torch.from_numpy(np.array(request.infer([probe.numpy()])[compiled.output(0)]))).flatten()
    return float((got - expected).abs().max())


def openvino_classifier(model: nn.Module, identity: str, architecture: str, cache_dir: Path, name: str) -> OpenVINOClassifier:
    """The compiled counterpart of `model` (eval mode, before any CPU packing), from the cache or converted now.

    Raises OpenVINOUnavailable when the runtime is missing or cannot give the model's scores.
    """
    size = model.input_spec.size
    version = runtime_version()
    folder = Path(cache_dir) / "openvino" / _key(identity, architecture, size, version)
    for attempt in ("cache", "conversion"):
        if attempt == "conversion" or not (folder / "model.xml").is_file():
            log.info("converting %s for OpenVINO %s (once; cached in %s)", name, version, folder)
            try:
                _convert(model, size, folder)
            except Exception as error:
                raise OpenVINOUnavailable(f"OpenVINO cannot convert {name}: {type(error).__name__}: {error}") from None
            attempt = "conversion"
        try:
            compiled = _compile(folder)
            difference = _agrees(compiled, model, size)
        except Exception as error:  # a damaged entry fails to read or compile
            difference, compiled = float("inf"), None
            log.info("the cached OpenVINO model of %s cannot be used (%s: %s)", name, type(error).__name__, error)
        if difference <= AGREEMENT:
            if attempt == "conversion":
                write_json_atomic(folder / "meta.json", {"model": name, "architecture": architecture, "size": size,
                                                         "openvino": version, "probe_difference": difference})
            return OpenVINOClassifier(compiled, model.input_spec, name)
        if attempt == "conversion":
            break
    raise OpenVINOUnavailable(f"OpenVINO's {name} differs from PyTorch's by {difference:.2g} on the probe faces")
